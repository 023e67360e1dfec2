package fumo_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/replay"
	"github.com/fumo-gw/fumo-gw/replay/scenario"
	"github.com/fumo-gw/fumo-gw/sim"
	"github.com/fumo-gw/fumo-gw/store"
)

var record = flag.Bool("record", false, "record the scenarios of TestRecordedSessions into testdata/syncml again")

// TestRecordedSessions replays the recorded sessions of testdata/syncml
// against a fresh gateway set up as each folder's setup.json says, and
// checks every server message (gateway address, RespURI tokens and nonces
// normalised). With -record it first records them again from the
// simulator, driving the setup's first device: one session, then each
// job to its end. A folder without setup.json is decode-only and skipped.
func TestRecordedSessions(t *testing.T) {
	root := filepath.Join("..", "..", "testdata", "syncml")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			dir := filepath.Join(root, e.Name())
			setup, err := scenario.Load(dir)
			if errors.Is(err, scenario.ErrNoSetup) {
				t.Skip("no setup.json: decode-only (testdata/syncml/README.md says why)")
			}
			if err != nil {
				t.Fatal(err)
			}
			if setup.DecodeOnly != "" {
				t.Skipf("decode-only: %s", setup.DecodeOnly)
			}
			if *record {
				recordScenario(t, dir, setup)
			}
			msgs, err := replay.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			g := startScenario(t, setup)
			if err := replay.Run(ctx, nil, g.URL, msgs); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func startScenario(t *testing.T, setup *scenario.Setup) *scenario.Gateway {
	t.Helper()
	g, err := scenario.Start(ctx, scenario.Config{StorePath: filepath.Join(t.TempDir(), "gw.db"), Setup: setup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// recordScenario runs the simulator against a fresh gateway and writes the
// messages of its sessions into dir, replacing what was there.
func recordScenario(t *testing.T, dir string, setup *scenario.Setup) {
	if len(setup.Devices) == 0 {
		t.Fatal("a scenario to record needs a device")
	}
	g := startScenario(t, setup)
	d, f := scenarioDevice(g, setup)
	var mu sync.Mutex
	var bodies [][]byte
	var from []bool
	d.Record = func(_ int, fromClient bool, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, append([]byte(nil), body...))
		from = append(from, fromClient)
	}
	call(t, d)
	for _, j := range setup.Jobs {
		f.Report(ctx)
		if got := waitTerminal(t, g.Store, j.ID); got.State != fleet.JobSucceeded {
			t.Fatalf("job %s %s", j.ID, got.State)
		}
	}
	f.Wait()
	// Keep setup.json; the messages are recorded anew (a new folder has
	// none, and Load says so).
	msgs, _ := replay.Load(dir)
	for _, m := range msgs {
		if err := os.Remove(filepath.Join(dir, m.Name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := replay.Save(dir, bodies, from); err != nil {
		t.Fatal(err)
	}
}

// scenarioDevice is the simulator of the setup's first device, in XML,
// with a FUMO client expecting the package of the setup's first job.
func scenarioDevice(g *scenario.Gateway, setup *scenario.Setup) (*sim.DMDevice, *sim.FUMO) {
	sd := setup.Devices[0]
	d := &sim.DMDevice{ServerURL: g.URL, DevID: sd.DMDeviceID, Username: sd.Username, Password: sd.Password, Auth: sd.Auth,
		ServerID: sd.ServerID, ServerPassword: sd.ServerPassword, MaxMsgSize: sd.MaxMsgSize, Encoding: syncml.EncodingXML,
		Nonce: []byte(sd.ClientNonce), ServerNonce: []byte(sd.ServerNonce)}
	d.SetNode("./DevInfo/DevId", []byte(sd.DMDeviceID))
	d.SetNode("./DevInfo/Mod", []byte("Rocket"))
	d.SetNode("./DevDetail/FwV", []byte(sd.FirmwareVersion))
	f := &sim.FUMO{Root: sd.FUMORoot}
	if len(setup.Jobs) > 0 {
		if p, ok := setup.Package(setup.Jobs[0].Package); ok {
			_, f.ExpectSHA256 = scenario.Image(p.ID, p.Size)
		}
	}
	d.EnableFUMO(f)
	return d, f
}

// waitTerminal waits (bounded by a generous deadline, not by speed) until
// the job is terminal.
func waitTerminal(t *testing.T, st *store.Store, id string) fleet.Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := st.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() || time.Now().After(deadline) {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
}
