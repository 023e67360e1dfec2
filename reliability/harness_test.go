package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/sim"
	"github.com/fumo-gw/fumo-gw/store"
)

var ctx = context.Background()

// apiToken is the operator API's bearer token in these tests.
const apiToken = "reliability-test-token-0123456789"

// harness is a whole gateway on 127.0.0.1 ports (DM and downloads over
// HTTP, LwM2M over UDP and DTLS, the operator API), an SMS/WAP push
// gateway that hands DM Package 0 to the simulated DM devices, and the
// simulated devices of both protocols.
type harness struct {
	t      testing.TB
	gw     *gateway.Gateway
	api    *httptest.Server
	push   *sim.PushGateway
	img    []byte
	digest string
	log    *slog.Logger
	// lifetime is the LwM2M devices' registration lifetime in seconds
	// (0: sim's default): they send an Update every lifetime/2, which is
	// when a device that missed a request is found again.
	lifetime int

	mu       sync.Mutex
	pushErrs []error // woken DM sessions that failed
	dms      map[string]*sim.DMDevice
	fumos    map[string]*sim.FUMO
	lws      map[string]*sim.LwM2MDevice
	fws      map[string]*sim.LwM2MFirmware
}

// testImage is a package of n bytes that compresses badly, and its
// SHA-256 (hex).
func testImage(n int) ([]byte, string) {
	img := make([]byte, 0, n+sha256.Size)
	block := sha256.Sum256([]byte("fumo-gw reliability image"))
	for len(img) < n {
		img = append(img, block[:]...)
		block = sha256.Sum256(block[:])
	}
	img = img[:n]
	sum := sha256.Sum256(img)
	return img, hex.EncodeToString(sum[:])
}

