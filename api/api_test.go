package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
)

func TestAuthAndPublicEndpoints(t *testing.T) {
	h := newHarness(t, nil)
	for _, c := range []struct {
		name string
		hdr  []string
	}{
		{"no token", []string{"Authorization", ""}},
		{"wrong token", []string{"Authorization", "Bearer not-the-token-at-all-000"}},
		{"not bearer", []string{"Authorization", "Basic dXNlcjpwdw=="}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.apiError(http.StatusUnauthorized, api.CodeUnauthorized, http.MethodGet, "/api/v1/packages", nil, c.hdr...)
			h.apiError(http.StatusUnauthorized, api.CodeUnauthorized, http.MethodPost, "/api/v1/devices", `{}`, c.hdr...)
		})
	}
	for _, p := range []string{"/healthz", "/readyz", "/api/v1/openapi.json"} {
		code, b := h.call(http.MethodGet, p, nil, "Authorization", "")
		if code != http.StatusOK || !json.Valid(b) {
			t.Fatalf("%s without a token: %d %s", p, code, b)
		}
	}
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodGet, "/api/v1/nothing-here", nil)
	h.apiError(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, http.MethodPatch, "/api/v1/packages", nil)
	h.api.Drain()
	h.apiError(http.StatusServiceUnavailable, api.CodeUnavailable, http.MethodGet, "/readyz", nil)
	if _, err := api.New(api.Config{Gateway: h.gw, Token: "short"}); err == nil {
		t.Fatal("a short token was accepted")
	}
}

func TestPackages(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.MaxPackage = 30000 })
	octet := []string{"Content-Type", "application/octet-stream"}
	empty := h.dump()
	bad := []struct {
		name, query string
		body        []byte
		status      int
		code        string
	}{
		{"wrong sha256", "id=p1&version=2&sha256=" + strings.Repeat("0", 64), h.img, 400, api.CodeIntegrity},
		{"declared size larger", "id=p1&version=2&size=20001&sha256=" + h.sum, h.img, 400, api.CodeIntegrity},
		{"declared size smaller", "id=p1&version=2&size=19999&sha256=" + h.sum, h.img, 400, api.CodeIntegrity},
		{"malformed sha256", "id=p1&version=2&sha256=xyz", h.img, 400, api.CodeBadRequest},
		{"no version", "id=p1&sha256=" + h.sum, h.img, 400, api.CodeBadRequest},
		{"declared size over the limit", "id=p1&version=2&size=40000&sha256=" + h.sum, h.img, 413, api.CodeTooLarge},
		{"body over the limit", "id=p1&version=2&sha256=" + h.sum, bytes.Repeat([]byte{1}, 120000), 413, api.CodeTooLarge},
		{"body longer than declared", "id=p1&version=2&size=20000&sha256=" + h.sum, bytes.Repeat([]byte{1}, 25000), 400, api.CodeIntegrity},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			h.apiError(c.status, c.code, http.MethodPost, "/api/v1/packages?"+c.query, bytes.NewReader(c.body), octet...)
			if got := h.dump(); got != empty {
				t.Fatalf("a refused upload stored something:\n%s", got)
			}
		})
	}
	h.apiError(http.StatusUnsupportedMediaType, api.CodeUnsupported, http.MethodPost, "/api/v1/packages?id=p1", strings.NewReader("x"), "Content-Type", "text/plain")

	// Raw body, then multipart.
	h.upload("p1")
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	for k, v := range map[string]string{"id": "p2", "name": "rocket", "version": "3.0", "sha256": h.sum, "size": "20000"} {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "fw.bin")
	_, _ = fw.Write(h.img)
	_ = mw.Close()
	code, b := h.call(http.MethodPost, "/api/v1/packages", &mp, "Content-Type", mw.FormDataContentType())
	if code != http.StatusCreated {
		t.Fatalf("multipart upload: %d %s", code, b)
	}
	h.apiError(http.StatusConflict, api.CodeConflict, http.MethodPost, "/api/v1/packages?id=p1&version=2&sha256="+h.sum, bytes.NewReader(h.img), octet...)

	var list struct{ Packages []fleet.Package }
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/packages", nil, &list)
	if len(list.Packages) != 2 || list.Packages[0].SHA256 != h.sum || list.Packages[1].Version != "3.0" {
		t.Fatalf("list: %+v", list)
	}
	var p fleet.Package
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/packages/p2", nil, &p)
	if p.Size != 20000 {
		t.Fatalf("get: %+v", p)
	}
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodGet, "/api/v1/packages/nope", nil)

	// In use by a campaign: refused; then deleted.
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/campaigns", bridge.CampaignRequest{ID: "c1", PackageID: "p1", Devices: []string{"lw-1"}}, nil)
	h.apiError(http.StatusConflict, api.CodeConflict, http.MethodDelete, "/api/v1/packages/p1", nil)
	h.ok(http.StatusNoContent, http.MethodDelete, "/api/v1/packages/p2", nil, nil)
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodDelete, "/api/v1/packages/p2", nil)
}

