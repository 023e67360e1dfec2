package sim

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

type outChunk struct {
	cmd  *syncml.Results
	data []byte
	sent int
}

// dmSession is one session of a DMDevice, run under its sessMu.
type dmSession struct {
	d       *DMDevice
	opts    SessionOptions
	url     string
	msgID   int
	cmdID   int
	records int  // messages shown to Record so far
	authed  bool // the server accepted the device's credentials (212)
	// serverAccepted: a Cred of the server verified in this session, so
	// that its later messages may come without one.
	serverAccepted bool
	refusals       int  // server messages whose credentials failed
	lostReply      bool // LoseReply has been used in this session
	report         *SessionReport
	sentCmd        map[string]string // CmdID -> name of commands we sent in the last message
	// large objects
	inURI  string
	inData []byte
	inSize int64
	out    *outChunk
}

// loop exchanges messages with the server until the session ends.
func (s *dmSession) loop(ctx context.Context) error {
	msg := s.pkg1(!s.opts.NoCred, nil)
	for n := 0; ; n++ {
		if n > 10000 {
			return fmt.Errorf("%w: session does not end", ErrProtocol)
		}
		in, err := s.exchange(ctx, msg)
		if err != nil {
			return err
		}
		if s.dropped(in.msg) {
			return fmt.Errorf("%w: session %s, server message %s", ErrSessionDropped, s.opts.SessionID, in.msg.Header.MsgID)
		}
		trusted, err := s.checkServer(in)
		if err != nil {
			return err
		}
		if in.msg.Header.RespURI != "" {
			s.url = in.msg.Header.RespURI
		}
		next, done, err := s.answer(in.msg, trusted)
		if err != nil || done {
			return err
		}
		msg = next
	}
}

// dropped counts down DropOnExec for a server message that carries an
// Exec: the network loses the session there.
func (s *dmSession) dropped(in *syncml.Message) bool {
	if s.d.DropOnExec <= 0 || !hasExec(in.Body.Commands) {
		return false
	}
	s.d.DropOnExec--
	return true
}

// hasExec reports an Exec among cmds, inside Sequence and Atomic too.
func hasExec(cmds []syncml.Command) bool {
	for _, c := range cmds {
		switch c := c.(type) {
		case *syncml.Exec:
			return true
		case *syncml.Sequence:
			if hasExec(c.Commands) {
				return true
			}
		case *syncml.Atomic:
			if hasExec(c.Commands) {
				return true
			}
		}
	}
	return false
}

func (s *dmSession) nextCmd() string {
	s.cmdID++
	return strconv.Itoa(s.cmdID)
}

func (s *dmSession) header(cred bool) syncml.Header {
	s.msgID++
	s.cmdID = 0
	s.sentCmd = map[string]string{}
	h := syncml.Header{VerDTD: syncml.VerDTD, VerProto: syncml.VerProto, SessionID: s.opts.SessionID, MsgID: strconv.Itoa(s.msgID),
		Target: syncml.Location{LocURI: s.d.ServerURL}, Source: syncml.Location{LocURI: s.d.DevID}}
	if !s.d.NoLocName {
		h.Source.LocName = s.d.Username
	}
	if s.d.MaxMsgSize > 0 || s.d.MaxObjSize > 0 {
		h.Meta = &syncml.Meta{MaxMsgSize: s.d.MaxMsgSize, MaxObjSize: s.d.MaxObjSize}
	}
	if cred {
		h.Cred = s.d.cred()
	}
	return h
}

// credNeeded: the device sends its credentials until the server accepted
// them (HMAC devices authenticate every message in the HTTP header).
func (s *dmSession) credNeeded() bool {
	return s.opts.CredEveryMessage || !s.authed && s.d.Auth != "hmac"
}

func (s *dmSession) add(m *syncml.Message, c syncml.Command) {
	m.Body.Commands = append(m.Body.Commands, c)
	s.sentCmd[c.CommandID()] = c.CommandName()
	s.report.Commands = append(s.report.Commands, c.CommandName())
}

// pkg1 is package 1: session alert, DevInfo, extra alerts, Final. lead,
// when set, answers the server's SyncHdr first (a challenge of the
// server's credentials in a re-sent package 1).
func (s *dmSession) pkg1(cred bool, lead *syncml.Status) *syncml.Message {
	m := &syncml.Message{Header: s.header(cred)}
	if lead != nil {
		lead.CmdID = s.nextCmd()
		m.Body.Commands = append(m.Body.Commands, lead)
	}
	code := 1201
	if s.opts.ServerInitiated {
		code = 1200
	}
	s.add(m, &syncml.Alert{CmdID: s.nextCmd(), Code: code})
	if items := s.d.devInfo(); len(items) > 0 {
		s.add(m, &syncml.Replace{CmdID: s.nextCmd(), Items: items})
	}
	for _, a := range append(append([]syncml.Alert(nil), s.opts.Alerts...), s.d.takeAlerts()...) {
		a.CmdID = s.nextCmd()
		s.add(m, &a)
	}
	m.Body.Final = true
	return m
}

// devInfo is the ./DevInfo leaves, sorted, as package 1 carries them.
func (d *DMDevice) devInfo() []syncml.Item {
	d.mu.Lock()
	defer d.mu.Unlock()
	var uris []string
	for uri := range d.tree {
		if strings.HasPrefix(uri, "./DevInfo/") {
			uris = append(uris, uri)
		}
	}
	sort.Strings(uris)
	var items []syncml.Item
	for _, uri := range uris {
		items = append(items, syncml.Item{Source: &syncml.Location{LocURI: uri}, Data: d.tree[uri]})
	}
	return items
}

