package firmware

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
)

// plan is how a package reaches a device.
type plan struct {
	push bool
	uri  string // pull
	note string
}

var errNoRoute = errors.New("firmware: no delivery the device and the gateway share")

// choose picks pull or push and the URI scheme from /5/0/8 and /5/0/9.
// Pull is the default; push when the job asks for it or the device can
// only be pushed to. A device that does not expose the resources is
// taken to support both methods over CoAP.
func (d *Driver) choose(ctx context.Context, j fleet.Job, ep string) (plan, error) {
	method := DeliveryBoth
	if v, err := d.readInt(ctx, ep, PathDeliveryMethod); err == nil {
		method = DeliveryMethod(v)
	} else if !isCodeErr(err) {
		return plan{}, err
	}
	protos := []Protocol{ProtocolCoAP}
	if c, err := d.cfg.Server.Read(ctx, ep, PathProtocolSupport, lwm2m.AnyFormat); err == nil {
		if recs, err := c.Records(PathProtocolSupport); err == nil && len(recs) > 0 {
			protos = protos[:0]
			for _, r := range recs {
				if v, err := r.Value.Int(); err == nil {
					protos = append(protos, Protocol(v))
				}
			}
		}
	} else if !isCodeErr(err) {
		return plan{}, err
	}
	reg, _ := d.cfg.Server.Registration(ep)
	wantPush := j.Delivery == fleet.DeliveryPush && method != DeliveryPullOnly || method == DeliveryPushOnly
	if !wantPush {
		order := []struct {
			p      Protocol
			scheme string
		}{{ProtocolCoAP, "coap"}, {ProtocolCoAPS, "coaps"}, {ProtocolHTTP, "http"}, {ProtocolHTTPS, "https"}}
		if reg.Secure {
			order[0], order[1] = order[1], order[0]
		}
		for _, o := range order {
			if !slices.Contains(protos, o.p) {
				continue
			}
			if uri, ok := d.cfg.PackageURL(o.scheme, j.ID, j.PackageID); ok {
				return plan{uri: uri, note: "pull over " + o.scheme}, nil
			}
		}
		if method == DeliveryPullOnly {
			return plan{}, fmt.Errorf("%w: device fetches over %v", errNoRoute, protos)
		}
	}
	return plan{push: true, note: "push with Block1"}, nil
}

func isCodeErr(err error) bool {
	var ce *lwm2m.CodeError
	return errors.As(err, &ce)
}

