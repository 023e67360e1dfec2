package bridge_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
		t.Skip("starts gateway processes")
	}
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
	var fumos []*sim.FUMO
	var fws []*sim.LwM2MFirmware
	for i := range crashDevices {
		id := fmt.Sprintf("dm-%02d", i)
		d := &sim.DMDevice{ServerURL: "http://" + httpAddr + "/dm", DevID: "IMEI:" + id, Username: id, Password: "pw-" + id, Auth: "md5",
			ServerID: "fumo-gw", ServerPassword: "srv", Encoding: syncml.EncodingWBXML}
		d.SetNode("./DevDetail/FwV", []byte("1.0"))
		f := &sim.FUMO{ExpectSHA256: digest, Delay: 300 * time.Millisecond}
		d.EnableFUMO(f)
		if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil {
			t.Fatalf("first session of %s: %v", id, err)
		}
		push.Add(d)
		fumos = append(fumos, f)
	}
	for i := range crashDevices {
		id := fmt.Sprintf("lw-%02d", i)
		fw := &sim.LwM2MFirmware{ExpectSHA256: digest, Slow: 10 * time.Millisecond}
		d := &sim.LwM2MDevice{Endpoint: "urn:dev:" + id, Server: udpAddr, Firmware: fw, Lifetime: 30}
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := d.Start(c)
		cancel()
		if err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
		defer d.Kill()
		fws = append(fws, fw)
	}
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
	if !child.waitFor("DONE", 3*time.Minute) {
		child.kill(t)
		t.Fatalf("campaign did not finish after %d kills: %s", kills, child.log())
	}
	child.kill(t)

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

// crashChild is the gateway process: it provisions the fleet and the
// campaign on first start, starts the campaign once the devices are up,
// and prints DONE when the campaign is done. It runs until killed.
func crashChild(t *testing.T, dir string) {
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
		img, digest := image(crashImage)
		if _, err := gw.Store.PutPackage(ctx, fleet.Package{ID: "fw2", Name: "rocket", Version: "2.0", Size: int64(len(img)), SHA256: digest}, bytes.NewReader(img)); err != nil {
			t.Fatal(err)
		}
		var devices []string
		for i := range crashDevices {
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
		if _, err := gw.Bridge.CreateCampaign(ctx, bridge.CampaignRequest{ID: "c1", PackageID: "fw2", Devices: devices, MaxInFlight: 8}); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("READY")
	for {
		c, err := gw.Store.Campaign(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "go")); err == nil && c.State == fleet.CampaignDraft {
			if _, err := gw.Bridge.StartCampaign(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
		}
		if c.State == fleet.CampaignDone {
			fmt.Println("DONE")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type childProc struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	out   *bytes.Buffer
}

func startChild(t *testing.T, dir, httpAddr, udpAddr, pushURL string) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FUMO_CRASH_CHILD="+dir, "FUMO_CRASH_HTTP="+httpAddr, "FUMO_CRASH_UDP="+udpAddr, "FUMO_CRASH_PUSH="+pushURL)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &childProc{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{}), out: &bytes.Buffer{}}
	cmd.Stderr = c.out
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
			if l == want {
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
			if l == want {
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

func (c *childProc) kill(t *testing.T) {
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

func freeTCP(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func freeUDP(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
