package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/store"
)

// PercentFloor: a failure threshold given as a percentage is judged once
// this many jobs have finished since the campaign (re)started, so that
// the first failure of a large campaign does not count as 100 %.
const PercentFloor = 10

// CampaignRequest asks for a campaign: a package and either a device list
// or a selector (resolved to a list when the campaign is created).
type CampaignRequest struct {
	ID               string          `json:"id,omitempty"` // generated when empty
	PackageID        string          `json:"package_id"`
	Operation        fleet.Operation `json:"operation,omitempty"` // default download_and_update
	Delivery         fleet.Delivery  `json:"delivery,omitempty"`  // default pull
	Devices          []string        `json:"devices,omitempty"`
	Selector         *fleet.Selector `json:"selector,omitempty"`
	MaxInFlight      int             `json:"max_in_flight,omitempty"` // default 10
	RatePerMinute    int             `json:"rate_per_minute,omitempty"`
	FailureThreshold int             `json:"failure_threshold,omitempty"`
	FailurePercent   bool            `json:"failure_percent,omitempty"`
	// Verify, when set, switches the firmware version check after a
	// successful update on or off for the campaign's jobs (default: the
	// package's setting, else on).
	Verify *bool `json:"verify,omitempty"`
}

// CreateCampaign resolves and checks a campaign's devices and stores it
// as a draft. It is refused, and nothing stored, when it names no device,
// an unknown device or package, or a device that cannot take the package.
func (b *Bridge) CreateCampaign(ctx context.Context, r CampaignRequest) (fleet.Campaign, error) {
	if r.ID == "" {
		r.ID = newID("campaign")
	}
	c := fleet.Campaign{ID: r.ID, PackageID: r.PackageID, Operation: r.Operation, Delivery: r.Delivery,
		Devices: r.Devices, Selector: r.Selector, MaxInFlight: r.MaxInFlight, RatePerMinute: r.RatePerMinute,
		FailureThreshold: r.FailureThreshold, FailurePercent: r.FailurePercent, Verify: r.Verify, State: fleet.CampaignDraft}
	if c.Operation == "" {
		c.Operation = fleet.OpDownloadAndUpdate
	}
	if c.Delivery == "" {
		c.Delivery = fleet.DeliveryPull
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 10
	}
	if len(r.Devices) > 0 && r.Selector != nil {
		return c, fmt.Errorf("%w: campaign %s: give a device list or a selector, not both", ErrInvalid, c.ID)
	}
	pkg, err := b.st.Package(ctx, c.PackageID)
	if err != nil {
		return c, fmt.Errorf("bridge: campaign %s: package %s: %w", c.ID, c.PackageID, err)
	}
	var devs []fleet.Device
	if r.Selector != nil {
		all, err := b.st.Devices(ctx, store.DeviceFilter{Protocol: r.Selector.Protocol, Model: r.Selector.Model})
		if err != nil {
			return c, err
		}
		c.Devices = nil
		for i := range all {
			if r.Selector.Matches(&all[i]) {
				devs = append(devs, all[i])
				c.Devices = append(c.Devices, all[i].ID)
			}
		}
	} else {
		var missing []string
		for _, id := range r.Devices {
			d, err := b.st.Device(ctx, id)
			if errors.Is(err, fleet.ErrNotFound) {
				missing = append(missing, id)
				continue
			}
			if err != nil {
				return c, err
			}
			devs = append(devs, d)
		}
		if len(missing) > 0 {
			return c, fmt.Errorf("bridge: campaign %s: unknown devices %s: %w", c.ID, strings.Join(missing, ", "), ErrNotFound)
		}
	}
	if len(c.Devices) == 0 {
		return c, fmt.Errorf("%w: campaign %s", ErrNoDevices, c.ID)
	}
	var refused []string
	for _, d := range devs {
		t, ok := b.targets[d.Protocol]
		if !ok {
			refused = append(refused, d.ID+": the gateway runs no "+string(d.Protocol)+" server")
			continue
		}
		if err := t.Check(ctx, d, pkg, c.Delivery); err != nil {
			refused = append(refused, err.Error())
		}
	}
	if len(refused) > 0 {
		return c, fmt.Errorf("%w: campaign %s: %s", ErrCannotDeliver, c.ID, strings.Join(refused, "; "))
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	c, err = b.st.CreateCampaign(ctx, c)
	if err != nil {
		return c, fmt.Errorf("bridge: campaign %s: %w", c.ID, err)
	}
	b.campaignEvent(c)
	return c, nil
}

func (b *Bridge) campaignEvent(c fleet.Campaign) {
	b.hub.publish(Event{Kind: EventCampaign, CampaignID: c.ID, Campaign: c.State, Report: Report{Note: c.StateNote}})
}

// setCampaignState commits a campaign's new state if it is in one of from.
func (b *Bridge) setCampaignState(ctx context.Context, id string, to fleet.CampaignState, note string, from ...fleet.CampaignState) (fleet.Campaign, error) {
	// Counted once, outside the write: the counters a stopped campaign
	// keeps, and the baseline a resumed one counts failures from.
	counts, err := b.st.CountJobs(ctx, id)
	if err != nil {
		return fleet.Campaign{}, err
	}
	c, err := b.st.UpdateCampaign(ctx, id, func(c *fleet.Campaign) error {
		ok := false
		for _, f := range from {
			ok = ok || c.State == f
		}
		if !ok {
			return fmt.Errorf("%w: campaign %s is %s, cannot go to %s", ErrState, id, c.State, to)
		}
		if to == fleet.CampaignRunning && c.State == fleet.CampaignPaused {
			// The failures that paused it were seen by the operator.
			p := Progress{Jobs: counts}
			c.Baseline = fleet.CampaignBaseline{Finished: p.Finished(), Failed: counts[fleet.JobFailed]}
		}
		if to != fleet.CampaignRunning {
			c.Counters = counts
		}
		c.State, c.StateNote = to, note
		return nil
	})
	if err != nil {
		return c, err
	}
	b.campaignEvent(c)
	b.poke()
	return c, nil
}

// StartCampaign starts a draft campaign.
func (b *Bridge) StartCampaign(ctx context.Context, id string) (fleet.Campaign, error) {
	return b.setCampaignState(ctx, id, fleet.CampaignRunning, "started", fleet.CampaignDraft)
}

// PauseCampaign stops starting new jobs; jobs under way go on.
func (b *Bridge) PauseCampaign(ctx context.Context, id string) (fleet.Campaign, error) {
	return b.setCampaignState(ctx, id, fleet.CampaignPaused, "paused by the operator", fleet.CampaignRunning)
}

// ResumeCampaign runs a paused campaign again; the failure threshold
// counts failures from now on.
func (b *Bridge) ResumeCampaign(ctx context.Context, id string) (fleet.Campaign, error) {
	return b.setCampaignState(ctx, id, fleet.CampaignRunning, "resumed", fleet.CampaignPaused)
}

// CancelCampaign ends a campaign: no new jobs, and its unfinished jobs are
// cancelled where the device allows it (jobs the device is installing
// finish).
func (b *Bridge) CancelCampaign(ctx context.Context, id string) (fleet.Campaign, error) {
	c, err := b.setCampaignState(ctx, id, fleet.CampaignCancelled, "cancelled by the operator",
		fleet.CampaignDraft, fleet.CampaignRunning, fleet.CampaignPaused)
	if err != nil {
		return c, err
	}
	jobs, err := b.st.Jobs(ctx, store.JobFilter{CampaignID: id})
	if err != nil {
		return c, err
	}
	for _, j := range jobs {
		if j.State.Terminal() {
			continue
		}
		if _, err := b.CancelJob(ctx, j.ID); err != nil && !errors.Is(err, ErrState) {
			b.log.Warn("bridge: cancel campaign job", "campaign", id, "job", j.ID, "err", err)
		}
	}
	return c, nil
}

// Progress is a campaign's jobs by state, and its devices without a job
// yet.
type Progress struct {
	Campaign fleet.Campaign         `json:"campaign"`
	Devices  int                    `json:"devices"`
	Pending  int                    `json:"pending"` // no job yet
	Jobs     map[fleet.JobState]int `json:"jobs"`
}

// Finished counts the campaign's terminal jobs.
func (p Progress) Finished() int {
	return p.Jobs[fleet.JobSucceeded] + p.Jobs[fleet.JobFailed] + p.Jobs[fleet.JobCancelled]
}

// InFlight counts jobs started and not finished.
func (p Progress) InFlight() int {
	n := 0
	for s, c := range p.Jobs {
		if !s.Terminal() {
			n += c
		}
	}
	return n
}

// CampaignProgress returns a campaign with its live counters.
func (b *Bridge) CampaignProgress(ctx context.Context, id string) (Progress, error) {
	c, err := b.st.Campaign(ctx, id)
	if err != nil {
		return Progress{}, err
	}
	return b.progressOf(ctx, c)
}

func (b *Bridge) progressOf(ctx context.Context, c fleet.Campaign) (Progress, error) {
	counts, err := b.st.CountJobs(ctx, c.ID)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Campaign: c, Devices: len(c.Devices), Jobs: counts}
	n := 0
	for _, v := range counts {
		n += v
	}
	p.Pending = p.Devices - n
	return p, nil
}