// advance moves a job as far as the device's known state allows. seen is
// the device's State/Result when the caller has it.
func (d *Driver) advance(ctx context.Context, j fleet.Job, ep string, seen *deviceState) error {
	var err error
	for {
		switch j.State {
		case fleet.JobQueued:
			if j, err = d.move(ctx, j, fleet.JobWaitingDevice, "", seen, func(j *fleet.Job) error {
				j.Attempts++
				j.StepDeadline = time.Time{}
				return nil
			}); err != nil {
				return err
			}
		case fleet.JobWaitingDevice:
			if _, ok := d.cfg.Server.Registration(ep); !ok {
				return nil // the next Register brings it back
			}
			if j.Operation == fleet.OpUpdate {
				return d.updateOnly(ctx, j, ep, seen)
			}
			p, err := d.choose(ctx, j, ep)
			if errors.Is(err, errNoRoute) {
				return d.fail(ctx, j, fleet.ReasonBadURI, seen, err.Error())
			}
			if err != nil {
				return err // unreachable now: the next Update retries
			}
			ready, kept, err := d.prepare(ctx, j, ep, p)
			if err != nil || !ready {
				return err
			}
			pkg, err := d.cfg.Jobs.Package(ctx, j.PackageID)
			if err != nil {
				return err
			}
			deadline := d.cfg.Now().Add(d.progressTimeout(pkg.Size))
			redelivery := deliveredBefore(j)
			note := p.note
			if kept {
				note = "the device kept the download under way"
			}
			if j, err = d.move(ctx, j, fleet.JobDelivering, note, seen, func(j *fleet.Job) error {
				j.StepDeadline = deadline
				if redelivery && !kept {
					j.Attempts++ // every delivery is an attempt
				}
				return nil
			}); err != nil {
				return err
			}
			d.observe(ctx, ep)
			if kept {
				return nil
			}
			return d.deliver(ctx, j, ep, p)
		case fleet.JobDelivering:
			if seen == nil || !seen.known {
				return nil
			}
			if seen.state != StateDownloaded && !j.StepDeadline.IsZero() && d.cfg.Now().After(j.StepDeadline) {
				// Taken, but not there in the time its size allows (a
				// device stuck Downloading): this attempt is over.
				d.stopPush(j.ID)
				d.stats.noProgress.Add(1)
				return d.retryOrFail(ctx, j, fleet.ReasonNoProgress, seen, fmt.Sprintf("no progress: the package is not downloaded by %s (state %s, result %s)",
					j.StepDeadline.UTC().Format(time.RFC3339), seen.state, seen.result))
			}
			switch {
			case seen.state == StateDownloaded:
				if j, err = d.move(ctx, j, fleet.JobDelivered, "downloaded", seen, nil); err != nil {
					return err
				}
			case seen.state == StateIdle && seen.result.Failed() && seen.result != ResultConnectionLost:
				return d.fail(ctx, j, ReasonOf(seen.result), seen, "download failed: "+seen.result.String())
			case seen.state == StateIdle && seen.result == ResultConnectionLost,
				seen.state == StateIdle && d.deliveryLost(j),
				seen.state == StateDownloading && d.deliveryLost(j) && d.pushInterrupted(ctx, j, ep):
				// The transfer broke (a network cut), nothing arrived (a
				// gateway restart, a device reset), or a push stopped half-
				// way: another attempt, from the start, after the back-off.
				// A device downloading on its own, or holding a whole push,
				// is left to it until its progress deadline.
				note := "the delivery was lost"
				if seen.result == ResultConnectionLost {
					note = "download failed: " + seen.result.String()
				}
				return d.retryOrFail(ctx, j, fleet.ReasonNetwork, seen, note)
			default:
				return nil // downloading
			}
		case fleet.JobDelivered:
			to := fleet.JobUpdating
			if j.Operation == fleet.OpDownload {
				to = fleet.JobVerifying
			}
			if j, err = d.move(ctx, j, to, "", seen, nil); err != nil {
				return err
			}
		case fleet.JobUpdating:
			if seen == nil || !seen.known {
				s, ok := d.readState(ctx, ep)
				if !ok {
					return nil
				}
				seen = &s
			}
			d.mu.Lock()
			executed := d.executed[j.ID]
			d.mu.Unlock()
			switch {
			case seen.result == ResultUpdateFailed:
				return d.fail(ctx, j, fleet.ReasonUpdateFailed, seen, "update failed")
			case seen.state == StateIdle && seen.result == ResultSuccess:
				if j, err = d.move(ctx, j, fleet.JobVerifying, "updated", seen, nil); err != nil {
					return err
				}
			case seen.state == StateIdle && seen.result.Failed():
				return d.fail(ctx, j, ReasonOf(seen.result), seen, seen.result.String())
			case seen.state == StateDownloaded && !executed:
				return d.execute(ctx, j, ep)
			case seen.state == StateIdle && seen.result == ResultInitial:
				return d.fail(ctx, j, fleet.ReasonUpdateFailed, seen, "the device dropped the package before the update")
			default:
				return nil // updating, or Execute in flight
			}
		case fleet.JobVerifying:
			return d.verify(ctx, j, ep, seen)
		default:
			return nil
		}
	}
}

