package fumo

import (
	"context"
	"fmt"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// onDiscover takes the device's tree structure and asks the candidate
// nodes for their Type (in the same session: the DM server adds what is
// queued now to its reply). A device that cannot list its tree has the
// usual places probed instead.
func (d *Driver) onDiscover(ctx context.Context, j fleet.Job, r dm.CommandResult, code int) error {
	if j.State != fleet.JobWaitingDevice {
		return nil
	}
	var candidates []Root
	if r.State == fleet.DMCommandDone && code == 200 && r.Outcome != nil {
		candidates = Candidates(r.Outcome.Results)
	} else {
		candidates = FallbackRoots
	}
	if len(candidates) == 0 {
		return d.fail(ctx, j, fleet.ReasonUnsupported, 0, "no FUMO object ("+MOType+") on the device: Get ./?list=Struct listed no interior node")
	}
	var cmds []fleet.DMCommand
	for i, c := range candidates {
		rec, err := dm.QueueRecord(commandID(j, fmt.Sprintf("%s%d", kindProbe, i+1)), j.DeviceID, GetType(string(c)), "", false)
		if err != nil {
			return err
		}
		cmds = append(cmds, rec)
	}
	_, err := d.step(ctx, j, j.State, "", 0, nil, fleet.DMWork{Enqueue: cmds})
	return err
}

// onProbe decides once every Type read of the job is answered: the first
// candidate whose Type is the FUMO object's is the device's root,
// remembered in its record, and the job's FUMO commands follow; when none
// is, the job fails as unsupported, saying what was tried.
func (d *Driver) onProbe(ctx context.Context, j fleet.Job) error {
	if j.State != fleet.JobWaitingDevice {
		return nil
	}
	cmds, err := d.cfg.Jobs.AllDMCommands(ctx, j.DeviceID)
	if err != nil {
		return err
	}
	var tried []string
	found := Root("")
	for _, c := range cmds {
		job, kind, attempt, ok := parseCommandID(c.ID)
		if base, _ := splitKind(kind); !ok || job != j.ID || attempt != max(j.Attempts, 1) || base != kindProbe {
			continue
		}
		if !c.State.Terminal() {
			return nil // more answers to come
		}
		r, err := dm.ResultOf(c)
		if err != nil {
			return err
		}
		node := probedNode(c)
		tried = append(tried, node)
		if found == "" && r.Outcome != nil && r.Outcome.Code() == 200 {
			for _, it := range r.Outcome.Results {
				if IsFUMOType(string(it.Data)) {
					found = Root(node)
				}
			}
		}
	}
	if found == "" {
		return d.fail(ctx, j, fleet.ReasonUnsupported, 0, fmt.Sprintf("no FUMO object (%s) on the device: tried Get ./?list=Struct, then ?prop=Type of %s",
			MOType, strings.Join(tried, ", ")))
	}
	if _, err := d.cfg.Jobs.UpdateDevice(ctx, j.DeviceID, func(dev *fleet.Device) error {
		dev.DM.FUMORoot = string(found)
		return nil
	}); err != nil {
		return err
	}
	fumo, err := d.fumoCommands(ctx, j, found)
	if err != nil {
		return d.fail(ctx, j, fleet.ReasonUnknown, 0, err.Error())
	}
	d.log.Info("fumo: FUMO root found", "job", j.ID, "device", j.DeviceID, "root", found)
	_, err = d.step(ctx, j, j.State, "", 0, nil, fleet.DMWork{Enqueue: fumo})
	return err
}

// probedNode is the node a queued Type read asks about.
func probedNode(c fleet.DMCommand) string {
	cmd, err := dm.DecodeCommand(c.Command)
	if err != nil {
		return "?"
	}
	if get, ok := cmd.(*syncml.Get); ok && len(get.Items) > 0 && get.Items[0].Target != nil {
		return strings.TrimSuffix(get.Items[0].Target.LocURI, "?prop=Type")
	}
	return "?"
}
