package limit_test

import (
	"net/netip"
	"testing"

	"github.com/fumo-gw/fumo-gw/limit"
)

func TestConnSet(t *testing.T) {
	type op struct {
		remove  bool
		ip      netip.Addr
		conn    string
		evicted string // the connection Add let go ("" none); for Remove, "held" if it was
	}
	add := func(ip netip.Addr, c, evicted string) op { return op{ip: ip, conn: c, evicted: evicted} }
	remove := func(c string, held bool) op {
		o := op{remove: true, conn: c}
		if held {
			o.evicted = "held"
		}
		return o
	}
	tests := []struct {
		name     string
		perIP    int
		ops      []op
		wantOpen map[netip.Addr]int
	}{
		{"up to the cap nothing goes", 2, []op{add(ipA, "a1", ""), add(ipA, "a2", "")}, map[netip.Addr]int{ipA: 2}},
		{"beyond it the oldest goes", 2, []op{add(ipA, "a1", ""), add(ipA, "a2", ""), add(ipA, "a3", "a1"), add(ipA, "a4", "a2")},
			map[netip.Addr]int{ipA: 2}},
		{"sources have their own", 1, []op{add(ipA, "a1", ""), add(ipB, "b1", ""), add(ipA, "a2", "a1"), add(ipC, "c1", "")},
			map[netip.Addr]int{ipA: 1, ipB: 1, ipC: 1}},
		{"a removed connection makes room", 2, []op{add(ipA, "a1", ""), add(ipA, "a2", ""), remove("a1", true), add(ipA, "a3", "")},
			map[netip.Addr]int{ipA: 2}},
		{"removing twice, or an evicted one, is nothing", 1, []op{add(ipA, "a1", ""), add(ipA, "a2", "a1"), remove("a1", false),
			remove("a2", true), remove("a2", false)}, map[netip.Addr]int{ipA: 0}},
		{"adding a held one again changes nothing", 2, []op{add(ipA, "a1", ""), add(ipA, "a1", ""), add(ipA, "a2", ""), add(ipA, "a3", "a1")},
			map[netip.Addr]int{ipA: 2}},
		{"an IPv4-mapped address is the IPv4 address", 1, []op{add(netip.MustParseAddr("::ffff:192.0.2.1"), "m", ""), add(ipA, "a", "m")},
			map[netip.Addr]int{ipA: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := limit.NewConnSet[string](tt.perIP)
			for i, o := range tt.ops {
				if o.remove {
					if held := s.Remove(o.conn); held != (o.evicted == "held") {
						t.Fatalf("op %d: Remove(%s) = %v", i, o.conn, held)
					}
					continue
				}
				got, evicted := s.Add(o.ip, o.conn)
				if !evicted {
					got = ""
				}
				if got != o.evicted {
					t.Fatalf("op %d: Add(%s, %s) evicted %q, want %q", i, o.ip, o.conn, got, o.evicted)
				}
			}
			for ip, n := range tt.wantOpen {
				if got := s.Open(ip); got != n {
					t.Errorf("Open(%s) = %d, want %d", ip, got, n)
				}
			}
		})
	}
}

// TestConnSet_Bounded: however many connections come from one address,
// the set holds the cap's worth, the newest.
func TestConnSet_Bounded(t *testing.T) {
	s := limit.NewConnSet[int](8)
	evictions := 0
	for i := range 10_000 {
		if old, ok := s.Add(ipA, i); ok {
			evictions++
			if old != i-8 {
				t.Fatalf("adding %d evicted %d, want %d", i, old, i-8)
			}
		}
	}
	if n := s.Open(ipA); n != 8 || evictions != 10_000-8 {
		t.Fatalf("%d held, %d evicted", n, evictions)
	}
}
