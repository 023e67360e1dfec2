package replay

import (
	"strings"
	"testing"
)

const pkg2 = `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID>` +
	`<MsgID>1</MsgID><Target><LocURI>IMEI:1</LocURI></Target><Source><LocURI>http://127.0.0.1:4711/dm</LocURI></Source>` +
	`<RespURI>http://127.0.0.1:4711/dm/s/0123456789abcdef</RespURI></SyncHdr><SyncBody><Status><CmdID>1</CmdID><MsgRef>1</MsgRef>` +
	`<CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Chal><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type>` +
	`<NextNonce xmlns="syncml:metinf">bm9uY2UtMDAwMDAwMDAwMQ==</NextNonce></Meta></Chal><Data>212</Data></Status><Final/></SyncBody></SyncML>`

// TestCanonical_Normalises: address, RespURI token and NextNonce of a
// run become fixed words; the rest is kept.
func TestCanonical_Normalises(t *testing.T) {
	got, err := Canonical([]byte(pkg2))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<LocURI>http://gateway/dm</LocURI>", "<RespURI>http://gateway/dm/s/TOKEN</RespURI>",
		`<NextNonce xmlns="syncml:metinf">NONCE</NextNonce>`, "<Data>212</Data>"} {
		if !strings.Contains(got, want) {
			t.Errorf("canonical form lacks %s:\n%s", want, got)
		}
	}
	other := strings.NewReplacer("4711", "5000", "0123456789abcdef", "fedcba9876543210", "bm9uY2UtMDAwMDAwMDAwMQ==", "cmFuZG9t").Replace(pkg2)
	if got2, _ := Canonical([]byte(other)); got2 != got {
		t.Errorf("another run's message differs:\n%s\n%s", got, got2)
	}
}

func TestCanonical_BrokenMessage(t *testing.T) {
	if _, err := Canonical([]byte("<SyncML>")); err == nil {
		t.Fatal("a broken message has a canonical form")
	}
}

func TestLines_Indents(t *testing.T) {
	got := strings.Join(Lines(`<a><b>x</b><c/><d><e>y</e></d></a>`), "|")
	want := "<a>|  <b>x</b>|  <c/>|  <d>|    <e>y</e>|  </d>|</a>"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name, want, got string
		has             []string
	}{
		{name: "equal", want: "<a><b>1</b></a>", got: "<a><b>1</b></a>"},
		{name: "changed", want: "<a><b>1</b><c>2</c></a>", got: "<a><b>1</b><c>3</c></a>",
			has: []string{"  <b>1</b>", "-   <c>2</c>", "+   <c>3</c>"}},
		{name: "added", want: "<a><b>1</b></a>", got: "<a><b>1</b><m>new</m></a>", has: []string{"+   <m>new</m>"}},
		{name: "removed", want: "<a><m>old</m><b>1</b></a>", got: "<a><b>1</b></a>", has: []string{"-   <m>old</m>"}},
		{name: "far down", want: "<a><x>1</x><x>2</x><x>3</x><x>4</x><x>5</x><y>a</y></a>",
			got: "<a><x>1</x><x>2</x><x>3</x><x>4</x><x>5</x><y>b</y></a>", has: []string{"@@ line 7 @@", "-   <y>a</y>"}},
		{name: "two places", want: "<a><p>1</p><q/><q/><q/><q/><q/><q/><r>1</r></a>", got: "<a><p>2</p><q/><q/><q/><q/><q/><q/><r>2</r></a>",
			has: []string{"-   <p>1</p>", "(more differences follow)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Diff(tc.want, tc.got)
			if len(tc.has) == 0 && d != "" {
				t.Errorf("diff of equal strings:\n%s", d)
			}
			for _, h := range tc.has {
				if !strings.Contains(d, h) {
					t.Errorf("diff lacks %q:\n%s", h, d)
				}
			}
		})
	}
}

func TestMessage_SeqAndDir(t *testing.T) {
	m := Message{Name: "012-s2c.wbxml"}
	if m.Seq() != "012" || m.Dir() != "s2c" {
		t.Errorf("%s %s", m.Seq(), m.Dir())
	}
	m = Message{Name: "001-c2s.xml", FromClient: true}
	if m.Seq() != "001" || m.Dir() != "c2s" {
		t.Errorf("%s %s", m.Seq(), m.Dir())
	}
}
