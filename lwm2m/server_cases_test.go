package lwm2m_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
	"github.com/fumo-gw/fumo-gw/sim"
)

func dump(t *testing.T, g *gateway) string {
	t.Helper()
	var b bytes.Buffer
	if err := g.st.Dump(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func rawClient(t *testing.T, addr string) *udpClient.Conn {
	t.Helper()
	cc, err := udp.Dial(addr, options.WithBlockwise(false, blockwise.SZX1024, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// post sends a POST with queries and returns the answer's code.
func post(t *testing.T, cc *udpClient.Conn, path string, cf message.MediaType, body string, queries ...string) codes.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := cc.NewPostRequest(ctx, path, cf, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		req.AddQuery(q)
	}
	resp, err := cc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Code()
}

func TestRegistrationLifecycle(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.ExpiryGrace = 0 })
	g.addDevice("ep1", "", nil)
	g.addDevice("ep2", "", nil)
	ctx := context.Background()
	d := g.device("ep1", func(d *sim.LwM2MDevice) { d.Root = "/lwm2m" })
	first, _ := g.srv.Registration("ep1")
	if first.Root != "/lwm2m" || first.ContentFormat != int(codec.FormatSenMLCBOR) || !strings.Contains(strings.Join(first.Objects, ","), "/5/0") {
		t.Fatalf("registration %+v", first)
	}
	// Downlink uses the declared root path.
	if _, err := g.srv.Read(ctx, "ep1", node.MustPath("/3/0/3"), codec.FormatText); err != nil {
		t.Fatal(err)
	}
	// Update: stored, same id.
	if err := d.Update(ctx); err != nil {
		t.Fatal(err)
	}
	g.events.wait(t, kind(lwm2m.EventUpdated, "ep1"))
	// NAT rebinding: an Update from a new port moves downlink there.
	if err := d.Rebind(ctx); err != nil {
		t.Fatal(err)
	}
	moved, _ := g.srv.Registration("ep1")
	if moved.ID != first.ID || moved.Address == first.Address {
		t.Fatalf("after rebinding: %+v (was %+v)", moved, first)
	}
	if _, err := g.srv.Read(ctx, "ep1", node.MustPath("/3/0/3"), codec.FormatText); err != nil {
		t.Fatalf("read after rebinding: %v", err)
	}
	// Re-registration replaces the registration; the old id is gone.
	if err := d.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	second, _ := g.srv.Registration("ep1")
	if second.ID == first.ID {
		t.Fatal("re-registration kept the id")
	}
	cc := rawClient(t, g.cfg.UDPAddr)
	if code := post(t, cc, "/rd/"+first.ID, message.TextPlain, ""); code != codes.NotFound {
		t.Fatalf("update of a replaced registration: %v", code)
	}
	// Persisted: a restarted server knows the registration.
	g.restart()
	if r, ok := g.srv.Registration("ep1"); !ok || r.ID != second.ID {
		t.Fatalf("after restart: %+v %v", r, ok)
	}
	if _, err := g.srv.Read(ctx, "ep1", node.MustPath("/3/0/3"), codec.FormatText); err != nil {
		t.Fatalf("read after restart: %v", err)
	}
	// De-register.
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	g.events.wait(t, kind(lwm2m.EventDeregistered, "ep1"))
	if _, ok := g.srv.Registration("ep1"); ok {
		t.Fatal("still registered")
	}
	if dev, _ := g.st.DeviceByEndpoint(ctx, "ep1"); dev.LwM2M.Registration != nil {
		t.Fatal("registration still stored")
	}
	// Expiry: a 1 s lifetime without Updates.
	d2 := &sim.LwM2MDevice{Endpoint: "ep2", Server: g.cfg.UDPAddr, Lifetime: 1}
	if err := d2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	d2.Kill()
	g.events.wait(t, kind(lwm2m.EventExpired, "ep2"))
	if dev, _ := g.st.DeviceByEndpoint(ctx, "ep2"); dev.LwM2M.Registration != nil {
		t.Fatal("expired registration still stored")
	}
}

func TestDownlinkOperations(t *testing.T) {
	g := newGateway(t, nil)
	g.addDevice("ep", "", nil)
	d := g.device("ep", nil)
	ctx := context.Background()
	// Write (replace, text) and read back.
	if err := g.srv.WriteRecords(ctx, "ep", node.MustPath("/1/0/1"), lwm2m.Replace, []node.Record{{Path: node.MustPath("/1/0/1"), Value: node.Integer(600)}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Value("/1/0/1").Int(); v != 600 {
		t.Fatalf("lifetime %d", v)
	}
	// Partial write of an instance in SenML CBOR.
	if err := g.srv.WriteRecords(ctx, "ep", node.MustPath("/1/0"), lwm2m.Partial, []node.Record{
		{Path: node.MustPath("/1/0/2"), Value: node.Integer(5)}, {Path: node.MustPath("/1/0/3"), Value: node.Integer(50)},
	}); err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Value("/1/0/3").Int(); v != 50 {
		t.Fatalf("pmax %d", v)
	}
	// Writing a read-only resource is refused by the device.
	err := g.srv.WriteRecords(ctx, "ep", node.MustPath("/3/0/3"), lwm2m.Replace, []node.Record{{Path: node.MustPath("/3/0/3"), Value: node.String("x")}})
	if !lwm2m.IsCode(err, codes.MethodNotAllowed) {
		t.Fatalf("read-only write: %v", err)
	}
	// Discover lists the resources.
	links, err := g.srv.Discover(ctx, "ep", node.MustPath("/5/0"))
	if err != nil || len(links) < 5 || links[0].Target != "/5/0" {
		t.Fatalf("discover: %v %+v", err, links)
	}
	// Write-Attributes and Execute.
	pmin, pmax := 1, 60
	if err := g.srv.WriteAttributes(ctx, "ep", node.MustPath("/3/0/9"), lwm2m.Attributes{MinPeriod: &pmin, MaxPeriod: &pmax}); err != nil {
		t.Fatal(err)
	}
	_, updatesBefore := d.Counts()
	if err := g.srv.Execute(ctx, "ep", node.MustPath("/1/0/8"), ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an Update after the trigger", func() bool { _, u := d.Counts(); return u > updatesBefore })
	// Read of a missing object: 4.04 as a CodeError.
	if _, err := g.srv.Read(ctx, "ep", node.MustPath("/9/0"), lwm2m.AnyFormat); !lwm2m.IsCode(err, codes.NotFound) {
		t.Fatalf("missing object: %v", err)
	}
	// Observe, then cancel: no more notifications.
	if err := g.srv.Observe(ctx, "ep", node.MustPath("/3/0/9"), lwm2m.AnyFormat); err != nil {
		t.Fatal(err)
	}
	d.SetValue("/3/0/9", node.Integer(11))
	g.events.wait(t, func(ev lwm2m.Event) bool {
		v, _ := recordInt(ev)
		return ev.Kind == lwm2m.EventNotify && v == 11
	})
	if err := g.srv.CancelObserve(ctx, "ep", node.MustPath("/3/0/9")); err != nil {
		t.Fatal(err)
	}
	d.SetValue("/3/0/9", node.Integer(12))
	time.Sleep(100 * time.Millisecond)
	if n := g.events.count(func(ev lwm2m.Event) bool { v, _ := recordInt(ev); return ev.Kind == lwm2m.EventNotify && v == 12 }); n != 0 {
		t.Fatalf("%d notifications after cancel", n)
	}
	// Send (POST /dp) reaches the listeners.
	if err := d.Send(ctx, "/5/0/3", "/5/0/5"); err != nil {
		t.Fatal(err)
	}
	ev := g.events.wait(t, kind(lwm2m.EventSend, "ep"))
	if len(ev.Records) != 2 || ev.Records[0].Path != node.MustPath("/5/0/3") {
		t.Fatalf("send records %v", ev.Records)
	}
	// A large Read answer comes with Block2: a bare go-coap client would
	// see one block; the server assembles all.
	d.SetValue("/3/0/0", node.String(strings.Repeat("m", 3000)))
	c, err := g.srv.Read(ctx, "ep", node.MustPath("/3/0/0"), codec.FormatText)
	if err != nil || len(c.Payload) != 3000 {
		t.Fatalf("large read: %v, %d bytes", err, len(c.Payload))
	}
}

func recordInt(ev lwm2m.Event) (int64, bool) {
	if len(ev.Records) != 1 {
		return 0, false
	}
	v, err := ev.Records[0].Value.Int()
	return v, err == nil
}

// TestBadInput: every refused request leaves the store as it was.
func TestBadInput(t *testing.T) {
	g := newGateway(t, nil)
	g.addDevice("ep", "", nil)
	g.addDevice("psk-ep", "id-psk", []byte("secret-key-0123"))
	cc := rawClient(t, g.cfg.UDPAddr)
	before := dump(t, g)
	tests := []struct {
		name    string
		path    string
		cf      message.MediaType
		body    string
		queries []string
		want    codes.Code
	}{
		{"unknown endpoint", "/rd", message.AppLinkFormat, "</3/0>", []string{"ep=nobody"}, codes.Forbidden},
		{"no endpoint", "/rd", message.AppLinkFormat, "</3/0>", nil, codes.BadRequest},
		{"bad link format", "/rd", message.AppLinkFormat, "</3/0", []string{"ep=ep"}, codes.BadRequest},
		{"link to a resource", "/rd", message.AppLinkFormat, "</3/0/1>", []string{"ep=ep"}, codes.BadRequest},
		{"payload not link format", "/rd", message.AppJSON, "{}", []string{"ep=ep"}, codes.UnsupportedMediaType},
		{"bad lifetime", "/rd", message.AppLinkFormat, "</3/0>", []string{"ep=ep", "lt=abc"}, codes.BadRequest},
		{"zero lifetime", "/rd", message.AppLinkFormat, "</3/0>", []string{"ep=ep", "lt=0"}, codes.BadRequest},
		{"bad binding", "/rd", message.AppLinkFormat, "</3/0>", []string{"ep=ep", "b=X"}, codes.BadRequest},
		{"unsupported version", "/rd", message.AppLinkFormat, "</3/0>", []string{"ep=ep", "lwm2m=2.0"}, codes.PreconditionFailed},
		{"psk device over plain udp", "/rd", message.AppLinkFormat, "</3/0>", []string{"ep=psk-ep"}, codes.Forbidden},
		{"unknown registration id", "/rd/nosuchid", message.TextPlain, "", nil, codes.NotFound},
		{"send without a registration", "/dp", message.MediaType(codec.FormatSenMLJSON), `[{"n":"/3/0/9","v":1}]`, nil, codes.Forbidden},
		{"unknown path", "/xyz", message.TextPlain, "", nil, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := post(t, cc, tt.path, tt.cf, tt.body, tt.queries...); code != tt.want {
				t.Fatalf("code %v, want %v", code, tt.want)
			}
		})
	}
	// Garbage datagrams (not CoAP) are dropped; the server still answers.
	raw, err := net.Dial("udp", g.cfg.UDPAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, junk := range [][]byte{{0xff}, []byte("hello"), {0x40, 0x01}, bytes.Repeat([]byte{0x7f}, 2000)} {
		raw.Write(junk)
	}
	raw.Close()
	if after := dump(t, g); after != before {
		t.Fatalf("store changed:\n%s\n---\n%s", before, after)
	}
	// A registered device sending malformed payloads is refused and
	// nothing reaches the listeners.
	dcc := rawClient(t, g.cfg.UDPAddr)
	if code := post(t, dcc, "/rd", message.AppLinkFormat, "</3/0>", "ep=ep", "lwm2m=1.1"); code != codes.Created {
		t.Fatalf("register: %v", code)
	}
	for _, bad := range []struct {
		cf   message.MediaType
		body string
		want codes.Code
	}{
		{message.MediaType(codec.FormatSenMLJSON), `[{"n":"/3/0/9","v":`, codes.BadRequest},
		{message.MediaType(codec.FormatSenMLJSON), `[{"n":"/3/x/9","v":1}]`, codes.BadRequest},
		{message.MediaType(codec.FormatSenMLCBOR), "\x9f\xff\xff", codes.BadRequest},
		{message.MediaType(codec.FormatTLV), "\xc1\x03\x01", codes.UnsupportedMediaType},
	} {
		if code := post(t, dcc, "/dp", bad.cf, bad.body); code != bad.want {
			t.Errorf("send %q: %v, want %v", bad.body, code, bad.want)
		}
	}
	if n := g.events.count(kind(lwm2m.EventSend, "ep")); n != 0 {
		t.Fatalf("%d send events from malformed payloads", n)
	}
	g.device("ep", nil) // re-registers from its own socket
	reg, _ := g.srv.Registration("ep")
	if code := post(t, dcc, "/dp", message.MediaType(codec.FormatSenMLJSON), `[{"n":"/3/0/9","v":1}]`); code != codes.Forbidden {
		t.Fatalf("send from another connection: %v", code)
	}
	if code := post(t, dcc, "/rd/"+reg.ID, message.TextPlain, "", "lt=-5"); code != codes.BadRequest {
		t.Fatalf("update with a bad lifetime: %v", code)
	}
}

// TestDTLS: registration over DTLS with the device's own identity works;
// another identity's endpoint is refused; a wrong key fails the
// handshake; nothing is stored for the refusals.
func TestDTLS(t *testing.T) {
	g := newGateway(t, nil)
	g.addDevice("ep-a", "id-a", []byte("key-a-0123456789"))
	g.addDevice("ep-b", "id-b", []byte("key-b-0123456789"))
	ctx := context.Background()
	d := g.device("ep-a", func(d *sim.LwM2MDevice) { d.PSKIdentity, d.PSKKey = "id-a", []byte("key-a-0123456789") })
	if reg, ok := g.srv.Registration("ep-a"); !ok || !reg.Secure {
		t.Fatalf("registration %+v", reg)
	}
	if _, err := g.srv.Read(ctx, "ep-a", node.MustPath("/3/0"), codec.FormatTLV); err != nil {
		t.Fatal(err)
	}
	_ = d
	before := dump(t, g)
	// Identity a claiming endpoint b.
	imp := &sim.LwM2MDevice{Endpoint: "ep-b", Server: g.cfg.DTLSAddr, PSKIdentity: "id-a", PSKKey: []byte("key-a-0123456789")}
	if err := imp.Start(ctx); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("impersonation: %v", err)
	}
	// Wrong key, or an unknown identity: the handshake fails (pion
	// handshakes on the first exchange).
	for _, c := range []struct{ identity, key string }{{"id-b", "wrong-key-000000"}, {"nobody", "whatever-0000000"}} {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		cc, err := dtls.Dial(g.cfg.DTLSAddr, dtls.NewDTLSClientOptions(
			piondtls.WithPSK(func([]byte) ([]byte, error) { return []byte(c.key), nil }),
			piondtls.WithPSKIdentityHint([]byte(c.identity)),
			piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8),
		), options.WithContext(cctx))
		if err == nil {
			_, err = cc.Post(cctx, "/rd", message.AppLinkFormat, strings.NewReader("</3/0>"), message.Option{ID: message.URIQuery, Value: []byte("ep=ep-b")})
			cc.Close()
		}
		cancel()
		if err == nil {
			t.Fatalf("%s: exchange over a bad handshake succeeded", c.identity)
		}
	}
	if _, ok := g.srv.Registration("ep-b"); ok {
		t.Fatal("ep-b registered")
	}
	if after := dump(t, g); after != before {
		t.Fatalf("store changed by refusals")
	}
}

// TestQueueModeWaits: an operation for a sleeping device waits for its
// next Update and runs in the awake window.
func TestQueueModeWaits(t *testing.T) {
	// No inventory read after the Register: this test times the device's
	// awake windows, and that read would take one. The server counts on
	// a quarter of the device's awake window: a request it sends then
	// reaches the device awake however slow the machine.
	g := newGateway(t, func(c *lwm2m.Config) { c.QueueWindow, c.Inventory = 500*time.Millisecond, false })
	g.addDevice("q", "", nil)
	d := g.device("q", func(d *sim.LwM2MDevice) {
		d.Queue, d.AwakeWindow, d.SleepFor = true, 2*time.Second, 3*time.Second
	})
	reg, _ := g.srv.Registration("q")
	if !reg.Queue {
		t.Fatalf("registration %+v", reg)
	}
	time.Sleep(2300 * time.Millisecond) // asleep
	_, before := d.Counts()
	if _, err := g.srv.Read(context.Background(), "q", node.MustPath("/3/0/3"), codec.FormatText); err != nil {
		t.Fatal(err)
	}
	// The read was answered, so the device was awake: it had sent an
	// Update since it fell asleep.
	eventually(t, "the Update that woke the device", func() bool { _, after := d.Counts(); return after > before })
	// A short deadline while it sleeps gives up without sending (the
	// next wake-up is about 3 s away).
	time.Sleep(2300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := g.srv.Read(ctx, "q", node.MustPath("/3/0/3"), codec.FormatText); err == nil {
		t.Fatal("read of a sleeping device succeeded at once")
	}
}

// TestRegisteredConnectionOutlivesIdleTimeout: go-coap closes silent
// connections (16 s by default); a registration's connection stays open
// for its lifetime, so downlink works after a long silence.
func TestRegisteredConnectionOutlivesIdleTimeout(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.IdleTimeout = 500 * time.Millisecond })
	g.addDevice("ep", "", nil)
	g.device("ep", nil)
	time.Sleep(5 * time.Second) // go-coap checks inactivity every 4 s
	if _, err := g.srv.Read(context.Background(), "ep", node.MustPath("/3/0/3"), codec.FormatText); err != nil {
		t.Fatalf("read after the idle timeout: %v", err)
	}
}

// TestUnsolicitedMessagesRejected: responses that answer nothing the
// server asked (a late answer after a restart, a notification for an
// observation the server no longer has) are rejected with a Reset when
// Confirmable or Non-confirmable and ignored otherwise, never answered
// with a response. Answering them once made a peer that answered back
// loop with the server for ever.
func TestUnsolicitedMessagesRejected(t *testing.T) {
	g := newGateway(t, nil)
	raddr, err := net.ResolveUDPAddr("udp", g.cfg.UDPAddr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(typ message.Type, code codes.Code, mid int32, token string, opts ...message.Option) {
		t.Helper()
		m := pool.NewMessage(context.Background())
		m.SetType(typ)
		m.SetCode(code)
		m.SetMessageID(mid)
		if token != "" {
			m.SetToken(message.Token(token))
		}
		for _, o := range opts {
			m.AddOptionBytes(o.ID, o.Value)
		}
		b, err := m.MarshalWithEncoder(coder.DefaultCoder)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// next reads the next datagram the server sends.
	next := func() *pool.Message {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 1500)
		n, err := conn.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		m := pool.NewMessage(context.Background())
		if _, err := m.UnmarshalWithDecoder(coder.DefaultCoder, b[:n]); err != nil {
			t.Fatal(err)
		}
		return m
	}
	expect := func(what string, typ message.Type, code codes.Code, mid int32) {
		t.Helper()
		m := next()
		if m.Type() != typ || m.Code() != code || m.MessageID() != mid {
			t.Fatalf("%s: got %v %v mid %d, want %v %v mid %d", what, m.Type(), m.Code(), m.MessageID(), typ, code, mid)
		}
	}
	// Each case is followed by one that gets an answer: the answer read
	// must be that one's, so the case itself was answered by nothing.
	send(message.Acknowledgement, codes.NotFound, 100, "late-ack")
	send(message.Confirmable, codes.Content, 101, "late-con")
	expect("CON response after an ACK response", message.Reset, codes.Empty, 101)
	send(message.NonConfirmable, codes.Content, 102, "old-obs", message.Option{ID: message.Observe, Value: []byte{7}})
	expect("NON notification", message.Reset, codes.Empty, 102)
	send(message.Reset, codes.Empty, 103, "")
	send(message.Acknowledgement, codes.Content, 104, "late-ak2")
	send(message.Confirmable, codes.GET, 105, "req", message.Option{ID: message.URIPath, Value: []byte("rd")})
	expect("request after a Reset and an ACK", message.Acknowledgement, codes.MethodNotAllowed, 105)
}
