package dm_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/sim"
)

// BenchmarkSession measures whole client-initiated sessions over loopback
// HTTP with the real store: a Get queued, then package 1 (md5) ->
// package 2 (212 + Get) -> package 3 (Status + Results) -> package 4
// (end). One op is one session; sessions/s = 1e9 / ns/op.
func BenchmarkSession(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			t := &testing.T{}
			g := &gateway{t: t, path: b.TempDir() + "/gw.db", addr: "127.0.0.1:0", results: &resultLog{}, alerts: &alertLog{}}
			g.start()
			defer g.stop()
			devices := make([]*sim.DMDevice, clients)
			for i := range devices {
				devices[i] = g.provision(fmt.Sprintf("bench%d", i), "md5", syncml.EncodingXML)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			b.ResetTimer()
			for _, d := range devices {
				wg.Add(1)
				go func(d *sim.DMDevice) {
					defer wg.Done()
					id := "bench" + d.DevID[len("IMEI:bench"):]
					for next.Add(1) <= int64(b.N) {
						if _, err := g.server.Enqueue(context.Background(), id, get("./DevDetail/FwV"), ""); err != nil {
							errs <- err
							return
						}
						rep, err := d.Session(context.Background(), sim.SessionOptions{})
						if err != nil || rep.Messages != 2 {
							errs <- fmt.Errorf("session: %v (%d messages)", err, rep.Messages)
							return
						}
					}
				}(d)
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
		})
	}
}
