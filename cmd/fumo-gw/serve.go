package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/fumo"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/firmware"
	"github.com/fumo-gw/fumo-gw/metrics"
)

// setting is one serve setting: a flag, an environment variable
// (FUMO_GW_ + the name in upper case, dashes as underscores) and a key of
// the optional JSON config file. Precedence: flag, then environment, then
// file, then the default.
type setting struct {
	name, def, usage string
}

// settings are every serve setting with its default: the one place the
// README's table is made from.
var settings = []setting{
	{"data-dir", "fumo-gw-data", "directory of the store (fumo-gw.db), the signing key and the API token"},
	{"http-addr", "127.0.0.1:8080", "DM endpoint and package downloads (HTTP) listen address"},
	{"dm-path", dm.DefaultPath, "DM endpoint path"},
	{"public-http", "", "base URL devices reach http-addr at (default http://<http-addr>)"},
	{"coap-addr", "127.0.0.1:5683", "LwM2M over UDP listen address (\"\" for none)"},
	{"coaps-addr", "127.0.0.1:5684", "LwM2M over DTLS (PSK) listen address (\"\" for none)"},
	{"public-coap", "", "coap:// base devices fetch packages from (default coap://<coap-addr>)"},
	{"public-coaps", "", "coaps:// base (default coaps://<coaps-addr>)"},
	{"api-addr", "127.0.0.1:8081", "operator API listen address"},
	{"api-token", "", "operator API bearer token (default: <data-dir>/api-token, generated at first start)"},
	{"push-url", "", "URL Package 0 notifications are POSTed to (default: none; DM devices get work when they call in)"},
	{"log-format", "text", "log format: text or json"},
	{"log-level", "info", "log level: debug, info, warn or error"},
	{"shutdown-timeout", "10s", "how long SIGTERM waits for in-flight messages"},
	{"dm-report-timeout", fumo.DefaultReportTimeout.String(), "how long a DM device's result alert (Generic Alert 1226) may take after it accepted the Exec; then its next session reads <x>/State"},
	{"dm-session-timeout", dm.DefaultSessionTimeout.String(), "how long a DM session may go without a message before a package 1 reusing its SessionID from another address starts a new session"},
	{"step-timeout-waiting-device", bridge.DefaultStepTimeouts[fleet.JobWaitingDevice].String(), "how long a job may wait for its device (then it is retried, or fails with reason timeout; 0: no limit)"},
	{"step-timeout-delivering", bridge.DefaultStepTimeouts[fleet.JobDelivering].String(), "how long a job may stay delivering"},
	{"step-timeout-delivered", bridge.DefaultStepTimeouts[fleet.JobDelivered].String(), "how long a job may stay delivered"},
	{"step-timeout-updating", bridge.DefaultStepTimeouts[fleet.JobUpdating].String(), "how long a job may stay updating"},
	{"step-timeout-verifying", bridge.DefaultStepTimeouts[fleet.JobVerifying].String(), "how long a job may stay verifying"},
	{"progress-floor", firmware.DefaultProgressFloor.String(), "an LwM2M delivery may take this long plus the package's size at progress-rate before the attempt fails with reason no_progress"},
	{"progress-rate", strconv.Itoa(firmware.DefaultProgressRate), "bytes per second an LwM2M delivery must reach at least (see progress-floor)"},
	{"max-package", "1073741824", "largest package upload in bytes"},
	{"http-conns-per-source", strconv.Itoa(gateway.DefaultHTTPConnsPerSource), "HTTP connections open at once per source IP address; more are closed at once (0: no cap)"},
	{"coap-rate-per-source", strconv.FormatFloat(lwDefaults.PerSourceRate, 'f', -1, 64), "CoAP messages per second per source IP address, UDP and DTLS together; more are dropped (0: no limit)"},
	{"coap-burst-per-source", strconv.Itoa(lwDefaults.PerSourceBurst), "CoAP messages a source IP address may send at once above coap-rate-per-source"},
	{"coap-conns-per-source", strconv.Itoa(lwDefaults.PerSourceConns), "CoAP connections without a registration (UDP source ports, DTLS sessions) kept per source IP address; beyond it the oldest is closed (0: no cap)"},
}

// lwDefaults are the LwM2M server's defaults the settings start from.
var lwDefaults = lwm2m.DefaultConfig()

// serveConfig is the settings after flags, environment and file.
type serveConfig map[string]string