// prepare readies the device for a delivery: Object 5 must be Idle, as
// clients refuse a Package URI otherwise (Anjay stays in State 2 after a
// failed update, which LwM2M allows). A device downloading or holding
// the package this job's URI names keeps it (kept: the job goes on from
// there); a device installing is left to finish (not ready: the job
// waits); any other is reset (an empty Package URI for a pull, an empty
// Package for a push) and read again. A device that will not reset fails
// the job, its State and Result recorded.
func (d *Driver) prepare(ctx context.Context, j fleet.Job, ep string, p plan) (ready, kept bool, err error) {
	s, ok := d.readState(ctx, ep)
	if !ok {
		return false, false, nil // unreachable now: the next Update retries
	}
	switch s.state {
	case StateIdle:
		return true, false, nil
	case StateUpdating:
		return false, false, nil
	}
	if !p.push {
		if v, err := d.readValue(ctx, ep, PathPackageURI); err == nil {
			if uri, _ := v.Str(); uri == p.uri {
				return true, true, nil
			}
		}
	}
	var werr error
	if p.push {
		werr = d.cfg.Server.Write(ctx, ep, PathPackage, lwm2m.Replace, codec.FormatOpaque, []byte{0})
	} else {
		werr = d.cfg.Server.Write(ctx, ep, PathPackageURI, lwm2m.Replace, codec.FormatText, nil)
	}
	if werr != nil && !isCodeErr(werr) {
		return false, false, werr
	}
	after, ok := d.readState(ctx, ep)
	if !ok {
		return false, false, nil
	}
	if after.state != StateIdle {
		return false, false, d.fail(ctx, j, fleet.ReasonUnknown, &after, fmt.Sprintf("the device is in state %s (result %s) and would not reset for a new delivery (%v)", after.state, after.result, werr))
	}
	d.log.Info("firmware: device reset before a delivery", "job", j.ID, "endpoint", ep, "state", s.state, "result", s.result)
	return true, false, nil
}

// deliveredBefore tells whether the job's current attempt has delivered
// already (it is back waiting for its device): another delivery is
// another attempt.
func deliveredBefore(j fleet.Job) bool {
	for i := len(j.History) - 1; i >= 0; i-- {
		switch t := j.History[i]; {
		case t.To == fleet.JobDelivering:
			return true
		case t.From == fleet.JobQueued:
			return false
		}
	}
	return false
}

// progressTimeout is how long a delivery of size bytes may take.
func (d *Driver) progressTimeout(size int64) time.Duration {
	return d.cfg.ProgressFloor + time.Duration(size/d.cfg.ProgressRate)*time.Second
}

// retryOrFail ends an attempt: back to queued for another one when the
// retry policy allows (from its notBefore: whoever runs jobs starts it;
// without a policy, this driver starts it at once), failed otherwise.
func (d *Driver) retryOrFail(ctx context.Context, j fleet.Job, reason fleet.Reason, seen *deviceState, note string) error {
	notBefore, retry := time.Time{}, false
	switch {
	case d.cfg.Retry != nil:
		notBefore, retry = d.cfg.Retry(j, reason)
	default:
		retry = j.Attempts < d.cfg.MaxAttempts
	}
	if !retry || !fleet.CanTransition(j.State, fleet.JobQueued) {
		return d.fail(ctx, j, reason, seen, note)
	}
	d.forget(j.ID)
	if _, err := d.move(ctx, j, fleet.JobQueued, fmt.Sprintf("retry (%s): %s", reason, note), seen, func(j *fleet.Job) error {
		j.StepDeadline = notBefore
		return nil
	}); err != nil {
		return err
	}
	if d.cfg.Retry == nil {
		// On its own context: the caller's may be a poll's, short.
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
			defer cancel()
			if err := d.Start(ctx, j.ID); err != nil {
				d.log.Warn("retry", "job", j.ID, "err", err)
			}
		}()
	}
	return nil
}

// pushInterrupted tells a device left Downloading by a push that stopped
// half-way (the gateway restarted, the push was cancelled) from one that
// took the whole package and sits there: a pull writes the Package URI,
// a push does not, and this process remembers the pushes it completed.
func (d *Driver) pushInterrupted(ctx context.Context, j fleet.Job, ep string) bool {
	d.mu.Lock()
	done := d.pushed[j.ID]
	d.mu.Unlock()
	if done {
		return false
	}
	v, err := d.readValue(ctx, ep, PathPackageURI)
	if err != nil {
		return false
	}
	uri, _ := v.Str()
	return uri == ""
}

// stopPush stops a push under way for the job.
func (d *Driver) stopPush(jobID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if stop, ok := d.pushing[jobID]; ok {
		stop()
	}
}

// deliveryLost tells whether a delivering job saw no delivery from this
// process lately (a restart, or a device that reset).
func (d *Driver) deliveryLost(j fleet.Job) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, busy := d.pushing[j.ID]; busy {
		return false
	}
	at, ok := d.attempts[j.ID]
	return !ok || time.Since(at) > 2*d.cfg.PollInterval
}

