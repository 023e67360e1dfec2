package syncml

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// vector is one third-party message from testdata/vectors.
type vector struct {
	name string // e.g. "libwbxml2/c2s-pkg1-md5.wbxml"
	data []byte
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	files, err := filepath.Glob("testdata/vectors/*/*")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	for _, f := range files {
		if !strings.HasSuffix(f, ".xml") && !strings.HasSuffix(f, ".wbxml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, vector{name: strings.TrimPrefix(filepath.ToSlash(f), "testdata/vectors/"), data: b})
	}
	if len(vs) < 20 {
		t.Fatalf("found %d vectors, want the 26 of testdata/vectors", len(vs))
	}
	return vs
}

func mustDecode(t testing.TB, b []byte) (*Message, Encoding) {
	t.Helper()
	m, enc, err := Decode(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m, enc
}

// TestDecode_Vectors checks that every vector decodes and that a few facts
// of each come out right.
func TestDecode_Vectors(t *testing.T) {
	type want struct {
		enc       Encoding
		sessionID string
		target    string
		commands  string // command names in order
		final     bool
	}
	tests := map[string]want{
		"libwbxml2/c2s-pkg1-md5":            {0, "3F2", "http://127.0.0.1:8443/dm", "Alert Replace", true},
		"libwbxml2/s2c-pkg2-fumo":           {0, "3F2", "IMEI:493005100592800", "Status Status Status Replace Exec", true},
		"libwbxml2/c2s-pkg1-alert1226":      {0, "3F3", "http://127.0.0.1:8443/dm", "Alert Replace Alert", true},
		"libwbxml2/s2c-largeobject-chunk":   {0, "A1", "IMEI:493005100592800", "Status Replace", false},
		"libwbxml2/c2s-next-message":        {0, "A1", "http://127.0.0.1:8443/dm", "Status Status Alert", false},
		"libwbxml2/s2c-sequence-get":        {0, "B7", "IMEI:356938035643809", "Status Sequence Atomic", true},
		"aosp-dm12/testadd":                 {EncodingWBXML, "30483", "000000011234564", "Status Status Status Add", true},
		"aosp-dm12/testget":                 {EncodingWBXML, "22100", "000000011234564", "Status Status Status Get", true},
		"aosp-dm12/testalertconfirm":        {EncodingXML, "11", "SampleClient", "Alert", true},
		"aosp-dm12/testalertmultiplechoice": {EncodingXML, "11", "SampleClient", "Alert", true},
		"aosp-dm12/testexecscript":          {EncodingXML, "11", "SampleClient", "Exec", true},
	}
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			m, enc := mustDecode(t, v.data)
			w, ok := tests[strings.TrimSuffix(strings.TrimSuffix(v.name, ".wbxml"), ".xml")]
			if !ok {
				return
			}
			if w.enc != 0 && enc != w.enc {
				t.Errorf("encoding %v, want %v", enc, w.enc)
			}
			var names []string
			for _, c := range m.Body.Commands {
				names = append(names, c.CommandName())
			}
			got := want{w.enc, m.Header.SessionID, m.Header.Target.LocURI, strings.Join(names, " "), m.Body.Final}
			if got != w {
				t.Errorf("got %+v\nwant %+v", got, w)
			}
		})
	}
}

// TestDecodeWBXML_EqualsXML: each libwbxml2 .wbxml decodes to the same
// Message as the .xml it was encoded from.
func TestDecodeWBXML_EqualsXML(t *testing.T) {
	files, _ := filepath.Glob("testdata/vectors/libwbxml2/*.wbxml")
	if len(files) != 6 {
		t.Fatalf("found %d libwbxml2 pairs, want 6", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			wb, _ := os.ReadFile(f)
			xb, err := os.ReadFile(strings.TrimSuffix(f, ".wbxml") + ".xml")
			if err != nil {
				t.Fatal(err)
			}
			mw, err := DecodeWBXML(wb)
			if err != nil {
				t.Fatalf("DecodeWBXML: %v", err)
			}
			mx, err := DecodeXML(xb)
			if err != nil {
				t.Fatalf("DecodeXML: %v", err)
			}
			if !reflect.DeepEqual(mw, mx) {
				t.Errorf("WBXML and XML differ:\nwbxml %s\nxml   %s", dump(mw), dump(mx))
			}
		})
	}
}

// TestRoundTrip_Vectors: encode → decode gives an equal Message in both
// encodings, and across them.
func TestRoundTrip_Vectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			m, _ := mustDecode(t, v.data)
			for _, enc := range []Encoding{EncodingXML, EncodingWBXML} {
				b, err := Encode(m, enc)
				if err != nil {
					t.Fatalf("encode %v: %v", enc, err)
				}
				back, got, err := Decode(b)
				if err != nil {
					t.Fatalf("decode %v: %v\n%s", enc, err, b)
				}
				if got != enc {
					t.Errorf("Detect says %v, wrote %v", got, enc)
				}
				if !reflect.DeepEqual(m, back) {
					t.Errorf("%v round trip differs:\nbefore %s\nafter  %s", enc, dump(m), dump(back))
				}
			}
		})
	}
}

// TestEncodeXML_Golden pins the XML the encoder writes for each vector.
// Refresh with: go test ./dm/syncml -run TestEncodeXML_Golden -update
func TestEncodeXML_Golden(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			m, _ := mustDecode(t, v.data)
			got, err := EncodeXML(m)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", strings.ReplaceAll(v.name, "/", "_")+".xml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("EncodeXML differs from %s:\ngot  %s\nwant %s", golden, got, want)
			}
		})
	}
}

// dump prints a Message for failure messages.
func dump(m *Message) string {
	b, err := EncodeXML(m)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