func (c serveConfig) duration(name string) (time.Duration, error) {
	d, err := time.ParseDuration(c[name])
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// count reads a whole number of at least 0.
func (c serveConfig) count(name string) (int, error) {
	n, err := strconv.Atoi(c[name])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: a whole number, 0 or more", name, c[name])
	}
	return n, nil
}

// limits reads the per-source limits: the LwM2M server's into lc, and the
// HTTP listener's cap as gateway.Config.HTTPConnsPerSource takes it.
func (c serveConfig) limits(lc *lwm2m.Config) (httpConnsPerSource int, err error) {
	if httpConnsPerSource, err = c.count("http-conns-per-source"); err != nil {
		return 0, err
	}
	if httpConnsPerSource == 0 {
		httpConnsPerSource = -1 // gateway.Config's "no cap" (0 is its default)
	}
	rate, err := strconv.ParseFloat(c["coap-rate-per-source"], 64)
	if err != nil || rate < 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return 0, fmt.Errorf("coap-rate-per-source %q: a number of messages per second, 0 or more", c["coap-rate-per-source"])
	}
	lc.PerSourceRate = rate
	if lc.PerSourceBurst, err = c.count("coap-burst-per-source"); err != nil {
		return 0, err
	}
	if rate > 0 && lc.PerSourceBurst == 0 {
		return 0, errors.New("coap-burst-per-source: at least 1 when coap-rate-per-source is set")
	}
	if lc.PerSourceConns, err = c.count("coap-conns-per-source"); err != nil {
		return 0, err
	}
	return httpConnsPerSource, nil
}

// loadServeConfig reads flags (args), the environment and the JSON file
// named by -config.
func loadServeConfig(args []string, stderr io.Writer, getenv func(string) string) (serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "JSON file of settings (keys as the flag names)")
	vals := map[string]*string{}
	for _, s := range settings {
		vals[s.name] = fs.String(s.name, s.def, s.usage+" [$"+envName(s.name)+"]")
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fumo-gw serve [flags]\n\nRuns the gateway: DM endpoint, package downloads, LwM2M (UDP, DTLS) and the operator API.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	file := map[string]string{}
	if *configFile != "" {
		b, err := os.ReadFile(*configFile)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		raw := map[string]any{}
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("serve: config %s: %w", *configFile, err)
		}
		for k, v := range raw {
			if _, ok := vals[k]; !ok {
				return nil, fmt.Errorf("serve: config %s: unknown setting %q", *configFile, k)
			}
			file[k] = fmt.Sprint(v)
		}
	}
	cfg := serveConfig{}
	for _, s := range settings {
		v := s.def
		if f, ok := file[s.name]; ok {
			v = f
		}
		if e := getenv(envName(s.name)); e != "" {
			v = e
		}
		if set[s.name] {
			v = *vals[s.name]
		}
		cfg[s.name] = v
	}
	return cfg, nil
}

func envName(setting string) string {
	return "FUMO_GW_" + strings.ToUpper(strings.ReplaceAll(setting, "-", "_"))
}

// runServe runs the gateway until ctx ends (SIGTERM or SIGINT in main),
// then shuts down gracefully: /readyz fails, listeners stop accepting,
// messages in flight finish, the store closes.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := loadServeConfig(args, stderr, os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	log, err := newLogger(cfg["log-format"], cfg["log-level"], stderr)
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 2
	}
	if err := serve(ctx, cfg, log, stdout); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log-format %q: want text or json", format)
}

