package lwm2m_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
	"github.com/fumo-gw/fumo-gw/sim"
)

// TestStats_Lifecycle: registers, updates, deregistrations, expiries and
// downlink requests each count once, with their failures.
func TestStats_Lifecycle(t *testing.T) {
	// Inventory off: no Object 3 read after each Register in the counts.
	g := newGateway(t, func(c *lwm2m.Config) {
		c.ExpiryGrace, c.RequestTimeout, c.Inventory = 0, 300*time.Millisecond, false
	})
	g.addDevice("ep1", "", nil)
	g.addDevice("ep2", "", nil)
	g.addDevice("ep3", "", nil)
	ctx := context.Background()
	d := g.device("ep1", nil)
	if err := d.Update(ctx); err != nil {
		t.Fatal(err)
	}
	g.events.wait(t, kind(lwm2m.EventUpdated, "ep1"))
	if _, err := g.srv.Read(ctx, "ep1", node.MustPath("/3/0/3"), codec.FormatText); err != nil {
		t.Fatal(err)
	}
	if _, err := g.srv.Read(ctx, "ep1", node.MustPath("/3/0/4242"), codec.FormatText); !lwm2m.IsCode(err, codes.NotFound) {
		t.Fatalf("read of a missing resource: %v, want 4.04", err)
	}
	if err := g.srv.Observe(ctx, "ep1", node.MustPath("/3/0/9"), lwm2m.AnyFormat); err != nil {
		t.Fatal(err)
	}
	st := g.srv.Stats()
	if st.Registers != 1 || st.Updates != 1 || st.Requests != 3 || st.ErrorAnswers != 1 || st.NoAnswer != 0 {
		t.Errorf("stats %+v, want 1 register, 1 update, 3 requests of which 1 answered with an error", st)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	g.events.wait(t, kind(lwm2m.EventDeregistered, "ep1"))
	if st := g.srv.Stats(); st.Deregistrations != 1 {
		t.Errorf("%d deregistrations, want 1", st.Deregistrations)
	}

	// A device that stops answering: a request times out. Another, with
	// a 1 s lifetime, expires.
	d2 := &sim.LwM2MDevice{Endpoint: "ep2", Server: g.cfg.UDPAddr}
	if err := d2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	d2.Kill()
	if _, err := g.srv.Read(ctx, "ep2", node.MustPath("/3/0/3"), codec.FormatText); err == nil {
		t.Fatal("read of a dead device answered")
	}
	d3 := &sim.LwM2MDevice{Endpoint: "ep3", Server: g.cfg.UDPAddr, Lifetime: 1}
	if err := d3.Start(ctx); err != nil {
		t.Fatal(err)
	}
	d3.Kill()
	g.events.wait(t, kind(lwm2m.EventExpired, "ep3"))
	st = g.srv.Stats()
	if st.Registers != 3 || st.Expirations != 1 || st.Requests != 4 || st.NoAnswer != 1 || st.Errors != 0 {
		t.Errorf("stats %+v, want 3 registers, 1 expiry, 4 requests of which 1 without answer, no errors", st)
	}
}

// TestStats_Rejected: a refused request counts under its code, and only
// there; the codes the server answers with are always listed.
func TestStats_Rejected(t *testing.T) {
	g := newGateway(t, nil)
	g.addDevice("ep", "", nil)
	cc := rawClient(t, g.cfg.UDPAddr)
	st := g.srv.Stats()
	for _, code := range []string{"4.00", "4.02", "4.03", "4.04", "4.05", "4.08", "4.12", "4.13", "4.15"} {
		if n, ok := st.Rejected[code]; !ok || n != 0 {
			t.Errorf("rejected %s = %d (listed %v), want 0", code, n, ok)
		}
	}
	tests := []struct {
		name    string
		path    string
		cf      message.MediaType
		body    string
		queries []string
		want    codes.Code
		label   string
	}{
		{"unknown endpoint", "/rd", message.AppLinkFormat, "</3/0>", []string{"ep=nobody"}, codes.Forbidden, "4.03"},
		{"no endpoint", "/rd", message.AppLinkFormat, "</3/0>", nil, codes.BadRequest, "4.00"},
		{"payload not link format", "/rd", message.AppJSON, "{}", []string{"ep=ep"}, codes.UnsupportedMediaType, "4.15"},
		{"unsupported version", "/rd", message.AppLinkFormat, "</3/0>", []string{"ep=ep", "lwm2m=2.0"}, codes.PreconditionFailed, "4.12"},
		{"unknown registration id", "/rd/nosuchid", message.TextPlain, "", nil, codes.NotFound, "4.04"},
		{"send without a registration", "/dp", message.TextPlain, "", nil, codes.Forbidden, "4.03"},
		{"unknown path", "/xyz", message.TextPlain, "", nil, codes.NotFound, "4.04"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.srv.Stats()
			if code := post(t, cc, tt.path, tt.cf, tt.body, tt.queries...); code != tt.want {
				t.Fatalf("code %v, want %v", code, tt.want)
			}
			after := g.srv.Stats()
			for code, n := range after.Rejected {
				want := before.Rejected[code]
				if code == tt.label {
					want++
				}
				if n != want {
					t.Errorf("rejected %s = %d, want %d", code, n, want)
				}
			}
			if after.Registers != 0 || after.Errors != 0 {
				t.Errorf("stats %+v after a refusal", after)
			}
		})
	}
}

// TestStats_Unsolicited: a response that answers nothing is counted.
func TestStats_Unsolicited(t *testing.T) {
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
	m := pool.NewMessage(context.Background())
	m.SetType(message.Confirmable)
	m.SetCode(codes.Content)
	m.SetMessageID(7)
	m.SetToken(message.Token("late-con"))
	b, err := m.MarshalWithEncoder(coder.DefaultCoder)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	// The Reset comes after the count.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1500)); err != nil {
		t.Fatal(err)
	}
	if st := g.srv.Stats(); st.Unsolicited != 1 {
		t.Errorf("%d unsolicited, want 1", st.Unsolicited)
	}
}
