package fumo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// CommandFinished follows the answers to a job's commands
// (dm.ResultHandler). It runs after the answer is stored; the DM server
// may still add what it queues to the device's session.
func (d *Driver) CommandFinished(ctx context.Context, r dm.CommandResult) {
	jobID, kind, attempt, ok := parseCommandID(r.ID)
	if !ok {
		return // not a driver command
	}
	if r.State == fleet.DMCommandFailed && strings.HasPrefix(r.Error, "withdrawn: ") {
		return // taken back by the driver (or a stop) itself
	}
	j, err := d.cfg.Jobs.Job(ctx, jobID)
	if err != nil || j.State.Terminal() || attempt != max(j.Attempts, 1) {
		return // finished, or an answer to an attempt given up on
	}
	if err := d.onCommand(ctx, j, kind, r); err != nil && !errors.Is(err, fleet.ErrStale) {
		d.log.Error("fumo: command result", "job", jobID, "command", r.ID, "err", err)
	}
}

func (d *Driver) onCommand(ctx context.Context, j fleet.Job, kind string, r dm.CommandResult) error {
	base, n := splitKind(kind)
	code := 0
	if r.Outcome != nil {
		code = r.Outcome.Code()
	}
	switch base {
	case kindDeliver:
		if r.State == fleet.DMCommandFailed {
			return d.fail(ctx, j, fleet.ReasonUnknown, 0, "command "+kind+": "+r.Error)
		}
		return d.onDeliver(ctx, j, code)
	case kindExec, kindReexec:
		return d.onExec(ctx, j, kind, r, code)
	case kindVerify:
		if r.State == fleet.DMCommandFailed {
			return d.fail(ctx, j, fleet.ReasonUnknown, 0, "command "+kind+": "+r.Error)
		}
		return d.onVerify(ctx, j, r)
	case kindDiscover:
		return d.onDiscover(ctx, j, r, code)
	case kindProbe:
		return d.onProbe(ctx, j)
	case kindCheck:
		return d.onCheck(ctx, j, n, r, code)
	case kindVersion:
		return d.onVersion(ctx, j, n, r, code)
	}
	return nil
}

func (d *Driver) onDeliver(ctx context.Context, j fleet.Job, code int) error {
	if code != 200 && code != 202 {
		return d.fail(ctx, j, reasonOfStatus(code), code, fmt.Sprintf("device answered %d to the package delivery", code))
	}
	if j.State != fleet.JobWaitingDevice {
		return nil
	}
	j, err := d.step(ctx, j, fleet.JobDelivering, "package delivery accepted", 0, nil, fleet.DMWork{})
	if err != nil || !(j.Delivery == fleet.DeliveryPush && j.Operation == fleet.OpDownload) {
		return err
	}
	if j, err = d.step(ctx, j, fleet.JobDelivered, "package pushed", 0, nil, fleet.DMWork{}); err != nil {
		return err
	}
	if j, err = d.step(ctx, j, fleet.JobVerifying, "package on the device", 0, nil, fleet.DMWork{}); err != nil {
		return err
	}
	_, err = d.step(ctx, j, fleet.JobSucceeded, "package pushed to the device", 0, nil, fleet.DMWork{})
	return err
}

// onExec follows the Exec's status: accepted (202, or 200 with a report
// in the same session) means the device is at work and its Generic Alert
// is due within ReportTimeout; an Exec whose session ended without its
// status may have run or not, so the device's state is read before
// anything else is sent.
func (d *Driver) onExec(ctx context.Context, j fleet.Job, kind string, r dm.CommandResult, code int) error {
	accepting := j.State == fleet.JobWaitingDevice || j.State == fleet.JobDelivering
	switch {
	case r.State == fleet.DMCommandFailed && strings.HasPrefix(r.Error, fleet.UnansweredPrefix):
		if !accepting {
			return nil // the device's result, or a state read, came first
		}
		return d.readState(ctx, j, "the device never answered the Exec ("+r.Error+")", false)
	case r.State == fleet.DMCommandFailed:
		return d.fail(ctx, j, fleet.ReasonUnknown, 0, "command "+kind+": "+r.Error)
	case code == 200 || code == 202:
		if !accepting {
			return nil
		}
		_, err := d.step(ctx, j, fleet.JobUpdating, fmt.Sprintf("Exec accepted (%d); waiting for the device's report", code), 0, d.reportDue, fleet.DMWork{})
		return err
	}
	return d.fail(ctx, j, reasonOfStatus(code), code, fmt.Sprintf("device answered %d to Exec", code))
}

// reportDue sets when the job's result alert is overdue.
func (d *Driver) reportDue(j *fleet.Job) error {
	j.StepDeadline = d.cfg.Now().Add(d.cfg.ReportTimeout)
	return nil
}

func (d *Driver) onVerify(ctx context.Context, j fleet.Job, r dm.CommandResult) error {
	if j.State != fleet.JobVerifying {
		return nil
	}
	pkg, err := d.cfg.Jobs.Package(ctx, j.PackageID)
	if err != nil {
		return err
	}
	code := 0
	if r.Outcome != nil {
		code = r.Outcome.Code()
	}
	fwv, ok := firmwareVersion(r)
	switch {
	case code != 200 || !ok:
		return d.fail(ctx, j, fleet.ReasonUpdateFailed, 0, fmt.Sprintf("the device answered %d to the read of its firmware version after the update", code))
	case !fleet.SameVersion(fwv, pkg.Version):
		return d.fail(ctx, j, fleet.ReasonUpdateFailed, 0, fmt.Sprintf("device reports firmware %q after the update, package is %q", fwv, pkg.Version))
	}
	_, err = d.step(ctx, j, fleet.JobSucceeded, "firmware "+strings.TrimSpace(fwv)+" verified", ResultSuccessful, nil, fleet.DMWork{})
	return err
}

