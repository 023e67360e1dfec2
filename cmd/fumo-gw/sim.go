package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
)

const simUsage = `usage: fumo-gw sim dm|lwm2m --gateway ADDR [flags]

Runs simulated devices against a gateway until interrupted (SIGINT, SIGTERM) or --for
has passed. Prints one line per device event ("dm-1 session client-initiated",
"dm-1 download done", "dm-1 update result 200", "urn:dev:lw-1 registered") unless
--quiet, and a summary at the end: how many devices updated, failed, had no result.
Exits 1 when a device could not start (first session or registration failed).

Devices are numbered from --first; device i is named --prefix + i. The gateway must
know them: --print-devices prints them as JSON for provisioning and exits.

  dm      OMA DM 1.2 devices with FUMO. --gateway is the DM endpoint, e.g.
          http://127.0.0.1:8080/dm. The device id (also the SyncHdr Source LocURI
          and ./DevInfo/DevId) is the name; username = the name, password =
          --password-prefix + the name; the server authenticates itself with
          --server-id/--server-password. Each device runs a session when it starts
          (so it has issued the nonce a Package 0 needs), every --poll if set, and
          when a Package 0 arrives on --push-listen: the line "push: URL" says the
          URL the gateway's Package 0 notifier (dm.HTTPNotifier) must post to. An
          Exec on the FUMO node is accepted (202), the package downloaded and
          installed (./DevDetail/FwV becomes --new-version), and the result sent in
          a Generic Alert 1226 (200).
  lwm2m   LwM2M 1.1 devices with Object 5. --gateway is the server's host:port
          (UDP, or DTLS with --psk-key: identity = endpoint = the name). Updates
          download the package the gateway writes (pull, or push), install it on
          Execute and register again with /3/0/3 = --new-version.

flags:
  --gateway ADDR         the gateway (see above; required unless --print-devices)
  --count N              how many devices (default 1)
  --first N              number of the first device (default 1)
  --prefix P             name prefix (default "dm-" or "urn:dev:lw-")
  --for D                stop after D (default: run until interrupted)
  --fail N               the first N devices fail their updates, with
  --fail-code C          the FUMO result (dm: 401 user cancel, 402 corrupt package,
                         410 install failed (default), 503 download failed) or the
                         Update Result (lwm2m: 2 out of storage, 4 connection lost,
                         5 integrity check failed, 6 unsupported package, 8 update
                         failed (default)); the gateway retries 503 and 4 (network)
                         as its retry policy says
  --firmware V           firmware version before the update (default 1.0)
  --new-version V        version after a successful update (default 2.0; the gateway
                         checks it against the package's version)
  --model M              model (default SIM-DM or SIM-L1)
  --quiet                no event lines, only the summary
  --verbose              the LwM2M devices' debug log (every CoAP message) on standard error
  --print-devices        print the devices as a JSON array and exit
dm flags:
  --auth A               md5 (default), basic or hmac
  --password-prefix P    password = P + name (default "pw-")
  --server-id S          the server's id (default fumo-gw)
  --server-password S    the server's password, checked by the devices (default srv)
  --encoding E           wbxml (default) or xml
  --fumo-root R          the FUMO node (default ./FwUpdate/1)
  --poll D               run a session every D (default: never)
  --push-listen ADDR     where Package 0 is received (default 127.0.0.1:0; "" none)
lwm2m flags:
  --psk-key HEX          DTLS PSK of every device (default none: plain UDP)
  --lifetime S           registration lifetime in seconds (default 300)

--print-devices prints, for provisioning, one device request per device (the fields of
fleet.Device, secrets in clear, the PSK in hex):
  [{"id": "dm-1", "protocol": "dm", "model": "SIM-DM", "firmware_version": "1.0",
    "dm": {"device_id": "dm-1", "auth": "md5", "username": "dm-1", "password": "pw-dm-1",
           "server_id": "fumo-gw", "server_password": "srv", "fumo_root": "./FwUpdate/1"}},
   {"id": "urn:dev:lw-1", "protocol": "lwm2m", "model": "SIM-L1", "firmware_version": "1.0",
    "lwm2m": {"endpoint": "urn:dev:lw-1", "psk_identity": "urn:dev:lw-1", "psk_key_hex": "HEX"}}]
  (psk_identity and psk_key_hex only with --psk-key).
`