func TestDevices(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.MaxBody = 4096 })
	empty := h.dump()
	bad := []struct {
		name, body string
		status     int
		code       string
	}{
		{"malformed JSON", `{"id": "d1", `, 400, api.CodeBadRequest},
		{"unknown field", `{"id":"d1","protocol":"dm","colour":"red"}`, 400, api.CodeBadRequest},
		{"wrong type", `{"id":42,"protocol":"dm"}`, 400, api.CodeBadRequest},
		{"two objects", `{"id":"d1"} {"id":"d2"}`, 400, api.CodeBadRequest},
		{"empty body", ``, 400, api.CodeBadRequest},
		{"unknown protocol", `{"id":"d1","protocol":"snmp"}`, 400, api.CodeBadRequest},
		{"dm without credentials", `{"id":"d1","protocol":"dm","dm":{"device_id":"IMEI:1","auth":"md5","username":"u"}}`, 400, api.CodeBadRequest},
		{"bad psk hex", `{"id":"d1","protocol":"lwm2m","lwm2m":{"endpoint":"e","psk_identity":"e","psk_key_hex":"zz"}}`, 400, api.CodeBadRequest},
		{"body over the limit", `{"id":"` + strings.Repeat("x", 5000) + `"}`, 413, api.CodeTooLarge},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			h.apiError(c.status, c.code, http.MethodPost, "/api/v1/devices", c.body)
			if got := h.dump(); got != empty {
				t.Fatalf("refused input stored something:\n%s", got)
			}
		})
	}
	h.apiError(http.StatusUnsupportedMediaType, api.CodeUnsupported, http.MethodPost, "/api/v1/devices", `{}`, "Content-Type", "text/plain")

	h.addDM("dm-1", sim.FaultNone)
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/devices", api.DeviceRequest{ID: "lw-psk", Protocol: "lwm2m", Model: "Other",
		LwM2M: &api.LwM2MSettings{Endpoint: "urn:dev:psk", PSKIdentity: "psk-id", PSKKeyHex: "00112233445566778899aabbccddeeff"}}, nil)
	h.apiError(http.StatusConflict, api.CodeConflict, http.MethodPost, "/api/v1/devices", api.DeviceRequest{ID: "lw-1", Protocol: "lwm2m",
		LwM2M: &api.LwM2MSettings{Endpoint: "urn:dev:other"}})

	var one api.DeviceView
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices/lw-1", nil, &one)
	if one.LwM2M == nil || !one.LwM2M.Registered || one.LwM2M.Registration == nil || one.FirmwareVersion != "1.0" {
		t.Fatalf("lwm2m device: %+v", one)
	}
	_, raw := h.call(http.MethodGet, "/api/v1/devices/dm-1", nil)
	if err := json.Unmarshal(raw, &one); err != nil || one.DM == nil || one.DM.DevInfo["./DevInfo/Mod"] == "" && one.DM.DeviceID != "IMEI:dm-1" {
		t.Fatalf("dm device: %s", raw)
	}
	_, rawPSK := h.call(http.MethodGet, "/api/v1/devices/lw-psk", nil)
	for _, secret := range []string{"pw-dm-1", "srv", "00112233", "ABEiM0RV"} {
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(rawPSK, []byte(secret)) {
			t.Fatalf("a secret (%s) is shown: %s %s", secret, raw, rawPSK)
		}
	}

	list := func(q string) []string {
		var l struct{ Devices []api.DeviceView }
		h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices"+q, nil, &l)
		var ids []string
		for _, d := range l.Devices {
			ids = append(ids, d.ID)
		}
		return ids
	}
	for q, want := range map[string]string{
		"":                         "dm-1 lw-1 lw-psk",
		"?protocol=lwm2m":          "lw-1 lw-psk",
		"?model=Rocket-DM":         "dm-1",
		"?firmware_version=1.0":    "dm-1 lw-1",
		"?limit=2":                 "dm-1 lw-1",
		"?limit=2&after=lw-1":      "lw-psk",
		"?protocol=dm&model=Other": "",
	} {
		if got := strings.Join(list(q), " "); got != want {
			t.Fatalf("list%s: %q, want %q", q, got, want)
		}
	}
	h.apiError(http.StatusBadRequest, api.CodeBadRequest, http.MethodGet, "/api/v1/devices?protocol=snmp", nil)
	h.apiError(http.StatusBadRequest, api.CodeBadRequest, http.MethodGet, "/api/v1/devices?limit=0", nil)

	var st bridge.DeviceState
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices/lw-1/state", nil, &st)
	if st.Object5State != 0 || st.FUMO != 10 {
		t.Fatalf("state: %+v", st)
	}
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodGet, "/api/v1/devices/nope/state", nil)

	h.ok(http.StatusNoContent, http.MethodDelete, "/api/v1/devices/lw-psk", nil, nil)
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodGet, "/api/v1/devices/lw-psk", nil)
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodDelete, "/api/v1/devices/lw-psk", nil)
}

