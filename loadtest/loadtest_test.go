package loadtest

import (
	"context"
	"os"
	"testing"
	"time"
)

// quick are options small enough for CI: the scenarios must run and
// their baselines answer; figures are not checked here (speed is the
// benchmark's business, not a test's).
func quick(t *testing.T) Options {
	return Options{Concurrency: 4, Duration: 300 * time.Millisecond, Rounds: 1, Devices: 8, ImageSize: 8 << 10, Dir: t.TempDir()}
}

func TestRegister(t *testing.T) {
	r, err := Register(context.Background(), quick(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Value <= 0 || r.Baseline == nil || r.Baseline.Value <= 0 {
		t.Fatalf("%+v", r)
	}
	if os.Getenv("FUMO_BENCH_SHOW") != "" {
		t.Logf("%+v %+v", r, *r.Baseline)
	}
}

func TestBlock2(t *testing.T) {
	r, err := Block2(context.Background(), quick(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Value <= 0 || r.Baseline == nil || r.Baseline.Value <= 0 {
		t.Fatalf("%+v", r)
	}
}

func TestDMSessions(t *testing.T) {
	r, err := DMSessions(context.Background(), quick(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Value <= 0 || r.Baseline == nil || r.Baseline.Value <= 0 {
		t.Fatalf("%+v", r)
	}
}

func TestTransitions(t *testing.T) {
	r, err := Transitions(context.Background(), quick(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Value <= 0 || r.Baseline == nil || r.Baseline.Value <= 0 {
		t.Fatalf("%+v", r)
	}
}
