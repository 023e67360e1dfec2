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
	ID            string    `json:"id"`
	PackageID     string    `json:"package_id"`
	Operation     Operation `json:"operation"`
	Devices       []string  `json:"devices,omitempty"`
	Selector      *Selector `json:"selector,omitempty"`
	MaxInFlight   int       `json:"max_in_flight"`
	RatePerMinute int       `json:"rate_per_minute,omitempty"`
	// FailureThreshold pauses the campaign: a count of failed jobs, or a
	// percentage of finished jobs when FailurePercent is set.
	FailureThreshold int              `json:"failure_threshold,omitempty"`
	FailurePercent   bool             `json:"failure_percent,omitempty"`
	State            CampaignState    `json:"state"`
	Counters         map[JobState]int `json:"counters,omitempty"`
	Created          time.Time        `json:"created"`
	Updated          time.Time        `json:"updated"`
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
	if (len(c.Devices) == 0) == (c.Selector == nil) {
		return invalid("campaign %s: give either a device list or a selector", c.ID)
	}
	for _, d := range c.Devices {
		if err := validID("campaign device", d); err != nil {
			return err
		}
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
