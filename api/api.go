// Package api owns fumo-gw's operator API: the versioned REST resources
// under /api/v1 (packages, devices, model settings, jobs, campaigns, raw
// device commands), the server-sent event stream, /healthz and /readyz,
// the OpenAPI document, and what wraps them all: bearer-token
// authentication, request body limits and errors as JSON with a stable
// code.
package api

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
)

// Prefix is the API's versioned path.
const Prefix = "/api/v1"

// Defaults for Config's limits.
const (
	DefaultMaxBody    = 1 << 20 // JSON request bodies
	DefaultMaxPackage = 1 << 30 // package uploads
)

// Config sets the API up.
type Config struct {
	Gateway *gateway.Gateway
	// Token is the bearer token every /api/v1 request must carry
	// (required; cmd/fumo-gw generates one at first start).
	Token string
	// MaxBody bounds JSON request bodies (default DefaultMaxBody);
	// MaxPackage bounds package uploads (default DefaultMaxPackage).
	MaxBody, MaxPackage int64
	// Metrics, when set, is served at /metrics (no token: a scraper on
	// the operator network reads it).
	Metrics http.Handler
	// RequestTimeout bounds a raw device command's wait for the device
	// (default 30 s).
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// API is the operator API's HTTP handler.
type API struct {
	cfg    Config
	g      *gateway.Gateway
	log    *slog.Logger
	router *mux.Router
	routes []Route
	// draining makes /readyz fail once shutdown began.
	draining atomic.Bool
	notify   notifyHub
}

// Route is one operation the API serves: a method on a path template in
// the OpenAPI document's syntax ({id}).
type Route struct {
	Method, Path string
	Public       bool // served without the token
}

// ErrConfig: the Config cannot make an API.
var ErrConfig = errors.New("api: bad config")

// New builds the API's routes.
func New(cfg Config) (*API, error) {
	switch {
	case cfg.Gateway == nil:
		return nil, errors.Join(ErrConfig, errors.New("api: no gateway"))
	case len(cfg.Token) < 16:
		return nil, errors.Join(ErrConfig, errors.New("api: the token must be at least 16 characters"))
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxPackage <= 0 {
		cfg.MaxPackage = DefaultMaxPackage
	}
	cfg.MaxPackage = min(cfg.MaxPackage, fleet.MaxPackageSize)
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Routes match the escaped path, so that a path parameter may hold any
	// character, '/' included (a model name such as "a/b" arrives as
	// a%2Fb); handlers read parameters with pathVar, which unescapes them.
	a := &API{cfg: cfg, g: cfg.Gateway, log: cfg.Logger.With("component", "api"), router: mux.NewRouter().UseEncodedPath()}
	a.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such resource: "+r.URL.Path)
	})
	a.router.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
	})
	a.g.LwM2M.AddListener(a.notify.listen)
	a.routesPublic()
	a.routesPackages()
	a.routesDevices()
	a.routesModels()
	a.routesCommands()
	a.routesJobs()
	a.routesCampaigns()
	a.routesEvents()
	return a, nil
}

// Routes lists every operation served, in registration order.
func (a *API) Routes() []Route { return append([]Route(nil), a.routes...) }

// Drain makes /readyz answer 503, for a load balancer to stop sending
// while the process shuts down.
func (a *API) Drain() { a.draining.Store(true) }

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// handle registers an authenticated /api/v1 operation.
func (a *API) handle(method, path string, h http.HandlerFunc) {
	a.routes = append(a.routes, Route{Method: method, Path: Prefix + path})
	a.router.Handle(Prefix+muxPath(path), a.authenticated(h)).Methods(method)
}

// handlePublic registers an operation served without the token.
func (a *API) handlePublic(method, path string, h http.Handler) {
	a.routes = append(a.routes, Route{Method: method, Path: path, Public: true})
	a.router.Handle(path, h).Methods(method)
}

// muxPath turns the document's {path} catch-all into mux's pattern.
func muxPath(p string) string { return strings.ReplaceAll(p, "{path}", "{path:.+}") }

// pathVar is the named path parameter of the matched route, unescaped
// (the router matches the escaped path). A parameter that does not
// unescape cannot occur: net/http refuses such a request line.
func pathVar(r *http.Request, name string) string {
	v := mux.Vars(r)[name]
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// authenticated checks the bearer token.
func (a *API) authenticated(h http.HandlerFunc) http.Handler {
	want := []byte("Bearer " + a.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fumo-gw"`)
			msg := "missing bearer token"
			if len(got) > 0 {
				msg = "wrong bearer token"
			}
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, msg)
			return
		}
		h(w, r)
	})
}

func (a *API) routesPublic() {
	a.handlePublic(http.MethodGet, "/healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	a.handlePublic(http.MethodGet, "/readyz", http.HandlerFunc(a.ready))
	if a.cfg.Metrics != nil {
		a.handlePublic(http.MethodGet, "/metrics", a.cfg.Metrics)
	}
	a.handlePublic(http.MethodGet, Prefix+"/openapi.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(OpenAPI)
	}))
}

// ready answers 200 while the store answers and shutdown has not begun.
func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "shutting down")
		return
	}
	if err := a.g.Store.Ping(r.Context()); err != nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "store: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "lwm2m_registered": a.g.LwM2M.Registered()})
}
