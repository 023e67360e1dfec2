package dm

import (
	"fmt"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// Session is what the server keeps of one DM session between two messages.
// It is plain data (JSON) so a store can persist it and a session survives a
// gateway restart between messages.
type Session struct {
	DeviceID  string          `json:"device_id"`
	SessionID string          `json:"session_id"`
	Encoding  syncml.Encoding `json:"encoding"`
	// ClientMsgID is the MsgID of the last client message processed (0
	// before the first); ServerMsgID that of the last server message.
	ClientMsgID int `json:"client_msg_id"`
	ServerMsgID int `json:"server_msg_id"`
	// CmdID is the last CmdID the server used in this session.
	CmdID int `json:"cmd_id"`
	// Authenticated: the device was accepted (212) for the whole session.
	Authenticated bool `json:"authenticated"`
	// Failures counts refused credentials.
	Failures int `json:"failures"`
	// ServerAccepted: the device answered the server's SyncHdr with 212, so
	// the server stops sending its Cred.
	ServerAccepted bool `json:"server_accepted"`
	// ServerScheme and ServerNonce are what the device's challenges in
	// this session asked of the server's credentials (0 and nil: the
	// device record's). They reach the device record only once the device
	// has authenticated, so that an unauthenticated message cannot change
	// what the server sends in other sessions.
	ServerScheme AuthScheme `json:"server_scheme,omitempty"`
	ServerNonce  []byte     `json:"server_nonce,omitempty"`
	// ServerRefusals counts the device's messages that refused the
	// server's credentials (401/407 on its SyncHdr); Resend are the queue
	// entries of those messages, which the device did not run, to send
	// again with corrected credentials.
	ServerRefusals int      `json:"server_refusals,omitempty"`
	Resend         []string `json:"resend,omitempty"`
	// MaxMsgSize is the client's limit for server messages (0: none given).
	MaxMsgSize int64 `json:"max_msg_size,omitempty"`
	// Inflight are the commands sent and not yet answered with a Status.
	Inflight []Inflight `json:"inflight,omitempty"`
	// Partial holds the answers gathered so far for queue entries that
	// are not complete yet.
	Partial []Outcome `json:"partial,omitempty"`
	// MaxObjSize is the client's limit for one object (0: none given).
	MaxObjSize int64 `json:"max_obj_size,omitempty"`
	// LargeOut is the server's large object being sent in chunks;
	// LargeIn the client's being received.
	LargeOut *LargeOut `json:"large_out,omitempty"`
	LargeIn  *LargeIn  `json:"large_in,omitempty"`
	// Ended: the session is over; a new message needs a new SessionID.
	Ended bool `json:"ended"`
}

// Inflight is one command the server sent and awaits an answer for.
type Inflight struct {
	EntryID string `json:"entry_id"` // the queue entry it belongs to
	MsgID   int    `json:"msg_id"`
	CmdID   string `json:"cmd_id"`
	Cmd     string `json:"cmd"`
	// Once: the entry is sent at most once (QueuedCommand.AtMostOnce).
	Once bool `json:"once,omitempty"`
}

// QueuedCommand is a management command waiting for its device. Command has
// no CmdID: the session numbers it when it is sent.
type QueuedCommand struct {
	ID      string
	Command syncml.Command
	// Blob, when set, holds the Data of the command's only Item: BlobSize
	// bytes read through StepInput.ReadBlob, sent as a large object when
	// they do not fit one message.
	Blob     string
	BlobSize int64
	// AtMostOnce: the device may act on the command without the server
	// hearing of it (a FUMO Exec); when the device's package ends without
	// its Status it is not queued again but reported Lost.
	AtMostOnce bool
	// SentHere: the command is in flight in this session already; it is
	// sent again only when the device refused the server's credentials
	// on the message that carried it.
	SentHere bool
}

// Outcome is what the device answered to one queued command: the Status of
// the command (and of each command inside a Sequence or Atomic), and the
// Results items of Gets.
type Outcome struct {
	EntryID  string          `json:"entry_id"`
	CmdID    string          `json:"cmd_id"` // CmdID of the outer command
	Statuses []CommandStatus `json:"statuses"`
	Results  []syncml.Item   `json:"results,omitempty"`
}

// CommandStatus is the Status of one sent command.
type CommandStatus struct {
	CmdID string        `json:"cmd_id"`
	Cmd   string        `json:"cmd"`
	Code  int           `json:"code"`
	Items []syncml.Item `json:"items,omitempty"`
}

// Code is the status of the outer command, 0 if none arrived.
func (o Outcome) Code() int {
	for _, s := range o.Statuses {
		if s.CmdID == o.CmdID {
			return s.Code
		}
	}
	return 0
}

func (s *Session) nextCmdID() string {
	s.CmdID++
	return fmt.Sprint(s.CmdID)
}

// clone copies the slices of s, so that Step never writes into its input.
func (s Session) clone() Session {
	s.Inflight = append([]Inflight(nil), s.Inflight...)
	s.Resend = append([]string(nil), s.Resend...)
	s.ServerNonce = append([]byte(nil), s.ServerNonce...)
	if len(s.ServerNonce) == 0 {
		s.ServerNonce = nil
	}
	partial := make([]Outcome, len(s.Partial))
	for i, o := range s.Partial {
		o.Statuses = append([]CommandStatus(nil), o.Statuses...)
		o.Results = append([]syncml.Item(nil), o.Results...)
		partial[i] = o
	}
	s.Partial = partial
	if s.LargeOut != nil {
		lo := *s.LargeOut
		s.LargeOut = &lo
	}
	if s.LargeIn != nil {
		li := *s.LargeIn
		li.Data = append([]byte(nil), li.Data...)
		s.LargeIn = &li
	}
	return s
}
