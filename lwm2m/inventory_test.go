package lwm2m_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
	"github.com/fumo-gw/fumo-gw/sim"
	"github.com/fumo-gw/fumo-gw/store"
)

var _ lwm2m.InventoryStore = (*store.Store)(nil)

// acme is a device reporting an inventory of its own.
func acme(d *sim.LwM2MDevice) {
	d.Manufacturer, d.Model, d.SerialNumber = "Acme", "Rocket-X", "SN-0042"
	d.Firmware = &sim.LwM2MFirmware{Version: "1.7"}
}

// TestInventory_AfterRegister: the Register is answered, then Object 3 and
// the registration's versions land in the device record: model and
// firmware version replace what was provisioned, so selectors and the
// model index find the device by what it reported.
func TestInventory_AfterRegister(t *testing.T) {
	g := newGateway(t, nil)
	g.addDevice("ep1", "", nil) // provisioned as SIM-L1, no firmware version
	ctx := context.Background()
	g.device("ep1", acme)
	d := g.inventoried("ep1")
	inv := d.LwM2M.Inventory
	if d.Model != "Rocket-X" || d.FirmwareVersion != "1.7" || inv.Manufacturer != "Acme" || inv.ModelNumber != "Rocket-X" ||
		inv.SerialNumber != "SN-0042" || inv.FirmwareVersion != "1.7" || inv.LwM2MVersion != "1.1" ||
		!maps.Equal(inv.ObjectVersions, map[string]string{"1": "1.1"}) || inv.Updated.IsZero() {
		t.Fatalf("device %+v, inventory %+v", d, inv)
	}
	if d.LwM2M.Registration == nil {
		t.Fatal("the registration is gone from the record")
	}
	sel := fleet.Selector{Protocol: fleet.ProtocolLwM2M, Model: "Rocket-X", FirmwareVersion: "1.7"}
	if !sel.Matches(&d) {
		t.Fatalf("selector %+v does not match %+v", sel, d)
	}
	for model, want := range map[string]int{"Rocket-X": 1, "SIM-L1": 0} {
		ds, err := g.st.Devices(ctx, store.DeviceFilter{Model: model})
		if err != nil || len(ds) != want {
			t.Errorf("devices of model %s: %d, %v; want %d", model, len(ds), err, want)
		}
	}
}

// TestInventory_RegisterNotDelayed: a device that never answers the
// Object 3 read gets its Register answered at once and keeps its
// registration; its record is left as it was.
func TestInventory_RegisterNotDelayed(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.RequestTimeout = time.Second })
	g.addDevice("ep1", "", nil)
	ctx := context.Background()
	start := time.Now()
	dev := g.device("ep1", func(d *sim.LwM2MDevice) { acme(d); d.Object3Fault = sim.LwM2MObject3Silent })
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Register took %v", took)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := g.srv.RefreshInventory(rctx, "ep1"); err == nil {
		t.Fatal("inventory of a device that does not answer: no error")
	}
	checkUntouched(t, g, "ep1", dev)
}

// TestInventory_BadObject3: an Object 3 that fails, or that answers what
// does not decode, leaves the registration and the device record as they
// were; one that refuses /3/0 as a whole is read resource by resource.
func TestInventory_BadObject3(t *testing.T) {
	tests := []struct {
		name  string
		fault sim.LwM2MObject3Fault
		ok    bool
	}{
		{"5.00 on every read", sim.LwM2MObject3Error, false},
		{"undecodable answers", sim.LwM2MObject3Malformed, false},
		{"instance refused, resources readable", sim.LwM2MObject3InstanceRefused, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, nil)
			g.addDevice("ep1", "", nil)
			ctx := context.Background()
			dev := g.device("ep1", func(d *sim.LwM2MDevice) { acme(d); d.Object3Fault = tt.fault })
			err := g.srv.RefreshInventory(ctx, "ep1")
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if d := g.inventoried("ep1"); d.Model != "Rocket-X" || d.LwM2M.Inventory.SerialNumber != "SN-0042" {
					t.Fatalf("device %+v, inventory %+v", d, d.LwM2M.Inventory)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			checkUntouched(t, g, "ep1", dev)
		})
	}
}