func serve(ctx context.Context, cfg serveConfig, log *slog.Logger, stdout io.Writer) error {
	shutdown, err := cfg.duration("shutdown-timeout")
	if err != nil {
		return err
	}
	reportTimeout, err := cfg.duration("dm-report-timeout")
	if err != nil {
		return err
	}
	sessionTimeout, err := cfg.duration("dm-session-timeout")
	if err != nil {
		return err
	}
	stepTimeouts := map[fleet.JobState]time.Duration{}
	for _, st := range []fleet.JobState{fleet.JobWaitingDevice, fleet.JobDelivering, fleet.JobDelivered, fleet.JobUpdating, fleet.JobVerifying} {
		name := "step-timeout-" + strings.ReplaceAll(string(st), "_", "-")
		d, err := cfg.duration(name)
		if err != nil || d < 0 {
			return fmt.Errorf("%s %q: a duration, 0 for no limit", name, cfg[name])
		}
		if d == 0 {
			d = -1 // the bridge's "no limit"
		}
		stepTimeouts[st] = d
	}
	progressFloor, err := cfg.duration("progress-floor")
	if err != nil {
		return err
	}
	var progressRate int64
	if _, err := fmt.Sscan(cfg["progress-rate"], &progressRate); err != nil || progressRate <= 0 {
		return fmt.Errorf("progress-rate %q: a positive number of bytes per second", cfg["progress-rate"])
	}
	var maxPackage int64
	if _, err := fmt.Sscan(cfg["max-package"], &maxPackage); err != nil || maxPackage <= 0 {
		return fmt.Errorf("max-package %q: a positive number of bytes", cfg["max-package"])
	}
	lc := lwm2m.DefaultConfig()
	httpConnsPerSource, err := cfg.limits(&lc)
	if err != nil {
		return err
	}
	dir := cfg["data-dir"]
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, _, err := secretFile(filepath.Join(dir, "signing-key"), 32)
	if err != nil {
		return err
	}
	token, created := cfg["api-token"], false
	if token == "" {
		if token, created, err = secretFile(filepath.Join(dir, "api-token"), 24); err != nil {
			return err
		}
	}
	lc.UDPAddr, lc.DTLSAddr = cfg["coap-addr"], cfg["coaps-addr"]
	gc := gateway.Config{StorePath: filepath.Join(dir, "fumo-gw.db"), HTTPAddr: cfg["http-addr"], DMPath: cfg["dm-path"],
		PublicHTTP: cfg["public-http"], PublicCoAP: cfg["public-coap"], PublicCoAPS: cfg["public-coaps"], LwM2M: &lc,
		SigningKey: []byte(key), Logger: log, HTTPConnsPerSource: httpConnsPerSource,
		DMReportTimeout: reportTimeout, DMSessionTimeout: sessionTimeout, StepTimeouts: stepTimeouts,
		ProgressFloor: progressFloor, ProgressRate: progressRate}
	if u := cfg["push-url"]; u != "" {
		gc.Notifier = &dm.HTTPNotifier{URL: u}
	}
	g, err := gateway.Open(ctx, gc)
	if err != nil {
		return err
	}
	a, err := api.New(api.Config{Gateway: g, Token: token, MaxPackage: maxPackage, Metrics: metrics.Handler(g), Logger: log})
	if err != nil {
		g.Close()
		return err
	}
	ln, err := net.Listen("tcp", cfg["api-addr"])
	if err != nil {
		g.Close()
		return fmt.Errorf("serve: api listen %s: %w", cfg["api-addr"], err)
	}
	hs := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	if created {
		fmt.Fprintf(stdout, "fumo-gw: generated the API token (kept in %s; shown once):\n  %s\n", filepath.Join(dir, "api-token"), token)
	}
	addr := func(a net.Addr) string {
		if a == nil {
			return "-"
		}
		return a.String()
	}
	fmt.Fprintf(stdout, "fumo-gw: serving api=http://%s dm=http://%s%s coap=%s coaps=%s store=%s\n",
		ln.Addr(), g.HTTPAddr, cfg["dm-path"], addr(g.LwM2M.UDPAddr()), addr(g.LwM2M.DTLSAddr()), gc.StorePath)
	log.Info("serving", "api", ln.Addr().String(), "http", g.HTTPAddr, "coap", addr(g.LwM2M.UDPAddr()), "coaps", addr(g.LwM2M.DTLSAddr()))

	select {
	case <-ctx.Done():
	case err := <-served:
		g.Close()
		return fmt.Errorf("serve: api: %w", err)
	}
	log.Info("shutting down", "timeout", shutdown)
	a.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	_ = hs.Shutdown(sctx) // event streams end with the context
	if err := g.Close(); err != nil {
		return fmt.Errorf("serve: close: %w", err)
	}
	log.Info("stopped")
	return nil
}

// secretFile reads a secret kept in path, or makes one of n random bytes
// (hex) and keeps it (0600). created tells which.
func secretFile(path string, n int) (secret string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, false, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	raw := make([]byte, n)
	if _, err := rand.Read(raw); err != nil {
		return "", false, err
	}
	secret = hex.EncodeToString(raw)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, err
	}
	return secret, true, nil
}