func (b *Bridge) runningCampaigns(ctx context.Context) (map[string]fleet.Campaign, error) {
	all, err := b.st.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]fleet.Campaign{}
	for _, c := range all {
		if c.State == fleet.CampaignRunning {
			out[c.ID] = c
		}
	}
	return out, nil
}

// campaignJobID names the job of a campaign's i-th device.
func campaignJobID(c fleet.Campaign, i int) string { return c.ID + "." + strconv.Itoa(i) }

// schedule moves a running campaign on: it pauses it when failures cross
// the threshold, ends it when every device's job has finished, and
// otherwise creates (then starts) jobs for the next devices while fewer
// than MaxInFlight are unfinished and the rate allows.
func (b *Bridge) schedule(ctx context.Context, c fleet.Campaign, now time.Time) error {
	// From the indexes: no job is decoded, unless its id is not one the
	// scheduler gives (campaignJobID).
	states, err := b.st.CampaignJobStates(ctx, c.ID)
	if err != nil {
		return err
	}
	has := make(map[string]bool, len(states))
	var p Progress
	p.Jobs = map[fleet.JobState]int{}
	for id, st := range states {
		p.Jobs[st]++
		if i, err := strconv.Atoi(strings.TrimPrefix(id, c.ID+".")); err == nil && i >= 0 && i < len(c.Devices) && campaignJobID(c, i) == id {
			has[c.Devices[i]] = true
			continue
		}
		j, err := b.st.Job(ctx, id)
		if err != nil {
			return err
		}
		has[j.DeviceID] = true
	}
	failed, finished := p.Jobs[fleet.JobFailed]-c.Baseline.Failed, p.Finished()-c.Baseline.Finished
	if c.FailureThreshold > 0 {
		over := !c.FailurePercent && failed >= c.FailureThreshold ||
			c.FailurePercent && finished >= min(PercentFloor, len(c.Devices)-c.Baseline.Finished) && finished > 0 &&
				failed*100 >= c.FailureThreshold*finished
		if over {
			note := fmt.Sprintf("paused: %d of %d finished jobs failed (threshold %d", failed, finished, c.FailureThreshold)
			if c.FailurePercent {
				note += " %"
			}
			_, err := b.setCampaignState(ctx, c.ID, fleet.CampaignPaused, note+")", fleet.CampaignRunning)
			return err
		}
	}
	inFlight := p.InFlight()
	var interval time.Duration
	if c.RatePerMinute > 0 {
		interval = time.Minute / time.Duration(c.RatePerMinute)
	}
	waiting, gone := 0, 0 // devices without a job: busy or throttled, deleted
	for i, devID := range c.Devices {
		if has[devID] {
			continue
		}
		b.mu.Lock()
		last := b.lastStart[c.ID]
		b.mu.Unlock()
		if inFlight >= c.MaxInFlight || interval > 0 && now.Before(last.Add(interval)) {
			waiting++
			continue
		}
		j := fleet.Job{ID: campaignJobID(c, i), DeviceID: devID, PackageID: c.PackageID, CampaignID: c.ID,
			Operation: c.Operation, Delivery: c.Delivery, Verify: c.Verify, State: fleet.JobQueued}
		_, err := b.createJob(ctx, j)
		switch {
		case err == nil:
			inFlight++
			b.mu.Lock()
			b.lastStart[c.ID] = now
			b.mu.Unlock()
		case errors.Is(err, ErrBusy):
			waiting++ // its other job ends first
		case errors.Is(err, fleet.ErrExists):
		case errors.Is(err, fleet.ErrNotFound):
			gone++ // deleted since the campaign was made: no job to record
			b.log.Warn("bridge: campaign device gone", "campaign", c.ID, "device", devID, "err", err)
		default:
			// The device cannot take the package any more (it registered
			// again without /5): its job is recorded failed.
			if _, err := b.st.CreateJob(ctx, failedJob(j, err)); err != nil {
				return err
			}
		}
	}
	if inFlight == 0 && waiting == 0 {
		p, err := b.progressOf(ctx, c)
		if err != nil {
			return err
		}
		if p.Pending-gone > 0 {
			return nil // a job was recorded in this pass; look again
		}
		_, err = b.setCampaignState(ctx, c.ID, fleet.CampaignDone, fmt.Sprintf("%d succeeded, %d failed, %d cancelled, %d devices gone",
			p.Jobs[fleet.JobSucceeded], p.Jobs[fleet.JobFailed], p.Jobs[fleet.JobCancelled], gone), fleet.CampaignRunning)
		return err
	}
	return nil
}

func failedJob(j fleet.Job, err error) fleet.Job {
	j.State, j.Reason = fleet.JobFailed, fleet.ReasonUnknown
	j.History = []fleet.Transition{{From: fleet.JobQueued, To: fleet.JobFailed, Note: "refused: " + err.Error()}}
	return j
}
