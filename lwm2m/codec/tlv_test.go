package codec

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

func raw(h string) node.Value { return node.RawBinary(unhex(h)) }

func TestDecodeTLV_Reference(t *testing.T) {
	recs, err := Decode(FormatTLV, node.MustPath("/5/0"), unhex(referenceTLV))
	if err != nil {
		t.Fatal(err)
	}
	assertRecords(t, recs, []node.Record{
		rec("/5/0/3", raw("01")),
		rec("/5/0/5", raw("00")),
		rec("/5/0/6", node.RawBinary([]byte("lwm2mclient"))),
		rec("/5/0/7", node.RawBinary([]byte("1.0"))),
		rec("/5/0/8/0", raw("00")),
		rec("/5/0/8/1", raw("01")),
		rec("/5/0/9", raw("01")),
	})
	typed, err := node.Typed(recs)
	if err != nil {
		t.Fatal(err)
	}
	assertRecords(t, typed, referenceRecords)
}

func TestDecodeTLV_Levels(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 300)
	tests := []struct {
		name    string
		base    string
		payload []byte
		want    []node.Record
	}{
		{"16-bit id", "/5/0", unhex("e1 01 2c 05"), []node.Record{rec("/5/0/300", raw("05"))}},
		{"16-bit id of 255 is fine", "/5/0", unhex("e1 00 ff 05"), []node.Record{rec("/5/0/255", raw("05"))}},
		{"8-bit length", "/5/0", unhex(`c8 06 0b "lwm2mclient"`), []node.Record{rec("/5/0/6", node.RawBinary([]byte("lwm2mclient")))}},
		{"16-bit length", "/5/0", append(unhex("d0 06 01 2c"), long...), []node.Record{rec("/5/0/6", node.RawBinary(long))}},
		{"24-bit length", "/5/0", append(unhex("d8 06 00 01 2c"), long...), []node.Record{rec("/5/0/6", node.RawBinary(long))}},
		{"24-bit length and 16-bit id", "/5/0", unhex(`f8 01 00 00 00 03 "abc"`), []node.Record{rec("/5/0/256", node.RawBinary([]byte("abc")))}},
		{"non-minimal 8-bit length", "/5/0", unhex("c8 03 01 07"), []node.Record{rec("/5/0/3", raw("07"))}},
		{"zero length", "/5/0", unhex("c0 06"), []node.Record{rec("/5/0/6", node.RawBinary(nil))}},
		{"object with two instances", "/9", unhex("06 00 c1 07 01 c1 09 00  08 01 03 c1 07 04"), []node.Record{
			rec("/9/0/7", raw("01")), rec("/9/0/9", raw("00")), rec("/9/1/7", raw("04")),
		}},
		{"object with a multiple resource", "/3", unhex("08 00 08 86 06 41 00 01 41 01 05"), []node.Record{
			rec("/3/0/6/0", raw("01")), rec("/3/0/6/1", raw("05")),
		}},
		{"instance wrapped in its object instance", "/5/0", unhex("03 00 c1 03 02"), []node.Record{rec("/5/0/3", raw("02"))}},
		{"resource with value", "/5/0/3", unhex("c1 03 02"), []node.Record{rec("/5/0/3", raw("02"))}},
		{"multiple resource", "/5/0/8", unhex("86 08 41 00 00 41 01 01"), []node.Record{rec("/5/0/8/0", raw("00")), rec("/5/0/8/1", raw("01"))}},
		{"bare resource instances", "/5/0/8", unhex("41 01 01 41 00 00"), []node.Record{rec("/5/0/8/0", raw("00")), rec("/5/0/8/1", raw("01"))}},
		{"resource instance", "/5/0/8/1", unhex("41 01 01"), []node.Record{rec("/5/0/8/1", raw("01"))}},
		{"resource instance written as resource", "/5/0/8/1", unhex("c1 01 01"), []node.Record{rec("/5/0/8/1", raw("01"))}},
		{"sorted by path", "/5/0", unhex("c1 09 01 c1 03 02"), []node.Record{rec("/5/0/3", raw("02")), rec("/5/0/9", raw("01"))}},
		{"empty instance", "/5/0", nil, nil},
		{"empty object instance", "/5", unhex("00 00"), nil},
		{"empty multiple resource", "/5/0", unhex("80 08"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(FormatTLV, node.MustPath(tt.base), tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			assertRecords(t, got, tt.want)
		})
	}
}

func TestDecodeTLV_Values(t *testing.T) {
	tests := []struct {
		name    string
		payload string // one resource 3 at /5/0
		typ     node.Type
		want    node.Value
	}{
		{"negative int8", "c1 03 ff", node.TypeInteger, node.Integer(-1)},
		{"negative int16", "c2 03 ff 7f", node.TypeInteger, node.Integer(-129)},
		{"negative int32", "c4 03 ff ff 7f ff", node.TypeInteger, node.Integer(-32769)},
		{"negative int64", "c8 03 08 80 00 00 00 00 00 00 00", node.TypeInteger, node.Integer(math.MinInt64)},
		{"unsigned", "c1 03 c8", node.TypeUnsigned, node.Unsigned(200)},
		{"float32", "c4 03 3f c0 00 00", node.TypeFloat, node.Float(1.5)},
		{"float64", "c8 03 08 3f b9 99 99 99 99 99 9a", node.TypeFloat, node.Float(0.1)},
		{"boolean true", "c1 03 01", node.TypeBoolean, node.Boolean(true)},
		{"boolean false", "c1 03 00", node.TypeBoolean, node.Boolean(false)},
		{"time", "c4 03 65 53 f1 00", node.TypeTime, node.Time(time.Unix(1700000000, 0))},
		{"objlnk", "c4 03 00 03 00 01", node.TypeObjlnk, node.Link(3, 1)},
		{"string", `c3 03 "1.0"`, node.TypeString, node.String("1.0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Decode(FormatTLV, node.MustPath("/5/0"), unhex(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 {
				t.Fatalf("records %v", recs)
			}
			got, err := recs[0].Value.As(tt.typ)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("As(%s) = %v, %v; want %v", tt.typ, got, err, tt.want)
			}
		})
	}
}