// updateOnly runs an Update job: the package must already be on the
// device (State 2).
func (d *Driver) updateOnly(ctx context.Context, j fleet.Job, ep string, seen *deviceState) error {
	if seen == nil || !seen.known {
		s, ok := d.readState(ctx, ep)
		if !ok {
			return nil
		}
		seen = &s
	}
	if seen.state != StateDownloaded {
		return d.fail(ctx, j, fleet.ReasonUnknown, seen, "update asked but the device holds no package (state "+seen.state.String()+")")
	}
	j, err := d.move(ctx, j, fleet.JobUpdating, "", seen, nil)
	if err != nil {
		return err
	}
	d.observe(ctx, ep)
	return d.execute(ctx, j, ep)
}

// deliver writes the Package URI, or starts a push in the background.
func (d *Driver) deliver(ctx context.Context, j fleet.Job, ep string, p plan) error {
	d.mu.Lock()
	d.attempts[j.ID] = time.Now()
	d.mu.Unlock()
	if !p.push {
		err := d.cfg.Server.Write(ctx, ep, PathPackageURI, lwm2m.Replace, codec.FormatText, []byte(p.uri))
		if isCodeErr(err) {
			// The device was idle (prepare): the URI itself is refused.
			var seen *deviceState
			note := "package URI refused: " + err.Error()
			if s, ok := d.readState(ctx, ep); ok {
				seen = &s
				note += fmt.Sprintf(" (device state %s, result %s)", s.state, s.result)
			}
			return d.fail(ctx, j, fleet.ReasonBadURI, seen, note)
		}
		return err
	}
	pkg, err := d.cfg.Jobs.Package(ctx, j.PackageID)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(d.ctx)
	d.mu.Lock()
	d.pushing[j.ID] = cancel
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		r := pkgReader{ctx: pctx, jobs: d.cfg.Jobs, id: pkg.ID}
		next := pkg.Size / 10
		err := d.cfg.Server.WriteFrom(pctx, ep, PathPackage, lwm2m.Replace, codec.FormatOpaque, r, pkg.Size, func(done int64) {
			if done >= next {
				next += pkg.Size / 10
				d.emit(pctx, j, nil, "pushing", done)
			}
		})
		d.mu.Lock()
		delete(d.pushing, j.ID)
		if err == nil {
			d.pushed[j.ID] = true
		}
		d.mu.Unlock()
		if err != nil {
			d.log.Warn("push failed", "job", j.ID, "endpoint", ep, "err", err)
		}
		if pctx.Err() != nil {
			return
		}
		// The outcome is in State and Result (a failing package is
		// still answered 2.04).
		unlock := d.lockDevice(j.DeviceID)
		defer unlock()
		cur, jerr := d.cfg.Jobs.Job(d.ctx, j.ID)
		if jerr != nil || cur.State.Terminal() {
			return
		}
		if s, ok := d.readState(d.ctx, ep); ok {
			if err := d.advance(d.ctx, cur, ep, &s); err != nil {
				d.log.Warn("after push", "job", j.ID, "err", err)
			}
		}
	}()
	return nil
}

type pkgReader struct {
	ctx  context.Context
	jobs JobStore
	id   string
}

func (r pkgReader) ReadAt(p []byte, off int64) (int, error) {
	return r.jobs.ReadPackageAt(r.ctx, r.id, p, off)
}

// execute sends Execute /5/0/2 (only in State 2); the job is already
// committed as updating.
func (d *Driver) execute(ctx context.Context, j fleet.Job, ep string) error {
	if err := d.cfg.Server.Execute(ctx, ep, PathUpdate, ""); err != nil {
		return err
	}
	d.mu.Lock()
	d.executed[j.ID] = true
	d.mu.Unlock()
	d.emit(ctx, j, nil, "update executed", 0)
	return nil
}

