package fumo_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
)

// Full FUMO sessions over HTTP with the simulator switched to what real
// DM clients did (issue #18), in XML and WBXML.

var encodings = []syncml.Encoding{syncml.EncodingXML, syncml.EncodingWBXML}

// clientDevice stores a DM device and returns its simulator in enc; setup,
// when set, changes the record and the simulator before FUMO is enabled
// (f.Root may move; an empty f.Root after setup leaves FUMO off).
func (g *gateway) clientDevice(id string, enc syncml.Encoding, setup func(rec *fleet.Device, d *sim.DMDevice, f *sim.FUMO)) (*sim.DMDevice, *sim.FUMO) {
	g.t.Helper()
	dmID := "IMEI:" + id
	rec := fleet.Device{ID: id, Protocol: fleet.ProtocolDM, Model: "Rocket", FirmwareVersion: "1.0", DM: &fleet.DMInfo{
		DeviceID: dmID, Auth: fleet.DMAuthMD5, Username: id, Password: fleet.Secret("pw"),
		ServerID: "fumo-gw", ServerPassword: fleet.Secret("srv"), FUMORoot: "./FwUpdate/1"}}
	d := &sim.DMDevice{ServerURL: "http://" + g.addr + "/dm", DevID: dmID, Username: id, Password: "pw", Auth: "md5",
		ServerID: "fumo-gw", ServerPassword: "srv", Encoding: enc}
	d.SetNode("./DevInfo/DevId", []byte(dmID))
	d.SetNode("./DevInfo/Mod", []byte("Rocket"))
	d.SetNode("./DevDetail/FwV", []byte("1.0"))
	f := &sim.FUMO{Root: "./FwUpdate/1", ExpectSHA256: g.sha}
	if setup != nil {
		setup(&rec, d, f)
	}
	if _, err := g.st.CreateDevice(ctx, rec); err != nil {
		g.t.Fatal(err)
	}
	if f.Root != "" {
		d.EnableFUMO(f)
	}
	return d, f
}

