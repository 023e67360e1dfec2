package codec

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

func TestEncodeTLV_Values(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 300)
	huge := bytes.Repeat([]byte("y"), 70000)
	tests := []struct {
		name string
		base string
		recs []node.Record
		want []byte
	}{
		{"integer in 1 byte", "/5/0", []node.Record{rec("/5/0/3", node.Integer(1))}, unhex("c1 03 01")},
		{"negative in 1 byte", "/5/0", []node.Record{rec("/5/0/3", node.Integer(-128))}, unhex("c1 03 80")},
		{"negative in 2 bytes", "/5/0", []node.Record{rec("/5/0/3", node.Integer(-129))}, unhex("c2 03 ff 7f")},
		{"integer in 4 bytes", "/5/0", []node.Record{rec("/5/0/3", node.Integer(32768))}, unhex("c4 03 00 00 80 00")},
		{"integer in 8 bytes", "/5/0", []node.Record{rec("/5/0/3", node.Integer(1<<40))}, unhex("c8 03 08 00 00 01 00 00 00 00 00")},
		{"min int64", "/5/0", []node.Record{rec("/5/0/3", node.Integer(math.MinInt64))}, unhex("c8 03 08 80 00 00 00 00 00 00 00")},
		{"unsigned in 1 byte", "/5/0", []node.Record{rec("/5/0/13", node.Unsigned(200))}, unhex("c1 0d c8")},
		{"unsigned in 8 bytes", "/5/0", []node.Record{rec("/5/0/13", node.Unsigned(math.MaxUint64))}, unhex("c8 0d 08 ff ff ff ff ff ff ff ff")},
		{"float exact in float32", "/5/0", []node.Record{rec("/5/0/99", node.Float(1.5))}, unhex("c4 63 3f c0 00 00")},
		{"float64", "/5/0", []node.Record{rec("/5/0/99", node.Float(0.1))}, unhex("c8 63 08 3f b9 99 99 99 99 99 9a")},
		{"boolean", "/5/0", []node.Record{rec("/5/0/14", node.Boolean(true)), rec("/5/0/99", node.Boolean(false))}, unhex("c1 0e 01 c1 63 00")},
		{"time as integer", "/5/0", []node.Record{rec("/5/0/12", node.Time(time.Unix(1700000000, 0)))}, unhex("c4 0c 65 53 f1 00")},
		{"objlnk", "/9/0", []node.Record{rec("/9/0/5", node.Link(3, 65535))}, unhex("c4 05 00 03 ff ff")},
		{"string", "/5/0", []node.Record{rec("/5/0/7", node.String("1.0"))}, unhex(`c3 07 "1.0"`)},
		{"corelnk", "/5/0", []node.Record{rec("/5/0/99", node.Corelnk("</1>"))}, unhex(`c4 63 "</1>"`)},
		{"opaque", "/5/0", []node.Record{rec("/5/0/0", node.Opaque([]byte{1, 2}))}, unhex("c2 00 01 02")},
		{"empty opaque", "/5/0", []node.Record{rec("/5/0/0", node.Opaque(nil))}, unhex("c0 00")},
		{"raw binary as is", "/5/0", []node.Record{rec("/5/0/3", raw("00 00 00 01"))}, unhex("c4 03 00 00 00 01")},
		{"raw text as its bytes", "/5/0", []node.Record{rec("/5/0/6", node.RawText("abc"))}, unhex(`c3 06 "abc"`)},
		{"16-bit id", "/5/0", []node.Record{rec("/5/0/300", node.Integer(5))}, unhex("e1 01 2c 05")},
		{"8-bit length", "/5/0", []node.Record{rec("/5/0/6", node.String("lwm2mclient"))}, unhex(`c8 06 0b "lwm2mclient"`)},
		{"16-bit length", "/5/0", []node.Record{rec("/5/0/6", node.String(string(long)))}, append(unhex("d0 06 01 2c"), long...)},
		{"24-bit length", "/5/0", []node.Record{rec("/5/0/0", node.Opaque(huge))}, append(unhex("d8 00 01 11 70"), huge...)},
		{"reference read", "/5/0", referenceRecords, unhex(referenceTLV)},
		{"unsorted records", "/5/0", []node.Record{rec("/5/0/9", node.Integer(1)), rec("/5/0/3", node.Integer(2))}, unhex("c1 03 02 c1 09 01")},
		{"object with two instances", "/9", []node.Record{rec("/9/1/7", node.Integer(4)), rec("/9/0/7", node.Integer(1)), rec("/9/0/9", node.Integer(0))},
			unhex("06 00 c1 07 01 c1 09 00  03 01 c1 07 04")},
		{"object with 16-bit instance", "/9", []node.Record{rec("/9/256/7", node.Integer(1))}, unhex("23 01 00 c1 07 01")},
		{"resource with value", "/5/0/3", []node.Record{rec("/5/0/3", node.Integer(2))}, unhex("c1 03 02")},
		{"multiple resource", "/5/0/8", []node.Record{rec("/5/0/8/0", node.Integer(0)), rec("/5/0/8/1", node.Integer(1))}, unhex("86 08 41 00 00 41 01 01")},
		{"resource instance", "/5/0/8/1", []node.Record{rec("/5/0/8/1", node.Integer(1))}, unhex("41 01 01")},
		{"no records", "/5/0", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.recs)
			got, err := Encode(FormatTLV, node.MustPath(tt.base), tt.recs)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got  % x\nwant % x", got, tt.want)
			}
			if !sameRecords(in, tt.recs) {
				t.Errorf("Encode reordered its input")
			}
		})
	}
}

