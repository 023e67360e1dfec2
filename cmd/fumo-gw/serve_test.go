package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
	"github.com/fumo-gw/fumo-gw/store"
)

// TestMain lets the tests run this binary as fumo-gw itself: with
// FUMO_GW_AS_MAIN set, it is the command, its arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("FUMO_GW_AS_MAIN") != "" {
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		os.Args = append([]string{"fumo-gw"}, args...)
		main()
		return
	}
	os.Exit(m.Run())
}

// fumoGW runs the command as its own process.
func fumoGW(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "FUMO_GW_AS_MAIN=1")
	return cmd
}

// cli runs a client sub-command against the served API and returns its
// standard output; it fails the test on a non-zero exit.
func cli(t *testing.T, api, token string, args ...string) string {
	t.Helper()
	cmd := fumoGW(args...)
	cmd.Env = append(cmd.Env, "FUMO_GW_API="+api, "FUMO_GW_TOKEN="+token)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("fumo-gw %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// TestServeProcess boots fumo-gw serve as a process on 127.0.0.1:0 ports
// with a fresh data directory, drives a mixed campaign only through the
// CLI (devices are simulated here), then stops it with SIGTERM: it exits
// 0 and leaves a consistent store with everything it did.
func TestServeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	dir := t.TempDir()
	push := sim.NewPushGateway()
	go func() {
		for range push.Errors {
		}
	}()
	ps := httptest.NewServer(push)
	defer ps.Close()

	srv := fumoGW("serve", "-data-dir", dir, "-http-addr", "127.0.0.1:0", "-coap-addr", "127.0.0.1:0", "-coaps-addr", "127.0.0.1:0",
		"-api-addr", "127.0.0.1:0", "-log-format", "json")
	srv.Env = append(srv.Env, "FUMO_GW_PUSH_URL="+ps.URL) // an environment setting
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		if srv.ProcessState == nil {
			_ = srv.Process.Kill()
		}
	}()

	// The token (printed once) and the addresses.
	serving := regexp.MustCompile(`api=(\S+) dm=(\S+) coap=(\S+)`)
	var token, apiURL, dmURL, coap string
	sc := bufio.NewScanner(stdout)
	for apiURL == "" && sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := serving.FindStringSubmatch(line); m != nil {
			apiURL, dmURL, coap = m[1], m[2], m[3]
		} else if len(line) == 48 && !strings.Contains(line, " ") {
			token = line
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if token == "" || apiURL == "" {
		t.Fatalf("serve printed no token or addresses; log:\n%s", logs.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "api-token")); strings.TrimSpace(string(b)) != token {
		t.Fatal("the printed token is not the kept one")
	}

	// A package, through the CLI.
	img := bytes.Repeat([]byte("fumo-gw serve test image "), 2000)
	sum := sha256.Sum256(img)
	digest := hex.EncodeToString(sum[:])
	imgFile := filepath.Join(t.TempDir(), "fw.bin")
	if err := os.WriteFile(imgFile, img, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := cli(t, apiURL, token, "package", "add", "-id", "fw2", "-version", "2.0", imgFile); !strings.Contains(out, "package fw2 stored") {
		t.Fatalf("package add: %s", out)
	}

	// Devices: provisioned through the CLI, simulated here.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var ids []string
	for i := 1; i <= 3; i++ {
		id := "dm-" + string(rune('0'+i))
		cli(t, apiURL, token, "device", "add", "-id", id, "-protocol", "dm", "-fw", "1.0", "-dm-id", "IMEI:"+id, "-username", id, "-password", "pw-"+id,
			"-server-id", "fumo-gw", "-server-password", "srv")
		d := &sim.DMDevice{ServerURL: dmURL, DevID: "IMEI:" + id, Username: id, Password: "pw-" + id, Auth: "md5",
			ServerID: "fumo-gw", ServerPassword: "srv", Encoding: syncml.EncodingWBXML}
		d.SetNode("./DevDetail/FwV", []byte("1.0"))
		d.EnableFUMO(&sim.FUMO{ExpectSHA256: digest})
		if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil {
			t.Fatalf("session of %s: %v", id, err)
		}
		push.Add(d)
		ids = append(ids, id)

		lw := "lw-" + string(rune('0'+i))
		cli(t, apiURL, token, "device", "add", "-id", lw, "-protocol", "lwm2m", "-fw", "1.0", "-endpoint", "urn:dev:"+lw)
		ld := &sim.LwM2MDevice{Endpoint: "urn:dev:" + lw, Server: coap, Firmware: &sim.LwM2MFirmware{ExpectSHA256: digest}}
		if err := ld.Start(ctx); err != nil {
			t.Fatalf("register %s: %v", lw, err)
		}
		defer ld.Kill()
		ids = append(ids, lw)
	}
	if out := cli(t, apiURL, token, "device", "list", "-protocol", "lwm2m"); strings.Count(out, "registered") != 3 || strings.Contains(out, "not registered") {
		t.Fatalf("device list:\n%s", out)
	}

	// The campaign: created and started, watched to the end.
	cli(t, apiURL, token, "campaign", "create", "-id", "c1", "-package", "fw2", "-devices", strings.Join(ids, ","), "-start")
	watch := cli(t, apiURL, token, "campaign", "watch", "c1")
	if !strings.Contains(watch, "campaign c1 done") || !strings.Contains(watch, "succeeded 6") {
		t.Fatalf("watch:\n%s", watch)
	}
	var p bridge.Progress
	if err := json.Unmarshal([]byte(cli(t, apiURL, token, "campaign", "show", "-json", "c1")), &p); err != nil || p.Jobs[fleet.JobSucceeded] != 6 {
		t.Fatalf("campaign show: %+v %v", p, err)
	}
	if out := cli(t, apiURL, token, "device", "show", "lw-2"); !strings.Contains(out, `firmware "2.0"`) {
		t.Fatalf("device show: %s", out)
	}

	// Metrics, without the token.
	resp, err := http.Get(apiURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`fumo_jobs{state="succeeded"} 6`, "fumo_lwm2m_registrations 3", `fumo_download_bytes_total{protocol="http"}`} {
		if !strings.Contains(string(mb), want) {
			t.Fatalf("metrics lack %q:\n%s", want, mb)
		}
	}

	// SIGTERM: a clean exit, and a store that opens, checks and holds the
	// campaign.
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30 s after SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", logs.String())
	}
	st, err := store.Open(filepath.Join(dir, "fumo-gw.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	c, err := st.Campaign(context.Background(), "c1")
	if err != nil || c.State != fleet.CampaignDone {
		t.Fatalf("stored campaign: %+v %v", c, err)
	}
}

// TestServeConfig: a flag beats the environment, which beats the config
// file, which beats the default; unknown keys and bad values are refused.
func TestServeConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fumo-gw.json")
	if err := os.WriteFile(file, []byte(`{"http-addr": "127.0.0.1:9001", "api-addr": "127.0.0.1:9002", "coap-addr": "127.0.0.1:9003"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FUMO_GW_API_ADDR": "127.0.0.1:9102", "FUMO_GW_COAP_ADDR": "127.0.0.1:9103"}
	var errb bytes.Buffer
	cfg, err := loadServeConfig([]string{"-config", file, "-coap-addr", "127.0.0.1:9203"}, &errb, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"http-addr": "127.0.0.1:9001", "api-addr": "127.0.0.1:9102", "coap-addr": "127.0.0.1:9203", "dm-path": "/dm", "log-format": "text"} {
		if cfg[k] != want {
			t.Errorf("%s = %q, want %q", k, cfg[k], want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(`{"colour": "red"}`), 0o600)
	for _, args := range [][]string{{"-config", bad}, {"-no-such-flag"}, {"extra"}} {
		if _, err := loadServeConfig(args, &errb, func(string) string { return "" }); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	var out bytes.Buffer
	for _, args := range [][]string{{"serve", "-log-format", "xml"}, {"serve", "-log-level", "loud"}, {"serve", "-shutdown-timeout", "soon", "-data-dir", t.TempDir()},
		{"serve", "-http-conns-per-source", "-1", "-data-dir", t.TempDir()}, {"serve", "-coap-rate-per-source", "fast", "-data-dir", t.TempDir()},
		{"serve", "-coap-rate-per-source", "NaN", "-data-dir", t.TempDir()}, {"serve", "-coap-burst-per-source", "0", "-data-dir", t.TempDir()},
		{"serve", "-coap-conns-per-source", "1.5", "-data-dir", t.TempDir()},
		{"serve", "-dm-report-timeout", "soon", "-data-dir", t.TempDir()}, {"serve", "-dm-session-timeout", "", "-data-dir", t.TempDir()},
		{"serve", "-step-timeout-updating", "-1h", "-data-dir", t.TempDir()}, {"serve", "-step-timeout-delivering", "two hours", "-data-dir", t.TempDir()},
		{"serve", "-progress-floor", "x", "-data-dir", t.TempDir()}, {"serve", "-progress-rate", "0", "-data-dir", t.TempDir()}} {
		if code := run(context.Background(), args, nil, &out, &errb); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}

// TestClientErrors: usage errors exit 2, API errors 1 with the API's
// message.
func TestClientErrors(t *testing.T) {
	var out, errb bytes.Buffer
	t.Setenv("FUMO_GW_TOKEN", "")
	if code := run(context.Background(), []string{"job", "show", "-data-dir", t.TempDir(), "j1"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "no token") {
		t.Fatalf("no token: %d %s", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"job", "dance"}, nil, &out, &errb); code != 2 {
		t.Fatalf("unknown verb: %d", code)
	}
	errb.Reset()
	if code := run(context.Background(), []string{"job", "show", "-token", "t", "-api", "http://127.0.0.1:1", "a", "b"}, nil, &out, &errb); code != 2 {
		t.Fatalf("two ids: %d %s", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"job", "show", "-token", "t", "-api", "http://127.0.0.1:1", "j1"}, nil, &out, &errb); code != 1 {
		t.Fatalf("unreachable API: %d %s", code, errb.String())
	}
}
