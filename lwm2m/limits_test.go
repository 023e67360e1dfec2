package lwm2m_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/options"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
	"github.com/fumo-gw/fumo-gw/sim"
)

// testClock is the server's clock in these tests: it moves only when told,
// so the rate limit's buckets refill only then.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// stoppedClock sets the server's clock to a testClock.
func stoppedClock(c *lwm2m.Config) *testClock {
	clk := &testClock{t: time.Now()}
	c.Now = clk.Now
	return clk
}

// udpFrom is a UDP socket bound to src (a loopback address) talking to
// the server.
func udpFrom(t *testing.T, src, server string) *net.UDPConn {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendGet sends a Confirmable GET of a path the server does not have (it
// answers 4.04, no store involved).
func sendGet(t *testing.T, c *net.UDPConn, mid uint16) {
	t.Helper()
	m := message.Message{Code: codes.GET, Type: message.Confirmable, MessageID: int32(mid), Token: []byte{byte(mid >> 8), byte(mid), 0xf1},
		Options: message.Options{{ID: message.URIPath, Value: []byte("nothing-here")}}}
	buf := make([]byte, 128)
	n, err := coder.DefaultCoder.Encode(m, buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf[:n]); err != nil {
		t.Fatal(err)
	}
}

// readAnswer reads one answer and returns its Message ID.
func readAnswer(t *testing.T, c *net.UDPConn) int32 {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 1500)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("no answer from %s: %v", c.LocalAddr(), err)
	}
	m := message.Message{Options: make(message.Options, 0, 8)}
	if _, err := coder.DefaultCoder.Decode(b[:n], &m); err != nil {
		t.Fatal(err)
	}
	if m.Code != codes.NotFound {
		t.Fatalf("answer %v, want 4.04", m.Code)
	}
	return m.MessageID
}

// noAnswer checks that nothing came back to c. The wait is short: a
// late answer could only make this pass wrongly, never fail; the
// counters are what the tests rely on.
func noAnswer(t *testing.T, c *net.UDPConn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1500)); err == nil {
		t.Fatalf("an answer of %d bytes to %s", n, c.LocalAddr())
	}
}

// TestPerSourceRate_Datagrams: from one source address, the burst is
// answered and the rest dropped unanswered and counted, whatever the
// source port; another address has its own bucket; tokens come back with
// time. The server's clock stands still, so the counts are exact.
func TestPerSourceRate_Datagrams(t *testing.T) {
	var clk *testClock
	g := newGateway(t, func(c *lwm2m.Config) {
		clk = stoppedClock(c)
		c.PerSourceRate, c.PerSourceBurst, c.PerSourceConns = 1, 3, 0
	})
	a := udpFrom(t, "127.0.0.1", g.cfg.UDPAddr)
	for mid := range uint16(10) {
		sendGet(t, a, 100+mid)
	}
	settled := func(want int64) func() bool {
		return func() bool { st := g.srv.Stats(); return st.RateLimited+st.Rejected["4.04"] == want }
	}
	eventually(t, "10 datagrams handled or dropped", settled(10))
	if st := g.srv.Stats(); st.RateLimited != 7 || st.Rejected["4.04"] != 3 {
		t.Fatalf("rate limited %d, answered %d; want 7 and the burst of 3", st.RateLimited, st.Rejected["4.04"])
	}
	for want := int32(100); want < 103; want++ {
		if mid := readAnswer(t, a); mid != want {
			t.Fatalf("answer to %d, want %d (the first three)", mid, want)
		}
	}
	noAnswer(t, a)

	// Another port of the same address shares the empty bucket.
	b := udpFrom(t, "127.0.0.1", g.cfg.UDPAddr)
	sendGet(t, b, 200)
	eventually(t, "the datagram from another port", settled(11))
	if st := g.srv.Stats(); st.RateLimited != 8 {
		t.Fatalf("rate limited %d, want 8", st.RateLimited)
	}
	noAnswer(t, b)

	// Another address does not.
	other := udpFrom(t, "127.0.0.2", g.cfg.UDPAddr)
	sendGet(t, other, 300)
	if mid := readAnswer(t, other); mid != 300 {
		t.Fatalf("answer to %d", mid)
	}

	// A second later (1/s), one more from the first address.
	clk.Advance(time.Second)
	sendGet(t, a, 110)
	if mid := readAnswer(t, a); mid != 110 {
		t.Fatalf("answer to %d after a second", mid)
	}
	sendGet(t, a, 111)
	eventually(t, "the datagram after the refill", settled(14))
	if st := g.srv.Stats(); st.RateLimited != 9 || st.Rejected["4.04"] != 5 {
		t.Fatalf("rate limited %d, answered %d; want 9 and 5", st.RateLimited, st.Rejected["4.04"])
	}
}

