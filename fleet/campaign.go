package fleet

import "time"

// CampaignState is where a campaign stands.
type CampaignState string

const (
	CampaignDraft     CampaignState = "draft"
	CampaignRunning   CampaignState = "running"
	CampaignPaused    CampaignState = "paused"
	CampaignDone      CampaignState = "done"
	CampaignCancelled CampaignState = "cancelled"
)

// Selector picks devices by attributes; empty fields match everything.
type Selector struct {
	Protocol        Protocol `json:"protocol,omitempty"`
	Model           string   `json:"model,omitempty"`
	FirmwareVersion string   `json:"firmware_version,omitempty"`
}

// Matches reports whether d is selected.
func (s Selector) Matches(d *Device) bool {
	return (s.Protocol == "" || s.Protocol == d.Protocol) &&
		(s.Model == "" || s.Model == d.Model) &&
		(s.FirmwareVersion == "" || s.FirmwareVersion == d.FirmwareVersion)
}

// Campaign updates many devices with one package.
type Campaign struct {
	ID        string    `json:"id"`
	PackageID string    `json:"package_id"`
	Operation Operation `json:"operation"`
	// Delivery is how the package reaches devices that can take it either
	// way (default pull); devices that can only be pushed to are pushed to.
	Delivery Delivery `json:"delivery,omitempty"`
	// Devices are the campaign's devices, in the order jobs start. A
	// campaign made from a Selector lists the devices it matched when the
	// campaign was created, and keeps the Selector to say so.
	Devices       []string  `json:"devices"`
	Selector      *Selector `json:"selector,omitempty"`
	MaxInFlight   int       `json:"max_in_flight"`
	RatePerMinute int       `json:"rate_per_minute,omitempty"`
	// FailureThreshold pauses the campaign: a count of failed jobs, or a
	// percentage of finished jobs when FailurePercent is set.
	FailureThreshold int           `json:"failure_threshold,omitempty"`
	FailurePercent   bool          `json:"failure_percent,omitempty"`
	Verify           *bool         `json:"verify,omitempty"` // when set, copied to the campaign's jobs (Job.Verify)
	State            CampaignState `json:"state"`
	// StateNote says why the campaign is in its state (the threshold that
	// paused it, who cancelled it).
	StateNote string `json:"state_note,omitempty"`
	// Baseline is what had finished and failed when the campaign was last
	// resumed: the failure threshold counts from there.
	Baseline CampaignBaseline `json:"baseline,omitzero"`
	Counters map[JobState]int `json:"counters,omitempty"`
	Created  time.Time        `json:"created"`
	Updated  time.Time        `json:"updated"`
}

// CampaignBaseline counts a campaign's finished and failed jobs at a point.
type CampaignBaseline struct {
	Finished int `json:"finished"`
	Failed   int `json:"failed"`
}

// Validate checks a campaign record.
func (c *Campaign) Validate() error {
	if err := validID("campaign id", c.ID); err != nil {
		return err
	}
	if err := validID("campaign package id", c.PackageID); err != nil {
		return err
	}
	switch c.Operation {
	case OpDownload, OpUpdate, OpDownloadAndUpdate:
	default:
		return invalid("campaign %s: operation %q", c.ID, c.Operation)
	}
	if len(c.Devices) == 0 {
		return invalid("campaign %s: no devices", c.ID)
	}
	switch c.Delivery {
	case "", DeliveryPull, DeliveryPush:
	default:
		return invalid("campaign %s: delivery %q", c.ID, c.Delivery)
	}
	seen := make(map[string]bool, len(c.Devices))
	for _, d := range c.Devices {
		if err := validID("campaign device", d); err != nil {
			return err
		}
		if seen[d] {
			return invalid("campaign %s: device %s listed twice", c.ID, d)
		}
		seen[d] = true
	}
	if c.MaxInFlight < 1 || c.RatePerMinute < 0 || c.FailureThreshold < 0 || c.FailurePercent && c.FailureThreshold > 100 {
		return invalid("campaign %s: max in flight >= 1, rate >= 0, threshold >= 0 (<= 100 as a percentage)", c.ID)
	}
	switch c.State {
	case CampaignDraft, CampaignRunning, CampaignPaused, CampaignDone, CampaignCancelled:
	default:
		return invalid("campaign %s: state %q", c.ID, c.State)
	}
	return nil
}
