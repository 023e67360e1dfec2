package loadtest

import (
	"context"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/lwm2m"
)

// inProcess opens a whole gateway (store, DM, downloads, LwM2M over UDP,
// bridge) on loopback ephemeral ports with its store under dir. The
// paired scenarios measure it in this process beside its baseline, so
// that both share the machine alike.
func inProcess(ctx context.Context, dir string) (*gateway.Gateway, func(), error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "fumo-gw-bench-")
		if err != nil {
			return nil, nil, err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	d, err := os.MkdirTemp(dir, "gw-")
	if err != nil {
		return nil, nil, err
	}
	lc := lwm2m.DefaultConfig()
	lc.UDPAddr, lc.DTLSAddr = "127.0.0.1:0", ""
	// The paired rows' devices are bare CoAP clients that register and
	// say nothing more: no Object 3 to read after their Register.
	lc.Inventory = false
	// Its goroutines carry the profile label side=fumo-gw (they inherit
	// it from here), the baselines' side=baseline, the simulated devices'
	// side=devices: "go tool pprof -tagfocus side=fumo-gw" on a profile
	// of a run (bench -cpuprofile) shows the gateway alone.
	var g *gateway.Gateway
	pprof.Do(ctx, pprof.Labels("side", "fumo-gw"), func(ctx context.Context) {
		g, err = gateway.Open(ctx, gateway.Config{StorePath: filepath.Join(d, "fumo-gw.db"), HTTPAddr: "127.0.0.1:0", LwM2M: &lc,
			SigningKey: []byte("the load run's signing key, this run only")})
	})
	if err != nil {
		os.RemoveAll(d)
		return nil, nil, err
	}
	return g, func() { g.Close(); os.RemoveAll(d) }, nil
}
