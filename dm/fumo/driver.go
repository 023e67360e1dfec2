package fumo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// JobStore is what the driver keeps its state in; store.Store implements
// it. Errors wrap fleet.ErrNotFound and fleet.ErrStale.
type JobStore interface {
	Job(ctx context.Context, id string) (fleet.Job, error)
	JobsOfDevice(ctx context.Context, deviceID string) ([]fleet.Job, error)
	JobsInState(ctx context.Context, state fleet.JobState) ([]fleet.Job, error)
	CreateJob(ctx context.Context, j fleet.Job) (fleet.Job, error)
	// StepJob commits a transition (or, with from == to, a change in
	// place) with the job's DM queue work in one transaction.
	StepJob(ctx context.Context, id string, from, to fleet.JobState, note string, mutate func(*fleet.Job) error, w fleet.DMWork) (fleet.Job, error)
	Package(ctx context.Context, id string) (fleet.Package, error)
	Device(ctx context.Context, id string) (fleet.Device, error)
	UpdateDevice(ctx context.Context, id string, fn func(*fleet.Device) error) (fleet.Device, error)
	ModelSettings(ctx context.Context, model string) (fleet.ModelSettings, error)
	// DMCommands lists a device's unfinished commands, AllDMCommands
	// every one, in queue order.
	DMCommands(ctx context.Context, deviceID string) ([]fleet.DMCommand, error)
	AllDMCommands(ctx context.Context, deviceID string) ([]fleet.DMCommand, error)
}

