package fumo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// JobStore is what the driver keeps its state in; store.Store implements
// it. Errors wrap fleet.ErrNotFound and fleet.ErrStale.
type JobStore interface {
	Job(ctx context.Context, id string) (fleet.Job, error)
	JobsOfDevice(ctx context.Context, deviceID string) ([]fleet.Job, error)
	JobsInState(ctx context.Context, state fleet.JobState) ([]fleet.Job, error)
	MoveJob(ctx context.Context, id string, from, to fleet.JobState, note string, mutate func(*fleet.Job) error) (fleet.Job, error)
	Package(ctx context.Context, id string) (fleet.Package, error)
	Device(ctx context.Context, id string) (fleet.Device, error)
}

// Queue is the DM server side the driver uses; *dm.Server implements it.
type Queue interface {
	EnqueueAs(ctx context.Context, id, deviceID string, cmd syncml.Command, blob string) error
	Result(ctx context.Context, id string) (dm.CommandResult, error)
	Trigger(ctx context.Context, deviceID string, o dm.TriggerOptions) (string, error)
	Withdraw(ctx context.Context, why string, force bool, ids ...string) error
}

// Event is what the driver tells its Listener: a job's progress or end,
// or an alert it could not match (JobID empty).
type Event struct {
	JobID    string
	DeviceID string
	State    fleet.JobState
	Result   ResultCode // the device's FUMO result, 0 before it reported
	Reason   fleet.Reason
	Note     string
}

// Listener receives driver events.
type Listener interface {
	JobEvent(ctx context.Context, ev Event)
}

// DriverConfig sets up a Driver.
type DriverConfig struct {
	Jobs  JobStore
	Queue Queue
	// PackageURL is the URL a device downloads a job's package from
	// (download.Server.URL with the gateway's public base).
	PackageURL func(jobID, pkgID string) string
	// Trigger sends a Package 0 once a job's commands are queued.
	Trigger bool
	// Verify reads ./DevDetail/FwV after a successful update and compares
	// it with the package version.
	Verify   bool
	Listener Listener
	Logger   *slog.Logger
	// Retry, when set, is asked before a job fails for a reason another
	// attempt may cure (network, timeout): ok sends the job back to
	// queued, to be started again from notBefore by whoever runs jobs.
	Retry func(j fleet.Job, reason fleet.Reason) (notBefore time.Time, ok bool)
}

// Driver runs FUMO jobs of DM devices on top of the DM command queue.
// Every step is a committed job transition first, then commands queued
// under ids derived from the job id, so that a driver resuming after a
// restart repeats nothing the device could see.
type Driver struct {
	cfg DriverConfig
	log *slog.Logger
}

// Command kinds of a job.
const (
	kindDeliver = "deliver"
	kindExec    = "exec"
	kindVerify  = "verify"
)

var commandKinds = []string{kindDeliver, kindExec, kindVerify}

// commandID names a job's command of one kind in one attempt:
// "<job>.<kind>" for the first, "<job>.<kind>.<n>" for attempt n > 1, so
// that a retried job queues fresh commands and a late answer to an older
// attempt is told apart.
func commandID(j fleet.Job, kind string) string {
	if j.Attempts <= 1 {
		return j.ID + "." + kind
	}
	return j.ID + "." + kind + "." + strconv.Itoa(j.Attempts)
}

