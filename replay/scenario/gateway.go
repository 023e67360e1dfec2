package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/fumo"
	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/store"
)

// SigningKey signs the in-process gateway's download URLs. It is fixed so
// that a recorded PkgURL (a signed URL) replays.
const SigningKey = "a signing key of the gateway"

// Config sets up an in-process gateway.
type Config struct {
	// StorePath is the bbolt file (a fresh one: a temporary folder's).
	StorePath string
	// Addr is where the DM endpoint listens (default 127.0.0.1:0).
	Addr string
	// Setup, when set, is applied before Start returns, and its Nonces
	// come first.
	Setup  *Setup
	Logger *slog.Logger
}

// Gateway is the DM side of fumo-gw wired as the product wires it (the
// DM server, the package downloads and the FUMO driver on one store) on a
// real listener, with repeatable nonces (see Nonces).
type Gateway struct {
	Store  *store.Store
	DM     *dm.Server
	Driver *fumo.Driver
	// Addr is the address listened on; URL the DM endpoint there.
	Addr, URL string

	http *http.Server
	done chan struct{}
}

// handlers lets the DM server reach the driver created after it.
type handlers struct{ d *fumo.Driver }

func (h *handlers) HandleAlert(ctx context.Context, ev dm.AlertEvent) int {
	return h.d.HandleAlert(ctx, ev)
}

func (h *handlers) CommandFinished(ctx context.Context, r dm.CommandResult) {
	h.d.CommandFinished(ctx, r)
}

// Start opens the store, starts serving and applies cfg.Setup. On error
// everything opened is closed again.
func Start(ctx context.Context, cfg Config) (_ *Gateway, err error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var nonces []string
	if cfg.Setup != nil {
		nonces = cfg.Setup.Nonces
	}
	g := &Gateway{}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if g.Store, err = store.Open(cfg.StorePath, nil); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	h := &handlers{}
	if g.DM, err = dm.NewServer(dm.Config{Store: g.Store, Alerts: h, Results: h, Nonce: Nonces(nonces...), Logger: cfg.Logger}); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	files, err := download.New(g.Store, []byte(SigningKey), "", cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("scenario: listen %s: %w", cfg.Addr, err)
	}
	g.Addr = ln.Addr().String()
	base := "http://" + g.Addr
	g.URL = base + dm.DefaultPath
	if h.d, err = fumo.NewDriver(fumo.DriverConfig{Jobs: g.Store, Queue: g.DM, Verify: true, Logger: cfg.Logger,
		PackageURL: func(job, pkg string) string { return files.URL(base, job, pkg) }}); err != nil {
		ln.Close()
		return nil, fmt.Errorf("scenario: %w", err)
	}
	g.Driver = h.d
	mux := http.NewServeMux()
	mux.Handle(dm.DefaultPath, g.DM)
	mux.Handle(dm.DefaultPath+"/", g.DM)
	mux.Handle(download.DefaultPath+"/", files)
	g.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	g.done = make(chan struct{})
	go func() {
		defer close(g.done)
		if err := g.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("scenario: http", "err", err)
		}
	}()
	if err = g.Driver.Resume(ctx); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if cfg.Setup != nil {
		if err = g.Apply(ctx, cfg.Setup); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Close stops serving and closes the store.
func (g *Gateway) Close() error {
	if g.http != nil {
		g.http.Close()
		<-g.done
		g.http = nil
	}
	if g.Store != nil {
		err := g.Store.Close()
		g.Store = nil
		return err
	}
	return nil
}
