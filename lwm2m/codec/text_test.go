package codec

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

func TestText_EncodeText(t *testing.T) {
	tests := []struct {
		name string
		v    node.Value
		want string
	}{
		{"string", node.String("coap://h/fw"), "coap://h/fw"},
		{"empty string", node.String(""), ""},
		{"corelnk", node.Corelnk("</5/0>"), "</5/0>"},
		{"raw text", node.RawText("42"), "42"},
		{"integer", node.Integer(42), "42"},
		{"negative", node.Integer(-9223372036854775808), "-9223372036854775808"},
		{"unsigned", node.Unsigned(math.MaxUint64), "18446744073709551615"},
		{"float", node.Float(1.5), "1.5"},
		{"integral float", node.Float(2), "2"},
		{"negative float", node.Float(-0.001), "-0.001"},
		{"boolean true", node.Boolean(true), "1"},
		{"boolean false", node.Boolean(false), "0"},
		{"time", node.Time(time.Unix(1700000000, 0)), "1700000000"},
		{"objlnk", node.Link(3, 0), "3:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeText(tt.v)
			if err != nil || string(got) != tt.want {
				t.Errorf("EncodeText(%v) = %q, %v; want %q", tt.v, got, err, tt.want)
			}
		})
	}
}

func TestText_EncodeTextErrors(t *testing.T) {
	for _, v := range []node.Value{
		node.Opaque([]byte{1}), node.RawBinary([]byte{1}), {}, node.Float(math.NaN()), node.Float(math.Inf(1)),
	} {
		t.Run(v.Type().String(), func(t *testing.T) {
			if _, err := EncodeText(v); !errors.Is(err, node.ErrType) {
				t.Errorf("EncodeText(%v): err = %v, want node.ErrType", v, err)
			}
		})
	}
}

func TestText_Decode(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		payload string
		typ     node.Type
		want    node.Value
	}{
		{"integer", "/5/0/3", "2", node.TypeInteger, node.Integer(2)},
		{"string", "/5/0/1", "coap://h/fw.bin", node.TypeString, node.String("coap://h/fw.bin")},
		{"empty string", "/5/0/1", "", node.TypeString, node.String("")},
		{"boolean", "/5/0/14", "1", node.TypeBoolean, node.Boolean(true)},
		{"objlnk", "/9/0/5", "3:0", node.TypeObjlnk, node.Link(3, 0)},
		{"resource instance", "/5/0/8/1", "5", node.TypeInteger, node.Integer(5)},
		{"UTF-8", "/5/0/6", "wörld", node.TypeString, node.String("wörld")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := node.MustPath(tt.base)
			recs, err := Decode(FormatText, base, []byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			assertRecords(t, recs, []node.Record{{Path: base, Value: node.RawText(tt.payload)}})
			typed, err := recs[0].Value.As(tt.typ)
			if err != nil || !typed.Equal(tt.want) {
				t.Errorf("As(%s) = %v, %v; want %v", tt.typ, typed, err, tt.want)
			}
		})
	}
}

func TestText_DecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		payload []byte
		want    error
		text    string
	}{
		{"invalid UTF-8", "/5/0/6", []byte("ab\xffc"), ErrMalformed, "codec: text: offset 2: invalid UTF-8"},
		{"cut UTF-8", "/5/0/6", []byte("w\xc3"), ErrMalformed, "offset 1: invalid UTF-8"},
		{"instance path", "/5/0", []byte("1"), ErrNotSingle, "/5/0 is not a resource path"},
		{"root", "/", []byte("1"), ErrNotSingle, "/ is not a resource path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(FormatText, node.MustPath(tt.base), tt.payload)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %v, want %v containing %q", err, tt.want, tt.text)
			}
		})
	}
}

// singleErrors are the record sets text/plain and opaque refuse.
var singleErrors = []struct {
	name string
	base string
	recs []node.Record
}{
	{"no record", "/5/0/1", nil},
	{"two records", "/5/0/8", []node.Record{rec("/5/0/8/0", node.Integer(1)), rec("/5/0/8/1", node.Integer(2))}},
	{"record not at base", "/5/0/1", []node.Record{rec("/5/0/2", node.String("x"))}},
	{"base not a resource", "/5/0", []node.Record{rec("/5/0", node.String("x"))}},
}

func TestText_Encode(t *testing.T) {
	got, err := Encode(FormatText, node.MustPath("/5/0/1"), []node.Record{rec("/5/0/1", node.String("coap://h/fw"))})
	if err != nil || string(got) != "coap://h/fw" {
		t.Errorf("Encode = %q, %v", got, err)
	}
	for _, tt := range singleErrors {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encode(FormatText, node.MustPath(tt.base), tt.recs); !errors.Is(err, ErrNotSingle) {
				t.Errorf("err = %v, want ErrNotSingle", err)
			}
		})
	}
}

func TestText_RoundTrip(t *testing.T) {
	for _, v := range []node.Value{
		node.String("x y"), node.Integer(-5), node.Unsigned(7), node.Float(0.1), node.Boolean(true), node.Link(1, 2),
		node.Time(time.Unix(1, 0)),
	} {
		t.Run(v.Type().String(), func(t *testing.T) {
			base := node.MustPath("/5/0/99")
			b, err := Encode(FormatText, base, []node.Record{{Path: base, Value: v}})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := Decode(FormatText, base, b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := recs[0].Value.As(v.Type())
			if err != nil || !got.Equal(v) {
				t.Errorf("round trip of %v: %v, %v", v, got, err)
			}
		})
	}
}

func TestText_Opaque(t *testing.T) {
	base := node.MustPath("/5/0/0")
	payload := []byte{0, 1, 0xff}
	recs, err := Decode(FormatOpaque, base, payload)
	if err != nil {
		t.Fatal(err)
	}
	assertRecords(t, recs, []node.Record{{Path: base, Value: node.Opaque([]byte{0, 1, 0xff})}})
	payload[0] = 9
	if b, _ := recs[0].Value.Bytes(); b[0] != 0 {
		t.Errorf("record aliases the payload")
	}
	for _, v := range []node.Value{node.Opaque([]byte{1, 2}), node.RawBinary([]byte{1, 2})} {
		got, err := Encode(FormatOpaque, base, []node.Record{{Path: base, Value: v}})
		if err != nil || string(got) != "\x01\x02" {
			t.Errorf("Encode(%v) = %x, %v", v, got, err)
		}
	}
	if _, err := Encode(FormatOpaque, base, []node.Record{{Path: base, Value: node.String("x")}}); !errors.Is(err, node.ErrType) {
		t.Errorf("string as opaque: err = %v, want node.ErrType", err)
	}
	if _, err := Decode(FormatOpaque, node.MustPath("/5/0"), payload); !errors.Is(err, ErrNotSingle) {
		t.Errorf("opaque at /5/0: err = %v, want ErrNotSingle", err)
	}
	for _, tt := range singleErrors {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encode(FormatOpaque, node.MustPath(tt.base), tt.recs); !errors.Is(err, ErrNotSingle) {
				t.Errorf("err = %v, want ErrNotSingle", err)
			}
		})
	}
}
