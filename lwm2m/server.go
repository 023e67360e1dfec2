package lwm2m

import (
	"context"
	"fmt"
	"log/slog"
	"net"
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
	dtlsLn *coapNet.DTLSListener

	mu         sync.Mutex
	byEndpoint map[string]*client
	byRegID    map[string]*client
	byConn     map[*udpClient.Conn]*client
	listeners  []Listener
	closed     bool

	blocks block1Assembler
	// inFlight holds the tokens (Token.Hash) of requests sent and not yet
	// answered, so that an answer to nothing is told apart.
	inFlight sync.Map
	stats    stats
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
		ln, err := coapNet.NewDTLSListener("udp", s.cfg.DTLSAddr, coapNet.NewDTLSServerOptions(
			piondtls.WithPSK(s.psk),
			piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8, piondtls.TLS_PSK_WITH_AES_128_CBC_SHA256),
		))
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("lwm2m: listen dtls %s: %w", s.cfg.DTLSAddr, err)
		}
		var opts []dtlsServer.Option
		for _, o := range s.coapOptions() {
			opts = append(opts, o)
		}
		opts = append(opts, options.WithDTLSHandshakeTimeout(10*time.Second))
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
		return nil, fmt.Errorf("lwm2m: unknown psk identity %q", identity)
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

// requestMonitor marks a queue-mode device awake on anything it sends.
func (s *Server) requestMonitor(cc *udpClient.Conn, _ *pool.Message) (bool, error) {
	s.mu.Lock()
	if c := s.byConn[cc]; c != nil && c.conn == cc {
		s.wakeLocked(c)
	}
	s.mu.Unlock()
	return false, nil
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
	case len(path) > 4 && path[:4] == "/rd/" && r.Code() == codes.POST:
		s.update(w, r, path[4:], body)
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
