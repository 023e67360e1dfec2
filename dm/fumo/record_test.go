package fumo_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

var (
	record     = flag.Bool("record", false, "record the scenarios of TestRecordedSessions into testdata/syncml again")
	recordOnly = flag.String("record-only", "", "with -record, record only the scenario folders whose name matches this regular expression")
)

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
			if *record && (*recordOnly == "" || regexp.MustCompile(*recordOnly).MatchString(e.Name())) {
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
// messages of its sessions into dir, replacing what was there. The
// setup's recording block switches the simulator and says which steps it
// runs (default: one session, then every job to its end).
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
	steps := []string{"session", "jobs"}
	if r := setup.Recording; r != nil && len(r.Steps) > 0 {
		steps = r.Steps
	}
	for _, step := range steps {
		switch step {
		case "session":
			if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil && !errors.Is(err, sim.ErrSessionDropped) {
				t.Fatalf("device session: %v", err)
			}
		case "request":
			if _, err := d.RequestUpdate(ctx, false); err != nil {
				t.Fatalf("device request: %v", err)
			}
		case "jobs":
			jobs, err := g.Store.JobsOfDevice(ctx, setup.Devices[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range jobs {
				if !j.State.Terminal() {
					f.Report(ctx)
				}
			}
		}
	}
	jobs, err := g.Store.JobsOfDevice(ctx, setup.Devices[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if got := waitTerminal(t, g.Store, j.ID); got.State != fleet.JobSucceeded {
			t.Fatalf("job %s %s %s: %+v", j.ID, got.State, got.Reason, got.History)
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
// with a FUMO client expecting the package of the setup's first job (or
// of the first package), switched as the setup's recording block says.
func scenarioDevice(g *scenario.Gateway, setup *scenario.Setup) (*sim.DMDevice, *sim.FUMO) {
	sd := setup.Devices[0]
	var sw scenario.SimSwitches
	if setup.Recording != nil {
		sw = setup.Recording.Sim
	}
	d := &sim.DMDevice{ServerURL: g.URL, DevID: sd.DMDeviceID, Username: sd.Username, Password: sd.Password, Auth: sd.Auth,
		ServerID: sd.ServerID, ServerPassword: sd.ServerPassword, MaxMsgSize: sd.MaxMsgSize, Encoding: syncml.EncodingXML,
		Nonce: []byte(sd.ClientNonce), ServerNonce: []byte(sd.ServerNonce),
		NoLocName: sw.NoLocName, ServerAuth: sw.ServerAuth, ChallengeServer: sw.ChallengeServer, FollowChal: sw.FollowChal,
		SessionID: sw.SessionID, LoseReply: sw.LoseReply, DropOnExec: sw.DropOnExec}
	model := sd.Model
	if model == "" {
		model = "Rocket"
	}
	d.SetNode("./DevInfo/DevId", []byte(sd.DMDeviceID))
	d.SetNode("./DevInfo/Mod", []byte(model))
	fwv := sd.FirmwareVersion
	if sw.FirmwareVersion != "" {
		fwv = sw.FirmwareVersion
	}
	d.SetNode("./DevDetail/FwV", []byte(fwv))
	root := sw.FUMORoot
	if root == "" {
		root = sd.FUMORoot
	}
	f := &sim.FUMO{Root: root, VersionFormat: sw.VersionFormat}
	if sw.NoReport {
		f.Fault = sim.FaultNoReport
	}
	pkgID := ""
	if len(setup.Jobs) > 0 {
		pkgID = setup.Jobs[0].Package
	} else if len(setup.Packages) > 0 {
		pkgID = setup.Packages[0].ID
	}
	if p, ok := setup.Package(pkgID); ok {
		_, f.ExpectSHA256 = scenario.Image(p.ID, p.Size)
	}
	d.EnableFUMO(f)
	if sw.FUMOState != 0 {
		d.SetNode(f.Root+"/State", []byte(strconv.Itoa(sw.FUMOState)))
	}
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
