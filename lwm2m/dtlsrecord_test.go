package lwm2m

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/pion/dtls/v3/pkg/protocol"
	"github.com/pion/dtls/v3/pkg/protocol/recordlayer"
)

// pionClientHello is the first datagram of a pion/dtls v3.1.15 client
// (PSK, TLS_PSK_WITH_AES_128_CCM_8): one epoch-0 handshake record of
// version 0xFEFD carrying a ClientHello (client_version 0xFEFD).
var pionClientHello = mustHex("16fefd0000000000000000005b0100004f000000000000004ffefd6b12f67a2c6ec4f5b8de00eee925a5195d" +
	"7ccad256579f0b591e8bb300d95e6a00000002c0a801000023000d001600140403050306030807080408050806040105010601ff0100010000170000")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// record returns a copy of b with the record header's version, epoch or
// content type changed (negative: unchanged).
func record(b []byte, typ, version, epoch int) []byte {
	out := bytes.Clone(b)
	if typ >= 0 {
		out[0] = byte(typ)
	}
	if version >= 0 {
		out[1], out[2] = byte(version>>8), byte(version)
	}
	if epoch >= 0 {
		out[3], out[4] = byte(epoch>>8), byte(epoch)
	}
	return out
}

// fragments splits pionClientHello's ClientHello into two records of one
// datagram, each a handshake fragment with its own handshake header.
func fragments(version int) []byte {
	body := pionClientHello[recordHeaderLen+12:]
	var out []byte
	for i, part := range [][]byte{body[:40], body[40:]} {
		hs := bytes.Clone(pionClientHello[recordHeaderLen : recordHeaderLen+12])
		off := 0
		if i == 1 {
			off = 40
		}
		hs[6], hs[7], hs[8] = 0, 0, byte(off)         // fragment_offset
		hs[9], hs[10], hs[11] = 0, 0, byte(len(part)) // fragment_length
		hdr := record(pionClientHello[:recordHeaderLen], -1, version, -1)
		hdr[10] = byte(i)                             // sequence number
		hdr[11], hdr[12] = 0, byte(len(hs)+len(part)) // length
		out = append(append(append(out, hdr...), hs...), part...)
	}
	return out
}

func TestRewriteRecordVersion(t *testing.T) {
	fe00 := record(pionClientHello, -1, 0xfe00, -1)
	emptyFirst := append(mustHex("16fefd00000000000000000000"), fe00...) // a record of no fragment, then the hello
	tests := []struct {
		name string
		in   []byte
		n    int    // records rewritten
		from uint16 // the first one's version
	}{
		{"pion hello, 1.2", pionClientHello, 0, 0},
		{"mbedTLS hello, fe00", fe00, 1, 0xfe00},
		{"hello of version 1.0 left (pion takes it)", record(pionClientHello, -1, 0xfeff, -1), 0, 0},
		{"hello of version fefc", record(pionClientHello, -1, 0xfefc, -1), 1, 0xfefc},
		{"hello of version fe01", record(pionClientHello, -1, 0xfe01, -1), 1, 0xfe01},
		{"TLS version 0303 left", record(pionClientHello, -1, 0x0303, -1), 0, 0},
		{"version ff00 left", record(pionClientHello, -1, 0xff00, -1), 0, 0},
		{"epoch 1 left", record(pionClientHello, -1, 0xfe00, 1), 0, 0},
		{"application data left", record(pionClientHello, 23, 0xfe00, -1), 0, 0},
		{"alert left", record(pionClientHello, 21, 0xfe00, -1), 0, 0},
		{"server hello left", func() []byte { b := bytes.Clone(fe00); b[recordHeaderLen] = 2; return b }(), 0, 0},
		{"truncated by one byte", fe00[:len(fe00)-1], 0, 0},
		{"header only", fe00[:recordHeaderLen], 0, 0},
		{"shorter than a header", fe00[:5], 0, 0},
		{"empty", nil, 0, 0},
		{"length past the end", append(bytes.Clone(fe00), 0x16, 0xfe, 0x00), 0, 0},
		{"two fragments, both fe00", fragments(0xfe00), 2, 0xfe00},
		{"two fragments, 1.2", fragments(0xfefd), 0, 0},
		{"zero-length record first", emptyFirst, 1, 0xfe00},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(tt.in)
			n, from := rewriteRecordVersion(b)
			if n != tt.n || from != tt.from {
				t.Fatalf("rewrote %d (first from %04x), want %d (from %04x)", n, from, tt.n, tt.from)
			}
			checkRewrite(t, tt.in, b, n)
		})
	}
}

