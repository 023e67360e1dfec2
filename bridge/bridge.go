package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/store"
)

// Errors callers branch on (the API maps them to status codes).
var (
	// ErrNotFound: an unknown device, package, job or campaign.
	ErrNotFound = fleet.ErrNotFound
	// ErrInvalid: a request that fails validation.
	ErrInvalid = fleet.ErrInvalid
	// ErrBusy: the device already has an unfinished job.
	ErrBusy = errors.New("bridge: the device has an unfinished job")
	// ErrNoDevices: a campaign whose list or selector names no device.
	ErrNoDevices = errors.New("bridge: the campaign has no devices")
	// ErrState: the job or campaign is not in a state that allows this.
	ErrState = fleet.ErrStale
)

// RetryPolicy decides whether a failed step gets another attempt, and
// when: network failures and timeouts are retried until a job has made
// MaxAttempts attempts, each after twice the previous back-off.
type RetryPolicy struct {
	MaxAttempts int           // attempts in all (default 3)
	Backoff     time.Duration // before the second attempt (default 30 s)
	MaxBackoff  time.Duration // cap (default 30 min)
	Now         func() time.Time
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 3
	}
	if p.Backoff <= 0 {
		p.Backoff = 30 * time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Minute
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// Delay is the back-off after a job's attempt number n (1-based).
func (p RetryPolicy) Delay(n int) time.Duration {
	p = p.withDefaults()
	d := p.Backoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// Retry tells whether a job that failed for reason gets another attempt,
// and from when (the shape the drivers' Retry hooks take): network
// failures, timeouts and deliveries that made no progress are retried.
func (p RetryPolicy) Retry(j fleet.Job, reason fleet.Reason) (time.Time, bool) {
	p = p.withDefaults()
	if reason != fleet.ReasonNetwork && reason != fleet.ReasonTimeout && reason != fleet.ReasonNoProgress || j.Attempts >= p.MaxAttempts {
		return time.Time{}, false
	}
	return p.Now().Add(p.Delay(max(j.Attempts, 1))), true
}

// DefaultStepTimeouts bound how long a job may stay in each state: a DM
// device may take days to call in, a download minutes.
var DefaultStepTimeouts = map[fleet.JobState]time.Duration{
	fleet.JobWaitingDevice: 7 * 24 * time.Hour,
	fleet.JobDelivering:    2 * time.Hour,
	fleet.JobDelivered:     24 * time.Hour,
	fleet.JobUpdating:      2 * time.Hour,
	fleet.JobVerifying:     24 * time.Hour,
}

// Config sets up a Bridge.
type Config struct {
	Store   *store.Store
	Targets []Target
	Retry   RetryPolicy
	// StepTimeouts override DefaultStepTimeouts per state (0 keeps the
	// default, a negative value means no limit).
	StepTimeouts map[fleet.JobState]time.Duration
	// Tick is how often timeouts, retries and campaigns are looked at
	// (default 1 s); job and campaign events also wake the runner.
	Tick time.Duration
	// MaxStarting bounds the jobs being started or stopped at once
	// (default 64).
	MaxStarting int
	Logger      *slog.Logger
}

// Bridge runs jobs and campaigns over its targets.
type Bridge struct {
	cfg      Config
	st       *store.Store
	targets  map[fleet.Protocol]Target
	timeouts map[fleet.JobState]time.Duration
	log      *slog.Logger
	hub      hub

	createMu sync.Mutex // busy check and job creation, together

	mu        sync.Mutex
	busy      map[string]bool      // job id -> being started or stopped
	lastStart map[string]time.Time // campaign id -> when its last job was created
	sem       chan struct{}
	wake      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	started   bool
}

// New checks cfg and takes the targets' reports.
func New(cfg Config) (*Bridge, error) {
	if cfg.Store == nil || len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("%w: the bridge needs a store and at least one target", ErrInvalid)
	}
	cfg.Retry = cfg.Retry.withDefaults()
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.MaxStarting <= 0 {
		cfg.MaxStarting = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bridge{cfg: cfg, st: cfg.Store, targets: map[fleet.Protocol]Target{}, timeouts: map[fleet.JobState]time.Duration{},
		log: cfg.Logger.With("component", "bridge"), busy: map[string]bool{}, lastStart: map[string]time.Time{},
		sem: make(chan struct{}, cfg.MaxStarting), wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	for s, d := range DefaultStepTimeouts {
		b.timeouts[s] = d
	}
	for s, d := range cfg.StepTimeouts {
		switch {
		case d < 0:
			delete(b.timeouts, s)
		case d > 0:
			b.timeouts[s] = d
		}
	}
	for _, t := range cfg.Targets {
		if _, dup := b.targets[t.Protocol()]; dup {
			return nil, fmt.Errorf("%w: two targets for %s", ErrInvalid, t.Protocol())
		}
		b.targets[t.Protocol()] = t
		t.OnReport(b.onReport)
	}
	return b, nil
}

// Start resumes every unfinished job (targets first, then queued jobs and
// running campaigns) and starts the runner.
func (b *Bridge) Start(ctx context.Context) error {
	for _, t := range b.cfg.Targets {
		if err := t.Resume(ctx); err != nil {
			return fmt.Errorf("bridge: resume %s jobs: %w", t.Protocol(), err)
		}
	}
	b.mu.Lock()
	b.started = true
	b.mu.Unlock()
	b.wg.Add(1)
	go b.loop()
	return nil
}

// Close stops the runner and waits for the starts and stops under way.
// Jobs keep their state and resume at the next Start.
func (b *Bridge) Close() {
	b.cancel()
	b.wg.Wait()
}

// Target returns the target for a protocol.
func (b *Bridge) Target(p fleet.Protocol) (Target, bool) {
	t, ok := b.targets[p]
	return t, ok
}

func (b *Bridge) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Bridge) loop() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.Tick)
	defer t.Stop()
	for {
		b.tick(b.ctx)
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		case <-b.wake:
		}
	}
}