// answer processes a server message and builds the device's next one;
// done reports the end of the session. trusted is false when the server's
// credentials failed (ChallengeServer): the device then challenges the
// server instead of running anything.
func (s *dmSession) answer(in *syncml.Message, trusted bool) (*syncml.Message, bool, error) {
	hdr, cmds, moreAsked, err := s.readStatuses(in)
	if err != nil {
		return nil, false, err
	}
	final := in.Body.Final
	s.report.HeaderStatus = hdr.Code
	switch hdr.Code {
	case 212:
		s.authed = true
	case 200:
	case 401, 407:
		if s.authed || len(cmds) > 0 {
			return nil, false, fmt.Errorf("%w: %d after authentication", ErrProtocol, hdr.Code)
		}
		if !final || hdr.Chal == nil {
			// No new challenge: the server gave up on this session.
			return nil, true, fmt.Errorf("%w (status %d)", ErrAuthRefused, hdr.Code)
		}
		// Package 1 again, with credentials computed on the new nonce.
		var lead *syncml.Status
		if !trusted {
			lead = s.serverChallenge(in)
		}
		return s.pkg1(true, lead), false, nil
	default:
		return nil, true, fmt.Errorf("%w (status %d)", ErrAuthRefused, hdr.Code)
	}
	if !trusted {
		return s.refuse(in, cmds), false, nil
	}
	if final && !moreAsked && s.out == nil && s.inURI == "" && len(cmds) == 0 {
		return nil, true, nil // statuses and Final only: the session is over
	}
	return s.reply(in, cmds, final), false, nil
}

// readStatuses takes the server's statuses: the one on the device's SyncHdr
// is returned (its Chal taken), those on the device's commands go into the
// report. cmds are the server's other commands; moreAsked is an Alert 1222
// among them.
func (s *dmSession) readStatuses(in *syncml.Message) (hdr *syncml.Status, cmds []syncml.Command, moreAsked bool, err error) {
	for _, c := range in.Body.Commands {
		st, ok := c.(*syncml.Status)
		if !ok {
			cmds = append(cmds, c)
			if a, ok := c.(*syncml.Alert); ok && a.Code == 1222 {
				moreAsked = true
			}
			continue
		}
		if st.CmdRef == "0" {
			hdr = st
			s.takeChal(st)
			continue
		}
		if name, ok := s.sentCmd[st.CmdRef]; ok {
			s.report.Statuses[name+" "+st.CmdRef] = st.Code
		}
		if s.out != nil && st.CmdRef == s.out.cmd.CmdID && st.Code != 213 {
			s.out = nil // the server refused our object
		}
	}
	if hdr == nil {
		return nil, nil, false, fmt.Errorf("%w: no status for the SyncHdr", ErrProtocol)
	}
	return hdr, cmds, moreAsked, nil
}

// reply answers a trusted server message: the status of its SyncHdr, each
// command run and answered, queued alerts, then the next chunk of the
// device's large object, or Alert 1222 while a message is missing.
func (s *dmSession) reply(in *syncml.Message, cmds []syncml.Command, final bool) *syncml.Message {
	m := &syncml.Message{Header: s.header(s.credNeeded())}
	m.Body.Commands = append(m.Body.Commands, s.headerStatus(in))
	for _, c := range cmds {
		s.run(m, in.Header.MsgID, c)
	}
	for _, a := range s.d.takeAlerts() {
		a.CmdID = s.nextCmd()
		s.add(m, &a)
	}
	if s.out != nil {
		s.sendChunk(m)
		return m
	}
	if s.inURI != "" {
		// The server's object goes on in its next message.
		s.add(m, &syncml.Alert{CmdID: s.nextCmd(), Code: 1222})
		return m
	}
	if !final {
		// The server's package goes on: ask for its next message.
		s.add(m, &syncml.Alert{CmdID: s.nextCmd(), Code: 1222})
	}
	m.Body.Final = true
	return m
}

// refuse answers a server message whose credentials failed, as
// libdmclient does: 401 and a challenge on its SyncHdr, 401 on each of its
// commands, none of them run, and Final. Queued alerts and chunks of the
// device's large object wait for a trusted message.
func (s *dmSession) refuse(in *syncml.Message, cmds []syncml.Command) *syncml.Message {
	m := &syncml.Message{Header: s.header(s.credNeeded())}
	st := s.serverChallenge(in)
	st.CmdID = s.nextCmd()
	m.Body.Commands = append(m.Body.Commands, st)
	for _, c := range cmds {
		m.Body.Commands = append(m.Body.Commands, &syncml.Status{CmdID: s.nextCmd(), MsgRef: in.Header.MsgID,
			CmdRef: c.CommandID(), Cmd: c.CommandName(), Code: 401})
	}
	m.Body.Final = true
	return m
}

// hdrStatus is a Status with code on the SyncHdr of in (no CmdID yet).
func hdrStatus(in *syncml.Message, code int) *syncml.Status {
	return &syncml.Status{MsgRef: in.Header.MsgID, CmdRef: "0", Cmd: "SyncHdr", Code: code,
		TargetRefs: []string{in.Header.Target.LocURI}, SourceRefs: []string{in.Header.Source.LocURI}}
}
