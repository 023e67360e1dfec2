package firmware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// JobStore is where the driver keeps jobs; store.Store implements it.
// Errors wrap fleet.ErrNotFound and fleet.ErrStale.
type JobStore interface {
	Job(ctx context.Context, id string) (fleet.Job, error)
	JobsOfDevice(ctx context.Context, deviceID string) ([]fleet.Job, error)
	JobsInState(ctx context.Context, state fleet.JobState) ([]fleet.Job, error)
	MoveJob(ctx context.Context, id string, from, to fleet.JobState, note string, mutate func(*fleet.Job) error) (fleet.Job, error)
	Package(ctx context.Context, id string) (fleet.Package, error)
	Device(ctx context.Context, id string) (fleet.Device, error)
	ReadPackageAt(ctx context.Context, id string, p []byte, off int64) (int, error)
}

// Server is the LwM2M server side the driver uses; *lwm2m.Server
// implements it.
type Server interface {
	Read(ctx context.Context, endpoint string, path node.Path, accept codec.Format) (*lwm2m.Content, error)
	Write(ctx context.Context, endpoint string, path node.Path, mode lwm2m.WriteMode, f codec.Format, payload []byte) error
	WriteFrom(ctx context.Context, endpoint string, path node.Path, mode lwm2m.WriteMode, f codec.Format, r io.ReaderAt, size int64, progress func(int64)) error
	Execute(ctx context.Context, endpoint string, path node.Path, args string) error
	Observe(ctx context.Context, endpoint string, path node.Path, accept codec.Format) error
	Registration(endpoint string) (fleet.Registration, bool)
	AddListener(l lwm2m.Listener)
}

// Event is a job's progress or end as the driver reports it.
type Event struct {
	JobID, DeviceID string
	State           fleet.JobState
	Device          State  // the device's last State
	Result          Result // the device's last Update Result
	Reason          fleet.Reason
	Note            string
	Bytes           int64 // push progress
}

// Listener hears driver events.
type Listener func(ctx context.Context, ev Event)

// Config sets up a Driver.
type Config struct {
	Jobs   JobStore
	Server Server
	// PackageURL returns the URI a device fetches a job's package from
	// with a scheme ("coap", "coaps", "http", "https"), false when the
	// gateway does not serve that scheme.
	PackageURL func(scheme, jobID, pkgID string) (string, bool)
	// PollInterval: State and Result are read this often while a job waits
	// on the device, for devices that never notify (default 30 s).
	PollInterval time.Duration
	// MaxAttempts bounds deliveries of a job whose transfer broke (Result
	// 4, connection lost) before it fails (default 3).
	MaxAttempts int
	Listener    Listener
	Logger      *slog.Logger
	// FUMOResult, when set, gives the FUMO result code a DM device would
	// report for an Update Result; a failed job then records it beside
	// the Update Result, so both protocols' codes are kept.
	FUMOResult func(Result) (code int, ok bool)
	// Retry, when set, decides whether a failed attempt (a delivery lost,
	// a transfer broken, no progress) gets another one, and from when
	// (the bridge's RetryPolicy.Retry); without it an attempt is retried
	// at once while the job has made fewer than MaxAttempts.
	Retry func(j fleet.Job, reason fleet.Reason) (notBefore time.Time, ok bool)
	// ProgressFloor and ProgressRate bound how long a delivery may take
	// before the device shows the package downloaded: ProgressFloor plus
	// the package's size at ProgressRate bytes per second (defaults
	// DefaultProgressFloor, DefaultProgressRate). Past it the attempt
	// fails with reason no_progress.
	ProgressFloor time.Duration
	ProgressRate  int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Defaults of Config's progress bound: a package must be downloaded within
// 2 minutes plus its size at 512 bytes/s (NB-IoT's worst).
const (
	DefaultProgressFloor = 2 * time.Minute
	DefaultProgressRate  = 512
)

// Driver runs Object 5 jobs: every step is a committed job transition
// first, then the operation on the device. Observations of /5/0/3 and
// /5/0/5 are set up again after every Register; State and Result are
// also read after every Register and Update and polled while a job waits.
type Driver struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	devLocks map[string]*sync.Mutex
	executed map[string]bool               // jobs whose Execute this process sent
	attempts map[string]time.Time          // job id -> when this process last delivered
	pushing  map[string]context.CancelFunc // job id -> push under way
	pushed   map[string]bool               // jobs whose push this process completed
	stats    stats
	wg       sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
}

