package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
	"github.com/fumo-gw/fumo-gw/sim"
)

// The attacker and the devices come from different loopback addresses
// (Linux routes all of 127/8 to lo).
const (
	attackerIP = "127.0.0.2"
	deviceIP   = "127.0.0.1"
)

// openGateway starts a whole gateway on 127.0.0.1 ports chosen by the
// system, with a fresh store; mutate adjusts the settings first.
func openGateway(t *testing.T, mutate func(*gateway.Config)) *gateway.Gateway {
	t.Helper()
	lc := lwm2m.DefaultConfig()
	lc.UDPAddr, lc.DTLSAddr = "127.0.0.1:0", "127.0.0.1:0"
	lc.RequestTimeout = 5 * time.Second
	cfg := gateway.Config{StorePath: filepath.Join(t.TempDir(), "gw.db"), HTTPAddr: "127.0.0.1:0", LwM2M: &lc,
		SigningKey: []byte("a signing key of the test gateway"), Tick: 100 * time.Millisecond, PollInterval: 300 * time.Millisecond,
		Retry: bridge.RetryPolicy{Backoff: 100 * time.Millisecond}}
	if os.Getenv("FUMO_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mutate != nil {
		mutate(&cfg)
	}
	g, err := gateway.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// dmDevice provisions a DM device and returns its simulator, whose HTTP
// connections come from deviceIP.
func dmDevice(t *testing.T, g *gateway.Gateway, id string) *sim.DMDevice {
	t.Helper()
	dmID := "IMEI:" + id
	if _, err := g.Store.CreateDevice(context.Background(), fleet.Device{ID: id, Protocol: fleet.ProtocolDM, Model: "Rocket-DM", FirmwareVersion: "1.0",
		DM: &fleet.DMInfo{DeviceID: dmID, Auth: fleet.DMAuthMD5, Username: id, Password: fleet.Secret("pw-" + id),
			ServerID: "fumo-gw", ServerPassword: fleet.Secret("srv"), FUMORoot: "./FwUpdate/1"}}); err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(deviceIP)}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext, MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	d := &sim.DMDevice{ServerURL: "http://" + g.HTTPAddr + "/dm", DevID: dmID, Username: id, Password: "pw-" + id, Auth: "md5",
		ServerID: "fumo-gw", ServerPassword: "srv", Encoding: syncml.EncodingWBXML, HTTP: &http.Client{Transport: tr}}
	d.SetNode("./DevInfo/DevId", []byte(dmID))
	d.SetNode("./DevInfo/Mod", []byte("Rocket-DM"))
	d.SetNode("./DevDetail/FwV", []byte("1.0"))
	return d
}

// slowClient is one attacker connection: it trickles a request a byte at
// a time (the headers, or complete headers and then the body) until the
// server closes the connection or stop is closed.
type slowClient struct {
	closed chan struct{} // closed when the server closed the connection
}

func slowLoris(t *testing.T, addr string, slowBody bool, stop <-chan struct{}) (*slowClient, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(attackerIP)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err // on loopback, the refusal's reset may beat the end of connect
	}
	sc := &slowClient{closed: make(chan struct{})}
	go func() {
		// Anything the server sends (an error status) is read; the end
		// of the stream is the server closing.
		_, _ = io.Copy(io.Discard, c)
		close(sc.closed)
	}()
	go func() {
		defer c.Close()
		head := "POST /dm HTTP/1.1\r\nHost: fumo-gw\r\nContent-Type: application/vnd.syncml.dm+wbxml\r\n"
		if slowBody {
			head += "Content-Length: 100000\r\n\r\n"
		}
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-sc.closed:
				return
			case <-tick.C:
			}
			b := "X-Slow: y\r\n"
			if slowBody {
				b = "y"
			}
			if _, err := io.WriteString(c, b); err != nil {
				return
			}
		}
	}()
	return sc, nil
}

func (sc *slowClient) isClosed() bool {
	select {
	case <-sc.closed:
		return true
	default:
		return false
	}
}

