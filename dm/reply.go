package dm

import (
	"strconv"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// reply builds one server message inside Step.
type reply struct {
	s         *Session
	in        StepInput
	msg       *syncml.Message
	allSent   bool
	sentChunk bool // a large object chunk is in the message
	// srv is the server's identity as the device's challenges in this
	// session want it (scheme and nonce).
	srv ServerAuth
	// refusedMsg is the MsgID of a server message whose credentials the
	// device refused in this message ("" when none): it ran none of its
	// commands.
	refusedMsg string
	// answered are the commands whose Status came in this message, so
	// that a Results after its Status still finds its entry.
	answered map[string]Inflight
}

func newReply(s *Session, in StepInput) *reply {
	h := in.Msg.Header
	m := &syncml.Message{Header: syncml.Header{
		VerDTD: syncml.VerDTD, VerProto: syncml.VerProto,
		SessionID: h.SessionID, MsgID: strconv.Itoa(s.ServerMsgID),
		Target:  syncml.Location{LocURI: h.Source.LocURI},
		Source:  syncml.Location{LocURI: h.Target.LocURI},
		RespURI: in.RespURI,
	}}
	srv := in.Server
	if srv.Scheme != 0 {
		if s.ServerScheme != 0 {
			srv.Scheme = s.ServerScheme
		}
		if s.ServerNonce != nil {
			srv.Nonce = s.ServerNonce
		}
	}
	if !s.ServerAccepted {
		m.Header.Cred = srv.Cred()
	}
	if in.MaxMsgSize > 0 || in.MaxObjSize > 0 {
		m.Header.Meta = &syncml.Meta{MaxMsgSize: in.MaxMsgSize, MaxObjSize: in.MaxObjSize}
	}
	return &reply{s: s, in: in, msg: m, srv: srv, answered: map[string]Inflight{}}
}

func (r *reply) add(c syncml.Command) { r.msg.Body.Commands = append(r.msg.Body.Commands, c) }

// status answers one client command (or the SyncHdr, cmdRef "0").
func (r *reply) status(cmdRef, cmd string, code int, chal *syncml.Chal, hdr bool) {
	st := &syncml.Status{
		CmdID: r.s.nextCmdID(), MsgRef: r.in.Msg.Header.MsgID, CmdRef: cmdRef, Cmd: cmd, Code: code, Chal: chal,
	}
	if hdr {
		st.TargetRefs = []string{r.in.Msg.Header.Target.LocURI}
		st.SourceRefs = []string{r.in.Msg.Header.Source.LocURI}
	}
	r.add(st)
}

func (r *reply) alert(code int) {
	r.add(&syncml.Alert{CmdID: r.s.nextCmdID(), Code: code})
}

// find returns the inflight entry a Status or Results refers to.
func (r *reply) find(msgRef, cmdRef string) int {
	for i, f := range r.s.Inflight {
		if f.CmdID == cmdRef && (msgRef == "" || strconv.Itoa(f.MsgID) == msgRef) {
			return i
		}
	}
	return -1
}

func (r *reply) partial(entry, outerCmd string) *Outcome {
	for i := range r.s.Partial {
		if r.s.Partial[i].EntryID == entry {
			return &r.s.Partial[i]
		}
	}
	r.s.Partial = append(r.s.Partial, Outcome{EntryID: entry, CmdID: outerCmd})
	return &r.s.Partial[len(r.s.Partial)-1]
}

// isHeaderStatus tells a Status on the server's SyncHdr.
func isHeaderStatus(st *syncml.Status) bool { return st.CmdRef == "0" || st.Cmd == "SyncHdr" }

// serverStatus takes the device's Status on the server's SyncHdr: 212
// accepts the server for the session (no more Cred); 401 or 407 refuses
// the server's credentials, and the device ran none of that message's
// commands. A Chal says what the device wants of the server's next
// credentials: its type (a device may check another type than it uses
// itself) and its nonce. Both are taken even from a message whose own
// credentials fail, so that the server's next Cred is one the device
// accepts; they stay in the session until the device authenticates.
func (r *reply) serverStatus(st *syncml.Status) {
	switch st.Code {
	case 212:
		r.s.ServerAccepted = true
	case 401, 407:
		r.s.ServerAccepted = false
		r.refusedMsg = st.MsgRef
	}
	if c := st.Chal; c != nil && c.Meta != nil && r.srv.Scheme != 0 {
		if scheme, err := ParseAuthScheme(c.Meta.Type); err == nil {
			r.s.ServerScheme, r.srv.Scheme = scheme, scheme
		}
		if c.Meta.NextNonce != nil {
			r.s.ServerNonce, r.srv.Nonce = c.Meta.NextNonce, c.Meta.NextNonce
		}
	}
	r.msg.Header.Cred = nil
	if !r.s.ServerAccepted {
		r.msg.Header.Cred = r.srv.Cred()
	}
}

// takeStatus routes a device Status on a command the server sent: it is
// that command's answer, unless the device refused the server's
// credentials on the message that carried it (then it ran nothing, and
// the command is sent again: see takeRefusal).
func (r *reply) takeStatus(st *syncml.Status) {
	if isHeaderStatus(st) {
		return // taken by serverStatus before the commands
	}
	if r.refusedMsg != "" && st.MsgRef == r.refusedMsg {
		return
	}
	i := r.find(st.MsgRef, st.CmdRef)
	if i < 0 {
		return // a status for nothing we sent: nothing to route
	}
	f := r.s.Inflight[i]
	if r.takeChunkStatus(f, st.Code) {
		r.s.Inflight = append(r.s.Inflight[:i], r.s.Inflight[i+1:]...)
		return
	}
	o := r.partial(f.EntryID, r.outerCmdID(f.EntryID))
	o.Statuses = append(o.Statuses, CommandStatus{CmdID: f.CmdID, Cmd: f.Cmd, Code: st.Code, Items: st.Items})
	r.s.Inflight = append(r.s.Inflight[:i], r.s.Inflight[i+1:]...)
	r.answered[st.MsgRef+"/"+st.CmdRef] = f
}

// outerCmdID is the first CmdID registered for entry (the outer command).
func (r *reply) outerCmdID(entry string) string {
	for _, f := range r.s.Inflight {
		if f.EntryID == entry {
			return f.CmdID
		}
	}
	return ""
}

func (r *reply) takeResults(res *syncml.Results) {
	var f Inflight
	var outer string
	if li := r.s.LargeIn; li != nil && len(res.Items) > 0 && itemURI(res.Items[0]) == li.LocURI {
		f, outer = Inflight{EntryID: li.EntryID, CmdID: li.CmdID}, li.OuterCmdID
	} else {
		var ok bool
		f, ok = r.answered[res.MsgRef+"/"+res.CmdRef]
		if !ok {
			i := r.find(res.MsgRef, res.CmdRef)
			if i < 0 {
				return // Results for nothing we asked
			}
			f = r.s.Inflight[i]
		}
		outer = r.outerCmdID(f.EntryID)
	}
	code, whole := r.takeLargeResults(res, f, outer)
	if len(whole) > 0 {
		o := r.partial(f.EntryID, outer)
		o.Results = append(o.Results, whole...)
	}
	if code != 0 {
		// Chunked results are acknowledged (213, 424, 416, or 200 for
		// the last chunk); whole Results get no Status.
		r.status(res.CmdID, "Results", code, nil, false)
	}
}

// complete moves the outcomes whose commands are all answered out of the
// session.
func (r *reply) complete() []Outcome {
	var done []Outcome
	kept := r.s.Partial[:0]
	for _, o := range r.s.Partial {
		waiting := r.s.LargeIn != nil && r.s.LargeIn.EntryID == o.EntryID ||
			r.s.LargeOut != nil && r.s.LargeOut.EntryID == o.EntryID
		for _, f := range r.s.Inflight {
			if f.EntryID == o.EntryID {
				waiting = true
				break
			}
		}
		if waiting {
			kept = append(kept, o)
		} else {
			done = append(done, o)
		}
	}
	r.s.Partial = kept
	return done
}

// addQueued appends queued commands while the message stays under the
// device's MaxMsgSize; allSent tells whether the whole queue went.
func (r *reply) addQueued(queue []QueuedCommand, out *StepOutput) error {
	r.allSent = true
	if lo := r.s.LargeOut; lo != nil {
		// The object in progress goes on, alone until its last chunk.
		res, err := r.sendChunk(lo)
		switch {
		case err != nil:
			return err
		case res == largeMore:
			r.allSent = false
			return nil
		case res == largeDone:
			r.s.LargeOut = nil
		default:
			r.s.LargeOut = nil
			out.TooLarge = append(out.TooLarge, lo.EntryID)
		}
	}
	for _, q := range queue {
		if q.Blob != "" {
			res, err := r.startLarge(q)
			switch {
			case err != nil:
				return err
			case res == largeTooLarge:
				out.TooLarge = append(out.TooLarge, q.ID)
				continue
			case res == largeNoRoom && len(out.Sent) == 0 && !r.sentChunk:
				// Not even a message with nothing else has room.
				out.TooLarge = append(out.TooLarge, q.ID)
				continue
			case res == largeNoRoom:
				r.allSent = false
				return nil
			}
			out.Sent = append(out.Sent, q.ID)
			if res == largeMore {
				r.allSent = false
				return nil
			}
			continue
		}
		saved, savedCmd := len(r.msg.Body.Commands), r.s.CmdID
		cmd, inflight := numbered(r.s, q.ID, r.s.ServerMsgID, q.Command)
		for i := range inflight {
			inflight[i].Once = q.AtMostOnce
		}
		r.add(cmd)
		if r.s.MaxMsgSize > 0 && r.size() > r.s.MaxMsgSize {
			r.msg.Body.Commands, r.s.CmdID = r.msg.Body.Commands[:saved], savedCmd
			if len(out.Sent) == 0 && !r.sentChunk {
				out.TooLarge = append(out.TooLarge, q.ID)
				continue
			}
			r.allSent = false
			return nil
		}
		r.s.Inflight = append(r.s.Inflight, inflight...)
		out.Sent = append(out.Sent, q.ID)
	}
	return nil
}

// size is the encoded size of the message so far, with room for Final.
func (r *reply) size() int64 {
	m := *r.msg
	m.Body.Final = true
	enc := r.s.Encoding
	if enc == 0 {
		enc = syncml.EncodingXML
	}
	b, err := syncml.Encode(&m, enc)
	if err != nil {
		return 1 << 62
	}
	return int64(len(b))
}

// maxServerRefusals bounds how often one session sends commands again
// because the device refused the server's credentials on the message that
// carried them.
const maxServerRefusals = 2

// takeRefusal handles a device message that refused the server's
// credentials: the queue entries of the refused server message were not
// run, so they leave Inflight (and their partial outcomes, whose 401s are
// no answer) and go to Session.Resend, to be sent again with corrected
// credentials, at most maxServerRefusals times a session; after that
// they wait for the device's next session (Unanswered).
func (r *reply) takeRefusal(out *StepOutput) {
	if r.refusedMsg == "" {
		return
	}
	r.s.ServerRefusals++
	var entries []string
	kept := r.s.Inflight[:0]
	for _, f := range r.s.Inflight {
		if strconv.Itoa(f.MsgID) == r.refusedMsg {
			if !contains(entries, f.EntryID) {
				entries = append(entries, f.EntryID)
			}
			continue
		}
		kept = append(kept, f)
	}
	r.s.Inflight = kept
	partial := r.s.Partial[:0]
	for _, o := range r.s.Partial {
		if !contains(entries, o.EntryID) {
			partial = append(partial, o)
		}
	}
	r.s.Partial = partial
	if lo := r.s.LargeOut; lo != nil && contains(entries, lo.EntryID) {
		r.s.LargeOut = nil // the object starts again
	}
	if r.s.ServerRefusals > maxServerRefusals {
		out.Unanswered = append(out.Unanswered, entries...)
		return
	}
	for _, e := range entries {
		if !contains(r.s.Resend, e) {
			r.s.Resend = append(r.s.Resend, e)
		}
	}
}

// gaveUpOnServerAuth: the device refused the server's credentials too
// often; the session sends no more commands.
func (r *reply) gaveUpOnServerAuth() bool { return r.s.ServerRefusals > maxServerRefusals }
