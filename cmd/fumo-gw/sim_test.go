package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/lwm2m"
)

// syncBuffer is an output the simulators' goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lazyNotifier posts Package 0 to a URL learnt after the gateway started:
// the one `fumo-gw sim dm` prints.
type lazyNotifier struct {
	mu  sync.Mutex
	url string
}

func (l *lazyNotifier) set(u string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.url = u
}

func (l *lazyNotifier) Notify(ctx context.Context, deviceID string, pkg0 []byte) error {
	l.mu.Lock()
	u := l.url
	l.mu.Unlock()
	if u == "" {
		return errors.New("no push URL yet")
	}
	return (&dm.HTTPNotifier{URL: u}).Notify(ctx, deviceID, pkg0)
}

// simGateway is a whole gateway on loopback ports the system chooses,
// with a temporary store and a 32 KiB package fw2 of version 2.0.
func simGateway(t *testing.T, notifier dm.Notifier) *gateway.Gateway {
	t.Helper()
	lc := lwm2m.DefaultConfig()
	lc.UDPAddr, lc.DTLSAddr = "127.0.0.1:0", "127.0.0.1:0"
	lc.RequestTimeout = 5 * time.Second
	g, err := gateway.Open(context.Background(), gateway.Config{StorePath: filepath.Join(t.TempDir(), "gw.db"), HTTPAddr: "127.0.0.1:0",
		LwM2M: &lc, SigningKey: []byte("a signing key of the sim test"), Notifier: notifier, Tick: 100 * time.Millisecond,
		PollInterval: 300 * time.Millisecond, Retry: bridge.RetryPolicy{Backoff: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	img := bytes.Repeat([]byte("fumo-gw sim test image "), 32<<10/23)
	sum := sha256.Sum256(img)
	if _, err := g.Store.PutPackage(context.Background(), fleet.Package{ID: "fw2", Name: "rocket", Version: "2.0", Size: int64(len(img)),
		SHA256: hex.EncodeToString(sum[:])}, bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	return g
}

func runSimCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runSim(args, &out, &errb)
	return code, out.String(), errb.String()
}

// provision creates the devices `fumo-gw sim --print-devices` printed.
func provision(t *testing.T, g *gateway.Gateway, args ...string) []simDevice {
	t.Helper()
	code, out, errs := runSimCLI(append(args, "--print-devices")...)
	if code != 0 {
		t.Fatalf("print-devices: exit %d: %s", code, errs)
	}
	var devs []simDevice
	if err := json.Unmarshal([]byte(out), &devs); err != nil {
		t.Fatalf("print-devices output: %v\n%s", err, out)
	}
	for _, d := range devs {
		fd := fleet.Device{ID: d.ID, Protocol: fleet.Protocol(d.Protocol), Model: d.Model, FirmwareVersion: d.FirmwareVersion}
		if d.DM != nil {
			fd.DM = &fleet.DMInfo{DeviceID: d.DM.DeviceID, Auth: fleet.DMAuth(d.DM.Auth), Username: d.DM.Username,
				Password: fleet.Secret(d.DM.Password), ServerID: d.DM.ServerID, ServerPassword: fleet.Secret(d.DM.ServerPassword), FUMORoot: d.DM.FUMORoot}
		}
		if d.LwM2M != nil {
			key, err := hex.DecodeString(d.LwM2M.PSKKeyHex)
			if err != nil {
				t.Fatal(err)
			}
			fd.LwM2M = &fleet.LwM2MInfo{Endpoint: d.LwM2M.Endpoint, PSKIdentity: d.LwM2M.PSKIdentity, PSKKey: fleet.Secret(key)}
		}
		if _, err := g.Store.CreateDevice(context.Background(), fd); err != nil {
			t.Fatalf("provision %s: %v", d.ID, err)
		}
	}
	return devs
}

// simRun is a `fumo-gw sim` running in the background.
type simRun struct {
	out, errs syncBuffer
	code      int
	done      chan struct{}
}

// startSim runs runSim, which ends on --for or SIGINT.
func startSim(args ...string) *simRun {
	r := &simRun{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.code = runSim(args, &r.out, &r.errs)
	}()
	return r
}

// startSimContext runs runSimContext, which also ends with ctx.
func startSimContext(ctx context.Context, args ...string) *simRun {
	r := &simRun{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.code = runSimContext(ctx, args, &r.out, &r.errs)
	}()
	return r
}

// waitOutput waits (bounded by a generous deadline, not by speed) until
// the output matches re n times, and returns the output.
func (r *simRun) waitOutput(t *testing.T, re string, n int) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out := r.out.String()
		if len(rx.FindAllString(out, -1)) >= n {
			return out
		}
		select {
		case <-r.done:
			t.Fatalf("sim ended (exit %d) before %d× %q:\n%s%s", r.code, n, re, out, r.errs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d× %q in:\n%s%s", n, re, out, r.errs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// interrupt sends SIGINT to the test process, as an operator's ^C does to
// `fumo-gw sim`, and waits for the runs to end. The test holds SIGINT
// itself meanwhile, so the signal never ends the process.
func interrupt(t *testing.T, runs ...*simRun) {
	t.Helper()
	held := make(chan os.Signal, 1)
	signal.Notify(held, os.Interrupt)
	defer signal.Stop(held)
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		select {
		case <-r.done:
		case <-time.After(time.Minute):
			t.Fatalf("sim did not end on SIGINT:\n%s", r.out.String())
		}
	}
}

func waitJobs(t *testing.T, g *gateway.Gateway, ids []string) map[string]fleet.Job {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	out := map[string]fleet.Job{}
	for len(out) < len(ids) {
		for _, id := range ids {
			j, err := g.Store.Job(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State.Terminal() {
				out[id] = j
			} else if time.Now().After(deadline) {
				t.Fatalf("job %s still %s: %+v", id, j.State, j.History)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out
}

// TestSim_UpdatesFleet: DM devices (Package 0 through the push URL the
// simulator prints) and LwM2M devices over DTLS, provisioned from
// --print-devices, reach the new firmware through jobs of the bridge;
// the devices told to fail end with their code; ^C ends both runs with
// a summary.
func TestSim_UpdatesFleet(t *testing.T) {
	push := &lazyNotifier{}
	g := simGateway(t, push)
	dmArgs := []string{"dm", "--count", "3", "--fail", "1", "--fail-code", "410"}
	lwArgs := []string{"lwm2m", "--count", "3", "--fail", "1", "--fail-code", "8", "--psk-key", "000102030405060708090a0b0c0d0e0f"}
	devs := append(provision(t, g, dmArgs...), provision(t, g, lwArgs...)...)

	dmRun := startSim(append(dmArgs, "--gateway", "http://"+g.HTTPAddr+"/dm", "--for", "10m")...)
	lwRun := startSim(append(lwArgs, "--gateway", g.LwM2M.DTLSAddr().String(), "--for", "10m")...)
	out := dmRun.waitOutput(t, `(?m)^push: http://\S+`, 1)
	push.set(regexp.MustCompile(`(?m)^push: (\S+)`).FindStringSubmatch(out)[1])
	dmRun.waitOutput(t, `(?m)^dm-\d session client-initiated$`, 3)
	lwRun.waitOutput(t, `(?m)^urn:dev:lw-\d registered$`, 3)

	var ids []string
	for _, d := range devs {
		j, err := g.Bridge.CreateJob(context.Background(), bridge.JobRequest{ID: "job-" + d.ID, DeviceID: d.ID, PackageID: "fw2"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	jobs := waitJobs(t, g, ids)
	failing := map[string]int{"dm-1": 410, "urn:dev:lw-1": 8}
	for _, d := range devs {
		j := jobs["job-"+d.ID]
		code, fails := failing[d.ID]
		switch {
		case fails && (j.State != fleet.JobFailed || !hasNative(j, code)):
			t.Errorf("%s: job %s, native %v; want failed with %d", d.ID, j.State, j.Native, code)
		case !fails && j.State != fleet.JobSucceeded:
			t.Errorf("%s: job %s (%s): %+v", d.ID, j.State, j.Reason, j.History)
		case !fails:
			if fd, err := g.Store.Device(context.Background(), d.ID); err != nil || fd.FirmwareVersion != "2.0" {
				t.Errorf("%s: firmware %q (%v), want 2.0", d.ID, fd.FirmwareVersion, err)
			}
		}
	}
	dmRun.waitOutput(t, `(?m)^dm-[23] update result 200 \(firmware 2\.0\)$`, 2)
	dmRun.waitOutput(t, `(?m)^dm-1 update result 410 \(failed\)$`, 1)
	dmRun.waitOutput(t, `(?m)^dm-\d session server-initiated$`, 3)
	dmRun.waitOutput(t, `(?m)^dm-[23] download done \(\d+ bytes\)$`, 2)
	lwRun.waitOutput(t, `(?m)^urn:dev:lw-[23] update result 1 \(firmware 2\.0\)$`, 2)
	lwRun.waitOutput(t, `(?m)^urn:dev:lw-1 update result 8 \(failed\)$`, 1)
	lwRun.waitOutput(t, `(?m)^urn:dev:lw-\d download done$`, 3)

	interrupt(t, dmRun, lwRun)
	t.Logf("dm:\n%slwm2m:\n%s", dmRun.out.String(), lwRun.out.String())
	for _, r := range []struct {
		run  *simRun
		want string
	}{
		{dmRun, "summary: 3 dm devices: 2 updated, 1 failed, 0 without a result\n"},
		{lwRun, "summary: 3 lwm2m devices: 2 updated, 1 failed, 0 without a result\n"},
	} {
		if r.run.code != 0 || !strings.HasSuffix(r.run.out.String(), r.want) {
			t.Errorf("exit %d, want 0 and %q:\n%s%s", r.run.code, r.want, r.run.out.String(), r.run.errs.String())
		}
	}
}

func hasNative(j fleet.Job, code int) bool {
	for _, n := range j.Native {
		if n.Code == code {
			return true
		}
	}
	return false
}

// TestSim_DMPoll: with no Package 0, a polling DM device (XML, basic
// authentication) finds its job in a periodic session; the run ends with
// its context (main's, on a signal).
func TestSim_DMPoll(t *testing.T) {
	g := simGateway(t, nil)
	args := []string{"dm", "--prefix", "poller-", "--auth", "basic", "--encoding", "xml"}
	provision(t, g, args...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := startSimContext(ctx, append(args, "--gateway", "http://"+g.HTTPAddr+"/dm", "--poll", "200ms", "--push-listen", "")...)
	run.waitOutput(t, `(?m)^poller-1 session client-initiated$`, 1)
	if _, err := g.Bridge.CreateJob(context.Background(), bridge.JobRequest{ID: "j1", DeviceID: "poller-1", PackageID: "fw2"}); err != nil {
		t.Fatal(err)
	}
	if j := waitJobs(t, g, []string{"j1"})["j1"]; j.State != fleet.JobSucceeded {
		t.Fatalf("job %s (%s): %+v", j.State, j.Reason, j.History)
	}
	run.waitOutput(t, `(?m)^poller-1 update result 200 \(firmware 2\.0\)$`, 1)
	cancel()
	select {
	case <-run.done:
	case <-time.After(time.Minute):
		t.Fatal("the run did not end with its context")
	}
	if out := run.out.String(); run.code != 0 || strings.Contains(out, "push:") || !strings.HasSuffix(out, "summary: 1 dm devices: 1 updated, 0 failed, 0 without a result\n") {
		t.Errorf("exit %d:\n%s%s", run.code, out, run.errs.String())
	}
}

// TestSim_ForEnds: --for ends a run by itself; --quiet leaves only the
// summary; a device the gateway does not know does not start (exit 1).
func TestSim_ForEnds(t *testing.T) {
	g := simGateway(t, nil)
	provision(t, g, "lwm2m", "--count", "2")
	udp := g.LwM2M.UDPAddr().String()
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{name: "quiet", args: []string{"lwm2m", "--count", "2", "--quiet", "--gateway", udp, "--for", "300ms"}, code: 0,
			out: "summary: 2 lwm2m devices: 0 updated, 0 failed, 2 without a result\n"},
		{name: "unknown lwm2m device", args: []string{"lwm2m", "--first", "7", "--gateway", udp, "--for", "300ms"}, code: 1,
			out: "summary: 1 lwm2m devices: 0 updated, 0 failed, 1 without a result, 1 did not start\n"},
		{name: "unknown dm device", args: []string{"dm", "--gateway", "http://" + g.HTTPAddr + "/dm", "--push-listen", "", "--for", "300ms"}, code: 1,
			out: "summary: 1 dm devices: 0 updated, 0 failed, 1 without a result, 1 did not start\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := startSim(tc.args...)
			select {
			case <-run.done:
			case <-time.After(2 * time.Minute):
				t.Fatal("--for did not end the run")
			}
			out := run.out.String()
			if run.code != tc.code || !strings.HasSuffix(out, tc.out) {
				t.Errorf("exit %d (want %d), want output ending %q:\n%s%s", run.code, tc.code, tc.out, out, run.errs.String())
			}
			if tc.code == 0 && out != tc.out {
				t.Errorf("--quiet printed events:\n%s", out)
			}
		})
	}
}

// TestSim_PrintDevices: the JSON names, credentials and keys follow the
// documented patterns.
func TestSim_PrintDevices(t *testing.T) {
	code, out, errs := runSimCLI("dm", "--count", "2", "--first", "10", "--password-prefix", "secret-", "--print-devices")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var dms []simDevice
	if err := json.Unmarshal([]byte(out), &dms); err != nil || len(dms) != 2 {
		t.Fatalf("%v:\n%s", err, out)
	}
	if d := dms[1]; d.ID != "dm-11" || d.Protocol != "dm" || d.DM.Username != "dm-11" || d.DM.Password != "secret-dm-11" ||
		d.DM.DeviceID != "dm-11" || d.DM.Auth != "md5" || d.DM.ServerID != "fumo-gw" || d.FirmwareVersion != "1.0" || d.LwM2M != nil {
		t.Errorf("dm device %+v %+v", d, d.DM)
	}
	code, out, _ = runSimCLI("lwm2m", "--psk-key", "0a0b", "--print-devices")
	var lws []simDevice
	if err := json.Unmarshal([]byte(out), &lws); code != 0 || err != nil || len(lws) != 1 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if d := lws[0]; d.ID != "urn:dev:lw-1" || d.Protocol != "lwm2m" || d.LwM2M.Endpoint != d.ID || d.LwM2M.PSKIdentity != d.ID || d.LwM2M.PSKKeyHex != "0a0b" || d.DM != nil {
		t.Errorf("lwm2m device %+v %+v", d, d.LwM2M)
	}
	code, out, _ = runSimCLI("lwm2m", "--print-devices")
	if code != 0 || strings.Contains(out, "psk") {
		t.Errorf("exit %d, psk without --psk-key:\n%s", code, out)
	}
}

// TestSim_Usage: bad arguments exit 2 with the usage; help exits 0.
func TestSim_Usage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "no protocol", args: nil, code: 2, want: "want dm or lwm2m"},
		{name: "unknown protocol", args: []string{"coap"}, code: 2, want: "want dm or lwm2m"},
		{name: "no gateway", args: []string{"dm"}, code: 2, want: "--gateway is required"},
		{name: "dm gateway not a URL", args: []string{"dm", "--gateway", "127.0.0.1:8080"}, code: 2, want: "DM endpoint's URL"},
		{name: "lwm2m gateway a URL", args: []string{"lwm2m", "--gateway", "coap://127.0.0.1:5683"}, code: 2, want: "host:port"},
		{name: "count", args: []string{"dm", "--count", "0", "--print-devices"}, code: 2, want: "--count"},
		{name: "fail over count", args: []string{"lwm2m", "--count", "2", "--fail", "3", "--print-devices"}, code: 2, want: "--fail must be 0..2"},
		{name: "dm fail code", args: []string{"dm", "--fail-code", "8", "--print-devices"}, code: 2, want: "401, 402, 410 or 503"},
		{name: "lwm2m fail code", args: []string{"lwm2m", "--fail-code", "410", "--print-devices"}, code: 2, want: "2, 4, 5, 6 or 8"},
		{name: "encoding", args: []string{"dm", "--encoding", "json", "--print-devices"}, code: 2, want: "--encoding"},
		{name: "auth", args: []string{"dm", "--auth", "none", "--print-devices"}, code: 2, want: "--auth"},
		{name: "psk key", args: []string{"lwm2m", "--psk-key", "xyz", "--print-devices"}, code: 2, want: "--psk-key"},
		{name: "unknown flag", args: []string{"dm", "--nope"}, code: 2, want: "flag provided but not defined"},
		{name: "help", args: []string{"-h"}, code: 0, want: "usage: fumo-gw sim"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runSimCLI(tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s%s", code, tc.code, tc.want, out, errs)
			}
			if tc.code == 2 && !strings.Contains(errs, "usage: fumo-gw sim") {
				t.Errorf("no usage on stderr: %s", errs)
			}
		})
	}
}
