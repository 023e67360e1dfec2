package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/api/client"
	"github.com/fumo-gw/fumo-gw/sim"
)

// TestCLI_DiscoverAndWriteAttributes drives LwM2M Discover and
// Write-Attributes through the client commands against a gateway and a
// simulated device; refused attributes are never sent.
func TestCLI_DiscoverAndWriteAttributes(t *testing.T) {
	base, c, g := apiGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.AddDevice(ctx, api.DeviceRequest{ID: "lw-1", Protocol: "lwm2m", LwM2M: &api.LwM2MSettings{Endpoint: "urn:dev:lw-1"}}); err != nil {
		t.Fatal(err)
	}
	d := &sim.LwM2MDevice{Endpoint: "urn:dev:lw-1", Server: g.LwM2M.UDPAddr().String()}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Kill)

	// The Go client first.
	l, err := c.LwM2MDiscover(ctx, "lw-1", "/3/0")
	if err != nil || l.Path != "/3/0" || len(l.Links) < 2 || l.Links[0].Path != "/3/0" {
		t.Fatalf("client discover: %+v %v", l, err)
	}
	pmin, pmax := 5, 1
	if err := c.LwM2MWriteAttributes(ctx, "lw-1", "3/0/9", api.LwM2MAttributes{PMin: &pmin, PMax: &pmax}); !client.IsCode(err, api.CodeBadRequest) {
		t.Fatalf("client write-attributes pmin > pmax: %v", err)
	}
	if _, err := c.LwM2MDiscover(ctx, "nope", "3/0"); !client.IsCode(err, api.CodeNotFound) {
		t.Fatalf("client discover of an unknown device: %v", err)
	}

	sent := func() int64 { return g.LwM2M.Stats().Requests }
	for _, s := range []struct {
		name  string
		args  []string
		code  int
		out   string // in stdout (code 0) or stderr
		sends bool   // a request reaches the device
		check func(t *testing.T, stdout string)
	}{
		{"discover", []string{"device", "discover", "lw-1", "/3/0"}, 0, "PATH", true, func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) < 3 || !strings.HasPrefix(lines[1], "/3/0 ") || !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "/3/0/3 ") }) {
				t.Fatalf("discover:\n%s", out)
			}
		}},
		{"discover -json, path without a slash", []string{"device", "discover", "-json", "lw-1", "5/0"}, 0, `"path": "/5/0"`, true, func(t *testing.T, out string) {
			var l api.LwM2MLinks
			if err := json.Unmarshal([]byte(out), &l); err != nil || l.Links[0].Path != "/5/0" || len(l.Links) < 5 {
				t.Fatalf("discover -json: %s %v", out, err)
			}
		}},
		{"discover of a missing object", []string{"device", "discover", "lw-1", "/9"}, 1, "device_error", true, nil},
		{"discover of an unknown device", []string{"device", "discover", "nope", "/3/0"}, 1, "not_found", false, nil},
		{"discover of a bad path", []string{"device", "discover", "lw-1", "/3/x"}, 1, "bad_request", false, nil},
		{"discover without a path", []string{"device", "discover", "lw-1"}, 2, "a device id and an LwM2M path", false, nil},
		{"write-attributes", []string{"device", "write-attributes", "lw-1", "/3/0/9", "-pmin", "10", "-pmax", "60"}, 0,
			"device lw-1: attributes of /3/0/9 written: pmax=60 pmin=10", true, nil},
		{"write-attributes thresholds, flags first", []string{"device", "write-attributes", "-gt", "80", "-lt", "20.5", "-st", "5", "lw-1", "3/0/9"}, 0,
			"gt=80 lt=20.5 st=5", true, nil},
		{"write-attributes -json", []string{"device", "write-attributes", "lw-1", "/3/0", "-pmax", "300", "-json"}, 0, `"pmax": 300`, true, nil},
		{"write-attributes pmin over pmax", []string{"device", "write-attributes", "lw-1", "/3/0/9", "-pmin", "61", "-pmax", "60"}, 1, "bad_request", false, nil},
		{"write-attributes negative step", []string{"device", "write-attributes", "lw-1", "/3/0/9", "-st", "-1"}, 1, "bad_request", false, nil},
		{"write-attributes gt on an instance", []string{"device", "write-attributes", "lw-1", "/3/0", "-gt", "1"}, 1, "bad_request", false, nil},
		{"write-attributes none", []string{"device", "write-attributes", "lw-1", "/3/0/9"}, 2, "no attributes", false, nil},
		{"write-attributes pmin not a number", []string{"device", "write-attributes", "lw-1", "/3/0/9", "-pmin", "soon"}, 2, "invalid value", false, nil},
		{"write-attributes pmin fractional", []string{"device", "write-attributes", "lw-1", "/3/0/9", "-pmin", "1.5"}, 2, "invalid value", false, nil},
		{"write-attributes of an unknown device", []string{"device", "write-attributes", "nope", "/3/0", "-pmin", "1"}, 1, "not_found", false, nil},
	} {
		t.Run(s.name, func(t *testing.T) {
			before := quietRequests(sent)
			code, out, errs := runCLI(nil, append(s.args, "-api", base, "-token", cliToken)...)
			where := out
			if s.code != 0 {
				where = errs
			}
			if code != s.code || !strings.Contains(where, s.out) {
				t.Fatalf("fumo-gw %s: exit %d (want %d)\nstdout: %s\nstderr: %s", strings.Join(s.args, " "), code, s.code, out, errs)
			}
			if n := sent() - before; s.sends && n == 0 || !s.sends && n != 0 {
				t.Fatalf("%d requests reached the device", n)
			}
			if s.check != nil {
				s.check(t, out)
			}
		})
	}
}

// quietRequests waits until count has not moved for a while (the gateway
// may read a device of its own accord after it registers) and returns it.
func quietRequests(count func() int64) int64 {
	n := count()
	for quiet := 0; quiet < 6; quiet++ {
		time.Sleep(50 * time.Millisecond)
		if m := count(); m != n {
			n, quiet = m, -1
		}
	}
	return n
}
