package limit

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// ConnListener is a net.Listener that lets at most a cap of connections be
// open per source address: Accept closes the ones beyond it at once
// (with a reset, where the connection is TCP) and goes on to the next.
type ConnListener struct {
	net.Listener
	conns *Conns
}

var _ net.Listener = (*ConnListener)(nil)

// Listener wraps ln so that at most perIP (at least 1) of its connections
// are open per source address at a time.
func Listener(ln net.Listener, perIP int) *ConnListener {
	return &ConnListener{Listener: ln, conns: NewConns(perIP)}
}

// Accept returns the next connection within its source's cap.
func (l *ConnListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := AddrIP(c.RemoteAddr())
		if l.conns.Acquire(ip) {
			return &conn{Conn: c, l: l, ip: ip}, nil
		}
		if tc, ok := c.(*net.TCPConn); ok {
			// A reset frees the socket at once: no FIN handshake, no
			// TIME_WAIT kept for a client that is over its cap.
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// Refused counts the connections closed because their source was at its
// cap.
func (l *ConnListener) Refused() int64 { return l.conns.Refused() }

// Open is the number of connections open from ip.
func (l *ConnListener) Open(ip netip.Addr) int { return l.conns.Open(ip) }

// conn gives its source's slot back when closed (once).
type conn struct {
	net.Conn
	l    *ConnListener
	ip   netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.conns.Release(c.ip) })
	return err
}

// CloseWrite half-closes a TCP connection (net/http uses it to end a
// response before closing).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
