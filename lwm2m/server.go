package lwm2m

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	dtlsServer "github.com/plgd-dev/go-coap/v3/dtls/server"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/options/config"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	udpServer "github.com/plgd-dev/go-coap/v3/udp/server"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/limit"
)

type responseWriter = responsewriter.ResponseWriter[*udpClient.Conn]

// client is one registered device as the server tracks it; its fields are
// guarded by Server.mu.
type client struct {
	deviceID, endpoint string
	reg                fleet.Registration
	identity           string          // DTLS PSK identity, "" over UDP
	conn               *udpClient.Conn // where downlink goes; nil when unknown
	awakeUntil         time.Time       // queue mode: reachable until then
	wake               chan struct{}   // closed (and replaced) when the device sends something
	obs                map[string]observation
	mbox               mailbox
	unsolicitedAt      time.Time // the last EventUnsolicited
	inv                clientInventory
}

// Server is the LwM2M server. Create it with New, start it with Start,
// stop it with Close.
type Server struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	udp    *udpServer.Server
	udpLn  *coapNet.UDPConn
	dtls   *dtlsServer.Server
	dtlsLn *dtlsListener

	mu         sync.Mutex
	byEndpoint map[string]*client
	byRegID    map[string]*client
	byConn     map[*udpClient.Conn]*client
	listeners  []Listener
	closed     bool
	inv        inventoryQueue

	blocks block1Assembler
	// inFlight holds the tokens (Token.Hash) of requests sent and not yet
	// answered, so that an answer to nothing is told apart.
	inFlight sync.Map
	stats    stats

	// rate and conns apply the per-source limits (nil when off); conns
	// holds the connections that carry no registration.
	rate  *limit.Rate
	conns *limit.ConnSet[*udpClient.Conn]
}

// New checks cfg and returns a server that is not yet listening. Zero
// fields of cfg take DefaultConfig's values, except the listen addresses
// ("" means do not listen).
func New(cfg Config) (*Server, error) {
	def := DefaultConfig()
	fill := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	fill(&cfg.DefaultLifetime, def.DefaultLifetime)
	fill(&cfg.MinLifetime, def.MinLifetime)
	fill(&cfg.MaxLifetime, def.MaxLifetime)
	fill(&cfg.IdleTimeout, def.IdleTimeout)
	fill(&cfg.QueueWindow, def.QueueWindow)
	fill(&cfg.RequestTimeout, def.RequestTimeout)
	if cfg.FilesPath == "" {
		cfg.FilesPath = def.FilesPath
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = def.BlockSize
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = def.MaxPayload
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, log: cfg.Logger.With("component", "lwm2m"), ctx: ctx, cancel: cancel,
		byEndpoint: map[string]*client{}, byRegID: map[string]*client{}, byConn: map[*udpClient.Conn]*client{},
	}
	s.blocks.init()
	if cfg.PerSourceRate > 0 {
		var err error
		if s.rate, err = limit.NewRate(limit.RateConfig{PerSecond: cfg.PerSourceRate, Burst: cfg.PerSourceBurst, Now: cfg.Now}); err != nil {
			cancel()
			return nil, fmt.Errorf("lwm2m: config: %w", err)
		}
	}
	if cfg.PerSourceConns > 0 {
		s.conns = limit.NewConnSet[*udpClient.Conn](cfg.PerSourceConns)
	}
	return s, nil
}

func (s *Server) coapOptions() []interface {
	udpServer.Option
	dtlsServer.Option
} {
	return []interface {
		udpServer.Option
		dtlsServer.Option
	}{
		options.WithHandlerFunc(s.handle),
		options.WithBlockwise(false, blockwise.SZX1024, time.Minute),
		options.WithInactivityMonitor(s.cfg.IdleTimeout, s.onInactive),
		options.WithErrors(func(err error) { s.log.Debug("coap", "err", err) }),
		options.WithContext(s.ctx),
		options.WithRequestMonitor(s.requestMonitor),
		options.WithOnNewConn(s.onNewConn),
		options.WithProcessReceivedMessageFunc(config.ProcessReceivedMessageFunc[*udpClient.Conn](s.processReceived)),
	}
}

