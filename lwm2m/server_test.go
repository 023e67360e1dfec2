package lwm2m_test

import (
	"context"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
	"github.com/fumo-gw/fumo-gw/sim"
)

func TestRegisterReadObserve(t *testing.T) {
	g := newGateway(t, nil)
	g.addDevice("ep1", "", nil)
	d := g.device("ep1", nil)
	ctx := context.Background()
	g.events.wait(t, kind(lwm2m.EventRegistered, "ep1"))
	reg, ok := g.srv.Registration("ep1")
	if !ok || reg.Version != "1.1" || reg.Lifetime != 300 {
		t.Fatalf("registration %+v", reg)
	}
	for _, f := range []codec.Format{codec.FormatTLV, codec.FormatSenMLJSON, codec.FormatSenMLCBOR} {
		c, err := g.srv.Read(ctx, "ep1", node.MustPath("/3/0"), f)
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		recs, err := c.Records(node.MustPath("/3/0"))
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		found := false
		for _, r := range recs {
			if r.Path == node.MustPath("/3/0/3") {
				v, _ := r.Value.Str()
				found = v == "1.0"
			}
		}
		if !found || c.Format != f {
			t.Fatalf("%v: %v", c.Format, recs)
		}
	}
	if err := g.srv.Observe(ctx, "ep1", node.MustPath("/3/0/9"), lwm2m.AnyFormat); err != nil {
		t.Fatal(err)
	}
	d.SetValue("/3/0/9", node.Integer(42))
	g.events.wait(t, func(ev lwm2m.Event) bool {
		if ev.Kind != lwm2m.EventNotify || len(ev.Records) != 1 {
			return false
		}
		v, _ := ev.Records[0].Value.Int()
		return v == 42
	})
	_ = sim.LwM2MFaultNone
	_ = time.Second
}
