package fumo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// HandleAlert takes Generic Alerts (dm.AlertHandler): FUMO results are
// matched to their job by Correlator, then by device and operation; a
// device's request for an update gets the model's current release in the
// same session, when there is one and the device does not run it yet. The
// status is 200 (the server never answers 202 for work that will not
// happen), 415 for a FUMO alert it cannot read, 0 (the server's default)
// for alerts of other management objects.
func (d *Driver) HandleAlert(ctx context.Context, ev dm.AlertEvent) int {
	if ev.Alert.Code != AlertCodeGeneric {
		return 0
	}
	reports, err := ParseGenericAlert(ev.Alert)
	switch {
	case errors.Is(err, ErrNotFUMOAlert):
		return 0
	case err != nil:
		d.emit(ctx, Event{DeviceID: ev.DeviceID, Note: "unreadable FUMO alert: " + err.Error()})
		return 415
	}
	for _, rep := range reports {
		if rep.Type.IsRequest() {
			if err := d.deviceRequest(ctx, ev, rep); err != nil {
				d.log.Error("fumo: device request", "device", ev.DeviceID, "err", err)
				return 500
			}
			continue
		}
		j, ok := d.match(ctx, ev.DeviceID, rep)
		if !ok {
			d.emit(ctx, Event{DeviceID: ev.DeviceID, Result: rep.Result, Note: fmt.Sprintf("FUMO result %d (correlator %q) matches no job of this device", rep.Result, rep.Correlator)})
			continue
		}
		if err := d.onReport(ctx, j, rep); err != nil && !errors.Is(err, fleet.ErrStale) {
			d.log.Error("fumo: report", "job", j.ID, "err", err)
			return 500
		}
	}
	return 200
}

// match finds the job a report belongs to.
func (d *Driver) match(ctx context.Context, deviceID string, rep Report) (fleet.Job, bool) {
	if rep.Correlator != "" {
		j, err := d.cfg.Jobs.Job(ctx, rep.Correlator)
		if err == nil && j.DeviceID == deviceID && !j.State.Terminal() {
			return j, true
		}
		return fleet.Job{}, false
	}
	jobs, err := d.cfg.Jobs.JobsOfDevice(ctx, deviceID)
	if err != nil {
		return fleet.Job{}, false
	}
	if dev, err := d.cfg.Jobs.Device(ctx, deviceID); err == nil && dev.DM != nil && rep.Root != "" {
		if root, err := d.rootOf(ctx, dev); err == nil && root != "" && rep.Root != root {
			return fleet.Job{}, false // a report about another FUMO node
		}
	}
	for _, j := range jobs {
		if j.State.Terminal() || j.State == fleet.JobQueued {
			continue
		}
		if execOp(j).AlertType() == rep.Type {
			return j, true
		}
	}
	return fleet.Job{}, false
}

// onReport applies a FUMO result to its job. The device has run the Exec:
// the job's commands still queued (their statuses lost with a broken
// session, a state read now needless) are withdrawn with the job's step,
// so that no session sends them again.
func (d *Driver) onReport(ctx context.Context, j fleet.Job, rep Report) error {
	if !rep.Result.Successful() {
		return d.fail(ctx, j, ReasonOf(rep.Result), int(rep.Result), fmt.Sprintf("device reported %d (%s)", int(rep.Result), rep.Result))
	}
	note := fmt.Sprintf("device reported %d", int(rep.Result))
	if j.State == fleet.JobWaitingDevice || j.State == fleet.JobDelivering {
		note += " before the Exec status" // which comes after its 1226 in this message
	}
	return d.succeed(ctx, j, note, rep.Result, withdrawAll(j, "superseded by the device's result"))
}

// deviceRequest answers a device's (or its user's) request for an update:
// a job with the current release of the device's model, when it has one
// and the device does not run that version already, created and started
// now so that its commands go out in this session. A device with a job
// under way gets that job's commands. Otherwise no update is available,
// the alert is answered 200 all the same, and the session ends.
func (d *Driver) deviceRequest(ctx context.Context, ev dm.AlertEvent, rep Report) error {
	nothing := func(why string) error {
		d.emit(ctx, Event{DeviceID: ev.DeviceID, Note: "device asks for an update (" + rep.Type.String() + "): no update available: " + why})
		return nil
	}
	dev, err := d.cfg.Jobs.Device(ctx, ev.DeviceID)
	if errors.Is(err, fleet.ErrNotFound) {
		return nothing("the device is not stored yet")
	}
	if err != nil {
		return err
	}
	jobs, err := d.cfg.Jobs.JobsOfDevice(ctx, dev.ID)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if !j.State.Terminal() {
			d.emit(ctx, Event{JobID: j.ID, DeviceID: dev.ID, State: j.State, Note: "device asks for an update: job under way"})
			return nil
		}
	}
	model := dev.Model
	if model == "" {
		model = ev.DevInfo["./DevInfo/Mod"]
	}
	if model == "" {
		return nothing("the device's model is not known")
	}
	ms, err := d.cfg.Jobs.ModelSettings(ctx, model)
	if errors.Is(err, fleet.ErrNotFound) || err == nil && ms.Release == "" {
		return nothing(fmt.Sprintf("no release set for model %q", model))
	}
	if err != nil {
		return err
	}
	pkg, err := d.cfg.Jobs.Package(ctx, ms.Release)
	if err != nil {
		return err
	}
	current := dev.FirmwareVersion
	if fwv := dev.DM.DevDetail["FwV"]; fwv != "" {
		current = fwv
	}
	if fleet.SameVersion(current, pkg.Version) {
		return nothing(fmt.Sprintf("the device runs %s, the release of model %q", strings.TrimSpace(current), model))
	}
	j := fleet.Job{DeviceID: dev.ID, PackageID: pkg.ID, Operation: fleet.OpDownloadAndUpdate, Delivery: fleet.DeliveryPull, State: fleet.JobQueued}
	if d.cfg.PackageURL == nil {
		j.Delivery = fleet.DeliveryPush
	}
	// The id follows from the device's jobs, so that a recorded session
	// replays.
	for n := len(jobs) + 1; ; n++ {
		j.ID = "req-" + dev.ID + "-" + strconv.Itoa(n)
		_, err = d.cfg.Jobs.CreateJob(ctx, j)
		if !errors.Is(err, fleet.ErrExists) || n > len(jobs)+100 {
			break
		}
	}
	if err != nil {
		return err
	}
	d.emit(ctx, Event{JobID: j.ID, DeviceID: dev.ID, State: fleet.JobQueued, Note: fmt.Sprintf("created on the device's request (%s): release %s of model %q", rep.Type, pkg.Version, model)})
	// Started now, so that its commands go out in this session (or already
	// started by whoever runs queued jobs: its step committed them too).
	if err := d.Start(ctx, j.ID); err != nil && !errors.Is(err, fleet.ErrStale) {
		return err
	}
	return nil
}