// Queue is the DM server side the driver uses; *dm.Server implements it.
type Queue interface {
	Trigger(ctx context.Context, deviceID string, o dm.TriggerOptions) (string, error)
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
	// (download.Server.URL with the gateway's public base); nil: DM
	// devices are only pushed to.
	PackageURL func(jobID, pkgID string) string
	// Trigger sends a Package 0 once a job's commands are queued.
	Trigger bool
	// Verify is the default of the version check after a successful
	// update (./DevDetail/FwV against the package version); packages and
	// jobs may switch it (fleet.VerifyVersion).
	Verify   bool
	Listener Listener
	Logger   *slog.Logger
	// Retry, when set, is asked before a job fails for a reason another
	// attempt may cure (network, timeout): ok sends the job back to
	// queued, to be started again from notBefore by whoever runs jobs.
	Retry func(j fleet.Job, reason fleet.Reason) (notBefore time.Time, ok bool)
	// ReportTimeout is how long after the device accepted an Exec (202)
	// its Generic Alert 1226 may take before the driver reads <x>/State
	// in the device's next session (default DefaultReportTimeout).
	ReportTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultReportTimeout is DriverConfig.ReportTimeout's default.
const DefaultReportTimeout = 30 * time.Minute

// Driver runs FUMO jobs of DM devices on top of the DM command queue.
// Every step is a job transition committed together with the commands it
// queues or withdraws (fleet.DMWork), under ids derived from the job id,
// so that a cancel cannot slip between a step and its commands and a
// driver resuming after a restart repeats nothing the device could see.
//
// A job's commands, by kind:
//
//	discover, probeN   find the FUMO root (Get ./?list=Struct, ?prop=Type)
//	deliver            Replace PkgURL, or PkgData pushed as a large object
//	exec               Exec with the job id as Correlator (sent at most once)
//	checkN, versionN   read <x>/State, then ./DevDetail/FwV, to learn what
//	                   became of an Exec never answered or whose result
//	                   alert is overdue (N counts the job's state reads)
//	reexec             the Exec again, once, when the device is idle and
//	                   was never seen to take the first one
//	verify             read ./DevDetail/FwV after a reported success
type Driver struct {
	cfg DriverConfig
	log *slog.Logger
}

// Command kinds of a job (see Driver).
const (
	kindDeliver  = "deliver"
	kindExec     = "exec"
	kindVerify   = "verify"
	kindDiscover = "discover"
	kindProbe    = "probe"
	kindCheck    = "check"
	kindVersion  = "version"
	kindReexec   = "reexec"
)

var commandKinds = []string{kindDeliver, kindExec, kindVerify, kindDiscover, kindProbe, kindCheck, kindVersion, kindReexec}

// commandID names a job's command of one kind in one attempt:
// "<job>.<kind>" for the first, "<job>.<kind>.<n>" for attempt n > 1, so
// that a retried job queues fresh commands and a late answer to an older
// attempt is told apart. A kind may carry a number ("probe2", "check3").
func commandID(j fleet.Job, kind string) string {
	if j.Attempts <= 1 {
		return j.ID + "." + kind
	}
	return j.ID + "." + kind + "." + strconv.Itoa(j.Attempts)
}

// parseCommandID splits a command id made by commandID; kind keeps its
// number.
func parseCommandID(id string) (job, kind string, attempt int, ok bool) {
	attempt = 1
	rest := id
	if i := strings.LastIndexByte(rest, '.'); i > 0 {
		if n, err := strconv.Atoi(rest[i+1:]); err == nil && n > 1 && strconv.Itoa(n) == rest[i+1:] {
			rest, attempt = rest[:i], n
		}
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", "", 0, false
	}
	base, _ := splitKind(rest[i+1:])
	for _, k := range commandKinds {
		if k == base {
			return rest[:i], rest[i+1:], attempt, true
		}
	}
	return "", "", 0, false
}

// splitKind splits "probe12" into "probe" and 12 (0 when no number).
func splitKind(kind string) (string, int) {
	i := len(kind)
	for i > 0 && kind[i-1] >= '0' && kind[i-1] <= '9' {
		i--
	}
	n, _ := strconv.Atoi(kind[i:])
	return kind[:i], n
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
	if cfg.ReportTimeout <= 0 {
		cfg.ReportTimeout = DefaultReportTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
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

// step commits a job's move (to == j.State: a change in place) with its
// queue work, and reports a move. A job already moved by someone else
// gives ErrStale, which a driver that repeats itself ignores.
func (d *Driver) step(ctx context.Context, j fleet.Job, to fleet.JobState, note string, result ResultCode, mutate func(*fleet.Job) error, w fleet.DMWork) (fleet.Job, error) {
	nj, err := d.cfg.Jobs.StepJob(ctx, j.ID, j.State, to, note, mutate, w)
	if err != nil {
		return j, err
	}
	if to != j.State {
		d.emit(ctx, Event{JobID: nj.ID, DeviceID: nj.DeviceID, State: nj.State, Result: result, Reason: nj.Reason, Note: note})
	}
	return nj, nil
}

// withdrawAll is the queue work that takes back every unfinished command
// of the job (a device has one unfinished job, so the prefix names only
// its commands).
func withdrawAll(j fleet.Job, why string) fleet.DMWork {
	return fleet.DMWork{WithdrawPrefix: j.ID + ".", Why: why, Force: true}
}

// fail ends a job with a reason and the native code, or sends it back to
// queued when the Retry policy wants another attempt; the job's commands
// still queued go with it.
func (d *Driver) fail(ctx context.Context, j fleet.Job, reason fleet.Reason, code int, note string) error {
	record := func(j *fleet.Job) error {
		if code != 0 {
			j.Native = append(j.Native, fleet.NativeCode{Protocol: fleet.ProtocolDM, Code: code})
		}
		return nil
	}
	w := withdrawAll(j, note)
	if d.cfg.Retry != nil && fleet.CanTransition(j.State, fleet.JobQueued) {
		if at, ok := d.cfg.Retry(j, reason); ok {
			_, err := d.step(ctx, j, fleet.JobQueued, fmt.Sprintf("retry (%s): %s", reason, note), ResultCode(code), func(j *fleet.Job) error {
				j.StepDeadline = at
				return record(j)
			}, w)
			return err
		}
	}
	_, err := d.step(ctx, j, fleet.JobFailed, note, ResultCode(code), func(j *fleet.Job) error {
		j.Reason = reason
		return record(j)
	}, w)
	return err
}

// Start runs a queued job: it commits waiting_device together with the
// job's first commands (the FUMO commands: Replace PkgURL or PkgData, Exec
// with the job id as Correlator; or, when the device's FUMO root is not
// known, the discovery read) and, when configured, wakes the device with
// a Package 0.
func (d *Driver) Start(ctx context.Context, jobID string) error {
	j, err := d.cfg.Jobs.Job(ctx, jobID)
	if err != nil {
		return err
	}
	if j.State != fleet.JobQueued {
		return fmt.Errorf("fumo: job %s is %s, not queued: %w", j.ID, j.State, fleet.ErrStale)
	}
	next := j
	next.Attempts++ // command ids carry the new attempt
	cmds, note, err := d.plan(ctx, next)
	if err != nil {
		return err
	}
	j, err = d.step(ctx, j, fleet.JobWaitingDevice, note, 0, func(j *fleet.Job) error {
		j.Attempts++
		j.StepDeadline = time.Time{}
		return nil
	}, fleet.DMWork{Enqueue: cmds})
	if err != nil {
		return err
	}
	d.wake(ctx, j)
	return nil
}

// rootOf is the device's FUMO root: its own, else its model's; "" when
// neither is known (the root is discovered).
func (d *Driver) rootOf(ctx context.Context, dev fleet.Device) (Root, error) {
	if dev.DM != nil && dev.DM.FUMORoot != "" {
		return Root(dev.DM.FUMORoot), nil
	}
	if dev.Model != "" {
		m, err := d.cfg.Jobs.ModelSettings(ctx, dev.Model)
		switch {
		case err == nil && m.FUMORoot != "":
			return Root(m.FUMORoot), nil
		case err != nil && !errors.Is(err, fleet.ErrNotFound):
			return "", err
		}
	}
	return "", nil
}

// deviceRoot is rootOf the stored device.
func (d *Driver) deviceRoot(ctx context.Context, deviceID string) (Root, error) {
	dev, err := d.cfg.Jobs.Device(ctx, deviceID)
	if err != nil {
		return "", err
	}
	return d.rootOf(ctx, dev)
}

// plan returns a job's first commands, and a note saying what they are:
// the FUMO commands under the device's root, or the discovery read when
// the root is not known.
func (d *Driver) plan(ctx context.Context, j fleet.Job) ([]fleet.DMCommand, string, error) {
	dev, err := d.cfg.Jobs.Device(ctx, j.DeviceID)
	if err != nil {
		return nil, "", err
	}
	if dev.Protocol != fleet.ProtocolDM || dev.DM == nil {
		return nil, "", fmt.Errorf("fumo: device %s is not a DM device: %w", dev.ID, ErrJob)
	}
	if _, err := d.cfg.Jobs.Package(ctx, j.PackageID); err != nil {
		return nil, "", fmt.Errorf("fumo: job %s: %w", j.ID, err)
	}
	root, err := d.rootOf(ctx, dev)
	if err != nil {
		return nil, "", err
	}
	if root == "" {
		c, err := dm.QueueRecord(commandID(j, kindDiscover), j.DeviceID, GetStruct(DiscoveryBase), "", false)
		if err != nil {
			return nil, "", err
		}
		return []fleet.DMCommand{c}, "FUMO root unknown: reading the device's tree (Get ./?list=Struct)", nil
	}
	cmds, err := d.fumoCommands(ctx, j, root)
	return cmds, "FUMO commands queued", err
}

// fumoCommands are the commands that deliver the package and run the job's
// operation under root.
func (d *Driver) fumoCommands(ctx context.Context, j fleet.Job, root Root) ([]fleet.DMCommand, error) {
	if err := root.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJob, err)
	}
	pkg, err := d.cfg.Jobs.Package(ctx, j.PackageID)
	if err != nil {
		return nil, fmt.Errorf("fumo: job %s: %w", j.ID, err)
	}
	op := operationOf(j.Operation)
	var cmds []fleet.DMCommand
	switch {
	case j.Operation == fleet.OpUpdate:
		// The package is already on the device.
	case j.Delivery == fleet.DeliveryPush:
		c := ReplacePkgData(root, nil)
		c.Items[0].Data = nil // the queue streams the stored package
		rec, err := dm.QueueRecord(commandID(j, kindDeliver), j.DeviceID, c, pkg.ID, false)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, rec)
		op = OpUpdate // pushed data is installed by Exec Update
	default:
		if d.cfg.PackageURL == nil {
			return nil, fmt.Errorf("fumo: job %s: no package URL for pull delivery: %w", j.ID, ErrJob)
		}
		c, err := ReplacePkgURL(root, op, d.cfg.PackageURL(j.ID, pkg.ID))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrJob, err)
		}
		rec, err := dm.QueueRecord(commandID(j, kindDeliver), j.DeviceID, c, "", false)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, rec)
	}
	if !(j.Delivery == fleet.DeliveryPush && j.Operation == fleet.OpDownload) {
		rec, err := dm.QueueRecord(commandID(j, kindExec), j.DeviceID, Exec(root, op, j.ID), "", true)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, rec)
	}
	return cmds, nil
}