// verify compares /3/0/3 with the package version after the update.
func (d *Driver) verify(ctx context.Context, j fleet.Job, ep string, seen *deviceState) error {
	done := func(note string) error {
		_, err := d.move(ctx, j, fleet.JobSucceeded, note, seen, func(j *fleet.Job) error {
			j.Native = append(j.Native, fleet.NativeCode{Protocol: fleet.ProtocolLwM2M, Code: int(ResultSuccess)})
			return nil
		})
		d.forget(j.ID)
		return err
	}
	if j.Operation == fleet.OpDownload {
		return done("downloaded")
	}
	pkg, err := d.cfg.Jobs.Package(ctx, j.PackageID)
	if err != nil {
		return err
	}
	val, err := d.readValue(ctx, ep, PathFirmwareVersion)
	if err != nil && !isCodeErr(err) {
		return nil // rebooting: the next registration verifies
	}
	v, serr := val.Str()
	if err != nil || serr != nil {
		return fmt.Errorf("firmware: %s: unreadable firmware version: %w", ep, errors.Join(err, serr))
	}
	if pkg.Version != "" && fleet.VerifyVersion(&j, &pkg, true) && !fleet.SameVersion(v, pkg.Version) {
		defer d.forget(j.ID)
		return d.fail(ctx, j, fleet.ReasonUpdateFailed, seen, fmt.Sprintf("firmware version %q after the update, package is %q", v, pkg.Version))
	}
	return done("firmware version " + v)
}

func (d *Driver) forget(jobID string) {
	d.mu.Lock()
	delete(d.executed, jobID)
	delete(d.attempts, jobID)
	delete(d.pushed, jobID)
	d.mu.Unlock()
}

// Cancel cancels a job: Execute /5/0/10 on the device when the package is
// still on its way or waiting (1.1), then the job ends cancelled. A job
// already updating cannot be cancelled (4.05 from the device).
func (d *Driver) Cancel(ctx context.Context, jobID string) error {
	return d.Stop(ctx, jobID, fleet.JobCancelled, fleet.ReasonCancelled, "cancelled", false, time.Time{})
}

// Stop ends or rewinds a job the gateway gives up on: a push under way
// stops, a package on its way or waiting is cancelled on the device
// (Execute /5/0/10, or an empty Package URI on 1.0 devices), then the job
// moves to `to` (cancelled, failed with reason, or queued for another
// attempt from notBefore). A job the device is installing is refused with
// fleet.ErrStale unless force is set (a timeout): then the device is not
// touched and a late result finds the job finished.
func (d *Driver) Stop(ctx context.Context, jobID string, to fleet.JobState, reason fleet.Reason, note string, force bool, notBefore time.Time) error {
	j, err := d.cfg.Jobs.Job(ctx, jobID)
	if err != nil {
		return err
	}
	dev, err := d.cfg.Jobs.Device(ctx, j.DeviceID)
	if err != nil || dev.LwM2M == nil {
		return fmt.Errorf("%w: %s is not an LwM2M job", ErrJob, jobID)
	}
	unlock := d.lockDevice(j.DeviceID)
	defer unlock()
	if j, err = d.cfg.Jobs.Job(ctx, jobID); err != nil {
		return err
	}
	if j.State.Terminal() || !fleet.CanTransition(j.State, to) {
		return fmt.Errorf("%w: job %s is %s, cannot go to %s", fleet.ErrStale, jobID, j.State, to)
	}
	installing := j.State == fleet.JobUpdating || j.State == fleet.JobVerifying
	if installing && !force {
		return fmt.Errorf("%w: job %s is %s", fleet.ErrStale, jobID, j.State)
	}
	d.mu.Lock()
	if stop, ok := d.pushing[jobID]; ok {
		stop()
	}
	d.mu.Unlock()
	if j.State == fleet.JobDelivering || j.State == fleet.JobDelivered {
		if err := d.cfg.Server.Execute(ctx, dev.LwM2M.Endpoint, PathCancel, ""); err != nil && !lwm2m.IsCode(err, codes.NotFound) {
			// Devices without Cancel (1.0) are reset by an empty URI.
			if werr := d.cfg.Server.Write(ctx, dev.LwM2M.Endpoint, PathPackageURI, lwm2m.Replace, codec.FormatText, nil); werr != nil && !force {
				return fmt.Errorf("firmware: cancel %s: %w", jobID, err)
			}
		}
	}
	_, err = d.move(ctx, j, to, note, nil, func(j *fleet.Job) error {
		if to == fleet.JobQueued {
			j.StepDeadline = notBefore
		} else {
			j.Reason = reason
		}
		return nil
	})
	d.forget(jobID)
	return err
}
