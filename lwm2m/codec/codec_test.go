package codec

import (
	"errors"
	"fmt"
	"testing"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

func TestFormat_String(t *testing.T) {
	tests := []struct {
		f    Format
		want string
	}{
		{FormatText, "text/plain"},
		{FormatLinkFormat, "application/link-format"},
		{FormatOpaque, "application/octet-stream"},
		{FormatCBOR, "application/cbor"},
		{FormatSenMLJSON, "application/senml+json"},
		{FormatSenMLCBOR, "application/senml+cbor"},
		{FormatTLV, "application/vnd.oma.lwm2m+tlv"},
		{FormatLwM2MJSON, "application/vnd.oma.lwm2m+json"},
		{11544, "format(11544)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.f.String(); got != tt.want {
				t.Errorf("%d.String() = %q, want %q", uint16(tt.f), got, tt.want)
			}
		})
	}
}

func TestFormat_Unsupported(t *testing.T) {
	for _, f := range []Format{FormatLinkFormat, FormatCBOR, FormatLwM2MJSON, 11544} {
		t.Run(f.String(), func(t *testing.T) {
			base := node.MustPath("/5/0/3")
			if _, err := Decode(f, base, []byte("1")); !errors.Is(err, ErrUnsupportedFormat) {
				t.Errorf("Decode: err = %v", err)
			}
			if _, err := Encode(f, base, []node.Record{{Path: base, Value: node.Integer(1)}}); !errors.Is(err, ErrUnsupportedFormat) {
				t.Errorf("Encode: err = %v", err)
			}
		})
	}
}

// A Read of /5/0 answered in TLV, typed with the object model.
func ExampleDecode() {
	payload := []byte("\xc1\x03\x01\xc1\x05\x00\xc8\x06\x0blwm2mclient\xc3\x071.0\x86\x08\x41\x00\x00\x41\x01\x01\xc1\x09\x01")
	recs, err := Decode(FormatTLV, node.MustPath("/5/0"), payload)
	if err != nil {
		panic(err)
	}
	recs, err = node.Typed(recs)
	if err != nil {
		panic(err)
	}
	for _, r := range recs {
		fmt.Println(r)
	}
	// Output:
	// /5/0/3=1
	// /5/0/5=0
	// /5/0/6="lwm2mclient"
	// /5/0/7="1.0"
	// /5/0/8/0=0
	// /5/0/8/1=1
	// /5/0/9=1
}

// Records at /5/0 as SenML JSON: the base name on the first record,
// names relative to it.
func ExampleEncode() {
	recs := []node.Record{
		{Path: node.MustPath("/5/0/3"), Value: node.Integer(2)},
		{Path: node.MustPath("/5/0/5"), Value: node.Integer(0)},
	}
	b, err := Encode(FormatSenMLJSON, node.MustPath("/5/0"), recs)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// [{"bn":"/5/0/","n":"3","v":2},{"n":"5","v":0}]
}

// Every decode error wraps ErrMalformed and says where it stopped.
func ExampleDecode_error() {
	_, err := Decode(FormatTLV, node.MustPath("/5/0"), []byte("\xc8\x06\x0blwm2m"))
	fmt.Println(err)
	fmt.Println(errors.Is(err, ErrMalformed))
	// Output:
	// codec: tlv: offset 0: length 11 beyond end (5 bytes left)
	// true
}

func ExampleEncodeText() {
	for _, v := range []node.Value{node.Integer(-3), node.Boolean(true), node.Link(3, 0), node.Float(0.5)} {
		b, _ := EncodeText(v)
		fmt.Println(string(b))
	}
	// Output:
	// -3
	// 1
	// 3:0
	// 0.5
}