// TestPerSourceRate_Device: over UDP and over DTLS, a registered device's
// own requests take from its address's bucket, its answers to the
// server's requests and its notifications do not: with a burst of 2 the
// device registers, is read twenty times and observed, notifies, sends
// one Update, and its next Update is dropped until time passes.
func TestPerSourceRate_Device(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "udp", true: "dtls"}[secure]
		t.Run(name, func(t *testing.T) {
			var clk *testClock
			g := newGateway(t, func(c *lwm2m.Config) {
				clk = stoppedClock(c)
				c.PerSourceRate, c.PerSourceBurst = 1, 2
			})
			ctx := context.Background()
			var mutate func(*sim.LwM2MDevice)
			if secure {
				g.addDevice("ep", "id-ep", []byte("key-ep-0123456789"))
				mutate = func(d *sim.LwM2MDevice) { d.PSKIdentity, d.PSKKey = "id-ep", []byte("key-ep-0123456789") }
			} else {
				g.addDevice("ep", "", nil)
			}
			d := g.device("ep", mutate) // the Register: one token
			for i := range 20 {
				if _, err := g.srv.Read(ctx, "ep", node.MustPath("/3/0/9"), codec.FormatText); err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
			}
			if err := g.srv.Observe(ctx, "ep", node.MustPath("/3/0/9"), lwm2m.AnyFormat); err != nil {
				t.Fatal(err)
			}
			d.SetValue("/3/0/9", node.Integer(42))
			g.events.wait(t, func(ev lwm2m.Event) bool {
				v, _ := recordInt(ev)
				return ev.Kind == lwm2m.EventNotify && v == 42
			})
			// update sends an Update and waits for its event, so that no
			// listener event is still starting when the server closes
			// (lwm2m's emit adds to its WaitGroup while Close waits on it).
			update := func(what string) {
				t.Helper()
				before := g.events.count(kind(lwm2m.EventUpdated, "ep"))
				if err := d.Update(ctx); err != nil {
					t.Fatalf("update %s: %v", what, err)
				}
				eventually(t, "the update's event", func() bool { return g.events.count(kind(lwm2m.EventUpdated, "ep")) > before })
			}
			update("within the burst") // the second token
			if st := g.srv.Stats(); st.RateLimited != 0 {
				t.Fatalf("%d messages rate limited within the burst", st.RateLimited)
			}
			short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			err := d.Update(short) // go-coap stops retransmitting it when it gives up
			cancel()
			if err == nil {
				t.Fatal("an Update over the limit was answered")
			}
			if st := g.srv.Stats(); st.RateLimited < 1 {
				t.Fatalf("%d rate limited, want at least the dropped Update", st.RateLimited)
			}
			clk.Advance(10 * time.Second)
			update("after the refill")
			// Vanish rather than de-register (see update).
			d.Kill()
		})
	}
}

// TestPerSourceConns_UDP: datagrams from more source ports of one address
// than the cap are all answered, each new port beyond it closing the
// address's oldest connection (counted); the evicted port is answered
// again on a new connection; another address is not affected.
func TestPerSourceConns_UDP(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.PerSourceConns, c.PerSourceRate = 3, 0 })
	lo := netip.MustParseAddr("127.0.0.1")
	var socks []*net.UDPConn
	for i := range 7 {
		c := udpFrom(t, "127.0.0.1", g.cfg.UDPAddr)
		socks = append(socks, c)
		sendGet(t, c, uint16(10+i))
		if mid := readAnswer(t, c); mid != int32(10+i) {
			t.Fatalf("answer to %d", mid)
		}
		if want, n := int64(max(0, i-2)), g.srv.Stats().ConnsEvicted; n != want {
			t.Fatalf("after %d ports: %d connections evicted, want %d", i+1, n, want)
		}
		if n := g.srv.SourceConns(lo); n != min(i+1, 3) {
			t.Fatalf("after %d ports: %d connections counted, want %d", i+1, n, min(i+1, 3))
		}
	}
	// The first port's connection was evicted: its next datagram gets a
	// new one, and is answered.
	sendGet(t, socks[0], 50)
	if mid := readAnswer(t, socks[0]); mid != 50 {
		t.Fatalf("answer to %d", mid)
	}
	if n := g.srv.Stats().ConnsEvicted; n != 5 {
		t.Fatalf("%d connections evicted, want 5", n)
	}
	// Another address has its own cap.
	other := udpFrom(t, "127.0.0.2", g.cfg.UDPAddr)
	sendGet(t, other, 60)
	if mid := readAnswer(t, other); mid != 60 {
		t.Fatalf("answer to %d", mid)
	}
	if n, m := g.srv.SourceConns(netip.MustParseAddr("127.0.0.2")), g.srv.SourceConns(lo); n != 1 || m != 3 {
		t.Errorf("%d and %d connections counted for 127.0.0.2 and 127.0.0.1, want 1 and 3", n, m)
	}
	if n := g.srv.Stats().ConnsEvicted; n != 5 {
		t.Errorf("%d connections evicted in all, want still 5", n)
	}
}