// Start restores stored registrations and starts listening.
func (s *Server) Start(ctx context.Context) error {
	if err := s.restore(ctx); err != nil {
		return err
	}
	if s.cfg.UDPAddr != "" {
		ln, err := coapNet.NewListenUDP("udp", s.cfg.UDPAddr)
		if err != nil {
			return fmt.Errorf("lwm2m: listen udp %s: %w", s.cfg.UDPAddr, err)
		}
		var opts []udpServer.Option
		for _, o := range s.coapOptions() {
			opts = append(opts, o)
		}
		s.udpLn, s.udp = ln, udp.NewServer(opts...)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); _ = s.udp.Serve(ln) }()
	}
	if s.cfg.DTLSAddr != "" {
		// Our listener (dtlslistener.go) under pion's: it accepts a
		// ClientHello of any 0xFE** record version, as stock mbedTLS
		// sends 0xFE00, and counts every handshake dropped or failed.
		ln, err := s.listenDTLS(s.cfg.DTLSAddr,
			piondtls.WithPSK(s.psk),
			piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8, piondtls.TLS_PSK_WITH_AES_128_CBC_SHA256),
		)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("lwm2m: listen dtls %s: %w", s.cfg.DTLSAddr, err)
		}
		var opts []dtlsServer.Option
		for _, o := range s.coapOptions() {
			opts = append(opts, o)
		}
		opts = append(opts, options.WithDTLSHandshakeTimeout(dtlsHandshakeTimeout))
		s.dtlsLn, s.dtls = ln, dtls.NewServer(opts...)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); _ = s.dtls.Serve(ln) }()
	}
	s.wg.Add(1)
	go s.reaper()
	return nil
}

// UDPAddr and DTLSAddr are the addresses listened on (nil when not).
func (s *Server) UDPAddr() net.Addr {
	if s.udpLn == nil {
		return nil
	}
	return s.udpLn.LocalAddr()
}

func (s *Server) DTLSAddr() net.Addr {
	if s.dtlsLn == nil {
		return nil
	}
	return s.dtlsLn.Addr()
}

func (s *Server) closeListeners() {
	if s.udp != nil {
		s.udp.Stop()
	} else if s.udpLn != nil {
		_ = s.udpLn.Close()
	}
	if s.dtls != nil {
		s.dtls.Stop()
	} else if s.dtlsLn != nil {
		_ = s.dtlsLn.Close()
	}
}

// Close stops listening, ends pending operations and waits for the
// server's goroutines. Registrations stay stored: after a restart the
// devices are known again, and reachable once they next send something
// (UDP devices at once).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.closeListeners()
	s.wg.Wait()
	return nil
}

// psk answers the DTLS handshake's PSK lookup: the client's identity must
// belong to a provisioned device.
func (s *Server) psk(identity []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	d, err := s.cfg.Store.DeviceByPSKIdentity(ctx, string(identity))
	if err != nil || d.LwM2M == nil || d.LwM2M.PSKKey.Empty() {
		s.log.Warn("dtls: unknown psk identity", "identity", string(identity))
		s.stats.unknownPSK.Add(1)
		return nil, fmt.Errorf("%w %q", errUnknownPSKIdentity, identity)
	}
	return []byte(d.LwM2M.PSKKey.Reveal()), nil
}

// identityOf returns the DTLS PSK identity of a connection ("" for UDP).
func identityOf(cc *udpClient.Conn) (string, bool) {
	dc, ok := cc.NetConn().(*piondtls.Conn)
	if !ok {
		return "", false
	}
	st, ok := dc.ConnectionState()
	if !ok {
		return "", true
	}
	return string(st.IdentityHint), true
}

