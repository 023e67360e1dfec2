package fumo_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/fumo"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
	"github.com/fumo-gw/fumo-gw/store"
)

var ctx = context.Background()

// events collects the driver's events.
type events struct {
	mu  sync.Mutex
	got []fumo.Event
}

func (e *events) JobEvent(_ context.Context, ev fumo.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *events) unmatched() []fumo.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []fumo.Event
	for _, ev := range e.got {
		if ev.JobID == "" {
			out = append(out, ev)
		}
	}
	return out
}

// handlers lets the DM server reach a driver created after it.
type handlers struct{ d *fumo.Driver }

func (h *handlers) HandleAlert(ctx context.Context, ev dm.AlertEvent) int {
	return h.d.HandleAlert(ctx, ev)
}
func (h *handlers) CommandFinished(ctx context.Context, r dm.CommandResult) {
	h.d.CommandFinished(ctx, r)
}

// gateway is the DM side of fumo-gw wired as the product wires it: the DM
// server, the package download endpoint and the FUMO driver on one store,
// on a real listener on 127.0.0.1.
type gateway struct {
	t       *testing.T
	path    string
	addr    string
	notify  dm.Notifier
	trigger bool
	st      *store.Store
	dm      *dm.Server
	driver  *fumo.Driver
	events  *events
	http    *http.Server
	img     []byte
	sha     string
	nonce   func() ([]byte, error)
	retry   func(fleet.Job, fleet.Reason) (time.Time, bool)
}

func newGateway(t *testing.T, trigger bool, notify dm.Notifier) *gateway {
	return newGatewayWith(t, trigger, notify, nil)
}

// newGatewayWith takes the nonce source (nil: random).
func newGatewayWith(t *testing.T, trigger bool, notify dm.Notifier, nonce func() ([]byte, error)) *gateway {
	g := &gateway{t: t, path: filepath.Join(t.TempDir(), "gw.db"), addr: "127.0.0.1:0", notify: notify, trigger: trigger, events: &events{}, nonce: nonce}
	g.start()
	t.Cleanup(g.stop)
	g.img, g.sha = g.putPackage("fw2", 200_000)
	return g
}

// putPackage stores a package of n pseudo-random (repeatable) bytes.
func (g *gateway) putPackage(id string, n int) ([]byte, string) {
	g.t.Helper()
	img := make([]byte, 0, n+32)
	block := sha256.Sum256([]byte(id))
	for len(img) < n {
		img = append(img, block[:]...)
		block = sha256.Sum256(block[:])
	}
	img = img[:n]
	sum := sha256.Sum256(img)
	sha := hex.EncodeToString(sum[:])
	if _, err := g.st.PutPackage(ctx, fleet.Package{ID: id, Name: "rocket", Version: "2.0", Size: int64(n), SHA256: sha}, bytes.NewReader(img)); err != nil {
		g.t.Fatal(err)
	}
	return img, sha
}

