package dm_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/sim"
)

// TestGatewayDiesMidSession: the gateway dies after answering a device's
// package 1 (its commands and its nonces stored) and before the device's
// next message; the device's next session, on the nonces it has, goes
// through, and the command is sent again.
func TestGatewayDiesMidSession(t *testing.T) {
	g := newGateway(t, dm.Config{})
	d := g.provision("dev1", "md5", syncml.EncodingXML)
	session(t, d, sim.SessionOptions{})
	id := g.enqueue("dev1", get("./DevDetail/FwV"), "")
	rt := &recordingTransport{after: func(n int) {
		if n == 1 {
			g.stop()
		}
	}}
	d.HTTP = &http.Client{Transport: rt}
	if _, err := d.Session(context.Background(), sim.SessionOptions{}); err == nil {
		t.Fatal("a session with the gateway gone went through")
	}
	g.start()
	d.HTTP = nil
	session(t, d, sim.SessionOptions{})
	if r := g.result(id); r.State != "done" || r.Outcome.Code() != 200 {
		t.Errorf("the command after the gateway came back: %+v", r)
	}
}