// execOp is the FUMO operation the job's Exec runs.
func execOp(j fleet.Job) Operation {
	if j.Delivery == fleet.DeliveryPush {
		return OpUpdate
	}
	return operationOf(j.Operation)
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

// Stop ends or rewinds a job the gateway gives up on: the job's commands
// the device has not been sent are withdrawn in the same transaction as
// the job's move to `to` (cancelled, failed with reason, or queued for
// another attempt from notBefore). When a command was already sent the
// device may act on it: without force Stop refuses with fleet.ErrStale and
// changes nothing; with force (a timeout) the job moves anyway and a late
// answer finds it finished. A job whose Exec the device accepted is never
// sent back to queued (another attempt could download the package again
// because a result alert was lost): it fails instead.
func (d *Driver) Stop(ctx context.Context, jobID string, to fleet.JobState, reason fleet.Reason, note string, force bool, notBefore time.Time) error {
	j, err := d.cfg.Jobs.Job(ctx, jobID)
	if err != nil {
		return err
	}
	if to == fleet.JobQueued && j.State == fleet.JobUpdating {
		to, note = fleet.JobFailed, note+" (not retried: the device accepted the Exec)"
	}
	if j.State.Terminal() || !fleet.CanTransition(j.State, to) {
		return fmt.Errorf("fumo: job %s is %s, cannot go to %s: %w", j.ID, j.State, to, fleet.ErrStale)
	}
	// Reads (discovery, state reads, the version check) may go even when
	// sent; the package delivery and the Exec, once sent, only with force.
	w := fleet.DMWork{WithdrawPrefix: j.ID + ".", Why: note, Force: true}
	if !force {
		w.Guard = []string{commandID(j, kindDeliver), commandID(j, kindExec), commandID(j, kindReexec)}
	}
	_, err = d.step(ctx, j, to, note, 0, func(j *fleet.Job) error {
		if to == fleet.JobQueued {
			j.StepDeadline = notBefore
		} else {
			j.Reason = reason
		}
		return nil
	}, w)
	if err != nil {
		return fmt.Errorf("fumo: stop job %s: %w", j.ID, err)
	}
	return nil
}

// Resume picks up every unfinished DM job after a restart: results stored
// while the driver was down (or before it acted on them) are applied again
// in the order they were queued (every handler is idempotent), and devices
// with work waiting are woken.
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
			if err := d.resume(ctx, j); err != nil && !errors.Is(err, fleet.ErrStale) {
				return err
			}
		}
	}
	return nil
}