func (g *gateway) start() {
	t := g.t
	st, err := store.Open(g.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &handlers{}
	srv, err := dm.NewServer(dm.Config{Store: st, Alerts: h, Results: h, Notifier: g.notify, Nonce: g.nonce})
	if err != nil {
		t.Fatal(err)
	}
	dl, err := download.New(st, []byte("a signing key of the gateway"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ {
		if ln, err = net.Listen("tcp", g.addr); err == nil {
			break
		}
		if i == 50 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.addr = ln.Addr().String()
	base := "http://" + g.addr
	h.d, err = fumo.NewDriver(fumo.DriverConfig{Jobs: st, Queue: srv, Trigger: g.trigger, Verify: true, Listener: g.events, Retry: g.retry,
		PackageURL: func(job, pkg string) string { return dl.URL(base, job, pkg) }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/dm", srv)
	mux.Handle("/dm/", srv)
	mux.Handle("/fw/", dl)
	g.st, g.dm, g.driver = st, srv, h.d
	g.http = &http.Server{Handler: mux}
	go g.http.Serve(ln)
	if err := g.driver.Resume(ctx); err != nil {
		t.Fatal(err)
	}
}

func (g *gateway) stop() {
	if g.http != nil {
		g.http.Close()
		g.st.Close()
		g.http = nil
	}
}

func (g *gateway) restart() { g.stop(); g.start() }

func (g *gateway) device(id string, maxMsg int64) (*sim.DMDevice, *sim.FUMO) {
	g.t.Helper()
	dmID := "IMEI:" + id
	if _, err := g.st.CreateDevice(ctx, fleet.Device{ID: id, Protocol: fleet.ProtocolDM, FirmwareVersion: "1.0", DM: &fleet.DMInfo{
		DeviceID: dmID, Auth: fleet.DMAuthMD5, Username: id, Password: fleet.Secret("pw"),
		ServerID: "fumo-gw", ServerPassword: fleet.Secret("srv"), FUMORoot: "./FwUpdate/1"}}); err != nil {
		g.t.Fatal(err)
	}
	d := &sim.DMDevice{ServerURL: "http://" + g.addr + "/dm", DevID: dmID, Username: id, Password: "pw", Auth: "md5",
		ServerID: "fumo-gw", ServerPassword: "srv", MaxMsgSize: maxMsg, Encoding: syncml.EncodingWBXML}
	d.SetNode("./DevInfo/DevId", []byte(dmID))
	d.SetNode("./DevInfo/Mod", []byte("Rocket"))
	d.SetNode("./DevDetail/FwV", []byte("1.0"))
	f := &sim.FUMO{ExpectSHA256: g.sha}
	d.EnableFUMO(f)
	return d, f
}

func (g *gateway) job(id, dev string, op fleet.Operation, delivery fleet.Delivery) {
	g.jobOf(id, dev, "fw2", op, delivery)
}

func (g *gateway) jobOf(id, dev, pkg string, op fleet.Operation, delivery fleet.Delivery) {
	g.t.Helper()
	if _, err := g.st.CreateJob(ctx, fleet.Job{ID: id, DeviceID: dev, PackageID: pkg, Operation: op, Delivery: delivery, State: fleet.JobQueued}); err != nil {
		g.t.Fatal(err)
	}
	if err := g.driver.Start(ctx, id); err != nil {
		g.t.Fatal(err)
	}
}

// waitJob waits (bounded by a generous deadline, not by speed) until the
// job is terminal.
func (g *gateway) waitJob(id string) fleet.Job {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := g.st.Job(ctx, id)
		if err != nil {
			g.t.Fatal(err)
		}
		if j.State.Terminal() {
			return j
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("job %s still %s", id, j.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func call(t *testing.T, d *sim.DMDevice) {
	t.Helper()
	if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil {
		t.Fatalf("device session: %v", err)
	}
}

// TestDownloadAndUpdatePull: the device calls in, gets PkgURL and Exec,
// answers 202, downloads over HTTP, installs, reports 200 in a new session;
// the driver reads FwV in that session and the job succeeds.
func TestDownloadAndUpdatePull(t *testing.T) {
	g := newGateway(t, false, nil)
	d, f := g.device("d1", 0)
	g.job("job1", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
	call(t, d)
	if code, _ := f.Report(ctx); code != 200 {
		t.Fatalf("device reported %d", code)
	}
	j := g.waitJob("job1")
	if j.State != fleet.JobSucceeded {
		t.Fatalf("job %s (%s): %+v", j.State, j.Reason, j.History)
	}
	if dev, _ := g.st.Device(ctx, "d1"); dev.FirmwareVersion != "2.0" {
		t.Errorf("recorded firmware %q", dev.FirmwareVersion)
	}
	states := []fleet.JobState{}
	for _, h := range j.History {
		states = append(states, h.To)
	}
	want := []fleet.JobState{fleet.JobWaitingDevice, fleet.JobDelivering, fleet.JobUpdating, fleet.JobVerifying, fleet.JobSucceeded}
	if len(states) != len(want) {
		t.Errorf("history %v, want %v", states, want)
	}
}

// TestFaults: each injected fault ends in its FUMO result and reason.
func TestFaults(t *testing.T) {
	cases := []struct {
		fault  sim.Fault
		state  fleet.JobState
		code   int
		reason fleet.Reason
	}{
		{sim.FaultCorruptDownload, fleet.JobFailed, 402, fleet.ReasonIntegrity},
		{sim.FaultNetworkDown, fleet.JobFailed, 503, fleet.ReasonNetwork},
		{sim.FaultInstallFailure, fleet.JobFailed, 410, fleet.ReasonUpdateFailed},
		{sim.FaultUserCancel, fleet.JobFailed, 401, fleet.ReasonCancelled},
		{sim.FaultNetworkCut, fleet.JobSucceeded, 200, fleet.ReasonNone},
		{sim.FaultRebootDuringUpdate, fleet.JobSucceeded, 200, fleet.ReasonNone},
	}
	g := newGateway(t, false, nil)
	for i, c := range cases {
		id := string(rune('a' + i))
		d, f := g.device("dev-"+id, 0)
		f.Fault = c.fault
		g.job("job-"+id, "dev-"+id, fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
		call(t, d)
		if code, _ := f.Report(ctx); code != c.code {
			t.Errorf("fault %d: device reported %d", c.fault, code)
		}
		j := g.waitJob("job-" + id)
		native := 0
		for _, n := range j.Native {
			native = n.Code
		}
		if j.State != c.state || j.Reason != c.reason || native != c.code {
			t.Errorf("fault %d: job %s reason %q native %v; want %s %q %d", c.fault, j.State, j.Reason, j.Native, c.state, c.reason, c.code)
		}
	}
}

// TestDownloadThenUpdate: a Download job, then an Update job.
func TestDownloadThenUpdate(t *testing.T) {
	g := newGateway(t, false, nil)
	d, f := g.device("d1", 0)
	g.job("dl", "d1", fleet.OpDownload, fleet.DeliveryPull)
	call(t, d)
	f.Report(ctx)
	if j := g.waitJob("dl"); j.State != fleet.JobSucceeded {
		t.Fatalf("download job %s %s", j.State, j.Reason)
	}
	if v, _ := d.Node("./DevDetail/FwV"); string(v) != "1.0" {
		t.Errorf("a download installed firmware %s", v)
	}
	g.job("up", "d1", fleet.OpUpdate, fleet.DeliveryPull)
	call(t, d)
	f.Report(ctx)
	if j := g.waitJob("up"); j.State != fleet.JobSucceeded {
		t.Fatalf("update job %s %s", j.State, j.Reason)
	}
}

// TestPushAsLargeObject: PkgData pushed as a large object under MaxMsgSize
// 4 KiB, then Exec Update.
func TestPushAsLargeObject(t *testing.T) {
	g := newGateway(t, false, nil)
	d, f := g.device("d1", 4096)
	g.job("push", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPush)
	call(t, d)
	if got, _ := d.Node("./FwUpdate/1/Update/PkgData"); !bytes.Equal(got, g.img) {
		t.Fatalf("device holds %d bytes of PkgData", len(got))
	}
	f.Report(ctx)
	if j := g.waitJob("push"); j.State != fleet.JobSucceeded {
		t.Fatalf("push job %s %s %+v", j.State, j.Reason, j.History)
	}
}

// TestRestartBetweenExecAndReport: the gateway restarts after the device
// accepted the Exec and before it reports; nothing is lost.
func TestRestartBetweenExecAndReport(t *testing.T) {
	g := newGateway(t, false, nil)
	d, f := g.device("d1", 0)
	f.Delay = 50 * time.Millisecond
	g.job("job1", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
	call(t, d) // Exec answered 202; the download runs in the background
	g.restart()
	if code, _ := f.Report(ctx); code != 200 {
		t.Fatalf("device reported %d", code)
	}
	if j := g.waitJob("job1"); j.State != fleet.JobSucceeded {
		t.Fatalf("job %s %s", j.State, j.Reason)
	}
}

// TestPackage0WakesDevice: with triggers on, the job's Package 0 goes
// through an HTTP push gateway to the device, which opens the Alert 1200
// session itself; nothing else calls the device.
func TestPackage0WakesDevice(t *testing.T) {
	push := sim.NewPushGateway()
	ps := httptest.NewServer(push)
	defer ps.Close()
	g := newGateway(t, true, &dm.HTTPNotifier{URL: ps.URL})
	d, f := g.device("d1", 0)
	push.Add(d)
	// The device first calls in once, so that it has issued a server nonce.
	call(t, d)
	g.job("job1", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
	if code, _ := f.Report(ctx); code != 200 {
		t.Fatalf("device reported %d", code)
	}
	if err := <-push.Errors; err != nil {
		t.Fatalf("woken session: %v", err)
	}
	if j := g.waitJob("job1"); j.State != fleet.JobSucceeded {
		t.Fatalf("job %s %s", j.State, j.Reason)
	}
	push.Wait()
}

// TestBadAlerts: an unknown correlator, a result that is not a number, an
// alert from a device without a job, a correlator of another device's job:
// answered per spec, recorded as events, no job changes.
func TestBadAlerts(t *testing.T) {
	g := newGateway(t, false, nil)
	d, _ := g.device("d1", 0)
	other, _ := g.device("d2", 0)
	// job1 waits for d1's report (its commands are not queued here).
	if _, err := g.st.CreateJob(ctx, fleet.Job{ID: "job1", DeviceID: "d1", PackageID: "fw2", Operation: fleet.OpDownloadAndUpdate, Delivery: fleet.DeliveryPull, State: fleet.JobQueued}); err != nil {
		t.Fatal(err)
	}
	g.st.MoveJob(ctx, "job1", fleet.JobQueued, fleet.JobWaitingDevice, "", nil)
	before, _ := g.st.MoveJob(ctx, "job1", fleet.JobWaitingDevice, fleet.JobUpdating, "", nil)
	alert := func(correlator, data string) syncml.Alert {
		return syncml.Alert{Code: 1226, Correlator: correlator, Items: []syncml.Item{{
			Source: &syncml.Location{LocURI: "./FwUpdate/1/DownloadAndUpdate"},
			Meta:   &syncml.Meta{Type: "org.openmobilealliance.dm.firmwareupdate.downloadandupdate", Format: "int"},
			Data:   []byte(data)}}}
	}
	cases := []struct {
		name   string
		dev    *sim.DMDevice
		alert  syncml.Alert
		status int
	}{
		{"unknown correlator", d, alert("no-such-job", "200"), 200},
		{"result not a number", d, alert("job1", "ok"), 415},
		{"device without a job", other, alert("", "200"), 200},
		{"another device's job", other, alert("job1", "410"), 200},
	}
	for i, c := range cases {
		rep, err := c.dev.Session(ctx, sim.SessionOptions{Alerts: []syncml.Alert{c.alert}})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := rep.Statuses["Alert 3"]; got != c.status {
			t.Errorf("%s: answered %d, want %d (%v)", c.name, got, c.status, rep.Statuses)
		}
		if j, _ := g.st.Job(ctx, "job1"); j.State != before.State || len(j.History) != len(before.History) {
			t.Errorf("%s: job changed to %s", c.name, j.State)
		}
		if n := len(g.events.unmatched()); n != i+1 {
			t.Errorf("%s: %d events for unmatched alerts, want %d", c.name, n, i+1)
		}
	}
}

// TestRetryAndStop: a job whose download fails on the network goes back to
// queued when the retry policy allows it, its second attempt queues fresh
// commands, and the policy's refusal ends it failed with both native
// codes. Stop withdraws what the device has not seen, and refuses (without
// force) once it has.
func TestRetryAndStop(t *testing.T) {
	g := newGateway(t, false, nil)
	g.stop()
	asked := 0
	g.retry = func(j fleet.Job, r fleet.Reason) (time.Time, bool) {
		asked++
		return time.Time{}, r == fleet.ReasonNetwork && j.Attempts < 2
	}
	g.start()
	d, f := g.device("d1", 0)
	f.Fault = sim.FaultNetworkDown
	g.job("job1", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
	call(t, d)
	if code, _ := f.Report(ctx); code != 503 {
		t.Fatalf("device reported %d", code)
	}
	j := g.waitState("job1", fleet.JobQueued)
	if j.Attempts != 1 || len(j.Native) != 1 || j.Reason != "" {
		t.Fatalf("retried job %+v", j)
	}
	if err := g.driver.Start(ctx, "job1"); err != nil {
		t.Fatal(err)
	}
	if r, err := g.dm.Result(ctx, "job1.exec.2"); err != nil || r.State != fleet.DMCommandPending {
		t.Fatalf("second attempt's Exec: %+v %v", r, err)
	}
	call(t, d)
	if code, _ := f.Report(ctx); code != 503 {
		t.Fatalf("device reported %d", code)
	}
	j = g.waitJob("job1")
	if j.State != fleet.JobFailed || j.Reason != fleet.ReasonNetwork || len(j.Native) != 2 || j.Attempts != 2 || asked != 2 {
		t.Fatalf("job %+v after %d retry questions", j, asked)
	}

	// Stop before the device called: the commands are withdrawn.
	g.job("job2", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
	if err := g.driver.Stop(ctx, "job2", fleet.JobCancelled, fleet.ReasonCancelled, "operator cancelled", false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if q, _ := g.st.DMCommands(ctx, "d1"); len(q) != 0 {
		t.Fatalf("queue after cancel: %+v", q)
	}
	if j := g.waitJob("job2"); j.State != fleet.JobCancelled || j.Reason != fleet.ReasonCancelled {
		t.Fatalf("cancelled job %+v", j)
	}
	// Stop after the device got the commands: refused unless forced.
	f.Fault = sim.FaultNone
	f.Delay = time.Hour // the device never reports
	g.job("job3", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
	call(t, d)
	g.waitState("job3", fleet.JobUpdating)
	if err := g.driver.Stop(ctx, "job3", fleet.JobCancelled, fleet.ReasonCancelled, "operator cancelled", false, time.Time{}); !errors.Is(err, fleet.ErrStale) {
		t.Fatalf("cancel of a job the device acts on: %v", err)
	}
	if err := g.driver.Stop(ctx, "job3", fleet.JobFailed, fleet.ReasonTimeout, "no report in time", true, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if j := g.waitJob("job3"); j.State != fleet.JobFailed || j.Reason != fleet.ReasonTimeout {
		t.Fatalf("timed-out job %+v", j)
	}
}

func (g *gateway) waitState(id string, want fleet.JobState) fleet.Job {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := g.st.Job(ctx, id)
		if err != nil {
			g.t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if time.Now().After(deadline) || j.State.Terminal() {
			g.t.Fatalf("job %s is %s, want %s", id, j.State, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
