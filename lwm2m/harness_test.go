package lwm2m_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"sync"
	"testing"
	"time"

	coapNet "github.com/plgd-dev/go-coap/v3/net"

	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/sim"
	"github.com/fumo-gw/fumo-gw/store"
)

// gateway is a store, a download endpoint and an LwM2M server on
// 127.0.0.1 with ephemeral ports; restart reopens the store and starts a
// new server on the same ports.
type gateway struct {
	t      testing.TB
	path   string
	st     *store.Store
	files  *download.Server
	srv    *lwm2m.Server
	cfg    lwm2m.Config
	events *eventLog
}

var signKey = []byte("0123456789abcdef0123")

func newGateway(t testing.TB, mutate func(*lwm2m.Config)) *gateway {
	t.Helper()
	g := &gateway{t: t, path: filepath.Join(t.TempDir(), "gw.db"), events: &eventLog{}}
	g.cfg = lwm2m.DefaultConfig()
	g.cfg.UDPAddr, g.cfg.DTLSAddr = "127.0.0.1:0", "127.0.0.1:0"
	g.cfg.RequestTimeout = 5 * time.Second
	if mutate != nil {
		mutate(&g.cfg)
	}
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *gateway) start() {
	g.t.Helper()
	st, err := store.Open(g.path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	files, err := download.New(st, signKey, "", nil)
	if err != nil {
		g.t.Fatal(err)
	}
	g.st, g.files = st, files
	cfg := g.cfg
	cfg.Store, cfg.Files = st, files
	srv, err := lwm2m.New(cfg)
	if err != nil {
		g.t.Fatal(err)
	}
	srv.AddListener(g.events.add)
	if err := srv.Start(context.Background()); err != nil {
		g.t.Fatal(err)
	}
	g.srv = srv
	// Keep the ports for a restart.
	g.cfg.UDPAddr, g.cfg.DTLSAddr = srv.UDPAddr().String(), srv.DTLSAddr().String()
}

func (g *gateway) stop() {
	if g.srv != nil {
		g.srv.Close()
		g.st.Close()
		g.srv = nil
	}
}

func (g *gateway) restart() {
	g.stop()
	g.start()
}

func (g *gateway) addDevice(ep, identity string, key []byte) {
	g.t.Helper()
	d := fleet.Device{ID: "dev-" + ep, Protocol: fleet.ProtocolLwM2M, Model: "SIM-L1", LwM2M: &fleet.LwM2MInfo{Endpoint: ep}}
	if identity != "" {
		d.LwM2M.PSKIdentity, d.LwM2M.PSKKey = identity, fleet.Secret(key)
	}
	if _, err := g.st.CreateDevice(context.Background(), d); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gateway) addPackage(id string, size int) ([]byte, string) {
	g.t.Helper()
	img := make([]byte, size)
	rand.Read(img)
	sum := sha256.Sum256(img)
	digest := hex.EncodeToString(sum[:])
	if _, err := g.st.PutPackage(context.Background(), fleet.Package{ID: id, Name: "fw", Version: "2.0", Size: int64(size), SHA256: digest}, bytes.NewReader(img)); err != nil {
		g.t.Fatal(err)
	}
	return img, digest
}

// device returns a started simulator registered over UDP (or DTLS when
// key is set).
func (g *gateway) device(ep string, mutate func(*sim.LwM2MDevice)) *sim.LwM2MDevice {
	g.t.Helper()
	d := &sim.LwM2MDevice{Endpoint: ep, Server: g.cfg.UDPAddr}
	if mutate != nil {
		mutate(d)
	}
	if len(d.PSKKey) > 0 {
		d.Server = g.cfg.DTLSAddr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { d.Close(context.Background()) })
	if g.cfg.Inventory && d.Object3Fault == sim.LwM2MObject3OK && len(d.Formats) == 0 {
		g.inventoried(ep) // the read after the Register is done: the store has settled
	}
	return d
}

// inventoried waits until the device of ep has its Object 3 recorded, and
// returns its record.
func (g *gateway) inventoried(ep string) fleet.Device {
	g.t.Helper()
	var d fleet.Device
	eventually(g.t, "the inventory of "+ep, func() bool {
		var err error
		d, err = g.st.DeviceByEndpoint(context.Background(), ep)
		return err == nil && d.LwM2M.Inventory != nil
	})
	return d
}

// eventLog records listener events for assertions.
type eventLog struct {
	mu     sync.Mutex
	events []lwm2m.Event
}

func (l *eventLog) add(_ context.Context, ev lwm2m.Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// wait returns the first event after index from that satisfies ok.
func (l *eventLog) wait(t testing.TB, ok func(lwm2m.Event) bool) lwm2m.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, ev := range l.events {
			if ok(ev) {
				l.mu.Unlock()
				return ev
			}
		}
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no such event in %d events", len(l.events))
	return lwm2m.Event{}
}

func (l *eventLog) count(ok func(lwm2m.Event) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.events {
		if ok(ev) {
			n++
		}
	}
	return n
}

func kind(k lwm2m.EventKind, ep string) func(lwm2m.Event) bool {
	return func(ev lwm2m.Event) bool { return ev.Kind == k && ev.Endpoint == ep }
}

// eventually polls cond until it holds (20 s at most).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (g *gateway) addPackageBytes(id string, img []byte) {
	g.t.Helper()
	sum := sha256.Sum256(img)
	if _, err := g.st.PutPackage(context.Background(), fleet.Package{ID: id, Name: "fw", Version: "2.0", Size: int64(len(img)), SHA256: hex.EncodeToString(sum[:])}, bytes.NewReader(img)); err != nil {
		g.t.Fatal(err)
	}
}

func listenUDP(addr string) (*coapNet.UDPConn, error) { return coapNet.NewListenUDP("udp", addr) }
