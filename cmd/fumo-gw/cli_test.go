package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/api/client"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/lwm2m"
)

const cliToken = "cli-test-token-0123456789"

// apiServer runs a gateway and its API on loopback ports for the client
// commands; it returns the API's URL and a client of it.
func apiServer(t *testing.T) (string, *client.Client) {
	t.Helper()
	base, c, _ := apiGateway(t)
	return base, c
}

// apiGateway is apiServer that also returns the gateway.
func apiGateway(t *testing.T) (string, *client.Client, *gateway.Gateway) {
	t.Helper()
	lc := lwm2m.DefaultConfig()
	lc.UDPAddr, lc.DTLSAddr = "127.0.0.1:0", ""
	g, err := gateway.Open(context.Background(), gateway.Config{StorePath: filepath.Join(t.TempDir(), "gw.db"), HTTPAddr: "127.0.0.1:0",
		LwM2M: &lc, SigningKey: []byte("the CLI test's signing key"), Tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	a, err := api.New(api.Config{Gateway: g, Token: cliToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL, &client.Client{Base: srv.URL, Token: cliToken}, g
}

// TestCLI_Settings drives the server credential type, per-model settings
// and the verification switch through the client commands, flags after
// the arguments included, and reads each back through the API.
func TestCLI_Settings(t *testing.T) {
	base, c := apiServer(t)
	ctx := context.Background()
	img := filepath.Join(t.TempDir(), "fw.bin")
	if err := os.WriteFile(img, []byte("a firmware image for the CLI test"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := false
	steps := []struct {
		name    string
		args    []string
		code    int
		out     string // in stdout (code 0) or stderr
		checkFn func(t *testing.T, stdout string)
	}{
		{"package add -verify=false", []string{"package", "add", "-id", "fw2", "-version", "2.0", "-verify=false", img}, 0, "package fw2 stored", func(t *testing.T, out string) {
			if !strings.Contains(out, "(verify off)") {
				t.Fatalf("no verify note: %s", out)
			}
			ps, err := c.Packages(ctx)
			if err != nil || len(ps) != 1 || !sameBool(ps[0].Verify, &f) {
				t.Fatalf("packages: %+v %v", ps, err)
			}
		}},
		{"package add", []string{"package", "add", "-id", "fw3", "-version", "3.0", img}, 0, "package fw3 stored", func(t *testing.T, out string) {
			if strings.Contains(out, "verify") {
				t.Fatalf("verify note for an unset switch: %s", out)
			}
		}},
		{"package list", []string{"package", "list"}, 0, "VERIFY", func(t *testing.T, out string) {
			if !strings.Contains(out, "off") {
				t.Fatalf("package list: %s", out)
			}
		}},
		{"device add -server-auth", []string{"device", "add", "-id", "dm-1", "-protocol", "dm", "-dm-id", "IMEI:1", "-username", "dm-1", "-password", "pw",
			"-auth", "basic", "-server-id", "fumo-gw", "-server-password", "srv", "-server-auth", "md5"}, 0, "auth basic, server auth md5", func(t *testing.T, _ string) {
			d, err := c.Device(ctx, "dm-1")
			if err != nil || d.DM.Auth != fleet.DMAuthBasic || d.DM.ServerAuth != fleet.DMAuthMD5 {
				t.Fatalf("device: %+v %v", d.DM, err)
			}
		}},
		{"device add without -server-auth", []string{"device", "add", "-id", "dm-2", "-protocol", "dm", "-dm-id", "IMEI:2", "-username", "dm-2", "-password", "pw"}, 0, "auth md5,", func(t *testing.T, out string) {
			if strings.Contains(out, "server auth") {
				t.Fatalf("server auth shown unset: %s", out)
			}
		}},
		{"device add bad -server-auth", []string{"device", "add", "-id", "dm-3", "-protocol", "dm", "-dm-id", "IMEI:3", "-username", "dm-3", "-password", "pw",
			"-server-auth", "digest"}, 1, "bad_request", func(t *testing.T, _ string) {
			if _, err := c.Device(ctx, "dm-3"); !client.IsCode(err, api.CodeNotFound) {
				t.Fatalf("refused device stored: %v", err)
			}
		}},
		{"model set, flags after the model", []string{"model", "set", "test model", "-release", "fw2", "-fumo-root", "./FwUpdate/1"}, 0, `model "test model": release fw2, fumo root ./FwUpdate/1`, nil},
		{"model set with a slash, -json", []string{"model", "set", "-json", "a/b", "-release", "fw3"}, 0, `"model": "a/b"`, func(t *testing.T, out string) {
			var m fleet.ModelSettings
			if err := json.Unmarshal([]byte(out), &m); err != nil || m.Release != "fw3" || m.FUMORoot != "" {
				t.Fatalf("model set -json: %s %v", out, err)
			}
		}},
		{"model set unknown release", []string{"model", "set", "x", "-release", "nope"}, 1, "not_found", nil},
		{"model set bad fumo root", []string{"model", "set", "x", "-fumo-root", "FwUpdate"}, 1, "bad_request", nil},
		{"model set without a model", []string{"model", "set", "-release", "fw2"}, 2, "model set MODEL", nil},
		{"model list", []string{"model", "list"}, 0, "MODEL", func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[1], "a/b ") || !strings.Contains(lines[1], "fw3") ||
				!strings.HasPrefix(lines[2], "test model ") || !strings.Contains(lines[2], "./FwUpdate/1") {
				t.Fatalf("model list:\n%s", out)
			}
		}},
		{"model list -json", []string{"model", "list", "-json"}, 0, "", func(t *testing.T, out string) {
			var ms []fleet.ModelSettings
			if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 2 || ms[0].Model != "a/b" || ms[1].Model != "test model" {
				t.Fatalf("model list -json: %s %v", out, err)
			}
		}},
		{"model show", []string{"model", "show", "a/b"}, 0, `model "a/b": release fw3, fumo root -`, nil},
		{"model show -json", []string{"model", "show", "test model", "-json"}, 0, `"fumo_root": "./FwUpdate/1"`, nil},
		{"model show unknown", []string{"model", "show", "nope"}, 1, "not_found", nil},
		{"job create -verify=false", []string{"job", "create", "-id", "j1", "-device", "dm-1", "-package", "fw3", "-verify=false", "-json"}, 0, `"verify": false`, func(t *testing.T, _ string) {
			j, err := c.Job(ctx, "j1")
			if err != nil || !sameBool(j.Verify, &f) {
				t.Fatalf("job: %+v %v", j, err)
			}
		}},
		{"job show", []string{"job", "show", "j1"}, 0, "package fw3 (verify off)", nil},
		{"campaign create -verify=false", []string{"campaign", "create", "-id", "c1", "-package", "fw3", "-devices", "dm-2", "-verify=false"}, 0, "package fw3 (verify off)", func(t *testing.T, _ string) {
			p, err := c.Campaign(ctx, "c1")
			if err != nil || !sameBool(p.Campaign.Verify, &f) {
				t.Fatalf("campaign: %+v %v", p.Campaign, err)
			}
		}},
		{"campaign create -verify", []string{"campaign", "create", "-id", "c2", "-package", "fw3", "-devices", "dm-2", "-verify", "-json"}, 0, `"verify": true`, nil},
		{"campaign create -verify=maybe", []string{"campaign", "create", "-package", "fw3", "-devices", "dm-2", "-verify=maybe"}, 2, "invalid boolean", nil},
		{"model delete", []string{"model", "delete", "a/b"}, 0, `model "a/b": settings deleted`, func(t *testing.T, _ string) {
			if _, err := c.Model(ctx, "a/b"); !client.IsCode(err, api.CodeNotFound) {
				t.Fatalf("deleted model: %v", err)
			}
		}},
		{"model delete again", []string{"model", "delete", "a/b"}, 1, "not_found", nil},
		{"model delete two models", []string{"model", "delete", "a", "b"}, 2, "one model", nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, out, errs := runCLI(nil, append(s.args, "-api", base, "-token", cliToken)...)
			where := out
			if s.code != 0 {
				where = errs
			}
			if code != s.code || !strings.Contains(where, s.out) {
				t.Fatalf("fumo-gw %s: exit %d (want %d)\nstdout: %s\nstderr: %s", strings.Join(s.args, " "), code, s.code, out, errs)
			}
			if s.checkFn != nil {
				s.checkFn(t, out)
			}
		})
	}

	// The campaign's job carries the switch.
	if _, err := c.CampaignAction(ctx, "c1", "start"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		js, err := c.Jobs(ctx, url.Values{"campaign": {"c1"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(js) == 1 {
			if !sameBool(js[0].Verify, &f) {
				t.Fatalf("campaign job: %+v", js[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("campaign c1 started no job")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sameBool(a, b *bool) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
