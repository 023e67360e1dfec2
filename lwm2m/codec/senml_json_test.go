package codec

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// sendPayload is a Send of /5/0 State and Update Result as the
// reference writes it (bn "/5/0", names "/3" and "/5").
const sendPayload = `[{"bn":"/5/0","n":"/3","v":2},{"n":"/5","v":0}]`

func TestSenMLJSON_Decode(t *testing.T) {
	state := []node.Record{rec("/5/0/3", node.Integer(2)), rec("/5/0/5", node.Integer(0))}
	tests := []struct {
		name    string
		payload string
		want    []node.Record
	}{
		{"send as the reference writes it", sendPayload, state},
		{"relative names", `[{"bn":"/5/0/","n":"3","v":2},{"n":"5","v":0}]`, state},
		{"full names", `[{"n":"/5/0/3","v":2},{"n":"/5/0/5","v":0}]`, state},
		{"bn alone names the resource", `[{"bn":"/5/0/3","v":2}]`, state[:1]},
		{"bn changes", `[{"bn":"/5/0/","n":"3","v":2},{"bn":"/3/0/","n":"9","v":80}]`, []node.Record{
			rec("/3/0/9", node.Integer(80)), rec("/5/0/3", node.Integer(2)),
		}},
		{"sorted by path", `[{"n":"/5/0/5","v":0},{"n":"/5/0/3","v":2}]`, state},
		{"time series keeps order", `[{"n":"/5/0/3","v":1,"t":1},{"n":"/5/0/3","v":2,"t":2}]`, []node.Record{
			rec("/5/0/3", node.Integer(1)), rec("/5/0/3", node.Integer(2)),
		}},
		{"resource instances", `[{"bn":"/3/0/6/","n":"0","v":1},{"n":"1","v":5}]`, []node.Record{
			rec("/3/0/6/0", node.Integer(1)), rec("/3/0/6/1", node.Integer(5)),
		}},
		{"float", `[{"n":"/3/0/7/0","v":1.5}]`, []node.Record{rec("/3/0/7/0", node.Float(1.5))}},
		{"integral float is integer", `[{"n":"/3/0/7/0","v":2.0}]`, []node.Record{rec("/3/0/7/0", node.Integer(2))}},
		{"exponent integer", `[{"n":"/3/0/7/0","v":1e3}]`, []node.Record{rec("/3/0/7/0", node.Integer(1000))}},
		{"negative", `[{"n":"/3/0/7/0","v":-42}]`, []node.Record{rec("/3/0/7/0", node.Integer(-42))}},
		{"beyond int64 is unsigned", `[{"n":"/1/0/11","v":18446744073709551615}]`, []node.Record{rec("/1/0/11", node.Unsigned(math.MaxUint64))}},
		{"large float", `[{"n":"/3/0/7/0","v":1e300}]`, []node.Record{rec("/3/0/7/0", node.Float(1e300))}},
		{"string", `[{"n":"/5/0/6","vs":"fw<&>"}]`, []node.Record{rec("/5/0/6", node.String("fw<&>"))}},
		{"boolean", `[{"n":"/5/0/14","vb":true}]`, []node.Record{rec("/5/0/14", node.Boolean(true))}},
		{"opaque", `[{"n":"/5/0/0","vd":"-_8"}]`, []node.Record{rec("/5/0/0", node.Opaque([]byte{0xfb, 0xff}))}},
		{"opaque padded and standard alphabet", `[{"n":"/5/0/0","vd":"+/8="}]`, []node.Record{rec("/5/0/0", node.Opaque([]byte{0xfb, 0xff}))}},
		{"empty opaque", `[{"n":"/5/0/0","vd":""}]`, []node.Record{rec("/5/0/0", node.Opaque(nil))}},
		{"objlnk", `[{"n":"/9/0/5","vlo":"3:0"}]`, []node.Record{rec("/9/0/5", node.Link(3, 0))}},
		{"null objlnk", `[{"n":"/9/0/5","vlo":"65535:65535"}]`, []node.Record{rec("/9/0/5", node.Link(65535, 65535))}},
		{"other labels ignored", `[{"bver":10,"bt":1700000000,"n":"/5/0/3","u":"s","t":-5,"v":2,"x":{}}]`, state[:1]},
		{"empty array", ` [ ] `, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(FormatSenMLJSON, node.MustPath("/5/0"), []byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			assertRecords(t, got, tt.want)
		})
	}
}

