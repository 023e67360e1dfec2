package scenario

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// Apply creates what s describes in the gateway's store, in order:
// packages, models, devices, queued commands, then jobs (each started, or
// stored as updating with its state read queued).
func (g *Gateway) Apply(ctx context.Context, s *Setup) error {
	for _, p := range s.Packages {
		img, sha := Image(p.ID, p.Size)
		if _, err := g.Store.PutPackage(ctx, fleet.Package{ID: p.ID, Name: p.Name, Version: p.Version, Size: int64(p.Size), SHA256: sha}, bytes.NewReader(img)); err != nil {
			return fmt.Errorf("scenario: package %s: %w", p.ID, err)
		}
	}
	for _, m := range s.Models {
		if _, err := g.Store.PutModelSettings(ctx, fleet.ModelSettings{Model: m.Model, Release: m.Release, FUMORoot: m.FUMORoot}); err != nil {
			return fmt.Errorf("scenario: model %s: %w", m.Model, err)
		}
	}
	for _, d := range s.Devices {
		if _, err := g.Store.CreateDevice(ctx, d.record()); err != nil {
			return fmt.Errorf("scenario: device %s: %w", d.ID, err)
		}
	}
	for _, c := range s.Commands {
		cmd, err := ParseCommand(c.XML)
		if err != nil {
			return fmt.Errorf("scenario: command %s: %w", c.ID, err)
		}
		if err := g.DM.EnqueueAs(ctx, c.ID, c.Device, cmd, ""); err != nil {
			return fmt.Errorf("scenario: command %s: %w", c.ID, err)
		}
	}
	for _, j := range s.Jobs {
		job := fleet.Job{ID: j.ID, DeviceID: j.Device, PackageID: j.Package, Operation: j.Operation, Delivery: j.Delivery, State: fleet.JobQueued}
		if job.Operation == "" {
			job.Operation = fleet.OpDownloadAndUpdate
		}
		if job.Delivery == "" {
			job.Delivery = fleet.DeliveryPull
		}
		if j.State == fleet.JobUpdating {
			// Its Exec accepted, its alert overdue: the driver's watch
			// queues the state read now.
			job.State, job.Attempts = fleet.JobUpdating, 1
			job.StepDeadline = time.Now().Add(-time.Second)
			if _, err := g.Store.CreateJob(ctx, job); err != nil {
				return fmt.Errorf("scenario: job %s: %w", j.ID, err)
			}
			g.Driver.Watch(ctx, time.Now())
			continue
		}
		if _, err := g.Store.CreateJob(ctx, job); err != nil {
			return fmt.Errorf("scenario: job %s: %w", j.ID, err)
		}
		if err := g.Driver.Start(ctx, j.ID); err != nil {
			return fmt.Errorf("scenario: job %s: %w", j.ID, err)
		}
	}
	return nil
}

// record is the device as the store keeps it.
func (d Device) record() fleet.Device {
	info := &fleet.DMInfo{DeviceID: d.DMDeviceID, Auth: fleet.DMAuth(d.Auth), Username: d.Username, Password: fleet.Secret(d.Password),
		ServerID: d.ServerID, ServerAuth: fleet.DMAuth(d.ServerAuth), FUMORoot: d.FUMORoot}
	if d.ServerPassword != "" {
		info.ServerPassword = fleet.Secret(d.ServerPassword)
	}
	if d.ClientNonce != "" {
		info.ClientNonce = []byte(d.ClientNonce)
	}
	if d.ServerNonce != "" {
		info.ServerNonce = []byte(d.ServerNonce)
	}
	return fleet.Device{ID: d.ID, Protocol: fleet.ProtocolDM, Model: d.Model, FirmwareVersion: d.FirmwareVersion, DM: info}
}

// ParseCommand reads one SyncML command written as XML without a CmdID
// (the form of Command.XML) and returns it as the DM queue takes it.
func ParseCommand(x string) (syncml.Command, error) {
	const head = `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>0</SessionID>` +
		`<MsgID>1</MsgID><Target><LocURI>queue</LocURI></Target><Source><LocURI>queue</LocURI></Source></SyncHdr><SyncBody>`
	// The codec wants the CmdID a message carries; the queue wants none.
	x = strings.TrimSpace(x)
	if end := strings.IndexByte(x, '>'); end > 0 && !strings.Contains(x, "<CmdID>") {
		x = x[:end+1] + "<CmdID>1</CmdID>" + x[end+1:]
	}
	m, err := syncml.DecodeXML([]byte(head + x + `</SyncBody></SyncML>`))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(m.Body.Commands) != 1 {
		return nil, fmt.Errorf("%w: %d commands where one was expected", ErrInvalid, len(m.Body.Commands))
	}
	b, err := syncml.EncodeWBXML(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	cmd, err := dm.DecodeCommand(b) // drops the CmdID
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return cmd, nil
}
