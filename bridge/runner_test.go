package bridge_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm/fumo"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/sim"
)

// TestBadInput: requests the pipeline cannot honour are refused with an
// error callers can branch on, and the store is left as it was.
func TestBadInput(t *testing.T) {
	h := newHarness(t, 4<<10, nil)
	h.addDM("dm-1", sim.FaultNone)
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	// A device that registered without a Firmware Update object.
	if _, err := h.gw.Store.CreateDevice(ctx, fleet.Device{ID: "lw-nofw", Protocol: fleet.ProtocolLwM2M, LwM2M: &fleet.LwM2MInfo{Endpoint: "urn:dev:nofw"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.gw.Store.SetRegistration(ctx, "lw-nofw", &fleet.Registration{ID: "r1", Address: "127.0.0.1:9", Lifetime: 60,
		Objects: []string{"/1/0", "/3/0"}, Registered: time.Now(), Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	before := h.dump()
	b := h.gw.Bridge
	jobs := []struct {
		name string
		req  bridge.JobRequest
		want error
	}{
		{"unknown device", bridge.JobRequest{DeviceID: "nobody", PackageID: "fw2"}, bridge.ErrNotFound},
		{"unknown package", bridge.JobRequest{DeviceID: "dm-1", PackageID: "fw9"}, bridge.ErrNotFound},
		{"no device", bridge.JobRequest{PackageID: "fw2"}, bridge.ErrInvalid},
		{"bad operation", bridge.JobRequest{DeviceID: "dm-1", PackageID: "fw2", Operation: "reflash"}, bridge.ErrInvalid},
		{"bad delivery", bridge.JobRequest{DeviceID: "dm-1", PackageID: "fw2", Delivery: "sneakernet"}, bridge.ErrInvalid},
		{"deadline passed", bridge.JobRequest{DeviceID: "dm-1", PackageID: "fw2", Deadline: time.Now().Add(-time.Minute)}, bridge.ErrInvalid},
		{"device without object 5", bridge.JobRequest{DeviceID: "lw-nofw", PackageID: "fw2"}, bridge.ErrCannotDeliver},
	}
	for _, tt := range jobs {
		if _, err := b.CreateJob(ctx, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("job, %s: %v, want %v", tt.name, err, tt.want)
		}
	}
	campaigns := []struct {
		name string
		req  bridge.CampaignRequest
		want error
	}{
		{"empty list", bridge.CampaignRequest{PackageID: "fw2"}, bridge.ErrNoDevices},
		{"selector matching nothing", bridge.CampaignRequest{PackageID: "fw2", Selector: &fleet.Selector{Model: "Nokia 3310"}}, bridge.ErrNoDevices},
		{"unknown device", bridge.CampaignRequest{PackageID: "fw2", Devices: []string{"dm-1", "nobody"}}, bridge.ErrNotFound},
		{"unknown package", bridge.CampaignRequest{PackageID: "fw9", Devices: []string{"dm-1"}}, bridge.ErrNotFound},
		{"device without object 5", bridge.CampaignRequest{PackageID: "fw2", Devices: []string{"dm-1", "lw-nofw"}}, bridge.ErrCannotDeliver},
		{"list and selector", bridge.CampaignRequest{PackageID: "fw2", Devices: []string{"dm-1"}, Selector: &fleet.Selector{}}, bridge.ErrInvalid},
		{"device twice", bridge.CampaignRequest{PackageID: "fw2", Devices: []string{"dm-1", "dm-1"}}, bridge.ErrInvalid},
		{"negative rate", bridge.CampaignRequest{PackageID: "fw2", Devices: []string{"dm-1"}, RatePerMinute: -1}, bridge.ErrInvalid},
	}
	for _, tt := range campaigns {
		if _, err := b.CreateCampaign(ctx, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("campaign, %s: %v, want %v", tt.name, err, tt.want)
		}
	}
	for _, id := range []string{"nope"} {
		if _, err := b.CancelJob(ctx, id); !errors.Is(err, bridge.ErrNotFound) {
			t.Errorf("cancel unknown job: %v", err)
		}
		if _, err := b.StartCampaign(ctx, id); !errors.Is(err, bridge.ErrNotFound) {
			t.Errorf("start unknown campaign: %v", err)
		}
	}
	if after := h.dump(); after != before {
		t.Fatal("refused requests changed the store")
	}

	// A device with an unfinished job takes no second one.
	if _, err := b.CreateJob(ctx, bridge.JobRequest{ID: "j1", DeviceID: "lw-1", PackageID: "fw2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateJob(ctx, bridge.JobRequest{ID: "j2", DeviceID: "lw-1", PackageID: "fw2"}); !errors.Is(err, bridge.ErrBusy) {
		t.Errorf("second job for a busy device: %v", err)
	}
	if _, err := b.CreateJob(ctx, bridge.JobRequest{ID: "j1", DeviceID: "dm-1", PackageID: "fw2"}); !errors.Is(err, fleet.ErrExists) {
		t.Errorf("job id reused: %v", err)
	}
	if j := h.waitJob("j1", 30*time.Second); j.State != fleet.JobSucceeded {
		t.Fatalf("j1 %s", j.State)
	}
	if _, err := b.CancelJob(ctx, "j1"); !errors.Is(err, bridge.ErrState) {
		t.Errorf("cancel a finished job: %v", err)
	}
}

// TestRetryThenFail: a DM device whose downloads fail on the network is
// tried MaxAttempts times with back-off, then the job fails with reason
// network and every attempt's FUMO code.
func TestRetryThenFail(t *testing.T) {
	h := newHarness(t, 4<<10, func(c *gateway.Config) {
		c.Retry = bridge.RetryPolicy{MaxAttempts: 2, Backoff: 300 * time.Millisecond}
	})
	h.addDM("dm-1", sim.FaultNetworkDown)
	if _, err := h.gw.Bridge.CreateJob(ctx, bridge.JobRequest{ID: "j1", DeviceID: "dm-1", PackageID: "fw2"}); err != nil {
		t.Fatal(err)
	}
	j := h.waitJob("j1", 30*time.Second)
	if j.State != fleet.JobFailed || j.Reason != fleet.ReasonNetwork || j.Attempts != 2 || natives(j) != "[{dm 503} {dm 503}]" {
		t.Fatalf("job %s %s attempts %d native %s", j.State, j.Reason, j.Attempts, natives(j))
	}
	// The second attempt waited out the back-off after the first failed.
	var requeued, restarted time.Time
	for _, tr := range j.History {
		switch {
		case tr.To == fleet.JobQueued:
			requeued = tr.At
		case tr.From == fleet.JobQueued && !requeued.IsZero():
			restarted = tr.At
		}
	}
	if requeued.IsZero() || restarted.Sub(requeued) < 300*time.Millisecond {
		t.Fatalf("retry at %v after requeue at %v: %+v", restarted, requeued, j.History)
	}
	if all, _ := h.fumos["dm-1"].Executions(); all != 2 {
		t.Errorf("device got %d Execs, want one per attempt", all)
	}
}

// TestStepTimeout: a device that never calls in is given up on after the
// step's timeout: retried once (a fresh attempt), then failed with reason
// timeout. A DM device that accepted the Exec and never reports is not
// retried (another attempt would download again because an alert was
// lost): its job fails. A job past its deadline fails at once.
func TestStepTimeout(t *testing.T) {
	h := newHarness(t, 4<<10, func(c *gateway.Config) {
		c.Retry = bridge.RetryPolicy{MaxAttempts: 2, Backoff: 50 * time.Millisecond}
		c.StepTimeouts = map[fleet.JobState]time.Duration{fleet.JobUpdating: 500 * time.Millisecond, fleet.JobWaitingDevice: 500 * time.Millisecond}
	})
	if _, err := h.gw.Store.CreateDevice(ctx, fleet.Device{ID: "dm-quiet", Protocol: fleet.ProtocolDM, Model: "Quiet",
		DM: &fleet.DMInfo{DeviceID: "IMEI:quiet", Auth: fleet.DMAuthMD5, Username: "q", Password: fleet.Secret("q"), FUMORoot: "./FwUpdate/1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.gw.Bridge.CreateJob(ctx, bridge.JobRequest{ID: "j0", DeviceID: "dm-quiet", PackageID: "fw2"}); err != nil {
		t.Fatal(err)
	}
	j := h.waitJob("j0", 30*time.Second)
	if j.State != fleet.JobFailed || j.Reason != fleet.ReasonTimeout || j.Attempts != 2 {
		t.Fatalf("job %s %s attempts %d: %+v", j.State, j.Reason, j.Attempts, j.History)
	}
	retried := false
	for _, tr := range j.History {
		retried = retried || tr.To == fleet.JobQueued && strings.Contains(tr.Note, "no progress in waiting_device")
	}
	if !retried {
		t.Errorf("no retry after the first timeout: %+v", j.History)
	}
	if q, _ := h.gw.Store.DMCommands(ctx, "dm-quiet"); len(q) != 0 {
		t.Errorf("commands left for the device: %+v", q)
	}

	h.addDM("dm-1", sim.FaultNone)
	h.fumos["dm-1"].Delay = time.Hour // downloads, never reports
	if _, err := h.gw.Bridge.CreateJob(ctx, bridge.JobRequest{ID: "j1", DeviceID: "dm-1", PackageID: "fw2"}); err != nil {
		t.Fatal(err)
	}
	j = h.waitJob("j1", 30*time.Second)
	if j.State != fleet.JobFailed || j.Reason != fleet.ReasonTimeout || j.Attempts != 1 {
		t.Fatalf("job %s %s attempts %d: %+v", j.State, j.Reason, j.Attempts, j.History)
	}
	if last := j.History[len(j.History)-1]; last.From != fleet.JobUpdating || !strings.Contains(last.Note, "not retried") {
		t.Errorf("timed out in updating: %+v", last)
	}

	// The job's own deadline ends it whatever the step, without retry.
	if _, err := h.gw.Bridge.CreateJob(ctx, bridge.JobRequest{ID: "j2", DeviceID: "dm-1", PackageID: "fw2", Deadline: time.Now().Add(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if j = h.waitJob("j2", 30*time.Second); j.State != fleet.JobFailed || j.Reason != fleet.ReasonTimeout || j.Attempts != 1 {
		t.Fatalf("job past its deadline: %s %s attempts %d", j.State, j.Reason, j.Attempts)
	}
}

// TestCancel: cancelling a job the device has not seen withdraws its
// commands (DM) or cancels the package on the device (LwM2M); a campaign
// cancel ends its unfinished jobs.
func TestCancel(t *testing.T) {
	h := newHarness(t, 64<<10, nil)
	h.addDM("dm-1", sim.FaultNone)
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	h.fws["lw-1"].Slow = 50 * time.Millisecond // a long download
	// A DM device that never calls in: its job waits for it.
	if _, err := h.gw.Store.CreateDevice(ctx, fleet.Device{ID: "dm-quiet", Protocol: fleet.ProtocolDM, Model: "Quiet",
		DM: &fleet.DMInfo{DeviceID: "IMEI:quiet", Auth: fleet.DMAuthMD5, Username: "q", Password: fleet.Secret("q")}}); err != nil {
		t.Fatal(err)
	}
	j, err := h.gw.Bridge.CreateJob(ctx, bridge.JobRequest{ID: "j1", DeviceID: "lw-1", PackageID: "fw2"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for j.State != fleet.JobDelivering && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		j, _ = h.gw.Store.Job(ctx, "j1")
	}
	if j, err = h.gw.Bridge.CancelJob(ctx, "j1"); err != nil || j.State != fleet.JobCancelled || j.Reason != fleet.ReasonCancelled {
		t.Fatalf("cancel lwm2m job: %s %v", j.State, err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s, r, _ := h.fws["lw-1"].State(); s == 0 && r == 10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s, r, _ := h.fws["lw-1"].State(); s != 0 || r != 10 {
		t.Errorf("device after cancel: state %d result %d, want 0 and 10", s, r)
	}

	c, err := h.gw.Bridge.CreateCampaign(ctx, bridge.CampaignRequest{ID: "c1", PackageID: "fw2", Selector: &fleet.Selector{Protocol: fleet.ProtocolDM, Model: "Quiet"}})
	if err != nil || len(c.Devices) != 1 || c.Devices[0] != "dm-quiet" {
		t.Fatalf("campaign by selector: %+v %v", c, err)
	}
	if _, err := h.gw.Bridge.StartCampaign(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if p, _ := h.gw.Bridge.CampaignProgress(ctx, "c1"); p.Jobs[fleet.JobWaitingDevice] == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := h.gw.Bridge.CancelCampaign(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	p, _ := h.gw.Bridge.CampaignProgress(ctx, "c1")
	if p.Campaign.State != fleet.CampaignCancelled || p.Jobs[fleet.JobCancelled] != 1 {
		t.Fatalf("cancelled campaign %s %v", p.Campaign.State, p.Jobs)
	}
	if q, _ := h.gw.Store.DMCommands(ctx, "dm-quiet"); len(q) != 0 {
		t.Errorf("commands left for the device: %+v", q)
	}
	if _, err := h.gw.Bridge.ResumeCampaign(ctx, "c1"); !errors.Is(err, bridge.ErrState) {
		t.Errorf("resume a cancelled campaign: %v", err)
	}
}

// TestPercentThresholdAndRate: a percentage threshold pauses a campaign
// once PercentFloor jobs have finished; jobs start no faster than the
// rate allows.
func TestPercentThresholdAndRate(t *testing.T) {
	h := newHarness(t, 2<<10, nil)
	var devices []string
	for i := range 12 {
		id := fmt.Sprintf("lw-%02d", i)
		fault := sim.LwM2MFaultNone
		if i%2 == 0 {
			fault = sim.LwM2MFaultUnsupported
		}
		h.addLwM2M(id, fault)
		devices = append(devices, id)
	}
	if _, err := h.gw.Bridge.CreateCampaign(ctx, bridge.CampaignRequest{ID: "c1", PackageID: "fw2", Devices: devices, MaxInFlight: 12,
		RatePerMinute: 600, FailureThreshold: 40, FailurePercent: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.gw.Bridge.StartCampaign(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	p := h.waitCampaign("c1", fleet.CampaignPaused, 60*time.Second)
	if p.Finished() < bridge.PercentFloor || !strings.Contains(p.Campaign.StateNote, "threshold 40 %") {
		t.Fatalf("paused after %d finished: %s", p.Finished(), p.Campaign.StateNote)
	}
	jobs := campaignJobs(t, h.gw.Store, "c1")
	var starts []time.Time
	for _, j := range jobs {
		starts = append(starts, j.Created)
	}
	for i := range starts {
		for k := range starts {
			// 600 a minute: 100 ms apart at least (a slower machine only
			// spaces them more).
			if i != k && starts[i].Sub(starts[k]).Abs() < 90*time.Millisecond {
				t.Fatalf("two jobs created %s apart", starts[i].Sub(starts[k]).Abs())
			}
		}
	}
}

// TestDeviceState: Get <x>/State on both protocols; an LwM2M device's
// Object 5 State and Update Result are mapped to the FUMO state.
func TestDeviceState(t *testing.T) {
	h := newHarness(t, 2<<10, nil)
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	h.addDM("dm-1", sim.FaultNone)
	s, err := h.gw.Bridge.DeviceState(ctx, "lw-1")
	if err != nil || s.FUMO != fumo.StateIdle || s.Object5State != 0 || s.Object5Result != 0 {
		t.Fatalf("lwm2m state %+v %v", s, err)
	}
	if _, err := h.gw.Bridge.CreateJob(ctx, bridge.JobRequest{ID: "j1", DeviceID: "lw-1", PackageID: "fw2"}); err != nil {
		t.Fatal(err)
	}
	h.waitJob("j1", 30*time.Second)
	if s, err = h.gw.Bridge.DeviceState(ctx, "lw-1"); err != nil || s.FUMO != fumo.StateUpdateSuccessfulNoData || s.Object5Result != 1 {
		t.Fatalf("lwm2m state after the update %+v %v", s, err)
	}
	// The DM device answers in its next session.
	done := make(chan bridge.DeviceState, 1)
	go func() {
		s, err := h.gw.Bridge.DeviceState(ctx, "dm-1")
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if q, _ := h.gw.Store.DMCommands(ctx, "dm-1"); len(q) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := h.dms["dm-1"].Session(ctx, sim.SessionOptions{}); err != nil {
		t.Fatal(err)
	}
	if s := <-done; s.FUMO != fumo.StateIdle {
		t.Fatalf("dm state %+v", s)
	}
	if _, err := h.gw.Bridge.DeviceState(ctx, "nobody"); !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("state of an unknown device: %v", err)
	}
}
