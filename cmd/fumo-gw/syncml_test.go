package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

const session = "../../testdata/syncml/fumo-download-and-update/"

func runCLI(stdin []byte, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, bytes.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestSyncMLDecode: every recorded message decodes to readable XML that is
// the same message.
func TestSyncMLDecode(t *testing.T) {
	files, _ := filepath.Glob(session + "*-*")
	if len(files) != 3 {
		t.Fatalf("found %d recorded messages, want 3", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errs := runCLI(nil, "syncml", "decode", f)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if !strings.Contains(out, "\n  <SyncHdr>") {
				t.Errorf("output is not indented XML:\n%s", out)
			}
			in, _ := os.ReadFile(f)
			want, _, err := syncml.Decode(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := syncml.DecodeXML([]byte(out))
			if err != nil {
				t.Fatalf("decode output: %v\n%s", err, out)
			}
			a, _ := syncml.EncodeXML(want)
			b, _ := syncml.EncodeXML(got)
			if !bytes.Equal(a, b) {
				t.Errorf("decode changed the message:\n%s\n%s", a, b)
			}
		})
	}
}

// TestSyncMLEncode: encode writes WBXML (from XML or WBXML, file or stdin)
// that decodes to the same message.
func TestSyncMLEncode(t *testing.T) {
	for _, f := range []string{"002-s2c.xml", "001-c2s.wbxml"} {
		for _, viaStdin := range []bool{false, true} {
			name := f
			if viaStdin {
				name += "/stdin"
			}
			t.Run(name, func(t *testing.T) {
				in, err := os.ReadFile(session + f)
				if err != nil {
					t.Fatal(err)
				}
				arg, stdin := session+f, []byte(nil)
				if viaStdin {
					arg, stdin = "-", in
				}
				code, out, errs := runCLI(stdin, "syncml", "encode", arg)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errs)
				}
				if enc, err := syncml.Detect([]byte(out)); err != nil || enc != syncml.EncodingWBXML {
					t.Fatalf("output is not WBXML: %v %v", enc, err)
				}
				want, _, _ := syncml.Decode(in)
				got, err := syncml.DecodeWBXML([]byte(out))
				if err != nil {
					t.Fatal(err)
				}
				a, _ := syncml.EncodeXML(want)
				b, _ := syncml.EncodeXML(got)
				if !bytes.Equal(a, b) {
					t.Errorf("encode changed the message:\n%s\n%s", a, b)
				}
			})
		}
	}
}

// TestSyncMLDecode_Broken: a broken message exits non-zero, names the byte
// offset and what was expected, and writes nothing to stdout.
func TestSyncMLDecode_Broken(t *testing.T) {
	wb, _ := os.ReadFile(session + "001-c2s.wbxml")
	tests := []struct {
		name  string
		input []byte
		want  []string
	}{
		{"truncated WBXML", wb[:100], []string{"offset ", "expected"}},
		{"bad string-table index", []byte{0x02, 0x00, 0x09, 0x6A, 0x00, 0x6D}, []string{"offset 2", "string-table index 9"}},
		{"broken XML", []byte("<SyncML><SyncHdr></SyncML>"), []string{"offset ", "xml:"}},
		{"neither", []byte("hello"), []string{"offset 0", "neither a WBXML version"}},
		{"empty", nil, []string{"empty message"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(tt.input, "syncml", "decode", "-")
			if code == 0 || out != "" {
				t.Fatalf("exit %d, stdout %q; want failure and no output", code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("error %q does not mention %q", errs, w)
				}
			}
		})
	}
}

// TestSyncMLDecode_BinaryData: binary Item Data (an OPAQUE chunk) is shown
// as base64 rather than refused.
func TestSyncMLDecode_BinaryData(t *testing.T) {
	m := &syncml.Message{
		Header: syncml.Header{VerDTD: syncml.VerDTD, VerProto: syncml.VerProto, SessionID: "1", MsgID: "1",
			Target: syncml.Location{LocURI: "dev"}, Source: syncml.Location{LocURI: "srv"}},
		Body: syncml.Body{Commands: []syncml.Command{&syncml.Replace{CmdID: "1", Items: []syncml.Item{{
			Target: &syncml.Location{LocURI: "./FwUpdate/fw1/Update/PkgData"},
			Meta:   &syncml.Meta{Format: "bin"}, Data: []byte{0x00, 0xFF, 0x01}, MoreData: true}}}}},
	}
	in, err := syncml.EncodeWBXML(m)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(in, "syncml", "decode", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "<Data>AP8B</Data>") || !strings.Contains(errs, "base64") {
		t.Errorf("want base64 data and a note:\n%s\n%s", out, errs)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"syncml"}, {"syncml", "frob", "x"}} {
		if code, _, errs := runCLI(nil, args...); code != 2 || !strings.Contains(errs, "usage") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errs)
		}
	}
	if code, _, errs := runCLI(nil, "syncml", "decode", "/nonexistent/file"); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
}
