package scenario_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/replay/scenario"
	"github.com/fumo-gw/fumo-gw/store"
)

var ctx = context.Background()

const device = `{"id": "d1", "dm_device_id": "IMEI:d1", "auth": "md5", "username": "d1", "password": "pw"}`

func TestParse_Invalid(t *testing.T) {
	tests := []struct{ name, json string }{
		{name: "not json", json: `{`},
		{name: "unknown field", json: `{"devices": [], "jobz": []}`},
		{name: "device without dm id", json: `{"devices": [{"id": "d1"}]}`},
		{name: "package without size", json: `{"packages": [{"id": "p", "name": "n", "version": "1"}]}`},
		{name: "command for unknown device", json: `{"devices": [` + device + `], "commands": [{"id": "c", "device": "d2", "xml": "<Get/>"}]}`},
		{name: "job for unknown package", json: `{"devices": [` + device + `], "jobs": [{"id": "j", "device": "d1", "package": "p"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := scenario.Parse([]byte(tc.json)); !errors.Is(err, scenario.ErrInvalid) {
				t.Errorf("err %v, want ErrInvalid", err)
			}
		})
	}
}

func TestLoad_NoSetup(t *testing.T) {
	if _, err := scenario.Load(t.TempDir()); !errors.Is(err, scenario.ErrNoSetup) {
		t.Errorf("err %v, want ErrNoSetup", err)
	}
}

// TestLoad_RecordedScenarios: every committed setup.json parses.
func TestLoad_RecordedScenarios(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/syncml/*/" + scenario.FileName)
	if len(files) == 0 {
		t.Fatal("no setup.json found")
	}
	for _, f := range files {
		if _, err := scenario.Load(filepath.Dir(f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseCommand(t *testing.T) {
	c, err := scenario.ParseCommand(`<Replace><Item><Target><LocURI>./X</LocURI></Target><Meta><Format xmlns="syncml:metinf">chr</Format></Meta><Data>on</Data></Item></Replace>`)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := c.(*syncml.Replace)
	if !ok || r.CmdID != "" || len(r.Items) != 1 || string(r.Items[0].Data) != "on" || r.Items[0].Meta.Format != "chr" {
		t.Errorf("got %#v", c)
	}
	for _, bad := range []string{"", "<Get>", "<Get><Item><Target><LocURI>./X</LocURI></Target></Item></Get><Get/>"} {
		if _, err := scenario.ParseCommand(bad); !errors.Is(err, scenario.ErrInvalid) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

func TestNonces(t *testing.T) {
	next := scenario.Nonces("first")
	for _, want := range []string{"first", "nonce-0000000001", "nonce-0000000002"} {
		if b, _ := next(); string(b) != want {
			t.Errorf("nonce %q, want %q", b, want)
		}
	}
}

func TestImage_Repeatable(t *testing.T) {
	a, sa := scenario.Image("fw2", 1000)
	b, sb := scenario.Image("fw2", 1000)
	_, sc := scenario.Image("fw3", 1000)
	if len(a) != 1000 || string(a) != string(b) || sa != sb || sa == sc {
		t.Error("images are not repeatable per id")
	}
}

// TestStart_Applies: the gateway holds what the setup describes, the job
// started (waiting for its device); the store checks out after Close.
func TestStart_Applies(t *testing.T) {
	s, err := scenario.Parse([]byte(`{
  "packages": [{"id": "fw2", "name": "rocket", "version": "2.0", "size": 5000}],
  "devices": [` + device + `],
  "commands": [{"id": "cmd1", "device": "d1", "xml": "<Get><Item><Target><LocURI>./DevDetail/FwV</LocURI></Target></Item></Get>"}],
  "jobs": [{"id": "job1", "device": "d1", "package": "fw2"}]
}`))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gw.db")
	g, err := scenario.Start(ctx, scenario.Config{StorePath: path, Setup: s})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := g.Store.Device(ctx, "d1"); err != nil || string(d.DM.Password.Reveal()) != "pw" || d.DM.Auth != fleet.DMAuthMD5 {
		t.Errorf("device %+v: %v", d, err)
	}
	j, err := g.Store.Job(ctx, "job1")
	if err != nil || j.State == fleet.JobQueued || j.Operation != fleet.OpDownloadAndUpdate || j.Delivery != fleet.DeliveryPull {
		t.Errorf("job %+v: %v", j, err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Errorf("store check: %v", err)
	}
}

// TestStart_BadSetup: a setup the store refuses fails Start, and the
// store is closed again (a second Start on the same file works).
func TestStart_BadSetup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.db")
	bad := &scenario.Setup{Devices: []scenario.Device{{ID: "d1", DMDeviceID: "IMEI:d1", Auth: "none"}}}
	if _, err := scenario.Start(ctx, scenario.Config{StorePath: path, Setup: bad}); err == nil {
		t.Fatal("a device with auth none was accepted")
	}
	g, err := scenario.Start(ctx, scenario.Config{StorePath: path})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
}
