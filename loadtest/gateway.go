package loadtest

import (
	"context"
	"os"
	"path/filepath"

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
	g, err := gateway.Open(ctx, gateway.Config{StorePath: filepath.Join(d, "fumo-gw.db"), HTTPAddr: "127.0.0.1:0", LwM2M: &lc,
		SigningKey: []byte("the load run's signing key, this run only")})
	if err != nil {
		os.RemoveAll(d)
		return nil, nil, err
	}
	return g, func() { g.Close(); os.RemoveAll(d) }, nil
}