// newHarness opens a gateway with a stored package "fw2" (version 2.0) of
// imageSize bytes; mutate, when set, changes the gateway's settings first.
// The store is checked (bbolt's tx.Check) when the test ends, before the
// gateway closes. FUMO_TEST_LOG=1 shows the gateway's debug log.
func newHarness(t testing.TB, imageSize int, mutate func(*gateway.Config)) *harness {
	h := &harness{t: t, push: sim.NewPushGateway(), log: slog.New(slog.DiscardHandler),
		dms: map[string]*sim.DMDevice{}, fumos: map[string]*sim.FUMO{}, lws: map[string]*sim.LwM2MDevice{}, fws: map[string]*sim.LwM2MFirmware{}}
	if os.Getenv("FUMO_TEST_LOG") != "" {
		h.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ps := httptest.NewServer(h.push)
	t.Cleanup(ps.Close)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() { // kept for the report of a campaign that does not end
		for {
			select {
			case err := <-h.push.Errors:
				if err != nil {
					h.mu.Lock()
					h.pushErrs = append(h.pushErrs, err)
					h.mu.Unlock()
				}
			case <-done:
				return
			}
		}
	}()

	lc := lwm2m.DefaultConfig()
	lc.UDPAddr, lc.DTLSAddr = "127.0.0.1:0", "127.0.0.1:0"
	lc.RequestTimeout = 5 * time.Second
	cfg := gateway.Config{StorePath: filepath.Join(t.TempDir(), "gw.db"), HTTPAddr: "127.0.0.1:0", LwM2M: &lc,
		SigningKey: []byte("the reliability tests' signing key"), Notifier: &dm.HTTPNotifier{URL: ps.URL},
		Tick: 100 * time.Millisecond, PollInterval: 300 * time.Millisecond,
		Retry: bridge.RetryPolicy{Backoff: 100 * time.Millisecond}, Logger: h.log}
	if mutate != nil {
		mutate(&cfg)
	}
	gw, err := gateway.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.gw = gw
	t.Cleanup(func() { gw.Close() })
	t.Cleanup(func() {
		if err := gw.Store.Check(); err != nil {
			t.Errorf("store check: %v", err)
		}
	})

	a, err := api.New(api.Config{Gateway: gw, Token: apiToken, Logger: h.log, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.api = httptest.NewServer(a)
	t.Cleanup(h.api.Close)

	h.img, h.digest = testImage(imageSize)
	if _, err := gw.Store.PutPackage(ctx, fleet.Package{ID: "fw2", Name: "rocket", Version: "2.0", Size: int64(len(h.img)), SHA256: h.digest}, bytes.NewReader(h.img)); err != nil {
		t.Fatal(err)
	}
	return h
}

// addDM provisions a DM device (md5 authentication, WBXML), makes it call
// in once (so that it has issued the server nonce a Package 0 needs) and
// hands it to the push gateway. client, when set, makes its downloads.
func (h *harness) addDM(id string, fault sim.Fault, client *http.Client) {
	h.t.Helper()
	h.addDMWith(id, &sim.FUMO{Fault: fault, HTTP: client}, nil)
}

// addDMWith is addDM with FUMO client f (ExpectSHA256 is set here) and
// setup, when set, changing the device before its first session.
func (h *harness) addDMWith(id string, f *sim.FUMO, setup func(*sim.DMDevice)) {
	h.t.Helper()
	dmID := "IMEI:" + id
	if _, err := h.gw.Store.CreateDevice(ctx, fleet.Device{ID: id, Protocol: fleet.ProtocolDM, Model: "Rocket-DM", FirmwareVersion: "1.0",
		DM: &fleet.DMInfo{DeviceID: dmID, Auth: fleet.DMAuthMD5, Username: id, Password: fleet.Secret("pw-" + id),
			ServerID: "fumo-gw", ServerPassword: fleet.Secret("srv-" + id), FUMORoot: "./FwUpdate/1"}}); err != nil {
		h.t.Fatal(err)
	}
	d := &sim.DMDevice{ServerURL: "http://" + h.gw.HTTPAddr + dm.DefaultPath, DevID: dmID, Username: id, Password: "pw-" + id, Auth: "md5",
		ServerID: "fumo-gw", ServerPassword: "srv-" + id, Encoding: syncml.EncodingWBXML}
	d.SetNode("./DevInfo/DevId", []byte(dmID))
	d.SetNode("./DevInfo/Mod", []byte("Rocket-DM"))
	d.SetNode("./DevDetail/FwV", []byte("1.0"))
	f.ExpectSHA256 = h.digest
	d.EnableFUMO(f)
	if setup != nil {
		setup(d)
	}
	if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil {
		h.t.Fatalf("first session of %s: %v", id, err)
	}
	h.push.Add(d)
	h.mu.Lock()
	h.dms[id], h.fumos[id] = d, f
	h.mu.Unlock()
}

// pskOf is the DTLS PSK identity and key of a secure LwM2M device.
func pskOf(id string) (string, []byte) { return "psk-" + id, []byte("key-of-" + id + "-0123456789") }

// addLwM2M provisions an LwM2M device with Object 5 fw (ExpectSHA256 is
// set here) and registers it, over DTLS with a PSK when secure.
func (h *harness) addLwM2M(id string, fw *sim.LwM2MFirmware, secure bool) {
	h.t.Helper()
	info := &fleet.LwM2MInfo{Endpoint: "urn:dev:" + id}
	d := &sim.LwM2MDevice{Endpoint: info.Endpoint, Server: h.gw.LwM2M.UDPAddr().String(), Firmware: fw, Model: "Rocket-L", Lifetime: h.lifetime}
	if secure {
		identity, key := pskOf(id)
		info.PSKIdentity, info.PSKKey = identity, fleet.Secret(key)
		d.Server, d.PSKIdentity, d.PSKKey = h.gw.LwM2M.DTLSAddr().String(), identity, key
	}
	if _, err := h.gw.Store.CreateDevice(ctx, fleet.Device{ID: id, Protocol: fleet.ProtocolLwM2M, Model: "Rocket-L", FirmwareVersion: "1.0", LwM2M: info}); err != nil {
		h.t.Fatal(err)
	}
	fw.ExpectSHA256 = h.digest
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := d.Start(c); err != nil {
		h.t.Fatalf("register %s: %v", id, err)
	}
	h.t.Cleanup(d.Kill)
	h.mu.Lock()
	h.lws[id], h.fws[id] = d, fw
	h.mu.Unlock()
}

// startCampaign creates and starts a campaign of package fw2 (download
// and update, pull) on devices.
func (h *harness) startCampaign(id string, devices []string, maxInFlight int) {
	h.t.Helper()
	if _, err := h.gw.Bridge.CreateCampaign(ctx, bridge.CampaignRequest{ID: id, PackageID: "fw2", Devices: devices, MaxInFlight: maxInFlight}); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.gw.Bridge.StartCampaign(ctx, id); err != nil {
		h.t.Fatal(err)
	}
}

// campaignDone reports whether the campaign is done.
func (h *harness) campaignDone(id string) bool {
	p, err := h.gw.Bridge.CampaignProgress(ctx, id)
	return err == nil && p.Campaign.State == fleet.CampaignDone
}

// waitCampaign waits, bounded by a generous deadline rather than by any
// speed, until the campaign is done.
func (h *harness) waitCampaign(id string, within time.Duration) bridge.Progress {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		p, err := h.gw.Bridge.CampaignProgress(ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		if p.Campaign.State == fleet.CampaignDone {
			return p
		}
		if time.Now().After(deadline) {
			h.diagnose(id)
			h.t.Fatalf("campaign %s is %s (%s) after %v; jobs %v, pending %d", id, p.Campaign.State, p.Campaign.StateNote, within, p.Jobs, p.Pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// diagnose logs the unfinished jobs of a campaign and the DM sessions
// that failed.
func (h *harness) diagnose(campaign string) {
	jobs, _ := h.gw.Store.Jobs(ctx, store.JobFilter{CampaignID: campaign})
	for _, j := range jobs {
		if !j.State.Terminal() {
			h.t.Logf("job %s (%s) %s attempts %d: %+v", j.ID, j.DeviceID, j.State, j.Attempts, j.History)
		}
	}
	h.t.Logf("lwm2m %+v", h.gw.LwM2M.Stats())
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, d := range h.lws {
		reg, ok := h.gw.LwM2M.Registration(d.Endpoint)
		registers, updates := d.Counts()
		state, result, version := h.fws[id].State()
		h.t.Logf("%s: registered %v %+v; device: %d registers, %d updates, state %d result %d version %s", id, ok, reg, registers, updates, state, result, version)
	}
	for _, err := range h.pushErrs {
		h.t.Logf("woken DM session failed: %v", err)
	}
}

// checkSucceeded asserts that every job of the campaign succeeded and
// that every device runs the new image: an LwM2M device installed exactly
// the package's bytes (Result 1, version 2.0, one Execute), a DM device
// reports FwV 2.0 after downloading bytes whose digest it checked.
func (h *harness) checkSucceeded(campaign string, devices []string) {
	h.t.Helper()
	jobs, err := h.gw.Store.Jobs(ctx, store.JobFilter{CampaignID: campaign})
	if err != nil {
		h.t.Fatal(err)
	}
	byDevice := map[string]fleet.Job{}
	for _, j := range jobs {
		byDevice[j.DeviceID] = j
	}
	if len(jobs) != len(devices) {
		h.t.Errorf("campaign %s has %d jobs for %d devices", campaign, len(jobs), len(devices))
	}
	for _, id := range devices {
		j, ok := byDevice[id]
		switch {
		case !ok:
			h.t.Errorf("%s: no job", id)
			continue
		case j.State != fleet.JobSucceeded:
			h.t.Errorf("%s: job %s %s (%s, native %v): %+v", id, j.ID, j.State, j.Reason, j.Native, j.History)
			continue
		}
		if dev, _ := h.gw.Store.Device(ctx, id); dev.FirmwareVersion != "2.0" {
			h.t.Errorf("%s: recorded firmware %q", id, dev.FirmwareVersion)
		}
		h.mu.Lock()
		fw, d := h.fws[id], h.dms[id]
		h.mu.Unlock()
		if fw != nil {
			if _, result, version := fw.State(); result != 1 || version != "2.0" || fw.Executions() != 1 {
				h.t.Errorf("%s: result %d version %s executions %d", id, result, version, fw.Executions())
			}
			if !bytes.Equal(fw.Installed(), h.img) {
				h.t.Errorf("%s: installed %d bytes that are not the image (%d bytes)", id, len(fw.Installed()), len(h.img))
			}
		}
		if d != nil {
			if v, _ := d.Node("./DevDetail/FwV"); string(v) != "2.0" {
				h.t.Errorf("%s: device firmware %q", id, v)
			}
		}
	}
}

// heapAfterGC is the live heap after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC() // the first one's finalizers ran: collect what they freed
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// ids are n device ids with a prefix: dm-00, dm-01, …
func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}
