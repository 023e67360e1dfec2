package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/sim"
)

const token = "test-token-0123456789abcdef"

// covered records the routes the tests exercised (TestMain checks every
// route was).
var covered = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

var allRoutes []api.Route

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && len(allRoutes) > 0 && !testing.Short() && os.Getenv("FUMO_API_PARTIAL") == "" {
		var missing []string
		for _, r := range allRoutes {
			if !covered.m[r.Method+" "+r.Path] {
				missing = append(missing, r.Method+" "+r.Path)
			}
		}
		if len(missing) > 0 && runAll() {
			sort.Strings(missing)
			os.Stderr.WriteString("routes no test exercised:\n  " + strings.Join(missing, "\n  ") + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// runAll tells whether the whole package's tests ran (no -run filter).
func runAll() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.run") {
			return false
		}
	}
	return true
}

type harness struct {
	t     testing.TB
	gw    *gateway.Gateway
	api   *api.API
	srv   *httptest.Server
	push  *sim.PushGateway
	img   []byte
	sum   string
	lws   map[string]*sim.LwM2MDevice
	dms   map[string]*sim.DMDevice
	mutex sync.Mutex
}

func newHarness(t testing.TB, mutate func(*api.Config)) *harness {
	h := &harness{t: t, push: sim.NewPushGateway(), lws: map[string]*sim.LwM2MDevice{}, dms: map[string]*sim.DMDevice{}}
	ps := httptest.NewServer(h.push)
	t.Cleanup(ps.Close)
	go func() {
		for range h.push.Errors {
		}
	}()
	lc := lwm2m.DefaultConfig()
	lc.UDPAddr, lc.DTLSAddr = "127.0.0.1:0", ""
	lc.RequestTimeout = 5 * time.Second
	cfg := gateway.Config{StorePath: filepath.Join(t.TempDir(), "gw.db"), HTTPAddr: "127.0.0.1:0", LwM2M: &lc,
		SigningKey: []byte("a signing key of the test gateway"), Tick: 100 * time.Millisecond, PollInterval: 300 * time.Millisecond,
		Retry: bridge.RetryPolicy{Backoff: 100 * time.Millisecond}, Notifier: &dm.HTTPNotifier{URL: ps.URL}}
	if os.Getenv("FUMO_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	gw, err := gateway.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	h.gw = gw
	acfg := api.Config{Gateway: gw, Token: token, Logger: cfg.Logger, RequestTimeout: 5 * time.Second}
	if mutate != nil {
		mutate(&acfg)
	}
	if h.api, err = api.New(acfg); err != nil {
		t.Fatal(err)
	}
	allRoutes = h.api.Routes()
	h.srv = httptest.NewServer(recordRoutes(h.api))
	t.Cleanup(h.srv.Close)
	h.img = make([]byte, 20000)
	for i := range h.img {
		h.img[i] = byte(i * 7)
	}
	s := sha256.Sum256(h.img)
	h.sum = hex.EncodeToString(s[:])
	return h
}

// recordRoutes marks the route each request matched as covered (on the
// escaped path, as the router matches).
func recordRoutes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, rt := range allRoutes {
			if rt.Method == r.Method && templateRE(rt.Path).MatchString(r.URL.EscapedPath()) {
				covered.Lock()
				covered.m[rt.Method+" "+rt.Path] = true
				covered.Unlock()
				break
			}
		}
		next.ServeHTTP(w, r)
	})
}

func templateRE(p string) *regexp.Regexp {
	re := regexp.QuoteMeta(p)
	re = strings.ReplaceAll(re, `\{path\}`, `.+`)
	re = regexp.MustCompile(`\\\{[a-z]+\\\}`).ReplaceAllString(re, `[^/]+`)
	return regexp.MustCompile("^" + re + "$")
}

