package codec

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// sendCBOR is sendPayload in SenML CBOR:
// [{-2: "/5/0", 0: "/3", 2: 2}, {0: "/5", 2: 0}].
const sendCBOR = `82 a3 21 64 "/5/0" 00 62 "/3" 02 02  a2 00 62 "/5" 02 00`

// one wraps the value field (label and value, in hex) of a single record
// named /5/0/3 in an array.
func one(field string) string { return `81 a2 00 66 "/5/0/3" ` + field }

func TestSenMLCBOR_Decode(t *testing.T) {
	state := []node.Record{rec("/5/0/3", node.Integer(2)), rec("/5/0/5", node.Integer(0))}
	at := func(v node.Value) []node.Record { return []node.Record{rec("/5/0/3", v)} }
	tests := []struct {
		name    string
		payload string
		want    []node.Record
	}{
		{"send as the reference writes it", sendCBOR, state},
		{"relative names", `82 a3 21 65 "/5/0/" 00 61 "3" 02 02  a2 00 61 "5" 02 00`, state},
		{"indefinite array and map", `9f bf 00 66 "/5/0/3" 02 02 ff ff`, state[:1]},
		{"empty array", "80", nil},
		{"empty indefinite array", "9f ff", nil},
		{"integer", one("02 02"), at(node.Integer(2))},
		{"negative", one("02 38 29"), at(node.Integer(-42))},
		{"min int64", one("02 3b 7f ff ff ff ff ff ff ff"), at(node.Integer(math.MinInt64))},
		{"beyond int64 is unsigned", one("02 1b ff ff ff ff ff ff ff ff"), at(node.Unsigned(math.MaxUint64))},
		{"float16", one("02 f9 3e 00"), at(node.Float(1.5))},
		{"integral float16 is integer", one("02 f9 40 00"), at(node.Integer(2))},
		{"float32", one("02 fa 3f c0 00 00"), at(node.Float(1.5))},
		{"float64", one("02 fb 3f b9 99 99 99 99 99 9a"), at(node.Float(0.1))},
		{"NaN", one("02 f9 7e 00"), at(node.Float(math.NaN()))},
		{"string", one(`03 63 "abc"`), at(node.String("abc"))},
		{"boolean", one("04 f5"), at(node.Boolean(true))},
		{"opaque", one("08 42 01 02"), at(node.Opaque([]byte{1, 2}))},
		{"empty opaque", one("08 40"), at(node.Opaque(nil))},
		{"objlnk", `81 a2 00 66 "/9/0/5" 63 "vlo" 63 "3:0"`, []node.Record{rec("/9/0/5", node.Link(3, 0))}},
		{"other labels ignored", `81 a6 00 66 "/5/0/3" 02 02 06 01 01 61 "s" 22 1a 65 53 f1 00 63 "foo" f6`, at(node.Integer(2))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(FormatSenMLCBOR, node.MustPath("/5/0"), unhex(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			assertRecords(t, got, tt.want)
		})
	}
}

func TestSenMLCBOR_DecodeErrors(t *testing.T) {
	deep := "81 a2 00 66 \"/5/0/3\" 02 " + strings.Repeat("81 ", 20) + "00"
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"empty", "", "codec: senml cbor: offset 0: not an array"},
		{"map", "a0", "offset 0: not an array"},
		{"reserved array head", "9c", "offset 0: bad array head 0x9c"},
		{"array head cut", "99 01", "offset 0: array head beyond end"},
		{"element missing", `82 a2 00 66 "/5/0/3" 02 02`, "offset 12: element 1: beyond end"},
		{"huge count", "9b ff ff ff ff ff ff ff ff", "offset 9: element 0: beyond end"},
		{"no break", `9f a2 00 66 "/5/0/3" 02 02`, "offset 12: element 1: beyond end"},
		{"element not a map", "81 01", "offset 1: element 0: cbor: cannot unmarshal"},
		{"null element", "81 f6", "element 0: not a map"},
		{"data after the array", "80 00", "offset 1: data after the array"},
		{"element cut", `81 a2 00 66 "/5/0`, "offset 1: element 0: unexpected EOF"},
		{"duplicate label", `81 a3 00 66 "/5/0/3" 02 02 02 03`, "element 0: cbor: found duplicate map key"},
		{"tag", `81 c1 a2 00 66 "/5/0/3" 02 02`, "element 0: cbor: CBOR tag"},
		{"invalid UTF-8 name", "81 a2 00 61 ff 02 02", "element 0: cbor: invalid UTF-8"},
		{"too deep", deep, "element 0: cbor: exceeded max nested level"},
		{"label of another type", "81 a1 f5 01", "element 0: label of type bool"},
		{"must-understand label", `81 a3 00 66 "/5/0/3" 02 02 64 "foo_" 01`, `element 0: unknown must-understand label "foo_"`},
		{"bn not text", `81 a2 21 05 02 02`, "element 0: label -2 is uint64, not text"},
		{"v text", one(`02 61 "2"`), "element 0: v is string, not a number"},
		{"v bignum range", one("02 3b ff ff ff ff ff ff ff ff"), "element 0: v is big.Int, not a number"},
		{"v null", one("02 f6"), "element 0: v is <nil>, not a number"},
		{"vs bytes", one("03 41 61"), "element 0: vs is []uint8, not text"},
		{"vb integer", one("04 01"), "element 0: vb is uint64, not a boolean"},
		{"vd text", one(`08 62 "AQ"`), "element 0: vd is string, not a byte string"},
		{"vlo integer", one(`63 "vlo" 03`), "element 0: vlo is uint64, not text"},
		{"vlo bad", one(`63 "vlo" 61 "3"`), `element 0: object link "3" is not o:i`},
		{"bad name", `81 a2 00 66 "/5/x/3" 02 02`, `element 0: name "/5/x/3": lwm2m: bad path`},
		{"name not a resource", `81 a2 00 64 "/5/0" 02 02`, `element 0: name "/5/0" is not a resource path`},
		{"no value", `81 a1 00 66 "/5/0/3"`, "element 0: /5/0/3 has no value"},
		{"two values", `81 a3 00 66 "/5/0/3" 02 02 03 61 "2"`, "element 0: /5/0/3 has 2 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Decode(FormatSenMLCBOR, node.Path{}, unhex(tt.payload))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v (records %v), want ErrMalformed", err, recs)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestSenMLCBOR_Truncated cuts an encoded Read of /5/0 at every offset:
// only the full payload decodes.
func TestSenMLCBOR_Truncated(t *testing.T) {
	payload, err := Encode(FormatSenMLCBOR, node.MustPath("/5/0"), referenceRecords)
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(payload); cut++ {
		if _, err := Decode(FormatSenMLCBOR, node.MustPath("/5/0"), payload[:cut]); !errors.Is(err, ErrMalformed) {
			t.Errorf("cut %d: err = %v, want ErrMalformed", cut, err)
		}
	}
}

func TestSenMLCBOR_Encode(t *testing.T) {
	tests := []struct {
		name string
		base string
		recs []node.Record
		want string
	}{
		// Maps in core deterministic order: n (00), v (02), bn (21).
		{"instance", "/5/0", []node.Record{rec("/5/0/3", node.Integer(2)), rec("/5/0/5", node.Integer(0))},
			`82 a3 00 61 "3" 02 02 21 65 "/5/0/"  a2 00 61 "5" 02 00`},
		{"resource", "/5/0/3", []node.Record{rec("/5/0/3", node.Integer(-42))}, `81 a2 02 38 29 21 66 "/5/0/3"`},
		{"root", "/", []node.Record{rec("/5/0/3", node.Integer(2))}, `81 a2 00 66 "/5/0/3" 02 02`},
		{"float16", "/5/0/99", []node.Record{rec("/5/0/99", node.Float(1.5))}, `81 a2 02 f9 3e 00 21 67 "/5/0/99"`},
		{"float64", "/5/0/99", []node.Record{rec("/5/0/99", node.Float(0.1))}, `81 a2 02 fb 3f b9 99 99 99 99 99 9a 21 67 "/5/0/99"`},
		{"unsigned", "/5/0/13", []node.Record{rec("/5/0/13", node.Unsigned(math.MaxUint64))}, `81 a2 02 1b ff ff ff ff ff ff ff ff 21 67 "/5/0/13"`},
		{"string", "/5/0/6", []node.Record{rec("/5/0/6", node.String("fw"))}, `81 a2 03 62 "fw" 21 66 "/5/0/6"`},
		{"boolean", "/5/0/14", []node.Record{rec("/5/0/14", node.Boolean(true))}, `81 a2 04 f5 21 67 "/5/0/14"`},
		{"opaque", "/5/0/0", []node.Record{rec("/5/0/0", node.Opaque([]byte{1, 2}))}, `81 a2 08 42 01 02 21 66 "/5/0/0"`},
		{"empty opaque", "/5/0/0", []node.Record{rec("/5/0/0", node.Opaque(nil))}, `81 a2 08 40 21 66 "/5/0/0"`},
		{"objlnk", "/9/0/5", []node.Record{rec("/9/0/5", node.Link(3, 0))}, `81 a2 21 66 "/9/0/5" 63 "vlo" 63 "3:0"`},
		{"no records", "/5/0", nil, "80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(FormatSenMLCBOR, node.MustPath(tt.base), tt.recs)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(tt.want); !bytes.Equal(got, want) {
				t.Errorf("got  % x\nwant % x", got, want)
			}
		})
	}
}

func TestSenMLCBOR_EncodeErrors(t *testing.T) {
	for _, tt := range senmlEncodeErrors {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encode(FormatSenMLCBOR, tt.base, tt.recs); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSenMLCBOR_RoundTrip(t *testing.T) {
	tests := slices.Clone(senmlRoundTrips)
	tests = append(tests, struct {
		name string
		base string
		recs []node.Record
	}{"NaN and infinities", "/5/0", []node.Record{
		rec("/5/0/97", node.Float(math.NaN())), rec("/5/0/98", node.Float(math.Inf(1))), rec("/5/0/99", node.Float(math.Inf(-1))),
	}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := node.MustPath(tt.base)
			b, err := Encode(FormatSenMLCBOR, base, tt.recs)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(FormatSenMLCBOR, base, b)
			if err != nil {
				t.Fatalf("%v in % x", err, b)
			}
			assertRecords(t, back, tt.recs)
		})
	}
}
