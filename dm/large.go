package dm

import (
	"encoding/base64"
	"fmt"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// Large objects (OMA SyncML RepPro 1.2 §7.7 as the reference sums it up):
// an Item whose Data does not fit one message goes in chunks, one per
// message, each but the last with MoreData, the first with Meta Size (the
// total size as transmitted: the base64 text in XML, the raw bytes in
// WBXML). The receiver answers each chunk but the last with 213, the last
// with the command's status, 424 when the total differs from Size, and
// sends Alert 1225 when another command arrives before the last chunk.

// DefaultChunkSize is the chunk size for a device that sets no MaxMsgSize.
const DefaultChunkSize = 1 << 20

// LargeOut is the server's large object in progress.
type LargeOut struct {
	EntryID string `json:"entry_id"`
	// Template is the command (EncodeCommand) whose only Item gets the
	// chunks as Data.
	Template []byte `json:"template"`
	Blob     string `json:"blob"`
	Size     int64  `json:"size"` // raw bytes
	Sent     int64  `json:"sent"` // raw bytes sent so far
	// CmdID and MsgID name the chunk in flight.
	CmdID string `json:"cmd_id"`
	MsgID int    `json:"msg_id"`
}

// LargeIn is the client's large object being received (the Results of a
// Get the server sent).
type LargeIn struct {
	EntryID    string       `json:"entry_id"`
	OuterCmdID string       `json:"outer_cmd_id"`
	CmdID      string       `json:"cmd_id"` // the Get it answers
	LocURI     string       `json:"loc_uri"`
	Size       int64        `json:"size"` // announced on the first chunk, 0 if not
	Meta       *syncml.Meta `json:"meta,omitempty"`
	Data       []byte       `json:"data"`
}

// Chunk status codes.
const (
	StatusChunkAccepted   = 213
	StatusSizeTooBig      = 416
	StatusSizeMismatch    = 424
	AlertNoEndOfData      = 1225
	statusIncompleteChunk = AlertNoEndOfData // recorded on an entry whose object never completed
)

type largeResult int

const (
	largeDone     largeResult = iota // the whole object (or its last chunk) is in the message
	largeMore                        // a chunk went; more follow in later messages
	largeNoRoom                      // nothing fits in this message
	largeTooLarge                    // the device cannot take this object at all
)

func (r *reply) encoding() syncml.Encoding {
	if r.s.Encoding == 0 {
		return syncml.EncodingXML
	}
	return r.s.Encoding
}

// wireSize is the size of n raw bytes as transmitted.
func (r *reply) wireSize(n int64) int64 {
	if r.encoding() == syncml.EncodingXML {
		return int64(base64.StdEncoding.EncodedLen(int(n)))
	}
	return n
}

// startLarge begins sending queue entry q, whose Item Data is a blob.
func (r *reply) startLarge(q QueuedCommand) (largeResult, error) {
	tmpl, err := EncodeCommand(q.Command)
	if err != nil {
		return 0, err
	}
	if len(commandItems(q.Command)) != 1 {
		return 0, fmt.Errorf("%w: a blob needs a command with exactly one item", ErrBadCommand)
	}
	if r.s.MaxObjSize > 0 && r.wireSize(q.BlobSize) > r.s.MaxObjSize {
		return largeTooLarge, nil
	}
	lo := &LargeOut{EntryID: q.ID, Template: tmpl, Blob: q.Blob, Size: q.BlobSize}
	res, err := r.sendChunk(lo)
	if err != nil || res == largeNoRoom || res == largeTooLarge {
		return res, err
	}
	if res == largeMore {
		r.s.LargeOut = lo
	}
	return res, nil
}

// sendChunk adds the next chunk of lo to the message.
func (r *reply) sendChunk(lo *LargeOut) (largeResult, error) {
	tmpl, err := DecodeCommand(lo.Template)
	if err != nil {
		return 0, err
	}
	first := lo.Sent == 0
	xml := r.encoding() == syncml.EncodingXML
	build := func(data []byte, more bool) syncml.Command {
		c := setCmdIDs(tmpl, "")
		it := &commandItems(c)[0]
		m := syncml.Meta{}
		if it.Meta != nil {
			m = *it.Meta
		}
		m.Format = "bin"
		if xml {
			m.Format = "b64"
		}
		m.Size = 0
		if first && more {
			m.Size = r.wireSize(lo.Size)
		}
		it.Meta, it.Data, it.MoreData = &m, data, more
		return c
	}
	saved, savedCmd := len(r.msg.Body.Commands), r.s.CmdID
	undo := func() { r.msg.Body.Commands, r.s.CmdID = r.msg.Body.Commands[:saved], savedCmd }

	// What one message can carry besides what is already in it.
	remaining := lo.Size - lo.Sent
	capacity := int64(DefaultChunkSize)
	if r.s.MaxMsgSize > 0 {
		probe, _ := numbered(r.s, lo.EntryID, r.s.ServerMsgID, build([]byte{}, true))
		r.add(probe)
		avail := r.s.MaxMsgSize - r.size() - 16 // room for the Data length and Size digits
		undo()
		if xml {
			capacity = avail / 4 * 3
		} else {
			capacity = avail
		}
	}
	n := min(capacity, remaining)
	more := n < remaining
	if more && xml {
		n -= n % 3 // chunks of b64 concatenate to the b64 of the whole
	}
	if n <= 0 && remaining > 0 || more && n < 64 {
		return largeNoRoom, nil
	}
	if r.in.ReadBlob == nil {
		return 0, fmt.Errorf("%w: no blob reader for %s", ErrBadCommand, lo.Blob)
	}
	raw, err := r.in.ReadBlob(lo.Blob, lo.Sent, int(n))
	if err != nil {
		return 0, fmt.Errorf("dm: read blob %s at %d: %w", lo.Blob, lo.Sent, err)
	}
	if int64(len(raw)) != n {
		return 0, fmt.Errorf("dm: blob %s: read %d bytes at %d, want %d", lo.Blob, len(raw), lo.Sent, n)
	}
	data := raw
	if xml {
		data = []byte(base64.StdEncoding.EncodeToString(raw))
	}
	cmd, inflight := numbered(r.s, lo.EntryID, r.s.ServerMsgID, build(data, more))
	r.add(cmd)
	r.s.Inflight = append(r.s.Inflight, inflight...)
	lo.Sent += n
	lo.CmdID, lo.MsgID = cmd.CommandID(), r.s.ServerMsgID
	r.sentChunk = true
	if more {
		return largeMore, nil
	}
	return largeDone, nil
}

// commandItems returns the items of an item command (nil for others).
func commandItems(c syncml.Command) []syncml.Item {
	switch c := c.(type) {
	case *syncml.Add:
		return c.Items
	case *syncml.Replace:
		return c.Items
	case *syncml.Delete:
		return c.Items
	case *syncml.Get:
		return c.Items
	case *syncml.Copy:
		return c.Items
	}
	return nil
}

// takeChunkStatus handles a Status for the chunk in flight: 213 on a
// chunk but the last means "go on" and is not an outcome.
func (r *reply) takeChunkStatus(f Inflight, code int) bool {
	lo := r.s.LargeOut
	if lo == nil || f.EntryID != lo.EntryID || f.CmdID != lo.CmdID || f.MsgID != lo.MsgID {
		return false
	}
	if code == StatusChunkAccepted && lo.Sent < lo.Size {
		return true
	}
	r.s.LargeOut = nil // the last chunk's status, or a refusal: the outcome
	return false
}

// takeLargeResults handles Results items in chunks; it returns the status
// for the Results command (0: none needed) and the items that are whole.
func (r *reply) takeLargeResults(res *syncml.Results, f Inflight, outer string) (int, []syncml.Item) {
	var whole []syncml.Item
	code := 0
	for _, it := range res.Items {
		uri := itemURI(it)
		li := r.s.LargeIn
		switch {
		case li != nil && uri == li.LocURI:
			li.Data = append(li.Data, it.Data...)
		case it.MoreData:
			li = &LargeIn{EntryID: f.EntryID, OuterCmdID: outer, CmdID: f.CmdID, LocURI: uri, Data: append([]byte(nil), it.Data...)}
			if it.Meta != nil {
				m := *it.Meta
				li.Size, m.Size = m.Size, 0
				li.Meta = &m
			}
			r.s.LargeIn = li
			if li.Size > r.maxObjSize() {
				r.s.LargeIn = nil
				r.recordChunkFailure(li, StatusSizeTooBig)
				code = StatusSizeTooBig
				continue
			}
		default:
			whole = append(whole, it)
			continue
		}
		switch {
		case int64(len(li.Data)) > r.maxObjSize():
			r.s.LargeIn = nil
			r.recordChunkFailure(li, StatusSizeTooBig)
			code = StatusSizeTooBig
		case it.MoreData:
			code = StatusChunkAccepted
		case li.Size > 0 && int64(len(li.Data)) != li.Size:
			// Nothing of the object is kept.
			r.s.LargeIn = nil
			r.recordChunkFailure(li, StatusSizeMismatch)
			code = StatusSizeMismatch
		default:
			r.s.LargeIn = nil
			whole = append(whole, syncml.Item{Source: &syncml.Location{LocURI: li.LocURI}, Meta: li.Meta, Data: li.Data})
			code = 200
		}
	}
	return code, whole
}

func (r *reply) maxObjSize() int64 {
	if r.in.MaxObjSize > 0 {
		return r.in.MaxObjSize
	}
	return DefaultMaxObjSize
}

// DefaultMaxObjSize is the largest object the server reassembles from a
// client when StepInput.MaxObjSize is 0.
const DefaultMaxObjSize = 1 << 20

// recordChunkFailure notes on the entry that its object did not arrive.
func (r *reply) recordChunkFailure(li *LargeIn, code int) {
	o := r.partial(li.EntryID, li.OuterCmdID)
	o.Statuses = append(o.Statuses, CommandStatus{CmdID: li.CmdID, Cmd: "Results", Code: code})
}

// abandonLargeIn ends a client object whose last chunk never came: Alert
// 1225 naming it, and nothing of it kept.
func (r *reply) abandonLargeIn() {
	li := r.s.LargeIn
	if li == nil {
		return
	}
	r.s.LargeIn = nil
	r.recordChunkFailure(li, statusIncompleteChunk)
	r.add(&syncml.Alert{CmdID: r.s.nextCmdID(), Code: AlertNoEndOfData,
		Items: []syncml.Item{{Target: &syncml.Location{LocURI: li.LocURI}}}})
}

func itemURI(it syncml.Item) string {
	if it.Source != nil {
		return it.Source.LocURI
	}
	if it.Target != nil {
		return it.Target.LocURI
	}
	return ""
}
