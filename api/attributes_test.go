package api_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/sim"
)

// TestLwM2MDiscover: a device's links under a path with their attributes,
// paths without the device's alternate root; errors as for the other raw
// LwM2M commands.
func TestLwM2MDiscover(t *testing.T) {
	h := newHarness(t, nil)
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	h.addDM("dm-1", sim.FaultNone)
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/devices", api.DeviceRequest{ID: "lw-off", Protocol: "lwm2m", LwM2M: &api.LwM2MSettings{Endpoint: "urn:dev:lw-off"}}, nil)
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/devices", api.DeviceRequest{ID: "lw-root", Protocol: "lwm2m", LwM2M: &api.LwM2MSettings{Endpoint: "urn:dev:lw-root"}}, nil)
	root := &sim.LwM2MDevice{Endpoint: "urn:dev:lw-root", Server: h.gw.LwM2M.UDPAddr().String(), Root: "/lwm2m"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := root.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(root.Kill)

	for _, c := range []struct {
		name, device, path string
		want               []string // link paths, in order
	}{
		{"instance", "lw-1", "3/0", []string{"/3/0", "/3/0/0", "/3/0/1", "/3/0/3"}},
		{"object", "lw-1", "5", []string{"/5", "/5/0/3", "/5/0/5"}},
		{"resource", "lw-1", "3/0/9", []string{"/3/0/9"}},
		{"leading slash", "lw-1", "/1/0", []string{"/1/0", "/1/0/1"}},
		{"alternate root", "lw-root", "3/0", []string{"/3/0", "/3/0/0", "/3/0/1", "/3/0/3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var l api.LwM2MLinks
			h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices/"+c.device+"/lwm2m/discover/"+c.path, nil, &l)
			var got []string
			for _, k := range l.Links {
				got = append(got, k.Path)
			}
			if len(got) == 0 || got[0] != c.want[0] || l.Path != c.want[0] {
				t.Fatalf("discover %s: %+v", c.path, l)
			}
			for _, w := range c.want {
				if !slices.Contains(got, w) {
					t.Fatalf("discover %s: no %s in %v", c.path, w, got)
				}
			}
		})
	}

	for _, c := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"unknown device", "/api/v1/devices/nope/lwm2m/discover/3/0", 404, api.CodeNotFound},
		{"dm device", "/api/v1/devices/dm-1/lwm2m/discover/3/0", 400, api.CodeBadRequest},
		{"not registered", "/api/v1/devices/lw-off/lwm2m/discover/3/0", 404, api.CodeNotFound},
		{"bad path", "/api/v1/devices/lw-1/lwm2m/discover/3/x", 400, api.CodeBadRequest},
		{"too deep", "/api/v1/devices/lw-1/lwm2m/discover/3/0/1/0/1", 400, api.CodeBadRequest},
		{"root", "/api/v1/devices/lw-1/lwm2m/discover/%2F", 400, api.CodeBadRequest},
		{"missing object", "/api/v1/devices/lw-1/lwm2m/discover/9", 502, api.CodeDevice},
	} {
		t.Run(c.name, func(t *testing.T) { h.apiError(c.status, c.code, http.MethodGet, c.path, nil) })
	}
}