// onInactive closes a silent connection unless it carries a live
// registration (those close on de-registration, expiry or replacement).
func (s *Server) onInactive(cc *udpClient.Conn) {
	s.mu.Lock()
	c := s.byConn[cc]
	live := c != nil && c.conn == cc && s.cfg.Now().Before(c.reg.Expires().Add(s.cfg.ExpiryGrace))
	s.mu.Unlock()
	if !live {
		_ = cc.Close()
	}
}

// onNewConn applies Config.PerSourceConns to a connection go-coap has just
// made: a UDP one for a datagram from a new source port, a DTLS one after
// its handshake (and one the server opens towards a restored UDP
// registration). Beyond the cap of its address, the address's oldest
// connection without a registration is closed.
//
// Why the oldest rather than the new one: the state to bound is go-coap's
// per connection (a UDP one lives IdleTimeout after its last datagram),
// and what it serves without a registration is stateless: Block2 GETs of
// a package, a Register. A device whose connection was closed sends its
// next datagram from the same port and gets a new one, served as before;
// one that opens a new port for each exchange (a pull after each boot, a
// load tool) is never turned away. Refusing the new connection would
// refuse such a device for IdleTimeout; a flood from many ports churns
// its own connections, within the cap, and its datagrams meet the rate
// limit. A connection that carries a registration is not counted (see
// uncount): any number of registered devices may share a NAT address,
// bounded by the devices provisioned, each with one current connection.
func (s *Server) onNewConn(cc *udpClient.Conn) {
	if s.conns == nil {
		return
	}
	old, evicted := s.conns.Add(limit.AddrIP(cc.RemoteAddr()), cc)
	context.AfterFunc(cc.Context(), func() { s.conns.Remove(cc) })
	if evicted {
		s.stats.connsEvicted.Add(1)
		s.log.Debug("coap: connection closed: too many from its address", "addr", old.RemoteAddr().String(), "max", s.cfg.PerSourceConns)
		// Not here: the server opens connections under s.mu, and a
		// connection's close callbacks may take it.
		go shutDown(old)
	}
}

// goCoAPCloseKey is where go-coap v3.5.4's UDP server keeps, in a
// connection's context, the function that shuts it down at once (udp/
// server.closeKey). Conn.Close only cancels a UDP connection: its
// goroutine and state stay until the server's next sweep, every 4 s, which
// under a flood from many ports would be many connections.
const goCoAPCloseKey = "gocoapCloseConnection"

// shutDown closes an evicted connection and frees it at once.
func shutDown(cc *udpClient.Conn) {
	if f, ok := cc.Context().Value(goCoAPCloseKey).(func()); ok {
		f()
		return
	}
	_ = cc.Close() // DTLS: closing the session ends it
}

// uncount stops counting a connection that carries a registration: from
// its Register or Update on, or, for a restored registration's
// connection (the server opens it), from the device's first message.
func (s *Server) uncount(cc *udpClient.Conn) {
	if s.conns != nil {
		s.conns.Remove(cc)
	}
}

// uncountIfRegistered is uncount for a connection that has just been
// answered a Register or an Update, if that made it a registration's.
func (s *Server) uncountIfRegistered(cc *udpClient.Conn) {
	if s.conns == nil {
		return
	}
	s.mu.Lock()
	c := s.byConn[cc]
	registered := c != nil && c.conn == cc
	s.mu.Unlock()
	if registered {
		s.uncount(cc)
	}
}

// SourceConns is the number of connections from ip that count against
// Config.PerSourceConns: those open and carrying no registration (0 when
// the limit is off).
func (s *Server) SourceConns(ip netip.Addr) int {
	if s.conns == nil {
		return 0
	}
	return s.conns.Open(ip)
}

