package api_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/sim"
)

// startLwM2M provisions an LwM2M device with no model or firmware version
// and starts its simulator, set up by mutate.
func (h *harness) startLwM2M(id string, mutate func(*sim.LwM2MDevice)) *sim.LwM2MDevice {
	h.t.Helper()
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/devices", api.DeviceRequest{ID: id, Protocol: "lwm2m",
		LwM2M: &api.LwM2MSettings{Endpoint: "urn:dev:" + id}}, nil)
	d := &sim.LwM2MDevice{Endpoint: "urn:dev:" + id, Server: h.gw.LwM2M.UDPAddr().String(), Firmware: &sim.LwM2MFirmware{ExpectSHA256: h.sum}}
	if mutate != nil {
		mutate(d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		h.t.Fatalf("register %s: %v", id, err)
	}
	h.t.Cleanup(d.Kill)
	return d
}

// TestDeviceInventory: an LwM2M device provisioned without model or
// firmware version shows what it reported (Object 3, its LwM2M and object
// versions) once registered, and the device list filter and a campaign
// selector find it by that model and version.
func TestDeviceInventory(t *testing.T) {
	h := newHarness(t, nil)
	h.upload("fw2")
	h.startLwM2M("lw-inv", func(d *sim.LwM2MDevice) {
		d.Manufacturer, d.Model, d.SerialNumber = "Acme", "Rocket-X", "SN-0042"
		d.Firmware.Version = "1.7"
	})
	h.startLwM2M("lw-other", nil) // reports SIM-L1, 1.0

	v := h.inventoried("lw-inv")
	inv := v.LwM2M.Inventory
	if v.Model != "Rocket-X" || v.FirmwareVersion != "1.7" || inv.Manufacturer != "Acme" || inv.ModelNumber != "Rocket-X" ||
		inv.SerialNumber != "SN-0042" || inv.FirmwareVersion != "1.7" || inv.LwM2MVersion != "1.1" || inv.ObjectVersions["1"] != "1.1" {
		t.Fatalf("device view %+v, inventory %+v", v, inv)
	}
	h.inventoried("lw-other")

	var list struct{ Devices []api.DeviceView }
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"?model=Rocket-X", []string{"lw-inv"}},
		{"?model=Rocket-X&firmware_version=1.7", []string{"lw-inv"}},
		{"?protocol=lwm2m&firmware_version=1.7", []string{"lw-inv"}},
		{"?model=Rocket-X&firmware_version=1.0", nil},
		{"?model=SIM-L1&firmware_version=1.0", []string{"lw-other"}},
	} {
		h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices"+c.query, nil, &list)
		var got []string
		for _, d := range list.Devices {
			got = append(got, d.ID)
			if d.LwM2M == nil || d.LwM2M.Inventory == nil {
				t.Errorf("list %s: %s without its inventory", c.query, d.ID)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("list %s: %v, want %v", c.query, got, c.want)
		}
	}

	var p bridge.Progress
	h.ok(http.StatusCreated, http.MethodPost, "/api/v1/campaigns", bridge.CampaignRequest{ID: "c-inv", PackageID: "fw2",
		Selector: &fleet.Selector{Protocol: fleet.ProtocolLwM2M, Model: "Rocket-X", FirmwareVersion: "1.7"}}, &p)
	if !slices.Equal(p.Campaign.Devices, []string{"lw-inv"}) {
		t.Fatalf("campaign by selector: devices %v", p.Campaign.Devices)
	}
}

// TestRawLwM2MRead_OneFormat: the raw Read without a format reads devices
// that take one content format only (a Wakaama-like client with SenML
// JSON and 5.00 for anything else; a 1.0 client with TLV only).
func TestRawLwM2MRead_OneFormat(t *testing.T) {
	h := newHarness(t, nil)
	devs := map[string]*sim.LwM2MDevice{
		"lw-json": h.startLwM2M("lw-json", func(d *sim.LwM2MDevice) {
			d.Formats, d.FormatRefusal = []codec.Format{codec.FormatSenMLJSON}, codes.InternalServerError
		}),
		"lw-tlv": h.startLwM2M("lw-tlv", func(d *sim.LwM2MDevice) {
			d.Version, d.Formats = "1.0", []codec.Format{codec.FormatTLV}
		}),
	}
	for _, c := range []struct {
		id, path, format string
		records          int
	}{
		{"lw-json", "3/0", "110", 6},
		{"lw-json", "3/0/3", "110", 1},
		{"lw-tlv", "3/0", "11542", 6},
		{"lw-tlv", "3/0/3", "11542", 1},
	} {
		var got api.LwM2MContent
		h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices/"+c.id+"/lwm2m/"+c.path, nil, &got)
		if got.Format != c.format || len(got.Records) < c.records {
			t.Fatalf("%s %s: %+v, want %d records in %s", c.id, c.path, got, c.records, c.format)
		}
		found := false
		for _, r := range got.Records {
			found = found || r.Path == "/3/0/3" && r.Value == "1.0"
		}
		if !found {
			t.Fatalf("%s %s: no firmware version 1.0 in %+v", c.id, c.path, got.Records)
		}
	}
	// A format asked for is asked as it is.
	h.apiError(http.StatusBadGateway, api.CodeDevice, http.MethodGet, "/api/v1/devices/lw-json/lwm2m/3/0?format=tlv", nil)
	if n := devs["lw-json"].RefusedReads(); n != 1 {
		t.Fatalf("lw-json refused %d reads, want 1", n)
	}
	// Both were read in their format all along: the inventory too.
	for id := range devs {
		if v := h.inventoried(id); v.Model != "SIM-L1" || v.FirmwareVersion != "1.0" {
			t.Fatalf("%s: %+v", id, v)
		}
	}
}

// inventoried waits until the API shows the device's inventory and
// returns its view.
func (h *harness) inventoried(id string) api.DeviceView {
	h.t.Helper()
	var v api.DeviceView
	eventually(h.t, "the inventory of "+id, func() bool {
		v = api.DeviceView{}
		h.ok(http.StatusOK, http.MethodGet, "/api/v1/devices/"+id, nil, &v)
		return v.LwM2M != nil && v.LwM2M.Inventory != nil
	})
	return v
}