// parseCommandID splits a command id made by commandID.
func parseCommandID(id string) (job, kind string, attempt int, ok bool) {
	attempt = 1
	rest := id
	if i := strings.LastIndexByte(rest, '.'); i > 0 {
		if n, err := strconv.Atoi(rest[i+1:]); err == nil && n > 1 && strconv.Itoa(n) == rest[i+1:] {
			rest, attempt = rest[:i], n
		}
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 || !slices.Contains(commandKinds, rest[i+1:]) {
		return "", "", 0, false
	}
	return rest[:i], rest[i+1:], attempt, true
}

// ErrJob: a job the driver cannot run (not a DM device, unknown package,
// bad FUMO root, a pull job without a package URL).
var ErrJob = errors.New("fumo: job cannot run")

// NewDriver checks cfg.
func NewDriver(cfg DriverConfig) (*Driver, error) {
	if cfg.Jobs == nil || cfg.Queue == nil {
		return nil, fmt.Errorf("fumo: driver needs a job store and a DM queue: %w", ErrJob)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{cfg: cfg, log: cfg.Logger.With("component", "fumo")}, nil
}

func operationOf(op fleet.Operation) Operation {
	switch op {
	case fleet.OpDownload:
		return OpDownload
	case fleet.OpUpdate:
		return OpUpdate
	}
	return OpDownloadAndUpdate
}

func (d *Driver) emit(ctx context.Context, ev Event) {
	d.log.Info("fumo: job event", "job", ev.JobID, "device", ev.DeviceID, "state", ev.State, "result", int(ev.Result), "reason", ev.Reason, "note", ev.Note)
	if d.cfg.Listener != nil {
		d.cfg.Listener.JobEvent(ctx, ev)
	}
}

// move commits a transition and reports it; a job already moved by
// someone else (stale) is not an error for a driver that repeats itself.
func (d *Driver) move(ctx context.Context, j fleet.Job, to fleet.JobState, note string, result ResultCode, mutate func(*fleet.Job) error) (fleet.Job, error) {
	nj, err := d.cfg.Jobs.MoveJob(ctx, j.ID, j.State, to, note, mutate)
	if err != nil {
		return j, err
	}
	d.emit(ctx, Event{JobID: nj.ID, DeviceID: nj.DeviceID, State: nj.State, Result: result, Reason: nj.Reason, Note: note})
	return nj, nil
}

// fail ends a job with a reason and the native code, or sends it back to
// queued when the Retry policy wants another attempt.
func (d *Driver) fail(ctx context.Context, j fleet.Job, reason fleet.Reason, code int, note string) error {
	record := func(j *fleet.Job) error {
		if code != 0 {
			j.Native = append(j.Native, fleet.NativeCode{Protocol: fleet.ProtocolDM, Code: code})
		}
		return nil
	}
	if d.cfg.Retry != nil && fleet.CanTransition(j.State, fleet.JobQueued) {
		if at, ok := d.cfg.Retry(j, reason); ok {
			_, err := d.move(ctx, j, fleet.JobQueued, fmt.Sprintf("retry (%s): %s", reason, note), ResultCode(code), func(j *fleet.Job) error {
				j.StepDeadline = at
				return record(j)
			})
			return err
		}
	}
	_, err := d.move(ctx, j, fleet.JobFailed, note, ResultCode(code), func(j *fleet.Job) error {
		j.Reason = reason
		return record(j)
	})
	return err
}

// Start runs a queued job: it commits waiting_device, queues the FUMO
// commands (Replace PkgURL or PkgData, Exec with the job id as
// Correlator) and, when configured, wakes the device with a Package 0.
func (d *Driver) Start(ctx context.Context, jobID string) error {
	j, err := d.cfg.Jobs.Job(ctx, jobID)
	if err != nil {
		return err
	}
	if j.State != fleet.JobQueued {
		return fmt.Errorf("fumo: job %s is %s, not queued: %w", j.ID, j.State, fleet.ErrStale)
	}
	if _, _, err := d.plan(ctx, j); err != nil {
		return err
	}
	j, err = d.move(ctx, j, fleet.JobWaitingDevice, "FUMO commands queued", 0, func(j *fleet.Job) error {
		j.Attempts++
		j.StepDeadline = time.Time{}
		return nil
	})
	if err != nil {
		return err
	}
	cmds, _, err := d.plan(ctx, j) // command ids carry the new attempt
	if err != nil {
		return err
	}
	return d.queueCommands(ctx, j, cmds)
}

type planned struct {
	id   string
	cmd  syncml.Command
	blob string
}

// plan returns the commands of a job and the device's FUMO root.
func (d *Driver) plan(ctx context.Context, j fleet.Job) ([]planned, Root, error) {
	dev, err := d.cfg.Jobs.Device(ctx, j.DeviceID)
	if err != nil {
		return nil, "", err
	}
	if dev.Protocol != fleet.ProtocolDM || dev.DM == nil {
		return nil, "", fmt.Errorf("fumo: device %s is not a DM device: %w", dev.ID, ErrJob)
	}
	root := Root(dev.DM.FUMORoot)
	if root == "" {
		root = DefaultRoot
	}
	if err := root.Validate(); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrJob, err)
	}
	pkg, err := d.cfg.Jobs.Package(ctx, j.PackageID)
	if err != nil {
		return nil, "", fmt.Errorf("fumo: job %s: %w", j.ID, err)
	}
	op := operationOf(j.Operation)
	var cmds []planned
	switch {
	case j.Operation == fleet.OpUpdate:
		// The package is already on the device.
	case j.Delivery == fleet.DeliveryPush:
		c := ReplacePkgData(root, nil)
		c.Items[0].Data = nil // the queue streams the stored package
		cmds = append(cmds, planned{commandID(j, kindDeliver), c, pkg.ID})
		op = OpUpdate // pushed data is installed by Exec Update
	default:
		if d.cfg.PackageURL == nil {
			return nil, "", fmt.Errorf("fumo: job %s: no package URL for pull delivery: %w", j.ID, ErrJob)
		}
		c, err := ReplacePkgURL(root, op, d.cfg.PackageURL(j.ID, pkg.ID))
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrJob, err)
		}
		cmds = append(cmds, planned{commandID(j, kindDeliver), c, ""})
	}
	if !(j.Delivery == fleet.DeliveryPush && j.Operation == fleet.OpDownload) {
		cmds = append(cmds, planned{commandID(j, kindExec), Exec(root, op, j.ID), ""})
	}
	return cmds, root, nil
}