// simConfig is what the flags of `fumo-gw sim` say.
type simConfig struct {
	proto        string
	gateway      string
	count, first int
	prefix       string
	dur          time.Duration
	fail         int
	failCode     int
	firmware     string
	newVersion   string
	model        string
	quiet        bool
	printDevices bool
	auth         string
	passwordPre  string
	serverID     string
	serverPass   string
	encoding     syncml.Encoding
	fumoRoot     string
	poll         time.Duration
	pushListen   string
	pskKey       []byte
	lifetime     int
	log          *slog.Logger // the LwM2M devices' (nil: none)
}

// runSim is `fumo-gw sim`: simulated devices against any gateway, until
// SIGINT or SIGTERM or --for.
func runSim(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runSimContext(ctx, args, stdout, stderr)
}

// runSimContext is runSim until ctx ends (main's context ends on SIGINT
// and SIGTERM).
func runSimContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, code := parseSim(args, stdout, stderr)
	if c == nil {
		return code
	}
	if c.printDevices {
		return printSimDevices(c, stdout, stderr)
	}
	if c.dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.dur)
		defer cancel()
	}
	out := &simLog{w: stdout, quiet: c.quiet, results: map[string]int{}}
	defer out.close()
	var started, total int
	if c.proto == "dm" {
		started, total = runDMSim(ctx, c, out, stderr)
	} else {
		started, total = runLwM2MSim(ctx, c, out)
	}
	out.summary(c, total, started)
	if started < total {
		return 1
	}
	return 0
}

// parseSim reads the flags; a nil config comes with the exit code.
func parseSim(args []string, stdout, stderr io.Writer) (*simConfig, int) {
	c := &simConfig{}
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.gateway, "gateway", "", "")
	fs.IntVar(&c.count, "count", 1, "")
	fs.IntVar(&c.first, "first", 1, "")
	fs.StringVar(&c.prefix, "prefix", "", "")
	fs.DurationVar(&c.dur, "for", 0, "")
	fs.IntVar(&c.fail, "fail", 0, "")
	fs.IntVar(&c.failCode, "fail-code", 0, "")
	fs.StringVar(&c.firmware, "firmware", "1.0", "")
	fs.StringVar(&c.newVersion, "new-version", "2.0", "")
	fs.StringVar(&c.model, "model", "", "")
	fs.BoolVar(&c.quiet, "quiet", false, "")
	fs.BoolVar(&c.printDevices, "print-devices", false, "")
	fs.StringVar(&c.auth, "auth", "md5", "")
	fs.StringVar(&c.passwordPre, "password-prefix", "pw-", "")
	fs.StringVar(&c.serverID, "server-id", "fumo-gw", "")
	fs.StringVar(&c.serverPass, "server-password", "srv", "")
	enc := fs.String("encoding", "wbxml", "")
	fs.StringVar(&c.fumoRoot, "fumo-root", "./FwUpdate/1", "")
	fs.DurationVar(&c.poll, "poll", 0, "")
	fs.StringVar(&c.pushListen, "push-listen", "127.0.0.1:0", "")
	psk := fs.String("psk-key", "", "")
	fs.IntVar(&c.lifetime, "lifetime", 300, "")
	verbose := fs.Bool("verbose", false, "")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, simUsage)
		return nil, 0
	}
	if err == nil {
		err = c.check(pos, *enc, *psk)
	}
	if err != nil {
		fmt.Fprintf(stderr, "fumo-gw sim: %v\n%s", err, simUsage)
		return nil, 2
	}
	if *verbose {
		c.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return c, 0
}

// check validates the flags and fills the protocol's defaults.
func (c *simConfig) check(pos []string, enc, psk string) error {
	if len(pos) != 1 || (pos[0] != "dm" && pos[0] != "lwm2m") {
		return errors.New("want dm or lwm2m")
	}
	c.proto = pos[0]
	switch {
	case c.count < 1:
		return errors.New("--count must be at least 1")
	case c.first < 0:
		return errors.New("--first must not be negative")
	case c.fail < 0 || c.fail > c.count:
		return fmt.Errorf("--fail must be 0..%d", c.count)
	case c.dur < 0 || c.poll < 0:
		return errors.New("--for and --poll must not be negative")
	case c.firmware == "" || c.newVersion == "":
		return errors.New("--firmware and --new-version must not be empty")
	}
	if c.proto == "dm" {
		return c.checkDM(enc)
	}
	return c.checkLwM2M(psk)
}