// TestPerSourceConns_FloodOfPorts: one request from each of 500 ports of
// one address, each answered, leaves the cap's worth of connections.
// go-coap keeps a goroutine per connection for IdleTimeout (2 min):
// without the cap there would be 500 more.
func TestPerSourceConns_FloodOfPorts(t *testing.T) {
	const ports, perSource = 500, 4
	g := newGateway(t, func(c *lwm2m.Config) { c.PerSourceConns, c.PerSourceRate = perSource, 0 })
	before := runtime.NumGoroutine()
	for i := range ports {
		c := udpFrom(t, "127.0.0.2", g.cfg.UDPAddr) // kept open: no port used twice
		sendGet(t, c, uint16(i))
		readAnswer(t, c) // one at a time: no datagram lost to a full socket buffer
	}
	if n := g.srv.Stats().ConnsEvicted; n != ports-perSource {
		t.Fatalf("%d connections evicted, want %d", n, ports-perSource)
	}
	eventually(t, "the evicted connections' goroutines gone", func() bool { return runtime.NumGoroutine() < before+50 })
	if n := g.srv.SourceConns(netip.MustParseAddr("127.0.0.2")); n != perSource {
		t.Fatalf("%d connections counted, want %d", n, perSource)
	}
}

// TestPerSourceConns_DTLS: a DTLS session without a registration is
// closed when a newer one from its address goes beyond the cap; a
// registered one is not counted, so it is never closed that way.
func TestPerSourceConns_DTLS(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.PerSourceConns = 1 })
	g.addDevice("ep1", "id-1", []byte("key-1-0123456789"))
	g.addDevice("ep2", "id-2", []byte("key-2-0123456789"))
	lo := netip.MustParseAddr("127.0.0.1")
	// stray opens a DTLS session that registers nothing.
	stray := func() *udpClient.Conn {
		t.Helper()
		cc, err := dtls.Dial(g.cfg.DTLSAddr, dtls.NewDTLSClientOptions(
			piondtls.WithPSK(func([]byte) ([]byte, error) { return []byte("key-2-0123456789"), nil }),
			piondtls.WithPSKIdentityHint([]byte("id-2")),
			piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8)), options.WithErrors(func(error) {}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}
	closed := func(cc *udpClient.Conn) bool {
		select {
		case <-cc.Done():
			return true
		default:
			return false
		}
	}
	first := stray()
	eventually(t, "the first session counted", func() bool { return g.srv.SourceConns(lo) == 1 })
	d := g.device("ep1", func(d *sim.LwM2MDevice) { d.PSKIdentity, d.PSKKey = "id-1", []byte("key-1-0123456789") })
	defer d.Kill() // see TestPerSourceRate_Device
	eventually(t, "the stray session closed", func() bool { return closed(first) })
	if st := g.srv.Stats(); st.ConnsEvicted != 1 || st.Registers != 1 {
		t.Fatalf("%d connections evicted, %d registers; want 1 and 1", st.ConnsEvicted, st.Registers)
	}
	if n := g.srv.SourceConns(lo); n != 0 {
		t.Fatalf("%d connections counted with only a registered session", n)
	}
	second := stray()
	eventually(t, "the second stray counted", func() bool { return g.srv.SourceConns(lo) == 1 })
	stray()
	eventually(t, "the second stray closed by the third", func() bool { return closed(second) })
	if _, err := g.srv.Read(context.Background(), "ep1", node.MustPath("/3/0/9"), codec.FormatText); err != nil {
		t.Fatalf("the registered device: %v", err)
	}
	if st := g.srv.Stats(); st.ConnsEvicted != 2 {
		t.Fatalf("%d connections evicted, want 2", st.ConnsEvicted)
	}
}

