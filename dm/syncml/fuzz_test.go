package syncml

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fuzzSeeds adds every vector with the given extension to the fuzz corpus;
// testdata/fuzz/<FuzzName>/ holds the committed corpus besides.
func fuzzSeeds(f *testing.F, ext string) {
	files, _ := filepath.Glob("testdata/vectors/*/*" + ext)
	if len(files) == 0 {
		f.Fatal("no vectors")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// fuzzStable asserts decode → encode → decode is stable: a message that
// decodes (or decodes with only a version error) encodes again, unless the
// model says it cannot be written in enc, decodes to an equal value, and
// re-encodes to the same bytes.
func fuzzStable(t *testing.T, m *Message, err error, enc Encoding) {
	var ve *VersionError
	if err != nil && !errors.As(err, &ve) {
		return
	}
	b1, err := Encode(m, enc)
	if errors.Is(err, ErrUnencodable) {
		return
	}
	if err != nil {
		t.Fatalf("encode %v of a decoded message: %v", enc, err)
	}
	m2, enc2, err := Decode(b1)
	if err != nil && !errors.As(err, &ve) {
		t.Fatalf("decode of our own %v failed: %v\n%q", enc, err, b1)
	}
	if enc2 != enc {
		t.Fatalf("Detect says %v for our %v", enc2, enc)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("%v round trip differs:\nfirst  %#v\nsecond %#v", enc, m, m2)
	}
	b2, err := Encode(m2, enc)
	if err != nil || !bytes.Equal(b1, b2) {
		t.Fatalf("re-encoding is not a fixpoint (%v):\n%q\n%q", err, b1, b2)
	}
}

func FuzzDecodeWBXML(f *testing.F) {
	fuzzSeeds(f, ".wbxml")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeWBXML(b)
		fuzzStable(t, m, err, EncodingWBXML)
		fuzzStable(t, m, err, EncodingXML)
	})
}

func FuzzDecodeXML(f *testing.F) {
	fuzzSeeds(f, ".xml")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeXML(b)
		fuzzStable(t, m, err, EncodingXML)
		fuzzStable(t, m, err, EncodingWBXML)
	})
}
