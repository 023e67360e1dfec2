// Package loadtest measures fumo-gw at fleet scale on one machine: each
// figure side by side with a baseline measured in the same run (a bare
// go-coap server doing the same CoAP exchanges, a bare net/http + etree
// server answering the same SyncML packages, bbolt with one fsync per
// write), and whole campaigns and idle fleets against a gateway process
// whose memory is read from /proc. Everything runs on loopback and is
// bounded in device count and time. cmd/fumo-gw's bench command drives it.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Bounds of a run.
const (
	MaxDevices     = 20000
	MaxConcurrency = 1024
	MaxDuration    = 10 * time.Minute
	MaxImage       = 16 << 20
)

// ErrBounds is returned for a run outside the bounds above or aimed at an
// address that is not loopback.
var ErrBounds = errors.New("loadtest: out of bounds")

// Result is one row of the table.
type Result struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"` // unit of Value, e.g. "registrations/s"
	Value    float64 `json:"value"`
	// Baseline is the same work done by the bare baseline in the same
	// run (absent for rows without one).
	Baseline *Baseline `json:"baseline,omitempty"`
	// Extra are further figures (peak RSS, fsyncs per job, ...).
	Extra map[string]float64 `json:"extra,omitempty"`
	// Target says what the row must reach; Met whether it did.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
	// Params are the run's parameters; Command reproduces the row.
	Params  map[string]any `json:"params"`
	Command string         `json:"command"`
}

// Baseline is the bare figure a row is compared with.
type Baseline struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Ratio is Value of the row over this Value.
	Ratio float64 `json:"ratio"`
}

// compare fills the baseline and checks a minimum ratio.
func (r *Result) compare(name string, base float64, minRatio float64, target string) {
	ratio := 0.0
	if base > 0 {
		ratio = r.Value / base
	}
	r.Baseline = &Baseline{Name: name, Value: base, Ratio: ratio}
	r.Target = target
	met := ratio >= minRatio
	r.Met = &met
}

// Table writes results as an aligned text table.
func Table(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfumo-gw\tbaseline\tratio\ttarget\tmet\t")
	for _, r := range rs {
		base, ratio := "-", "-"
		if r.Baseline != nil {
			base = fmt.Sprintf("%s %s", num(r.Baseline.Value), r.Baseline.Name)
			ratio = fmt.Sprintf("%.2f", r.Baseline.Ratio)
		}
		met := "-"
		if r.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*r.Met]
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\t\n", r.Scenario, num(r.Value), r.Metric, base, ratio, r.Target, met)
		for _, k := range sortedKeys(r.Extra) {
			fmt.Fprintf(tw, "  %s\t%s\t\t\t\t\t\n", k, num(r.Extra[k]))
		}
	}
	tw.Flush()
}

func num(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e9:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// Options are the common parameters of the paired scenarios.
type Options struct {
	// Concurrency is the number of devices working at once (default 64).
	Concurrency int
	// Duration is the measuring time of each side (default 5 s), split in
	// Rounds alternating rounds (default 3) so that both sides see the
	// same machine.
	Duration time.Duration
	Rounds   int
	// Devices is the number of provisioned devices the work cycles over
	// (default 1000).
	Devices int
	// ImageSize is the package size of the Block2 scenario (default
	// 256 KiB).
	ImageSize int
	// Dir holds the stores (default a temporary directory).
	Dir string
}

func (o *Options) defaults() error {
	if o.Concurrency == 0 {
		o.Concurrency = 64
	}
	if o.Duration == 0 {
		o.Duration = 5 * time.Second
	}
	if o.Rounds == 0 {
		o.Rounds = 3
	}
	if o.Devices == 0 {
		o.Devices = 1000
	}
	if o.ImageSize == 0 {
		o.ImageSize = 256 << 10
	}
	switch {
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrency:
		return fmt.Errorf("%w: concurrency %d (1..%d)", ErrBounds, o.Concurrency, MaxConcurrency)
	case o.Duration <= 0 || o.Duration > MaxDuration:
		return fmt.Errorf("%w: duration %s (up to %s)", ErrBounds, o.Duration, MaxDuration)
	case o.Rounds < 1 || o.Rounds > 100:
		return fmt.Errorf("%w: rounds %d (1..100)", ErrBounds, o.Rounds)
	case o.Devices < 1 || o.Devices > MaxDevices:
		return fmt.Errorf("%w: devices %d (1..%d)", ErrBounds, o.Devices, MaxDevices)
	case o.ImageSize < 1 || o.ImageSize > MaxImage:
		return fmt.Errorf("%w: image %d bytes (1..%d)", ErrBounds, o.ImageSize, MaxImage)
	}
	return nil
}

func (o Options) params() map[string]any {
	return map[string]any{"concurrency": o.Concurrency, "duration": o.Duration.String(), "rounds": o.Rounds, "devices": o.Devices}
}

// drive runs workers until d has passed (or ctx ends), each calling op in
// a loop; it returns the operations completed and the time taken. The
// first error stops every worker.
func drive(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, worker int) error) (int64, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(d)
	var n atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", "devices"), func(ctx context.Context) {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if err := op(ctx, w); err != nil {
					if ctx.Err() == nil {
						once.Do(func() { first = err; cancel() })
					}
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return n.Load(), time.Since(start), first
}

// baseline runs serve, a baseline server's loop, under the profile label
// side=baseline (see inProcess).
func baseline(serve func()) {
	pprof.Do(context.Background(), pprof.Labels("side", "baseline"), func(context.Context) { serve() })
}

// paired measures two sides in alternating rounds and returns each side's
// operations per second.
func paired(ctx context.Context, o Options, sides [2]func(ctx context.Context, worker int) error) (gw, base float64, err error) {
	var ops [2]int64
	var took [2]time.Duration
	for range o.Rounds {
		for i, op := range sides {
			n, d, err := drive(ctx, o.Concurrency, o.Duration/time.Duration(o.Rounds), op)
			if err != nil {
				return 0, 0, fmt.Errorf("%s: %w", [2]string{"fumo-gw", "baseline"}[i], err)
			}
			ops[i] += n
			took[i] += d
		}
	}
	return float64(ops[0]) / took[0].Seconds(), float64(ops[1]) / took[1].Seconds(), nil
}

// Loopback checks that every address (host:port or URL) is a loopback
// one: the load tool never aims at another machine.
func Loopback(addrs ...string) error {
	for _, a := range addrs {
		if a == "" {
			continue
		}
		host := a
		if u, err := url.Parse(a); err == nil && u.Host != "" {
			host = u.Host
		}
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if host == "localhost" {
			continue
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.IsLoopback() {
			return fmt.Errorf("%w: %s is not a loopback address", ErrBounds, a)
		}
	}
	return nil
}

// sourceIP is the loopback source address of device i: devices are
// spread over 127.1.0.0/16, perIP to an address, as a fleet comes from
// many addresses (the gateway's per-source limits apply per address).
func sourceIP(i, perIP int) net.IP {
	k := i / perIP
	return net.IPv4(127, 1, byte(k>>8), byte(k&0xff)+1)
}
