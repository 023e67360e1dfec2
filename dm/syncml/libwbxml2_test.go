package syncml

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// TestEncodeWBXML_AcceptedByLibwbxml2 hands the WBXML we write for every
// vector to Debian's independent decoder (wbxml2xml, package
// libwbxml2-utils) and checks that its XML decodes to the same message.
// .ci/run installs the tool; without it the test skips, except under CI.
func TestEncodeWBXML_AcceptedByLibwbxml2(t *testing.T) {
	tool, err := exec.LookPath("wbxml2xml")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("wbxml2xml not installed; .ci/run must install libwbxml2-utils")
		}
		t.Skip("wbxml2xml not installed (apt-get install libwbxml2-utils)")
	}
	dir := t.TempDir()
	for i, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			m, _ := mustDecode(t, v.data)
			b, err := EncodeWBXML(m)
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, "in"+itoa(i)+".wbxml")
			out := filepath.Join(dir, "out"+itoa(i)+".xml")
			if err := os.WriteFile(in, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if msg, err := exec.Command(tool, "-o", out, in).CombinedOutput(); err != nil {
				t.Fatalf("wbxml2xml refused our WBXML: %v\n%s", err, msg)
			}
			x, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeXML(x)
			if err != nil {
				t.Fatalf("decoding wbxml2xml's XML: %v\n%s", err, x)
			}
			if !reflect.DeepEqual(m, back) {
				t.Errorf("wbxml2xml read a different message:\nours   %s\ntheirs %s", dump(m), x)
			}
		})
	}
}

// TestEncodeXML_ReadByLibwbxml2 goes the other way: libwbxml2's xml2wbxml
// encodes the XML we write, and our WBXML decoder reads back the same message.
func TestEncodeXML_ReadByLibwbxml2(t *testing.T) {
	tool, err := exec.LookPath("xml2wbxml")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xml2wbxml not installed; .ci/run must install libwbxml2-utils")
		}
		t.Skip("xml2wbxml not installed (apt-get install libwbxml2-utils)")
	}
	dir := t.TempDir()
	for i, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			m, _ := mustDecode(t, v.data)
			b, err := EncodeXML(m)
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, "in"+itoa(i)+".xml")
			out := filepath.Join(dir, "out"+itoa(i)+".wbxml")
			if err := os.WriteFile(in, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if msg, err := exec.Command(tool, "-n", "-v", "1.2", "-o", out, in).CombinedOutput(); err != nil {
				t.Fatalf("xml2wbxml refused our XML: %v\n%s", err, msg)
			}
			w, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeWBXML(w)
			if err != nil {
				t.Fatalf("decoding xml2wbxml's WBXML: %v", err)
			}
			if !reflect.DeepEqual(m, back) {
				t.Errorf("xml2wbxml wrote a different message:\nours   %s\ntheirs %s", dump(m), dump(back))
			}
		})
	}
}
