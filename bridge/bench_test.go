package bridge_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/loadtest"
	"github.com/fumo-gw/fumo-gw/sim"
)

// BenchmarkCampaign runs one campaign of FUMO_BENCH_DEVICES simulated
// devices (default 2000), half DM and half LwM2M, with a 256 KiB image and
// 200 jobs in flight. The gateway runs in its own process (the one
// TestCrashRecovery uses), so that its memory is measured alone; the
// simulated devices run in this one:
//
//	go test ./bridge -run XXX -bench Campaign -benchtime 1x
//
// It reports the campaign's wall time, the gateway process's peak RSS, and
// the store's writes and commits (fsyncs) per job (device setup excluded).
func BenchmarkCampaign(b *testing.B) {
	n := envInt("FUMO_BENCH_DEVICES", 2000)
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		httpAddr, udpAddr := freeTCP(b), freeUDP(b)
		push := sim.NewPushGateway()
		go func() {
			for range push.Errors {
			}
		}()
		ps := httptest.NewServer(push)
		child := startChild(b, dir, httpAddr, udpAddr, ps.URL, "FUMO_CHILD_DEVICES="+strconv.Itoa(n/2),
			"FUMO_CHILD_IMAGE="+strconv.Itoa(256<<10), "FUMO_CHILD_IN_FLIGHT=200")
		_, digest := image(256 << 10)
		startFleet(b, n/2, httpAddr, udpAddr, push, digest, 0, 0, 300)
		if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if !child.waitFor("STARTED", time.Minute) {
			b.Fatalf("campaign did not start: %s", child.log())
		}
		started := child.last
		if !child.waitFor("DONE", 30*time.Minute) {
			child.kill(b)
			b.Fatalf("campaign did not finish: %s", child.log())
		}
		wall := time.Since(start)
		b.StopTimer()
		rss := loadtest.ProcessMemory(child.cmd.Process.Pid, "VmHWM")
		var w0, c0, w1, c1 int64
		fmt.Sscanf(started, "STARTED %d %d", &w0, &c0)
		fmt.Sscanf(child.last, "DONE %d %d", &w1, &c1)
		child.kill(b)
		ps.Close()
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(n)/wall.Seconds(), "jobs/s")
		b.ReportMetric(float64(rss)/(1<<20), "gateway-peak-RSS-MiB")
		b.ReportMetric(float64(w1-w0)/float64(n), "writes/job")
		b.ReportMetric(float64(c1-c0)/float64(n), "fsyncs/job")
	}
}
