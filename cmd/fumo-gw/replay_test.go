package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/replay"
	"github.com/fumo-gw/fumo-gw/replay/scenario"
)

const scenarios = "../../testdata/syncml"

func runReplayCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runReplay(args, &out, &errb)
	return code, out.String(), errb.String()
}

// copyScenario copies a recorded folder into a temporary one.
func copyScenario(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(scenarios, name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestReplay_RecordedScenarios: every folder with a setup.json replays
// against the in-process gateway, one line per message; the folder
// without one is refused with a pointer to the README.
func TestReplay_RecordedScenarios(t *testing.T) {
	entries, err := os.ReadDir(scenarios)
	if err != nil {
		t.Fatal(err)
	}
	replayed := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			dir := filepath.Join(scenarios, e.Name())
			msgs, err := replay.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			code, out, errs := runReplayCLI(dir)
			if setup, err := scenario.Load(dir); err != nil {
				t.Fatal(err)
			} else if setup.DecodeOnly != "" {
				if code != 0 || !strings.Contains(out, "decode-only, not replayed") {
					t.Fatalf("decode-only folder: exit %d\n%s%s", code, out, errs)
				}
				t.Skip("decode-only: " + setup.DecodeOnly)
			}
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != len(msgs) {
				t.Fatalf("%d lines for %d messages:\n%s", len(lines), len(msgs), out)
			}
			for i, m := range msgs {
				want := m.Seq() + " c2s sent"
				if !m.FromClient {
					want = m.Seq() + " s2c matches"
				}
				if lines[i] != want {
					t.Errorf("line %d: %q, want %q", i+1, lines[i], want)
				}
			}
			replayed++
		})
	}
	if replayed < 3 {
		t.Errorf("%d folders replayed, want at least 3", replayed)
	}
}

// TestReplay_AlteredServerMessage: a recorded server message changed by
// hand is reported by its number, with a diff, after the messages before
// it passed.
func TestReplay_AlteredServerMessage(t *testing.T) {
	tests := []struct {
		name, folder, file, from, to, seq string
	}{
		{name: "status code", folder: "fumo-pull-md5", file: "006-s2c.xml", from: "<Data>200</Data>", to: "<Data>500</Data>", seq: "006"},
		{name: "queued command", folder: "dm-session-md5", file: "002-s2c.xml", from: "./DevDetail/FwV", to: "./DevDetail/SwV", seq: "002"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyScenario(t, tc.folder)
			path := filepath.Join(dir, tc.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(tc.from)) {
				t.Fatalf("%s holds no %q", tc.file, tc.from)
			}
			if err := os.WriteFile(path, bytes.Replace(b, []byte(tc.from), []byte(tc.to), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runReplayCLI(dir)
			t.Logf("stdout:\n%s", out)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
			}
			if !strings.Contains(out, tc.seq+" s2c differs") || !strings.Contains(errs, "message "+tc.seq+" differs") {
				t.Errorf("message %s not reported:\nstdout:\n%s\nstderr:\n%s", tc.seq, out, errs)
			}
			if !strings.Contains(out, "- ") || !strings.Contains(out, "+ ") || !strings.Contains(out, tc.to) {
				t.Errorf("no diff showing %q:\n%s", tc.to, out)
			}
			n, _ := strconv.Atoi(tc.seq)
			if before := fmt.Sprintf("%03d c2s sent\n", n-1); !strings.HasPrefix(out, "001 c2s sent\n") || !strings.Contains(out, before) {
				t.Errorf("earlier messages not listed (%q):\n%s", before, out)
			}
		})
	}
}

