package dm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// DM alert codes the engine acts on.
const (
	AlertServerInitiated = 1200
	AlertClientInitiated = 1201
	AlertNextMessage     = 1222
	AlertSessionAbort    = 1223
	AlertClientEvent     = 1224
	AlertGeneric         = 1226
)

// Step errors: the message is refused as a whole and nothing changes.
var (
	// ErrMsgID: the MsgID does not follow the session's last one (a
	// replayed or out-of-order message).
	ErrMsgID = errors.New("dm: message id out of sequence")
	// ErrSessionEnded: the session is over.
	ErrSessionEnded = errors.New("dm: session already ended")
)

// StepInput is everything the engine needs to answer one client message.
type StepInput struct {
	Msg     *syncml.Message
	Body    []byte // the exact body, for HMAC
	HMAC    string // the x-syncml-hmac header
	Session Session
	Client  ClientAuth
	Server  ServerAuth // Scheme 0: the server sends no credentials
	// Queue holds the device's commands not sent yet, oldest first.
	Queue []QueuedCommand
	// LoadQueue, when set, replaces Queue: it is called once the client's
	// commands are processed, so that commands queued by an alert handler
	// during this message go out in its reply.
	LoadQueue func() ([]QueuedCommand, error)
	// RespURI, when set, goes into every server SyncHdr.
	RespURI string
	// Alert decides the status of a client alert the engine does not
	// handle itself (1224, 1226, ...): 200 or 202 when taken, 415 when its
	// type or format is unknown. nil answers 200.
	Alert func(a *syncml.Alert) int
	// Nonce supplies fresh nonces (NewNonce in production).
	Nonce func() ([]byte, error)
	// ReadBlob reads n bytes at off of a queued command's blob.
	ReadBlob func(ref string, off int64, n int) ([]byte, error)
	// MaxMsgSize and MaxObjSize are the server's own limits, announced in
	// its SyncHdr Meta when set; MaxObjSize bounds a client's large object
	// (DefaultMaxObjSize when 0).
	MaxMsgSize, MaxObjSize int64
}

// StepOutput is the answer and what to store before sending it.
type StepOutput struct {
	Reply   *syncml.Message
	Session Session
	// Nonce is the device's new nonce, ServerNonce the one the device gave
	// for the server's credentials and ServerScheme the type of server
	// credentials it asked for (nil and 0 keep the stored ones). The
	// server ones are set only once the device has authenticated.
	Nonce        []byte
	ServerNonce  []byte
	ServerScheme AuthScheme
	// Server is the server's identity as the reply presents it (HMAC
	// servers sign the reply with it).
	Server ServerAuth
	// DevInfo are ./DevInfo values the device reported (node -> value).
	DevInfo map[string]string
	// Sent are queue entries now in the reply; Done the entries fully
	// answered; Unanswered the entries the device's final package left
	// without a status (to queue again); TooLarge the entries that cannot
	// fit the device's MaxMsgSize.
	Sent, Unanswered, TooLarge []string
	Done                       []Outcome
	// Resent are entries sent again in this session (the device refused
	// the server's credentials on the message that carried them).
	Resent []string
	// Lost are AtMostOnce entries the device's final package left
	// without a Status: the device may have acted on them; they are not
	// sent again.
	Lost []string
	// Idle: the session ended because the server had nothing more to
	// send (not an abort or a refusal), so commands queued once this
	// step is stored may still go in the reply (Continue).
	Idle bool
	// Auth is the authentication decision, for logs and metrics.
	Auth AuthDecision
}

