package dm_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
	"github.com/fumo-gw/fumo-gw/store"
)

var _ dm.Store = (*store.Store)(nil)

// gateway is a DM server on a real store and a real listener on
// 127.0.0.1; restart closes both and opens them again on the same file
// and address, as a gateway process restart would.
type gateway struct {
	t       *testing.T
	path    string
	addr    string
	cfg     dm.Config
	store   *store.Store
	server  *dm.Server
	http    *http.Server
	results *resultLog
	alerts  *alertLog
}

type resultLog struct {
	mu  sync.Mutex
	got []dm.CommandResult
}

func (l *resultLog) CommandFinished(_ context.Context, r dm.CommandResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, r)
}

func (l *resultLog) all() []dm.CommandResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]dm.CommandResult(nil), l.got...)
}

type alertLog struct {
	mu   sync.Mutex
	got  []dm.AlertEvent
	code int
	hook func(dm.AlertEvent)
}

func (l *alertLog) HandleAlert(_ context.Context, ev dm.AlertEvent) int {
	l.mu.Lock()
	l.got = append(l.got, ev)
	hook := l.hook
	l.mu.Unlock()
	if hook != nil {
		hook(ev)
	}
	return l.code
}

func (l *alertLog) all() []dm.AlertEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]dm.AlertEvent(nil), l.got...)
}

func newGateway(t *testing.T, cfg dm.Config) *gateway {
	t.Helper()
	g := &gateway{t: t, path: filepath.Join(t.TempDir(), "gw.db"), addr: "127.0.0.1:0", cfg: cfg,
		results: &resultLog{}, alerts: &alertLog{}}
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *gateway) start() {
	t := g.t
	t.Helper()
	st, err := store.Open(g.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := g.cfg
	cfg.Store, cfg.Results, cfg.Alerts = st, g.results, g.alerts
	srv, err := dm.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ {
		ln, err = net.Listen("tcp", g.addr)
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("listen %s: %v", g.addr, err)
		}
		time.Sleep(20 * time.Millisecond) // the old listener's port is being released
	}
	g.addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle(srv.Path(), srv)
	mux.Handle(srv.Path()+"/", srv)
	g.store, g.server = st, srv
	g.http = &http.Server{Handler: mux}
	go g.http.Serve(ln)
}

func (g *gateway) stop() {
	if g.http == nil {
		return
	}
	g.http.Close()
	g.store.Close()
	g.http = nil
}

func (g *gateway) restart() {
	g.stop()
	g.start()
}

func (g *gateway) url() string { return "http://" + g.addr + "/dm" }

// dump is the whole store, to show that refused input changed nothing.
func (g *gateway) dump() string {
	var b bytes.Buffer
	if err := g.store.Dump(&b); err != nil {
		g.t.Fatal(err)
	}
	return b.String()
}

// provision stores a DM device and returns a simulator for it.
func (g *gateway) provision(id, auth string, enc syncml.Encoding) *sim.DMDevice {
	g.t.Helper()
	dmID := "IMEI:" + id
	_, err := g.store.CreateDevice(context.Background(), fleet.Device{ID: id, Protocol: fleet.ProtocolDM, DM: &fleet.DMInfo{
		DeviceID: dmID, Auth: fleet.DMAuth(auth), Username: "user-" + id, Password: fleet.Secret("pw-" + id),
		ServerID: "fumo-gw", ServerPassword: fleet.Secret("srv-" + id), FUMORoot: "./FwUpdate/x",
	}})
	if err != nil {
		g.t.Fatal(err)
	}
	d := &sim.DMDevice{ServerURL: g.url(), DevID: dmID, Username: "user-" + id, Password: "pw-" + id, Auth: auth,
		ServerID: "fumo-gw", ServerPassword: "srv-" + id, Encoding: enc}
	d.SetNode("./DevInfo/DevId", []byte(dmID))
	d.SetNode("./DevInfo/Man", []byte("Acme"))
	d.SetNode("./DevInfo/Mod", []byte("Rocket-1"))
	d.SetNode("./DevInfo/DmV", []byte("1.2"))
	d.SetNode("./DevInfo/Lang", []byte("en-US"))
	d.SetNode("./DevDetail/FwV", []byte("1.0.0"))
	return d
}

func (g *gateway) enqueue(deviceID string, c syncml.Command, blob string) string {
	g.t.Helper()
	id, err := g.server.Enqueue(context.Background(), deviceID, c, blob)
	if err != nil {
		g.t.Fatal(err)
	}
	return id
}

