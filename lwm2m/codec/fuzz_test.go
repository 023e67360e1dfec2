package codec

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// The fuzz targets check, for any input: no panic; a failure wraps
// ErrMalformed; a success gives records sorted by path that encode and
// decode again to the same records. Seeds are in testdata/fuzz/<Name>/.

// checkDecoded fails unless err is nil or wraps ErrMalformed, and
// reports whether decoding succeeded.
func checkDecoded(t *testing.T, recs []node.Record, err error) bool {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decode error %v does not wrap ErrMalformed", err)
		}
		return false
	}
	if !slices.IsSortedFunc(recs, func(a, b node.Record) int { return a.Path.Compare(b.Path) }) {
		t.Fatalf("records not sorted: %v", recs)
	}
	return true
}

// reencode encodes recs at base in f and decodes the result.
func reencode(t *testing.T, f Format, base node.Path, recs []node.Record) []node.Record {
	t.Helper()
	b, err := Encode(f, base, recs)
	if err != nil {
		t.Fatalf("%s: Encode at %s of %v: %v", f, base, recs, err)
	}
	back, err := Decode(f, base, b)
	if err != nil {
		t.Fatalf("%s: Decode at %s of % x (from %v): %v", f, base, b, recs, err)
	}
	return back
}

func assertSame(t *testing.T, what string, got, want []node.Record) {
	t.Helper()
	if !sameRecords(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// commonPrefix is the longest path all records lie under.
func commonPrefix(recs []node.Record) node.Path {
	if len(recs) == 0 {
		return node.Path{}
	}
	p := recs[0].Path
	for _, r := range recs[1:] {
		for !r.Path.HasPrefix(p) {
			p = p.Parent()
		}
	}
	return p
}

// tlvFuzzBases are the levels FuzzDecodeTLV reads each input at; /5/0
// and /9/0 give node.Typed every resource type but float.
var tlvFuzzBases = []node.Path{
	node.MustPath("/5"), node.MustPath("/5/0"), node.MustPath("/9/0"), node.MustPath("/5/0/8"), node.MustPath("/5/0/8/0"),
}

func FuzzDecodeTLV(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, base := range tlvFuzzBases {
			recs, err := Decode(FormatTLV, base, data)
			if !checkDecoded(t, recs, err) {
				continue
			}
			// Raw values are written back as their bytes.
			assertSame(t, "raw round trip at "+base.String(), reencode(t, FormatTLV, base, recs), recs)
			// Typed values (when the models accept the bytes) survive
			// the shortest encodings Encode picks.
			typed, err := node.Typed(recs)
			if err != nil {
				continue
			}
			back, err := node.Typed(reencode(t, FormatTLV, base, typed))
			if err != nil {
				t.Fatalf("typed round trip at %s: %v", base, err)
			}
			assertSame(t, "typed round trip at "+base.String(), back, typed)
		}
	})
}

func FuzzDecodeSenMLJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Decode(FormatSenMLJSON, node.Path{}, data)
		if !checkDecoded(t, recs, err) {
			return
		}
		for _, base := range []node.Path{{}, commonPrefix(recs)} {
			assertSame(t, "json round trip at "+base.String(), reencode(t, FormatSenMLJSON, base, recs), recs)
			// JSON values are a subset of CBOR's.
			assertSame(t, "cbor round trip at "+base.String(), reencode(t, FormatSenMLCBOR, base, recs), recs)
		}
	})
}

func FuzzDecodeSenMLCBOR(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Decode(FormatSenMLCBOR, node.Path{}, data)
		if !checkDecoded(t, recs, err) {
			return
		}
		for _, base := range []node.Path{{}, commonPrefix(recs)} {
			assertSame(t, "cbor round trip at "+base.String(), reencode(t, FormatSenMLCBOR, base, recs), recs)
		}
	})
}

// FuzzDecodeText also covers opaque, whose decoder accepts any bytes.
func FuzzDecodeText(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		base := node.MustPath("/5/0/1")
		recs, err := Decode(FormatText, base, data)
		if checkDecoded(t, recs, err) {
			assertSame(t, "text round trip", reencode(t, FormatText, base, recs), recs)
		}
		recs, err = Decode(FormatOpaque, base, data)
		if err != nil {
			t.Fatalf("opaque: %v", err)
		}
		if b, _ := recs[0].Value.Bytes(); !bytes.Equal(b, data) {
			t.Fatalf("opaque: got % x", b)
		}
		assertSame(t, "opaque round trip", reencode(t, FormatOpaque, base, recs), recs)
	})
}