func TestEncodeTLV_Errors(t *testing.T) {
	tests := []struct {
		name string
		base node.Path
		recs []node.Record
		want error
	}{
		{"root", node.Path{}, []node.Record{rec("/5/0/3", node.Integer(1))}, ErrUnsupportedFormat},
		{"not under base", node.MustPath("/5/0"), []node.Record{rec("/3/0/3", node.Integer(1))}, node.ErrBadPath},
		{"not a resource", node.MustPath("/5"), []node.Record{rec("/5/0", node.Integer(1))}, node.ErrBadPath},
		{"duplicate", node.MustPath("/5/0"), []node.Record{rec("/5/0/3", node.Integer(1)), rec("/5/0/3", node.Integer(2))}, node.ErrBadPath},
		{"single and multiple", node.MustPath("/5/0"), []node.Record{rec("/5/0/8", node.Integer(1)), rec("/5/0/8/0", node.Integer(2))}, node.ErrBadPath},
		{"no value", node.MustPath("/5/0"), []node.Record{rec("/5/0/2", node.Value{})}, node.ErrType},
		{"value too long", node.MustPath("/5/0"), []node.Record{rec("/5/0/0", node.Opaque(make([]byte, 1<<24)))}, node.ErrType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encode(FormatTLV, tt.base, tt.recs); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestEncodeTLV_RoundTrip encodes typed records and reads them back
// through node.Typed.
func TestEncodeTLV_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		base string
		recs []node.Record
	}{
		{"firmware instance", "/5/0", []node.Record{
			rec("/5/0/0", node.Opaque([]byte{0, 1, 2, 0xff})),
			rec("/5/0/1", node.String("coap://example.com/fw.bin")),
			rec("/5/0/3", node.Integer(2)),
			rec("/5/0/5", node.Integer(-7)),
			rec("/5/0/8/0", node.Integer(0)),
			rec("/5/0/8/3", node.Integer(3)),
			rec("/5/0/12", node.Time(time.Unix(1<<33, 0))),
			rec("/5/0/13", node.Unsigned(math.MaxUint32+1)),
			rec("/5/0/14", node.Boolean(true)),
		}},
		{"software object", "/9", []node.Record{
			rec("/9/0/5", node.Link(65535, 65535)),
			rec("/9/0/17/0", node.Link(14, 0)),
			rec("/9/1/12", node.Boolean(false)),
			rec("/9/300/0", node.String("pkg")),
		}},
		{"device multiple resource", "/3/0/6", []node.Record{rec("/3/0/6/0", node.Integer(1)), rec("/3/0/6/1", node.Integer(5))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := node.MustPath(tt.base)
			b, err := Encode(FormatTLV, base, tt.recs)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(FormatTLV, base, b)
			if err != nil {
				t.Fatal(err)
			}
			typed, err := node.Typed(back)
			if err != nil {
				t.Fatal(err)
			}
			assertRecords(t, typed, tt.recs)
		})
	}
}