// TestLwM2MWriteAttributes: valid attributes reach the device (one
// request each); bad ones are refused with 400 before anything is sent,
// also to a device that is not registered.
func TestLwM2MWriteAttributes(t *testing.T) {
	h := newHarness(t, nil)
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	h.addDM("dm-1", sim.FaultNone)
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/devices", api.DeviceRequest{ID: "lw-off", Protocol: "lwm2m", LwM2M: &api.LwM2MSettings{Endpoint: "urn:dev:lw-off"}}, nil)
	requests := h.quietRequests()

	for _, c := range []struct {
		name, path, body string
	}{
		{"periods on an instance", "3/0", `{"pmin": 10, "pmax": 60}`},
		{"pmin only on an object", "3", `{"pmin": 0}`},
		{"equal periods", "1/0", `{"pmin": 30, "pmax": 30}`},
		{"thresholds on a resource", "3/0/9", `{"gt": 80, "lt": 20.5, "st": 5}`},
		{"negative thresholds", "3/0/9", `{"gt": -1, "lt": -10}`},
		{"step zero", "3/0/9", `{"st": 0, "pmax": 3600}`},
		{"resource instance", "3/0/6/0", `{"gt": 1}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out map[string]string
			h.ok(http.StatusOK, http.MethodPut, "/api/v1/devices/lw-1/lwm2m/attributes/"+c.path, c.body, &out)
			if out["code"] != "2.04" {
				t.Fatalf("answer %v", out)
			}
			if n := h.gw.LwM2M.Stats().Requests; n != requests+1 {
				t.Fatalf("%d requests sent, want 1", n-requests)
			}
			requests++
		})
	}

	for _, c := range []struct {
		name, device, path, body string
		status                   int
		code                     string
	}{
		{"pmin over pmax", "lw-1", "3/0", `{"pmin": 61, "pmax": 60}`, 400, api.CodeBadRequest},
		{"negative pmin", "lw-1", "3/0", `{"pmin": -1}`, 400, api.CodeBadRequest},
		{"negative pmax", "lw-1", "3/0", `{"pmax": -5}`, 400, api.CodeBadRequest},
		{"fractional pmin", "lw-1", "3/0", `{"pmin": 1.5}`, 400, api.CodeBadRequest},
		{"pmax as a string", "lw-1", "3/0", `{"pmax": "60"}`, 400, api.CodeBadRequest},
		{"gt as a string", "lw-1", "3/0/9", `{"gt": "high"}`, 400, api.CodeBadRequest},
		{"negative step", "lw-1", "3/0/9", `{"st": -0.5}`, 400, api.CodeBadRequest},
		{"lt not under gt", "lw-1", "3/0/9", `{"gt": 10, "lt": 10}`, 400, api.CodeBadRequest},
		{"lt + 2 st not under gt", "lw-1", "3/0/9", `{"gt": 10, "lt": 2, "st": 4}`, 400, api.CodeBadRequest},
		{"thresholds on an instance", "lw-1", "3/0", `{"gt": 10}`, 400, api.CodeBadRequest},
		{"step on an object", "lw-1", "3", `{"st": 1}`, 400, api.CodeBadRequest},
		{"unknown attribute", "lw-1", "3/0", `{"pmin": 1, "epmin": 2}`, 400, api.CodeBadRequest},
		{"no attributes", "lw-1", "3/0", `{}`, 400, api.CodeBadRequest},
		{"null", "lw-1", "3/0", `null`, 400, api.CodeBadRequest},
		{"malformed JSON", "lw-1", "3/0", `{"pmin": 1`, 400, api.CodeBadRequest},
		{"bad path", "lw-1", "3/zero", `{"pmin": 1}`, 400, api.CodeBadRequest},
		{"root", "lw-1", "%2F", `{"pmin": 1}`, 400, api.CodeBadRequest},
		{"bad values, not registered", "lw-off", "3/0", `{"pmin": 61, "pmax": 60}`, 400, api.CodeBadRequest},
		{"good values, not registered", "lw-off", "3/0", `{"pmin": 1}`, 404, api.CodeNotFound},
		{"unknown device", "nope", "3/0", `{"pmin": 1}`, 404, api.CodeNotFound},
		{"dm device", "dm-1", "3/0", `{"pmin": 1}`, 400, api.CodeBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.apiError(c.status, c.code, http.MethodPut, "/api/v1/devices/"+c.device+"/lwm2m/attributes/"+c.path, c.body)
			if n := h.gw.LwM2M.Stats().Requests; n != requests {
				t.Fatalf("%d requests sent, want none", n-requests)
			}
		})
	}
	h.apiError(http.StatusUnsupportedMediaType, api.CodeUnsupported, http.MethodPut, "/api/v1/devices/lw-1/lwm2m/attributes/3/0", `pmin=1`, "Content-Type", "text/plain")
}

// quietRequests waits until the gateway sent the devices nothing for a
// while (reads it makes of its own after a registration) and returns
// its count of downlink requests.
func (h *harness) quietRequests() int64 {
	h.t.Helper()
	n := h.gw.LwM2M.Stats().Requests
	for quiet := 0; quiet < 6; quiet++ {
		time.Sleep(50 * time.Millisecond)
		if m := h.gw.LwM2M.Stats().Requests; m != n {
			n, quiet = m, -1
		}
	}
	return n
}

// TestLwM2MDiscover_Unreachable: a device that stopped answering is 504
// for Discover and Write-Attributes.
func TestLwM2MDiscover_Unreachable(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.RequestTimeout = 500 * time.Millisecond })
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	h.lws["lw-1"].Kill()
	h.apiError(http.StatusGatewayTimeout, api.CodeUnreachable, http.MethodGet, "/api/v1/devices/lw-1/lwm2m/discover/3/0", nil)
	h.apiError(http.StatusGatewayTimeout, api.CodeUnreachable, http.MethodPut, "/api/v1/devices/lw-1/lwm2m/attributes/3/0", `{"pmin": 1}`)
}
