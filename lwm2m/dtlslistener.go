package lwm2m

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	piondtls "github.com/pion/dtls/v3"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
)

// dtlsHandshakeTimeout bounds a DTLS handshake, from the first datagram
// of an address to the session (a HelloVerifyRequest nobody answers ends
// with it).
const dtlsHandshakeTimeout = 10 * time.Second

// errUnknownPSKIdentity: the handshake's PSK identity belongs to no device.
var errUnknownPSKIdentity = errors.New("lwm2m: unknown psk identity")

// dtlsCause is why a DTLS handshake was dropped before it began or failed.
type dtlsCause uint8

const (
	// causeBadVersion: a first datagram whose record version is not DTLS
	// 1.0 or 1.2 after rewriteRecordVersion (outside 0xFE**, e.g. TLS's
	// 0x0303, or 0xFE** on a record other than a ClientHello).
	causeBadVersion dtlsCause = iota
	// causeMalformed: a first datagram that is not whole DTLS records
	// (empty, truncated, a length past its end).
	causeMalformed
	// causeNoSession: a first datagram whose first record is not a
	// handshake, e.g. application data of a session from before a
	// restart; the device handshakes again after its own timeout.
	causeNoSession
	// causeBacklog: more new addresses at once than sessions may wait.
	causeBacklog
	// causeUnknownIdentity: a PSK identity no device has (Stats.UnknownPSK).
	causeUnknownIdentity
	// causeTimeout: the handshake did not finish in dtlsHandshakeTimeout
	// (a HelloVerifyRequest not answered: a spoofed source, a client that
	// gave up).
	causeTimeout
	// causeFailed: the handshake failed otherwise (a wrong key, no common
	// cipher suite, a client_version other than 1.2, an alert).
	causeFailed
	numDTLSCauses
)

var dtlsCauseNames = [numDTLSCauses]string{"bad_version", "malformed", "no_session", "backlog", "unknown_identity", "timeout", "failed"}

func (c dtlsCause) String() string {
	if c < numDTLSCauses {
		return dtlsCauseNames[c]
	}
	return fmt.Sprintf("dtlsCause(%d)", uint8(c))
}

// dtlsListener is what go-coap's DTLS server serves (its
// dtlsServer.Listener): pion/dtls's listener over a udpDemux. It runs each
// session's handshake itself, so that every failure is counted and logged
// by cause, and hands go-coap only sessions whose handshake succeeded
// (go-coap's own HandshakeContext on them returns at once). Closing it
// aborts the handshakes in progress and waits for them.
type dtlsListener struct {
	ln     net.Listener // pion's
	ctx    context.Context
	cancel context.CancelFunc
	failed func(raddr net.Addr, err error)
	ready  chan net.Conn
	wg     sync.WaitGroup
	once   sync.Once
}

// listenDTLS listens on addr for DTLS sessions with opts (pion's server
// options), counting and logging what it drops.
func (s *Server) listenDTLS(addr string, opts ...piondtls.ServerOption) (*dtlsListener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	logs := &causeLog{now: time.Now} // real time, whatever Config.Now: it paces the log
	demux := newUDPDemux(pc,
		func(raddr net.Addr, c dtlsCause, b []byte) { s.dtlsDropped(logs, raddr, c, b) },
		func(raddr net.Addr, from uint16) { s.dtlsRewrote(logs, raddr, from) })
	ln, err := piondtls.NewListenerWithOptions(demux, opts...)
	if err != nil {
		_ = demux.Close()
		return nil, err
	}
	l := &dtlsListener{ln: ln, failed: func(raddr net.Addr, err error) { s.dtlsFailed(logs, raddr, err) }, ready: make(chan net.Conn)}
	l.ctx, l.cancel = context.WithCancel(s.ctx)
	l.wg.Add(1)
	go l.run()
	return l, nil
}

// run accepts sessions and starts their handshakes until the demux closes.
func (l *dtlsListener) run() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			l.cancel() // closed, or the socket failed: no more sessions
			return
		}
		if err != nil {
			continue // pion made no session of it (it does not with our options)
		}
		l.wg.Add(1)
		go l.handshake(c)
	}
}