func (b *Bridge) tick(ctx context.Context) {
	now := b.cfg.Retry.Now()
	running, err := b.runningCampaigns(ctx)
	if err != nil {
		b.log.Error("bridge: campaigns", "err", err)
		return
	}
	b.startQueued(ctx, now, running)
	b.watch(ctx, now)
	for _, t := range b.cfg.Targets {
		if w, ok := t.(Watcher); ok {
			w.Watch(ctx, now)
		}
	}
	for _, c := range running {
		if err := b.schedule(ctx, c, now); err != nil && ctx.Err() == nil {
			b.log.Error("bridge: campaign", "campaign", c.ID, "err", err)
		}
	}
}

// async runs fn for a job unless the job is already being worked on, with
// at most MaxStarting at once.
func (b *Bridge) async(jobID string, fn func(context.Context)) {
	b.mu.Lock()
	if b.busy[jobID] {
		b.mu.Unlock()
		return
	}
	b.busy[jobID] = true
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() {
			b.mu.Lock()
			delete(b.busy, jobID)
			b.mu.Unlock()
		}()
		select {
		case b.sem <- struct{}{}:
		case <-b.ctx.Done():
			return
		}
		defer func() { <-b.sem }()
		fn(b.ctx)
	}()
}

// startQueued starts queued jobs whose back-off is over, unless their
// campaign is not running.
func (b *Bridge) startQueued(ctx context.Context, now time.Time, running map[string]fleet.Campaign) {
	jobs, err := b.st.JobsInState(ctx, fleet.JobQueued)
	if err != nil {
		return
	}
	for _, j := range jobs {
		if j.CampaignID != "" {
			if _, ok := running[j.CampaignID]; !ok {
				continue
			}
		}
		if !j.Deadline.IsZero() && now.After(j.Deadline) {
			b.async(j.ID, func(ctx context.Context) {
				b.giveUp(ctx, j, fleet.JobFailed, fleet.ReasonTimeout, "job deadline passed before it started", time.Time{})
			})
			continue
		}
		if j.StepDeadline.After(now) {
			continue
		}
		b.run(j)
	}
}

// run starts a queued job on its device's target.
func (b *Bridge) run(j fleet.Job) {
	b.async(j.ID, func(ctx context.Context) {
		// Only a job still queued is started: the list it came from may
		// be older than a start that just ended.
		if cur, err := b.st.Job(ctx, j.ID); err != nil || cur.State != fleet.JobQueued {
			return
		}
		t, err := b.targetOf(ctx, j.DeviceID)
		if err == nil {
			err = t.Run(ctx, j.ID)
		}
		if err == nil || errors.Is(err, fleet.ErrStale) || ctx.Err() != nil {
			return
		}
		// The job cannot run at all (its device or package went away, a
		// bad FUMO root): it fails rather than being retried every tick.
		cur, gerr := b.st.Job(ctx, j.ID)
		if gerr != nil || cur.State != fleet.JobQueued {
			b.log.Warn("bridge: start", "job", j.ID, "err", err)
			return
		}
		b.giveUp(ctx, cur, fleet.JobFailed, fleet.ReasonUnknown, "cannot start: "+err.Error(), time.Time{})
	})
}