// Step answers one client message. It has no side effects besides calling
// in.Alert and in.Nonce: the caller stores StepOutput, then sends Reply.
func Step(in StepInput) (StepOutput, error) {
	s := in.Session.clone()
	if s.Ended {
		return StepOutput{}, ErrSessionEnded
	}
	msgID, err := strconv.Atoi(in.Msg.Header.MsgID)
	if err != nil || msgID < 1 || s.ClientMsgID > 0 && msgID != s.ClientMsgID+1 {
		return StepOutput{}, fmt.Errorf("%w: got %q after %d", ErrMsgID, in.Msg.Header.MsgID, s.ClientMsgID)
	}
	s.ClientMsgID = msgID
	s.ServerMsgID++
	s.CmdID = 0
	if m := in.Msg.Header.Meta; m != nil {
		if m.MaxMsgSize > 0 {
			s.MaxMsgSize = m.MaxMsgSize
		}
		if m.MaxObjSize > 0 {
			s.MaxObjSize = m.MaxObjSize
		}
	}
	out := StepOutput{}
	r := newReply(&s, in)

	d, err := Authenticate(in.Client, AuthRequest{
		Header: &in.Msg.Header, HMAC: in.HMAC, Body: in.Body,
		Authenticated: s.Authenticated, Failures: s.Failures,
	}, in.Nonce)
	if err != nil {
		return StepOutput{}, err
	}
	out.Auth, out.Nonce = d, d.Nonce
	r.status("0", "SyncHdr", d.Status, d.Chal, true)
	// What the device says of the server's credentials counts even when
	// its own fail: the server's next Cred must be one it accepts.
	for _, c := range in.Msg.Body.Commands {
		if st, ok := c.(*syncml.Status); ok && isHeaderStatus(st) {
			r.serverStatus(st)
		}
	}
	out.Server = r.srv
	if !d.Accepted {
		if d.Failed {
			s.Failures++
		}
		for _, c := range in.Msg.Body.Commands {
			switch c.(type) {
			case *syncml.Status, *syncml.Results:
			default:
				r.status(c.CommandID(), c.CommandName(), d.Status, nil, false)
			}
		}
		r.msg.Body.Final = true
		s.Ended = d.Refused
		out.Reply, out.Session = r.msg, s
		return out, nil
	}
	if d.Status == 212 {
		s.Authenticated = true
	}

	wantsMore := false
	for _, c := range in.Msg.Body.Commands {
		if li := s.LargeIn; li != nil {
			// Only the next chunk of the client's object may come now.
			if res, ok := c.(*syncml.Results); !ok || len(res.Items) == 0 || itemURI(res.Items[0]) != li.LocURI {
				if _, isStatus := c.(*syncml.Status); !isStatus {
					r.abandonLargeIn()
				}
			}
		}
		switch c := c.(type) {
		case *syncml.Status:
			r.takeStatus(c)
		case *syncml.Results:
			r.takeResults(c)
		case *syncml.Alert:
			code := 200
			switch c.Code {
			case AlertServerInitiated, AlertClientInitiated:
			case AlertNextMessage:
				wantsMore = true
			case AlertSessionAbort:
				s.Ended = true
			default:
				if in.Alert != nil {
					code = in.Alert(c)
				}
			}
			r.status(c.CmdID, "Alert", code, nil, false)
		case *syncml.Replace:
			code := 200
			for _, it := range c.Items {
				if it.Source == nil || !strings.HasPrefix(it.Source.LocURI, "./DevInfo/") {
					code = 405
					break
				}
			}
			if code == 200 {
				if out.DevInfo == nil {
					out.DevInfo = map[string]string{}
				}
				for _, it := range c.Items {
					out.DevInfo[it.Source.LocURI] = string(it.Data)
				}
			}
			r.status(c.CmdID, "Replace", code, nil, false)
		case *syncml.Unknown:
			r.status(c.CmdID, c.Tag, 406, nil, false)
		default:
			// "The client MUST NOT send any commands other than Replace
			// with DevInfo, Results and Alert."
			r.status(c.CommandID(), c.CommandName(), 405, nil, false)
		}
	}
	if in.Msg.Body.Final {
		r.abandonLargeIn() // a final message ends the client's object
	}
	r.takeRefusal(&out)
	out.Done = r.complete()

	switch {
	case s.Ended: // 1223: the device aborted; answer and forget
		r.msg.Body.Final = true
	case !in.Msg.Body.Final && !wantsMore:
		// The device's package goes on: ask for its next message.
		r.alert(AlertNextMessage)
	default:
		// The device has answered everything it will answer to earlier
		// commands; what is still in flight goes back to the queue.
		if lo := s.LargeOut; lo != nil && r.find(strconv.Itoa(lo.MsgID), lo.CmdID) >= 0 {
			s.LargeOut = nil // its chunk went unanswered: the object starts again later
		}
		for _, f := range s.Inflight {
			lost := f.Once && !contains(out.Lost, f.EntryID)
			switch {
			case lost:
				out.Lost = append(out.Lost, f.EntryID)
			case !f.Once && !contains(out.Unanswered, f.EntryID):
				out.Unanswered = append(out.Unanswered, f.EntryID)
			}
		}
		s.Inflight, s.Partial = nil, nil
		if err := r.sendQueued(&out); err != nil {
			return StepOutput{}, err
		}
		if len(out.Sent) == 0 && len(out.Resent) == 0 && !r.sentChunk {
			// Nothing more to say: statuses and Final end the session.
			s.Ended, out.Idle = true, true
			r.msg.Body.Final = true
		} else {
			r.msg.Body.Final = r.allSent
		}
	}
	if d.Accepted {
		out.ServerNonce, out.ServerScheme = s.ServerNonce, s.ServerScheme
	}
	out.Reply, out.Session = r.msg, s
	return out, nil
}

