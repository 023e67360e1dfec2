package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"testing"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// TestDevices_ServerAuth: a DM device's server credential type is
// provisioned, stored and shown back; anything but basic, md5 or hmac is
// refused and nothing is stored.
func TestDevices_ServerAuth(t *testing.T) {
	h := newHarness(t, nil)
	dmReq := func(id string, auth, server fleet.DMAuth) api.DeviceRequest {
		return api.DeviceRequest{ID: id, Protocol: fleet.ProtocolDM, DM: &api.DMSettings{DeviceID: "IMEI:" + id, Auth: auth,
			Username: id, Password: "pw", ServerID: "fumo-gw", ServerPassword: "srv", ServerAuth: server}}
	}
	for _, c := range []struct {
		name         string
		auth, server fleet.DMAuth
		wantType     fleet.DMAuth // the type the server uses
	}{
		{"md5 on a basic device", fleet.DMAuthBasic, fleet.DMAuthMD5, fleet.DMAuthMD5},
		{"hmac on an md5 device", fleet.DMAuthMD5, fleet.DMAuthHMAC, fleet.DMAuthHMAC},
		{"unset: the client's", fleet.DMAuthHMAC, "", fleet.DMAuthHMAC},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "dm " + string(c.auth) + " " + string(c.wantType) // a space: the id is escaped in paths
			var v api.DeviceView
			h.ok(http.StatusCreated, http.MethodPost, "/api/v1/devices", dmReq(id, c.auth, c.server), &v)
			if v.DM == nil || v.DM.Auth != c.auth || v.DM.ServerAuth != c.server {
				t.Fatalf("created: %+v", v.DM)
			}
			_, raw := h.call(http.MethodGet, "/api/v1/devices/"+url.PathEscape(id), nil)
			var got api.DeviceView
			if err := json.Unmarshal(raw, &got); err != nil || got.DM == nil || got.DM.ServerAuth != c.server {
				t.Fatalf("read back: %s", raw)
			}
			if has := bytes.Contains(raw, []byte(`"server_auth"`)); has != (c.server != "") {
				t.Fatalf("server_auth shown %v: %s", has, raw)
			}
			d, err := h.gw.Store.Device(context.Background(), id)
			if err != nil || d.DM.ServerAuth != c.server || d.DM.ServerAuthType() != c.wantType {
				t.Fatalf("stored: %+v %v", d.DM, err)
			}
		})
	}
	var l struct{ Devices []api.DeviceView }
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices?limit=1", nil, &l)
	if len(l.Devices) != 1 || l.Devices[0].DM == nil || l.Devices[0].DM.ServerAuth != fleet.DMAuthMD5 {
		t.Fatalf("list: %+v", l.Devices)
	}

	before := h.dump()
	for _, bad := range []fleet.DMAuth{"digest", "MD5", " md5", "none"} {
		t.Run("refused "+string(bad), func(t *testing.T) {
			h.apiError(http.StatusBadRequest, api.CodeBadRequest, http.MethodPost, "/api/v1/devices", dmReq("dm-bad", fleet.DMAuthBasic, bad))
			if h.dump() != before {
				t.Fatal("a refused device was stored")
			}
		})
	}
	h.apiError(http.StatusBadRequest, api.CodeBadRequest, http.MethodPost, "/api/v1/devices", `{"id":"dm-bad","protocol":"dm","dm":{"server_auth":5}}`)
}

