package fleet

import (
	"encoding/json"
	"fmt"
	"time"
)

// DMCommandState is where a queued DM command is.
type DMCommandState string

const (
	// DMCommandPending: waiting for the device's next session.
	DMCommandPending DMCommandState = "pending"
	// DMCommandSent: sent in session SessionID, no complete answer yet.
	DMCommandSent DMCommandState = "sent"
	// DMCommandDone: the device answered; Outcome holds its statuses and
	// results.
	DMCommandDone DMCommandState = "done"
	// DMCommandFailed: the gateway could not deliver it (Error says why).
	DMCommandFailed DMCommandState = "failed"
)

// Terminal reports whether the command will not change any more.
func (s DMCommandState) Terminal() bool { return s == DMCommandDone || s == DMCommandFailed }

// DMCommand is one management command queued for a DM device. The command
// itself is opaque here: the dm package encodes and decodes it.
type DMCommand struct {
	ID       string `json:"id"`
	DeviceID string `json:"device_id"`
	// Seq orders a device's queue; the store assigns it.
	Seq uint64 `json:"seq"`
	// Command is the encoded SyncML command (dm owns the encoding).
	Command []byte `json:"command"`
	// Blob names a stored package whose bytes are the Data of the
	// command's only Item; the DM server streams it as a large object.
	Blob      string         `json:"blob,omitempty"`
	BlobSize  int64          `json:"blob_size,omitempty"` // set by the store from the package
	State     DMCommandState `json:"state"`
	SessionID string         `json:"session_id,omitempty"` // the session it was last sent in
	Attempts  int            `json:"attempts,omitempty"`   // sessions it was sent in
	// Outcome is the device's answer (dm encodes it as JSON).
	Outcome json.RawMessage `json:"outcome,omitempty"`
	Error   string          `json:"error,omitempty"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
}

// Validate checks what the store needs of a new command.
func (c *DMCommand) Validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("dm command: no id: %w", ErrInvalid)
	case c.DeviceID == "":
		return fmt.Errorf("dm command %s: no device: %w", c.ID, ErrInvalid)
	case len(c.Command) == 0:
		return fmt.Errorf("dm command %s: no command: %w", c.ID, ErrInvalid)
	}
	return nil
}

// DMSession is the stored state of one DM session between two messages.
type DMSession struct {
	DeviceID  string `json:"device_id"`
	SessionID string `json:"session_id"`
	// Token addresses the session in its RespURI.
	Token string `json:"token"`
	// State is the session engine's state (dm encodes it as JSON).
	State json.RawMessage `json:"state"`
	// Authenticated: the device proved who it is in this session. A
	// session that has not (a package 1 refused 401/407, which anyone
	// knowing the device id can send) does not end the device's
	// authenticated session.
	Authenticated bool      `json:"authenticated,omitempty"`
	Updated       time.Time `json:"updated"`
}

// DMStep is what one answered DM message changes, committed at once
// before the answer is sent.
type DMStep struct {
	Session DMSession
	// Sent are commands now sent in Session; Requeue commands to send
	// again in a later session; Finished commands with their final State
	// (done or failed), Outcome and Error.
	Sent     []string
	Requeue  []string
	Finished []DMCommand
	// Device, when set, changes the device record (nonces, DevInfo).
	Device func(*Device) error
}
