package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/fumo"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// DMQueue is the DM server side DMTarget uses; *dm.Server implements it.
type DMQueue interface {
	fumo.Queue
	Enqueue(ctx context.Context, deviceID string, cmd syncml.Command, blob string) (string, error)
	EnqueueAs(ctx context.Context, id, deviceID string, cmd syncml.Command, blob string) error
	Withdraw(ctx context.Context, why string, force bool, ids ...string) error
}

// DMConfig sets up a DMTarget.
type DMConfig struct {
	Jobs  fumo.JobStore
	Queue DMQueue
	// PackageURL is the HTTP URL a device downloads a job's package from;
	// nil means DM devices can only be pushed to.
	PackageURL func(jobID, pkgID string) string
	// Trigger wakes a device with a Package 0 when it has work.
	Trigger bool
	// Verify reads ./DevDetail/FwV after a successful update, unless the
	// package or job says otherwise.
	Verify bool
	// ReportTimeout is how long a device's result alert may take after
	// it accepted the Exec before its state is read (default
	// fumo.DefaultReportTimeout).
	ReportTimeout time.Duration
	// Retry decides whether a failure gets another attempt (RetryPolicy.Retry).
	Retry  func(j fleet.Job, reason fleet.Reason) (time.Time, bool)
	Logger *slog.Logger
}

// DMTarget runs jobs on DM devices with the FUMO driver. It is also the DM
// server's alert and result handler (HandleAlert, CommandFinished).
type DMTarget struct {
	cfg    DMConfig
	drv    *fumo.Driver
	report func(context.Context, Report)

	mu      sync.Mutex
	waiters map[string]chan dm.CommandResult // command id -> State() waiting for it
}

