package bridge_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/sim"
	"github.com/fumo-gw/fumo-gw/store"
)

// The crash test's fleet: crashDevices DM and as many LwM2M devices.
const (
	crashDevices = 12
	crashImage   = 96 << 10
)

// TestCrashRecovery kills the gateway process (SIGKILL) at random points of
// a mixed campaign and restarts it, several times. The simulated devices
// live in this process and outlast every gateway. In the end every job is
// terminal, the counters add up, every device has the new firmware, and
// no device was told to Exec again after it reported success.
func TestCrashRecovery(t *testing.T) {
	if dir := os.Getenv("FUMO_CRASH_CHILD"); dir != "" {
		crashChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("kills and restarts a gateway process five times")
	}
	// FUMO_CRASH_LOGS=DIR keeps each gateway's log, the devices' log, and
	// on failure both processes' goroutines.
	dir := t.TempDir()
	httpAddr, udpAddr := freeTCP(t), freeUDP(t)
	push := sim.NewPushGateway()
	go func() {
		for range push.Errors {
		}
	}()
	ps := httptest.NewServer(push)
	defer ps.Close()

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	child := startChild(t, dir, httpAddr, udpAddr, ps.URL)
	img, digest := image(crashImage)
	fumos, fws := startFleet(t, crashDevices, httpAddr, udpAddr, push, digest, 300*time.Millisecond, 10*time.Millisecond, 6)
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	const kills = 5
	killedMidway := 0
	for i := range kills {
		wait := time.Duration(100+rng.IntN(900)) * time.Millisecond
		select {
		case <-child.done:
			t.Fatalf("gateway ended before kill %d: %s", i+1, child.log())
		case <-time.After(wait):
		}
		done := child.seen("DONE")
		child.kill(t)
		if !done {
			killedMidway++
		}
		t.Logf("kill %d after %s (campaign done: %v)", i+1, wait, done)
		child = startChild(t, dir, httpAddr, udpAddr, ps.URL)
	}
	if killedMidway < 3 {
		t.Errorf("only %d kills hit the campaign while it ran", killedMidway)
	}
	finished := child.waitFor("DONE", time.Minute)
	if !finished && os.Getenv("FUMO_CRASH_LOGS") != "" {
		// The gateway's goroutines, into its log, for the next reader.
		_ = child.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-child.done:
		case <-time.After(5 * time.Second):
		}
	}
	child.kill(t)
	if !finished {
		if logs := os.Getenv("FUMO_CRASH_LOGS"); logs != "" {
			if f, err := os.Create(filepath.Join(logs, "devices.goroutines")); err == nil {
				_ = pprof.Lookup("goroutine").WriteTo(f, 2)
				f.Close()
			}
		}
		crashDiagnose(t, dir)
		t.Fatalf("campaign did not finish after %d kills: %s", kills, child.log())
	}

	st, err := store.Open(filepath.Join(dir, "gw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatalf("store check: %v", err)
	}
	c, err := st.Campaign(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	jobs := campaignJobs(t, st, "c1")
	counts := map[fleet.JobState]int{}
	for _, j := range jobs {
		counts[j.State]++
		if !j.State.Terminal() {
			t.Errorf("job %s is %s", j.ID, j.State)
		}
		if j.State != fleet.JobSucceeded || testing.Verbose() {
			t.Logf("job %s %s (%s) native %v: %+v", j.ID, j.State, j.Reason, j.Native, j.History)
		}
	}
	if c.State != fleet.CampaignDone || len(jobs) != 2*crashDevices || counts[fleet.JobSucceeded]+counts[fleet.JobFailed]+counts[fleet.JobCancelled] != 2*crashDevices {
		t.Fatalf("campaign %s (%s), %d jobs %v", c.State, c.StateNote, len(jobs), counts)
	}
	if fmt.Sprint(c.Counters) != fmt.Sprint(counts) {
		t.Errorf("stored counters %v, jobs %v", c.Counters, counts)
	}
	// Kills can break a download for good (a job may fail with reason
	// network after its retries); most jobs succeed.
	if counts[fleet.JobSucceeded] < 2*crashDevices*3/4 {
		t.Errorf("only %d of %d jobs succeeded", counts[fleet.JobSucceeded], 2*crashDevices)
	}
	for i, f := range fumos {
		all, late := f.Executions()
		if late != 0 {
			t.Errorf("dm-%02d: %d Exec after its success (%d in all)", i, late, all)
		}
		j := jobs[fmt.Sprintf("dm-%02d", i)]
		if j.State == fleet.JobSucceeded {
			if dev, _ := st.Device(ctx, j.DeviceID); dev.FirmwareVersion != "2.0" {
				t.Errorf("%s: recorded firmware %q", j.DeviceID, dev.FirmwareVersion)
			}
		}
	}
	for i, fw := range fws {
		j := jobs[fmt.Sprintf("lw-%02d", i)]
		_, result, version := fw.State()
		if j.State == fleet.JobSucceeded && (result != 1 || version != "2.0" || !bytes.Equal(fw.Installed(), img)) {
			t.Errorf("lw-%02d: job succeeded, device result %d version %s", i, result, version)
		}
		if n := fw.Executions(); n > 1 || j.State == fleet.JobSucceeded && n != 1 {
			t.Errorf("lw-%02d: %d Executes (job %s)", i, n, j.State)
		}
	}
}

// crashDiagnose logs the unfinished jobs of a campaign that did not end.
func crashDiagnose(t testing.TB, dir string) {
	st, err := store.Open(filepath.Join(dir, "gw.db"), nil)
	if err != nil {
		t.Log(err)
		return
	}
	defer st.Close()
	c, _ := st.Campaign(ctx, "c1")
	t.Logf("campaign %s (%s)", c.State, c.StateNote)
	for _, j := range campaignJobs(t, st, "c1") {
		if !j.State.Terminal() {
			t.Logf("job %s (%s) %s attempts %d: %+v", j.ID, j.DeviceID, j.State, j.Attempts, j.History)
			cmds, _ := st.DMCommands(ctx, j.DeviceID)
			for _, c := range cmds {
				t.Logf("  queued command %s %s session %s", c.ID, c.State, c.SessionID)
			}
		}
	}
}

// startFleet starts each DM and each LwM2M simulated devices for the
// fleet crashChild provisions; DM devices call in once (to issue the
// server nonce a Package 0 needs) and join the push gateway.
func startFleet(t testing.TB, each int, httpAddr, udpAddr string, push *sim.PushGateway, digest string, dmDelay, lwSlow time.Duration, lifetime int) ([]*sim.FUMO, []*sim.LwM2MFirmware) {
	fumos, fws := make([]*sim.FUMO, each), make([]*sim.LwM2MFirmware, each)
	errs := make(chan error, 2*each)
	sem := make(chan struct{}, 32)
	var devLog *slog.Logger
	if logs := os.Getenv("FUMO_CRASH_LOGS"); logs != "" {
		f, err := os.Create(filepath.Join(logs, "devices.log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		devLog = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var wg sync.WaitGroup
	for i := range each {
		wg.Add(2)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			id := fmt.Sprintf("dm-%02d", i)
			d := &sim.DMDevice{ServerURL: "http://" + httpAddr + "/dm", DevID: "IMEI:" + id, Username: id, Password: "pw-" + id, Auth: "md5",
				ServerID: "fumo-gw", ServerPassword: "srv", Encoding: syncml.EncodingWBXML}
			d.SetNode("./DevDetail/FwV", []byte("1.0"))
			f := &sim.FUMO{ExpectSHA256: digest, Delay: dmDelay}
			d.EnableFUMO(f)
			if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil {
				errs <- fmt.Errorf("first session of %s: %w", id, err)
				return
			}
			push.Add(d)
			fumos[i] = f
		}()
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			id := fmt.Sprintf("lw-%02d", i)
			fw := &sim.LwM2MFirmware{ExpectSHA256: digest, Slow: lwSlow}
			// A device whose socket changed while a gateway was down is
			// found again at its next Update: a short lifetime bounds
			// that wait.
			d := &sim.LwM2MDevice{Endpoint: "urn:dev:" + id, Server: udpAddr, Firmware: fw, Lifetime: lifetime, Logger: devLog}
			c, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			if err := d.Start(c); err != nil {
				errs <- fmt.Errorf("register %s: %w", id, err)
				return
			}
			t.Cleanup(d.Kill)
			fws[i] = fw
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return fumos, fws
}

// crashChild is the gateway process: it provisions the fleet and the
// campaign on first start, starts the campaign once the devices are up,
// and prints DONE when the campaign is done. It runs until killed.
func crashChild(t *testing.T, dir string) {
	devicesEach, imageSize, inFlight := envInt("FUMO_CHILD_DEVICES", crashDevices), envInt("FUMO_CHILD_IMAGE", crashImage), envInt("FUMO_CHILD_IN_FLIGHT", 8)
	cfg := gatewayConfig(dir)
	cfg.HTTPAddr = os.Getenv("FUMO_CRASH_HTTP")
	cfg.LwM2M.UDPAddr, cfg.LwM2M.DTLSAddr = os.Getenv("FUMO_CRASH_UDP"), ""
	cfg.Notifier = &dm.HTTPNotifier{URL: os.Getenv("FUMO_CRASH_PUSH")}
	cfg.Retry = bridge.RetryPolicy{MaxAttempts: 6, Backoff: 200 * time.Millisecond}
	// A DM device whose session broke waits for a new Package 0: the
	// retry after this timeout sends one.
	cfg.StepTimeouts = map[fleet.JobState]time.Duration{fleet.JobWaitingDevice: 3 * time.Second}
	gw, err := gateway.Open(ctx, cfg)
	if err != nil {
		fmt.Println("OPEN FAILED", err)
		os.Exit(2)
	}
	if _, err := gw.Store.Campaign(ctx, "c1"); errors.Is(err, fleet.ErrNotFound) {
		img, digest := image(imageSize)
		if _, err := gw.Store.PutPackage(ctx, fleet.Package{ID: "fw2", Name: "rocket", Version: "2.0", Size: int64(len(img)), SHA256: digest}, bytes.NewReader(img)); err != nil {
			t.Fatal(err)
		}
		var devices []string
		for i := range devicesEach {
			id := fmt.Sprintf("dm-%02d", i)
			if _, err := gw.Store.CreateDevice(ctx, fleet.Device{ID: id, Protocol: fleet.ProtocolDM, FirmwareVersion: "1.0",
				DM: &fleet.DMInfo{DeviceID: "IMEI:" + id, Auth: fleet.DMAuthMD5, Username: id, Password: fleet.Secret("pw-" + id),
					ServerID: "fumo-gw", ServerPassword: fleet.Secret("srv"), FUMORoot: "./FwUpdate/1"}}); err != nil {
				t.Fatal(err)
			}
			lw := fmt.Sprintf("lw-%02d", i)
			if _, err := gw.Store.CreateDevice(ctx, fleet.Device{ID: lw, Protocol: fleet.ProtocolLwM2M, FirmwareVersion: "1.0",
				LwM2M: &fleet.LwM2MInfo{Endpoint: "urn:dev:" + lw}}); err != nil {
				t.Fatal(err)
			}
			devices = append(devices, id, lw)
		}
		if _, err := gw.Bridge.CreateCampaign(ctx, bridge.CampaignRequest{ID: "c1", PackageID: "fw2", Devices: devices, MaxInFlight: inFlight}); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("READY")
	if prof := os.Getenv("FUMO_CHILD_HEAPPROF"); prof != "" {
		go func() {
			var best uint64
			for i := 0; ; i++ {
				time.Sleep(2 * time.Second)
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > best {
					best = ms.HeapInuse
					f, _ := os.Create(prof)
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
					fmt.Fprintf(os.Stderr, "HEAP %d inuse=%d sys=%d goroutines=%d\n", i, ms.HeapInuse>>20, ms.Sys>>20, runtime.NumGoroutine())
				}
			}
		}()
	}
	done := false
	for {
		c, err := gw.Store.Campaign(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "go")); err == nil && c.State == fleet.CampaignDraft {
			st := gw.Store.Stats()
			if _, err := gw.Bridge.StartCampaign(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
			fmt.Println("STARTED", st.Writes, st.Commits)
		}
		if c.State == fleet.CampaignDone && !done {
			st := gw.Store.Stats()
			fmt.Println("DONE", st.Writes, st.Commits)
			done = true
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type childProc struct {
	last  string // the line waitFor or seen found
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	out   *bytes.Buffer
}

func startChild(t testing.TB, dir, httpAddr, udpAddr, pushURL string, env ...string) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FUMO_CRASH_CHILD="+dir, "FUMO_CRASH_HTTP="+httpAddr, "FUMO_CRASH_UDP="+udpAddr, "FUMO_CRASH_PUSH="+pushURL)
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &childProc{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{}), out: &bytes.Buffer{}}
	cmd.Stderr = c.out
	if logs := os.Getenv("FUMO_CRASH_LOGS"); logs != "" {
		// Each gateway's log, whole, for a failure to be read later.
		f, err := os.CreateTemp(logs, "gateway-*.log")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if line = strings.TrimSpace(line); line != "" {
				select {
				case c.lines <- line:
				default:
				}
			}
			if err != nil {
				_, _ = io.Copy(io.Discard, r)
				_ = cmd.Wait()
				return
			}
		}
	}()
	if !c.waitFor("READY", time.Minute) {
		c.kill(t)
		t.Fatalf("gateway did not start: %s", c.log())
	}
	return c
}

// seen tells whether the child printed want by now.
func (c *childProc) seen(want string) bool {
	for {
		select {
		case l := <-c.lines:
			if strings.HasPrefix(l, want) {
				c.last = l
				return true
			}
		default:
			return false
		}
	}
}

// waitFor waits for a line from the child.
func (c *childProc) waitFor(want string, within time.Duration) bool {
	deadline := time.After(within)
	for {
		select {
		case l := <-c.lines:
			if strings.HasPrefix(l, want) {
				c.last = l
				return true
			}
			c.out.WriteString(l + "\n")
		case <-c.done:
			return false
		case <-deadline:
			return false
		}
	}
}

func (c *childProc) kill(t testing.TB) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

func (c *childProc) log() string {
	s := c.out.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

func freeTCP(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func freeUDP(t testing.TB) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
