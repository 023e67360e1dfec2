package lwm2m

import (
	"net"
	"os"
	"sync"
	"time"
)

// Sizes of the DTLS socket's buffers: the largest datagram read (pion's
// own listener reads 8192 bytes), the sessions that may wait for pion's
// Accept (its default backlog) and the datagrams that may wait for a
// session's reader; beyond those a datagram is dropped, as a full socket
// buffer would drop it.
const (
	dtlsReadSize    = 8192
	dtlsBacklog     = 128
	dtlsPeerBacklog = 64
)

// udpDemux is the UDP side of the DTLS listener: one socket, shared out as
// a net.PacketConn per remote address to pion/dtls's listener
// (dtls.NewListenerWithOptions), as pion's own listener does. pion's
// (internal/net/udp) opens its socket itself and takes no net.PacketConn,
// so it cannot be wrapped; this one adds what it lacks: every datagram
// goes through rewriteRecordVersion before pion parses it, and a datagram
// from an address without a session that opens none is reported with its
// cause (refusal) instead of vanishing.
//
// Like pion's, it closes its socket once it is closed and its last
// session has closed (a session's close_notify still goes out).
type udpDemux struct {
	pc net.PacketConn
	// dropped reports a datagram that opened no session; rewrote a
	// session opened by a ClientHello whose record version was rewritten.
	// Both are called from the read loop, without locks held.
	dropped func(raddr net.Addr, cause dtlsCause, b []byte)
	rewrote func(raddr net.Addr, from uint16)

	accept   chan *peerConn
	done     chan struct{} // closed by Close
	readDone chan struct{} // closed when the read loop ends

	mu         sync.Mutex
	peers      map[string]*peerConn
	closing    bool
	sockClosed bool
	closeOnce  sync.Once
}

func newUDPDemux(pc net.PacketConn, dropped func(net.Addr, dtlsCause, []byte), rewrote func(net.Addr, uint16)) *udpDemux {
	d := &udpDemux{
		pc: pc, dropped: dropped, rewrote: rewrote,
		accept: make(chan *peerConn, dtlsBacklog), done: make(chan struct{}), readDone: make(chan struct{}),
		peers: map[string]*peerConn{},
	}
	go d.readLoop()
	return d
}

// Accept returns the next session's connection (dtlsnet.PacketListener).
// After Close, or once the socket failed, it returns net.ErrClosed.
func (d *udpDemux) Accept() (net.PacketConn, net.Addr, error) {
	select {
	case p := <-d.accept:
		return p, p.raddr, nil
	case <-d.done:
		return nil, nil, net.ErrClosed
	case <-d.readDone:
		return nil, nil, net.ErrClosed
	}
}

// Close stops opening sessions and closes those not yet accepted; the
// socket closes with the last session.
func (d *udpDemux) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closing = true
		close(d.done)
		var pending []*peerConn
		for len(d.accept) > 0 {
			pending = append(pending, <-d.accept)
		}
		d.mu.Unlock()
		for _, p := range pending {
			_ = p.Close()
		}
		d.closeIfIdle()
	})
	return nil
}

func (d *udpDemux) Addr() net.Addr { return d.pc.LocalAddr() }

func (d *udpDemux) closeIfIdle() {
	d.mu.Lock()
	idle := d.closing && len(d.peers) == 0 && !d.sockClosed
	d.sockClosed = d.sockClosed || idle
	d.mu.Unlock()
	if idle {
		_ = d.pc.Close()
	}
}

// readLoop routes datagrams until the socket closes (or fails).
func (d *udpDemux) readLoop() {
	defer close(d.readDone)
	buf := make([]byte, dtlsReadSize)
	for {
		n, raddr, err := d.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		d.route(raddr, append([]byte(nil), buf[:n]...))
	}
}

// route hands a datagram to its address's session, opening one when the
// datagram may start it.
func (d *udpDemux) route(raddr net.Addr, b []byte) {
	rewritten, from := rewriteRecordVersion(b)
	key := raddr.String()
	d.mu.Lock()
	p, known := d.peers[key]
	if !known {
		if d.closing {
			d.mu.Unlock()
			return
		}
		if cause, refused := refusal(b); refused {
			d.mu.Unlock()
			d.dropped(raddr, cause, b)
			return
		}
		p = &peerConn{d: d, raddr: raddr, key: key, in: make(chan []byte, dtlsPeerBacklog),
			closed: make(chan struct{}), deadlineSet: make(chan struct{})}
		select {
		case d.accept <- p:
			d.peers[key] = p
		default:
			d.mu.Unlock()
			d.dropped(raddr, causeBacklog, b)
			return
		}
	}
	d.mu.Unlock()
	if !known && rewritten > 0 {
		d.rewrote(raddr, from)
	}
	select {
	case p.in <- b:
	default: // the session's reader is behind: drop, as a socket would
	}
}

func (d *udpDemux) remove(p *peerConn) {
	d.mu.Lock()
	if d.peers[p.key] == p {
		delete(d.peers, p.key)
	}
	d.mu.Unlock()
	d.closeIfIdle()
}

// peerConn is one remote address's share of the socket: a net.PacketConn
// that reads the datagrams routed to it and writes to the socket.
type peerConn struct {
	d     *udpDemux
	raddr net.Addr
	key   string
	in    chan []byte

	closed    chan struct{}
	closeOnce sync.Once

	mu                          sync.Mutex
	readDeadline, writeDeadline time.Time
	deadlineSet                 chan struct{} // closed (and replaced) when the read deadline changes
}

// ReadFrom returns the next datagram from the address; a datagram longer
// than b is cut, as a socket would cut it. It honours the read deadline,
// which pion's reader (netctx) sets to a past time to end a read.
func (p *peerConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		p.mu.Lock()
		deadline, set := p.readDeadline, p.deadlineSet
		p.mu.Unlock()
		var expired <-chan time.Time
		stop := func() bool { return false }
		if !deadline.IsZero() {
			wait := time.Until(deadline)
			if wait <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(wait)
			expired, stop = t.C, t.Stop
		}
		select {
		case dg := <-p.in:
			stop()
			return copy(b, dg), p.raddr, nil
		case <-p.closed:
			stop()
			return 0, nil, net.ErrClosed
		case <-expired:
			return 0, nil, os.ErrDeadlineExceeded
		case <-set:
			stop()
		}
	}
}

// WriteTo sends a datagram from the shared socket.
func (p *peerConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-p.closed:
		return 0, net.ErrClosed
	default:
	}
	p.mu.Lock()
	deadline := p.writeDeadline
	p.mu.Unlock()
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	if addr == nil {
		addr = p.raddr
	}
	return p.d.pc.WriteTo(b, addr)
}

// Close ends the address's session: its next datagram may open a new one.
func (p *peerConn) Close() error {
	p.closeOnce.Do(func() {
		close(p.closed)
		p.d.remove(p)
	})
	return nil
}

func (p *peerConn) LocalAddr() net.Addr { return p.d.pc.LocalAddr() }

func (p *peerConn) SetDeadline(t time.Time) error {
	_ = p.SetReadDeadline(t)
	return p.SetWriteDeadline(t)
}

func (p *peerConn) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.readDeadline = t
	close(p.deadlineSet)
	p.deadlineSet = make(chan struct{})
	p.mu.Unlock()
	return nil
}

// SetWriteDeadline only fails writes after t: a datagram write does not
// wait, and the socket's own deadline is every session's.
func (p *peerConn) SetWriteDeadline(t time.Time) error {
	p.mu.Lock()
	p.writeDeadline = t
	p.mu.Unlock()
	return nil
}
