package limit_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/limit"
)

// acceptAll accepts from ln until it closes and hands out the
// connections.
func acceptAll(ln net.Listener) <-chan net.Conn {
	out := make(chan net.Conn, 64)
	go func() {
		defer close(out)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			out <- c
		}
	}()
	return out
}

func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByPeer tells whether the server end of c was closed: a read gets
// EOF or a reset rather than the byte the test server echoes.
func closedByPeer(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("neither served nor closed within 10 s")
	}
	return err != nil
}

// TestListener: connections beyond the cap of their source address are
// closed at once and counted; another address is not affected; closing a
// served connection frees its slot.
func TestListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limit.Listener(inner, 2)
	defer ln.Close()
	accepted := acceptAll(ln)
	addr := ln.Addr().String()
	// serve answers one byte on each accepted connection, so that the
	// client side tells a served connection from a closed one.
	serve := func() net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			if _, err := c.Write([]byte{1}); err != nil {
				t.Fatal(err)
			}
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no connection accepted within 10 s")
			return nil
		}
	}

	a1, a2 := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	s1, s2 := serve(), serve()
	defer s2.Close()
	if closedByPeer(t, a1) || closedByPeer(t, a2) {
		t.Fatal("a connection within the cap was closed")
	}
	// Over the cap: closed by Accept, never handed out. The reset may
	// even beat the end of connect on loopback.
	for range 3 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			continue
		}
		if !closedByPeer(t, c) {
			t.Fatal("a third connection from 127.0.0.1 was served")
		}
		c.Close()
	}
	if n := ln.Refused(); n != 3 {
		t.Errorf("Refused = %d, want 3", n)
	}
	// Another address has its own cap.
	b1 := dialFrom(t, "127.0.0.2", addr)
	s3 := serve()
	defer s3.Close()
	if closedByPeer(t, b1) {
		t.Fatal("the first connection from 127.0.0.2 was closed")
	}
	lo := netip.MustParseAddr("127.0.0.1")
	if n := ln.Open(lo); n != 2 {
		t.Errorf("Open(127.0.0.1) = %d, want 2", n)
	}
	// Closing a served connection (server side) frees a slot.
	s1.Close()
	if n := ln.Open(lo); n != 1 {
		t.Errorf("Open(127.0.0.1) = %d after a close, want 1", n)
	}
	s1.Close() // a second Close gives nothing back twice
	a3 := dialFrom(t, "127.0.0.1", addr)
	s4 := serve()
	defer s4.Close()
	if closedByPeer(t, a3) {
		t.Fatal("a connection after a slot was freed was closed")
	}
	if n := ln.Refused(); n != 3 {
		t.Errorf("Refused = %d, want still 3", n)
	}
}

// TestListener_CloseWrite: a connection handed out still half-closes
// (net/http ends responses with it).
func TestListener_CloseWrite(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limit.Listener(inner, 1)
	defer ln.Close()
	accepted := acceptAll(ln)
	c := dialFrom(t, "127.0.0.1", ln.Addr().String())
	s := <-accepted
	defer s.Close()
	cw, ok := s.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("no CloseWrite")
	}
	if _, err := s.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "bye" {
		t.Fatalf("read %q, %v; want bye then EOF", b, err)
	}
}