func (d *Driver) resume(ctx context.Context, j fleet.Job) error {
	cmds, err := d.cfg.Jobs.AllDMCommands(ctx, j.DeviceID)
	if err != nil {
		return err
	}
	waiting, seen := false, false
	for _, c := range cmds {
		job, _, attempt, ok := parseCommandID(c.ID)
		if !ok || job != j.ID || attempt != max(j.Attempts, 1) {
			continue
		}
		seen = true
		if !c.State.Terminal() {
			waiting = true
			continue
		}
		r, err := dm.ResultOf(c)
		if err != nil {
			d.log.Error("fumo: resume", "job", j.ID, "command", c.ID, "err", err)
			continue
		}
		d.CommandFinished(ctx, r)
	}
	if !seen && j.State == fleet.JobWaitingDevice {
		// Started by an earlier version that queued after the move, and
		// stopped in between: its first commands are queued now.
		first, _, err := d.plan(ctx, j)
		if err != nil {
			return d.fail(ctx, j, fleet.ReasonUnknown, 0, err.Error())
		}
		if _, err := d.cfg.Jobs.StepJob(ctx, j.ID, j.State, j.State, "", nil, fleet.DMWork{Enqueue: first}); err != nil {
			return err
		}
		waiting = true
	}
	if j.State == fleet.JobVerifying {
		// The firmware version read may have gone out in a session the
		// restart broke: it is queued again if it is not there.
		if cur, err := d.cfg.Jobs.Job(ctx, j.ID); err == nil && cur.State == fleet.JobVerifying {
			if err := d.queueVerify(ctx, cur); err != nil {
				return err
			}
			waiting = true
		}
	}
	if waiting || j.State == fleet.JobDelivering {
		d.wake(ctx, j)
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