func (g *gateway) result(id string) dm.CommandResult {
	g.t.Helper()
	r, err := g.server.Result(context.Background(), id)
	if err != nil {
		g.t.Fatal(err)
	}
	return r
}

func (g *gateway) device(id string) fleet.Device {
	g.t.Helper()
	d, err := g.store.Device(context.Background(), id)
	if err != nil {
		g.t.Fatal(err)
	}
	return d
}

func get(uri string) *syncml.Get {
	return &syncml.Get{Items: []syncml.Item{{Target: &syncml.Location{LocURI: uri}}}}
}

func replace(uri, value string) *syncml.Replace {
	return &syncml.Replace{Items: []syncml.Item{{Target: &syncml.Location{LocURI: uri}, Meta: &syncml.Meta{Format: "chr"}, Data: []byte(value)}}}
}

func session(t *testing.T, d *sim.DMDevice, o sim.SessionOptions) *sim.SessionReport {
	t.Helper()
	rep, err := d.Session(context.Background(), o)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return rep
}

var encodings = []syncml.Encoding{syncml.EncodingXML, syncml.EncodingWBXML}

// TestFullSession runs whole sessions over HTTP for each encoding and
// authentication scheme: DevInfo is stored, queued commands reach the
// device, their Status and Results come back, DevDetail is learned, and
// the nonces are persisted.
func TestFullSession(t *testing.T) {
	for _, enc := range encodings {
		for _, auth := range []string{"basic", "md5", "hmac"} {
			t.Run(enc.String()+"/"+auth, func(t *testing.T) {
				g := newGateway(t, dm.Config{})
				d := g.provision("dev1", auth, enc)
				getID := g.enqueue("dev1", get("./DevDetail/FwV"), "")
				setID := g.enqueue("dev1", replace("./Vendor/Setting", "on"), "")

				rep := session(t, d, sim.SessionOptions{})
				if rep.Messages != 2 {
					t.Errorf("client messages = %d, want 2 (package 1 and 3)", rep.Messages)
				}
				r := g.result(getID)
				if r.State != fleet.DMCommandDone || r.Outcome.Code() != 200 || len(r.Outcome.Results) != 1 ||
					string(r.Outcome.Results[0].Data) != "1.0.0" {
					t.Errorf("Get result = %+v %+v", r, r.Outcome)
				}
				if r := g.result(setID); r.State != fleet.DMCommandDone || r.Outcome.Code() != 200 {
					t.Errorf("Replace result = %+v", r)
				}
				if v, _ := d.Node("./Vendor/Setting"); string(v) != "on" {
					t.Errorf("device node = %q", v)
				}
				if got := len(g.results.all()); got != 2 {
					t.Errorf("result handler saw %d results, want 2", got)
				}
				dev := g.device("dev1")
				if dev.DM.DevInfo["Man"] != "Acme" || dev.Model != "Rocket-1" {
					t.Errorf("DevInfo not stored: %v model %q", dev.DM.DevInfo, dev.Model)
				}
				if dev.DM.DevDetail["FwV"] != "1.0.0" || dev.FirmwareVersion != "1.0.0" {
					t.Errorf("DevDetail not stored: %v fw %q", dev.DM.DevDetail, dev.FirmwareVersion)
				}
				if auth != "basic" {
					if !bytes.Equal(dev.DM.ClientNonce, d.Nonce) || len(d.Nonce) < 16 {
						t.Errorf("client nonce: store %x, device %x", dev.DM.ClientNonce, d.Nonce)
					}
					if !bytes.Equal(dev.DM.ServerNonce, d.ServerNonce) {
						t.Errorf("server nonce: store %x, device %x", dev.DM.ServerNonce, d.ServerNonce)
					}
				}
				// The next session authenticates with the persisted nonces.
				session(t, d, sim.SessionOptions{})
			})
		}
	}
}

func TestUnknownDeviceRefused(t *testing.T) {
	g := newGateway(t, dm.Config{})
	before := g.dump()
	d := &sim.DMDevice{ServerURL: g.url(), DevID: "IMEI:stranger", Username: "x", Password: "y", Auth: "md5"}
	_, err := d.Session(context.Background(), sim.SessionOptions{})
	if !errors.Is(err, sim.ErrAuthRefused) {
		t.Fatalf("session of an unknown device: %v, want refusal", err)
	}
	if after := g.dump(); after != before {
		t.Errorf("store changed:\n%s", after)
	}
}
