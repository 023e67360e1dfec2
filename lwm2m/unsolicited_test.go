package lwm2m_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/fumo-gw/fumo-gw/lwm2m"
)

// TestUnsolicitedNotificationEvent: a registered device that notifies an
// observation the server does not have (the previous process's, after a
// restart) gets a Reset, and the server tells its listeners, at most once
// in a while, so that a job waiting on the device reads it and observes
// again at once. An unregistered address notifying gets only the Reset.
func TestUnsolicitedNotificationEvent(t *testing.T) {
	g := newGateway(t, func(c *lwm2m.Config) { c.Inventory = false })
	g.addDevice("raw", "", nil)
	raddr, err := net.ResolveUDPAddr("udp", g.cfg.UDPAddr)
	if err != nil {
		t.Fatal(err)
	}
	dial := func() *net.UDPConn {
		c, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	send := func(conn *net.UDPConn, m *pool.Message) *pool.Message {
		t.Helper()
		b, err := m.MarshalWithEncoder(coder.DefaultCoder)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1500)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		r := pool.NewMessage(context.Background())
		if _, err := r.UnmarshalWithDecoder(coder.DefaultCoder, buf[:n]); err != nil {
			t.Fatal(err)
		}
		return r
	}
	notify := func(conn *net.UDPConn, mid int32) {
		t.Helper()
		m := pool.NewMessage(context.Background())
		m.SetType(message.NonConfirmable)
		m.SetCode(codes.Content)
		m.SetMessageID(mid)
		m.SetToken(message.Token("old-obs"))
		m.SetObserve(9)
		if r := send(conn, m); r.Type() != message.Reset {
			t.Fatalf("notification answered %v %v, want a Reset", r.Type(), r.Code())
		}
	}
	stranger := dial()
	notify(stranger, 1)

	conn := dial()
	reg := pool.NewMessage(context.Background())
	reg.SetType(message.Confirmable)
	reg.SetCode(codes.POST)
	reg.SetMessageID(2)
	reg.SetToken(message.Token("reg"))
	reg.SetPath("/rd")
	reg.AddQuery("ep=raw")
	reg.AddQuery("lt=300")
	reg.SetContentFormat(message.AppLinkFormat)
	reg.SetBody(strings.NewReader("</1/0>,</3/0>,</5/0>"))
	if r := send(conn, reg); r.Code() != codes.Created {
		t.Fatalf("register: %v", r.Code())
	}
	notify(conn, 3)
	notify(conn, 4)
	g.events.wait(t, kind(lwm2m.EventUnsolicited, "raw"))
	time.Sleep(100 * time.Millisecond)
	if n := g.events.count(kind(lwm2m.EventUnsolicited, "raw")); n != 1 {
		t.Errorf("%d unsolicited events for two notifications close together, want 1", n)
	}
	if n := g.events.count(func(ev lwm2m.Event) bool { return ev.Kind == lwm2m.EventUnsolicited && ev.Endpoint != "raw" }); n != 0 {
		t.Errorf("unsolicited events for an address with no registration: %d", n)
	}

	// After a restart the registration is restored, with no connection
	// yet: the device is found by its address.
	g.restart()
	notify(conn, 5)
	eventually(t, "an unsolicited event from the restored registration", func() bool {
		return g.events.count(kind(lwm2m.EventUnsolicited, "raw")) == 2
	})
}
