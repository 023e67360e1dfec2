package lwm2m_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"

	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
	"github.com/fumo-gw/fumo-gw/sim"
)

// logSink keeps a server's log lines; safe for its goroutines.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// dtlsGateway is a gateway whose log is kept, with device ep-a (PSK
// identity id-a) provisioned.
func dtlsGateway(t *testing.T) (*gateway, *logSink) {
	t.Helper()
	logs := &logSink{}
	g := newGateway(t, func(c *lwm2m.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	g.addDevice("ep-a", "id-a", []byte("key-a-0123456789"))
	return g, logs
}

// failures returns the DTLS handshakes failed by cause, and the rewrites.
func failures(g *gateway) (map[string]int64, int64) {
	st := g.srv.Stats()
	return st.DTLSHandshakesFailed, st.DTLSVersionsRewritten
}

// onlyFailures checks every cause's count: those in want, zero others.
func onlyFailures(t *testing.T, g *gateway, want map[string]int64) {
	t.Helper()
	got, _ := failures(g)
	for cause, n := range got {
		if n != want[cause] {
			t.Errorf("handshakes failed %s: %d, want %d (all: %v)", cause, n, want[cause], got)
		}
	}
	if len(got) != 7 {
		t.Errorf("causes %v, want all 7", got)
	}
}

// TestDTLS_RecordVersion: a device whose ClientHello goes out in a record
// of version 0xFE00 (stock mbedTLS) or any other 0xFE** registers over
// DTLS PSK, and each such session is counted and logged once.
func TestDTLS_RecordVersion(t *testing.T) {
	tests := []struct {
		name      string
		version   uint16
		rewritten int64
	}{
		{"mbedTLS fe00", 0xfe00, 1},
		{"fefc", 0xfefc, 1},
		{"pion's own fefd", 0, 0},
		{"DTLS 1.0 feff, as pion takes it", 0xfeff, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, logs := dtlsGateway(t)
			d := &sim.LwM2MDevice{Endpoint: "ep-a", Server: g.cfg.DTLSAddr, PSKIdentity: "id-a", PSKKey: []byte("key-a-0123456789"),
				DTLSRecordVersion: tt.version}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := d.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer d.Close(context.Background())
			if reg, ok := g.srv.Registration("ep-a"); !ok || !reg.Secure {
				t.Fatalf("registration %+v %v", reg, ok)
			}
			if _, err := g.srv.Read(ctx, "ep-a", node.MustPath("/3/0"), codec.FormatTLV); err != nil {
				t.Fatal(err)
			}
			if _, rewritten := failures(g); rewritten != tt.rewritten {
				t.Fatalf("rewritten %d, want %d", rewritten, tt.rewritten)
			}
			onlyFailures(t, g, nil)
			if logged := strings.Contains(logs.String(), "record version rewritten"); logged != (tt.rewritten > 0) {
				t.Fatalf("rewrite logged %v:\n%s", logged, logs)
			}
		})
	}
}

// TestDTLS_RecordVersionRefused: a device whose ClientHello record has
// version 0x0303 or 0xFF00 is dropped before the handshake, each hello
// counted and logged, and changes nothing; the device gives up after its
// handshake timeout (10 s), hence in parallel.
func TestDTLS_RecordVersionRefused(t *testing.T) {
	t.Parallel()
	for _, version := range []uint16{0x0303, 0xff00} {
		t.Run(fmt.Sprintf("%04x", version), func(t *testing.T) {
			t.Parallel()
			g, logs := dtlsGateway(t)
			before := dump(t, g)
			d := &sim.LwM2MDevice{Endpoint: "ep-a", Server: g.cfg.DTLSAddr, PSKIdentity: "id-a", PSKKey: []byte("key-a-0123456789"),
				DTLSRecordVersion: version}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := d.Start(ctx); err == nil {
				d.Kill()
				t.Fatal("registered")
			}
			if _, ok := g.srv.Registration("ep-a"); ok {
				t.Fatal("ep-a registered")
			}
			if dump(t, g) != before {
				t.Fatal("store changed by a refused hello")
			}
			// The hello and its retransmissions: each one dropped, and
			// nothing else counted.
			got, rewritten := failures(g)
			for cause, n := range got {
				if cause == "bad_version" && n < 1 || cause != "bad_version" && n != 0 {
					t.Fatalf("handshakes failed %v", got)
				}
			}
			if rewritten != 0 {
				t.Fatalf("rewritten %d", rewritten)
			}
			if !strings.Contains(logs.String(), "cause=bad_version") || !strings.Contains(logs.String(), "addr=127.0.0.1:") ||
				!strings.Contains(logs.String(), fmt.Sprintf("record_version=%04x", version)) {
				t.Fatalf("no log line of the drop:\n%s", logs)
			}
		})
	}
}

// exchange sends a datagram to addr from pc and returns what comes back
// within wait (nil: nothing).
func exchange(t *testing.T, pc net.PacketConn, addr net.Addr, b []byte, wait time.Duration) []byte {
	t.Helper()
	if _, err := pc.WriteTo(b, addr); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, _, err := pc.ReadFrom(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestDTLS_BadDatagrams: datagrams that cannot start a handshake are
// dropped unanswered and counted by cause; a raw ClientHello of record
// version 0xFE00 from the same socket then gets its HelloVerifyRequest.
func TestDTLS_BadDatagrams(t *testing.T) {
	g, logs := dtlsGateway(t)
	before := dump(t, g)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	srv := g.srv.DTLSAddr()
	hello := func(version uint16) []byte {
		b := bytes.Clone(lwm2m.PionClientHello)
		b[1], b[2] = byte(version>>8), byte(version)
		return b
	}
	appData := []byte{23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 7, 0, 4, 1, 2, 3, 4}
	tests := []struct {
		name  string
		b     []byte
		cause string
	}{
		{"truncated hello", hello(0xfe00)[:50], "malformed"},
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), "malformed"},
		{"empty", nil, "malformed"},
		{"a length past the end", append(hello(0xfe00), 22, 0xfe, 0xfd, 0, 0), "malformed"},
		{"TLS hello", hello(0x0303), "bad_version"},
		{"version ff00", hello(0xff00), "bad_version"},
		{"application data of an old session", appData, "no_session"},
	}
	want := map[string]int64{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if answer := exchange(t, pc, srv, tt.b, 200*time.Millisecond); answer != nil {
				t.Fatalf("answered % x", answer)
			}
			want[tt.cause]++
			eventually(t, "the drop counted", func() bool { got, _ := failures(g); return got[tt.cause] == want[tt.cause] })
			onlyFailures(t, g, want)
		})
	}
	if !strings.Contains(logs.String(), "cause=malformed") || !strings.Contains(logs.String(), "cause=no_session") {
		t.Fatalf("drops not logged:\n%s", logs)
	}
	// A hello stock mbedTLS would send: the handshake starts.
	answer := exchange(t, pc, srv, hello(0xfe00), 5*time.Second)
	const helloVerifyRequest = 3
	if len(answer) < 14 || answer[0] != 22 || answer[1] != 0xfe || answer[2] != 0xfd || answer[13] != helloVerifyRequest {
		t.Fatalf("answer to a fe00 hello: % x", answer)
	}
	if _, rewritten := failures(g); rewritten != 1 {
		t.Fatalf("rewritten %d", rewritten)
	}
	// Its retransmission (a new record sequence number) belongs to the
	// same session: not counted again.
	again := hello(0xfe00)
	again[10] = 1
	if answer := exchange(t, pc, srv, again, 5*time.Second); answer == nil {
		t.Fatal("retransmitted hello unanswered")
	}
	if _, rewritten := failures(g); rewritten != 1 {
		t.Fatalf("rewritten %d after a retransmission", rewritten)
	}
	onlyFailures(t, g, want)
	if dump(t, g) != before {
		t.Fatal("store changed")
	}
	// The listener still serves devices.
	d := g.device("ep-a", func(d *sim.LwM2MDevice) { d.PSKIdentity, d.PSKKey = "id-a", []byte("key-a-0123456789") })
	if reg, ok := g.srv.Registration("ep-a"); !ok || !reg.Secure {
		t.Fatalf("registration %+v %v", reg, ok)
	}
	_ = d
}

