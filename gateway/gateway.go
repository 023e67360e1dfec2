// Package gateway wires fumo-gw's parts into one running gateway: the
// store, the DM server and package downloads on one HTTP listener, the
// LwM2M server (UDP and DTLS), both firmware drivers behind the bridge.
// cmd/fumo-gw, the tests that run a whole gateway and the load tools all
// build it here, so that they run the same thing.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/limit"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/firmware"
	"github.com/fumo-gw/fumo-gw/store"
)

// Config sets up a gateway. Zero values take the defaults noted.
type Config struct {
	// StorePath is the bbolt file.
	StorePath string
	// HTTPAddr serves the DM endpoint and package downloads (default
	// 127.0.0.1:8080).
	HTTPAddr string
	// DMPath is the DM endpoint's path (default /dm).
	DMPath string
	// PublicHTTP is the base URL devices reach HTTPAddr at (default
	// http://<the address listened on>).
	PublicHTTP string
	// LwM2M configures the LwM2M server (default lwm2m.DefaultConfig;
	// Store and Files are set here).
	LwM2M *lwm2m.Config
	// PublicCoAP and PublicCoAPS are the coap:// and coaps:// bases
	// devices fetch packages from (default the addresses listened on).
	PublicCoAP, PublicCoAPS string
	// SigningKey signs package download URLs (at least 16 bytes).
	SigningKey []byte
	// Notifier delivers DM Package 0 (default none: DM devices get their
	// work when they call in).
	Notifier dm.Notifier
	// Retry, StepTimeouts and Tick tune the bridge.
	Retry        bridge.RetryPolicy
	StepTimeouts map[fleet.JobState]time.Duration
	Tick         time.Duration
	// DMReportTimeout is how long a DM device's result alert may take
	// after it accepted the Exec before its state is read (default
	// fumo.DefaultReportTimeout); DMSessionTimeout how long a DM session
	// may idle before its SessionID is free for another address (default
	// dm.DefaultSessionTimeout).
	DMReportTimeout, DMSessionTimeout time.Duration
	// ProgressFloor and ProgressRate bound an LwM2M delivery: the floor
	// plus the package's size at the rate (bytes/s) before an attempt
	// without progress fails (defaults firmware.DefaultProgressFloor and
	// DefaultProgressRate).
	ProgressFloor time.Duration
	ProgressRate  int64
	// PollInterval: how often the LwM2M driver reads State of devices
	// that do not notify (default 30 s).
	PollInterval time.Duration
	// HTTPConnsPerSource caps the connections open at once from one
	// source IP address on HTTPAddr: more are closed as soon as they are
	// accepted (default 64, < 0 for no cap). A DM device holds one (two
	// while it downloads a package), so 64 leaves room for ~30 devices
	// behind one NAT address, while one address cannot hold every
	// connection the gateway can serve (slow loris).
	HTTPConnsPerSource int
	// The HTTP listener's bounds on one client: the headers must come
	// within HTTPReadHeaderTimeout (default 10 s) and fit in
	// HTTPMaxHeaderBytes (default 64 KiB; DM requests carry a few
	// hundred bytes); a whole request, body included, within
	// HTTPReadTimeout (default 2 min: a DM message at its largest, 512
	// KiB, at ~35 kbit/s, GPRS speed). A download's response is not
	// bounded (a slow device may take long over a large package).
	// HTTPIdleTimeout closes a keep-alive connection with no next request
	// (default 2 min). A negative timeout is none; a negative
	// HTTPMaxHeaderBytes is net/http's own bound (1 MiB).
	HTTPReadHeaderTimeout, HTTPReadTimeout, HTTPIdleTimeout time.Duration
	HTTPMaxHeaderBytes                                      int
	Logger                                                  *slog.Logger
}