func (l *dtlsListener) handshake(c net.Conn) {
	defer l.wg.Done()
	dc, ok := c.(*piondtls.Conn)
	if !ok {
		_ = c.Close()
		return
	}
	ctx, cancel := context.WithTimeout(l.ctx, dtlsHandshakeTimeout)
	err := dc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		if l.ctx.Err() == nil {
			l.failed(c.RemoteAddr(), err)
		}
		_ = c.Close()
		return
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		_ = c.Close()
	}
}

// AcceptWithContext returns the next session whose handshake succeeded.
func (l *dtlsListener) AcceptWithContext(ctx context.Context) (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.ctx.Done():
		return nil, coapNet.ErrListenerIsClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops accepting, ends the handshakes in progress and waits for
// them; sessions already handed over stay open (go-coap closes them).
func (l *dtlsListener) Close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		err = l.ln.Close()
		l.wg.Wait()
	})
	return err
}

func (l *dtlsListener) Addr() net.Addr { return l.ln.Addr() }

// dtlsDropped counts and logs a datagram that opened no session.
func (s *Server) dtlsDropped(logs *causeLog, raddr net.Addr, c dtlsCause, b []byte) {
	s.stats.dtlsFailed[c].Add(1)
	ok, held := logs.allow(int(c))
	if !ok {
		return
	}
	attrs := []any{"addr", raddr.String(), "cause", c.String(), "bytes", len(b)}
	if len(b) >= 3 {
		attrs = append(attrs, "record_version", fmt.Sprintf("%02x%02x", b[1], b[2]))
	}
	level := slog.LevelInfo
	if c == causeBadVersion || c == causeBacklog {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "dtls: datagram dropped: no handshake", notLogged(attrs, held)...)
}

// dtlsRewrote counts and logs a session opened by a ClientHello whose
// record version was rewritten.
func (s *Server) dtlsRewrote(logs *causeLog, raddr net.Addr, from uint16) {
	s.stats.dtlsRewritten.Add(1)
	if ok, held := logs.allow(int(numDTLSCauses)); ok {
		s.log.Info("dtls: clienthello record version rewritten to fefd", notLogged([]any{"addr", raddr.String(),
			"record_version", fmt.Sprintf("%04x", from)}, held)...)
	}
}

// dtlsFailed counts and logs a failed handshake. An unknown identity was
// counted and logged by psk.
func (s *Server) dtlsFailed(logs *causeLog, raddr net.Addr, err error) {
	c := causeFailed
	switch {
	case errors.Is(err, errUnknownPSKIdentity):
		return
	case errors.Is(err, context.DeadlineExceeded):
		c = causeTimeout
	}
	s.stats.dtlsFailed[c].Add(1)
	ok, held := logs.allow(int(c))
	if !ok {
		return
	}
	level := slog.LevelWarn
	if c == causeTimeout {
		level = slog.LevelInfo
	}
	s.log.Log(context.Background(), level, "dtls: handshake failed",
		notLogged([]any{"addr", raddr.String(), "cause", c.String(), "err", err}, held)...)
}

// notLogged adds to a line's attributes how many lines of its kind were
// held back before it, if any.
func notLogged(attrs []any, held int) []any {
	if held > 0 {
		attrs = append(attrs, "not_logged", held)
	}
	return attrs
}

// dtlsLogEvery is the least time between two log lines of one cause: a
// flood of bad datagrams is counted in full and logged at this pace, each
// line telling how many were not logged since the last.
const dtlsLogEvery = time.Second

// causeLog paces log lines per cause (and one more slot, for rewrites).
type causeLog struct {
	now  func() time.Time
	mu   sync.Mutex
	last [numDTLSCauses + 1]time.Time
	held [numDTLSCauses + 1]int
}

// allow tells whether a line of slot i may be logged now, and how many
// were held back since the last one.
func (l *causeLog) allow(i int) (ok bool, held int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last[i].IsZero() && now.Sub(l.last[i]) < dtlsLogEvery {
		l.held[i]++
		return false, 0
	}
	held, l.last[i], l.held[i] = l.held[i], now, 0
	return true, held
}
