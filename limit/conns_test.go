package limit_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/fumo-gw/fumo-gw/limit"
)

func TestConns(t *testing.T) {
	type op struct {
		release bool // Release instead of Acquire
		ip      netip.Addr
		want    bool // Acquire's answer
	}
	acq := func(ip netip.Addr, want bool) op { return op{ip: ip, want: want} }
	rel := func(ip netip.Addr) op { return op{release: true, ip: ip} }
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	tests := []struct {
		name        string
		perIP       int
		ops         []op
		wantOpen    map[netip.Addr]int
		wantRefused int64
	}{
		{"up to the cap", 2, []op{acq(ipA, true), acq(ipA, true), acq(ipA, false), acq(ipA, false)},
			map[netip.Addr]int{ipA: 2}, 2},
		{"a release frees a slot", 1, []op{acq(ipA, true), acq(ipA, false), rel(ipA), acq(ipA, true)},
			map[netip.Addr]int{ipA: 1}, 1},
		{"sources have their own caps", 1, []op{acq(ipA, true), acq(ipB, true), acq(ipA, false), acq(ipC, true)},
			map[netip.Addr]int{ipA: 1, ipB: 1, ipC: 1}, 1},
		{"an IPv4-mapped address is the IPv4 address", 1, []op{acq(mapped, true), acq(ipA, false), rel(ipA)},
			map[netip.Addr]int{ipA: 0, mapped: 0}, 1},
		{"no address is not limited", 1, []op{acq(netip.Addr{}, true), acq(netip.Addr{}, true), rel(netip.Addr{})},
			map[netip.Addr]int{{}: 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := limit.NewConns(tt.perIP)
			for i, o := range tt.ops {
				if o.release {
					c.Release(o.ip)
				} else if got := c.Acquire(o.ip); got != o.want {
					t.Fatalf("op %d: Acquire(%s) = %v, want %v", i, o.ip, got, o.want)
				}
			}
			for ip, n := range tt.wantOpen {
				if got := c.Open(ip); got != n {
					t.Errorf("Open(%s) = %d, want %d", ip, got, n)
				}
			}
			if got := c.Refused(); got != tt.wantRefused {
				t.Errorf("Refused = %d, want %d", got, tt.wantRefused)
			}
		})
	}
}

func TestConns_ReleaseWithoutAcquirePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	limit.NewConns(1).Release(ipA)
}

func TestAddrIP(t *testing.T) {
	tests := []struct {
		name string
		addr net.Addr
		want netip.Addr
	}{
		{"udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5683}, netip.MustParseAddr("127.0.0.2")},
		{"tcp", &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 80}, netip.MustParseAddr("2001:db8::1")},
		{"tcp, IPv4-mapped", &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 80}, ipA},
		{"other, ip:port", strAddr("[::ffff:192.0.2.1]:5684"), ipA},
		{"other, no port", &net.IPAddr{IP: net.IPv4(192, 0, 2, 1)}, netip.Addr{}},
		{"unix", &net.UnixAddr{Name: "/tmp/s", Net: "unix"}, netip.Addr{}},
		{"nil", nil, netip.Addr{}},
		{"nil udp", (*net.UDPAddr)(nil), netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := limit.AddrIP(tt.addr); got != tt.want {
				t.Fatalf("AddrIP(%v) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

// strAddr is a net.Addr of another kind than UDP or TCP.
type strAddr string

func (a strAddr) Network() string { return "other" }
func (a strAddr) String() string  { return string(a) }
