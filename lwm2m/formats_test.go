package lwm2m_test

import (
	"context"
	"testing"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
	"github.com/fumo-gw/fumo-gw/sim"
)

// TestRead_OneFormat: devices that read in one content format only are
// read (and observed) through Read with AnyFormat: asked in the format
// they announced, else in one their version mandates, and again once in
// another when they refuse it with 4.06 or 5.00.
func TestRead_OneFormat(t *testing.T) {
	tests := []struct {
		name     string
		dev      func(*sim.LwM2MDevice)
		path     string
		format   codec.Format // the format the answer comes in
		refusals int          // the reads the device refused
	}{
		{"senml json only, announced (Wakaama)", func(d *sim.LwM2MDevice) {
			d.Formats, d.FormatRefusal = []codec.Format{codec.FormatSenMLJSON}, codes.InternalServerError
		}, "/3/0", codec.FormatSenMLJSON, 0},
		{"senml json only, a resource", func(d *sim.LwM2MDevice) {
			d.Formats, d.FormatRefusal = []codec.Format{codec.FormatSenMLJSON}, codes.InternalServerError
		}, "/3/0/3", codec.FormatSenMLJSON, 0},
		{"senml json only, not announced: one retry", func(d *sim.LwM2MDevice) {
			d.Formats, d.NoContentFormat = []codec.Format{codec.FormatSenMLJSON}, true
		}, "/3/0", codec.FormatSenMLJSON, 1},
		{"senml json only, not announced, 5.00: one retry", func(d *sim.LwM2MDevice) {
			d.Formats, d.NoContentFormat, d.FormatRefusal = []codec.Format{codec.FormatSenMLJSON}, true, codes.InternalServerError
		}, "/3/0", codec.FormatSenMLJSON, 1},
		{"1.0, tlv only", func(d *sim.LwM2MDevice) {
			d.Version, d.Formats = "1.0", []codec.Format{codec.FormatTLV}
		}, "/3/0", codec.FormatTLV, 0},
		{"1.0, tlv only, a resource: text refused, tlv", func(d *sim.LwM2MDevice) {
			d.Version, d.Formats = "1.0", []codec.Format{codec.FormatTLV}
		}, "/3/0/3", codec.FormatTLV, 1},
		{"1.1, tlv announced", func(d *sim.LwM2MDevice) {
			d.Formats = []codec.Format{codec.FormatTLV}
		}, "/3/0", codec.FormatTLV, 0},
		{"senml cbor and text, a resource", func(d *sim.LwM2MDevice) {
			d.Formats, d.NoContentFormat = []codec.Format{codec.FormatText, codec.FormatSenMLCBOR}, true
		}, "/3/0/3", codec.FormatText, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, func(c *lwm2m.Config) { c.Inventory = false })
			g.addDevice("ep", "", nil)
			ctx := context.Background()
			d := g.device("ep", tt.dev)
			p := node.MustPath(tt.path)
			c, err := g.srv.Read(ctx, "ep", p, lwm2m.AnyFormat)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := c.Records(p)
			if err != nil || c.Format != tt.format {
				t.Fatalf("answer in %v, records %v, %v; want %v", c.Format, recs, err, tt.format)
			}
			if !hasValue(recs, "/3/0/3", "1.0") {
				t.Fatalf("no firmware version 1.0 in %v", recs)
			}
			if n := d.RefusedReads(); n != tt.refusals {
				t.Fatalf("%d reads refused, want %d", n, tt.refusals)
			}
			// An Observe chooses the same way.
			if err := g.srv.Observe(ctx, "ep", p, lwm2m.AnyFormat); err != nil {
				t.Fatalf("observe: %v", err)
			}
			d.SetValue("/3/0/3", node.String("1.1"))
			g.events.wait(t, func(ev lwm2m.Event) bool {
				return ev.Kind == lwm2m.EventNotify && ev.Format == tt.format && hasValue(ev.Records, "/3/0/3", "1.1")
			})
			if n := d.RefusedReads(); n != 2*tt.refusals {
				t.Fatalf("%d reads refused after the observe, want %d", n, 2*tt.refusals)
			}
		})
	}
}

// TestRead_FormatRetriedOnce: a device that refuses both formats asked is
// asked twice, not more; a format the caller names is asked once, as it
// is.
func TestRead_FormatRetriedOnce(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.Inventory = false })
	g.addDevice("ep", "", nil)
	ctx := context.Background()
	// 1.1 without ct: SenML CBOR, then SenML JSON; it reads TLV only.
	d := g.device("ep", func(d *sim.LwM2MDevice) {
		d.Formats, d.NoContentFormat, d.FormatRefusal = []codec.Format{codec.FormatTLV}, true, codes.InternalServerError
	})
	if _, err := g.srv.Read(ctx, "ep", node.MustPath("/3/0"), lwm2m.AnyFormat); !lwm2m.IsCode(err, codes.InternalServerError) {
		t.Fatalf("read: %v, want 5.00", err)
	}
	if n := d.RefusedReads(); n != 2 {
		t.Fatalf("%d reads refused, want 2 (one retry)", n)
	}
	if err := g.srv.Observe(ctx, "ep", node.MustPath("/3/0"), lwm2m.AnyFormat); !lwm2m.IsCode(err, codes.InternalServerError) {
		t.Fatalf("observe: %v, want 5.00", err)
	}
	if n := d.RefusedReads(); n != 4 {
		t.Fatalf("%d reads refused, want 4 (one retry)", n)
	}
	if _, err := g.srv.Read(ctx, "ep", node.MustPath("/3/0"), codec.FormatSenMLJSON); !lwm2m.IsCode(err, codes.InternalServerError) {
		t.Fatalf("read in senml json: %v, want 5.00", err)
	}
	if n := d.RefusedReads(); n != 5 {
		t.Fatalf("%d reads refused, want 5 (a named format is not retried)", n)
	}
	if c, err := g.srv.Read(ctx, "ep", node.MustPath("/3/0"), codec.FormatTLV); err != nil || c.Format != codec.FormatTLV {
		t.Fatalf("read in tlv: %v", err)
	}
	// A device that refuses a read for another reason is not asked again.
	if _, err := g.srv.Read(ctx, "ep", node.MustPath("/3/0/4242"), lwm2m.AnyFormat); !lwm2m.IsCode(err, codes.NotFound) {
		t.Fatalf("read of a missing resource: %v, want 4.04", err)
	}
	if n := d.RefusedReads(); n != 5 {
		t.Fatalf("%d reads refused, want 5", n)
	}
}

// TestInventory_OneFormat: the Object 3 read after a Register negotiates
// the format too.
func TestInventory_OneFormat(t *testing.T) {
	g := newGateway(t, nil)
	g.addDevice("ep", "", nil)
	g.device("ep", func(d *sim.LwM2MDevice) {
		acme(d)
		d.Formats, d.NoContentFormat = []codec.Format{codec.FormatSenMLJSON}, true
	})
	if d := g.inventoried("ep"); d.Model != "Rocket-X" || d.FirmwareVersion != "1.7" || d.LwM2M.Inventory.SerialNumber != "SN-0042" {
		t.Fatalf("device %+v, inventory %+v", d, d.LwM2M.Inventory)
	}
}

func hasValue(recs []node.Record, path, want string) bool {
	for _, r := range recs {
		if r.Path == node.MustPath(path) {
			v, err := r.Value.Str()
			return err == nil && v == want
		}
	}
	return false
}
