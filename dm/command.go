package dm

import (
	"errors"
	"fmt"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// ErrBadCommand: a command that cannot be queued (unknown kind, CmdID
// set, no items) or a stored command that does not decode.
var ErrBadCommand = errors.New("dm: bad command")

// EncodeCommand is how a queued command is stored: the WBXML of a message
// holding only that command (binary Data stays exact).
func EncodeCommand(c syncml.Command) ([]byte, error) {
	if err := checkQueueable(c); err != nil {
		return nil, err
	}
	m := &syncml.Message{Header: syncml.Header{VerDTD: syncml.VerDTD, VerProto: syncml.VerProto, SessionID: "0", MsgID: "1",
		Target: syncml.Location{LocURI: "queue"}, Source: syncml.Location{LocURI: "queue"}},
		Body: syncml.Body{Commands: []syncml.Command{withCmdID(c)}}}
	b, err := syncml.EncodeWBXML(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	return b, nil
}

// DecodeCommand reads a command written by EncodeCommand.
func DecodeCommand(b []byte) (syncml.Command, error) {
	m, err := syncml.DecodeWBXML(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if len(m.Body.Commands) != 1 {
		return nil, fmt.Errorf("%w: %d commands stored", ErrBadCommand, len(m.Body.Commands))
	}
	return withoutCmdID(m.Body.Commands[0]), nil
}

// checkQueueable accepts the commands a server sends to a device.
func checkQueueable(c syncml.Command) error {
	var items []syncml.Item
	switch c := c.(type) {
	case *syncml.Add, *syncml.Replace, *syncml.Delete, *syncml.Get, *syncml.Copy:
		items = commandItems(c)
	case *syncml.Exec:
		items = []syncml.Item{c.Item}
	case *syncml.Alert:
		return nil
	case *syncml.Sequence:
		return checkAll(c.Commands)
	case *syncml.Atomic:
		return checkAll(c.Commands)
	default:
		return fmt.Errorf("%w: a server does not send %s", ErrBadCommand, c.CommandName())
	}
	if len(items) == 0 {
		return fmt.Errorf("%w: %s without items", ErrBadCommand, c.CommandName())
	}
	for _, it := range items {
		if it.Target == nil || it.Target.LocURI == "" {
			return fmt.Errorf("%w: %s item without Target", ErrBadCommand, c.CommandName())
		}
	}
	return nil
}

func checkAll(cmds []syncml.Command) error {
	for _, in := range cmds {
		if err := checkQueueable(in); err != nil {
			return err
		}
	}
	return nil
}

// withCmdID and withoutCmdID set placeholder CmdIDs for encoding (the
// codec requires them) and clear them again: the session numbers commands.
func withCmdID(c syncml.Command) syncml.Command    { return setCmdIDs(c, "1") }
func withoutCmdID(c syncml.Command) syncml.Command { return setCmdIDs(c, "") }
