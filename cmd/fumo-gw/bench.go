package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fumo-gw/fumo-gw/loadtest"
	"github.com/fumo-gw/fumo-gw/sim"
)

// selfCommand runs this program with args (tests replace it: their
// binary is not fumo-gw).
var selfCommand = func(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, args...)
}

var benchScenarios = []string{"register", "block2", "dm", "store", "campaign", "idle"}

const benchUsage = `usage: fumo-gw bench [flags] [scenario ...]

Measures the gateway on this machine, every figure beside a baseline measured in the same run, and prints a table
(and writes it as JSON). Scenarios (default: all):
  register   LwM2M registrations/s             vs a bare go-coap server answering the same Registers
  block2     CoAP Block2 firmware serving MiB/s vs a bare go-coap server serving the same blocks from memory
  dm         DM sessions/s (XML, MD5)          vs a bare net/http + etree server answering the same packages
  store      job transitions/s, group commit   vs bbolt with one fsync per write
  campaign   one campaign over -fleet mixed devices with an -image byte package; the gateway's peak RSS
             (-dtls 0.5: half the LwM2M devices over DTLS with a PSK)
  idle       -idle registered LwM2M and as many idle DM devices; the gateway's memory per device
register, block2, dm and store run an in-process gateway; campaign and idle start "fumo-gw serve" as a child process
(its memory is measured alone) unless -api names a running gateway. Everything stays on loopback.

flags:
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Progress lines and a child gateway's log share stderr.
	stderr = &lockedWriter{w: stderr}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := loadtest.Options{}
	fs.IntVar(&o.Concurrency, "concurrency", 64, "devices working at once (register, block2, dm, store)")
	fs.DurationVar(&o.Duration, "duration", 6*time.Second, "measuring time of each side (register, block2, dm, store)")
	fs.IntVar(&o.Rounds, "rounds", 3, "alternating rounds the duration is split in")
	fs.IntVar(&o.Devices, "devices", 1000, "provisioned devices the register and dm work cycles over")
	image := fs.Int("image", 256<<10, "package size in bytes (block2, campaign)")
	fleetN := fs.Int("fleet", 1000, "campaign devices, half DM and half LwM2M")
	idleN := fs.Int("idle", 2000, "idle devices, half DM and half LwM2M")
	inFlight := fs.Int("in-flight", 200, "campaign jobs in flight")
	timeout := fs.Duration("timeout", 30*time.Minute, "bound of each fleet scenario")
	perIP := fs.Int("per-ip", 8, "simulated devices per loopback source address (fleet scenarios)")
	jsonOut := fs.String("json", "fumo-gw-bench.json", "file the results are written to as JSON (\"\" for none)")
	dir := fs.String("dir", "", "directory for the stores (default a temporary one, removed after)")
	apiURL := fs.String("api", "", "a running gateway's operator API URL (campaign, idle); default: start one")
	token := fs.String("token", os.Getenv("FUMO_GW_TOKEN"), "its API token [$FUMO_GW_TOKEN]")
	dmURL := fs.String("dm", "", "its DM endpoint URL (with -api)")
	coap := fs.String("coap", "", "its LwM2M UDP address (with -api)")
	coaps := fs.String("coaps", "", "its LwM2M DTLS address (with -api and -dtls)")
	dtlsShare := fs.Float64("dtls", 0, "share of the LwM2M devices (0 to 1) over DTLS with a PSK (campaign, idle)")
	pid := fs.Int("pid", 0, "its process id, for its memory (with -api)")
	pushAddr := fs.String("push-addr", "127.0.0.1:0", "where the simulated devices' push gateway listens (a running gateway's push-url must point there)")
	quiet := fs.Bool("q", false, "no progress lines")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process to the file: the in-process gateway, the baselines and the\n"+
		"simulated devices, labelled side=fumo-gw, side=baseline, side=devices (go tool pprof -tagfocus side=fumo-gw FILE)")
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	scenarios := fs.Args()
	if len(scenarios) == 0 || len(scenarios) == 1 && scenarios[0] == "all" {
		scenarios = benchScenarios
	}
	for _, s := range scenarios {
		if !contains(benchScenarios, s) {
			fmt.Fprintf(stderr, "bench: unknown scenario %q (one of %s)\n", s, strings.Join(benchScenarios, ", "))
			return 2
		}
	}
	if err := loadtest.Loopback(*apiURL, *dmURL, *coap, *coaps, *pushAddr); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if *dir != "" {
		o.Dir = *dir
	} else {
		d, err := os.MkdirTemp("", "fumo-gw-bench-")
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	progress := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, "bench: "+format+"\n", a...)
		}
	}
	o.ImageSize = *image
	common := fmt.Sprintf("-concurrency %d -duration %s -rounds %d", o.Concurrency, o.Duration, o.Rounds)
	var results []loadtest.Result
	failed := false
	for _, s := range scenarios {
		progress("%s ...", s)
		var r loadtest.Result
		var err error
		switch s {
		case "register":
			r, err = loadtest.Register(ctx, o)
			r.Command = fmt.Sprintf("fumo-gw bench %s -devices %d register", common, o.Devices)
		case "block2":
			r, err = loadtest.Block2(ctx, o)
			r.Command = fmt.Sprintf("fumo-gw bench %s -image %d block2", common, o.ImageSize)
		case "dm":
			r, err = loadtest.DMSessions(ctx, o)
			r.Command = fmt.Sprintf("fumo-gw bench %s -devices %d dm", common, o.Devices)
		case "store":
			r, err = loadtest.Transitions(ctx, o)
			r.Command = fmt.Sprintf("fumo-gw bench %s store", common)
		case "campaign", "idle":
			fo := loadtest.FleetOptions{ImageSize: *image, InFlight: *inFlight, Timeout: *timeout, PerIP: *perIP, DTLS: *dtlsShare, Progress: progress}
			n := *fleetN
			if s == "idle" {
				n = *idleN
			}
			fo.DM, fo.LwM2M = n/2, n-n/2
			r, err = runFleetScenario(ctx, s, fo, fleetTarget{api: *apiURL, token: *token, dm: *dmURL, coap: *coap, coaps: *coaps, pid: *pid, push: *pushAddr, dir: o.Dir}, stderr)
			if s == "campaign" {
				r.Command = fmt.Sprintf("fumo-gw bench -fleet %d -image %d -in-flight %d", n, *image, *inFlight)
			} else {
				r.Command = fmt.Sprintf("fumo-gw bench -idle %d", n)
			}
			if *dtlsShare > 0 {
				r.Command += fmt.Sprintf(" -dtls %g", *dtlsShare)
			}
			r.Command += " " + s
		}
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", s, err)
			failed = true
			if r.Scenario == "" {
				continue
			}
		}
		results = append(results, r)
		progress("%s: %.4g %s", s, r.Value, r.Metric)
	}
	fmt.Fprintf(stdout, "fumo-gw bench: %s, %d CPUs, %s\n\n", runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	loadtest.Table(stdout, results)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"when": time.Now().UTC().Format(time.RFC3339), "cpus": runtime.NumCPU(),
			"go": runtime.Version(), "os": runtime.GOOS + "/" + runtime.GOARCH, "results": results}, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		fmt.Fprintf(stdout, "\nwritten to %s\n", *jsonOut)
	}
	if failed {
		return 1
	}
	return 0
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

type fleetTarget struct {
	api, token, dm, coap, coaps, push, dir string
	pid                                    int
}

// runFleetScenario runs campaign or idle against the named gateway, or a
// child "fumo-gw serve" started for it and stopped after.
func runFleetScenario(ctx context.Context, scenario string, o loadtest.FleetOptions, ft fleetTarget, stderr io.Writer) (loadtest.Result, error) {
	push := sim.NewPushGateway()
	go func() {
		for range push.Errors {
		}
	}()
	o.Push = push
	ln, err := net.Listen("tcp", ft.push)
	if err != nil {
		return loadtest.Result{}, err
	}
	ps := &http.Server{Handler: push, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ps.Serve(ln) }()
	defer ps.Close()

	t := loadtest.Target{API: ft.api, Token: ft.token, DM: ft.dm, CoAP: ft.coap, CoAPS: ft.coaps, PID: ft.pid}
	if t.API == "" {
		child, err := startGateway(ctx, ft.dir, "http://"+ln.Addr().String(), stderr)
		if err != nil {
			return loadtest.Result{}, err
		}
		defer child.stop()
		t = child.target
	}
	if scenario == "idle" {
		return loadtest.Idle(ctx, t, o)
	}
	return loadtest.Campaign(ctx, t, o)
}

type childGateway struct {
	cmd    *exec.Cmd
	target loadtest.Target
	done   chan struct{}
}

// startGateway starts "fumo-gw serve" on loopback ephemeral ports with a
// fresh data directory and reads its addresses from its first line.
func startGateway(ctx context.Context, parent, pushURL string, stderr io.Writer) (*childGateway, error) {
	dir, err := os.MkdirTemp(parent, "serve-")
	if err != nil {
		return nil, err
	}
	token := "bench-token-" + filepath.Base(dir)
	cmd := selfCommand("serve", "-data-dir", dir, "-http-addr", "127.0.0.1:0", "-coap-addr", "127.0.0.1:0", "-coaps-addr", "127.0.0.1:0",
		"-api-addr", "127.0.0.1:0", "-api-token", token, "-push-url", pushURL, "-log-level", "warn")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &childGateway{cmd: cmd, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		defer close(c.done)
		r := bufio.NewReader(out)
		for {
			l, err := r.ReadString('\n')
			if strings.HasPrefix(l, "fumo-gw: serving ") {
				lines <- l
			}
			if err != nil {
				_ = cmd.Wait()
				return
			}
		}
	}()
	select {
	case l := <-lines:
		f := map[string]string{}
		for _, kv := range strings.Fields(strings.TrimPrefix(l, "fumo-gw: serving ")) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		c.target = loadtest.Target{API: f["api"], Token: token, DM: f["dm"], CoAP: f["coap"], CoAPS: f["coaps"], PID: cmd.Process.Pid}
		return c, nil
	case <-c.done:
		return nil, errors.New("bench: the gateway ended before serving")
	case <-time.After(time.Minute):
	case <-ctx.Done():
	}
	c.stop()
	return nil, errors.New("bench: the gateway did not start")
}

func (c *childGateway) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