func TestDecodeTLV_Errors(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		payload string
		want    string // in the error text
	}{
		{"length beyond end", "/5/0", `c8 06 0b "lwm2m"`, "codec: tlv: offset 0: length 11 beyond end (5 bytes left)"},
		{"length beyond end later", "/5/0", `c1 03 01 c3 07 "1"`, "offset 3: length 3 beyond end (1 bytes left)"},
		{"identifier missing", "/5/0", "c1", "offset 0: identifier beyond end"},
		{"16-bit identifier cut", "/5/0", "e1 01", "offset 0: identifier beyond end"},
		{"reserved 16-bit id", "/5/0", "e1 ff ff 00", "offset 0: identifier 65535 is reserved"},
		{"16-bit length cut", "/5/0", "d0 06 01", "offset 0: 16-bit length field beyond end"},
		{"24-bit length cut", "/5/0", "d8 06 00 01", "offset 0: 24-bit length field beyond end"},
		{"inner length beyond outer", "/5/0", "86 08 41 00 00 42 01 01", "offset 5: length 2 beyond end (1 bytes left)"},
		{"resource at object level", "/5", "c1 03 01", "offset 0: resource 3 not allowed in an object"},
		{"object instance in object instance", "/5", "05 00 03 01 c1 03 01", "offset 2: object instance 1 not allowed in an object instance"},
		{"resource instance in object instance", "/5/0", "41 00 01", "offset 0: resource instance 0 not allowed in an object instance"},
		{"resource in multiple resource", "/5/0", "83 08 c1 00 01", "offset 2: resource 0 not allowed in a multiple resource"},
		{"object instance of another id", "/5/0", "03 01 c1 03 01", "offset 0: object instance 1 in /5/0"},
		{"two object instances at instance level", "/5/0", "03 00 c1 03 01 00 01", "offset 0: object instance 0 not allowed in an object instance"},
		{"resource of another id", "/5/0/3", "c1 04 01", "offset 0: resource 4 at /5/0/3"},
		{"resource among resource instances", "/5/0/8", "41 00 01 c1 08 01", "offset 3: resource 8 not allowed in a resource"},
		{"two resource instances at resource instance", "/5/0/8/0", "41 00 01 41 00 01", "offset 3: more than one element at /5/0/8/0"},
		{"resource instance of another id", "/5/0/8/0", "41 01 01", "offset 0: resource instance 1 at /5/0/8/0"},
		{"multiple resource at resource instance", "/5/0/8/0", "80 00", "offset 0: multiple resource 0 not allowed in a resource instance"},
		{"duplicate resource", "/5/0", "c1 03 01 c1 03 02", "offset 3: duplicate /5/0/3"},
		{"single and multiple resource", "/5/0", "c1 08 01 83 08 41 00 01", "offset 5: /5/0/8/0 conflicts with /5/0/8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Decode(FormatTLV, node.MustPath(tt.base), unhex(tt.payload))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v (records %v), want ErrMalformed", err, recs)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeTLV_Root(t *testing.T) {
	if _, err := Decode(FormatTLV, node.Path{}, unhex("c1 03 01")); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("err = %v, want ErrUnsupportedFormat", err)
	}
}

// TestDecodeTLV_Truncated cuts the reference payload at every offset: a
// cut between top-level elements is a shorter valid payload, any other
// cut is ErrMalformed.
func TestDecodeTLV_Truncated(t *testing.T) {
	payload := unhex(referenceTLV)
	boundaries := map[int]int{0: 0, 3: 1, 6: 2, 20: 3, 25: 4, 33: 6, 36: 7} // offset: records before it
	for cut := 0; cut <= len(payload); cut++ {
		recs, err := Decode(FormatTLV, node.MustPath("/5/0"), payload[:cut])
		n, ok := boundaries[cut]
		switch {
		case ok && err != nil:
			t.Errorf("cut %d at an element boundary: %v", cut, err)
		case ok && len(recs) != n:
			t.Errorf("cut %d: %d records, want %d", cut, len(recs), n)
		case !ok && !errors.Is(err, ErrMalformed):
			t.Errorf("cut %d: err = %v, want ErrMalformed", cut, err)
		}
	}
}

func TestDecodeTLV_DoesNotAliasPayload(t *testing.T) {
	payload := unhex(`c3 07 "1.0"`)
	recs, err := Decode(FormatTLV, node.MustPath("/5/0"), payload)
	if err != nil {
		t.Fatal(err)
	}
	payload[2] = 'X'
	if s, _ := recs[0].Value.Str(); s != "1.0" {
		t.Errorf("value changed with the payload: %q", s)
	}
}
