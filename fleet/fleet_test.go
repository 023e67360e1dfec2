package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func dmDevice() Device {
	return Device{ID: "d1", Protocol: ProtocolDM, Model: "Widget-7", DM: &DMInfo{DeviceID: "IMEI:1", Auth: DMAuthMD5, Username: "u", Password: Secret("hunter2"), ServerPassword: Secret("srvpwd"), FUMORoot: "./FwUpdate/fw1"}}
}

func lwDevice() Device {
	return Device{ID: "l1", Protocol: ProtocolLwM2M, LwM2M: &LwM2MInfo{Endpoint: "urn:imei:1", PSKIdentity: "id", PSKKey: Secret("k3y")}}
}

func TestDevice_Validate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Device)
		lw   bool
		ok   bool
	}{
		{"dm ok", func(*Device) {}, false, true},
		{"lwm2m ok", func(*Device) {}, true, true},
		{"empty id", func(d *Device) { d.ID = "" }, false, false},
		{"slash in id", func(d *Device) { d.ID = "a/b" }, false, false},
		{"unknown protocol", func(d *Device) { d.Protocol = "snmp" }, false, false},
		{"dm without settings", func(d *Device) { d.DM = nil }, false, false},
		{"dm with lwm2m settings", func(d *Device) { d.LwM2M = &LwM2MInfo{Endpoint: "x"} }, false, false},
		{"bad auth", func(d *Device) { d.DM.Auth = "ntlm" }, false, false},
		{"no password", func(d *Device) { d.DM.Password = nil }, false, false},
		{"relative fumo root", func(d *Device) { d.DM.FUMORoot = "FwUpdate" }, false, false},
		{"no endpoint", func(d *Device) { d.LwM2M.Endpoint = "" }, true, false},
		{"psk identity without key", func(d *Device) { d.LwM2M.PSKKey = nil }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dmDevice()
			if tt.lw {
				d = lwDevice()
			}
			tt.mod(&d)
			err := d.Validate()
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestSecret_NeverShown(t *testing.T) {
	d := dmDevice()
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("device", "device", d, "dm", d.DM, "password", d.DM.Password, "all", fmt.Sprintf("%v %+v %#v %s %q %x", d.DM, *d.DM, d.DM.Password, d.DM.Password, d.DM.Password, d.DM.Password))
	}
	for _, s := range []string{fmt.Sprint(d), fmt.Sprintf("%+v", *d.DM), fmt.Sprintf("%#v", *d.DM), logs.String()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "srvpwd") || strings.Contains(s, "68756e74657232") {
			t.Fatalf("secret leaked: %s", s)
		}
	}
	if !strings.Contains(logs.String(), "[redacted]") {
		t.Errorf("no redaction marker in %s", logs.String())
	}
	b, _ := json.Marshal(d)
	var back Device
	if err := json.Unmarshal(b, &back); err != nil || string(back.DM.Password.Reveal()) != "hunter2" {
		t.Errorf("JSON must keep the secret for the store: %v %q", err, back.DM.Password.Reveal())
	}
}

func TestPackage_Validate(t *testing.T) {
	ok := Package{ID: "p1", Name: "fw", Version: "2.0", Size: 10, SHA256: strings.Repeat("ab", 32)}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Package){
		"no name": func(p *Package) { p.Name = "" }, "zero size": func(p *Package) { p.Size = 0 },
		"huge": func(p *Package) { p.Size = MaxPackageSize + 1 }, "short hash": func(p *Package) { p.SHA256 = "ab" },
		"upper-case hash": func(p *Package) { p.SHA256 = strings.Repeat("AB", 32) },
	} {
		p := ok
		mod(&p)
		if err := p.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCanTransition(t *testing.T) {
	allowed := map[[2]JobState]bool{
		{JobQueued, JobWaitingDevice}: true, {JobQueued, JobDelivering}: true,
		{JobWaitingDevice, JobDelivering}: true, {JobWaitingDevice, JobUpdating}: true, {JobWaitingDevice, JobQueued}: true,
		{JobDelivering, JobDelivered}: true, {JobDelivering, JobUpdating}: true, {JobDelivering, JobQueued}: true,
		{JobDelivering, JobWaitingDevice}: true, // the device went away
		{JobDelivered, JobUpdating}:       true, {JobDelivered, JobVerifying}: true, {JobDelivered, JobWaitingDevice}: true,
		{JobUpdating, JobVerifying}: true, {JobUpdating, JobSucceeded}: true, {JobUpdating, JobQueued}: true,
		{JobVerifying, JobSucceeded}: true,
	}
	for _, from := range JobStates {
		for _, to := range JobStates {
			want := allowed[[2]JobState{from, to}] || !from.Terminal() && (to == JobFailed || to == JobCancelled)
			if got := CanTransition(from, to); got != want {
				t.Errorf("%s -> %s: %v, want %v", from, to, got, want)
			}
		}
	}
	if CanTransition(JobQueued, "bogus") {
		t.Error("unknown target state accepted")
	}
}

func TestJob_Validate(t *testing.T) {
	ok := Job{ID: "j1", DeviceID: "d1", PackageID: "p1", Operation: OpDownloadAndUpdate, Delivery: DeliveryPull, State: JobQueued}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Job){
		"bad op": func(j *Job) { j.Operation = "flash" }, "bad delivery": func(j *Job) { j.Delivery = "carrier pigeon" },
		"bad state": func(j *Job) { j.State = "lost" }, "failed without reason": func(j *Job) { j.State = JobFailed },
		"negative attempts": func(j *Job) { j.Attempts = -1 }, "no device": func(j *Job) { j.DeviceID = "" },
	} {
		j := ok
		mod(&j)
		if err := j.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCampaign_Validate(t *testing.T) {
	ok := Campaign{ID: "c1", PackageID: "p1", Operation: OpDownloadAndUpdate, Devices: []string{"d1"}, MaxInFlight: 5, State: CampaignDraft}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Campaign){
		"no devices": func(c *Campaign) { c.Devices = nil }, "selector matched nothing": func(c *Campaign) { c.Devices, c.Selector = nil, &Selector{} },
		"device twice": func(c *Campaign) { c.Devices = append(c.Devices, c.Devices[0]) }, "bad delivery": func(c *Campaign) { c.Delivery = "carrier-pigeon" },
		"zero in flight": func(c *Campaign) { c.MaxInFlight = 0 }, "percent over 100": func(c *Campaign) { c.FailurePercent, c.FailureThreshold = true, 101 },
		"bad state": func(c *Campaign) { c.State = "maybe" },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	d := dmDevice()
	if !(Selector{Protocol: ProtocolDM, Model: "Widget-7"}).Matches(&d) || (Selector{FirmwareVersion: "9"}).Matches(&d) {
		t.Error("selector")
	}
}