// TestReplay_Target replays against a gateway the test starts and sets
// up itself; a gateway without the setup refuses the device.
func TestReplay_Target(t *testing.T) {
	dir := filepath.Join(scenarios, "fumo-pull-md5")
	t.Run("set up", func(t *testing.T) {
		setup, err := scenario.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		g := startScenarioGateway(t, setup)
		code, out, errs := runReplayCLI("--target", g.URL, dir)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		if !strings.Contains(out, "008 s2c matches") {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("not set up", func(t *testing.T) {
		g := startScenarioGateway(t, &scenario.Setup{})
		code, out, errs := runReplayCLI(dir, "--target", g.URL)
		if code != 1 || !strings.Contains(out, "002 s2c differs") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
	})
}

func startScenarioGateway(t *testing.T, setup *scenario.Setup) *scenario.Gateway {
	t.Helper()
	g, err := scenario.Start(context.Background(), scenario.Config{StorePath: filepath.Join(t.TempDir(), "gw.db"), Setup: setup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// decodeOnlySetup is the setup the libwbxml2 scenario would carry if its
// folder could hold a setup.json (see testdata/syncml/README.md): the
// credentials match, the gateway's package 2 does not.
const decodeOnlySetup = `{
  "decode_only": "002 was written by hand for the codec vectors, not by fumo-gw",
  "nonces": ["dobehave\r\n"],
  "packages": [{"id": "7d1f", "name": "widget-fw", "version": "2.4.1", "size": 4096}],
  "devices": [{"id": "widget-7", "dm_device_id": "IMEI:493005100592800", "firmware_version": "2.3.0", "auth": "md5",
    "username": "Bruce2", "password": "OhBehave", "client_nonce": "Nonce",
    "server_id": "funambol", "server_password": "srvpwd", "fumo_root": "./FwUpdate/fw1"}],
  "jobs": [{"id": "job-7d1f-0001", "device": "widget-7", "package": "7d1f"}]
}`

// TestReplay_DecodeOnly: a decode_only folder is decoded (exit 0, reason
// printed); --force replays it and shows the first difference, which for
// the libwbxml2 vectors is the RespURI form, after the credentials
// matched.
func TestReplay_DecodeOnly(t *testing.T) {
	dir := copyScenario(t, "fumo-download-and-update")
	if err := os.WriteFile(filepath.Join(dir, scenario.FileName), []byte(decodeOnlySetup), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runReplayCLI(dir)
	if code != 0 || !strings.Contains(out, "001 c2s decoded (wbxml)") || !strings.Contains(out, "002 s2c decoded (xml)") ||
		!strings.Contains(out, "decode-only, not replayed: 002 was written by hand") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runReplayCLI("--force", dir)
	if code != 1 || !strings.Contains(out, "002 s2c differs") || !strings.Contains(out, "-     <RespURI>http://gateway/dm?s=3F2</RespURI>") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if strings.Contains(out, "<Cred>\n-") || strings.Contains(out, "+       <Data>") {
		t.Errorf("credentials differ:\n%s", out)
	}
}

// TestReplay_Usage: bad arguments exit 2 with the usage; help exits 0.
func TestReplay_Usage(t *testing.T) {
	dir := filepath.Join(scenarios, "dm-session-md5")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "no folder", args: nil, code: 2, want: "want one folder"},
		{name: "two folders", args: []string{dir, dir}, code: 2, want: "want one folder"},
		{name: "unknown flag", args: []string{"--nope", dir}, code: 2, want: "flag provided but not defined"},
		{name: "target not a URL", args: []string{"--target", "127.0.0.1:8080", dir}, code: 2, want: "not an http(s) URL"},
		{name: "bad timeout", args: []string{"--timeout", "-1s", dir}, code: 2, want: "--timeout"},
		{name: "missing folder", args: []string{filepath.Join(t.TempDir(), "nothing")}, code: 1, want: "no such file"},
		{name: "empty folder", args: []string{t.TempDir()}, code: 1, want: "no NNN-c2s/NNN-s2c messages"},
		{name: "help", args: []string{"-h"}, code: 0, want: "usage: fumo-gw replay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runReplayCLI(tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s%s", code, tc.code, tc.want, out, errs)
			}
			if tc.code == 2 && !strings.Contains(errs, "usage: fumo-gw replay") {
				t.Errorf("no usage on stderr: %s", errs)
			}
		})
	}
}