// TestSlowLorisHTTP: one address opens six times the per-source cap of
// connections and trickles requests on them (half the headers, half a
// body); meanwhile four DM devices from another address run three
// sessions each. The devices all succeed; of the attacker's connections
// the cap's worth stay open and every other one is closed at once by the
// gateway (counted), and so is every reconnection while it holds the cap.
func TestSlowLorisHTTP(t *testing.T) {
	const perSource, attackers = 8, 48
	g := openGateway(t, func(c *gateway.Config) { c.HTTPConnsPerSource = perSource })
	stop := make(chan struct{})
	defer close(stop)

	var conns []*slowClient
	failedDials := 0
	for i := range attackers {
		sc, err := slowLoris(t, g.HTTPAddr, i%2 == 1, stop)
		if err != nil {
			failedDials++
			continue
		}
		conns = append(conns, sc)
	}
	// The gateway refuses every connection beyond the cap as it accepts
	// it: the attacker sees them closed (or their connect reset).
	closedCount := func() int {
		n := failedDials
		for _, sc := range conns {
			if sc.isClosed() {
				n++
			}
		}
		return n
	}
	waitFor(t, "the connections beyond the cap closed", func() bool { return closedCount() >= attackers-perSource })
	if n := g.HTTPConnsRefused(); n < attackers-perSource {
		t.Fatalf("%d connections refused, want at least %d", n, attackers-perSource)
	}

	// The attacker keeps reconnecting while the devices work.
	var redials atomic.Int64
	hammered := make(chan struct{})
	go func() {
		defer close(hammered)
		for {
			select {
			case <-stop:
				return
			default:
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(attackerIP)}, Timeout: 10 * time.Second}
			if c, err := d.Dial("tcp", g.HTTPAddr); err == nil {
				_, _ = io.WriteString(c, "GET /dm HTTP/1.1\r\nHost: fumo-gw\r\n")
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}
			redials.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 4 {
		d := dmDevice(t, g, fmt.Sprintf("dm-%d", i))
		wg.Go(func() {
			for s := range 3 {
				if _, err := d.Session(ctx, sim.SessionOptions{}); err != nil {
					errs <- fmt.Errorf("%s session %d: %w", d.DevID, s+1, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "some reconnections", func() bool { return redials.Load() >= 10 })

	// The cap's worth of slow connections is still held (the header
	// timeout is 10 s): the others were closed by the gateway, not by
	// a timeout.
	if open := len(conns) + failedDials - closedCount(); open != perSource {
		t.Errorf("%d attacker connections open, want the cap of %d", open, perSource)
	}
	r := redials.Load() // each counted after its refusal
	t.Logf("attacker: %d connections, %d refused at once, %d reconnections; gateway refused %d", attackers, closedCount(), r, g.HTTPConnsRefused())
	if n, want := g.HTTPConnsRefused(), int64(attackers-perSource)+r; n < want {
		t.Errorf("%d connections refused, want at least %d (%d beyond the cap, %d reconnections)", n, want, attackers-perSource, r)
	}
}

// TestHTTPTimeouts: the HTTP listener ends what a slow client holds: a
// request whose headers trickle in, one whose body does, a keep-alive
// connection with no next request; headers over the size bound are
// refused. Each would hold its connection for as long as the client
// likes without the bound (the test gives up after 30 s).
func TestHTTPTimeouts(t *testing.T) {
	g := openGateway(t, func(c *gateway.Config) {
		c.HTTPReadHeaderTimeout, c.HTTPReadTimeout, c.HTTPIdleTimeout = 300*time.Millisecond, 600*time.Millisecond, 300*time.Millisecond
		c.HTTPMaxHeaderBytes = 4 << 10
	})
	dial := func(t *testing.T) net.Conn {
		c, err := net.DialTimeout("tcp", g.HTTPAddr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// trickle writes s and then a byte every 50 ms until the server
	// closes the connection; it returns what the server sent.
	trickle := func(t *testing.T, c net.Conn, s, more string) string {
		t.Helper()
		done := make(chan struct{})
		var got strings.Builder
		go func() {
			_, _ = io.Copy(&got, c)
			close(done)
		}()
		_, _ = io.WriteString(c, s)
		giveUp := time.After(30 * time.Second)
		for {
			select {
			case <-done:
				return got.String()
			case <-giveUp:
				t.Fatal("the server still reads after 30 s")
			case <-time.After(50 * time.Millisecond):
				_, _ = io.WriteString(c, more)
			}
		}
	}
	t.Run("slow headers", func(t *testing.T) {
		trickle(t, dial(t), "POST /dm HTTP/1.1\r\nHost: fumo-gw\r\n", "X-Slow: y\r\n")
	})
	t.Run("slow body", func(t *testing.T) {
		got := trickle(t, dial(t), "POST /dm HTTP/1.1\r\nHost: fumo-gw\r\nContent-Type: application/vnd.syncml.dm+xml\r\nContent-Length: 100000\r\n\r\n", "y")
		// The DM handler's read fails: it answers 400 and the gateway
		// closes the connection.
		if got != "" && !strings.HasPrefix(got, "HTTP/1.1 400") {
			t.Errorf("answer %q", firstLine(got))
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "GET /no-such-path HTTP/1.1\r\nHost: fumo-gw\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(c) // ends when the server closes the idle connection
		if err != nil {
			t.Fatalf("%v: the idle connection was not closed", err)
		}
		if !strings.HasPrefix(string(got), "HTTP/1.1 404") {
			t.Fatalf("answer %q", firstLine(string(got)))
		}
	})
	t.Run("oversized headers", func(t *testing.T) {
		c := dial(t)
		req := "GET /dm HTTP/1.1\r\nHost: fumo-gw\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n"
		go io.WriteString(c, req)
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(got), "HTTP/1.1 431") {
			t.Fatalf("answer %q, want 431", firstLine(string(got)))
		}
	})
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// TestHTTPConnsPerSource_Off: a negative cap is no cap.
func TestHTTPConnsPerSource_Off(t *testing.T) {
	g := openGateway(t, func(c *gateway.Config) { c.HTTPConnsPerSource = -1 })
	var conns []net.Conn
	for range 80 { // more than the default cap
		c, err := net.DialTimeout("tcp", g.HTTPAddr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		if _, err := io.WriteString(c, "GET /no-such-path HTTP/1.1\r\nHost: fumo-gw\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 12)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "HTTP/1.1 404" {
			t.Fatalf("connection %d: %q, %v", i, b, err)
		}
	}
	if n := g.HTTPConnsRefused(); n != 0 {
		t.Fatalf("%d refused without a cap", n)
	}
}

// coapFlood floods server from ports source ports of attackerIP with
// Confirmable requests a real client could send (a GET of a path the
// gateway does not have, a Register of an endpoint it does not know),
// until stop is closed, and returns how many it sent.
//
// The flood runs as fast as the gateway takes it in, whatever the
// machine's speed: it keeps at most window datagrams ahead of what the
// gateway has processed (processed counts them), so that the kernel never
// drops datagrams for a full socket buffer (that would drop the devices'
// too, a flood no per-source limit in the gateway can help against).
func coapFlood(t *testing.T, server string, ports int, processed func() int64, stop <-chan struct{}) <-chan int64 {
	t.Helper()
	const window = 64
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	socks := make([]*net.UDPConn, ports)
	for i := range socks {
		if socks[i], err = net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(attackerIP)}, raddr); err != nil {
			t.Fatal(err)
		}
	}
	var msgs [][]byte
	for i := range 2 {
		m := message.Message{Type: message.Confirmable, Code: codes.GET, Token: []byte{0xa, byte(i)},
			Options: message.Options{{ID: message.URIPath, Value: []byte("nothing-here")}}}
		if i == 1 {
			m.Code = codes.POST
			m.Options = message.Options{{ID: message.URIPath, Value: []byte("rd")}, {ID: message.ContentFormat, Value: []byte{40}},
				{ID: message.URIQuery, Value: []byte("ep=attacker")}}
			m.Payload = []byte("</1/0>,</3/0>,</5/0>")
		}
		buf := make([]byte, 256)
		n, err := coder.DefaultCoder.Encode(m, buf)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, buf[:n])
	}
	sent := make(chan int64, 1)
	go func() {
		defer func() {
			for _, s := range socks {
				s.Close()
			}
		}()
		var n int64
		for {
			select {
			case <-stop:
				sent <- n
				return
			default:
			}
			// Wait for the gateway to catch up; a datagram it never
			// counts (none should be) only slows the flood down.
			for wait := 0; n-processed() >= window && wait < 50; wait++ {
				time.Sleep(time.Millisecond)
			}
			for range window / 4 {
				b := msgs[n%int64(len(msgs))]
				b[2], b[3] = byte(n>>8), byte(n) // a new Message ID each time (per port, it wraps after 4 M datagrams)
				_, _ = socks[n%int64(len(socks))].Write(b)
				n++
			}
		}
	}()
	return sent
}

// TestCoAPFloodFromOneSource: one address floods the UDP listener with
// valid requests from many source ports while four LwM2M devices from
// another address register, are read and de-register. The devices all
// complete; the flood is mostly dropped (counted as rate limited: the
// attacker gets no more answers than its address's bucket holds) and its
// connections stay within the per-source cap (each port beyond it closing
// the oldest, counted).
func TestCoAPFloodFromOneSource(t *testing.T) {
	const rate, burst, perSource = 100, 100, 16
	g := openGateway(t, func(c *gateway.Config) {
		c.LwM2M.PerSourceRate, c.LwM2M.PerSourceBurst, c.LwM2M.PerSourceConns = rate, burst, perSource
	})
	udpAddr := g.LwM2M.UDPAddr().String()
	stop := make(chan struct{})
	// What the gateway did with the flood: dropped it or answered it
	// (4.04 for the GET, 4.03 for the Register; the devices cause
	// neither).
	answered := func(st lwm2m.Stats) int64 { return st.Rejected["4.04"] + st.Rejected["4.03"] }
	processed := func() int64 { st := g.LwM2M.Stats(); return st.RateLimited + answered(st) }
	began := time.Now()
	sent := coapFlood(t, udpAddr, 64, processed, stop)
	attacker := netip.MustParseAddr(attackerIP)
	var maxConns atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := int64(g.LwM2M.SourceConns(attacker)); n > maxConns.Load() {
				maxConns.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	waitFor(t, "a thousand datagrams of the flood, limited", func() bool {
		st := g.LwM2M.Stats()
		return st.RateLimited > 0 && st.ConnsEvicted > 0 && processed() >= 1000
	})

	// The devices' de-registrations, as the listeners hear them: the test
	// ends only after the last one is delivered (lwm2m's Close would
	// otherwise wait while the event is still being started).
	var deregistered, closed atomic.Int64
	g.LwM2M.AddListener(func(_ context.Context, ev lwm2m.Event) {
		if ev.Kind == lwm2m.EventDeregistered {
			deregistered.Add(1)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		ep := fmt.Sprintf("urn:dev:lw-%d", i)
		if _, err := g.Store.CreateDevice(ctx, fleet.Device{ID: fmt.Sprintf("lw-%d", i), Protocol: fleet.ProtocolLwM2M, Model: "Rocket-L",
			FirmwareVersion: "1.0", LwM2M: &fleet.LwM2MInfo{Endpoint: ep}}); err != nil {
			t.Fatal(err)
		}
		d := &sim.LwM2MDevice{Endpoint: ep, Server: udpAddr, Model: "Rocket-L", LocalIP: net.ParseIP(deviceIP)}
		wg.Go(func() {
			if err := func() error {
				if err := d.Start(ctx); err != nil {
					return fmt.Errorf("register: %w", err)
				}
				defer d.Kill()
				for r := range 20 {
					c, err := g.LwM2M.Read(ctx, ep, node.MustPath("/3/0/1"), codec.FormatText)
					if err != nil {
						return fmt.Errorf("read %d: %w", r+1, err)
					}
					if string(c.Payload) != "Rocket-L" {
						return fmt.Errorf("read %d: %q", r+1, c.Payload)
					}
				}
				if err := d.Update(ctx); err != nil {
					return fmt.Errorf("update: %w", err)
				}
				closed.Add(1)
				return d.Close(ctx)
			}(); err != nil {
				errs <- fmt.Errorf("%s: %w", ep, err)
			}
		})
	}
	wg.Wait()
	close(stop)
	waitFor(t, "the de-registrations delivered", func() bool { return deregistered.Load() >= closed.Load() })
	n := <-sent
	elapsed := time.Since(began)
	<-sampled
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := g.LwM2M.Stats()
	t.Logf("flood: %d datagrams sent in %v; %d rate limited, %d answered, %d connections evicted, at most %d counted",
		n, elapsed.Round(time.Millisecond), st.RateLimited, answered(st), st.ConnsEvicted, maxConns.Load())
	if st.Registers != 4 || st.Deregistrations != 4 {
		t.Errorf("%d registers, %d deregistrations; want the devices' 4 and 4", st.Registers, st.Deregistrations)
	}
	if st.RateLimited == 0 || st.ConnsEvicted == 0 {
		t.Errorf("rate limited %d, connections evicted %d: the flood was not limited", st.RateLimited, st.ConnsEvicted)
	}
	if m := maxConns.Load(); m == 0 || m > perSource {
		t.Errorf("at most %d connections of the attacker open, want 1..%d", m, perSource)
	}
	// The attacker got no more answers than its address's bucket holds:
	// the burst and the rate over the time the flood ran (a bound that
	// only grows on a slower machine).
	if got, most := answered(st), int64(burst+rate*elapsed.Seconds()); got > most {
		t.Errorf("%d requests of the flood answered, want at most %d (burst %d + %d/s for %v)", got, most, burst, rate, elapsed)
	}
}

// waitFor polls cond until it holds, for at most 30 s (a generous bound,
// not a speed requirement).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