// runJob runs a pull job to its end: the device's session with the FUMO
// commands, its report in a new session.
func (g *gateway) runJob(t *testing.T, id string, d *sim.DMDevice, f *sim.FUMO) fleet.Job {
	t.Helper()
	g.job(id, d.DevID[len("IMEI:"):], fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
	call(t, d)
	if code, err := f.Report(ctx); err != nil || code != 200 {
		t.Fatalf("device reported %d, %v", code, err)
	}
	return g.waitJob(id)
}

func TestRealClients(t *testing.T) {
	cases := []struct {
		name  string
		setup func(rec *fleet.Device, d *sim.DMDevice, f *sim.FUMO)
		check func(t *testing.T, g *gateway, d *sim.DMDevice, j fleet.Job)
	}{
		{"md5 without LocName", func(_ *fleet.Device, d *sim.DMDevice, _ *sim.FUMO) { d.NoLocName = true }, nil},
		{"basic without LocName", func(rec *fleet.Device, d *sim.DMDevice, _ *sim.FUMO) {
			rec.DM.Auth, d.Auth, d.NoLocName = fleet.DMAuthBasic, "basic", true
		}, nil},
		{"its own server credential type", func(rec *fleet.Device, d *sim.DMDevice, _ *sim.FUMO) {
			// Provisioned basic both ways; the device checks md5 (libdmclient).
			rec.DM.Auth, d.Auth = fleet.DMAuthBasic, "basic"
			d.ServerAuth, d.ChallengeServer, d.FollowChal, d.NoLocName = "md5", true, true, true
		}, func(t *testing.T, g *gateway, _ *sim.DMDevice, j fleet.Job) {
			if dev, _ := g.st.Device(ctx, j.DeviceID); dev.DM.ServerAuth != fleet.DMAuthMD5 {
				t.Errorf("server auth %q after the device's challenge, want md5", dev.DM.ServerAuth)
			}
			for _, n := range j.Native {
				if n.Code == 401 {
					t.Errorf("a refusal of the server's credentials recorded as a result: %+v", j.Native)
				}
			}
		}},
		{"fixed SessionID", func(_ *fleet.Device, d *sim.DMDevice, _ *sim.FUMO) { d.SessionID = "1" }, nil},
		{"lost reply", func(_ *fleet.Device, d *sim.DMDevice, _ *sim.FUMO) { d.LoseReply = 2 }, func(t *testing.T, g *gateway, _ *sim.DMDevice, _ fleet.Job) {
			if n := g.dm.Stats().Retransmissions; n < 2 {
				t.Errorf("retransmissions %d, want one per session", n)
			}
		}},
		{"lost package 1 reply", func(_ *fleet.Device, d *sim.DMDevice, _ *sim.FUMO) { d.LoseReply = 1 }, nil},
		{"FwV formatted its own way", func(_ *fleet.Device, _ *sim.DMDevice, f *sim.FUMO) { f.VersionFormat = " V%s\n" }, nil},
		{"FUMO root discovered", func(rec *fleet.Device, _ *sim.DMDevice, f *sim.FUMO) {
			rec.DM.FUMORoot, f.Root = "", "./Vendor/FOTA/fw"
		}, func(t *testing.T, g *gateway, _ *sim.DMDevice, j fleet.Job) {
			if dev, _ := g.st.Device(ctx, j.DeviceID); dev.DM.FUMORoot != "./Vendor/FOTA/fw" {
				t.Errorf("discovered root %q not remembered", dev.DM.FUMORoot)
			}
		}},
	}
	for _, enc := range encodings {
		for _, c := range cases {
			t.Run(enc.String()+"/"+c.name, func(t *testing.T) {
				g := newGateway(t, false, nil)
				d, f := g.clientDevice("d1", enc, c.setup)
				j := g.runJob(t, "job1", d, f)
				if j.State != fleet.JobSucceeded {
					t.Fatalf("job %s %s: %+v", j.State, j.Reason, j.History)
				}
				if all, _ := f.Executions(); all != 1 {
					t.Errorf("the device ran %d Execs, want 1", all)
				}
				if c.check != nil {
					c.check(t, g, d, j)
				}
			})
		}
	}
}

// TestDeviceRequest: a device asking for an update gets the current release
// of its model in the same session, and later, on that release, is told
// that there is none (200, no command, the session ends).
func TestDeviceRequest(t *testing.T) {
	for _, enc := range encodings {
		t.Run(enc.String(), func(t *testing.T) {
			g := newGateway(t, false, nil)
			d, f := g.clientDevice("d1", enc, nil)
			other, _ := g.clientDevice("d2", enc, func(rec *fleet.Device, d *sim.DMDevice, _ *sim.FUMO) {
				rec.Model = "Unreleased"
				d.SetNode("./DevInfo/Mod", []byte("Unreleased"))
			})
			if _, err := g.st.PutModelSettings(ctx, fleet.ModelSettings{Model: "Rocket", Release: "fw2"}); err != nil {
				t.Fatal(err)
			}
			rep, err := d.RequestUpdate(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if code := rep.Statuses["Alert 3"]; code != 200 {
				t.Errorf("device request answered %d, want 200: %v", code, rep.Statuses)
			}
			if code, _ := f.Report(ctx); code != 200 {
				t.Fatalf("device reported %d", code)
			}
			j := g.waitJob("req-d1-1")
			if j.State != fleet.JobSucceeded || j.PackageID != "fw2" {
				t.Fatalf("requested job %s %s: %+v", j.State, j.Reason, j.History)
			}
			// On the release now: no update.
			rep, err = d.RequestUpdate(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			if code := rep.Statuses["Alert 3"]; code != 200 || rep.Messages != 1 {
				t.Errorf("request on the release: status %d in %d messages, want 200 and the session over", code, rep.Messages)
			}
			if jobs, _ := g.st.JobsOfDevice(ctx, "d1"); len(jobs) != 1 {
				t.Errorf("%d jobs after a request on the release", len(jobs))
			}
			// A model without a release: no update either.
			rep, err = other.RequestUpdate(ctx, false)
			if err != nil || rep.Statuses["Alert 3"] != 200 || rep.Messages != 1 {
				t.Errorf("request without a release: %+v %v", rep, err)
			}
			if jobs, _ := g.st.JobsOfDevice(ctx, "d2"); len(jobs) != 0 {
				t.Errorf("a job for a model without a release: %+v", jobs)
			}
		})
	}
}

// overdue runs the driver's watch as if the report timeout had passed.
func (g *gateway) overdue() { g.driver.Watch(ctx, time.Now().Add(31*time.Minute)) }

// TestLostResultAlert: the device accepted the Exec and updated, but its
// Generic Alert never came. Once it is overdue, the device's next session
// reads <x>/State: 100 verifies and succeeds, 80 fails, 60 keeps waiting;
// the package is never downloaded again.
func TestLostResultAlert(t *testing.T) {
	cases := []struct {
		name   string
		state  string // <x>/State set after the work, "" to keep the device's own
		want   fleet.JobState
		reason fleet.Reason
	}{
		{"updated", "", fleet.JobSucceeded, ""},
		{"update failed", "80", fleet.JobFailed, fleet.ReasonUpdateFailed},
		{"still installing", "60", fleet.JobUpdating, ""},
	}
	for _, enc := range encodings {
		for _, c := range cases {
			t.Run(enc.String()+"/"+c.name, func(t *testing.T) {
				g := newGateway(t, false, nil)
				d, f := g.clientDevice("d1", enc, func(_ *fleet.Device, _ *sim.DMDevice, f *sim.FUMO) { f.Fault = sim.FaultNoReport })
				g.job("job1", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
				call(t, d)
				if err := f.WaitContext(ctx); err != nil {
					t.Fatal(err)
				}
				if c.state != "" {
					d.SetNode("./FwUpdate/1/State", []byte(c.state))
				}
				if j, _ := g.st.Job(ctx, "job1"); j.State != fleet.JobUpdating {
					t.Fatalf("job %s before the alert is overdue", j.State)
				}
				g.driver.Watch(ctx, time.Now()) // not overdue yet: nothing queued
				if q, _ := g.st.DMCommands(ctx, "d1"); len(q) != 0 {
					t.Fatalf("commands queued before the alert is overdue: %+v", q)
				}
				g.overdue()
				call(t, d)
				j, _ := g.st.Job(ctx, "job1")
				if c.want.Terminal() {
					j = g.waitJob("job1")
				}
				if j.State != c.want || j.Reason != c.reason || j.StateReads != 1 {
					t.Fatalf("job %s %s after %d state reads, want %s %s: %+v", j.State, j.Reason, j.StateReads, c.want, c.reason, j.History)
				}
				if all, _ := f.Executions(); all != 1 {
					t.Errorf("the device ran %d Execs, want 1 (no download again)", all)
				}
				if j.State == fleet.JobUpdating && !j.StepDeadline.After(time.Now()) {
					t.Errorf("still working: the next look is not scheduled (%s)", j.StepDeadline)
				}
			})
		}
	}
}

// TestUnansweredExec: the session carrying the Exec dropped; the device's
// next session does not get the Exec again blindly: its state is read
// first (idle, old firmware: the Exec never arrived), then the Exec goes
// once more and the job ends as usual. A device that updated meanwhile
// (state 100) is verified instead.
func TestUnansweredExec(t *testing.T) {
	for _, enc := range encodings {
		t.Run(enc.String(), func(t *testing.T) {
			g := newGateway(t, false, nil)
			d, f := g.clientDevice("d1", enc, func(_ *fleet.Device, d *sim.DMDevice, _ *sim.FUMO) { d.DropOnExec = 1 })
			g.job("job1", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
			if _, err := d.Session(ctx, sim.SessionOptions{}); !errors.Is(err, sim.ErrSessionDropped) {
				t.Fatalf("first session: %v, want dropped", err)
			}
			call(t, d)
			if code, _ := f.Report(ctx); code != 200 {
				t.Fatalf("device reported %d", code)
			}
			j := g.waitJob("job1")
			if j.State != fleet.JobSucceeded || j.StateReads != 1 {
				t.Fatalf("job %s after %d state reads: %+v", j.State, j.StateReads, j.History)
			}
			if all, _ := f.Executions(); all != 1 {
				t.Errorf("the device ran %d Execs, want 1", all)
			}
			r, err := g.dm.Result(ctx, "job1.exec")
			if err != nil || !strings.HasPrefix(r.Error, fleet.UnansweredPrefix) {
				t.Errorf("the dropped Exec: %+v %v, want unanswered", r, err)
			}
		})
	}
	t.Run("updated meanwhile", func(t *testing.T) {
		g := newGateway(t, false, nil)
		d, f := g.clientDevice("d1", syncml.EncodingXML, func(_ *fleet.Device, d *sim.DMDevice, _ *sim.FUMO) { d.DropOnExec = 1 })
		g.job("job1", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
		if _, err := d.Session(ctx, sim.SessionOptions{}); !errors.Is(err, sim.ErrSessionDropped) {
			t.Fatalf("first session: %v, want dropped", err)
		}
		// The device did run it after all, and its alert is lost.
		d.SetNode("./FwUpdate/1/State", []byte("100"))
		d.SetNode("./DevDetail/FwV", []byte("2.0"))
		call(t, d)
		j := g.waitJob("job1")
		if j.State != fleet.JobSucceeded {
			t.Fatalf("job %s: %+v", j.State, j.History)
		}
		if all, _ := f.Executions(); all != 0 {
			t.Errorf("the Exec was sent again to a device that had run it (%d)", all)
		}
	})
}

// TestDiscoveryFails: a device without a FUMO object gets a job that fails
// at once as unsupported, saying what was tried; a model's FUMO root is
// used without discovery.
func TestDiscovery(t *testing.T) {
	for _, enc := range encodings {
		t.Run(enc.String(), func(t *testing.T) {
			g := newGateway(t, false, nil)
			d, _ := g.clientDevice("d1", enc, func(rec *fleet.Device, d *sim.DMDevice, f *sim.FUMO) {
				rec.DM.FUMORoot, f.Root = "", "" // no FUMO object at all
				d.SetNode("./Vendor/Settings/Volume", []byte("3"))
			})
			g.job("job1", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
			call(t, d)
			j := g.waitJob("job1")
			note := j.History[len(j.History)-1].Note
			if j.State != fleet.JobFailed || j.Reason != fleet.ReasonUnsupported || !strings.Contains(note, "?list=Struct") || !strings.Contains(note, "./Vendor/Settings") {
				t.Fatalf("job %s %s %q", j.State, j.Reason, note)
			}

			// A model with a FUMO root: no discovery.
			if _, err := g.st.PutModelSettings(ctx, fleet.ModelSettings{Model: "Odd", FUMORoot: "./Odd/FUMO"}); err != nil {
				t.Fatal(err)
			}
			d2, f2 := g.clientDevice("d2", enc, func(rec *fleet.Device, _ *sim.DMDevice, f *sim.FUMO) {
				rec.Model, rec.DM.FUMORoot, f.Root = "Odd", "", "./Odd/FUMO"
			})
			if j := g.runJob(t, "job2", d2, f2); j.State != fleet.JobSucceeded {
				t.Fatalf("job with the model's root: %s %+v", j.State, j.History)
			}
			cmds, _ := g.st.AllDMCommands(ctx, "d2")
			for _, c := range cmds {
				if strings.Contains(c.ID, "discover") || strings.Contains(c.ID, "probe") {
					t.Errorf("discovery with a model root: %s", c.ID)
				}
			}
		})
	}
}

// TestVerifyPolicy: the version check after a reported success is on by
// default and switchable per package and per job (the job's setting wins).
func TestVerifyPolicy(t *testing.T) {
	off, on := false, true
	cases := []struct {
		name       string
		pkg, job   *bool
		wantState  fleet.JobState
		wantReason fleet.Reason
	}{
		{"default on", nil, nil, fleet.JobFailed, fleet.ReasonUpdateFailed},
		{"off for the package", &off, nil, fleet.JobSucceeded, ""},
		{"on for the job", &off, &on, fleet.JobFailed, fleet.ReasonUpdateFailed},
		{"off for the job", nil, &off, fleet.JobSucceeded, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGateway(t, false, nil)
			img, sha := g.img, g.sha
			pkg := fmt.Sprintf("fw-%d", i)
			if _, err := g.st.PutPackage(ctx, fleet.Package{ID: pkg, Name: "rocket", Version: "2.0", Size: int64(len(img)), SHA256: sha, Verify: c.pkg}, strings.NewReader(string(img))); err != nil {
				t.Fatal(err)
			}
			d, f := g.clientDevice("d1", syncml.EncodingXML, func(_ *fleet.Device, _ *sim.DMDevice, f *sim.FUMO) { f.NewVersion = "1.9" })
			if _, err := g.st.CreateJob(ctx, fleet.Job{ID: "job1", DeviceID: "d1", PackageID: pkg, Operation: fleet.OpDownloadAndUpdate,
				Delivery: fleet.DeliveryPull, State: fleet.JobQueued, Verify: c.job}); err != nil {
				t.Fatal(err)
			}
			if err := g.driver.Start(ctx, "job1"); err != nil {
				t.Fatal(err)
			}
			call(t, d)
			f.Report(ctx)
			if j := g.waitJob("job1"); j.State != c.wantState || j.Reason != c.wantReason {
				t.Fatalf("job %s %s, want %s %s", j.State, j.Reason, c.wantState, c.wantReason)
			}
		})
	}
}

// TestCancelDuringDiscovery: a job whose device was only asked reads (the
// discovery) can be cancelled: reads do not make a device act.
func TestCancelDuringDiscovery(t *testing.T) {
	g := newGateway(t, false, nil)
	g.clientDevice("d1", syncml.EncodingXML, func(rec *fleet.Device, _ *sim.DMDevice, f *sim.FUMO) { rec.DM.FUMORoot, f.Root = "", "" })
	g.job("job1", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
	st := fleet.DMStep{Session: fleet.DMSession{DeviceID: "d1", SessionID: "1", Token: "t1", State: []byte(`{}`)}, Sent: []string{"job1.discover"}}
	if err := g.st.CommitDMStep(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := g.driver.Stop(ctx, "job1", fleet.JobCancelled, fleet.ReasonCancelled, "operator cancelled", false, time.Time{}); err != nil {
		t.Fatalf("cancel during discovery: %v", err)
	}
	if q, _ := g.st.DMCommands(ctx, "d1"); len(q) != 0 {
		t.Errorf("commands left: %+v", q)
	}
}

// TestResumeQueuesWhatWasNotQueued: a job left waiting for its device
// with no command (moved, then stopped, by an earlier version that queued
// after the move) gets its commands when the driver resumes.
func TestResumeQueuesWhatWasNotQueued(t *testing.T) {
	g := newGateway(t, false, nil)
	d, f := g.clientDevice("d1", syncml.EncodingXML, nil)
	if _, err := g.st.CreateJob(ctx, fleet.Job{ID: "job1", DeviceID: "d1", PackageID: "fw2", Operation: fleet.OpDownloadAndUpdate,
		Delivery: fleet.DeliveryPull, State: fleet.JobWaitingDevice, Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	g.restart()
	call(t, d)
	if code, _ := f.Report(ctx); code != 200 {
		t.Fatalf("device reported %d", code)
	}
	if j := g.waitJob("job1"); j.State != fleet.JobSucceeded {
		t.Fatalf("job %s: %+v", j.State, j.History)
	}
}