type deviceState struct {
	state  State
	result Result
	known  bool
}

// ErrJob: the job cannot run on this driver.
var ErrJob = errors.New("firmware: job cannot run")

// New checks cfg, subscribes to the server's events and starts polling.
func New(cfg Config) (*Driver, error) {
	if cfg.Jobs == nil || cfg.Server == nil || cfg.PackageURL == nil {
		return nil, fmt.Errorf("%w: the driver needs Jobs, Server and PackageURL", ErrJob)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.ProgressFloor <= 0 {
		cfg.ProgressFloor = DefaultProgressFloor
	}
	if cfg.ProgressRate <= 0 {
		cfg.ProgressRate = DefaultProgressRate
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Driver{cfg: cfg, log: cfg.Logger.With("component", "firmware"), devLocks: map[string]*sync.Mutex{},
		executed: map[string]bool{}, attempts: map[string]time.Time{}, pushing: map[string]context.CancelFunc{}, pushed: map[string]bool{}, ctx: ctx, cancel: cancel}
	cfg.Server.AddListener(d.onEvent)
	d.wg.Add(1)
	go d.poll()
	return d, nil
}

// Close stops polling and pushes under way (their jobs resume later).
func (d *Driver) Close() {
	d.cancel()
	d.wg.Wait()
}

func (d *Driver) lockDevice(id string) func() {
	d.mu.Lock()
	l := d.devLocks[id]
	if l == nil {
		l = &sync.Mutex{}
		d.devLocks[id] = l
	}
	d.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Start begins a queued job (or continues one). Whatever the device
// cannot do now waits for its next registration or update.
func (d *Driver) Start(ctx context.Context, jobID string) error {
	j, err := d.cfg.Jobs.Job(ctx, jobID)
	if err != nil {
		return err
	}
	dev, err := d.cfg.Jobs.Device(ctx, j.DeviceID)
	if err != nil {
		return err
	}
	if dev.LwM2M == nil {
		return fmt.Errorf("%w: %s is not an LwM2M device", ErrJob, dev.ID)
	}
	if _, err := d.cfg.Jobs.Package(ctx, j.PackageID); err != nil {
		return fmt.Errorf("%w: package %s: %w", ErrJob, j.PackageID, err)
	}
	unlock := d.lockDevice(dev.ID)
	defer unlock()
	// Read again under the device's lock: an event may have moved the job
	// meanwhile.
	if j, err = d.cfg.Jobs.Job(ctx, jobID); err != nil || j.State.Terminal() {
		return err
	}
	return d.advance(ctx, j, dev.LwM2M.Endpoint, nil)
}

// Resume continues every unfinished job of an LwM2M device, as after a
// restart: each reads the device's State and carries on from there.
func (d *Driver) Resume(ctx context.Context) error {
	for _, st := range fleet.JobStates {
		if st.Terminal() {
			continue
		}
		jobs, err := d.cfg.Jobs.JobsInState(ctx, st)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if j.State == fleet.JobQueued && j.StepDeadline.After(d.cfg.Now()) {
				continue // backing off: whoever runs jobs starts it later
			}
			dev, err := d.cfg.Jobs.Device(ctx, j.DeviceID)
			if err != nil || dev.LwM2M == nil {
				continue
			}
			d.wg.Add(1)
			go func(j fleet.Job, ep string) {
				defer d.wg.Done()
				unlock := d.lockDevice(j.DeviceID)
				defer unlock()
				j, err := d.cfg.Jobs.Job(d.ctx, j.ID)
				if err != nil || j.State.Terminal() {
					return
				}
				var seen *deviceState
				if j.State != fleet.JobQueued && j.State != fleet.JobWaitingDevice {
					if s, ok := d.readState(d.ctx, ep); ok {
						seen = &s
					}
				}
				if err := d.advance(d.ctx, j, ep, seen); err != nil {
					d.log.Warn("resume", "job", j.ID, "err", err)
				}
			}(j, dev.LwM2M.Endpoint)
		}
	}
	return nil
}

// activeJob returns the device's unfinished job.
func (d *Driver) activeJob(ctx context.Context, deviceID string) (fleet.Job, bool) {
	jobs, err := d.cfg.Jobs.JobsOfDevice(ctx, deviceID)
	if err != nil {
		return fleet.Job{}, false
	}
	for _, j := range jobs {
		if !j.State.Terminal() {
			return j, true
		}
	}
	return fleet.Job{}, false
}

// onEvent follows the device: registrations re-establish observations
// and re-read State; notifications and Sends of /5/0 feed the job.
func (d *Driver) onEvent(ctx context.Context, ev lwm2m.Event) {
	if ev.DeviceID == "" {
		return
	}
	switch ev.Kind {
	case lwm2m.EventRegistered, lwm2m.EventUpdated, lwm2m.EventUnsolicited, lwm2m.EventExpired, lwm2m.EventDeregistered:
	case lwm2m.EventNotify, lwm2m.EventSend:
		if !aboutFirmware(ev.Records) {
			return
		}
	default:
		return
	}
	j, ok := d.activeJob(ctx, ev.DeviceID)
	if !ok {
		return
	}
	unlock := d.lockDevice(ev.DeviceID)
	defer unlock()
	j, err := d.cfg.Jobs.Job(ctx, j.ID)
	if err != nil || j.State.Terminal() || j.State == fleet.JobQueued {
		return // a queued job is started by whoever runs jobs, after its back-off
	}
	if ev.Kind == lwm2m.EventExpired || ev.Kind == lwm2m.EventDeregistered {
		d.deviceGone(ctx, j, ev.Kind)
		return
	}
	if (ev.Kind == lwm2m.EventRegistered || ev.Kind == lwm2m.EventUnsolicited) && j.State != fleet.JobQueued && j.State != fleet.JobWaitingDevice {
		// Registered again, or still notifying observations of a previous
		// process (a gateway restart): observe anew, and read now.
		d.observe(ctx, ev.Endpoint)
	}
	// A notification is a hint, not the truth: one sent before the last
	// read may be delivered after it. Decisions take State and Result
	// read now.
	var seen *deviceState
	if j.State != fleet.JobQueued && j.State != fleet.JobWaitingDevice {
		s, ok := d.readState(ctx, ev.Endpoint)
		if !ok {
			return
		}
		seen = &s
	}
	if err := d.advance(ctx, j, ev.Endpoint, seen); err != nil {
		d.log.Warn("advance", "job", j.ID, "event", ev.Kind, "err", err)
	}
}

// deviceGone follows a device whose registration expired or which
// de-registered while its package was on the way: the job goes back to
// waiting for the device at once (not at a step timeout hours later), a
// push under way stops, and the device's next Register resumes the job.
// A device installing (updating, verifying) de-registers to reboot: its
// job waits where it is.
func (d *Driver) deviceGone(ctx context.Context, j fleet.Job, kind lwm2m.EventKind) {
	if j.State != fleet.JobDelivering && j.State != fleet.JobDelivered {
		return
	}
	d.mu.Lock()
	if stop, ok := d.pushing[j.ID]; ok {
		stop()
	}
	d.mu.Unlock()
	if _, err := d.move(ctx, j, fleet.JobWaitingDevice, "registration "+kind.String()+": waiting for the device", nil, nil); err != nil {
		d.log.Warn("device gone", "job", j.ID, "err", err)
		return
	}
	d.stats.countGone(kind)
}

// aboutFirmware tells whether notified or sent records hold State or
// Update Result (the values themselves are read again before use).
func aboutFirmware(recs []node.Record) bool {
	for _, r := range recs {
		if r.Path == PathState || r.Path == PathUpdateResult {
			return true
		}
	}
	return false
}

// readState reads /5/0/3 and /5/0/5.
func (d *Driver) readState(ctx context.Context, ep string) (deviceState, bool) {
	var s deviceState
	for _, p := range []node.Path{PathState, PathUpdateResult} {
		v, err := d.readInt(ctx, ep, p)
		if err != nil {
			d.log.Debug("read state", "endpoint", ep, "path", p, "err", err)
			return s, false
		}
		if p == PathState {
			s.state = State(v)
		} else {
			s.result = Result(v)
		}
	}
	s.known = true
	return s, true
}

func (d *Driver) readInt(ctx context.Context, ep string, p node.Path) (int64, error) {
	v, err := d.readValue(ctx, ep, p)
	if err != nil {
		return 0, err
	}
	return v.Int()
}

// readValue reads one resource: as text first, then in a format the
// device prefers when it refuses text (4.06, 4.15, or 5.00 as some
// clients answer a format they lack).
func (d *Driver) readValue(ctx context.Context, ep string, p node.Path) (node.Value, error) {
	c, err := d.cfg.Server.Read(ctx, ep, p, codec.FormatText)
	if lwm2m.IsCode(err, codes.NotAcceptable) || lwm2m.IsCode(err, codes.UnsupportedMediaType) ||
		lwm2m.IsCode(err, codes.InternalServerError) || err == nil && c == nil {
		c, err = d.cfg.Server.Read(ctx, ep, p, lwm2m.AnyFormat)
	}
	if err != nil {
		return node.Value{}, err
	}
	recs, err := c.Records(p)
	if err != nil {
		return node.Value{}, err
	}
	if len(recs) != 1 {
		return node.Value{}, fmt.Errorf("firmware: read %s: %d values", p, len(recs))
	}
	return recs[0].Value, nil
}

func (d *Driver) observe(ctx context.Context, ep string) {
	for _, p := range []node.Path{PathState, PathUpdateResult} {
		if err := d.cfg.Server.Observe(ctx, ep, p, lwm2m.AnyFormat); err != nil {
			d.log.Debug("observe failed; polling instead", "endpoint", ep, "path", p, "err", err)
		}
	}
}

func (d *Driver) emit(ctx context.Context, j fleet.Job, s *deviceState, note string, bytes int64) {
	ev := Event{JobID: j.ID, DeviceID: j.DeviceID, State: j.State, Reason: j.Reason, Note: note, Bytes: bytes}
	if s != nil {
		ev.Device, ev.Result = s.state, s.result
	}
	d.log.Info("firmware: job", "job", j.ID, "device", j.DeviceID, "state", j.State, "reason", j.Reason, "note", note)
	if d.cfg.Listener != nil {
		d.cfg.Listener(ctx, ev)
	}
}

func (d *Driver) move(ctx context.Context, j fleet.Job, to fleet.JobState, note string, s *deviceState, mutate func(*fleet.Job) error) (fleet.Job, error) {
	nj, err := d.cfg.Jobs.MoveJob(ctx, j.ID, j.State, to, note, mutate)
	if err != nil {
		return j, err
	}
	d.emit(ctx, nj, s, note, 0)
	return nj, nil
}

func (d *Driver) fail(ctx context.Context, j fleet.Job, reason fleet.Reason, s *deviceState, note string) error {
	_, err := d.move(ctx, j, fleet.JobFailed, note, s, func(j *fleet.Job) error {
		j.Reason = reason
		if s != nil && s.known && s.result != ResultInitial {
			j.Native = append(j.Native, fleet.NativeCode{Protocol: fleet.ProtocolLwM2M, Code: int(s.result)})
			if d.cfg.FUMOResult != nil {
				if code, ok := d.cfg.FUMOResult(s.result); ok {
					j.Native = append(j.Native, fleet.NativeCode{Protocol: fleet.ProtocolDM, Code: code})
				}
			}
		}
		return nil
	})
	return err
}

// poll reads State and Result of devices whose job waits on them.
func (d *Driver) poll() {
	defer d.wg.Done()
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		// Jobs waiting for a registered device too: a delivery that could
		// not start (a device installing something else, a read that
		// failed) is tried again.
		for _, st := range []fleet.JobState{fleet.JobWaitingDevice, fleet.JobDelivering, fleet.JobUpdating, fleet.JobVerifying, fleet.JobDelivered} {
			jobs, err := d.cfg.Jobs.JobsInState(d.ctx, st)
			if err != nil {
				continue
			}
			for _, j := range jobs {
				dev, err := d.cfg.Jobs.Device(d.ctx, j.DeviceID)
				if err != nil || dev.LwM2M == nil {
					continue
				}
				if _, ok := d.cfg.Server.Registration(dev.LwM2M.Endpoint); !ok {
					continue
				}
				d.pollOne(j, dev.LwM2M.Endpoint)
			}
		}
	}
}

func (d *Driver) pollOne(j fleet.Job, ep string) {
	d.mu.Lock()
	_, busy := d.pushing[j.ID]
	d.mu.Unlock()
	if busy {
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.PollInterval)
	defer cancel()
	unlock := d.lockDevice(j.DeviceID)
	defer unlock()
	j, err := d.cfg.Jobs.Job(ctx, j.ID)
	if err != nil || j.State.Terminal() {
		return
	}
	s, ok := d.readState(ctx, ep)
	if !ok {
		return
	}
	if err := d.advance(ctx, j, ep, &s); err != nil {
		d.log.Debug("poll", "job", j.ID, "err", err)
	}
}