// TestDTLS_HandshakeFailures: a PSK identity no device has counts as
// unknown_identity (and UnknownPSK, as before), whatever the record
// version; a ClientHello with no cipher suite in common as failed;
// neither registers nor stores anything.
func TestDTLS_HandshakeFailures(t *testing.T) {
	g, logs := dtlsGateway(t)
	before := dump(t, g)
	device := func(identity string, version uint16) func(context.Context) error {
		return func(ctx context.Context) error {
			d := &sim.LwM2MDevice{Endpoint: "ep-a", Server: g.cfg.DTLSAddr, PSKIdentity: identity, PSKKey: []byte("whatever-0000000"),
				DTLSRecordVersion: version}
			err := d.Start(ctx)
			if err == nil {
				d.Kill()
			}
			return err
		}
	}
	// A client offering only AES-GCM (the server has CCM_8 and CBC).
	gcm := func(ctx context.Context) error {
		return handshake(ctx, g.srv.DTLSAddr(), "id-a", "key-a-0123456789", piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256)
	}
	tests := []struct {
		name       string
		try        func(context.Context) error
		want       map[string]int64
		unknownPSK int64
		rewritten  int64
	}{
		{"unknown identity", device("nobody", 0), map[string]int64{"unknown_identity": 1}, 1, 0},
		{"unknown identity, fe00", device("nobody", 0xfe00), map[string]int64{"unknown_identity": 2}, 2, 1},
		{"no cipher suite in common", gcm, map[string]int64{"unknown_identity": 2, "failed": 1}, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tt.try(ctx); err == nil {
				t.Fatal("the exchange succeeded")
			}
			// The server may learn of the failure after the client.
			eventually(t, "the failure counted", func() bool {
				got, _ := failures(g)
				return got["unknown_identity"] == tt.want["unknown_identity"] && got["failed"] == tt.want["failed"]
			})
			onlyFailures(t, g, tt.want)
			st := g.srv.Stats()
			if st.UnknownPSK != tt.unknownPSK || st.DTLSVersionsRewritten != tt.rewritten {
				t.Fatalf("UnknownPSK %d, rewritten %d; want %d, %d", st.UnknownPSK, st.DTLSVersionsRewritten, tt.unknownPSK, tt.rewritten)
			}
		})
	}
	if _, ok := g.srv.Registration("ep-a"); ok {
		t.Fatal("ep-a registered")
	}
	if dump(t, g) != before {
		t.Fatal("store changed by refusals")
	}
	// Logged after it is counted.
	eventually(t, "the failure logged", func() bool { return strings.Contains(logs.String(), "cause=failed") })
}

