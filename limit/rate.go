package limit

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxSources is RateConfig.MaxSources's default: 65 536 sources
// seen within one refill time, about 10 MiB.
const DefaultMaxSources = 1 << 16

// RateConfig sets up a Rate.
type RateConfig struct {
	// PerSecond is the rate a source may keep up; Burst how many it may
	// send at once (a new source starts with a full bucket). Both > 0.
	PerSecond float64
	Burst     int
	// MaxSources bounds the sources tracked (default DefaultMaxSources).
	// When it is reached the source seen least recently is forgotten: it
	// starts again with a full bucket. A flood from more addresses than
	// this within one refill time (Burst/PerSecond) is not limited.
	MaxSources int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Rate is a token bucket per source address. It is safe for concurrent
// use.
type Rate struct {
	perSecond, burst float64
	max              int
	now              func() time.Time
	// refill is how long an empty bucket takes to fill: a source not
	// seen for that long has a full bucket, the same as a new one, and is
	// forgotten.
	refill time.Duration

	mu    sync.Mutex
	byIP  map[netip.Addr]*list.Element // of *bucket
	order list.List                    // most recently seen first
}

type bucket struct {
	ip     netip.Addr
	tokens float64
	last   time.Time // when tokens was computed (the last Allow)
}

// NewRate checks cfg and returns an empty Rate.
func NewRate(cfg RateConfig) (*Rate, error) {
	switch {
	case !(cfg.PerSecond > 0) || math.IsInf(cfg.PerSecond, 1) || cfg.Burst < 1:
		return nil, fmt.Errorf("limit: rate %v/s with burst %d: both must be positive and finite", cfg.PerSecond, cfg.Burst)
	case cfg.MaxSources < 0:
		return nil, errors.New("limit: negative MaxSources")
	}
	if cfg.MaxSources == 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	refill := time.Duration(float64(cfg.Burst) / cfg.PerSecond * float64(time.Second))
	if refill <= 0 {
		refill = 1
	}
	return &Rate{perSecond: cfg.PerSecond, burst: float64(cfg.Burst), max: cfg.MaxSources, now: cfg.Now, refill: refill,
		byIP: map[netip.Addr]*list.Element{}}, nil
}

// Allow takes a token from ip's bucket and tells whether there was one.
func (r *Rate) Allow(ip netip.Addr) bool {
	ip = ip.Unmap()
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(now)
	var b *bucket
	if e := r.byIP[ip]; e != nil {
		b = e.Value.(*bucket)
		if d := now.Sub(b.last); d > 0 {
			b.tokens = min(r.burst, b.tokens+d.Seconds()*r.perSecond)
			b.last = now
		}
		r.order.MoveToFront(e)
	} else {
		if len(r.byIP) >= r.max {
			r.removeLocked(r.order.Back())
		}
		b = &bucket{ip: ip, tokens: r.burst, last: now}
		r.byIP[ip] = r.order.PushFront(b)
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// expireLocked forgets the sources whose buckets have refilled. They are
// at the back of order (seen least recently), so this stops at the first
// one that is still draining: amortized O(1) per Allow.
func (r *Rate) expireLocked(now time.Time) {
	for e := r.order.Back(); e != nil; e = r.order.Back() {
		if now.Sub(e.Value.(*bucket).last) < r.refill {
			return
		}
		r.removeLocked(e)
	}
}

func (r *Rate) removeLocked(e *list.Element) {
	delete(r.byIP, e.Value.(*bucket).ip)
	r.order.Remove(e)
}

// Sources is the number of sources tracked.
func (r *Rate) Sources() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byIP)
}