func (c *simConfig) checkDM(enc string) error {
	c.prefix = orDefault(c.prefix, "dm-")
	c.model = orDefault(c.model, "SIM-DM")
	c.failCode = orDefaultInt(c.failCode, 410)
	if !slices.Contains([]int{401, 402, 410, 503}, c.failCode) {
		return fmt.Errorf("--fail-code %d: a dm device fails with 401, 402, 410 or 503", c.failCode)
	}
	if !slices.Contains([]string{"md5", "basic", "hmac"}, c.auth) {
		return fmt.Errorf("--auth %q: want md5, basic or hmac", c.auth)
	}
	switch enc {
	case "wbxml":
		c.encoding = syncml.EncodingWBXML
	case "xml":
		c.encoding = syncml.EncodingXML
	default:
		return fmt.Errorf("--encoding %q: want wbxml or xml", enc)
	}
	if c.gateway != "" {
		if u, err := url.Parse(c.gateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--gateway %q: a dm gateway is the DM endpoint's URL, e.g. http://127.0.0.1:8080/dm", c.gateway)
		}
	} else if !c.printDevices {
		return errors.New("--gateway is required")
	}
	return nil
}

func (c *simConfig) checkLwM2M(psk string) error {
	c.prefix = orDefault(c.prefix, "urn:dev:lw-")
	c.model = orDefault(c.model, "SIM-L1")
	c.failCode = orDefaultInt(c.failCode, 8)
	if !slices.Contains([]int{2, 4, 5, 6, 8}, c.failCode) {
		return fmt.Errorf("--fail-code %d: an lwm2m device fails with Update Result 2, 4, 5, 6 or 8", c.failCode)
	}
	if psk != "" {
		k, err := hex.DecodeString(psk)
		if err != nil || len(k) == 0 {
			return fmt.Errorf("--psk-key: want hex digits")
		}
		c.pskKey = k
	}
	if c.lifetime < 1 {
		return errors.New("--lifetime must be at least 1")
	}
	if c.gateway != "" {
		if _, _, err := net.SplitHostPort(c.gateway); err != nil {
			return fmt.Errorf("--gateway %q: an lwm2m gateway is host:port", c.gateway)
		}
	} else if !c.printDevices {
		return errors.New("--gateway is required")
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orDefaultInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// name is device i's name (i from 0).
func (c *simConfig) name(i int) string { return fmt.Sprintf("%s%d", c.prefix, c.first+i) }

// fails reports whether device i (from 0) fails its updates.
func (c *simConfig) fails(i int) bool { return i < c.fail }

// A device in --print-devices is the operator API's device request, with
// the secrets in clear: each entry can go to "fumo-gw device add -f -".
type (
	simDevice    = api.DeviceRequest
	simDMInfo    = api.DMSettings
	simLwM2MInfo = api.LwM2MSettings
)

// devices describes the simulated devices.
func (c *simConfig) devices() []simDevice {
	out := make([]simDevice, c.count)
	for i := range out {
		n := c.name(i)
		d := simDevice{ID: n, Protocol: fleet.Protocol(c.proto), Model: c.model, FirmwareVersion: c.firmware}
		if c.proto == "dm" {
			d.DM = &simDMInfo{DeviceID: n, Auth: fleet.DMAuth(c.auth), Username: n, Password: c.passwordPre + n,
				ServerID: c.serverID, ServerPassword: c.serverPass, FUMORoot: c.fumoRoot}
		} else {
			d.LwM2M = &simLwM2MInfo{Endpoint: n}
			if len(c.pskKey) > 0 {
				d.LwM2M.PSKIdentity, d.LwM2M.PSKKeyHex = n, hex.EncodeToString(c.pskKey)
			}
		}
		out[i] = d
	}
	return out
}

func printSimDevices(c *simConfig, stdout, stderr io.Writer) int {
	b, err := json.MarshalIndent(c.devices(), "", "  ")
	if err == nil {
		_, err = fmt.Fprintf(stdout, "%s\n", b)
	}
	if err != nil {
		fmt.Fprintf(stderr, "fumo-gw sim: %v\n", err)
		return 1
	}
	return 0
}

// simLog prints device events and keeps each device's last update
// result. Nothing is written once it is closed (background work of the
// simulators may outlive the run).
type simLog struct {
	mu      sync.Mutex
	w       io.Writer
	quiet   bool
	closed  bool
	results map[string]int // device -> last result: 1 updated, -1 failed
}

// event prints one device event unless quiet.
func (l *simLog) event(device, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed && !l.quiet {
		fmt.Fprintf(l.w, "%s %s\n", device, fmt.Sprintf(format, args...))
	}
}

// line prints even when quiet (addresses the operator needs, the summary).
func (l *simLog) line(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		fmt.Fprintf(l.w, format+"\n", args...)
	}
}

// result records and prints an update result.
func (l *simLog) result(device string, code int, ok bool, detail string) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.results[device] = map[bool]int{true: 1, false: -1}[ok]
	l.mu.Unlock()
	l.event(device, "update result %d (%s)", code, detail)
}