// requestMonitor sees every message before go-coap does anything with
// it: it drops a message over its source's Config.PerSourceRate, and marks
// a queue-mode device awake on anything it sends.
func (s *Server) requestMonitor(cc *udpClient.Conn, m *pool.Message) (bool, error) {
	if s.rate != nil && !s.answersServer(cc, m) && !s.rate.Allow(limit.AddrIP(cc.RemoteAddr())) {
		s.stats.rateLimited.Add(1)
		return true, nil
	}
	s.mu.Lock()
	c := s.byConn[cc]
	registered := c != nil && c.conn == cc
	if registered {
		s.wakeLocked(c)
	}
	s.mu.Unlock()
	if registered {
		s.uncount(cc) // e.g. a restored registration's connection
	}
	return false, nil
}

// answersServer tells whether m answers a request of the server's in
// flight or notifies one of its observations on cc. The rate limit spares
// those: the server paces them, and dropping one would only make it
// retransmit. Their tokens are the server's random ones, so a flood
// cannot pass for them.
func (s *Server) answersServer(cc *udpClient.Conn, m *pool.Message) bool {
	if m.Code() == codes.Empty || isRequestCode(m.Code()) {
		return false
	}
	if _, ok := s.inFlight.Load(m.Token().Hash()); ok {
		return true
	}
	if o, ok := cc.GetObservationRequest(m.Token()); ok {
		cc.ReleaseMessage(o)
		return true
	}
	return false
}

func (s *Server) wakeLocked(c *client) {
	c.awakeUntil = s.cfg.Now().Add(s.cfg.QueueWindow)
	close(c.wake)
	c.wake = make(chan struct{})
}

// handle is the CoAP entry point for every request a device sends.
func (s *Server) handle(w *responseWriter, r *pool.Message) {
	path, err := r.Options().Path()
	if err != nil {
		path = ""
	}
	body, echo, done := s.blocks.assemble(s, w, r, path)
	if done {
		return
	}
	if echo != nil {
		// The answer to the last block of a Block1 transfer carries its
		// Block1 option (RFC 7959 §2.3).
		defer func() { w.Message().SetOptionUint32(message.Block1, *echo) }()
	}
	switch {
	case path == "/rd" && r.Code() == codes.POST:
		s.register(w, r, body)
		s.uncountIfRegistered(w.Conn())
	case len(path) > 4 && path[:4] == "/rd/" && r.Code() == codes.POST:
		s.update(w, r, path[4:], body)
		s.uncountIfRegistered(w.Conn())
	case len(path) > 4 && path[:4] == "/rd/" && r.Code() == codes.DELETE:
		s.deregister(w, r, path[4:])
	case path == "/dp" && (r.Code() == codes.POST || r.Code() == codes.PUT):
		s.send(w, r, body)
	case path == "/rd" || path == "/dp" || len(path) > 4 && path[:4] == "/rd/":
		s.reply(w, codes.MethodNotAllowed, "method not allowed on "+path)
	default:
		s.reply(w, codes.NotFound, "no such resource")
	}
}

// reply answers with a code and a diagnostic payload (RFC 7252 §5.5.2).
func (s *Server) reply(w *responseWriter, code codes.Code, diag string, opts ...message.Option) {
	s.stats.replied(code)
	var err error
	if diag == "" {
		err = w.SetResponse(code, message.TextPlain, nil, opts...)
	} else {
		err = w.SetResponse(code, message.TextPlain, bytesReader(diag), opts...)
	}
	if err != nil {
		s.log.Debug("coap: set response", "err", err)
	}
}

func (s *Server) lookup(endpoint string) (*client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	c := s.byEndpoint[endpoint]
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotRegistered, endpoint)
	}
	return c, nil
}

// Registration returns an endpoint's current registration.
func (s *Server) Registration(endpoint string) (fleet.Registration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byEndpoint[endpoint]
	if c == nil {
		return fleet.Registration{}, false
	}
	return c.reg, true
}

// Registered counts the live registrations.
func (s *Server) Registered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byEndpoint)
}
