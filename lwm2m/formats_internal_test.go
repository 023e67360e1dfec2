package lwm2m

import (
	"slices"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

func TestReadFormats(t *testing.T) {
	const (
		text  = codec.FormatText
		tlv   = codec.FormatTLV
		json  = codec.FormatSenMLJSON
		cbor  = codec.FormatSenMLCBOR
		opaq  = codec.FormatOpaque
		lwjsn = int(codec.FormatLwM2MJSON)
	)
	tests := []struct {
		name    string
		version string
		ct      int
		path    string
		want    []codec.Format
	}{
		{"1.0 instance, no ct", "1.0", 0, "/3/0", []codec.Format{tlv, AnyFormat}},
		{"1.0 resource, no ct", "1.0", 0, "/3/0/3", []codec.Format{text, tlv}},
		{"1.0 resource, ct tlv", "1.0", int(tlv), "/3/0/3", []codec.Format{tlv, text}},
		{"no version is 1.0", "", 0, "/5/0", []codec.Format{tlv, AnyFormat}},
		{"1.0 multiple resource", "1.0", 0, "/5/0/8", []codec.Format{tlv, AnyFormat}},
		{"1.0 resource instance", "1.0", 0, "/5/0/8/1", []codec.Format{text, tlv}},
		{"1.1 instance, no ct", "1.1", 0, "/3/0", []codec.Format{cbor, json}},
		{"1.1 instance, ct senml json", "1.1", int(json), "/3/0", []codec.Format{json, cbor}},
		{"1.1 instance, ct tlv", "1.1", int(tlv), "/3/0", []codec.Format{tlv, cbor}},
		{"1.1 resource, ct senml json", "1.1", int(json), "/3/0/3", []codec.Format{json, text}},
		{"1.1 resource, no ct", "1.2", 0, "/3/0/3", []codec.Format{text, cbor}},
		{"1.1 object", "1.1", int(cbor), "/5", []codec.Format{cbor, json}},
		{"an opaque resource", "1.1", 0, "/5/0/0", []codec.Format{opaq, cbor}},
		{"an unknown resource is taken as single", "1.1", 0, "/4242/0/7", []codec.Format{text, cbor}},
		{"a ct not decoded here is left out", "1.0", lwjsn, "/3/0", []codec.Format{tlv, AnyFormat}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readFormats(fleet.Registration{Version: tt.version, ContentFormat: tt.ct}, node.MustPath(tt.path))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("readFormats(%s, ct %d, %s) = %v, want %v", tt.version, tt.ct, tt.path, got, tt.want)
			}
		})
	}
}

func TestTakeInventory(t *testing.T) {
	tests := []struct {
		name string
		rec  node.Record
		n    int
		want fleet.LwM2MInventory
	}{
		{"manufacturer", node.Record{Path: node.MustPath("/3/0/0"), Value: node.String(" Acme ")}, 1, fleet.LwM2MInventory{Manufacturer: "Acme"}},
		{"model from tlv bytes", node.Record{Path: node.MustPath("/3/0/1"), Value: node.RawBinary([]byte("X1"))}, 1, fleet.LwM2MInventory{ModelNumber: "X1"}},
		{"serial", node.Record{Path: node.MustPath("/3/0/2"), Value: node.RawText("S-1")}, 1, fleet.LwM2MInventory{SerialNumber: "S-1"}},
		{"firmware", node.Record{Path: node.MustPath("/3/0/3"), Value: node.String("2.0")}, 1, fleet.LwM2MInventory{FirmwareVersion: "2.0"}},
		{"another resource", node.Record{Path: node.MustPath("/3/0/9"), Value: node.Integer(80)}, 0, fleet.LwM2MInventory{}},
		{"another instance", node.Record{Path: node.MustPath("/3/1/1"), Value: node.String("x")}, 0, fleet.LwM2MInventory{}},
		{"empty", node.Record{Path: node.MustPath("/3/0/1"), Value: node.String("")}, 0, fleet.LwM2MInventory{}},
		{"a number", node.Record{Path: node.MustPath("/3/0/1"), Value: node.Integer(7)}, -1, fleet.LwM2MInventory{}},
		{"control characters", node.Record{Path: node.MustPath("/3/0/1"), Value: node.String("a\x00b")}, -1, fleet.LwM2MInventory{}},
		{"not UTF-8", node.Record{Path: node.MustPath("/3/0/1"), Value: node.RawBinary([]byte{0xff})}, -1, fleet.LwM2MInventory{}},
		{"too long", node.Record{Path: node.MustPath("/3/0/1"), Value: node.String(strings.Repeat("m", 129))}, -1, fleet.LwM2MInventory{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inv fleet.LwM2MInventory
			if n := takeInventory(&inv, tt.rec); n != tt.n || !inv.SameAs(&tt.want) {
				t.Fatalf("takeInventory(%v) = %d, %+v; want %d, %+v", tt.rec, n, inv, tt.n, tt.want)
			}
		})
	}
}
