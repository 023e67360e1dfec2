package fumo_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/replay"
	"github.com/fumo-gw/fumo-gw/sim"
)

var record = flag.Bool("record", false, "record the scenarios of TestRecordedSessions into testdata/syncml again")

// counterNonces makes a gateway's nonces repeatable, so that a recorded
// session replays byte for byte (md5 credentials depend on them).
func counterNonces() func() ([]byte, error) {
	var mu sync.Mutex
	n := 0
	return func() ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		return []byte(fmt.Sprintf("nonce-%010d", n)), nil
	}
}

// scenario sets a fresh gateway up (identically when recording and when
// replaying) and, when recording, drives the device.
type scenario struct {
	name  string
	setup func(g *gateway) (*sim.DMDevice, *sim.FUMO)
	drive func(t *testing.T, g *gateway, d *sim.DMDevice, f *sim.FUMO)
}

var scenarios = []scenario{
	{
		name: "dm-session-md5",
		setup: func(g *gateway) (*sim.DMDevice, *sim.FUMO) {
			d, f := g.device("d1", 0)
			g.dm.EnqueueAs(ctx, "cmd-get", "d1", &syncml.Get{Items: []syncml.Item{{Target: &syncml.Location{LocURI: "./DevDetail/FwV"}}}}, "")
			g.dm.EnqueueAs(ctx, "cmd-replace", "d1", &syncml.Replace{Items: []syncml.Item{{Target: &syncml.Location{LocURI: "./Vendor/Setting"},
				Meta: &syncml.Meta{Format: "chr"}, Data: []byte("on")}}}, "")
			return d, f
		},
		drive: func(t *testing.T, g *gateway, d *sim.DMDevice, _ *sim.FUMO) { call(t, d) },
	},
	{
		name: "fumo-pull-md5",
		setup: func(g *gateway) (*sim.DMDevice, *sim.FUMO) {
			d, f := g.device("d1", 0)
			g.job("job1", "d1", fleet.OpDownloadAndUpdate, fleet.DeliveryPull)
			return d, f
		},
		drive: driveJob1,
	},
	{
		name: "fumo-push-large-object",
		setup: func(g *gateway) (*sim.DMDevice, *sim.FUMO) {
			_, sha := g.putPackage("small", 6000)
			d, f := g.device("d1", 3000)
			f.ExpectSHA256 = sha
			g.jobOf("job1", "d1", "small", fleet.OpDownloadAndUpdate, fleet.DeliveryPush)
			return d, f
		},
		drive: driveJob1,
	},
}

// driveJob1 lets the device run job1 to its end: the session with the
// FUMO commands, the background work, the report session.
func driveJob1(t *testing.T, g *gateway, d *sim.DMDevice, f *sim.FUMO) {
	call(t, d)
	f.Report(ctx)
	if j := g.waitJob("job1"); j.State != fleet.JobSucceeded {
		t.Fatalf("job %s", j.State)
	}
}

// TestRecordedSessions replays the recorded sessions of testdata/syncml
// against a fresh gateway and checks every server message (gateway address
// and RespURI tokens normalised). With -record it first records them again
// from the simulator.
func TestRecordedSessions(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "testdata", "syncml", sc.name)
			if *record {
				g := newGatewayWith(t, false, nil, counterNonces())
				d, f := sc.setup(g)
				d.Encoding = syncml.EncodingXML
				var mu sync.Mutex
				var bodies [][]byte
				var from []bool
				d.Record = func(_ int, fromClient bool, body []byte) {
					mu.Lock()
					defer mu.Unlock()
					bodies = append(bodies, append([]byte(nil), body...))
					from = append(from, fromClient)
				}
				sc.drive(t, g, d, f)
				f.Wait()
				os.RemoveAll(dir)
				if err := replay.Save(dir, bodies, from); err != nil {
					t.Fatal(err)
				}
			}
			msgs, err := replay.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			g := newGatewayWith(t, false, nil, counterNonces())
			sc.setup(g)
			if err := replay.Run(ctx, nil, "http://"+g.addr+"/dm", msgs); err != nil {
				t.Fatal(err)
			}
		})
	}
}