func (d *Driver) queueCommands(ctx context.Context, j fleet.Job, cmds []planned) error {
	for _, c := range cmds {
		if err := d.cfg.Queue.EnqueueAs(ctx, c.id, j.DeviceID, c.cmd, c.blob); err != nil && !errors.Is(err, fleet.ErrExists) {
			return err
		}
	}
	d.wake(ctx, j)
	return nil
}

// wake sends the device a Package 0, when configured, so that it calls in
// for the commands waiting for it.
func (d *Driver) wake(ctx context.Context, j fleet.Job) {
	if !d.cfg.Trigger {
		return
	}
	if _, err := d.cfg.Queue.Trigger(ctx, j.DeviceID, dm.TriggerOptions{UIMode: 1}); err != nil {
		// The device still gets its commands when it calls in.
		d.log.Warn("fumo: package 0 not delivered", "job", j.ID, "device", j.DeviceID, "err", err)
	}
}

// CommandFinished follows the statuses of a job's commands (dm.ResultHandler).
func (d *Driver) CommandFinished(ctx context.Context, r dm.CommandResult) {
	jobID, kind, attempt, ok := parseCommandID(r.ID)
	if !ok {
		return // not a driver command
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
	if r.State == fleet.DMCommandFailed {
		return d.fail(ctx, j, fleet.ReasonUnknown, 0, "command "+kind+": "+r.Error)
	}
	code := 0
	if r.Outcome != nil {
		code = r.Outcome.Code()
	}
	switch kind {
	case kindDeliver:
		if code != 200 && code != 202 {
			return d.fail(ctx, j, reasonOfStatus(code), code, fmt.Sprintf("device answered %d to the package delivery", code))
		}
		if j.State == fleet.JobWaitingDevice {
			j, err := d.move(ctx, j, fleet.JobDelivering, "package delivery accepted", 0, nil)
			if err != nil {
				return err
			}
			if j.Delivery == fleet.DeliveryPush && j.Operation == fleet.OpDownload {
				if j, err = d.move(ctx, j, fleet.JobDelivered, "package pushed", 0, nil); err != nil {
					return err
				}
				if j, err = d.move(ctx, j, fleet.JobVerifying, "package on the device", 0, nil); err != nil {
					return err
				}
				_, err = d.move(ctx, j, fleet.JobSucceeded, "package pushed to the device", 0, nil)
				return err
			}
		}
		return nil
	case kindExec:
		switch {
		case code == 200 || code == 202:
			if j.State == fleet.JobWaitingDevice || j.State == fleet.JobDelivering {
				_, err := d.move(ctx, j, fleet.JobUpdating, fmt.Sprintf("Exec accepted (%d); waiting for the device's report", code), 0, nil)
				return err
			}
			return nil
		default:
			return d.fail(ctx, j, reasonOfStatus(code), code, fmt.Sprintf("device answered %d to Exec", code))
		}
	case kindVerify:
		return d.onVerify(ctx, j, r)
	}
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
	fwv := ""
	if r.Outcome != nil {
		for _, it := range r.Outcome.Results {
			if it.Source != nil && it.Source.LocURI == DevDetailFwV {
				fwv = strings.TrimSpace(string(it.Data))
			}
		}
	}
	if fwv == "" || fwv != pkg.Version {
		return d.fail(ctx, j, fleet.ReasonUpdateFailed, 0, fmt.Sprintf("device reports firmware %q after the update, package is %q", fwv, pkg.Version))
	}
	_, err = d.move(ctx, j, fleet.JobSucceeded, "firmware "+fwv+" verified", ResultSuccessful, nil)
	return err
}

// HandleAlert takes Generic Alerts (dm.AlertHandler): FUMO results are
// matched to their job by Correlator, then by device and operation; the
// status is 200 (202 for device requests the server acts on later), 415
// for a FUMO alert it cannot read, 0 (the server's default) for alerts of
// other management objects.
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
	code := 200
	for _, rep := range reports {
		if rep.Type.IsRequest() {
			d.emit(ctx, Event{DeviceID: ev.DeviceID, Note: "device asks for an update (" + rep.Type.String() + ")"})
			code = 202
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
	return code
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
		root := Root(dev.DM.FUMORoot)
		if root == "" {
			root = DefaultRoot
		}
		if rep.Root != root {
			return fleet.Job{}, false // a report about another FUMO node
		}
	}
	for _, j := range jobs {
		if j.State.Terminal() || j.State == fleet.JobQueued {
			continue
		}
		op := operationOf(j.Operation)
		if j.Delivery == fleet.DeliveryPush {
			op = OpUpdate
		}
		if op.AlertType() == rep.Type {
			return j, true
		}
	}
	return fleet.Job{}, false
}

// onReport applies a FUMO result to its job. The device has run the Exec:
// delivery and Exec commands of the job still queued (their statuses lost
// with a broken session) are withdrawn first, so that no session sends
// them again.
func (d *Driver) onReport(ctx context.Context, j fleet.Job, rep Report) error {
	if err := d.cfg.Queue.Withdraw(ctx, "superseded by the device's result", true, commandID(j, kindDeliver), commandID(j, kindExec)); err != nil {
		return err
	}
	if !rep.Result.Successful() {
		return d.fail(ctx, j, ReasonOf(rep.Result), int(rep.Result), fmt.Sprintf("device reported %d (%s)", int(rep.Result), rep.Result))
	}
	var err error
	if j.State == fleet.JobWaitingDevice || j.State == fleet.JobDelivering {
		// The Exec's status comes after its 1226 in this message.
		if j, err = d.move(ctx, j, fleet.JobUpdating, "device reported before the Exec status", rep.Result, nil); err != nil {
			return err
		}
	}
	if j.State == fleet.JobDelivered {
		if j, err = d.move(ctx, j, fleet.JobUpdating, "", rep.Result, nil); err != nil {
			return err
		}
	}
	if j.State != fleet.JobUpdating {
		return nil // already past this point
	}
	record := func(j *fleet.Job) error {
		j.Native = append(j.Native, fleet.NativeCode{Protocol: fleet.ProtocolDM, Code: int(rep.Result)})
		return nil
	}
	if !d.cfg.Verify || j.Operation == fleet.OpDownload {
		_, err = d.move(ctx, j, fleet.JobSucceeded, fmt.Sprintf("device reported %d", int(rep.Result)), rep.Result, record)
		return err
	}
	if j, err = d.move(ctx, j, fleet.JobVerifying, fmt.Sprintf("device reported %d; reading its firmware version", int(rep.Result)), rep.Result, record); err != nil {
		return err
	}
	return d.queueVerify(ctx, j)
}

func (d *Driver) queueVerify(ctx context.Context, j fleet.Job) error {
	err := d.cfg.Queue.EnqueueAs(ctx, commandID(j, kindVerify), j.DeviceID, GetFirmwareVersion(), "")
	if errors.Is(err, fleet.ErrExists) {
		return nil
	}
	return err
}

// Stop ends or rewinds a job the gateway gives up on: the commands of its
// current attempt the device has not been sent are withdrawn, then the job
// moves to `to` (cancelled, failed with reason, or queued for another
// attempt from notBefore). When a command was already sent the device may
// act on it: without force Stop refuses with fleet.ErrStale and changes
// nothing; with force (a timeout) the job moves anyway and a late answer
// finds it finished.
func (d *Driver) Stop(ctx context.Context, jobID string, to fleet.JobState, reason fleet.Reason, note string, force bool, notBefore time.Time) error {
	j, err := d.cfg.Jobs.Job(ctx, jobID)
	if err != nil {
		return err
	}
	if j.State.Terminal() || !fleet.CanTransition(j.State, to) {
		return fmt.Errorf("fumo: job %s is %s, cannot go to %s: %w", j.ID, j.State, to, fleet.ErrStale)
	}
	ids := make([]string, 0, len(commandKinds))
	for _, k := range commandKinds {
		ids = append(ids, commandID(j, k))
	}
	if j.State != fleet.JobQueued {
		if err := d.cfg.Queue.Withdraw(ctx, note, force, ids...); err != nil {
			return fmt.Errorf("fumo: stop job %s: %w", j.ID, err)
		}
	}
	_, err = d.move(ctx, j, to, note, 0, func(j *fleet.Job) error {
		if to == fleet.JobQueued {
			j.StepDeadline = notBefore
		} else {
			j.Reason = reason
		}
		return nil
	})
	return err
}

// Resume picks up every unfinished DM job after a restart: commands not
// queued yet are queued (ids make this idempotent) and results stored
// while the driver was down are applied.
func (d *Driver) Resume(ctx context.Context) error {
	for _, st := range []fleet.JobState{fleet.JobWaitingDevice, fleet.JobDelivering, fleet.JobDelivered, fleet.JobUpdating, fleet.JobVerifying} {
		jobs, err := d.cfg.Jobs.JobsInState(ctx, st)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			dev, err := d.cfg.Jobs.Device(ctx, j.DeviceID)
			if err != nil || dev.Protocol != fleet.ProtocolDM {
				continue
			}
			switch st {
			case fleet.JobWaitingDevice:
				// Queued before the restart, or not yet: ids make this safe.
				cmds, _, perr := d.plan(ctx, j)
				if perr != nil {
					err = d.fail(ctx, j, fleet.ReasonUnknown, 0, perr.Error())
				} else {
					err = d.queueCommands(ctx, j, cmds)
				}
			case fleet.JobDelivering:
				// The delivery's status came, the Exec's may not have: a
				// session broken by the restart leaves it to the next one.
				d.wake(ctx, j)
			case fleet.JobVerifying:
				// The firmware version read may have gone out in a session
				// the restart broke: the device has to call in again.
				if err = d.queueVerify(ctx, j); err == nil {
					d.wake(ctx, j)
				}
			}
			if err != nil {
				return err
			}
			for _, kind := range commandKinds {
				r, err := d.cfg.Queue.Result(ctx, commandID(j, kind))
				if err != nil || !r.State.Terminal() {
					continue
				}
				d.CommandFinished(ctx, r)
			}
		}
	}
	return nil
}