// NewDMTarget builds the FUMO driver on cfg.
func NewDMTarget(cfg DMConfig) (*DMTarget, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &DMTarget{cfg: cfg, waiters: map[string]chan dm.CommandResult{}}
	drv, err := fumo.NewDriver(fumo.DriverConfig{Jobs: cfg.Jobs, Queue: cfg.Queue, PackageURL: cfg.PackageURL,
		Trigger: cfg.Trigger, Verify: cfg.Verify, Retry: cfg.Retry, ReportTimeout: cfg.ReportTimeout, Listener: t, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	t.drv = drv
	return t, nil
}

// Protocol is DM.
func (t *DMTarget) Protocol() fleet.Protocol { return fleet.ProtocolDM }

// OnReport sets where reports go.
func (t *DMTarget) OnReport(f func(context.Context, Report)) { t.report = f }

// JobEvent turns the driver's events into reports (fumo.Listener).
func (t *DMTarget) JobEvent(ctx context.Context, ev fumo.Event) {
	if t.report == nil {
		return
	}
	r := Report{JobID: ev.JobID, DeviceID: ev.DeviceID, Protocol: fleet.ProtocolDM, Job: ev.State, Reason: ev.Reason,
		FUMOResult: ev.Result, Note: ev.Note}
	if ev.Result != 0 {
		r.Native = &fleet.NativeCode{Protocol: fleet.ProtocolDM, Code: int(ev.Result)}
		if ev.Result.Successful() {
			r.FUMOState = fumo.StateUpdateSuccessfulNoData
		}
	}
	if ev.JobID == "" {
		r.DeviceEvent = "alert"
	}
	t.report(ctx, r)
}

// HandleAlert passes Generic Alerts to the FUMO driver (dm.AlertHandler).
func (t *DMTarget) HandleAlert(ctx context.Context, ev dm.AlertEvent) int {
	return t.drv.HandleAlert(ctx, ev)
}

// CommandFinished passes command results to the FUMO driver and to State
// calls waiting for them (dm.ResultHandler).
func (t *DMTarget) CommandFinished(ctx context.Context, r dm.CommandResult) {
	t.mu.Lock()
	w := t.waiters[r.ID]
	delete(t.waiters, r.ID)
	t.mu.Unlock()
	if w != nil {
		w <- r
		return
	}
	t.drv.CommandFinished(ctx, r)
}

// Check refuses devices that are not DM devices, FUMO roots that are not
// absolute DM URIs, and pull jobs when the gateway serves no package URL.
func (t *DMTarget) Check(_ context.Context, dev fleet.Device, _ fleet.Package, delivery fleet.Delivery) error {
	if dev.Protocol != fleet.ProtocolDM || dev.DM == nil {
		return fmt.Errorf("%w: %s is not a DM device", ErrCannotDeliver, dev.ID)
	}
	if root := fumo.Root(dev.DM.FUMORoot); root != "" {
		if err := root.Validate(); err != nil {
			return fmt.Errorf("%w: device %s: %w", ErrCannotDeliver, dev.ID, err)
		}
	}
	if delivery == fleet.DeliveryPull && t.cfg.PackageURL == nil {
		return fmt.Errorf("%w: device %s: the gateway serves no download URL for DM devices; push instead", ErrCannotDeliver, dev.ID)
	}
	return nil
}

// Run starts a queued job: the FUMO commands are queued for the device's
// next session (woken by a Package 0 when configured).
func (t *DMTarget) Run(ctx context.Context, jobID string) error { return t.drv.Start(ctx, jobID) }

// Stop withdraws the commands the device has not been sent and moves the
// job.
func (t *DMTarget) Stop(ctx context.Context, jobID string, to fleet.JobState, reason fleet.Reason, note string, force bool, notBefore time.Time) error {
	return t.drv.Stop(ctx, jobID, to, reason, note, force, notBefore)
}

// Watch reads the state of devices whose result alert is overdue (the
// bridge calls it every tick).
func (t *DMTarget) Watch(ctx context.Context, now time.Time) { t.drv.Watch(ctx, now) }

// Resume continues unfinished DM jobs.
func (t *DMTarget) Resume(ctx context.Context) error { return t.drv.Resume(ctx) }

// State queues Get <x>/State and waits for the device's answer (its next
// session) until ctx ends; the command is withdrawn if it was not sent by
// then.
func (t *DMTarget) State(ctx context.Context, dev fleet.Device) (DeviceState, error) {
	if dev.DM == nil {
		return DeviceState{}, fmt.Errorf("%w: %s is not a DM device", ErrCannotDeliver, dev.ID)
	}
	root := fumo.Root(dev.DM.FUMORoot)
	if root == "" {
		if m, err := t.cfg.Jobs.ModelSettings(ctx, dev.Model); err == nil && m.FUMORoot != "" {
			root = fumo.Root(m.FUMORoot)
		} else {
			root = fumo.DefaultRoot
		}
	}
	// The waiter is in place before the command can be answered.
	id := fmt.Sprintf("state-%s-%d", dev.ID, time.Now().UnixNano())
	w := make(chan dm.CommandResult, 1)
	t.mu.Lock()
	t.waiters[id] = w
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.waiters, id)
		t.mu.Unlock()
	}()
	if err := t.cfg.Queue.EnqueueAs(ctx, id, dev.ID, fumo.GetState(root), ""); err != nil {
		return DeviceState{}, err
	}
	if t.cfg.Trigger {
		if _, err := t.cfg.Queue.Trigger(ctx, dev.ID, dm.TriggerOptions{UIMode: 1}); err != nil {
			t.cfg.Logger.Warn("bridge: package 0 for a state read", "device", dev.ID, "err", err)
		}
	}
	select {
	case r := <-w:
		return dmState(r, root)
	case <-ctx.Done():
		// Not sent yet: take it back. Sent: its answer finds no waiter.
		_ = t.cfg.Queue.Withdraw(context.WithoutCancel(ctx), "state read abandoned", false, id)
		return DeviceState{}, fmt.Errorf("bridge: state of %s: %w", dev.ID, ctx.Err())
	}
}

func dmState(r dm.CommandResult, root fumo.Root) (DeviceState, error) {
	if r.State != fleet.DMCommandDone || r.Outcome == nil {
		return DeviceState{}, fmt.Errorf("bridge: state of %s: %s %s", r.DeviceID, r.State, r.Error)
	}
	if code := r.Outcome.Code(); code != 200 {
		return DeviceState{}, fmt.Errorf("bridge: state of %s: the device answered %d", r.DeviceID, code)
	}
	for _, it := range r.Outcome.Results {
		if it.Source != nil && it.Source.LocURI == root.State() {
			s, err := fumo.ParseState(string(it.Data))
			return DeviceState{FUMO: s}, err
		}
	}
	return DeviceState{}, fmt.Errorf("bridge: state of %s: no %s in the results", r.DeviceID, root.State())
}
