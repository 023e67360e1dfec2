package fleet

import (
	"encoding/json"
	"fmt"
	"strings"
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
	// SessionToken tells that session apart from an earlier one with the
	// same SessionID (devices that always send SessionID 1).
	SessionToken string `json:"session_token,omitempty"`
	Attempts     int    `json:"attempts,omitempty"` // sessions it was sent in
	// AtMostOnce marks a command the device may act on without the
	// gateway hearing of it (a FUMO Exec): once sent, it is never sent
	// again; when its session ends without its Status it finishes failed
	// with an error starting with UnansweredPrefix, and its owner decides
	// (a FUMO driver reads the device's state first).
	AtMostOnce bool `json:"at_most_once,omitempty"`
	// Outcome is the device's answer (dm encodes it as JSON).
	Outcome json.RawMessage `json:"outcome,omitempty"`
	Error   string          `json:"error,omitempty"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
}

// UnansweredPrefix starts the Error of an AtMostOnce command whose session
// ended without its Status.
const UnansweredPrefix = "unanswered: "

// Unanswered reports whether c is an AtMostOnce command that finished
// without the device's answer.
func (c *DMCommand) Unanswered() bool {
	return c.State == DMCommandFailed && strings.HasPrefix(c.Error, UnansweredPrefix)
}

// SentIn reports whether c was last sent in the session ss (told apart
// from an earlier session with the same SessionID by its token).
func (c *DMCommand) SentIn(ss DMSession) bool {
	if c.SessionToken != "" {
		return c.SessionToken == ss.Token
	}
	return c.SessionID == ss.SessionID // stored before tokens were kept
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
	Authenticated bool `json:"authenticated,omitempty"`
	// Source is the address (IP) the session's last message came from: a
	// package 1 that reuses the SessionID of a session still open is
	// taken as a new session only from the same source.
	Source string `json:"source,omitempty"`
	// The last client message taken (its MsgID and SHA-256) and the reply
	// sent to it, stored before it was sent: a retransmission of that
	// message (a client that lost the reply) gets the same bytes again.
	LastMsgID     string    `json:"last_msg_id,omitempty"`
	LastBodySum   []byte    `json:"last_body_sum,omitempty"`
	LastReply     []byte    `json:"last_reply,omitempty"`
	LastReplyType string    `json:"last_reply_type,omitempty"` // HTTP Content-Type
	LastReplyHMAC string    `json:"last_reply_hmac,omitempty"` // x-syncml-hmac of the reply
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
	// Resent are commands sent again in the same session (the device
	// refused the server's credentials and ran none of them).
	Resent []string
	// Enrol, when set, is a device to create first (auto-enrolment, once
	// the device has authenticated); Session.DeviceID is its id.
	Enrol *Device
	// Device, when set, changes the device record (nonces, DevInfo).
	Device func(*Device) error
}

// DMWork is what a job's step does to its device's DM queue, committed in
// the same transaction as the step: commands to queue (one whose id
// exists is skipped, so that a driver repeating itself queues once) and
// unfinished commands to withdraw: by id, and every one whose id starts
// with WithdrawPrefix (a job's commands are named after it). Withdrawn
// commands end failed with "withdrawn: Why"; one already sent is refused
// with ErrStale unless Force. A command of Guard that was sent or
// answered refuses the whole step with ErrStale (the device may be acting
// on it).
type DMWork struct {
	Enqueue        []DMCommand
	Withdraw       []string
	WithdrawPrefix string
	Guard          []string
	Why            string
	Force          bool
}