// TestVerifySwitch: a package upload (raw or multipart), a job and a
// campaign take the firmware version check switch; it is stored and shown
// back only when set, and a campaign copies it to its jobs.
func TestVerifySwitch(t *testing.T) {
	h := newHarness(t, nil)
	octet := []string{"Content-Type", "application/octet-stream"}
	raw := func(id, verify string) (int, []byte) {
		q := "id=" + id + "&version=2.0&sha256=" + h.sum
		if verify != "" {
			q += "&verify=" + verify
		}
		return h.call(http.MethodPost, "/api/v1/packages?"+q, bytes.NewReader(h.img), octet...)
	}
	multi := func(id, verify string) (int, []byte) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		fields := [][2]string{{"id", id}, {"version", "2.0"}, {"sha256", h.sum}, {"size", "20000"}}
		if verify != "" {
			fields = append(fields, [2]string{"verify", verify})
		}
		for _, f := range fields {
			_ = mw.WriteField(f[0], f[1])
		}
		fw, _ := mw.CreateFormFile("file", "fw.bin")
		_, _ = fw.Write(h.img)
		_ = mw.Close()
		return h.call(http.MethodPost, "/api/v1/packages", &b, "Content-Type", mw.FormDataContentType())
	}
	f, tr := false, true
	for _, c := range []struct {
		name, id, verify string
		upload           func(id, verify string) (int, []byte)
		want             *bool
	}{
		{"raw off", "p-raw-off", "false", raw, &f},
		{"raw on", "p-raw-on", "true", raw, &tr},
		{"raw unset", "p-raw", "", raw, nil},
		{"multipart off", "p-mp-off", "false", multi, &f},
		{"multipart unset", "p-mp", "", multi, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if code, b := c.upload(c.id, c.verify); code != http.StatusCreated {
				t.Fatalf("upload: %d %s", code, b)
			}
			code, b := h.call(http.MethodGet, "/api/v1/packages/"+c.id, nil)
			var p fleet.Package
			if err := json.Unmarshal(b, &p); err != nil || code != http.StatusOK || !sameBool(p.Verify, c.want) {
				t.Fatalf("read back: %d %s", code, b)
			}
			if has := bytes.Contains(b, []byte(`"verify"`)); has != (c.want != nil) {
				t.Fatalf("verify shown %v: %s", has, b)
			}
		})
	}
	before := h.dump()
	for _, c := range []struct {
		name   string
		upload func(id, verify string) (int, []byte)
		verify string
	}{{"raw", raw, "maybe"}, {"raw 1", raw, "1"}, {"multipart", multi, "no"}} {
		t.Run("refused "+c.name, func(t *testing.T) {
			code, b := c.upload("p-bad", c.verify)
			var e api.ErrorBody
			if code != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Error.Code != api.CodeBadRequest {
				t.Fatalf("verify=%s: %d %s", c.verify, code, b)
			}
			if h.dump() != before {
				t.Fatal("a refused upload stored something")
			}
		})
	}

	// Jobs: DM devices that never call in keep their jobs waiting.
	for _, id := range []string{"dm-1", "dm-2", "dm-3"} {
		h.ok(http.StatusCreated, http.MethodPost, "/api/v1/devices", api.DeviceRequest{ID: id, Protocol: fleet.ProtocolDM,
			DM: &api.DMSettings{DeviceID: "IMEI:" + id, Auth: fleet.DMAuthMD5, Username: id, Password: "pw"}}, nil)
	}
	var j fleet.Job
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/jobs", `{"id":"j-off","device_id":"dm-1","package_id":"p-raw-on","verify":false}`, &j)
	if !sameBool(j.Verify, &f) {
		t.Fatalf("created job: %+v", j)
	}
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/jobs/j-off", nil, &j)
	if !sameBool(j.Verify, &f) {
		t.Fatalf("read back job: %+v", j)
	}
	if _, b := h.call(http.MethodGet, "/api/v1/jobs?device=dm-1", nil); !bytes.Contains(b, []byte(`"verify": false`)) {
		t.Fatalf("job list: %s", b)
	}
	var unset fleet.Job
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/jobs", bridge.JobRequest{ID: "j-unset", DeviceID: "dm-2", PackageID: "p-raw-off"}, &unset)
	if _, b := h.call(http.MethodGet, "/api/v1/jobs/j-unset", nil); unset.Verify != nil || bytes.Contains(b, []byte(`"verify"`)) {
		t.Fatalf("job without verify: %s", b)
	}
	h.apiError(http.StatusBadRequest, api.CodeBadRequest, http.MethodPost, "/api/v1/jobs", `{"device_id":"dm-3","package_id":"p-raw","verify":"no"}`)

	// A campaign copies its switch to the jobs it starts.
	var p bridge.Progress
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/campaigns", bridge.CampaignRequest{ID: "c-off", PackageID: "p-raw", Devices: []string{"dm-3"}, Verify: &f}, &p)
	if !sameBool(p.Campaign.Verify, &f) {
		t.Fatalf("created campaign: %+v", p.Campaign)
	}
	h.ok(http.StatusOK, http.MethodPost, "/api/v1/campaigns/c-off/start", nil, &p)
	if !sameBool(p.Campaign.Verify, &f) {
		t.Fatalf("started campaign: %+v", p.Campaign)
	}
	var jl struct{ Jobs []fleet.Job }
	eventually(t, "campaign c-off's job", func() bool {
		h.ok(http.StatusOK, http.MethodGet, "/api/v1/jobs?campaign=c-off", nil, &jl)
		return len(jl.Jobs) == 1
	})
	if !sameBool(jl.Jobs[0].Verify, &f) {
		t.Fatalf("campaign job: %+v", jl.Jobs[0])
	}
	h.apiError(http.StatusBadRequest, api.CodeBadRequest, http.MethodPost, "/api/v1/campaigns", `{"package_id":"p-raw","devices":["dm-3"],"verify":0}`)
}

func sameBool(a, b *bool) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
