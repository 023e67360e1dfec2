package bridge_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

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

// harness is a whole gateway on 127.0.0.1 with an SMS/WAP push gateway
// for DM Package 0, and simulated devices of both protocols.
type harness struct {
	t      testing.TB
	cfg    gateway.Config
	gw     *gateway.Gateway
	push   *sim.PushGateway
	img    []byte
	digest string

	mu    sync.Mutex
	dms   map[string]*sim.DMDevice
	fumos map[string]*sim.FUMO
	lws   map[string]*sim.LwM2MDevice
	fws   map[string]*sim.LwM2MFirmware
}

func image(n int) ([]byte, string) {
	img := make([]byte, 0, n+32)
	block := sha256.Sum256([]byte("fumo-gw test image"))
	for len(img) < n {
		img = append(img, block[:]...)
		block = sha256.Sum256(block[:])
	}
	img = img[:n]
	sum := sha256.Sum256(img)
	return img, hex.EncodeToString(sum[:])
}

// gatewayConfig is the test gateway's settings: loopback ports chosen by
// the system, a fast tick and poll.
func gatewayConfig(dir string) gateway.Config {
	lc := lwm2m.DefaultConfig()
	lc.UDPAddr, lc.DTLSAddr = "127.0.0.1:0", "127.0.0.1:0"
	lc.RequestTimeout = 5 * time.Second
	cfg := gateway.Config{StorePath: filepath.Join(dir, "gw.db"), HTTPAddr: "127.0.0.1:0", LwM2M: &lc,
		SigningKey: []byte("a signing key of the test gateway"), Tick: 100 * time.Millisecond, PollInterval: 300 * time.Millisecond,
		Retry: bridge.RetryPolicy{Backoff: 100 * time.Millisecond}}
	if os.Getenv("FUMO_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

func newHarness(t testing.TB, imageSize int, mutate func(*gateway.Config)) *harness {
	h := &harness{t: t, push: sim.NewPushGateway(), dms: map[string]*sim.DMDevice{}, fumos: map[string]*sim.FUMO{},
		lws: map[string]*sim.LwM2MDevice{}, fws: map[string]*sim.LwM2MFirmware{}}
	ps := httptest.NewServer(h.push)
	t.Cleanup(ps.Close)
	go func() { // woken sessions' errors are seen through job outcomes
		for range h.push.Errors {
		}
	}()
	h.cfg = gatewayConfig(t.TempDir())
	h.cfg.Notifier = &dm.HTTPNotifier{URL: ps.URL}
	if mutate != nil {
		mutate(&h.cfg)
	}
	h.start()
	t.Cleanup(h.stop)
	h.img, h.digest = image(imageSize)
	if _, err := h.gw.Store.PutPackage(ctx, fleet.Package{ID: "fw2", Name: "rocket", Version: "2.0", Size: int64(len(h.img)), SHA256: h.digest}, bytes.NewReader(h.img)); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) start() {
	gw, err := gateway.Open(ctx, h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.gw = gw
}

func (h *harness) stop() {
	if h.gw != nil {
		h.gw.Close()
		h.gw = nil
	}
}

// addDM provisions a DM device, makes it call in once (so that it has
// issued the server nonce a Package 0 needs) and registers it with the
// push gateway.
func (h *harness) addDM(id string, fault sim.Fault) {
	h.t.Helper()
	dmID := "IMEI:" + id
	if _, err := h.gw.Store.CreateDevice(ctx, fleet.Device{ID: id, Protocol: fleet.ProtocolDM, Model: "Rocket-DM", FirmwareVersion: "1.0",
		DM: &fleet.DMInfo{DeviceID: dmID, Auth: fleet.DMAuthMD5, Username: id, Password: fleet.Secret("pw-" + id),
			ServerID: "fumo-gw", ServerPassword: fleet.Secret("srv"), FUMORoot: "./FwUpdate/1"}}); err != nil {
		h.t.Fatal(err)
	}
	d := &sim.DMDevice{ServerURL: "http://" + h.gw.HTTPAddr + "/dm", DevID: dmID, Username: id, Password: "pw-" + id, Auth: "md5",
		ServerID: "fumo-gw", ServerPassword: "srv", Encoding: syncml.EncodingWBXML}
	d.SetNode("./DevInfo/DevId", []byte(dmID))
	d.SetNode("./DevInfo/Mod", []byte("Rocket-DM"))
	d.SetNode("./DevDetail/FwV", []byte("1.0"))
	f := &sim.FUMO{ExpectSHA256: h.digest, Fault: fault}
	d.EnableFUMO(f)
	if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil {
		h.t.Fatalf("first session of %s: %v", id, err)
	}
	h.push.Add(d)
	h.mu.Lock()
	h.dms[id], h.fumos[id] = d, f
	h.mu.Unlock()
}

// addLwM2M provisions an LwM2M device and registers it.
func (h *harness) addLwM2M(id string, fault sim.LwM2MFault) {
	h.t.Helper()
	if _, err := h.gw.Store.CreateDevice(ctx, fleet.Device{ID: id, Protocol: fleet.ProtocolLwM2M, Model: "Rocket-L", FirmwareVersion: "1.0",
		LwM2M: &fleet.LwM2MInfo{Endpoint: "urn:dev:" + id}}); err != nil {
		h.t.Fatal(err)
	}
	fw := &sim.LwM2MFirmware{ExpectSHA256: h.digest, Fault: fault, FreeStorage: len(h.img) / 2}
	d := &sim.LwM2MDevice{Endpoint: "urn:dev:" + id, Server: h.gw.LwM2M.UDPAddr().String(), Firmware: fw, Model: "Rocket-L"}
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := d.Start(c); err != nil {
		h.t.Fatalf("register %s: %v", id, err)
	}
	h.t.Cleanup(func() { d.Kill() })
	h.mu.Lock()
	h.lws[id], h.fws[id] = d, fw
	h.mu.Unlock()
}

// waitCampaign waits (bounded by a generous deadline, not by speed) until
// the campaign is in state.
func (h *harness) waitCampaign(id string, state fleet.CampaignState, within time.Duration) bridge.Progress {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		p, err := h.gw.Bridge.CampaignProgress(ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		if p.Campaign.State == state {
			return p
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("campaign %s is %s (%s), want %s; jobs %v, pending %d", id, p.Campaign.State, p.Campaign.StateNote, state, p.Jobs, p.Pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) waitJob(id string, within time.Duration) fleet.Job {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		j, err := h.gw.Store.Job(ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		if j.State.Terminal() {
			return j
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("job %s still %s: %+v", id, j.State, j.History)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) dump() string {
	h.t.Helper()
	var b bytes.Buffer
	if err := h.gw.Store.Dump(&b); err != nil {
		h.t.Fatal(err)
	}
	return b.String()
}

func campaignJobs(t testing.TB, st *store.Store, id string) map[string]fleet.Job {
	t.Helper()
	jobs, err := st.Jobs(ctx, store.JobFilter{CampaignID: id})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fleet.Job{}
	for _, j := range jobs {
		if _, dup := out[j.DeviceID]; dup {
			t.Fatalf("device %s has two jobs in campaign %s", j.DeviceID, id)
		}
		out[j.DeviceID] = j
	}
	return out
}

func natives(j fleet.Job) string { return fmt.Sprint(j.Native) }
