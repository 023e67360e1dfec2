package dm

import (
	"strconv"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// reply builds one server message inside Step.
type reply struct {
	s           *Session
	in          StepInput
	msg         *syncml.Message
	allSent     bool
	sentChunk   bool // a large object chunk is in the message
	serverNonce []byte
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
	if !s.ServerAccepted {
		m.Header.Cred = in.Server.Cred()
	}
	if in.MaxMsgSize > 0 || in.MaxObjSize > 0 {
		m.Header.Meta = &syncml.Meta{MaxMsgSize: in.MaxMsgSize, MaxObjSize: in.MaxObjSize}
	}
	return &reply{s: s, in: in, msg: m, answered: map[string]Inflight{}}
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

// takeStatus routes a device Status: on the server's SyncHdr it tells
// whether the device accepted the server's credentials; on a command it is
// that command's answer.
func (r *reply) takeStatus(st *syncml.Status, out *StepOutput) {
	if st.CmdRef == "0" || st.Cmd == "SyncHdr" {
		switch st.Code {
		case 212:
			r.s.ServerAccepted = true
			r.msg.Header.Cred = nil
		case 401, 407:
			r.s.ServerAccepted = false
		}
		if st.Chal != nil && st.Chal.Meta != nil && st.Chal.Meta.NextNonce != nil {
			// The device's nonce for the server's next credentials.
			r.serverNonce = st.Chal.Meta.NextNonce
			if !r.s.ServerAccepted {
				srv := r.in.Server
				srv.Nonce = r.serverNonce
				r.msg.Header.Cred = srv.Cred()
			}
		}
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
