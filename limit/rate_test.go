package limit_test

import (
	"math"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/limit"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("192.0.2.2")
	ipC = netip.MustParseAddr("192.0.2.3")
)

// step is one Allow at a time after the previous step.
type step struct {
	after time.Duration
	ip    netip.Addr
	want  bool
}

func TestRate_Allow(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name       string
		rate       float64
		burst      int
		maxSources int
		steps      []step
	}{
		{"a new source has a full burst", 10, 3, 0, []step{
			{0, ipA, true}, {0, ipA, true}, {0, ipA, true}, {0, ipA, false}, {0, ipA, false}}},
		{"tokens come back at the rate", 10, 2, 0, []step{
			{0, ipA, true}, {0, ipA, true}, {0, ipA, false},
			{100 * ms, ipA, true}, {0, ipA, false},
			{50 * ms, ipA, false}, {50 * ms, ipA, true}}},
		{"refused attempts take nothing", 10, 1, 0, []step{
			{0, ipA, true}, {50 * ms, ipA, false}, {50 * ms, ipA, true}}},
		{"a long pause refills the burst, not more", 10, 2, 0, []step{
			{0, ipA, true}, {0, ipA, true}, {time.Hour, ipA, true}, {0, ipA, true}, {0, ipA, false}}},
		{"sources do not share a bucket", 10, 1, 0, []step{
			{0, ipA, true}, {0, ipA, false}, {0, ipB, true}, {0, ipB, false}, {0, ipC, true}}},
		{"an IPv4-mapped address is the IPv4 address", 10, 1, 0, []step{
			{0, netip.MustParseAddr("::ffff:192.0.2.1"), true}, {0, ipA, false}}},
		{"a forgotten source starts again full", 1, 1, 2, []step{
			{0, ipA, true}, {0, ipA, false},
			{0, ipB, true}, {0, ipC, true}, // A, seen least recently, is forgotten
			{0, ipA, true}}},
		{"the source seen least recently goes first", 1, 1, 2, []step{
			{0, ipA, true}, {0, ipB, true},
			{0, ipA, false}, // A is now the more recent one
			{0, ipC, true},  // B goes
			{0, ipA, false}, {0, ipB, true}}},
		{"fractional rates", 0.5, 1, 0, []step{
			{0, ipA, true}, {time.Second, ipA, false}, {time.Second, ipA, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			r, err := limit.NewRate(limit.RateConfig{PerSecond: tt.rate, Burst: tt.burst, MaxSources: tt.maxSources, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				clk.Advance(s.after)
				if got := r.Allow(s.ip); got != s.want {
					t.Fatalf("step %d (%s after %v): Allow = %v, want %v", i, s.ip, s.after, got, s.want)
				}
			}
		})
	}
}

// TestRate_ForgetsRefilledSources: a source whose bucket has refilled is
// no longer tracked, so memory follows the sources active within one
// refill time (Burst/PerSecond), not every source ever seen.
func TestRate_ForgetsRefilledSources(t *testing.T) {
	clk := newClock()
	r, err := limit.NewRate(limit.RateConfig{PerSecond: 100, Burst: 50, Now: clk.Now}) // refills in 500 ms
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		r.Allow(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	if n := r.Sources(); n != 1000 {
		t.Fatalf("%d sources tracked, want 1000", n)
	}
	clk.Advance(499 * time.Millisecond)
	r.Allow(ipA)
	if n := r.Sources(); n != 1001 {
		t.Fatalf("%d sources tracked before the refill time, want 1001", n)
	}
	clk.Advance(time.Millisecond)
	r.Allow(ipB)
	if n := r.Sources(); n != 2 {
		t.Fatalf("%d sources tracked after the refill time, want 2 (A and B)", n)
	}
}

// TestRate_MaxSources: the table never holds more than MaxSources, however
// many sources come within one refill time.
func TestRate_MaxSources(t *testing.T) {
	clk := newClock()
	r, err := limit.NewRate(limit.RateConfig{PerSecond: 1, Burst: 1, MaxSources: 100, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10_000 {
		if !r.Allow(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})) {
			t.Fatalf("new source %d refused", i)
		}
		if n := r.Sources(); n > 100 {
			t.Fatalf("%d sources tracked, max 100", n)
		}
	}
}

func TestNewRate_Invalid(t *testing.T) {
	tests := []struct {
		name string
		cfg  limit.RateConfig
	}{
		{"zero rate", limit.RateConfig{Burst: 1}},
		{"negative rate", limit.RateConfig{PerSecond: -1, Burst: 1}},
		{"infinite rate", limit.RateConfig{PerSecond: math.Inf(1), Burst: 1}},
		{"not a number", limit.RateConfig{PerSecond: math.NaN(), Burst: 1}},
		{"zero burst", limit.RateConfig{PerSecond: 1}},
		{"negative max sources", limit.RateConfig{PerSecond: 1, Burst: 1, MaxSources: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := limit.NewRate(tt.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestRate_Concurrent: Allow from many goroutines hands out exactly the
// burst when the clock stands still (run with -race).
func TestRate_Concurrent(t *testing.T) {
	clk := newClock()
	r, err := limit.NewRate(limit.RateConfig{PerSecond: 1, Burst: 500, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			n := 0
			for range 200 {
				if r.Allow(ipA) {
					n++
				}
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if allowed != 500 {
		t.Fatalf("%d allowed, want the burst of 500", allowed)
	}
}

func BenchmarkRate_Allow(b *testing.B) {
	r, err := limit.NewRate(limit.RateConfig{PerSecond: 1e9, Burst: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ips := make([]netip.Addr, 1024)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Allow(ips[i%len(ips)])
		i++
	}
}
