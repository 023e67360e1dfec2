package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/loadtest"
)

// TestBench runs every scenario of the load tool at a toy size: each
// must run against its baseline, the fleet ones against a child gateway
// process, and the table and the JSON must carry every row. (The figures
// are the benchmark's business: docs/benchmarks.md.)
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	selfCommand = func(args ...string) *exec.Cmd { return fumoGW(args...) }
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "-concurrency", "4", "-duration", "300ms", "-rounds", "1", "-devices", "8",
		"-image", "8192", "-fleet", "6", "-idle", "6", "-in-flight", "6", "-dtls", "0.5", "-json", out}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	for _, row := range []string{"lwm2m-register", "lwm2m-block2", "dm-session", "store-transitions", "campaign", "idle", "gateway peak RSS MiB"} {
		if !strings.Contains(stdout.String(), row) {
			t.Errorf("table has no %q:\n%s", row, stdout.String())
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []loadtest.Result `json:"results"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != 6 {
		t.Fatalf("%d results in the JSON", len(doc.Results))
	}
	for _, r := range doc.Results {
		if r.Value <= 0 || !strings.HasPrefix(r.Command, "fumo-gw bench ") {
			t.Errorf("%s: value %v, command %q", r.Scenario, r.Value, r.Command)
		}
		if r.Scenario == "campaign" && (r.Extra["succeeded"] != 6 || r.Extra["gateway peak RSS MiB"] <= 0 || r.Params["dtls"] != 0.5) {
			t.Errorf("campaign: %v %v", r.Extra, r.Params)
		}
	}
}

// TestBenchBounds: out-of-bounds runs and non-loopback targets are
// refused before anything starts.
func TestBenchBounds(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-api", "http://192.0.2.1:8081", "campaign"},
		{"bench", "-coap", "10.0.0.1:5683", "campaign"},
		{"bench", "nosuch"},
		{"bench", "-concurrency", "100000", "-json", "", "register"},
		{"bench", "-fleet", "50000", "-json", "", "campaign"},
		{"bench", "-dtls", "2", "-json", "", "campaign"},
		{"bench", "-coaps", "198.51.100.1:5684", "campaign"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, nil, &stdout, &stderr); code == 0 {
			t.Errorf("%v: exit 0", args)
		} else if stderr.Len() == 0 {
			t.Errorf("%v: no error message", args)
		}
	}
}
