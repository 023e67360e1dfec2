package api_test

import (
	"net/http"
	"testing"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/sim"
)

func TestRawDMCommands(t *testing.T) {
	h := newHarness(t, nil)
	h.addDM("dm-1", sim.FaultNone)
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	for _, c := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"unknown device", "/api/v1/devices/nope/dm/commands", `{"command":"Get","target":"./DevDetail/FwV"}`, 404, api.CodeNotFound},
		{"lwm2m device", "/api/v1/devices/lw-1/dm/commands", `{"command":"Get","target":"./DevDetail/FwV"}`, 400, api.CodeBadRequest},
		{"unknown command", "/api/v1/devices/dm-1/dm/commands", `{"command":"Dance","target":"./DevDetail/FwV"}`, 400, api.CodeBadRequest},
		{"relative target", "/api/v1/devices/dm-1/dm/commands", `{"command":"Get","target":"DevDetail"}`, 400, api.CodeBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) { h.apiError(c.status, c.code, http.MethodPost, c.path, c.body) })
	}
	var q api.DMCommandView
	h.ok(http.StatusAccepted, http.MethodPost, "/api/v1/devices/dm-1/dm/commands", api.DMCommandRequest{Command: "Get", Target: "./DevDetail/FwV", Trigger: true}, &q)
	var r api.DMCommandView
	eventually(t, "the Get answered", func() bool {
		h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices/dm-1/dm/commands/"+q.ID, nil, &r)
		return r.State == "done"
	})
	if r.Status != 200 || len(r.Results) != 1 || r.Results[0].Data != "1.0" || r.Results[0].Source != "./DevDetail/FwV" {
		t.Fatalf("outcome: %+v", r)
	}
	h.ok(http.StatusAccepted, http.MethodPost, "/api/v1/devices/dm-1/dm/commands", api.DMCommandRequest{Command: "Replace", Target: "./Ext/Colour", Data: "blue", Format: "chr", Trigger: true}, &q)
	eventually(t, "the Replace answered", func() bool {
		h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices/dm-1/dm/commands/"+q.ID, nil, &r)
		return r.State == "done"
	})
	if r.Status == 0 {
		t.Fatalf("replace: %+v", r)
	}
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodGet, "/api/v1/devices/dm-1/dm/commands/nope", nil)
}

func TestRawLwM2MCommands(t *testing.T) {
	h := newHarness(t, nil)
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	h.addDM("dm-1", sim.FaultNone)
	var c api.LwM2MContent
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices/lw-1/lwm2m/3/0/3", nil, &c)
	if len(c.Records) != 1 || c.Records[0].Value != "1.0" || c.Code != "Content" {
		t.Fatalf("read: %+v", c)
	}
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices/lw-1/lwm2m/1/0?format=senml-json", nil, &c)
	if len(c.Records) < 2 || c.Format != "110" {
		t.Fatalf("read instance: %+v", c)
	}
	h.ok(http.StatusOK, http.MethodPut, "/api/v1/devices/lw-1/lwm2m/1/0/1", api.LwM2MWriteRequest{Value: 600}, nil)
	if v, _ := h.lws["lw-1"].Value("/1/0/1").Int(); v != 600 {
		t.Fatalf("lifetime after write: %d", v)
	}
	h.ok(http.StatusOK, http.MethodPut, "/api/v1/devices/lw-1/lwm2m/1/0", api.LwM2MWriteRequest{Partial: true,
		Records: []api.LwM2MRecord{{Path: "/1/0/1", Value: "700"}}}, nil)
	if v, _ := h.lws["lw-1"].Value("/1/0/1").Int(); v != 700 {
		t.Fatalf("lifetime after partial write: %d", v)
	}
	h.ok(http.StatusOK, http.MethodPost, "/api/v1/devices/lw-1/lwm2m/1/0/8", nil, nil) // Registration Update Trigger
	h.ok(http.StatusOK, http.MethodPost, "/api/v1/devices/lw-1/lwm2m/observe/3/0/9", nil, nil)
	var obs struct{ Observing []string }
	h.ok(http.StatusOK, http.MethodDelete, "/api/v1/devices/lw-1/lwm2m/observe/3/0/9", nil, &obs)
	if len(obs.Observing) != 0 {
		t.Fatalf("still observing %v", obs.Observing)
	}
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"missing object", http.MethodGet, "/api/v1/devices/lw-1/lwm2m/9/0", nil, 502, api.CodeDevice},
		{"bad path", http.MethodGet, "/api/v1/devices/lw-1/lwm2m/x/y", nil, 400, api.CodeBadRequest},
		{"bad format", http.MethodGet, "/api/v1/devices/lw-1/lwm2m/3/0?format=xml", nil, 400, api.CodeBadRequest},
		{"dm device", http.MethodGet, "/api/v1/devices/dm-1/lwm2m/3/0", nil, 400, api.CodeBadRequest},
		{"unknown device", http.MethodGet, "/api/v1/devices/nope/lwm2m/3/0", nil, 404, api.CodeNotFound},
		{"wrong value type", http.MethodPut, "/api/v1/devices/lw-1/lwm2m/1/0/1", api.LwM2MWriteRequest{Value: "soon"}, 400, api.CodeBadRequest},
		{"nothing to write", http.MethodPut, "/api/v1/devices/lw-1/lwm2m/1/0/1", api.LwM2MWriteRequest{}, 400, api.CodeBadRequest},
		{"cancel of nothing", http.MethodDelete, "/api/v1/devices/lw-1/lwm2m/observe/3/0/1", nil, 404, api.CodeNotFound},
	} {
		t.Run(c.name, func(t *testing.T) { h.apiError(c.status, c.code, c.method, c.path, c.body) })
	}
}