func (b *Bridge) targetOf(ctx context.Context, deviceID string) (Target, error) {
	dev, err := b.st.Device(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	t, ok := b.targets[dev.Protocol]
	if !ok {
		return nil, fmt.Errorf("%w: the gateway runs no %s server", ErrCannotDeliver, dev.Protocol)
	}
	return t, nil
}

// watch enforces step timeouts and job deadlines: a step that timed out
// is tried again (back to queued) while the retry policy allows it, and
// fails with reason timeout after that.
func (b *Bridge) watch(ctx context.Context, now time.Time) {
	for _, st := range fleet.JobStates {
		if st.Terminal() || st == fleet.JobQueued {
			continue
		}
		limit := b.timeouts[st]
		jobs, err := b.st.JobsInState(ctx, st)
		if err != nil {
			return
		}
		for _, j := range jobs {
			deadline := !j.Deadline.IsZero() && now.After(j.Deadline)
			step := limit > 0 && now.After(j.Updated.Add(limit))
			if !deadline && !step {
				continue
			}
			b.async(j.ID, func(ctx context.Context) {
				if deadline {
					b.giveUp(ctx, j, fleet.JobFailed, fleet.ReasonTimeout, "job deadline passed", time.Time{})
					return
				}
				note := fmt.Sprintf("no progress in %s for %s", j.State, limit)
				if at, ok := b.cfg.Retry.Retry(j, fleet.ReasonTimeout); ok && fleet.CanTransition(j.State, fleet.JobQueued) {
					b.giveUp(ctx, j, fleet.JobQueued, fleet.ReasonTimeout, "retry: "+note, at)
					return
				}
				b.giveUp(ctx, j, fleet.JobFailed, fleet.ReasonTimeout, note, time.Time{})
			})
		}
	}
}

// giveUp moves a job the gateway stops waiting for through its target
// (which withdraws or cancels what it can on the device).
func (b *Bridge) giveUp(ctx context.Context, j fleet.Job, to fleet.JobState, reason fleet.Reason, note string, notBefore time.Time) {
	t, err := b.targetOf(ctx, j.DeviceID)
	if err == nil {
		err = t.Stop(ctx, j.ID, to, reason, note, true, notBefore)
	} else if j.State == fleet.JobQueued {
		_, err = b.st.MoveJob(ctx, j.ID, j.State, to, note, func(j *fleet.Job) error { j.Reason = reason; return nil })
	}
	if err != nil && !errors.Is(err, fleet.ErrStale) {
		b.log.Warn("bridge: give up on job", "job", j.ID, "to", to, "err", err)
	}
	b.poke()
}

// onReport turns a target's report into an event, records the new
// firmware version of a device whose job succeeded, and wakes the runner
// when a job ends or goes back to queued.
func (b *Bridge) onReport(ctx context.Context, r Report) {
	// The report's transition is stored: what follows must not depend on
	// the deadline of the driver's step that made it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ev := Event{Kind: EventJob, Report: r}
	if r.JobID == "" {
		ev.Kind = EventDevice
	} else if j, err := b.st.Job(ctx, r.JobID); err == nil {
		ev.CampaignID = j.CampaignID
		if r.Job == fleet.JobSucceeded {
			b.recordVersion(ctx, j)
		}
	} else {
		b.log.Warn("bridge: report of an unreadable job", "job", r.JobID, "err", err)
	}
	b.hub.publish(ev)
	if r.Job.Terminal() || r.Job == fleet.JobQueued {
		b.poke()
	}
}

func (b *Bridge) recordVersion(ctx context.Context, j fleet.Job) {
	if j.Operation == fleet.OpDownload {
		return // the package is on the device, not installed
	}
	pkg, err := b.st.Package(ctx, j.PackageID)
	if err != nil {
		return
	}
	if dev, err := b.st.Device(ctx, j.DeviceID); err != nil || dev.FirmwareVersion == pkg.Version {
		return
	}
	if _, err := b.st.UpdateDevice(ctx, j.DeviceID, func(d *fleet.Device) error { d.FirmwareVersion = pkg.Version; return nil }); err != nil {
		b.log.Warn("bridge: record firmware version", "device", j.DeviceID, "err", err)
	}
}

// JobRequest asks for one job.
type JobRequest struct {
	ID        string          `json:"id,omitempty"` // generated when empty
	DeviceID  string          `json:"device_id"`
	PackageID string          `json:"package_id"`
	Operation fleet.Operation `json:"operation,omitempty"` // default download_and_update
	Delivery  fleet.Delivery  `json:"delivery,omitempty"`  // default pull
	Deadline  time.Time       `json:"deadline,omitzero"`
	// Verify, when set, switches the firmware version check after a
	// successful update on or off for this job (default: the package's
	// setting, else on).
	Verify *bool `json:"verify,omitempty"`
}

// CreateJob checks a job against its device and package, stores it
// queued, and starts it. Nothing is stored when it is refused.
func (b *Bridge) CreateJob(ctx context.Context, r JobRequest) (fleet.Job, error) {
	if r.ID == "" {
		r.ID = newID("job")
	}
	j := fleet.Job{ID: r.ID, DeviceID: r.DeviceID, PackageID: r.PackageID, Operation: r.Operation, Delivery: r.Delivery,
		State: fleet.JobQueued, Deadline: r.Deadline, Verify: r.Verify}
	if j.Operation == "" {
		j.Operation = fleet.OpDownloadAndUpdate
	}
	if j.Delivery == "" {
		j.Delivery = fleet.DeliveryPull
	}
	if !j.Deadline.IsZero() && !j.Deadline.After(b.cfg.Retry.Now()) {
		return j, fmt.Errorf("%w: job %s: deadline %s has passed", ErrInvalid, j.ID, j.Deadline.Format(time.RFC3339))
	}
	return b.createJob(ctx, j)
}

// createJob admits, stores and starts a job.
func (b *Bridge) createJob(ctx context.Context, j fleet.Job) (fleet.Job, error) {
	if err := j.Validate(); err != nil {
		return j, err
	}
	b.createMu.Lock()
	defer b.createMu.Unlock()
	if err := b.admit(ctx, j); err != nil {
		return j, err
	}
	j, err := b.st.CreateJob(ctx, j)
	if err != nil {
		return j, fmt.Errorf("bridge: job %s: %w", j.ID, err)
	}
	b.hub.publish(Event{Kind: EventJob, CampaignID: j.CampaignID, Report: Report{JobID: j.ID, DeviceID: j.DeviceID, Job: j.State, Note: "created"}})
	b.mu.Lock()
	started := b.started
	b.mu.Unlock()
	if started {
		b.run(j)
	}
	return j, nil
}

// admit checks that a job can run: its device and package exist, a
// target speaks the device's protocol and accepts the package, and the
// device has no other unfinished job.
func (b *Bridge) admit(ctx context.Context, j fleet.Job) error {
	dev, err := b.st.Device(ctx, j.DeviceID)
	if err != nil {
		return fmt.Errorf("bridge: job %s: device %s: %w", j.ID, j.DeviceID, err)
	}
	pkg, err := b.st.Package(ctx, j.PackageID)
	if err != nil {
		return fmt.Errorf("bridge: job %s: package %s: %w", j.ID, j.PackageID, err)
	}
	t, ok := b.targets[dev.Protocol]
	if !ok {
		return fmt.Errorf("%w: job %s: the gateway runs no %s server", ErrCannotDeliver, j.ID, dev.Protocol)
	}
	if err := t.Check(ctx, dev, pkg, j.Delivery); err != nil {
		return fmt.Errorf("bridge: job %s: %w", j.ID, err)
	}
	jobs, err := b.st.JobsOfDevice(ctx, dev.ID)
	if err != nil {
		return err
	}
	for _, o := range jobs {
		if !o.State.Terminal() {
			return fmt.Errorf("%w: device %s has job %s (%s)", ErrBusy, dev.ID, o.ID, o.State)
		}
	}
	return nil
}

// CancelJob cancels a job: one not started yet at once, one under way
// through its target (refused with ErrState once the device installs).
func (b *Bridge) CancelJob(ctx context.Context, id string) (fleet.Job, error) {
	j, err := b.st.Job(ctx, id)
	if err != nil {
		return j, err
	}
	if j.State.Terminal() {
		return j, fmt.Errorf("%w: job %s is %s", ErrState, id, j.State)
	}
	t, err := b.targetOf(ctx, j.DeviceID)
	if err != nil {
		return j, err
	}
	if err := t.Stop(ctx, id, fleet.JobCancelled, fleet.ReasonCancelled, "cancelled by the operator", false, time.Time{}); err != nil {
		return j, err
	}
	b.poke()
	return b.st.Job(ctx, id)
}

// StepTimeoutAt is when the job's current step times out (the bridge then
// retries or fails it), zero when its state has no step timeout: the
// time it entered the state plus the state's timeout, or the job's
// deadline when that comes first. A driver may act sooner (a DM result
// alert overdue, an LwM2M delivery without progress: the job's
// StepDeadline).
func (b *Bridge) StepTimeoutAt(j fleet.Job) time.Time {
	var at time.Time
	if limit, ok := b.timeouts[j.State]; ok && limit > 0 && !j.State.Terminal() && j.State != fleet.JobQueued {
		at = j.Updated.Add(limit)
	}
	if !j.Deadline.IsZero() && !j.State.Terminal() && (at.IsZero() || j.Deadline.Before(at)) {
		at = j.Deadline
	}
	return at
}

// DeviceState reads a device's FUMO state through its target.
func (b *Bridge) DeviceState(ctx context.Context, deviceID string) (DeviceState, error) {
	dev, err := b.st.Device(ctx, deviceID)
	if err != nil {
		return DeviceState{}, err
	}
	t, ok := b.targets[dev.Protocol]
	if !ok {
		return DeviceState{}, fmt.Errorf("%w: the gateway runs no %s server", ErrCannotDeliver, dev.Protocol)
	}
	return t.State(ctx, dev)
}

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}