func (l *simLog) summary(c *simConfig, total, started int) {
	l.mu.Lock()
	updated, failed := 0, 0
	for _, r := range l.results {
		if r > 0 {
			updated++
		} else {
			failed++
		}
	}
	l.mu.Unlock()
	s := fmt.Sprintf("summary: %d %s devices: %d updated, %d failed, %d without a result", total, c.proto, updated, failed, total-updated-failed)
	if started < total {
		s += fmt.Sprintf(", %d did not start", total-started)
	}
	l.line("%s", s)
}

func (l *simLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
}

// startAll runs start for every device, a bounded number at once, and
// returns how many started.
func startAll(n int, start func(i int) bool) int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	started := 0
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if start(i) {
				mu.Lock()
				started++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return started
}

// dmTransport is the HTTP transport of a DM fleet, with room
// for many idle connections to the gateway.
func dmTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return tr
}

// sessionKind names a session by its first message: who started it,
// and whether it reports a FUMO result.
func sessionKind(body []byte) string {
	m, _, err := syncml.Decode(body)
	if err != nil {
		return "started"
	}
	kind, report := "client-initiated", false
	for _, cmd := range m.Body.Commands {
		if a, ok := cmd.(*syncml.Alert); ok {
			switch a.Code {
			case 1200:
				kind = "server-initiated"
			case 1226:
				report = true
			}
		}
	}
	if report {
		kind += ", reporting a result"
	}
	return kind
}

// watchedDownload reports a package download read to its end.
type watchedDownload struct {
	base http.RoundTripper
	done func(n int64)
}

func (w watchedDownload) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.base.RoundTrip(r)
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent) {
		return resp, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, done: w.done}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	n    int64
	done func(n int64)
	once sync.Once
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if errors.Is(err, io.EOF) {
		b.once.Do(func() { b.done(b.n) })
	}
	return n, err
}

