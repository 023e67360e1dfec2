package syncml

import (
	"encoding/base64"
	"fmt"
	"strconv"
)

// The mapping from a Message to the element tree that both encoders write.
// Children are written in DTD order.

type builder struct {
	err error
}

func (b *builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("syncml: encode: "+format+": %w", append(args, ErrUnencodable)...)
	}
}

// el makes a page-0 element with the non-nil children.
func el(name string, children ...*element) *element {
	return add(&element{Name: name}, children...)
}

func leaf(name, s string) *element {
	return &element{Name: name, Text: []byte(s)}
}

func metLeaf(name, s string) *element {
	return &element{Page: PageMetInf, Name: name, Text: []byte(s)}
}

// add appends the non-nil children to e.
func add(e *element, children ...*element) *element {
	for _, c := range children {
		if c != nil {
			e.Children = append(e.Children, c)
		}
	}
	return e
}

func opt(name, s string) *element {
	if s == "" {
		return nil
	}
	return leaf(name, s)
}

func emptyIf(name string, on bool) *element {
	if !on {
		return nil
	}
	return el(name)
}

func messageToTree(m *Message) (*element, error) {
	b := &builder{}
	h := &m.Header
	hdr := add(el("SyncHdr"),
		leaf("VerDTD", h.VerDTD), leaf("VerProto", h.VerProto), leaf("SessionID", h.SessionID),
		leaf("MsgID", h.MsgID), location("Target", &h.Target), location("Source", &h.Source),
		opt("RespURI", h.RespURI), emptyIf("NoResp", h.NoResp), cred(h.Cred), meta(h.Meta))
	body := el("SyncBody")
	for _, c := range m.Body.Commands {
		add(body, b.command(c, 0))
	}
	add(body, emptyIf("Final", m.Body.Final))
	if b.err != nil {
		return nil, b.err
	}
	return el("SyncML", hdr, body), nil
}

func location(name string, l *Location) *element {
	if l == nil {
		return nil
	}
	return add(el(name, leaf("LocURI", l.LocURI)), opt("LocName", l.LocName))
}

func cred(c *Cred) *element {
	if c == nil {
		return nil
	}
	return add(el("Cred"), meta(c.Meta), leaf("Data", c.Data))
}

func meta(m *Meta) *element {
	if m == nil {
		return nil
	}
	e := el("Meta")
	metOpt := func(name, s string) {
		if s != "" {
			add(e, metLeaf(name, s))
		}
	}
	metNum := func(name string, n int64) {
		if n != 0 {
			add(e, metLeaf(name, strconv.FormatInt(n, 10)))
		}
	}
	metOpt("Format", m.Format)
	metOpt("Type", m.Type)
	metOpt("Mark", m.Mark)
	metNum("Size", m.Size)
	metOpt("Version", m.Version)
	if m.NextNonce != nil {
		add(e, metLeaf("NextNonce", base64.StdEncoding.EncodeToString(m.NextNonce)))
	}
	metNum("MaxMsgSize", m.MaxMsgSize)
	metNum("MaxObjSize", m.MaxObjSize)
	for _, s := range m.EMI {
		add(e, metLeaf("EMI", s))
	}
	return e
}

func item(it *Item) *element {
	e := add(el("Item"), location("Target", it.Target), location("Source", it.Source), meta(it.Meta))
	if it.Data != nil {
		// Item Data goes as OPAQUE in WBXML, as libwbxml2 writes it: binary
		// data (Format bin) cannot go in STR_I, and clients read both.
		add(e, &element{Name: "Data", Text: it.Data, Opaque: true})
	}
	return add(e, emptyIf("MoreData", it.MoreData))
}

func items(e *element, its []Item) *element {
	for i := range its {
		add(e, item(&its[i]))
	}
	return e
}

func itemCommand(name string, c *ItemCommand) *element {
	e := add(el(name, leaf("CmdID", c.CmdID)), emptyIf("NoResp", c.NoResp), opt("Lang", c.Lang), cred(c.Cred), meta(c.Meta))
	return items(e, c.Items)
}

// maxCommandDepth bounds Sequence/Atomic nesting on encode, as the decoder's
// depth limit does on decode.
const maxCommandDepth = 16

func (b *builder) command(c Command, depth int) *element {
	if depth > maxCommandDepth {
		b.fail("Sequence/Atomic nested deeper than %d", maxCommandDepth)
		return nil
	}
	switch c := c.(type) {
	case *Add:
		return itemCommand("Add", (*ItemCommand)(c))
	case *Replace:
		return itemCommand("Replace", (*ItemCommand)(c))
	case *Delete:
		return itemCommand("Delete", (*ItemCommand)(c))
	case *Get:
		return itemCommand("Get", (*ItemCommand)(c))
	case *Copy:
		return itemCommand("Copy", (*ItemCommand)(c))
	case *Alert:
		e := add(el("Alert", leaf("CmdID", c.CmdID)), emptyIf("NoResp", c.NoResp), cred(c.Cred),
			leaf("Data", strconv.Itoa(c.Code)), opt("Correlator", c.Correlator))
		return items(e, c.Items)
	case *Exec:
		return add(el("Exec", leaf("CmdID", c.CmdID)), emptyIf("NoResp", c.NoResp), cred(c.Cred), meta(c.Meta),
			opt("Correlator", c.Correlator), item(&c.Item))
	case *Sequence:
		return b.container("Sequence", c.CmdID, c.NoResp, c.Meta, c.Commands, depth)
	case *Atomic:
		return b.container("Atomic", c.CmdID, c.NoResp, c.Meta, c.Commands, depth)
	case *Results:
		e := add(el("Results", leaf("CmdID", c.CmdID)), opt("MsgRef", c.MsgRef), leaf("CmdRef", c.CmdRef),
			meta(c.Meta), opt("TargetRef", c.TargetRef), opt("SourceRef", c.SourceRef))
		return items(e, c.Items)
	case *Status:
		e := add(el("Status", leaf("CmdID", c.CmdID)), opt("MsgRef", c.MsgRef), leaf("CmdRef", c.CmdRef), leaf("Cmd", c.Cmd))
		for _, r := range c.TargetRefs {
			add(e, leaf("TargetRef", r))
		}
		for _, r := range c.SourceRefs {
			add(e, leaf("SourceRef", r))
		}
		add(e, cred(c.Cred))
		if c.Chal != nil {
			add(e, el("Chal", meta(c.Chal.Meta)))
		}
		add(e, leaf("Data", strconv.Itoa(c.Code)))
		return items(e, c.Items)
	case *Unknown:
		if _, ok := codePages.Token(PageSyncML, c.Tag); !ok || c.Tag == "" {
			b.fail("unknown command <%s> is not a SyncML element", c.Tag)
			return nil
		}
		return add(el(c.Tag), opt("CmdID", c.CmdID))
	case nil:
		b.fail("nil command")
		return nil
	default:
		b.fail("command type %T", c)
		return nil
	}
}

func (b *builder) container(name, id string, noResp bool, m *Meta, cmds []Command, depth int) *element {
	e := add(el(name, leaf("CmdID", id)), emptyIf("NoResp", noResp), meta(m))
	for _, c := range cmds {
		add(e, b.command(c, depth+1))
	}
	return e
}