// TestJobsCampaignsEvents drives a job and a mixed campaign through the
// API and reads them back through the event stream.
func TestJobsCampaignsEvents(t *testing.T) {
	h := newHarness(t, nil)
	h.upload("fw2")
	h.addDM("dm-1", sim.FaultNone)
	h.addDM("dm-2", sim.FaultInstallFailure)
	h.addLwM2M("lw-1", sim.LwM2MFaultNone)
	h.addLwM2M("lw-2", sim.LwM2MFaultNone)
	h.addLwM2M("lw-3", sim.LwM2MFaultNone)

	// The event stream, read in the background.
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/v1/events?campaign=c1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	events := make(chan bridge.Event, 1024)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev bridge.Event
				if json.Unmarshal([]byte(data), &ev) == nil {
					events <- ev
				}
			}
		}
		close(events)
	}()

	// Bad jobs: nothing stored.
	before := h.dump()
	for _, c := range []struct {
		body   any
		status int
		code   string
	}{
		{bridge.JobRequest{DeviceID: "nope", PackageID: "fw2"}, 404, api.CodeNotFound},
		{bridge.JobRequest{DeviceID: "lw-1", PackageID: "nope"}, 404, api.CodeNotFound},
		{bridge.JobRequest{DeviceID: "lw-1", PackageID: "fw2", Operation: "dance"}, 400, api.CodeBadRequest},
		{`{"device_id":"lw-1","package_id":"fw2","deadline":"tomorrow"}`, 400, api.CodeBadRequest},
	} {
		h.apiError(c.status, c.code, http.MethodPost, "/api/v1/jobs", c.body)
	}
	if h.dump() != before {
		t.Fatal("a refused job stored something")
	}

	// One job, then cancel a second one.
	var j fleet.Job
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/jobs", bridge.JobRequest{ID: "j1", DeviceID: "lw-3", PackageID: "fw2"}, &j)
	h.apiError(http.StatusConflict, api.CodeConflict, http.MethodPost, "/api/v1/jobs", bridge.JobRequest{DeviceID: "lw-3", PackageID: "fw2"})
	eventually(t, "job j1 succeeded", func() bool {
		h.ok(http.StatusOK, http.MethodGet, "/api/v1/jobs/j1", nil, &j)
		return j.State == fleet.JobSucceeded
	})
	// The bridge records the new version just after the job's success.
	var one api.DeviceView
	eventually(t, "lw-3 on 2.0", func() bool {
		h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices/lw-3", nil, &one)
		return one.FirmwareVersion == "2.0"
	})
	if one.CurrentJob != nil {
		t.Fatalf("after the job: %+v", one)
	}
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodGet, "/api/v1/jobs/nope", nil)
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodPost, "/api/v1/jobs/nope/cancel", nil)
	h.apiError(http.StatusConflict, api.CodeConflict, http.MethodPost, "/api/v1/jobs/j1/cancel", nil)

	// A campaign of four, one failing.
	var p bridge.Progress
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/campaigns", bridge.CampaignRequest{ID: "c1", PackageID: "fw2",
		Devices: []string{"dm-1", "dm-2", "lw-1", "lw-2"}, MaxInFlight: 2}, &p)
	if p.Campaign.State != fleet.CampaignDraft || p.Devices != 4 || p.Pending != 4 {
		t.Fatalf("created: %+v", p)
	}
	h.apiError(http.StatusBadRequest, api.CodeBadRequest, http.MethodPost, "/api/v1/campaigns", bridge.CampaignRequest{PackageID: "fw2"})
	h.apiError(http.StatusConflict, api.CodeConflict, http.MethodPost, "/api/v1/campaigns/c1/resume", nil)
	h.ok(http.StatusOK, http.MethodPost, "/api/v1/campaigns/c1/start", nil, &p)
	h.ok(http.StatusOK, http.MethodPost, "/api/v1/campaigns/c1/pause", nil, &p)
	if p.Campaign.State != fleet.CampaignPaused {
		t.Fatalf("paused: %+v", p.Campaign)
	}
	h.ok(http.StatusOK, http.MethodPost, "/api/v1/campaigns/c1/resume", nil, &p)
	eventually(t, "campaign c1 done", func() bool {
		h.ok(http.StatusOK, http.MethodGet, "/api/v1/campaigns/c1/progress", nil, &p)
		return p.Campaign.State == fleet.CampaignDone
	})
	if p.Jobs[fleet.JobSucceeded] != 3 || p.Jobs[fleet.JobFailed] != 1 {
		t.Fatalf("progress: %+v", p)
	}
	var c bridge.Progress
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/campaigns/c1", nil, &c)
	var cl struct{ Campaigns []fleet.Campaign }
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/campaigns?state=done", nil, &cl)
	if c.Campaign.ID != "c1" || len(cl.Campaigns) != 1 {
		t.Fatalf("get %+v, list %+v", c, cl)
	}
	var jl struct{ Jobs []fleet.Job }
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/jobs?campaign=c1&state=failed", nil, &jl)
	if len(jl.Jobs) != 1 || jl.Jobs[0].DeviceID != "dm-2" || jl.Jobs[0].Reason == "" {
		t.Fatalf("failed jobs: %+v", jl)
	}
	h.apiError(http.StatusBadRequest, api.CodeBadRequest, http.MethodGet, "/api/v1/jobs?state=dancing", nil)

	// A second campaign, cancelled.
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/campaigns", bridge.CampaignRequest{ID: "c2", PackageID: "fw2", Selector: &fleet.Selector{Protocol: "lwm2m"}}, &p)
	h.ok(http.StatusOK, http.MethodPost, "/api/v1/campaigns/c2/cancel", nil, &p)
	if p.Campaign.State != fleet.CampaignCancelled {
		t.Fatalf("cancelled: %+v", p.Campaign)
	}
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodGet, "/api/v1/campaigns/nope", nil)

	// The stream saw c1's jobs end and the campaign finish, and nothing of
	// j1 (filtered out).
	ended := map[string]fleet.JobState{}
	done := false
	timeout := time.After(60 * time.Second)
	for !done || len(ended) < 4 {
		var ev bridge.Event
		var ok bool
		select {
		case ev, ok = <-events:
		case <-timeout:
			t.Fatalf("events seen: job ends %v, campaign done %v", ended, done)
		}
		if !ok {
			t.Fatal("event stream ended")
		}
		if ev.JobID == "j1" || ev.CampaignID != "c1" {
			t.Fatalf("filter let through %+v", ev)
		}
		if ev.Kind == bridge.EventJob && ev.Job.Terminal() {
			ended[ev.DeviceID] = ev.Job
		}
		done = done || ev.Kind == bridge.EventCampaign && ev.Campaign == fleet.CampaignDone
	}
	if len(ended) != 4 || ended["dm-2"] != fleet.JobFailed {
		t.Fatalf("job ends seen: %v", ended)
	}
}