// firmwareVersion is ./DevDetail/FwV in a Get's results.
func firmwareVersion(r dm.CommandResult) (string, bool) {
	if r.Outcome == nil {
		return "", false
	}
	for _, it := range r.Outcome.Results {
		if it.Source != nil && it.Source.LocURI == DevDetailFwV && it.Data != nil {
			return string(it.Data), true
		}
	}
	return "", false
}

func (d *Driver) queueVerify(ctx context.Context, j fleet.Job) error {
	c, err := dm.QueueRecord(commandID(j, kindVerify), j.DeviceID, GetFirmwareVersion(), "", false)
	if err != nil {
		return err
	}
	_, err = d.cfg.Jobs.StepJob(ctx, j.ID, j.State, j.State, "", nil, fleet.DMWork{Enqueue: []fleet.DMCommand{c}})
	return err
}

// succeed moves a job the device has updated to its end: through
// updating, then verifying with a read of ./DevDetail/FwV when the job's
// verification policy says so (never for a download only), else straight
// to succeeded. w goes with the first step (the job's other commands
// withdrawn). result is the device's FUMO result when it reported one.
func (d *Driver) succeed(ctx context.Context, j fleet.Job, note string, result ResultCode, w fleet.DMWork) error {
	record := func(j *fleet.Job) error {
		if result != 0 {
			j.Native = append(j.Native, fleet.NativeCode{Protocol: fleet.ProtocolDM, Code: int(result)})
		}
		return nil
	}
	var err error
	switch j.State {
	case fleet.JobWaitingDevice, fleet.JobDelivering, fleet.JobDelivered:
		if j, err = d.step(ctx, j, fleet.JobUpdating, note, result, nil, w); err != nil {
			return err
		}
		w = fleet.DMWork{}
	case fleet.JobUpdating:
	default:
		return nil // already past this point
	}
	pkg, err := d.cfg.Jobs.Package(ctx, j.PackageID)
	if err != nil {
		return err
	}
	if !fleet.VerifyVersion(&j, &pkg, d.cfg.Verify) || j.Operation == fleet.OpDownload {
		_, err = d.step(ctx, j, fleet.JobSucceeded, note, result, record, w)
		return err
	}
	next := j
	c, err := dm.QueueRecord(commandID(next, kindVerify), j.DeviceID, GetFirmwareVersion(), "", false)
	if err != nil {
		return err
	}
	w.Enqueue = append(w.Enqueue, c)
	_, err = d.step(ctx, j, fleet.JobVerifying, note+"; reading its firmware version", result, record, w)
	return err
}

// readState queues a read of the device's <x>/State (one more state read
// of the job) to learn what became of its Exec; a read already queued and
// not answered is not doubled. wake sends a Package 0 (the device is not
// in a session).
func (d *Driver) readState(ctx context.Context, j fleet.Job, why string, wake bool) error {
	root, err := d.deviceRoot(ctx, j.DeviceID)
	if err != nil {
		return err
	}
	if root == "" {
		return d.fail(ctx, j, fleet.ReasonUnsupported, 0, "no FUMO root to read the state of: "+why)
	}
	pending, err := d.cfg.Jobs.DMCommands(ctx, j.DeviceID)
	if err != nil {
		return err
	}
	for _, c := range pending {
		if job, kind, _, ok := parseCommandID(c.ID); ok && job == j.ID && strings.HasPrefix(kind, kindCheck) {
			// A read is on its way: wait for it a while longer.
			_, err := d.step(ctx, j, j.State, "", 0, d.reportDue, fleet.DMWork{})
			return err
		}
	}
	next := j
	next.StateReads++
	c, err := dm.QueueRecord(commandID(next, fmt.Sprintf("%s%d", kindCheck, next.StateReads)), j.DeviceID, GetState(root), "", false)
	if err != nil {
		return err
	}
	d.log.Info("fumo: reading the device's FUMO state", "job", j.ID, "device", j.DeviceID, "why", why)
	j, err = d.step(ctx, j, j.State, "", 0, func(j *fleet.Job) error {
		j.StateReads++
		j.StepDeadline = d.cfg.Now().Add(d.cfg.ReportTimeout)
		return nil
	}, fleet.DMWork{Enqueue: []fleet.DMCommand{c}})
	if err == nil && wake {
		d.wake(ctx, j)
	}
	return err
}

// Watch reads the state of DM jobs whose result alert is overdue: the
// device accepted the Exec more than ReportTimeout ago and reported
// nothing. Whoever runs jobs calls it now and then (the bridge, each
// tick).
func (d *Driver) Watch(ctx context.Context, now time.Time) {
	jobs, err := d.cfg.Jobs.JobsInState(ctx, fleet.JobUpdating)
	if err != nil {
		return
	}
	for _, j := range jobs {
		due := j.StepDeadline
		if due.IsZero() {
			due = j.Updated.Add(d.cfg.ReportTimeout) // accepted before deadlines were kept
		}
		if now.Before(due) {
			continue
		}
		dev, err := d.cfg.Jobs.Device(ctx, j.DeviceID)
		if err != nil || dev.Protocol != fleet.ProtocolDM {
			continue
		}
		if err := d.readState(ctx, j, "the result alert is overdue", true); err != nil && !errors.Is(err, fleet.ErrStale) {
			d.log.Warn("fumo: overdue result alert", "job", j.ID, "err", err)
		}
	}
}
