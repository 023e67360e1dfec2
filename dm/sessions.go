package dm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// How the server matches a client message to a session (DM 1.2 leaves
// the SessionID to the client, and real clients reuse it: libdmclient
// always sends 1, others restart their counter after a reboot):
//
//   - A message to a RespURI belongs to the session of its token.
//   - A message to the endpoint belongs to the device's session with its
//     SessionID, unless it is a package 1 (MsgID 1) that does not repeat
//     that session's last message: then it starts a new session with the
//     same SessionID when the stored one has ended, has been idle longer
//     than Config.SessionTimeout, or comes from the same address (the
//     client started over); from another address it is refused while the
//     stored session is open.
//   - A message that repeats the session's last message (same MsgID,
//     same bytes: a client that lost the reply) gets the stored reply
//     again, and nothing changes. A package 1 that repeats the last
//     message of a session that ended with it is a new session (a client
//     that always sends the same package 1 with the same SessionID).
//   - A different message under a MsgID already taken is refused (400).

// refusedError is a message the server answers with a Status on its
// SyncHdr and nothing else.
type refusedError struct {
	code   int
	reason string
}

func (e *refusedError) Error() string { return fmt.Sprintf("dm: %d: %s", e.code, e.reason) }

// device finds the message's device; an unknown one, with auto-enrolment
// on, is made up (not stored: enrolling) with the enrolment credentials.
// An unknown device otherwise gives an error wrapping fleet.ErrNotFound.
func (s *Server) device(ctx context.Context, msg *syncml.Message) (fleet.Device, bool, error) {
	dmID := msg.Header.Source.LocURI
	dev, err := s.cfg.Store.DeviceByDMID(ctx, dmID)
	if !errors.Is(err, fleet.ErrNotFound) {
		return dev, false, err
	}
	a := s.cfg.AutoEnrol
	if a == nil {
		return fleet.Device{}, false, fmt.Errorf("dm: device %q: %w", dmID, fleet.ErrNotFound)
	}
	user := msg.Header.Source.LocName
	if user == "" && a.Auth == fleet.DMAuthBasic && msg.Header.Cred != nil {
		// Basic carries the user name in the credential itself.
		if u, _, err := syncml.ParseBasicCredential(msg.Header.Cred.Data); err == nil {
			user = u
		}
	}
	if user == "" {
		user = dmID
	}
	id, err := randomHex(8)
	if err != nil {
		return fleet.Device{}, false, err
	}
	return fleet.Device{ID: "dm-" + id, Protocol: fleet.ProtocolDM, DM: &fleet.DMInfo{
		DeviceID: dmID, FUMORoot: a.FUMORoot, Auth: a.Auth, Username: user, Password: a.Password,
		ServerID: a.ServerID, ServerPassword: a.ServerPassword,
	}}, true, nil
}

// findSession sets m's session: the stored one it belongs to, or a new
// one (see the rules above). A refusal is a *refusedError.
func (s *Server) findSession(ctx context.Context, m *message) error {
	sid := m.msg.Header.SessionID
	if m.token != "" {
		ss, err := s.cfg.Store.DMSessionByToken(ctx, m.token)
		if errors.Is(err, fleet.ErrNotFound) {
			return &httpError{http.StatusNotFound, "dm: no such session"}
		}
		if err != nil {
			return err
		}
		if ss.DeviceID != m.dev.ID || ss.SessionID != sid {
			return &httpError{http.StatusForbidden, "dm: the message does not belong to this session"}
		}
		return s.takeStored(m, ss)
	}
	if !m.enrolling {
		ss, err := s.cfg.Store.DMSession(ctx, m.dev.ID, sid)
		switch {
		case err == nil:
			return s.takeStored(m, ss)
		case !errors.Is(err, fleet.ErrNotFound):
			return err
		}
	}
	return s.newSession(m)
}

// takeStored matches m to the stored session ss, or starts a new one
// under the same SessionID.
func (s *Server) takeStored(m *message, ss fleet.DMSession) error {
	var state Session
	if err := json.Unmarshal(ss.State, &state); err != nil {
		return fmt.Errorf("dm: stored session %s/%s: %w", ss.DeviceID, ss.SessionID, err)
	}
	repeat := ss.LastMsgID == m.msg.Header.MsgID && bytes.Equal(ss.LastBodySum, m.sum[:]) && ss.LastReply != nil
	pkg1 := m.token == "" && m.msg.Header.MsgID == "1"
	switch {
	case repeat && !(pkg1 && state.Ended):
		m.sess, m.state, m.stored, m.retransmission = ss, state, true, true
		return nil
	case pkg1 && (state.Ended || s.idle(ss) || ss.Source == m.source):
		return s.newSession(m)
	case pkg1:
		return &refusedError{400, fmt.Sprintf("session %s is open from another address", ss.SessionID)}
	}
	if state.Encoding != m.enc {
		return &refusedError{400, "encoding changed inside the session"}
	}
	// A message after one that failed authentication (not stored: an
	// HMAC device answering a challenge) follows the unstored state; only
	// a message that fits its MsgIDs does, so that a forged message cannot
	// put the device's own next message out of sequence.
	if p := s.pending.session(m.dev.DM.DeviceID, ss.SessionID); p != nil && p.Encoding == m.enc &&
		!fitsMsgID(state, m.msg.Header.MsgID) && fitsMsgID(*p, m.msg.Header.MsgID) {
		state = *p
	}
	m.sess, m.state, m.stored = ss, state, true
	return nil
}

