package dm

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
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

// QueueRecord is cmd (no CmdIDs) as the store queues it for a device,
// under id: for callers that queue commands in the same transaction as
// their own state (a FUMO job's step). blob names a stored package whose
// bytes become the Data of the command's only Item; atMostOnce marks a
// command the device may act on without the server hearing of it (see
// fleet.DMCommand.AtMostOnce).
func QueueRecord(id, deviceID string, cmd syncml.Command, blob string, atMostOnce bool) (fleet.DMCommand, error) {
	if blob != "" && len(commandItems(cmd)) != 1 {
		return fleet.DMCommand{}, fmt.Errorf("%w: a blob needs a command with exactly one item", ErrBadCommand)
	}
	raw, err := EncodeCommand(cmd)
	if err != nil {
		return fleet.DMCommand{}, err
	}
	return fleet.DMCommand{ID: id, DeviceID: deviceID, Command: raw, Blob: blob, AtMostOnce: atMostOnce}, nil
}

// ResultOf is what became of a stored command (its outcome decoded).
func ResultOf(c fleet.DMCommand) (CommandResult, error) {
	r := CommandResult{ID: c.ID, DeviceID: c.DeviceID, State: c.State, Error: c.Error}
	if len(c.Outcome) > 0 {
		var o Outcome
		if err := json.Unmarshal(c.Outcome, &o); err != nil {
			return r, fmt.Errorf("dm: stored outcome of %s: %w", c.ID, err)
		}
		r.Outcome = &o
	}
	return r, nil
}