// checkUntouched: the device is registered, answers, and its record holds
// what was provisioned and its registration, no inventory.
func checkUntouched(t *testing.T, g *gateway, ep string, dev *sim.LwM2MDevice) {
	t.Helper()
	ctx := context.Background()
	reg, ok := g.srv.Registration(ep)
	if !ok {
		t.Fatal("registration dropped")
	}
	d, err := g.st.DeviceByEndpoint(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	if d.Model != "SIM-L1" || d.FirmwareVersion != "" || d.LwM2M.Inventory != nil || d.LwM2M.Registration == nil || d.LwM2M.Registration.ID != reg.ID {
		t.Fatalf("record changed: %+v %+v", d, d.LwM2M)
	}
	if _, err := g.srv.Read(ctx, ep, node.MustPath("/1/0/1"), lwm2m.AnyFormat); err != nil {
		t.Fatalf("the device no longer answers: %v", err)
	}
	if err := dev.Update(ctx); err != nil {
		t.Fatalf("update after the failed read: %v", err)
	}
}

// TestInventory_Refresh: a firmware version that changes without a
// Register is read on demand; a new Register reads it again; a model
// number the device stops giving leaves the model as it was.
func TestInventory_Refresh(t *testing.T) {
	g := newGateway(t, nil)
	g.addDevice("ep1", "", nil)
	ctx := context.Background()
	dev := g.device("ep1", acme)
	first := g.inventoried("ep1")

	dev.SetValue("/3/0/3", node.String("1.8"))
	if err := g.srv.RefreshInventory(ctx, "ep1"); err != nil {
		t.Fatal(err)
	}
	d := g.inventoried("ep1")
	if d.FirmwareVersion != "1.8" || d.LwM2M.Inventory.FirmwareVersion != "1.8" || d.LwM2M.Inventory.Updated.Before(first.LwM2M.Inventory.Updated) {
		t.Fatalf("after a refresh: %+v %+v", d, d.LwM2M.Inventory)
	}

	// Nothing new: nothing written.
	if err := g.srv.RefreshInventory(ctx, "ep1"); err != nil {
		t.Fatal(err)
	}
	if again := g.inventoried("ep1"); !again.Updated.Equal(d.Updated) {
		t.Fatalf("an unchanged inventory was written again: %v, then %v", d.Updated, again.Updated)
	}

	// A re-registration (the device rebooted into new firmware).
	dev.SetValue("/3/0/3", node.String("2.0"))
	if err := dev.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "firmware 2.0 recorded", func() bool {
		d, err := g.st.DeviceByEndpoint(ctx, "ep1")
		return err == nil && d.FirmwareVersion == "2.0"
	})

	// A model number given empty, a serial number not printable.
	dev.SetValue("/3/0/1", node.String(""))
	dev.SetValue("/3/0/2", node.String("SN\x00\x01"))
	if err := g.srv.RefreshInventory(ctx, "ep1"); err != nil {
		t.Fatal(err)
	}
	d = g.inventoried("ep1")
	if inv := d.LwM2M.Inventory; d.Model != "Rocket-X" || inv.ModelNumber != "" || inv.SerialNumber != "" || inv.Manufacturer != "Acme" {
		t.Fatalf("after an empty model: %+v %+v", d, inv)
	}

	if err := g.srv.RefreshInventory(ctx, "nobody"); !errors.Is(err, lwm2m.ErrNotRegistered) {
		t.Fatalf("refresh of an unknown endpoint: %v", err)
	}
}

// TestInventory_Off: with Config.Inventory off nothing is read after a
// Register; RefreshInventory still reads.
func TestInventory_Off(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.Inventory = false })
	g.addDevice("ep1", "", nil)
	ctx := context.Background()
	g.device("ep1", acme)
	if _, err := g.srv.Read(ctx, "ep1", node.MustPath("/3/0/3"), codec.FormatText); err != nil {
		t.Fatal(err)
	}
	if d, _ := g.st.DeviceByEndpoint(ctx, "ep1"); d.LwM2M.Inventory != nil || d.Model != "SIM-L1" {
		t.Fatalf("inventory read while off: %+v", d)
	}
	if st := g.srv.Stats(); st.Requests != 1 {
		t.Fatalf("%d requests, want the one Read", st.Requests)
	}
	if err := g.srv.RefreshInventory(ctx, "ep1"); err != nil {
		t.Fatal(err)
	}
	if d := g.inventoried("ep1"); d.Model != "Rocket-X" {
		t.Fatalf("after a refresh: %+v", d)
	}
}

// TestInventory_ProvisionedModelKept: a device that gives no model number
// keeps the model it was provisioned with; one that refuses /3/0 as a
// whole is read resource by resource.
func TestInventory_ProvisionedModelKept(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.Inventory = false }) // read only when asked
	g.addDevice("ep1", "", nil)                                       // provisioned as SIM-L1
	ctx := context.Background()
	dev := g.device("ep1", func(d *sim.LwM2MDevice) { acme(d); d.Object3Fault = sim.LwM2MObject3InstanceRefused })
	dev.SetValue("/3/0/1", node.String("  "))
	if err := g.srv.RefreshInventory(ctx, "ep1"); err != nil {
		t.Fatal(err)
	}
	d := g.inventoried("ep1")
	if inv := d.LwM2M.Inventory; d.Model != "SIM-L1" || d.FirmwareVersion != "1.7" || inv.ModelNumber != "" || inv.Manufacturer != "Acme" {
		t.Fatalf("device %+v, inventory %+v", d, inv)
	}
}