// TestPerSourceConns_RegisteredDevicesShareAnAddress: devices behind one
// address (a NAT) are not bounded by the cap once registered, over UDP:
// five register from 127.0.0.1 with a cap of 2, nothing is evicted, and
// connections without a registration beyond the cap evict each other,
// never a device's.
func TestPerSourceConns_RegisteredDevicesShareAnAddress(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.PerSourceConns, c.PerSourceRate = 2, 0 })
	lo := netip.MustParseAddr("127.0.0.1")
	for i := range 5 {
		ep := fmt.Sprintf("ep%d", i)
		g.addDevice(ep, "", nil)
		d := g.device(ep, func(d *sim.LwM2MDevice) { d.LocalIP = net.ParseIP("127.0.0.1") })
		defer d.Kill() // see TestPerSourceRate_Device
	}
	if n, st := g.srv.SourceConns(lo), g.srv.Stats(); n != 0 || st.ConnsEvicted != 0 {
		t.Fatalf("%d connections counted, %d evicted, with registered devices only", n, st.ConnsEvicted)
	}
	for i := range 6 {
		c := udpFrom(t, "127.0.0.1", g.cfg.UDPAddr)
		sendGet(t, c, uint16(70+i))
		readAnswer(t, c)
	}
	if n, st := g.srv.SourceConns(lo), g.srv.Stats(); n != 2 || st.ConnsEvicted != 4 {
		t.Fatalf("%d connections counted, %d evicted; want 2 and 4", n, st.ConnsEvicted)
	}
	for i := range 5 {
		if _, err := g.srv.Read(context.Background(), fmt.Sprintf("ep%d", i), node.MustPath("/3/0/9"), codec.FormatText); err != nil {
			t.Fatalf("ep%d: %v", i, err)
		}
	}
}

// TestConfig_PerSourceLimits: the defaults have the limits on, a zero
// turns one off, and nonsense is refused.
func TestConfig_PerSourceLimits(t *testing.T) {
	def := lwm2m.DefaultConfig()
	if def.PerSourceRate <= 0 || def.PerSourceBurst < int(def.PerSourceRate) || def.PerSourceConns <= 0 {
		t.Errorf("defaults: rate %v burst %d conns %d", def.PerSourceRate, def.PerSourceBurst, def.PerSourceConns)
	}
	tests := []struct {
		name   string
		mutate func(*lwm2m.Config)
		ok     bool
	}{
		{"defaults", func(*lwm2m.Config) {}, true},
		{"all off", func(c *lwm2m.Config) { c.PerSourceRate, c.PerSourceBurst, c.PerSourceConns = 0, 0, 0 }, true},
		{"fractional rate", func(c *lwm2m.Config) { c.PerSourceRate, c.PerSourceBurst = 0.5, 1 }, true},
		{"negative rate", func(c *lwm2m.Config) { c.PerSourceRate = -1 }, false},
		{"rate not a number", func(c *lwm2m.Config) { c.PerSourceRate = math.NaN() }, false},
		{"infinite rate", func(c *lwm2m.Config) { c.PerSourceRate = math.Inf(1) }, false},
		{"rate without a burst", func(c *lwm2m.Config) { c.PerSourceBurst = 0 }, false},
		{"negative burst", func(c *lwm2m.Config) { c.PerSourceBurst = -1 }, false},
		{"negative conns", func(c *lwm2m.Config) { c.PerSourceConns = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := lwm2m.DefaultConfig()
			c.Store = nopStore{}
			tt.mutate(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate: %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// nopStore is a Store with nothing in it.
type nopStore struct{}

func (nopStore) DeviceByEndpoint(context.Context, string) (fleet.Device, error) {
	return fleet.Device{}, fleet.ErrNotFound
}

func (nopStore) DeviceByPSKIdentity(context.Context, string) (fleet.Device, error) {
	return fleet.Device{}, fleet.ErrNotFound
}

func (nopStore) SetRegistration(context.Context, string, *fleet.Registration) error { return nil }

func (nopStore) RegisteredDevices(context.Context) ([]fleet.Device, error) { return nil, nil }