// ReasonOf classifies a FUMO result code into the pipeline's reasons.
func ReasonOf(r ResultCode) fleet.Reason {
	switch {
	case r.Successful():
		return fleet.ReasonNone
	case r == ResultUserCancelled:
		return fleet.ReasonCancelled
	case r == ResultCorruptedPackage, r == ResultFailedValidation:
		return fleet.ReasonIntegrity
	case r == ResultPackageMismatch, r == ResultPackageNotAcceptable, r == ResultNotImplemented:
		return fleet.ReasonUnsupportedPackage
	case r == ResultDownloadAuthFailure:
		return fleet.ReasonAuth
	case r == ResultDownloadTimeout:
		return fleet.ReasonTimeout
	case r == ResultUpdateFailed:
		return fleet.ReasonUpdateFailed
	case r == ResultBadURL:
		return fleet.ReasonBadURI
	case r == ResultDownloadFailedOutOfMemory, r == ResultUpdateFailedOutOfMemory:
		return fleet.ReasonOutOfStorage
	case r == ResultDownloadServerUnavailable, r == ResultDownloadServerError, r == ResultDownloadFailedNetwork,
		r >= 550 && r <= 599:
		return fleet.ReasonNetwork
	}
	return fleet.ReasonUnknown
}

// reasonOfStatus classifies a DM command status the device refused with.
func reasonOfStatus(code int) fleet.Reason {
	switch code {
	case 401, 403, 407, 425:
		return fleet.ReasonAuth
	case 404, 405, 406:
		return fleet.ReasonUnsupportedPackage
	case 416, 420:
		return fleet.ReasonOutOfStorage
	case 408:
		return fleet.ReasonTimeout
	case 214:
		return fleet.ReasonCancelled
	}
	return fleet.ReasonUnknown
}