// sendQueued adds the device's queued commands to the reply: those not
// sent yet, and those to send again (Session.Resend), unless the device
// refused the server too often.
func (r *reply) sendQueued(out *StepOutput) error {
	if r.gaveUpOnServerAuth() {
		r.allSent = true
		return nil
	}
	queue := r.in.Queue
	if r.in.LoadQueue != nil {
		var err error
		if queue, err = r.in.LoadQueue(); err != nil {
			return err
		}
	}
	resend := r.s.Resend
	r.s.Resend = nil
	var todo []QueuedCommand
	for _, q := range queue {
		if q.SentHere && !contains(resend, q.ID) {
			continue // in flight in this session
		}
		todo = append(todo, q)
	}
	if err := r.addQueued(todo, out); err != nil {
		return err
	}
	sent := out.Sent[:0]
	for _, id := range out.Sent {
		if contains(resend, id) {
			out.Resent = append(out.Resent, id)
		} else {
			sent = append(sent, id)
		}
	}
	out.Sent = sent
	// Entries that did not fit wait for the next message.
	for _, q := range todo {
		if contains(resend, q.ID) && !contains(out.Resent, q.ID) && !contains(out.TooLarge, q.ID) {
			r.s.Resend = append(r.s.Resend, q.ID)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Continue extends the reply of a step that ended the session for want of
// anything to send (prev.Idle) with the commands queued since: typically
// by result handlers that acted on the step's outcomes once the step was
// stored (a read whose answer decides the next command). The session goes
// on in the same reply; ok is false, and nothing changes, when there is
// still nothing to send. in is the step's input (LoadQueue is called
// again); the output's Sent and Resent are the entries added.
func Continue(in StepInput, prev StepOutput) (out StepOutput, ok bool, err error) {
	if !prev.Idle || prev.Reply == nil {
		return prev, false, nil
	}
	s := prev.Session.clone()
	s.Ended = false
	msg := *prev.Reply
	msg.Body.Commands = append([]syncml.Command(nil), prev.Reply.Body.Commands...)
	msg.Body.Final = false
	r := &reply{s: &s, in: in, msg: &msg, srv: prev.Server, answered: map[string]Inflight{}}
	out = StepOutput{Reply: &msg, Server: prev.Server, Auth: prev.Auth}
	if err := r.sendQueued(&out); err != nil {
		return prev, false, err
	}
	if len(out.Sent) == 0 && len(out.Resent) == 0 && !r.sentChunk {
		return prev, false, nil
	}
	msg.Body.Final = r.allSent
	out.Session = s
	return out, true, nil
}
