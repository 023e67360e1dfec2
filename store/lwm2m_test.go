package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/fleet"
)

func pskDev(id, ep, identity string) fleet.Device {
	d := lwDev(id, ep)
	d.LwM2M.PSKIdentity, d.LwM2M.PSKKey = identity, fleet.Secret("0123456789abcdef")
	return d
}

func TestPSKIdentity_UniqueAndIndexed(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, err := s.CreateDevice(ctx, pskDev("a", "ep-a", "id-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDevice(ctx, pskDev("b", "ep-b", "id-a")); !errors.Is(err, ErrExists) {
		t.Fatalf("second device with the same identity: %v", err)
	}
	if _, err := s.Device(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused device stored: %v", err)
	}
	d, err := s.DeviceByPSKIdentity(ctx, "id-a")
	if err != nil || d.ID != "a" {
		t.Fatalf("by identity: %v %v", d.ID, err)
	}
	if _, err := s.UpdateDevice(ctx, "a", func(d *fleet.Device) error { d.LwM2M.PSKIdentity = "id-new"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeviceByPSKIdentity(ctx, "id-a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old identity still indexed: %v", err)
	}
	if err := s.DeleteDevice(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeviceByPSKIdentity(ctx, "id-new"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted device still indexed: %v", err)
	}
}

// TestMigrateToSchema2 indexes the identities of devices a schema-1 file
// holds.
func TestMigrateToSchema2(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, err := s.CreateDevice(ctx, pskDev("a", "ep-a", "id-a")); err != nil {
		t.Fatal(err)
	}
	// Make it a schema-1 file: no psk index.
	if err := s.db.Update(func(tx *txAlias) error {
		if err := tx.DeleteBucket(bucketDevPSK); err != nil {
			return err
		}
		return s.migrate(tx, 1, 2)
	}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.DeviceByPSKIdentity(ctx, "id-a"); err != nil || d.ID != "a" {
		t.Fatalf("after migration: %v %v", d.ID, err)
	}
}

func TestSetRegistration(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	for _, d := range []fleet.Device{lwDev("a", "ep-a"), lwDev("b", "ep-b"), dmDev("c", "IMEI:1")} {
		if _, err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	reg := &fleet.Registration{ID: "r1", Address: "127.0.0.1:5000", Lifetime: 60, Queue: true, Objects: []string{"/5/0"}, Updated: time.Unix(100, 0).UTC()}
	if err := s.SetRegistration(ctx, "a", reg); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRegistration(ctx, "c", reg); !errors.Is(err, ErrInvalid) {
		t.Fatalf("DM device: %v", err)
	}
	if err := s.SetRegistration(ctx, "zz", reg); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
	s = reopen(t, s, path)
	regs, err := s.RegisteredDevices(ctx)
	if err != nil || len(regs) != 1 || regs[0].ID != "a" || regs[0].LwM2M.Registration.ID != "r1" || !regs[0].LwM2M.Registration.Queue {
		t.Fatalf("registered: %+v %v", regs, err)
	}
	if got := regs[0].LwM2M.Registration.Expires(); !got.Equal(time.Unix(160, 0)) {
		t.Fatalf("expires %v", got)
	}
	if err := s.SetRegistration(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	if regs, _ := s.RegisteredDevices(ctx); len(regs) != 0 {
		t.Fatalf("after removal: %+v", regs)
	}
}
