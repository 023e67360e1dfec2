package sim

import (
	"context"
	"encoding/base64"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// run executes one server command and answers it.
func (s *dmSession) run(m *syncml.Message, msgRef string, c syncml.Command) {
	status := func(cmdRef, cmd string, code int, target string) {
		st := &syncml.Status{CmdID: s.nextCmd(), MsgRef: msgRef, CmdRef: cmdRef, Cmd: cmd, Code: code}
		if target != "" {
			st.TargetRefs = []string{target}
		}
		m.Body.Commands = append(m.Body.Commands, st)
	}
	d := s.d
	switch c := c.(type) {
	case *syncml.Get:
		s.get(m, msgRef, c)
	case *syncml.Replace:
		status(c.CmdID, "Replace", s.write(c.Items, false), "")
	case *syncml.Add:
		status(c.CmdID, "Add", s.write(c.Items, true), "")
	case *syncml.Delete:
		for _, it := range c.Items {
			d.deleteNode(it.Target.LocURI)
		}
		status(c.CmdID, "Delete", 200, "")
	case *syncml.Exec:
		code := d.exec(context.Background(), c.Item.Target.LocURI, c.Correlator, c.Item.Data)
		status(c.CmdID, "Exec", code, c.Item.Target.LocURI)
	case *syncml.Sequence:
		status(c.CmdID, "Sequence", 200, "")
		for _, in := range c.Commands {
			s.run(m, msgRef, in)
		}
	case *syncml.Atomic:
		status(c.CmdID, "Atomic", 200, "")
		for _, in := range c.Commands {
			s.run(m, msgRef, in)
		}
	case *syncml.Alert:
		switch c.Code {
		case 1222:
		case 1225:
			s.inURI, s.inData, s.inSize = "", nil, 0
		}
		status(c.CmdID, "Alert", 200, "")
	default:
		status(c.CommandID(), c.CommandName(), 406, "")
	}
}

// get answers a Get: its Status, then one Results with the items of every
// target (none when a target fails). A single value larger than a chunk
// goes out as a large object, from this message on.
func (s *dmSession) get(m *syncml.Message, msgRef string, c *syncml.Get) {
	var items []syncml.Item
	code := 200
	for _, it := range c.Items {
		got, st := s.d.getNode(it.Target.LocURI)
		if st != 200 {
			code = st
			break
		}
		items = append(items, got...)
	}
	m.Body.Commands = append(m.Body.Commands, &syncml.Status{CmdID: s.nextCmd(), MsgRef: msgRef, CmdRef: c.CmdID, Cmd: "Get", Code: code})
	if code != 200 {
		return
	}
	res := &syncml.Results{CmdID: s.nextCmd(), MsgRef: msgRef, CmdRef: c.CmdID, Items: items}
	if len(items) == 1 && len(items[0].Data) > s.chunkSize() {
		s.out = &outChunk{cmd: res, data: items[0].Data}
		s.cmdID-- // the chunk takes its CmdID when sent
		return
	}
	m.Body.Commands = append(m.Body.Commands, res)
}

// chunkSize is the size of the device's large-object chunks.
func (s *dmSession) chunkSize() int {
	if s.d.ChunkSize <= 0 {
		return 4 << 10
	}
	return s.d.ChunkSize
}

// write stores Replace/Add items, reassembling large objects: 213 for a
// chunk, 424 when the whole differs from the announced Size.
func (s *dmSession) write(items []syncml.Item, add bool) int {
	code := 200
	for _, it := range items {
		uri := it.Target.LocURI
		if it.MoreData || s.inURI == uri {
			if s.inURI != uri {
				s.inURI, s.inData, s.inSize = uri, nil, 0
				if it.Meta != nil {
					s.inSize = it.Meta.Size
				}
			}
			s.inData = append(s.inData, it.Data...)
			if it.MoreData {
				code = 213
				continue
			}
			data, size := s.inData, s.inSize
			s.inURI, s.inData, s.inSize = "", nil, 0
			if size > 0 && int64(len(data)) != size {
				return 424
			}
			it.Data = data
		}
		v := it.Data
		if it.Meta != nil && it.Meta.Format == "b64" {
			raw, err := base64.StdEncoding.DecodeString(string(v))
			if err != nil {
				return 400
			}
			v = raw
		}
		if _, exists := s.d.Node(uri); add && exists {
			return 418
		}
		s.d.SetNode(uri, v)
	}
	return code
}

// sendChunk puts the next chunk of the device's large object in m.
func (s *dmSession) sendChunk(m *syncml.Message) {
	o := s.out
	end := min(o.sent+s.chunkSize(), len(o.data))
	it := o.cmd.Items[0]
	meta := syncml.Meta{Format: "chr"}
	if it.Meta != nil {
		meta = *it.Meta
	}
	if o.sent == 0 {
		meta.Size = int64(len(o.data))
		if s.d.LieAboutSize {
			meta.Size += 7
		}
	} else {
		meta.Size = 0
	}
	it.Meta, it.Data, it.MoreData = &meta, o.data[o.sent:end], end < len(o.data)
	res := *o.cmd
	res.CmdID = s.nextCmd()
	res.Items = []syncml.Item{it}
	o.cmd.CmdID = res.CmdID
	s.add(m, &res)
	o.sent = end
	if end == len(o.data) {
		s.out = nil
		m.Body.Final = true
	}
}
