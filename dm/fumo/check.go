package fumo

import (
	"context"
	"fmt"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// What a read of <x>/State means for a job whose Exec was never answered
// or whose result alert is overdue. The device does not report again on
// its own (a FUMO client keeps its Generic Alert until acknowledged, but
// a lost one is lost), and another download must not start because an
// alert went missing: the state decides.
type stateVerdict int

const (
	verdictWorking   stateVerdict = iota + 1 // still downloading or installing: wait
	verdictSucceeded                         // updated (or, for a download, the package is there)
	verdictFailed                            // the device says it failed
	verdictIdle                              // back to idle: the firmware version tells
)

// judgeState reads a device's FUMO state for a job of operation op:
// 100 and 90 are a success (40 and 50 for a download only), 70 and 80 a
// failed update, 20 a failed download, 10 idle, anything else work in
// progress.
func judgeState(s State, op fleet.Operation) (stateVerdict, fleet.Reason) {
	switch s {
	case StateUpdateSuccessfulNoData, StateUpdateSuccessfulHaveData:
		return verdictSucceeded, fleet.ReasonNone
	case StateUpdateFailedNoData, StateUpdateFailedHaveData:
		return verdictFailed, fleet.ReasonUpdateFailed
	case StateDownloadFailed:
		return verdictFailed, fleet.ReasonNetwork
	case StateIdle:
		return verdictIdle, fleet.ReasonNone
	case StateDownloadComplete, StateReadyToUpdate:
		if op == fleet.OpDownload {
			return verdictSucceeded, fleet.ReasonNone
		}
	}
	return verdictWorking, fleet.ReasonNone
}

// onCheck acts on the answer to the job's state read number n (older
// reads are ignored: a newer one is on its way).
func (d *Driver) onCheck(ctx context.Context, j fleet.Job, n int, r dm.CommandResult, code int) error {
	if n != j.StateReads || (j.State != fleet.JobWaitingDevice && j.State != fleet.JobDelivering && j.State != fleet.JobUpdating) {
		return nil
	}
	root, err := d.deviceRoot(ctx, j.DeviceID)
	if err != nil {
		return err
	}
	switch {
	case r.State == fleet.DMCommandFailed:
		// The read went unanswered too: read again later.
		_, err := d.step(ctx, j, j.State, "", 0, d.reportDue, fleet.DMWork{})
		return err
	case code == 404:
		return d.fail(ctx, j, fleet.ReasonUnsupported, code, fmt.Sprintf("the device has no %s", root.State()))
	case code != 200:
		return d.fail(ctx, j, reasonOfStatus(code), code, fmt.Sprintf("the device answered %d to the read of %s", code, root.State()))
	}
	var st State
	found := false
	if r.Outcome != nil {
		for _, it := range r.Outcome.Results {
			if it.Source != nil && it.Source.LocURI == root.State() {
				st, err = ParseState(strings.TrimSpace(string(it.Data)))
				found = err == nil
			}
		}
	}
	if !found {
		return d.fail(ctx, j, fleet.ReasonUnknown, 0, fmt.Sprintf("unreadable %s in the device's answer", root.State()))
	}
	verdict, reason := judgeState(st, j.Operation)
	note := fmt.Sprintf("device state %d (%s)", int(st), st)
	switch verdict {
	case verdictSucceeded:
		return d.succeed(ctx, j, note+" read: the update is done", 0, withdrawAll(j, "the device's state was read"))
	case verdictFailed:
		return d.fail(ctx, j, reason, 0, note+" read: the device failed")
	case verdictIdle:
		return d.readVersion(ctx, j, n)
	}
	if j.State == fleet.JobUpdating {
		_, err := d.step(ctx, j, j.State, "", 0, d.reportDue, fleet.DMWork{})
		return err
	}
	// The Exec evidently ran: the device is at work on it.
	_, err = d.step(ctx, j, fleet.JobUpdating, note+" read: the device is at work", 0, d.reportDue, fleet.DMWork{})
	return err
}

// readVersion queues a read of ./DevDetail/FwV for an idle device.
func (d *Driver) readVersion(ctx context.Context, j fleet.Job, n int) error {
	c, err := dm.QueueRecord(commandID(j, fmt.Sprintf("%s%d", kindVersion, n)), j.DeviceID, GetFirmwareVersion(), "", false)
	if err != nil {
		return err
	}
	_, err = d.step(ctx, j, j.State, "", 0, nil, fleet.DMWork{Enqueue: []fleet.DMCommand{c}})
	return err
}

// onVersion decides on an idle device from its firmware version: the
// package's version means the update is done (the device has cleaned up
// already); otherwise an Exec the device accepted failed without a
// report, and one it never answered is sent once more (it never reached
// the device), then given up on.
func (d *Driver) onVersion(ctx context.Context, j fleet.Job, n int, r dm.CommandResult, code int) error {
	if n != j.StateReads {
		return nil
	}
	pkg, err := d.cfg.Jobs.Package(ctx, j.PackageID)
	if err != nil {
		return err
	}
	fwv, ok := firmwareVersion(r)
	if r.State == fleet.DMCommandDone && code == 200 && ok && fleet.SameVersion(fwv, pkg.Version) {
		return d.succeed(ctx, j, fmt.Sprintf("device idle with firmware %q, the package's", strings.TrimSpace(fwv)), 0, withdrawAll(j, "the device's state was read"))
	}
	have := fmt.Sprintf("device idle with firmware %q, package is %q", strings.TrimSpace(fwv), pkg.Version)
	switch j.State {
	case fleet.JobUpdating, fleet.JobDelivered:
		return d.fail(ctx, j, fleet.ReasonUpdateFailed, 0, have+", and no result reported")
	case fleet.JobWaitingDevice, fleet.JobDelivering:
	default:
		return nil
	}
	cmds, err := d.cfg.Jobs.AllDMCommands(ctx, j.DeviceID)
	if err != nil {
		return err
	}
	reexec := commandID(j, kindReexec)
	for _, c := range cmds {
		if c.ID == reexec {
			return d.fail(ctx, j, fleet.ReasonNetwork, 0, have+": the device never answered the Exec, sent twice")
		}
	}
	root, err := d.deviceRoot(ctx, j.DeviceID)
	if err != nil {
		return err
	}
	c, err := dm.QueueRecord(reexec, j.DeviceID, Exec(root, execOp(j), j.ID), "", true)
	if err != nil {
		return err
	}
	d.log.Info("fumo: sending the Exec again", "job", j.ID, "device", j.DeviceID, "why", have)
	_, err = d.step(ctx, j, j.State, "", 0, nil, fleet.DMWork{Enqueue: []fleet.DMCommand{c}})
	return err
}
