package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/fumo-gw/fumo-gw/dm/fumo"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// Target runs FUMO-shaped work on devices of one protocol. A job's work is
// the FUMO sequence: Replace <x>/Download/PkgURL or
// <x>/DownloadAndUpdate/PkgURL (pull) or <x>/Update/PkgData (push), then
// Exec the job's operation; the device's results come back as Reports, as
// a DM device's Generic Alert 1226 does. DMTarget sends those commands;
// LwM2MTarget translates them into Object 5 operations (Write /5/0/1 or
// /5/0/0, wait for State 2, Execute /5/0/2) and synthesises the reports
// from State and Update Result with the mapping tables.
type Target interface {
	Protocol() fleet.Protocol
	// Check tells whether a job with this package and delivery can run on
	// the device (errors wrap ErrCannotDeliver).
	Check(ctx context.Context, dev fleet.Device, pkg fleet.Package, delivery fleet.Delivery) error
	// Run starts a queued job (its first step is committed before any
	// command leaves).
	Run(ctx context.Context, jobID string) error
	// State is Get <x>/State: the device's FUMO state now (LwM2M: read
	// /5/0/3 and /5/0/5, mapped), waiting for a DM device's next session
	// at most until ctx ends.
	State(ctx context.Context, dev fleet.Device) (DeviceState, error)
	// Stop ends (cancelled, or failed with reason) or rewinds (queued,
	// from notBefore) a job the gateway gives up on; without force a job
	// the device is acting on is refused with fleet.ErrStale.
	Stop(ctx context.Context, jobID string, to fleet.JobState, reason fleet.Reason, note string, force bool, notBefore time.Time) error
	// Resume continues every unfinished job of this protocol after a
	// restart.
	Resume(ctx context.Context) error
	// OnReport sets where reports go; the bridge calls it once, before
	// anything runs.
	OnReport(func(context.Context, Report))
}

// Watcher is a Target that looks at its jobs now and then, beyond the
// bridge's step timeouts (a DM device's result alert overdue); the bridge
// calls Watch every tick.
type Watcher interface {
	Watch(ctx context.Context, now time.Time)
}

// DeviceState is a device's FUMO state, with the protocol's own values.
type DeviceState struct {
	FUMO fumo.State `json:"fumo_state"`
	// Object5State and Object5Result are /5/0/3 and /5/0/5 (LwM2M only).
	Object5State  int `json:"object5_state,omitempty"`
	Object5Result int `json:"object5_result,omitempty"`
}

// Report is what a device's progress or result means to the pipeline, in
// the shape of a FUMO Generic Alert whatever the protocol: the job's
// unified state, the FUMO state and result code, and the native code the
// device sent (a FUMO result code, or an Object 5 Update Result).
type Report struct {
	JobID    string         `json:"job_id,omitempty"` // empty for device events
	DeviceID string         `json:"device_id,omitempty"`
	Protocol fleet.Protocol `json:"protocol,omitempty"`
	Job      fleet.JobState `json:"job_state,omitempty"`
	Reason   fleet.Reason   `json:"reason,omitempty"`
	// FUMOState is 0 when the device did not say (a DM device reports
	// only results).
	FUMOState  fumo.State        `json:"fumo_state,omitempty"`
	FUMOResult fumo.ResultCode   `json:"fumo_result,omitempty"` // 0 before a final result
	Native     *fleet.NativeCode `json:"native,omitempty"`
	Note       string            `json:"note,omitempty"`
	Bytes      int64             `json:"bytes,omitempty"` // push progress
	// DeviceEvent names an event about the device rather than a job
	// ("registered", "updated", "alert" for an alert that matches no
	// job, ...).
	DeviceEvent string `json:"device_event,omitempty"`
}

// ErrCannotDeliver: the device cannot take this package this way (wrong
// protocol, no Firmware Update object, no URI scheme both ends share).
var ErrCannotDeliver = errors.New("bridge: the device cannot take this package")