func TestSenMLJSON_DecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"object", `{"n":"/5/0/3","v":2}`, "codec: senml json: not an array"},
		{"null", `null`, "not an array"},
		{"string", `"x"`, "not an array"},
		{"syntax", `[{"n":"/5/0/3","v":2}`, "codec: senml json: offset 21: unexpected end of JSON input"},
		{"trailing data", `[] []`, "offset 4: invalid character"},
		{"element not an object", `[{"n":"/5/0/3","v":2},1]`, "element 1: not an object"},
		{"null element", `[null]`, "element 0: not an object"},
		{"bad name", `[{"n":"/5/a/3","v":2}]`, `element 0: name "/5/a/3": lwm2m: bad path`},
		{"bad joined name", `[{"bn":"/5/0/","n":"/3","v":2}]`, `element 0: name "/5/0//3"`},
		{"name too long", `[{"n":"/5/0/3/0/1","v":2}]`, "element 0: name"},
		{"name not a resource", `[{"bn":"/5/0","v":2}]`, `element 0: name "/5/0" is not a resource path`},
		{"empty name", `[{"v":2}]`, `element 0: name "" is not a resource path`},
		{"no value", `[{"n":"/5/0/3","v":2},{"n":"/5/0/5"}]`, "element 1: /5/0/5 has no value"},
		{"unknown value type", `[{"n":"/5/0/5","vx":2}]`, "element 0: /5/0/5 has no value"},
		{"two values", `[{"n":"/5/0/5","v":2,"vs":"2"}]`, "element 0: /5/0/5 has 2 values"},
		{"v is a string", `[{"n":"/5/0/5","v":"2"}]`, `element 0: v is not a number: "2"`},
		{"v is null", `[{"n":"/5/0/5","v":null}]`, "element 0: v is not a number: null"},
		{"v out of range", `[{"n":"/5/0/5","v":1e400}]`, "element 0: number 1e400 out of range"},
		{"vb is a number", `[{"n":"/5/0/14","vb":1}]`, "element 0: vb is not a boolean: 1"},
		{"vs is a number", `[{"n":"/5/0/6","vs":1}]`, "element 0: vs is not a string: 1"},
		{"invalid base64", `[{"n":"/5/0/0","vd":"!!!"}]`, "element 0: vd is not base64url"},
		{"bad objlnk", `[{"n":"/9/0/5","vlo":"3"}]`, `element 0: object link "3" is not o:i`},
		{"objlnk out of range", `[{"n":"/9/0/5","vlo":"3:65536"}]`, `element 0: object link "3:65536" is not o:i`},
		{"bn is a number", `[{"bn":5,"n":"/5/0/5","v":1}]`, "element 0: bn is not a string: 5"},
		{"must-understand label", `[{"n":"/5/0/5","v":1,"foo_":1}]`, `element 0: unknown must-understand label "foo_"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Decode(FormatSenMLJSON, node.Path{}, []byte(tt.payload))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v (records %v), want ErrMalformed", err, recs)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSenMLJSON_Encode(t *testing.T) {
	tests := []struct {
		name string
		base string
		recs []node.Record
		want string
	}{
		{"instance", "/5/0", []node.Record{rec("/5/0/3", node.Integer(2)), rec("/5/0/5", node.Integer(0))},
			`[{"bn":"/5/0/","n":"3","v":2},{"n":"5","v":0}]`},
		{"resource", "/5/0/3", []node.Record{rec("/5/0/3", node.Integer(2))}, `[{"bn":"/5/0/3","v":2}]`},
		{"multiple resource", "/5/0/8", []node.Record{rec("/5/0/8/0", node.Integer(0)), rec("/5/0/8/1", node.Integer(1))},
			`[{"bn":"/5/0/8/","n":"0","v":0},{"n":"1","v":1}]`},
		{"object", "/9", []node.Record{rec("/9/0/7", node.Integer(1)), rec("/9/1/7", node.Integer(4))},
			`[{"bn":"/9/","n":"0/7","v":1},{"n":"1/7","v":4}]`},
		{"root", "/", []node.Record{rec("/5/0/3", node.Integer(2)), rec("/3/0/3", node.String("1.2"))},
			`[{"n":"/5/0/3","v":2},{"n":"/3/0/3","vs":"1.2"}]`},
		{"types", "/5/0", []node.Record{
			rec("/5/0/0", node.Opaque([]byte{0xfb, 0xff})),
			rec("/5/0/12", node.Time(time.Unix(1700000000, 0))),
			rec("/5/0/13", node.Unsigned(math.MaxUint64)),
			rec("/5/0/14", node.Boolean(false)),
			rec("/5/0/97", node.Float(-0.25)),
			rec("/5/0/98", node.Corelnk("</5/0>;ver=1.1")),
			rec("/5/0/99", node.Link(3, 0)),
		}, `[{"bn":"/5/0/","n":"0","vd":"-_8"},{"n":"12","v":1700000000},{"n":"13","v":18446744073709551615},` +
			`{"n":"14","vb":false},{"n":"97","v":-0.25},{"n":"98","vs":"</5/0>;ver=1.1"},{"n":"99","vlo":"3:0"}]`},
		{"raw values typed by the model", "/5/0", []node.Record{
			rec("/5/0/3", raw("02")), rec("/5/0/6", node.RawBinary([]byte("fw"))), rec("/5/0/14", node.RawText("1")),
		}, `[{"bn":"/5/0/","n":"3","v":2},{"n":"6","vs":"fw"},{"n":"14","vb":true}]`},
		{"raw values of unknown resources", "/5/0", []node.Record{rec("/5/0/98", raw("02")), rec("/5/0/99", node.RawText("x"))},
			`[{"bn":"/5/0/","n":"98","vd":"Ag"},{"n":"99","vs":"x"}]`},
		{"empty opaque and string", "/5/0", []node.Record{rec("/5/0/0", node.Opaque(nil)), rec("/5/0/1", node.String(""))},
			`[{"bn":"/5/0/","n":"0","vd":""},{"n":"1","vs":""}]`},
		{"no records", "/5/0", nil, `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(FormatSenMLJSON, node.MustPath(tt.base), tt.recs)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// senmlEncodeError is a record set SenML cannot encode.
type senmlEncodeError struct {
	name string
	base node.Path
	recs []node.Record
	want error
}

// senmlEncodeErrors are the encode errors SenML JSON and CBOR share.
var senmlEncodeErrors = []senmlEncodeError{
	{"not under base", node.MustPath("/5/0"), []node.Record{rec("/3/0/3", node.Integer(1))}, node.ErrBadPath},
	{"not a resource", node.MustPath("/5"), []node.Record{rec("/5/0", node.Integer(1))}, node.ErrBadPath},
	{"no value", node.MustPath("/5/0"), []node.Record{rec("/5/0/2", node.Value{})}, node.ErrType},
	{"raw value not of the model's type", node.MustPath("/5/0"), []node.Record{rec("/5/0/3", node.RawText("abc"))}, node.ErrType},
}

func TestSenMLJSON_EncodeErrors(t *testing.T) {
	tests := append(slices.Clone(senmlEncodeErrors),
		senmlEncodeError{"NaN", node.MustPath("/5/0"), []node.Record{rec("/5/0/99", node.Float(math.NaN()))}, node.ErrType},
		senmlEncodeError{"infinity", node.MustPath("/5/0"), []node.Record{rec("/5/0/99", node.Float(math.Inf(-1)))}, node.ErrType},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encode(FormatSenMLJSON, tt.base, tt.recs); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// senmlRoundTrips are record sets SenML JSON and CBOR carry unchanged:
// the typed values SenML decodes to.
var senmlRoundTrips = []struct {
	name string
	base string
	recs []node.Record
}{
	{"reference read", "/5/0", referenceRecords},
	{"send", "/", []node.Record{rec("/3/0/3", node.String("2.0")), rec("/5/0/3", node.Integer(0)), rec("/5/0/5", node.Integer(1))}},
	{"resource", "/5/0/3", []node.Record{rec("/5/0/3", node.Integer(-3))}},
	{"resource instance", "/3/0/6/1", []node.Record{rec("/3/0/6/1", node.Integer(5))}},
	{"time series", "/5/0/3", []node.Record{rec("/5/0/3", node.Integer(1)), rec("/5/0/3", node.Integer(2))}},
	{"all types", "/9", []node.Record{
		rec("/9/0/2", node.Opaque([]byte{0, 0xff, 0x80})),
		rec("/9/0/5", node.Link(65535, 65535)),
		rec("/9/0/12", node.Boolean(true)),
		rec("/9/0/16", node.String("héllo \"wörld\" <&>")),
		rec("/9/0/18", node.Unsigned(math.MaxUint64)),
		rec("/9/1/90", node.Float(math.Pi)),
		rec("/9/1/91", node.Float(-1e300)),
		rec("/9/1/92", node.Float(5e-324)),
		rec("/9/1/93", node.Integer(math.MinInt64)),
		rec("/9/1/94", node.Integer(math.MaxInt64)),
		rec("/9/1/95", node.Float(math.MaxInt64)), // 2^63: integral, beyond int64
	}},
}

func TestSenMLJSON_RoundTrip(t *testing.T) {
	for _, tt := range senmlRoundTrips {
		t.Run(tt.name, func(t *testing.T) {
			base := node.MustPath(tt.base)
			b, err := Encode(FormatSenMLJSON, base, tt.recs)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(FormatSenMLJSON, base, b)
			if err != nil {
				t.Fatalf("%v in %s", err, b)
			}
			assertRecords(t, back, tt.recs)
		})
	}
}
