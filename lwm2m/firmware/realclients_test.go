package firmware_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/firmware"
	"github.com/fumo-gw/fumo-gw/sim"
)

// What stock LwM2M clients showed (issue #19), with the simulator switched
// to do the same.

// TestResetBeforeDelivery: after a failed update the device stays in
// State 2 (Downloaded, Result 8) and refuses a Package URI unless Idle
// (Anjay). The next job reads State first, resets the device with an
// empty Package URI, and delivers.
func TestResetBeforeDelivery(t *testing.T) {
	for _, delivery := range []fleet.Delivery{fleet.DeliveryPull, fleet.DeliveryPush} {
		t.Run(string(delivery), func(t *testing.T) {
			g := newGateway(t, nil)
			fw := &sim.LwM2MFirmware{ExpectSHA256: g.digest, Fault: sim.LwM2MFaultUpdateFailure, RefuseURIUnlessIdle: true}
			g.device("ep", fw, nil)
			g.job("j1", "ep", delivery)
			if j := g.finished("j1"); j.State != fleet.JobFailed || j.Reason != fleet.ReasonUpdateFailed {
				t.Fatalf("first job %s %s", j.State, j.Reason)
			}
			if s, r, _ := fw.State(); s != 2 || r != 8 {
				t.Fatalf("device after the failed update: state %d result %d, want 2 and 8", s, r)
			}
			fw.Fault = sim.LwM2MFaultNone
			g.job("j2", "ep", delivery)
			if j := g.finished("j2"); j.State != fleet.JobSucceeded {
				t.Fatalf("second job %s %s: %+v", j.State, j.Reason, j.History)
			}
		})
	}
}

// TestURIRefused: a device that refuses the Package URI itself (it was
// idle) fails the job with bad_uri, its State and Result recorded.
func TestURIRefused(t *testing.T) {
	g := newGateway(t, nil)
	g.device("ep", &sim.LwM2MFirmware{ExpectSHA256: g.digest, RefuseURI: true}, nil)
	g.job("j1", "ep", fleet.DeliveryPull)
	j := g.finished("j1")
	note := j.History[len(j.History)-1].Note
	if j.State != fleet.JobFailed || j.Reason != fleet.ReasonBadURI || !strings.Contains(note, "device state idle, result initial") {
		t.Fatalf("job %s %s %q", j.State, j.Reason, note)
	}
}

// TestUnsolicitedNotifyAfterRestart: after a gateway restart the device
// notifies with the previous process's token (or, its socket lost,
// registers again); either way the job goes on at once, not at the
// device's next Update (an hour away) or a poll (none). That the server
// turns an unsolicited notification into an event is pinned by
// lwm2m.TestUnsolicitedNotificationEvent; the driver handles that event
// as a registration: it observes again and reads the state.
func TestUnsolicitedNotifyAfterRestart(t *testing.T) {
	g := newGateway(t, nil)
	g.stop()
	g.fwMutate = func(c *firmware.Config) { c.PollInterval = time.Hour } // no poll to lean on
	g.start()
	// A download long enough to outlast the restart: it ends, and the
	// device notifies, on the new process.
	fw := &sim.LwM2MFirmware{ExpectSHA256: g.digest, BlockSize: 256, Slow: 50 * time.Millisecond}
	g.device("ep", fw, func(d *sim.LwM2MDevice) { d.Lifetime = 3600 }) // no Update to lean on
	g.job("j1", "ep", fleet.DeliveryPull)
	eventually(t, "downloading", func() bool { s, _, _ := fw.State(); return s == 1 })
	g.restart()
	j := g.finished("j1")
	if j.State != fleet.JobSucceeded {
		t.Fatalf("job %s %s: %+v", j.State, j.Reason, j.History)
	}
}

// TestDeviceGoneMidDownload: a device that vanishes mid-download has its
// job moved back to waiting for it as soon as its registration expires
// (counted), and the job resumes when the device registers again.
func TestDeviceGoneMidDownload(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.ExpiryGrace = 0 })
	fw := &sim.LwM2MFirmware{ExpectSHA256: g.digest, BlockSize: 256, Slow: 20 * time.Millisecond}
	d := g.device("ep", fw, func(d *sim.LwM2MDevice) { d.Lifetime = 1 })
	g.job("j1", "ep", fleet.DeliveryPull)
	eventually(t, "downloading", func() bool { s, _, _ := fw.State(); return s == 1 })
	d.Kill()
	eventually(t, "the job waiting for its device", func() bool {
		j, _ := g.st.Job(context.Background(), "j1")
		return j.State == fleet.JobWaitingDevice
	})
	// Counted once the move is stored.
	eventually(t, "the move counted", func() bool { return g.drv.Stats().WaitingExpired == 1 })
	// Back, a new life: the job delivers again, as a new attempt.
	fw2 := &sim.LwM2MFirmware{ExpectSHA256: g.digest}
	d2 := &sim.LwM2MDevice{Endpoint: "ep", Server: g.udp, Firmware: fw2}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d2.Kill)
	j := g.finished("j1")
	if j.State != fleet.JobSucceeded || j.Attempts != 2 {
		t.Fatalf("job %s attempts %d: %+v", j.State, j.Attempts, j.History)
	}
}

// TestGiveUpMidDownload: a device that reports the connection lost (Result
// 4) and then says nothing more, its registration running out: the job
// does not sit delivering until its step timeout; it waits for the device.
func TestGiveUpMidDownload(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.RequestTimeout, c.ExpiryGrace = time.Second, 0 })
	fw := &sim.LwM2MFirmware{ExpectSHA256: g.digest, BlockSize: 256, Fault: sim.LwM2MFaultGiveUp}
	g.device("ep", fw, func(d *sim.LwM2MDevice) { d.Lifetime = 2 })
	g.job("j1", "ep", fleet.DeliveryPull)
	eventually(t, "the job waiting for its device", func() bool {
		j, _ := g.st.Job(context.Background(), "j1")
		_, registered := g.srv.Registration("ep")
		return j.State == fleet.JobWaitingDevice && !registered
	})
}

// TestStuckAfterPush: a device that takes a pushed package but stays
// Downloading for ever (Wakaama's stub) is not pushed the package for
// ever: each delivery is an attempt, and past the progress bound the
// attempt fails; after the last, the job fails with reason no_progress.
func TestStuckAfterPush(t *testing.T) {
	g := newGateway(t, nil)
	g.stop()
	g.fwMutate = func(c *firmware.Config) {
		c.ProgressFloor, c.ProgressRate, c.MaxAttempts = 500*time.Millisecond, 1<<30, 3
	}
	g.start()
	fw := &sim.LwM2MFirmware{ExpectSHA256: g.digest, StuckAfterPush: true}
	g.device("ep", fw, nil)
	g.job("j1", "ep", fleet.DeliveryPush)
	j := g.finished("j1")
	if j.State != fleet.JobFailed || j.Reason != fleet.ReasonNoProgress || j.Attempts != 3 {
		t.Fatalf("job %s %s attempts %d: %+v", j.State, j.Reason, j.Attempts, j.History)
	}
	if n := g.drv.Stats().NoProgress; n != 3 {
		t.Errorf("attempts given up for no progress: %d, want 3", n)
	}
	if last := j.History[len(j.History)-1].Note; !strings.Contains(last, "no progress") {
		t.Errorf("last note %q", last)
	}
}
