package bridge_test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/sim"
)

// BenchmarkCampaign runs one campaign of FUMO_BENCH_DEVICES simulated
// devices (default 2000), half DM and half LwM2M, with a 256 KiB image,
// through a whole gateway in this process:
//
//	go test ./bridge -run XXX -bench Campaign -benchtime 1x
//
// It reports the campaign's wall time, the process's peak RSS (gateway and
// every simulated device together: an upper bound for the gateway), and
// the store's writes and commits (fsyncs) per job, device setup excluded.
func BenchmarkCampaign(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("FUMO_BENCH_DEVICES")); err == nil && v > 1 {
		n = v
	}
	for range b.N {
		b.StopTimer()
		h := newHarness(b, 256<<10, func(c *gateway.Config) {
			c.Tick = 250 * time.Millisecond
			c.PollInterval = 5 * time.Second
			c.LwM2M.RequestTimeout = 30 * time.Second
		})
		var devices []string
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var id string
				if i%2 == 0 {
					id = fmt.Sprintf("dm-%05d", i)
					h.addDM(id, sim.FaultNone)
				} else {
					id = fmt.Sprintf("lw-%05d", i)
					h.addLwM2M(id, sim.LwM2MFaultNone)
				}
				mu.Lock()
				devices = append(devices, id)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if _, err := h.gw.Bridge.CreateCampaign(ctx, bridge.CampaignRequest{ID: "c1", PackageID: "fw2", Devices: devices, MaxInFlight: 200}); err != nil {
			b.Fatal(err)
		}
		before := h.gw.Store.Stats()
		b.StartTimer()
		start := time.Now()
		if _, err := h.gw.Bridge.StartCampaign(ctx, "c1"); err != nil {
			b.Fatal(err)
		}
		p := h.waitCampaign("c1", fleet.CampaignDone, 30*time.Minute)
		wall := time.Since(start)
		b.StopTimer()
		after := h.gw.Store.Stats()
		if p.Jobs[fleet.JobSucceeded] != n {
			b.Fatalf("campaign done with %v", p.Jobs)
		}
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(n)/wall.Seconds(), "jobs/s")
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(after.Writes-before.Writes)/float64(n), "writes/job")
		b.ReportMetric(float64(after.Commits-before.Commits)/float64(n), "fsyncs/job")
		h.stop()
	}
}

// peakRSS reads the process's high-water resident set (Linux).
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