// fitsMsgID reports whether msgID is the next client MsgID of state.
func fitsMsgID(state Session, msgID string) bool {
	n, err := strconv.Atoi(msgID)
	return err == nil && n == state.ClientMsgID+1
}

// idle reports whether a stored session has seen no message for longer
// than the session timeout (its client is gone).
func (s *Server) idle(ss fleet.DMSession) bool {
	return !ss.Updated.IsZero() && s.cfg.Now().Sub(ss.Updated) > s.cfg.SessionTimeout
}

// newSession starts a session for m with a fresh RespURI token; a
// session not stored yet (its messages did not authenticate) goes on from
// its state in memory.
func (s *Server) newSession(m *message) error {
	t, err := randomHex(16)
	if err != nil {
		return err
	}
	sid := m.msg.Header.SessionID
	m.sess = fleet.DMSession{DeviceID: m.dev.ID, SessionID: sid, Token: t}
	m.state = Session{DeviceID: m.dev.ID, SessionID: sid, Encoding: m.enc}
	if st := s.pending.session(m.dev.DM.DeviceID, sid); st != nil && st.Encoding == m.enc && fitsMsgID(*st, m.msg.Header.MsgID) {
		m.state = *st
		m.state.DeviceID = m.dev.ID
	}
	m.stored = false
	return nil
}

// queue returns the device's unfinished commands for the session ss, and
// the stored commands to finish now: those that no longer decode, and the
// at-most-once ones an earlier session sent and never had answered (the
// device may have acted on them: their owner decides what next).
func (s *Server) queue(ctx context.Context, deviceID string, ss fleet.DMSession) ([]QueuedCommand, []fleet.DMCommand, error) {
	cmds, err := s.cfg.Store.DMCommands(ctx, deviceID)
	if err != nil {
		return nil, nil, fmt.Errorf("dm: reading the queue of %s: %w", deviceID, err)
	}
	var q []QueuedCommand
	var finish []fleet.DMCommand
	for _, c := range cmds {
		here := c.State == fleet.DMCommandSent && c.SentIn(ss)
		if c.State == fleet.DMCommandSent && !here && c.AtMostOnce {
			finish = append(finish, fleet.DMCommand{ID: c.ID, State: fleet.DMCommandFailed,
				Error: fmt.Sprintf("%ssent in session %s, which ended without its status", fleet.UnansweredPrefix, c.SessionID)})
			continue
		}
		cmd, err := DecodeCommand(c.Command)
		if err != nil {
			finish = append(finish, fleet.DMCommand{ID: c.ID, State: fleet.DMCommandFailed, Error: err.Error()})
			continue
		}
		q = append(q, QueuedCommand{ID: c.ID, Command: cmd, Blob: c.Blob, BlobSize: c.BlobSize, AtMostOnce: c.AtMostOnce, SentHere: here})
	}
	return q, finish, nil
}

// authOf is what the session engine needs of a device's credentials both
// ways.
func authOf(d *fleet.Device) (ClientAuth, ServerAuth, error) {
	scheme, err := ParseAuthScheme(string(d.DM.Auth))
	if err != nil {
		return ClientAuth{}, ServerAuth{}, fmt.Errorf("dm: device %s: %w", d.ID, err)
	}
	c := ClientAuth{Scheme: scheme, Username: d.DM.Username, Password: string(d.DM.Password.Reveal()), Nonce: d.DM.ClientNonce}
	var srv ServerAuth
	if !d.DM.ServerPassword.Empty() {
		sscheme, err := ParseAuthScheme(string(d.DM.ServerAuthType()))
		if err != nil {
			return ClientAuth{}, ServerAuth{}, fmt.Errorf("dm: device %s: server auth: %w", d.ID, err)
		}
		srv = ServerAuth{Scheme: sscheme, ServerID: d.DM.ServerID, Password: string(d.DM.ServerPassword.Reveal()), Nonce: d.DM.ServerNonce}
	}
	return c, srv, nil
}

// sourceOf is the client's IP address.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// DefaultSessionTimeout is how long a session may go without a message
// before a package 1 with its SessionID from another address starts a new
// one (Config.SessionTimeout).
const DefaultSessionTimeout = 10 * time.Minute