// checkRewrite checks rewriteRecordVersion's property against pion's own
// framing (recordlayer.UnpackDatagram): n qualifying records got version
// 0xFEFD in bytes 1-2 and nothing else changed.
func checkRewrite(t *testing.T, orig, b []byte, n int) {
	t.Helper()
	if len(b) != len(orig) {
		t.Fatalf("length %d, was %d", len(b), len(orig))
	}
	pkts, err := recordlayer.UnpackDatagram(orig)
	if err != nil || len(pkts) == 0 {
		if n != 0 || !bytes.Equal(b, orig) {
			t.Fatalf("changed a datagram pion cannot frame (%v)", err)
		}
		return
	}
	want, off := 0, 0
	for _, r := range pkts {
		qualifies := len(r) > recordHeaderLen && r[0] == 22 && r[3] == 0 && r[4] == 0 && r[recordHeaderLen] == 1 &&
			r[1] == 0xfe && r[2] != 0xfd && r[2] != 0xff
		got := b[off : off+len(r)]
		if qualifies {
			want++
			if got[1] != 0xfe || got[2] != 0xfd || !bytes.Equal(got[3:], r[3:]) || got[0] != r[0] {
				t.Fatalf("record at %d: % x, was % x", off, got[:3], r[:3])
			}
		} else if !bytes.Equal(got, r) {
			t.Fatalf("record at %d changed", off)
		}
		off += len(r)
	}
	if n != want {
		t.Fatalf("rewrote %d, %d qualify", n, want)
	}
}

// pionAccepts is pion/dtls v3.1.15's listener accept filter (listener.go,
// Listen): whether a datagram from a new address opens a session.
func pionAccepts(b []byte) bool {
	pkts, err := recordlayer.UnpackDatagram(b)
	if err != nil || len(pkts) < 1 {
		return false
	}
	h := &recordlayer.Header{}
	if err := h.Unmarshal(pkts[0]); err != nil {
		return false
	}
	return h.ContentType == protocol.ContentTypeHandshake
}

func TestRefusal(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		refused bool
		cause   dtlsCause
	}{
		{"pion hello", pionClientHello, false, 0},
		{"mbedTLS hello fe00", record(pionClientHello, -1, 0xfe00, -1), false, 0},
		{"hello of version 1.0", record(pionClientHello, -1, 0xfeff, -1), false, 0},
		{"TLS version 0303", record(pionClientHello, -1, 0x0303, -1), true, causeBadVersion},
		{"version ff00", record(pionClientHello, -1, 0xff00, -1), true, causeBadVersion},
		{"server hello fe00", func() []byte { b := record(pionClientHello, -1, 0xfe00, -1); b[recordHeaderLen] = 2; return b }(), true, causeBadVersion},
		{"truncated", pionClientHello[:40], true, causeMalformed},
		{"garbage", []byte("hello, is this coap?"), true, causeMalformed},
		{"empty", nil, true, causeMalformed},
		{"application data of an old session", record(pionClientHello, 23, -1, 1), true, causeNoSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(tt.in)
			rewriteRecordVersion(b)
			cause, refused := refusal(b)
			if refused != tt.refused || refused && cause != tt.cause {
				t.Fatalf("refused %v (%v), want %v (%v)", refused, cause, tt.refused, tt.cause)
			}
			if refused == pionAccepts(b) {
				t.Fatalf("refused %v, but pion's filter accepts: %v", refused, pionAccepts(b))
			}
		})
	}
}

// FuzzRewriteRecordVersion: rewriteRecordVersion never panics, changes
// only bytes 1-2 of the records that qualify (by pion's framing), is
// idempotent, and refusal agrees with pion's accept filter on its output.
func FuzzRewriteRecordVersion(f *testing.F) {
	f.Add(pionClientHello)
	f.Add(record(pionClientHello, -1, 0xfe00, -1))
	f.Add(record(pionClientHello, -1, 0x0303, -1))
	f.Add(fragments(0xfe00))
	f.Add(pionClientHello[:40])
	f.Add(record(pionClientHello, 23, -1, 1))
	f.Fuzz(func(t *testing.T, in []byte) {
		b := bytes.Clone(in)
		n, from := rewriteRecordVersion(b)
		checkRewrite(t, in, b, n)
		if n > 0 && from>>8 != 0xfe {
			t.Fatalf("first rewritten from %04x", from)
		}
		if again, _ := rewriteRecordVersion(bytes.Clone(b)); again != 0 {
			t.Fatalf("a second pass rewrote %d", again)
		}
		if _, refused := refusal(b); refused == pionAccepts(b) {
			t.Fatalf("refused %v, pion accepts %v", refused, pionAccepts(b))
		}
	})
}