// call sends a request with the token; body is JSON-encoded unless it is
// an io.Reader. It returns the status and the body.
func (h *harness) call(method, path string, body any, hdr ...string) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// ok calls and fails the test unless the status is want; the body is
// decoded into out when out is not nil.
func (h *harness) ok(want int, method, path string, body, out any) {
	h.t.Helper()
	code, b := h.call(method, path, body)
	if code != want {
		h.t.Fatalf("%s %s: %d %s (want %d)", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// apiError checks an error answer: status and stable code.
func (h *harness) apiError(status int, code string, method, path string, body any, hdr ...string) {
	h.t.Helper()
	got, b := h.call(method, path, body, hdr...)
	var e api.ErrorBody
	if err := json.Unmarshal(b, &e); err != nil || got != status || e.Error.Code != code || e.Error.Message == "" {
		h.t.Fatalf("%s %s: %d %s, want %d with code %q", method, path, got, b, status, code)
	}
}

// dump is the store's content, to show a refused request stored nothing.
func (h *harness) dump() string {
	h.t.Helper()
	var b bytes.Buffer
	if err := h.gw.Store.Dump(&b); err != nil {
		h.t.Fatal(err)
	}
	return b.String()
}

func (h *harness) upload(id string) {
	h.t.Helper()
	code, b := h.call(http.MethodPost, "/api/v1/packages?id="+id+"&name=rocket&version=2.0&sha256="+h.sum, bytes.NewReader(h.img), "Content-Type", "application/octet-stream")
	if code != http.StatusCreated {
		h.t.Fatalf("upload: %d %s", code, b)
	}
}

// addDM provisions a DM device through the API and starts its simulator.
func (h *harness) addDM(id string, fault sim.Fault) {
	h.t.Helper()
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/devices", api.DeviceRequest{ID: id, Protocol: "dm", Model: "Rocket-DM", FirmwareVersion: "1.0",
		DM: &api.DMSettings{DeviceID: "IMEI:" + id, Auth: "md5", Username: id, Password: "pw-" + id, ServerID: "fumo-gw", ServerPassword: "srv", FUMORoot: "./FwUpdate/1"}}, nil)
	d := &sim.DMDevice{ServerURL: "http://" + h.gw.HTTPAddr + "/dm", DevID: "IMEI:" + id, Username: id, Password: "pw-" + id, Auth: "md5",
		ServerID: "fumo-gw", ServerPassword: "srv", Encoding: syncml.EncodingWBXML}
	d.SetNode("./DevInfo/Mod", []byte("Rocket-DM"))
	d.SetNode("./DevDetail/FwV", []byte("1.0"))
	d.EnableFUMO(&sim.FUMO{ExpectSHA256: h.sum, Fault: fault})
	if _, err := d.Session(context.Background(), sim.SessionOptions{}); err != nil {
		h.t.Fatalf("first session of %s: %v", id, err)
	}
	h.push.Add(d)
	h.mutex.Lock()
	h.dms[id] = d
	h.mutex.Unlock()
}

// addLwM2M provisions an LwM2M device through the API and registers it.
func (h *harness) addLwM2M(id string, fault sim.LwM2MFault) {
	h.t.Helper()
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/devices", api.DeviceRequest{ID: id, Protocol: "lwm2m", Model: "Rocket-L", FirmwareVersion: "1.0",
		LwM2M: &api.LwM2MSettings{Endpoint: "urn:dev:" + id}}, nil)
	d := &sim.LwM2MDevice{Endpoint: "urn:dev:" + id, Server: h.gw.LwM2M.UDPAddr().String(), Model: "Rocket-L",
		Firmware: &sim.LwM2MFirmware{ExpectSHA256: h.sum, Fault: fault}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		h.t.Fatalf("register %s: %v", id, err)
	}
	h.t.Cleanup(d.Kill)
	// The gateway reads Object 3 after the Register and stores it: wait
	// for it, so that a test comparing the store before and after a
	// refused request sees no write of its.
	eventually(h.t, id+"'s inventory stored", func() bool {
		dev, err := h.gw.Store.Device(ctx, id)
		return err == nil && dev.LwM2M != nil && dev.LwM2M.Inventory != nil
	})
	h.mutex.Lock()
	h.lws[id] = d
	h.mutex.Unlock()
}

// eventually polls cond until it holds (generous deadline: the machine's
// speed must not matter).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
