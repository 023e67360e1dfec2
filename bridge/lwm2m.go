package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/firmware"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// LwM2MTarget runs jobs on LwM2M devices with the Object 5 driver: the
// FUMO delivery becomes a Write of /5/0/1 (pull, URI scheme from /5/0/8)
// or of /5/0/0 with Block1 (push), Exec Download becomes waiting for
// State 2, Exec Update an Execute of /5/0/2, and the Generic Alert is
// synthesised from State and Update Result with FUMOState and FUMOResult.
type LwM2MTarget struct {
	cfg    firmware.Config
	drv    *firmware.Driver
	report func(context.Context, Report)
}

// NewLwM2MTarget builds the Object 5 driver on cfg (its Listener is the
// target's) and follows the server's registrations as device events.
func NewLwM2MTarget(cfg firmware.Config) (*LwM2MTarget, error) {
	t := &LwM2MTarget{cfg: cfg}
	cfg.Listener = t.jobEvent
	cfg.FUMOResult = func(r firmware.Result) (int, bool) {
		code, final := FUMOResult(r)
		return int(code), final
	}
	drv, err := firmware.New(cfg)
	if err != nil {
		return nil, err
	}
	t.drv = drv
	cfg.Server.AddListener(t.deviceEvent)
	return t, nil
}

// Stats are the firmware driver's counters.
func (t *LwM2MTarget) Stats() firmware.Stats { return t.drv.Stats() }

// Close stops the driver's polling and pushes (their jobs resume later).
func (t *LwM2MTarget) Close() { t.drv.Close() }

// Protocol is LwM2M.
func (t *LwM2MTarget) Protocol() fleet.Protocol { return fleet.ProtocolLwM2M }

// OnReport sets where reports go.
func (t *LwM2MTarget) OnReport(f func(context.Context, Report)) { t.report = f }

func (t *LwM2MTarget) jobEvent(ctx context.Context, ev firmware.Event) {
	if t.report == nil {
		return
	}
	r := Report{JobID: ev.JobID, DeviceID: ev.DeviceID, Protocol: fleet.ProtocolLwM2M, Job: ev.State, Reason: ev.Reason,
		FUMOState: FUMOState(ev.Device, ev.Result), Note: ev.Note, Bytes: ev.Bytes}
	if code, final := FUMOResult(ev.Result); final {
		r.FUMOResult = code
		r.Native = &fleet.NativeCode{Protocol: fleet.ProtocolLwM2M, Code: int(ev.Result)}
	}
	t.report(ctx, r)
}

func (t *LwM2MTarget) deviceEvent(ctx context.Context, ev lwm2m.Event) {
	if t.report == nil || ev.DeviceID == "" {
		return
	}
	switch ev.Kind {
	case lwm2m.EventRegistered, lwm2m.EventUpdated, lwm2m.EventDeregistered, lwm2m.EventExpired:
		t.report(ctx, Report{DeviceID: ev.DeviceID, Protocol: fleet.ProtocolLwM2M, DeviceEvent: ev.Kind.String(), Note: ev.Endpoint})
	}
}

// Check refuses devices that are not LwM2M devices and registered devices
// without a Firmware Update object (/5).
func (t *LwM2MTarget) Check(_ context.Context, dev fleet.Device, _ fleet.Package, _ fleet.Delivery) error {
	if dev.Protocol != fleet.ProtocolLwM2M || dev.LwM2M == nil {
		return fmt.Errorf("%w: %s is not an LwM2M device", ErrCannotDeliver, dev.ID)
	}
	if reg := dev.LwM2M.Registration; reg != nil && len(reg.Objects) > 0 && !hasObject(reg.Objects, 5) {
		return fmt.Errorf("%w: device %s registered without a Firmware Update object (/5): %s", ErrCannotDeliver, dev.ID, strings.Join(reg.Objects, ","))
	}
	return nil
}

func hasObject(objs []string, id int) bool {
	want := fmt.Sprintf("/%d", id)
	for _, o := range objs {
		if o == want || strings.HasPrefix(o, want+"/") {
			return true
		}
	}
	return false
}

// Run starts a queued job; what the device cannot do now waits for its
// next registration or update.
func (t *LwM2MTarget) Run(ctx context.Context, jobID string) error { return t.drv.Start(ctx, jobID) }

// Stop cancels the package on the device where it can and moves the job.
func (t *LwM2MTarget) Stop(ctx context.Context, jobID string, to fleet.JobState, reason fleet.Reason, note string, force bool, notBefore time.Time) error {
	return t.drv.Stop(ctx, jobID, to, reason, note, force, notBefore)
}

// Resume continues unfinished LwM2M jobs.
func (t *LwM2MTarget) Resume(ctx context.Context) error { return t.drv.Resume(ctx) }

// State reads /5/0/3 and /5/0/5 and maps them to the FUMO state.
func (t *LwM2MTarget) State(ctx context.Context, dev fleet.Device) (DeviceState, error) {
	if dev.LwM2M == nil {
		return DeviceState{}, fmt.Errorf("%w: %s is not an LwM2M device", ErrCannotDeliver, dev.ID)
	}
	var v [2]int64
	for i, p := range []node.Path{firmware.PathState, firmware.PathUpdateResult} {
		c, err := t.cfg.Server.Read(ctx, dev.LwM2M.Endpoint, p, lwm2m.AnyFormat)
		if err != nil {
			return DeviceState{}, fmt.Errorf("bridge: state of %s: %w", dev.ID, err)
		}
		recs, err := c.Records(p)
		if err != nil || len(recs) != 1 {
			return DeviceState{}, fmt.Errorf("bridge: state of %s: %s: %d values, %v", dev.ID, p, len(recs), err)
		}
		if v[i], err = recs[0].Value.Int(); err != nil {
			return DeviceState{}, fmt.Errorf("bridge: state of %s: %s: %w", dev.ID, p, err)
		}
	}
	s, r := firmware.State(v[0]), firmware.Result(v[1])
	return DeviceState{FUMO: FUMOState(s, r), Object5State: int(s), Object5Result: int(r)}, nil
}