// runDMSim runs the DM fleet until ctx ends; it returns how many devices
// started (their first session worked) and how many there were.
func runDMSim(ctx context.Context, c *simConfig, out *simLog, stderr io.Writer) (started, total int) {
	tr := dmTransport()
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	push := sim.NewPushGateway()
	if c.pushListen != "" {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", c.pushListen)
		if err != nil {
			fmt.Fprintf(stderr, "fumo-gw sim: push: %v\n", err)
			return 0, c.count
		}
		srv := &http.Server{Handler: push, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		out.line("push: http://%s/ (the gateway's Package 0 notifier must post there)", ln.Addr())
	}
	var wg sync.WaitGroup
	devs := make([]*sim.DMDevice, c.count)
	for i := range devs {
		var f *sim.FUMO
		devs[i], f = c.dmDevice(i, client, tr, out)
		push.Add(devs[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			reportResults(ctx, devs[i], f, out)
		}()
	}
	started = startAll(c.count, func(i int) bool {
		d := devs[i]
		if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil {
			out.event(d.DevID, "session failed: %v", err)
			return false
		}
		return true
	})
	for _, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.pollDM(ctx, d, out)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	return started, c.count
}

// dmDevice builds simulated DM device i with its FUMO client; its events
// go to out.
func (c *simConfig) dmDevice(i int, client *http.Client, tr http.RoundTripper, out *simLog) (*sim.DMDevice, *sim.FUMO) {
	n := c.name(i)
	d := &sim.DMDevice{ServerURL: c.gateway, DevID: n, Username: n, Password: c.passwordPre + n, Auth: c.auth,
		ServerID: c.serverID, ServerPassword: c.serverPass, Encoding: c.encoding, HTTP: client}
	d.SetNode("./DevInfo/DevId", []byte(n))
	d.SetNode("./DevInfo/Mod", []byte(c.model))
	d.SetNode("./DevInfo/DmV", []byte("1.2"))
	d.SetNode("./DevDetail/FwV", []byte(c.firmware))
	f := &sim.FUMO{Root: c.fumoRoot, NewVersion: c.newVersion,
		HTTP: &http.Client{Transport: watchedDownload{base: tr, done: func(b int64) { out.event(n, "download done (%d bytes)", b) }}}}
	if c.fails(i) {
		switch c.failCode {
		case 401:
			f.Fault = sim.FaultUserCancel
		case 402:
			// The device expects a digest no package has.
			f.Fault, f.ExpectSHA256 = sim.FaultCorruptDownload, strings.Repeat("0", 64)
		case 410:
			f.Fault = sim.FaultInstallFailure
		case 503:
			f.Fault = sim.FaultNetworkDown
		}
	}
	d.EnableFUMO(f) // sets d.Exec
	d.Record = func(msg int, fromClient bool, body []byte) {
		if msg == 1 && fromClient {
			out.event(n, "session %s", sessionKind(body))
		}
	}
	return d, f
}

// reportResults prints the results the device reported until ctx ends.
func reportResults(ctx context.Context, d *sim.DMDevice, f *sim.FUMO, out *simLog) {
	for {
		code, err := f.Report(ctx)
		if err != nil {
			return
		}
		switch {
		case code < 0:
			out.event(d.DevID, "update result not delivered (the gateway did not take the Generic Alert)")
		case code == 200:
			v, _ := d.Node("./DevDetail/FwV")
			out.result(d.DevID, code, true, "firmware "+string(v))
		default:
			out.result(d.DevID, code, false, "failed")
		}
	}
}

// pollDM runs a session every --poll until ctx ends.
func (c *simConfig) pollDM(ctx context.Context, d *sim.DMDevice, out *simLog) {
	if c.poll <= 0 {
		return
	}
	t := time.NewTicker(c.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil && ctx.Err() == nil {
			out.event(d.DevID, "session failed: %v", err)
		}
	}
}

// lwFaults are the simulator's faults by the Update Result they end in.
var lwFaults = map[int]sim.LwM2MFault{2: sim.LwM2MFaultOutOfStorage, 4: sim.LwM2MFaultConnectionLost,
	5: sim.LwM2MFaultCorrupt, 6: sim.LwM2MFaultUnsupported, 8: sim.LwM2MFaultUpdateFailure}

// lwWatch is what the event watcher last saw of an LwM2M device.
type lwWatch struct {
	d                *sim.LwM2MDevice
	fw               *sim.LwM2MFirmware
	registers, execs int
	state, result    int
	downloadReported bool
}

// runLwM2MSim runs the LwM2M fleet until ctx ends; it returns how many
// devices registered and how many there were.
func runLwM2MSim(ctx context.Context, c *simConfig, out *simLog) (started, total int) {
	devs := make([]*lwWatch, c.count)
	for i := range devs {
		n := c.name(i)
		fw := &sim.LwM2MFirmware{Version: c.firmware, NewVersion: c.newVersion}
		if c.fails(i) {
			fw.Fault = lwFaults[c.failCode]
			fw.FreeStorage = 1 // out of storage for any package
		}
		d := &sim.LwM2MDevice{Endpoint: n, Server: c.gateway, Lifetime: c.lifetime, Firmware: fw, Model: c.model, Logger: c.log}
		if len(c.pskKey) > 0 {
			d.PSKIdentity, d.PSKKey = n, c.pskKey
		}
		devs[i] = &lwWatch{d: d, fw: fw}
	}
	ok := make([]bool, c.count)
	started = startAll(c.count, func(i int) bool {
		w := devs[i]
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := w.d.Start(sctx); err != nil {
			out.event(w.d.Endpoint, "registration failed: %v", err)
			return false
		}
		ok[i] = true
		return true
	})
	var live []*lwWatch
	for i, w := range devs {
		if ok[i] {
			live = append(live, w)
		}
	}
	watchLwM2M(ctx, live, out)
	// De-register, but do not wait long for work under way.
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, w := range live {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				w.d.Close(cctx)
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return started, c.count
}

// watchLwM2M looks at the devices every 100 ms until ctx ends and prints
// what changed: a registration, a download done (Downloaded seen, or an
// Execute accepted, which only a downloaded package gets), an update
// result.
func watchLwM2M(ctx context.Context, devs []*lwWatch, out *simLog) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		for _, w := range devs {
			w.look(out)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *lwWatch) look(out *simLog) {
	ep := w.d.Endpoint
	state, result, version := w.fw.State()
	execs := w.fw.Executions()
	if state == 1 && w.state != 1 {
		w.downloadReported = false // a new download
	}
	if (state == 2 && result == 0 || execs > w.execs) && !w.downloadReported {
		w.downloadReported = true
		out.event(ep, "download done")
	}
	if result != w.result && result != 0 {
		switch result {
		case 1:
			out.result(ep, result, true, "firmware "+version)
		default:
			out.result(ep, result, false, "failed")
		}
		w.downloadReported = false
	}
	w.state, w.result, w.execs = state, result, execs
	// After the update: the device registers again with its new firmware.
	if regs, _ := w.d.Counts(); regs > w.registers {
		w.registers = regs
		out.event(ep, "registered")
	}
}
