package firmware_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/firmware"
	"github.com/fumo-gw/fumo-gw/sim"
	"github.com/fumo-gw/fumo-gw/store"
)

// gateway wires a store, the download endpoint (CoAP and HTTP), the
// LwM2M server and the Object 5 driver on 127.0.0.1.
type gateway struct {
	t      testing.TB
	path   string
	st     *store.Store
	srv    *lwm2m.Server
	drv    *firmware.Driver
	files  *download.Server
	http   *httptest.Server
	udp    string
	dtls   string
	mutate func(*lwm2m.Config)
	// fwMutate changes the driver's settings (set before start).
	fwMutate func(*firmware.Config)
	mu       sync.Mutex
	events   []firmware.Event
	img      []byte
	digest   string
}

func newGateway(t testing.TB, mutate func(*lwm2m.Config)) *gateway {
	g := &gateway{t: t, path: filepath.Join(t.TempDir(), "gw.db"), udp: "127.0.0.1:0", dtls: "127.0.0.1:0", mutate: mutate}
	g.start()
	t.Cleanup(g.stop)
	g.img = make([]byte, 20_000)
	rand.Read(g.img)
	sum := sha256.Sum256(g.img)
	g.digest = hex.EncodeToString(sum[:])
	if _, err := g.st.PutPackage(context.Background(), fleet.Package{ID: "fw2", Name: "fw", Version: "2.0", Size: int64(len(g.img)), SHA256: g.digest}, bytes.NewReader(g.img)); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *gateway) start() {
	t := g.t
	st, err := store.Open(g.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := download.New(st, []byte("0123456789abcdef0123"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := lwm2m.DefaultConfig()
	cfg.Store, cfg.Files, cfg.UDPAddr, cfg.DTLSAddr = st, files, g.udp, g.dtls
	cfg.RequestTimeout = 5 * time.Second
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if g.mutate != nil {
		g.mutate(&cfg)
	}
	srv, err := lwm2m.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.st, g.files, g.srv = st, files, srv
	g.http = httptest.NewServer(files)
	fc := firmware.Config{
		Jobs: st, Server: srv, PollInterval: 300 * time.Millisecond, Logger: cfg.Logger,
		PackageURL: func(scheme, job, pkg string) (string, bool) {
			switch scheme {
			case "coap":
				return files.URL("coap://"+g.udp, job, pkg), true
			case "coaps":
				return files.URL("coaps://"+g.dtls, job, pkg), true
			case "http":
				return files.URL(g.http.URL, job, pkg), true
			}
			return "", false
		},
		Listener: func(_ context.Context, ev firmware.Event) {
			g.mu.Lock()
			g.events = append(g.events, ev)
			g.mu.Unlock()
		},
	}
	if g.fwMutate != nil {
		g.fwMutate(&fc)
	}
	drv, err := firmware.New(fc)
	if err != nil {
		t.Fatal(err)
	}
	g.drv = drv
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.udp, g.dtls = srv.UDPAddr().String(), srv.DTLSAddr().String()
	if err := drv.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (g *gateway) stop() {
	if g.srv == nil {
		return
	}
	g.drv.Close()
	g.srv.Close()
	g.http.Close()
	g.st.Close()
	g.srv = nil
}

func (g *gateway) restart() { g.stop(); g.start() }

// device provisions and starts a simulated device.
func (g *gateway) device(ep string, fw *sim.LwM2MFirmware, mutate func(*sim.LwM2MDevice)) *sim.LwM2MDevice {
	t := g.t
	d := &sim.LwM2MDevice{Endpoint: ep, Server: g.udp, Firmware: fw}
	if mutate != nil {
		mutate(d)
	}
	rec := fleet.Device{ID: "dev-" + ep, Protocol: fleet.ProtocolLwM2M, Model: "SIM-L1", LwM2M: &fleet.LwM2MInfo{Endpoint: ep}}
	if len(d.PSKKey) > 0 {
		d.Server = g.dtls
		rec.LwM2M.PSKIdentity, rec.LwM2M.PSKKey = d.PSKIdentity, fleet.Secret(d.PSKKey)
	}
	if _, err := g.st.CreateDevice(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Kill() })
	return d
}

func (g *gateway) job(id, ep string, delivery fleet.Delivery) {
	t := g.t
	j := fleet.Job{ID: id, DeviceID: "dev-" + ep, PackageID: "fw2", Operation: fleet.OpDownloadAndUpdate, Delivery: delivery, State: fleet.JobQueued}
	if _, err := g.st.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if err := g.drv.Start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

// finished waits for the job to end and returns it.
func (g *gateway) finished(id string) fleet.Job {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		j, err := g.st.Job(context.Background(), id)
		if err == nil && j.State.Terminal() {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	j, _ := g.st.Job(context.Background(), id)
	g.t.Fatalf("job %s did not finish: %s %+v", id, j.State, j.History)
	return j
}

func nativeCodes(j fleet.Job) []int {
	var out []int
	for _, n := range j.Native {
		out = append(out, n.Code)
	}
	return out
}

func TestUpdateSucceeds(t *testing.T) {
	tests := []struct {
		name     string
		delivery fleet.Delivery
		fw       func(digest string) *sim.LwM2MFirmware
		dev      func(*sim.LwM2MDevice)
		note     string // how the job delivered
	}{
		{"pull over coap", fleet.DeliveryPull, func(dg string) *sim.LwM2MFirmware { return &sim.LwM2MFirmware{ExpectSHA256: dg} }, nil, "pull over coap"},
		{"pull over http", fleet.DeliveryPull, func(dg string) *sim.LwM2MFirmware {
			return &sim.LwM2MFirmware{ExpectSHA256: dg, Protocols: []int{2}}
		}, nil, "pull over http"},
		{"pull over coaps", fleet.DeliveryPull, func(dg string) *sim.LwM2MFirmware { return &sim.LwM2MFirmware{ExpectSHA256: dg} },
			func(d *sim.LwM2MDevice) { d.PSKIdentity, d.PSKKey = "id-"+d.Endpoint, []byte("secret-key-0123") }, "pull over coaps"},
		{"push", fleet.DeliveryPush, func(dg string) *sim.LwM2MFirmware { return &sim.LwM2MFirmware{ExpectSHA256: dg} }, nil, "push with Block1"},
		{"push-only device asked to pull", fleet.DeliveryPull, func(dg string) *sim.LwM2MFirmware {
			return &sim.LwM2MFirmware{ExpectSHA256: dg, PushOnly: true}
		}, nil, "push with Block1"},
		{"push at block size 128 after a 4.13", fleet.DeliveryPush, func(dg string) *sim.LwM2MFirmware {
			return &sim.LwM2MFirmware{ExpectSHA256: dg, BlockSize: 128}
		}, nil, "push with Block1"},
		{"pull at block size 64", fleet.DeliveryPull, func(dg string) *sim.LwM2MFirmware {
			return &sim.LwM2MFirmware{ExpectSHA256: dg, BlockSize: 64}
		}, nil, "pull over coap"},
		{"device that never notifies", fleet.DeliveryPull, func(dg string) *sim.LwM2MFirmware {
			return &sim.LwM2MFirmware{ExpectSHA256: dg, NeverNotify: true}
		}, nil, "pull over coap"},
		{"lwm2m 1.0 device", fleet.DeliveryPull, func(dg string) *sim.LwM2MFirmware { return &sim.LwM2MFirmware{ExpectSHA256: dg} },
			func(d *sim.LwM2MDevice) { d.Version = "1.0" }, "pull over coap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, nil)
			fw := tt.fw(g.digest)
			d := g.device("ep", fw, tt.dev)
			g.job("j1", "ep", tt.delivery)
			j := g.finished("j1")
			if j.State != fleet.JobSucceeded {
				t.Fatalf("job %s (%s): %+v", j.State, j.Reason, j.History)
			}
			state, result, version := fw.State()
			if state != 0 || result != 1 || version != "2.0" || !bytes.Equal(fw.Installed(), g.img) {
				t.Fatalf("device state %d result %d version %s", state, result, version)
			}
			if regs, _ := d.Counts(); regs != 2 {
				t.Fatalf("registers %d, want 2 (the reboot re-registers)", regs)
			}
			if fw.Executions() != 1 {
				t.Fatalf("executions %d", fw.Executions())
			}
			if !hasNote(j, tt.note) {
				t.Fatalf("delivered how? want %q in %+v", tt.note, j.History)
			}
			if fw.BlockSize == 128 && fw.BlockRefusals() != 1 {
				t.Fatalf("4.13 answers %d, want 1", fw.BlockRefusals())
			}
		})
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		fault    sim.LwM2MFault
		delivery fleet.Delivery
		reason   fleet.Reason
		native   int
	}{
		{sim.LwM2MFaultCorrupt, fleet.DeliveryPull, fleet.ReasonIntegrity, 5},
		{sim.LwM2MFaultCorrupt, fleet.DeliveryPush, fleet.ReasonIntegrity, 5},
		{sim.LwM2MFaultUnsupported, fleet.DeliveryPull, fleet.ReasonUnsupportedPackage, 6},
		{sim.LwM2MFaultOutOfStorage, fleet.DeliveryPull, fleet.ReasonOutOfStorage, 2},
		{sim.LwM2MFaultOutOfStorage, fleet.DeliveryPush, fleet.ReasonOutOfStorage, 2},
		{sim.LwM2MFaultConnectionLost, fleet.DeliveryPull, fleet.ReasonNetwork, 4},
		{sim.LwM2MFaultUpdateFailure, fleet.DeliveryPull, fleet.ReasonUpdateFailed, 8},
	}
	for _, tt := range tests {
		t.Run(string(tt.reason)+"/"+string(tt.delivery), func(t *testing.T) {
			g := newGateway(t, nil)
			fw := &sim.LwM2MFirmware{ExpectSHA256: g.digest, Fault: tt.fault}
			g.device("ep", fw, nil)
			g.job("j1", "ep", tt.delivery)
			j := g.finished("j1")
			if j.State != fleet.JobFailed || j.Reason != tt.reason {
				t.Fatalf("job %s reason %s: %+v", j.State, j.Reason, j.History)
			}
			if codes := nativeCodes(j); len(codes) != 1 || codes[0] != tt.native {
				t.Fatalf("native codes %v, want [%d]", codes, tt.native)
			}
			if want := 1; tt.fault == sim.LwM2MFaultConnectionLost && j.Attempts != 3 {
				t.Fatalf("attempts %d, want 3 (2 retries) before failing", j.Attempts)
			} else if tt.fault != sim.LwM2MFaultConnectionLost && j.Attempts != want {
				t.Fatalf("attempts %d for a fault that is not retried", j.Attempts)
			}
			if fw.Executions() > 0 && tt.fault != sim.LwM2MFaultUpdateFailure {
				t.Fatal("executed after a failed download")
			}
		})
	}
}

func hasNote(j fleet.Job, note string) bool {
	for _, h := range j.History {
		if h.Note == note {
			return true
		}
	}
	return false
}

// TestQueueModeAcrossWakeUps: a queue-mode device is reachable only
// briefly after each Update; the job starts while it sleeps, the push
// runs a few blocks per awake window, and the version is verified after
// it re-registers.
func TestQueueModeAcrossWakeUps(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.QueueWindow = 300 * time.Millisecond })
	fw := &sim.LwM2MFirmware{ExpectSHA256: g.digest, BlockSize: 512, Slow: 10 * time.Millisecond}
	d := g.device("q", fw, func(d *sim.LwM2MDevice) {
		d.Queue, d.AwakeWindow, d.SleepFor = true, 500*time.Millisecond, 300*time.Millisecond
	})
	time.Sleep(600 * time.Millisecond) // asleep now
	_, before := d.Counts()
	j := fleet.Job{ID: "j1", DeviceID: "dev-q", PackageID: "fw2", Operation: fleet.OpDownloadAndUpdate, Delivery: fleet.DeliveryPush, State: fleet.JobQueued}
	if _, err := g.st.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	go g.drv.Start(context.Background(), "j1") // waits for the device to wake
	j = g.finished("j1")
	if j.State != fleet.JobSucceeded {
		t.Fatalf("job %s (%s): %+v", j.State, j.Reason, j.History)
	}
	regs, after := d.Counts()
	// Two wake-ups at least: the Update that let the delivery start, and
	// the Register after the reboot that let the version be verified.
	if after-before < 1 || regs != 2 {
		t.Fatalf("updates during the job %d, registers %d", after-before, regs)
	}
	if _, _, v := fw.State(); v != "2.0" || fw.Executions() != 1 {
		t.Fatalf("version %s, executions %d", v, fw.Executions())
	}
}

// TestRestartMidDownload restarts the gateway (store closed and reopened,
// new server and driver on the same ports) while the device pulls; the
// device's retransmissions reach the new server and the job completes.
func TestRestartMidDownload(t *testing.T) {
	for _, delivery := range []fleet.Delivery{fleet.DeliveryPull, fleet.DeliveryPush} {
		t.Run(string(delivery), func(t *testing.T) {
			g := newGateway(t, nil)
			fw := &sim.LwM2MFirmware{ExpectSHA256: g.digest, BlockSize: 256, Slow: 5 * time.Millisecond}
			g.device("ep", fw, nil)
			g.job("j1", "ep", delivery)
			eventually(t, "downloading", func() bool { s, _, _ := fw.State(); return s == 1 })
			time.Sleep(100 * time.Millisecond)
			g.restart()
			j := g.finished("j1")
			if j.State != fleet.JobSucceeded {
				t.Fatalf("job %s (%s): %+v", j.State, j.Reason, j.History)
			}
			if !bytes.Equal(fw.Installed(), g.img) || fw.Executions() != 1 {
				t.Fatalf("installed %d bytes, executions %d", len(fw.Installed()), fw.Executions())
			}
		})
	}
}

func TestCancel(t *testing.T) {
	g := newGateway(t, nil)
	fw := &sim.LwM2MFirmware{ExpectSHA256: g.digest, BlockSize: 64, Slow: 5 * time.Millisecond}
	g.device("ep", fw, nil)
	g.job("j1", "ep", fleet.DeliveryPull)
	eventually(t, "downloading", func() bool { s, _, _ := fw.State(); return s == 1 })
	if err := g.drv.Cancel(context.Background(), "j1"); err != nil {
		t.Fatal(err)
	}
	j := g.finished("j1")
	if j.State != fleet.JobCancelled || j.Reason != fleet.ReasonCancelled {
		t.Fatalf("job %s %s", j.State, j.Reason)
	}
	if s, r, _ := fw.State(); s != 0 || r != 10 {
		t.Fatalf("device state %d result %d, want 0 and 10", s, r)
	}
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRestartWhileUpdating restarts the gateway after the Execute, while
// the device installs: the new driver waits, verifies after the device
// re-registers, and never executes again.
func TestRestartWhileUpdating(t *testing.T) {
	g := newGateway(t, nil)
	fw := &sim.LwM2MFirmware{ExpectSHA256: g.digest, UpdateTime: 500 * time.Millisecond}
	g.device("ep", fw, nil)
	g.job("j1", "ep", fleet.DeliveryPull)
	eventually(t, "updating", func() bool { s, _, _ := fw.State(); return s == 3 })
	g.restart()
	j := g.finished("j1")
	if j.State != fleet.JobSucceeded || fw.Executions() != 1 {
		t.Fatalf("job %s, executions %d: %+v", j.State, fw.Executions(), j.History)
	}
}
