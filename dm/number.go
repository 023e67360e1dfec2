package dm

import "github.com/fumo-gw/fumo-gw/dm/syncml"

// renumber returns a copy of c whose CmdIDs come from next (the command's
// own, then those of the commands inside a Sequence or Atomic, depth
// first). visit, when set, sees each command as it is numbered: its new
// CmdID, name, NoResp, and whether it is a container.
func renumber(c syncml.Command, next func() string, visit func(id, name string, noResp, container bool)) syncml.Command {
	id := next()
	see := func(noResp, container bool) {
		if visit != nil {
			visit(id, c.CommandName(), noResp, container)
		}
	}
	inner := func(cmds []syncml.Command) []syncml.Command {
		out := make([]syncml.Command, len(cmds))
		for i, in := range cmds {
			out[i] = renumber(in, next, visit)
		}
		return out
	}
	switch c := c.(type) {
	case *syncml.Add:
		x := *c
		x.CmdID = id
		see(c.NoResp, false)
		return &x
	case *syncml.Replace:
		x := *c
		x.CmdID = id
		see(c.NoResp, false)
		return &x
	case *syncml.Delete:
		x := *c
		x.CmdID = id
		see(c.NoResp, false)
		return &x
	case *syncml.Get:
		x := *c
		x.CmdID = id
		see(c.NoResp, false)
		return &x
	case *syncml.Copy:
		x := *c
		x.CmdID = id
		see(c.NoResp, false)
		return &x
	case *syncml.Exec:
		x := *c
		x.CmdID = id
		see(c.NoResp, false)
		return &x
	case *syncml.Alert:
		x := *c
		x.CmdID = id
		see(c.NoResp, false)
		return &x
	case *syncml.Sequence:
		x := *c
		x.CmdID = id
		see(false, true) // the container before the commands inside it
		x.Commands = inner(c.Commands)
		return &x
	case *syncml.Atomic:
		x := *c
		x.CmdID = id
		see(false, true)
		x.Commands = inner(c.Commands)
		return &x
	}
	return c
}

// numbered returns a copy of c numbered from s, and the Inflight entries
// that expect a Status: every command but those with NoResp (a Sequence or
// Atomic always gets one).
func numbered(s *Session, entry string, msgID int, c syncml.Command) (syncml.Command, []Inflight) {
	var inflight []Inflight
	out := renumber(c, s.nextCmdID, func(id, name string, noResp, _ bool) {
		if !noResp {
			inflight = append(inflight, Inflight{EntryID: entry, MsgID: msgID, CmdID: id, Cmd: name})
		}
	})
	return out, inflight
}

// setCmdIDs returns a copy of c with every CmdID set to id.
func setCmdIDs(c syncml.Command, id string) syncml.Command {
	return renumber(c, func() string { return id }, nil)
}
