package fleet

import (
	"strings"
	"time"
)

// JobState is where a job stands in the unified pipeline:
//
//	queued -> waiting_device -> delivering -> delivered -> updating -> verifying -> succeeded
//	any non-terminal state -> failed | cancelled
//	waiting_device, delivering, updating -> queued (retry)
//	delivering, delivered -> waiting_device (the device went away: its
//	registration expired or it de-registered; it resumes when it is back)
type JobState string

const (
	JobQueued        JobState = "queued"
	JobWaitingDevice JobState = "waiting_device"
	JobDelivering    JobState = "delivering"
	JobDelivered     JobState = "delivered"
	JobUpdating      JobState = "updating"
	JobVerifying     JobState = "verifying"
	JobSucceeded     JobState = "succeeded"
	JobFailed        JobState = "failed"
	JobCancelled     JobState = "cancelled"
)

// JobStates lists every state in pipeline order.
var JobStates = []JobState{JobQueued, JobWaitingDevice, JobDelivering, JobDelivered, JobUpdating, JobVerifying, JobSucceeded, JobFailed, JobCancelled}

// Terminal reports whether s ends the job.
func (s JobState) Terminal() bool { return s == JobSucceeded || s == JobFailed || s == JobCancelled }

// Valid reports whether s is a known state.
func (s JobState) Valid() bool {
	for _, x := range JobStates {
		if x == s {
			return true
		}
	}
	return false
}

var forward = map[JobState][]JobState{
	JobQueued:        {JobWaitingDevice, JobDelivering},
	JobWaitingDevice: {JobDelivering, JobUpdating, JobQueued},
	JobDelivering:    {JobDelivered, JobUpdating, JobQueued, JobWaitingDevice},
	JobDelivered:     {JobUpdating, JobVerifying, JobWaitingDevice},
	JobUpdating:      {JobVerifying, JobSucceeded, JobQueued},
	JobVerifying:     {JobSucceeded},
}

// CanTransition reports whether a job may move from one state to another:
// along the pipeline, back to queued for a retry, or to failed or
// cancelled from any non-terminal state.
func CanTransition(from, to JobState) bool {
	if from.Terminal() || !to.Valid() {
		return false
	}
	if to == JobFailed || to == JobCancelled {
		return true
	}
	for _, s := range forward[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Operation is what a job asks of the device (the FUMO Exec node).
type Operation string

const (
	OpDownload          Operation = "download"
	OpUpdate            Operation = "update"
	OpDownloadAndUpdate Operation = "download_and_update"
)

// Delivery is how the package reaches the device.
type Delivery string

const (
	DeliveryPull Delivery = "pull" // the device fetches a URL
	DeliveryPush Delivery = "push" // the gateway writes the bytes
)

// Reason is the unified outcome of a finished job.
type Reason string

const (
	ReasonNone               Reason = ""
	ReasonIntegrity          Reason = "integrity"
	ReasonOutOfStorage       Reason = "out_of_storage"
	ReasonNetwork            Reason = "network"
	ReasonBadURI             Reason = "bad_uri"
	ReasonUnsupportedPackage Reason = "unsupported_package"
	ReasonUpdateFailed       Reason = "update_failed"
	ReasonCancelled          Reason = "cancelled"
	ReasonTimeout            Reason = "timeout"
	ReasonAuth               Reason = "auth"
	ReasonUnknown            Reason = "unknown"
	// ReasonUnsupported: the device cannot run the job at all (a DM
	// device without a FUMO object).
	ReasonUnsupported Reason = "unsupported"
	// ReasonNoProgress: the device took the package but showed no progress
	// in the time its size allows (an LwM2M device stuck Downloading).
	ReasonNoProgress Reason = "no_progress"
)

// NativeCode is a protocol's own result: a FUMO result code (protocol dm)
// or an LwM2M Update Result. A failed LwM2M job records both its Update
// Result and the FUMO code it maps to.
type NativeCode struct {
	Protocol Protocol `json:"protocol"`
	Code     int      `json:"code"`
}

// Transition is one entry of a job's history.
type Transition struct {
	From JobState  `json:"from"`
	To   JobState  `json:"to"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

// Job updates one device with one package.
type Job struct {
	ID           string       `json:"id"`
	DeviceID     string       `json:"device_id"`
	PackageID    string       `json:"package_id"`
	CampaignID   string       `json:"campaign_id,omitempty"`
	Operation    Operation    `json:"operation"`
	Delivery     Delivery     `json:"delivery"`
	State        JobState     `json:"state"`
	Attempts     int          `json:"attempts"`
	Deadline     time.Time    `json:"deadline,omitzero"`
	StepDeadline time.Time    `json:"step_deadline,omitzero"`
	Reason       Reason       `json:"reason,omitempty"`
	Native       []NativeCode `json:"native,omitempty"`
	// Verify, when set, says whether the device's firmware version is
	// checked after a successful update; unset takes the package's
	// setting (see VerifyVersion).
	Verify *bool `json:"verify,omitempty"`
	// StateReads counts the reads of the device's state the job made to
	// learn what became of it (a result alert overdue, an Exec the device
	// never answered).
	StateReads int          `json:"state_reads,omitempty"`
	Created    time.Time    `json:"created"`
	Updated    time.Time    `json:"updated"`
	History    []Transition `json:"history,omitempty"`
}

// Validate checks a job record.
func (j *Job) Validate() error {
	if err := validID("job id", j.ID); err != nil {
		return err
	}
	if err := validID("job device id", j.DeviceID); err != nil {
		return err
	}
	if err := validID("job package id", j.PackageID); err != nil {
		return err
	}
	switch j.Operation {
	case OpDownload, OpUpdate, OpDownloadAndUpdate:
	default:
		return invalid("job %s: operation %q", j.ID, j.Operation)
	}
	switch j.Delivery {
	case DeliveryPull, DeliveryPush:
	default:
		return invalid("job %s: delivery %q", j.ID, j.Delivery)
	}
	if !j.State.Valid() {
		return invalid("job %s: state %q", j.ID, j.State)
	}
	if j.Attempts < 0 {
		return invalid("job %s: negative attempts", j.ID)
	}
	if j.State == JobFailed && j.Reason == ReasonNone {
		return invalid("job %s: a failed job needs a reason", j.ID)
	}
	if strings.ContainsRune(string(j.Reason), ' ') {
		return invalid("job %s: reason %q", j.ID, j.Reason)
	}
	return nil
}