// handshake runs a pion DTLS client handshake alone (no go-coap, whose
// reader would hold a handshake nobody answers for the connection's life).
func handshake(ctx context.Context, addr net.Addr, identity, key string, suite piondtls.CipherSuiteID) error {
	c, err := piondtls.DialWithOptions("udp", addr.(*net.UDPAddr),
		piondtls.WithPSK(func([]byte) ([]byte, error) { return []byte(key), nil }),
		piondtls.WithPSKIdentityHint([]byte(identity)),
		piondtls.WithCipherSuites(suite))
	if err != nil {
		return err
	}
	defer c.Close()
	return c.HandshakeContext(ctx)
}

// TestDTLS_HandshakeTimeout: with a wrong key the server cannot read the
// client's Finished and drops it, as DTLS drops a record that fails its
// check (RFC 6347 §4.1.2.7): the handshake ends at the handshake timeout
// (10 s), counted as timeout. In parallel, for that wait.
func TestDTLS_HandshakeTimeout(t *testing.T) {
	t.Parallel()
	g, logs := dtlsGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := handshake(ctx, g.srv.DTLSAddr(), "id-a", "wrong-key-000000", piondtls.TLS_PSK_WITH_AES_128_CCM_8); err == nil {
		t.Fatal("handshake with a wrong key")
	}
	eventually(t, "the timeout counted", func() bool { got, _ := failures(g); return got["timeout"] == 1 })
	eventually(t, "the timeout logged", func() bool { return strings.Contains(logs.String(), "cause=timeout") })
	onlyFailures(t, g, map[string]int64{"timeout": 1})
}
