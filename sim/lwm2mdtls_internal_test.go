package sim

import (
	"bytes"
	"encoding/hex"
	"net"
	"testing"
	"time"
)

// clientHello is a pion/dtls v3.1.15 client's first datagram: one epoch-0
// handshake record (version 0xFEFD) carrying a ClientHello.
var clientHello, _ = hex.DecodeString("16fefd0000000000000000005b0100004f000000000000004ffefd6b12f67a2c6ec4f5b8de00eee925a5195d" +
	"7ccad256579f0b591e8bb300d95e6a00000002c0a801000023000d001600140403050306030807080408050806040105010601ff0100010000170000")

func TestSetClientHelloVersion(t *testing.T) {
	with := func(f func(b []byte)) []byte { b := bytes.Clone(clientHello); f(b); return b }
	tests := []struct {
		name string
		in   []byte
		n    int
	}{
		{"client hello", clientHello, 1},
		{"two client hello records", append(bytes.Clone(clientHello), clientHello...), 2},
		{"epoch 1", with(func(b []byte) { b[4] = 1 }), 0},
		{"application data", with(func(b []byte) { b[0] = 23 }), 0},
		{"server hello", with(func(b []byte) { b[13] = 2 }), 0},
		{"truncated", clientHello[:50], 0},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(tt.in)
			if n := setClientHelloVersion(b, 0xfe00); n != tt.n {
				t.Fatalf("set %d records, want %d", n, tt.n)
			}
			for i := range b {
				changed := b[i] != tt.in[i]
				if at := i % len(clientHello); changed && (tt.n == 0 || at != 1 && at != 2) {
					t.Fatalf("byte %d changed", i)
				}
			}
			if tt.n > 0 && (b[1] != 0xfe || b[2] != 0x00) {
				t.Fatalf("version % x", b[1:3])
			}
		})
	}
}

// TestLwM2MDevice_DTLSRecordVersion: the device's ClientHello goes out in
// a record of the version set, the handshake message is pion's own; the
// dial, which handshakes, fails (and does not hang) once the server is
// gone.
func TestLwM2MDevice_DTLSRecordVersion(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	d := &LwM2MDevice{Endpoint: "ep", Server: pc.LocalAddr().String(), PSKIdentity: "id", PSKKey: []byte("key"), DTLSRecordVersion: 0xfe00}
	dialed := make(chan error, 1)
	go func() {
		cc, err := d.dial(d.Server, true)
		if err == nil {
			cc.Close()
		}
		dialed <- err
	}()
	defer func() {
		pc.Close() // the device's next datagram meets a closed port
		select {
		case err := <-dialed:
			if err == nil {
				t.Error("dial succeeded")
			}
		case <-time.After(2 * dtlsRecordVersionHandshake):
			t.Error("dial still running")
		}
	}()
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	b := buf[:n]
	if len(b) < 14 || b[0] != 22 || b[13] != 1 || b[1] != 0xfe || b[2] != 0x00 {
		t.Fatalf("first datagram % x", b[:min(len(b), 16)])
	}
	if b[25] != 0xfe || b[26] != 0xfd {
		t.Fatalf("client_version % x, want fe fd", b[25:27])
	}
}