// The HTTP listener's defaults (see Config).
const (
	DefaultHTTPConnsPerSource    = 64
	DefaultHTTPReadHeaderTimeout = 10 * time.Second
	DefaultHTTPReadTimeout       = 2 * time.Minute
	DefaultHTTPIdleTimeout       = 2 * time.Minute
	DefaultHTTPMaxHeaderBytes    = 64 << 10
)

// Gateway is a running gateway.
type Gateway struct {
	Store  *store.Store
	DM     *dm.Server
	LwM2M  *lwm2m.Server
	Files  *download.Server
	Bridge *bridge.Bridge
	// HTTPAddr is the address the DM endpoint and downloads listen on.
	HTTPAddr string

	lwTarget *bridge.LwM2MTarget
	http     *http.Server
	httpLn   *limit.ConnListener // nil without a per-source cap
	log      *slog.Logger
}

// Open opens the store, starts every listener and resumes unfinished
// jobs. On error everything opened is closed again.
func Open(ctx context.Context, cfg Config) (g *Gateway, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8080"
	}
	if cfg.DMPath == "" {
		cfg.DMPath = dm.DefaultPath
	}
	if cfg.HTTPConnsPerSource == 0 {
		cfg.HTTPConnsPerSource = DefaultHTTPConnsPerSource
	}
	if cfg.HTTPReadHeaderTimeout == 0 {
		cfg.HTTPReadHeaderTimeout = DefaultHTTPReadHeaderTimeout
	}
	if cfg.HTTPReadTimeout == 0 {
		cfg.HTTPReadTimeout = DefaultHTTPReadTimeout
	}
	if cfg.HTTPIdleTimeout == 0 {
		cfg.HTTPIdleTimeout = DefaultHTTPIdleTimeout
	}
	if cfg.HTTPMaxHeaderBytes == 0 {
		cfg.HTTPMaxHeaderBytes = DefaultHTTPMaxHeaderBytes
	}
	g = &Gateway{log: cfg.Logger}
	defer func() {
		if err != nil {
			g.Close()
			g = nil
		}
	}()
	if g.Store, err = store.Open(cfg.StorePath, nil); err != nil {
		return nil, err
	}
	if g.Files, err = download.New(g.Store, cfg.SigningKey, "", cfg.Logger); err != nil {
		return nil, err
	}
	ln, err := listen(ctx, cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	if cfg.HTTPConnsPerSource > 0 {
		g.httpLn = limit.Listener(ln, cfg.HTTPConnsPerSource)
		ln = g.httpLn
	}
	g.HTTPAddr = ln.Addr().String()
	if cfg.PublicHTTP == "" {
		cfg.PublicHTTP = "http://" + g.HTTPAddr
	}

	// The DM server hands alerts and results to the DM target, which
	// needs the server as its queue: a forwarder closes the loop.
	fwd := &dmHandlers{}
	if g.DM, err = dm.NewServer(dm.Config{Store: g.Store, Path: cfg.DMPath, Alerts: fwd, Results: fwd, Notifier: cfg.Notifier, Logger: cfg.Logger,
		SessionTimeout: cfg.DMSessionTimeout}); err != nil {
		ln.Close()
		return nil, err
	}
	dmTarget, err := bridge.NewDMTarget(bridge.DMConfig{Jobs: g.Store, Queue: g.DM, Trigger: cfg.Notifier != nil, Verify: true,
		Retry: cfg.Retry.Retry, ReportTimeout: cfg.DMReportTimeout, Logger: cfg.Logger,
		PackageURL: func(job, pkg string) string { return g.Files.URL(cfg.PublicHTTP, job, pkg) }})
	if err != nil {
		ln.Close()
		return nil, err
	}
	fwd.t = dmTarget

	lc := lwm2m.DefaultConfig()
	if cfg.LwM2M != nil {
		lc = *cfg.LwM2M
	}
	lc.Store, lc.Files, lc.Logger = g.Store, g.Files, cfg.Logger
	if g.LwM2M, err = lwm2m.New(lc); err != nil {
		ln.Close()
		return nil, err
	}
	if err = g.LwM2M.Start(ctx); err != nil {
		ln.Close()
		return nil, err
	}
	if cfg.PublicCoAP == "" && g.LwM2M.UDPAddr() != nil {
		cfg.PublicCoAP = "coap://" + g.LwM2M.UDPAddr().String()
	}
	if cfg.PublicCoAPS == "" && g.LwM2M.DTLSAddr() != nil {
		cfg.PublicCoAPS = "coaps://" + g.LwM2M.DTLSAddr().String()
	}
	maxAttempts := cfg.Retry.MaxAttempts
	if g.lwTarget, err = bridge.NewLwM2MTarget(firmware.Config{Jobs: g.Store, Server: g.LwM2M, PollInterval: cfg.PollInterval,
		MaxAttempts: maxAttempts, Retry: cfg.Retry.Retry, ProgressFloor: cfg.ProgressFloor, ProgressRate: cfg.ProgressRate, Logger: cfg.Logger,
		PackageURL: func(scheme, job, pkg string) (string, bool) {
			base := map[string]string{"coap": cfg.PublicCoAP, "coaps": cfg.PublicCoAPS, "http": cfg.PublicHTTP}[scheme]
			if base == "" || scheme == "http" && !strings.HasPrefix(cfg.PublicHTTP, "http://") {
				return "", false
			}
			return g.Files.URL(base, job, pkg), true
		}}); err != nil {
		ln.Close()
		return nil, err
	}
	if g.Bridge, err = bridge.New(bridge.Config{Store: g.Store, Targets: []bridge.Target{dmTarget, g.lwTarget},
		Retry: cfg.Retry, StepTimeouts: cfg.StepTimeouts, Tick: cfg.Tick, Logger: cfg.Logger}); err != nil {
		ln.Close()
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle(cfg.DMPath, g.DM)
	mux.Handle(cfg.DMPath+"/", g.DM)
	mux.Handle(download.DefaultPath+"/", g.Files)
	g.http = &http.Server{Handler: mux, ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout, ReadTimeout: cfg.HTTPReadTimeout,
		IdleTimeout: cfg.HTTPIdleTimeout, MaxHeaderBytes: cfg.HTTPMaxHeaderBytes}
	go func() {
		if err := g.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("gateway: http", "err", err)
		}
	}()
	if err = g.Bridge.Start(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// FirmwareStats are the LwM2M firmware driver's counters.
func (g *Gateway) FirmwareStats() firmware.Stats {
	if g.lwTarget == nil {
		return firmware.Stats{}
	}
	return g.lwTarget.Stats()
}

// HTTPConnsRefused counts the HTTP connections closed at once because
// their source address had Config.HTTPConnsPerSource open.
func (g *Gateway) HTTPConnsRefused() int64 {
	if g.httpLn == nil {
		return 0
	}
	return g.httpLn.Refused()
}

// listen binds addr, retrying briefly while a previous process's socket
// is released.
func listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	for i := 0; ; i++ {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err == nil || i == 50 {
			if err != nil {
				return nil, fmt.Errorf("gateway: listen %s: %w", addr, err)
			}
			return ln, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops accepting, lets the bridge's work under way end, and closes
// the store.
func (g *Gateway) Close() error {
	if g.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = g.http.Shutdown(ctx)
		cancel()
	}
	if g.Bridge != nil {
		g.Bridge.Close()
	}
	if g.lwTarget != nil {
		g.lwTarget.Close()
	}
	if g.LwM2M != nil {
		g.LwM2M.Close()
	}
	if g.Store != nil {
		return g.Store.Close()
	}
	return nil
}

type dmHandlers struct{ t *bridge.DMTarget }

func (h *dmHandlers) HandleAlert(ctx context.Context, ev dm.AlertEvent) int {
	return h.t.HandleAlert(ctx, ev)
}

func (h *dmHandlers) CommandFinished(ctx context.Context, r dm.CommandResult) {
	h.t.CommandFinished(ctx, r)
}
