package dm

import "github.com/fumo-gw/fumo-gw/dm/syncml"

// numbered returns a copy of c with CmdIDs taken from s (the command's own,
// then those of the commands inside a Sequence or Atomic, depth first), and
// the Inflight entries that expect a Status. Commands with NoResp expect none.
func numbered(s *Session, entry string, msgID int, c syncml.Command) (syncml.Command, []Inflight) {
	var inflight []Inflight
	var walk func(c syncml.Command) syncml.Command
	// container registers a Sequence or Atomic (it always gets a Status)
	// before the commands inside it, and numbers those.
	container := func(id, name string, cmds []syncml.Command) []syncml.Command {
		inflight = append(inflight, Inflight{EntryID: entry, MsgID: msgID, CmdID: id, Cmd: name})
		out := make([]syncml.Command, len(cmds))
		for i, inner := range cmds {
			out[i] = walk(inner)
		}
		return out
	}
	walk = func(c syncml.Command) syncml.Command {
		id := s.nextCmdID()
		noResp := false
		var out syncml.Command
		switch c := c.(type) {
		case *syncml.Add:
			x := *c
			x.CmdID, noResp, out = id, c.NoResp, &x
		case *syncml.Replace:
			x := *c
			x.CmdID, noResp, out = id, c.NoResp, &x
		case *syncml.Delete:
			x := *c
			x.CmdID, noResp, out = id, c.NoResp, &x
		case *syncml.Get:
			x := *c
			x.CmdID, noResp, out = id, c.NoResp, &x
		case *syncml.Copy:
			x := *c
			x.CmdID, noResp, out = id, c.NoResp, &x
		case *syncml.Exec:
			x := *c
			x.CmdID, noResp, out = id, c.NoResp, &x
		case *syncml.Alert:
			x := *c
			x.CmdID, noResp, out = id, c.NoResp, &x
		case *syncml.Sequence:
			x := *c
			x.CmdID = id
			x.Commands = container(id, c.CommandName(), c.Commands)
			return &x
		case *syncml.Atomic:
			x := *c
			x.CmdID = id
			x.Commands = container(id, c.CommandName(), c.Commands)
			return &x
		default:
			return c
		}
		if !noResp {
			inflight = append(inflight, Inflight{EntryID: entry, MsgID: msgID, CmdID: id, Cmd: c.CommandName()})
		}
		return out
	}
	out := walk(c)
	return out, inflight
}
