package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// stepJobFixture is a DM device with one job, waiting for its device.
func stepJobFixture(t *testing.T) *Store {
	t.Helper()
	s, _ := openTest(t)
	if _, err := s.CreateDevice(ctx, dmDev("d1", "IMEI:1")); err != nil {
		t.Fatal(err)
	}
	img := []byte("firmware")
	if _, err := s.PutPackage(ctx, pkgOf("fw", img), bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateJob(ctx, fleet.Job{ID: "j1", DeviceID: "d1", PackageID: "fw", Operation: fleet.OpDownloadAndUpdate, Delivery: fleet.DeliveryPull}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStepJob: a job's transition and its queue work commit together or
// not at all; a step in place checks the state; a guarded command that
// was sent refuses an unforced step.
func TestStepJob(t *testing.T) {
	s := stepJobFixture(t)
	work := fleet.DMWork{Enqueue: []fleet.DMCommand{dmCmd("j1.deliver", "d1"), dmCmd("j1.exec", "d1")}}
	j, err := s.StepJob(ctx, "j1", fleet.JobQueued, fleet.JobWaitingDevice, "queued", func(j *fleet.Job) error { j.Attempts++; return nil }, work)
	if err != nil || j.State != fleet.JobWaitingDevice || j.Attempts != 1 {
		t.Fatalf("step %+v %v", j, err)
	}
	if q, _ := s.DMCommands(ctx, "d1"); len(q) != 2 {
		t.Fatalf("queue %+v", q)
	}
	// Again (a driver repeating itself): stale, nothing changes.
	before := dump(t, s)
	if _, err := s.StepJob(ctx, "j1", fleet.JobQueued, fleet.JobWaitingDevice, "", nil, work); !errors.Is(err, ErrStale) {
		t.Errorf("repeated step: %v", err)
	}
	// A command for another device, or an invalid one: nothing changes.
	bad := fleet.DMWork{Enqueue: []fleet.DMCommand{dmCmd("j1.verify", "d1"), dmCmd("x", "other")}}
	if _, err := s.StepJob(ctx, "j1", fleet.JobWaitingDevice, fleet.JobDelivering, "", nil, bad); err == nil {
		t.Errorf("a command for another device accepted")
	}
	if dump(t, s) != before {
		t.Fatal("refused steps changed the store")
	}
	// In place: the work applies while the job is in the state.
	j, err = s.StepJob(ctx, "j1", fleet.JobWaitingDevice, fleet.JobWaitingDevice, "", func(j *fleet.Job) error { j.StateReads = 3; return nil },
		fleet.DMWork{Enqueue: []fleet.DMCommand{dmCmd("j1.check3", "d1"), dmCmd("j1.exec", "d1")}})
	if err != nil || j.StateReads != 3 || len(j.History) != 1 {
		t.Fatalf("in place %+v %v", j, err)
	}
	if q, _ := s.DMCommands(ctx, "d1"); len(q) != 3 {
		t.Fatalf("queue after the step in place %+v (an existing id is skipped)", q)
	}
	// The Exec goes out: an unforced stop is refused, a forced one withdraws
	// every command of the job with the move.
	st := step("d1", "S1", "tok1")
	st.Sent = []string{"j1.exec"}
	if err := s.CommitDMStep(ctx, st); err != nil {
		t.Fatal(err)
	}
	stop := fleet.DMWork{WithdrawPrefix: "j1.", Guard: []string{"j1.exec"}, Why: "cancelled"}
	before = dump(t, s)
	if _, err := s.StepJob(ctx, "j1", fleet.JobWaitingDevice, fleet.JobCancelled, "", nil, stop); !errors.Is(err, ErrStale) {
		t.Errorf("cancel with the Exec sent: %v", err)
	}
	if dump(t, s) != before {
		t.Fatal("a refused stop changed the store")
	}
	stop.Guard, stop.Force = nil, true // forced: no guard, sent commands withdrawn too
	if j, err := s.StepJob(ctx, "j1", fleet.JobWaitingDevice, fleet.JobFailed, "", func(j *fleet.Job) error { j.Reason = fleet.ReasonTimeout; return nil }, stop); err != nil || j.State != fleet.JobFailed {
		t.Fatalf("forced stop %+v %v", j, err)
	}
	if q, _ := s.DMCommands(ctx, "d1"); len(q) != 0 {
		t.Errorf("commands left after the stop: %+v", q)
	}
	if c, _ := s.DMCommand(ctx, "j1.exec"); c.State != fleet.DMCommandFailed {
		t.Errorf("sent Exec after a forced stop: %s", c.State)
	}
}

// TestMigrateToSchema3: a schema-2 file's commands get their device index,
// so that deleting the device removes them.
func TestMigrateToSchema3(t *testing.T) {
	s := stepJobFixture(t)
	if _, err := s.EnqueueDMCommand(ctx, dmCmd("c1", "d1")); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *txAlias) error {
		if err := tx.DeleteBucket(bucketDMCmdDevice); err != nil {
			return err
		}
		return s.migrate(tx, 2, 3)
	}); err != nil {
		t.Fatal(err)
	}
	if all, err := s.AllDMCommands(ctx, "d1"); err != nil || len(all) != 1 {
		t.Fatalf("after migration: %+v %v", all, err)
	}
}
