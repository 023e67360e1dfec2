package loadtest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
	udpServer "github.com/plgd-dev/go-coap/v3/udp/server"

	coapNet "github.com/plgd-dev/go-coap/v3/net"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// Register measures LwM2M registration handling: Concurrency devices at
// a time each send a Register (CON POST /rd, link list of the objects a
// firmware-updatable device has) from a fresh socket and wait for the
// 2.01, cycling over Devices provisioned endpoints, each from its own
// loopback address. fumo-gw stores every registration durably before it
// answers; the baseline is a bare go-coap server answering the same
// POST with 2.01 and a Location-Path.
func Register(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	g, closeGW, err := inProcess(ctx, o.Dir)
	if err != nil {
		return Result{}, err
	}
	defer closeGW()
	eps := make([]string, o.Devices)
	if err := parallel(ctx, o.Devices, 16, func(i int) error {
		eps[i] = fmt.Sprintf("urn:bench:reg-%06d", i)
		_, err := g.Store.CreateDevice(ctx, fleet.Device{ID: fmt.Sprintf("reg-%06d", i), Protocol: fleet.ProtocolLwM2M, Model: "bench",
			LwM2M: &fleet.LwM2MInfo{Endpoint: eps[i]}})
		return err
	}); err != nil {
		return Result{}, err
	}
	bare, bareAddr, err := bareRegistrar()
	if err != nil {
		return Result{}, err
	}
	defer bare.Stop()

	var next atomic.Int64
	register := func(addr string) func(ctx context.Context, _ int) error {
		return func(ctx context.Context, _ int) error {
			i := int(next.Add(1)) % len(eps)
			return registerOnce(ctx, addr, sourceIP(i, 1), eps[i], uint16(i))
		}
	}
	// One warm-up registration per device, so that both sides measure
	// re-registrations of known devices.
	if err := parallel(ctx, len(eps), o.Concurrency, func(i int) error {
		return registerOnce(ctx, g.LwM2M.UDPAddr().String(), sourceIP(i, 1), eps[i], uint16(i))
	}); err != nil {
		return Result{}, fmt.Errorf("warm-up: %w", err)
	}
	gw, base, err := paired(ctx, o, [2]func(context.Context, int) error{register(g.LwM2M.UDPAddr().String()), register(bareAddr)})
	if err != nil {
		return Result{}, err
	}
	r := Result{Scenario: "lwm2m-register", Metric: "registrations/s", Value: gw, Params: o.params()}
	r.compare("bare go-coap", base, 0.5, ">= 50% of bare go-coap")
	return r, nil
}

// bareRegistrar is the baseline: go-coap answering POST /rd with 2.01.
func bareRegistrar() (*udpServer.Server, string, error) {
	ln, err := coapNet.NewListenUDP("udp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	var n atomic.Int64
	r := mux.NewRouter()
	_ = r.Handle("/rd", mux.HandlerFunc(func(w mux.ResponseWriter, req *mux.Message) {
		if req.Code() != codes.POST {
			_ = w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
			return
		}
		if _, err := req.Queries(); err != nil {
			_ = w.SetResponse(codes.BadRequest, message.TextPlain, nil)
			return
		}
		_ = w.SetResponse(codes.Created, message.TextPlain, nil)
		w.Message().SetOptionString(message.LocationPath, "rd")
		w.Message().AddOptionString(message.LocationPath, strconv.FormatInt(n.Add(1), 36))
	}))
	s := udp.NewServer(options.WithMux(r), options.WithBlockwise(false, blockwise.SZX1024, time.Minute))
	go baseline(func() { _ = s.Serve(ln) })
	return s, ln.LocalAddr().String(), nil
}

var registerPayload = []byte(`</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5/0>`)

// registerOnce sends one Register from its own socket, hand-encoded (no
// client library state stays behind), retransmitting as CoAP does.
func registerOnce(ctx context.Context, addr string, src net.IP, ep string, mid uint16) error {
	d := net.Dialer{LocalAddr: &net.UDPAddr{IP: src}}
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	m := message.Message{Code: codes.POST, Type: message.Confirmable, MessageID: int32(mid), Token: []byte{byte(mid >> 8), byte(mid), 0xbe, 0x4c},
		Payload: registerPayload, Options: make(message.Options, 0, 8)}
	m.Options = m.Options.Add(message.Option{ID: message.URIPath, Value: []byte("rd")})
	m.Options = m.Options.Add(message.Option{ID: message.ContentFormat, Value: []byte{40}})
	for _, q := range []string{"ep=" + ep, "lt=86400", "lwm2m=1.1", "b=U"} {
		m.Options = m.Options.Add(message.Option{ID: message.URIQuery, Value: []byte(q)})
	}
	buf := make([]byte, 512)
	n, err := coder.DefaultCoder.Encode(m, buf)
	if err != nil {
		return err
	}
	rb := make([]byte, 1500)
	for attempt, wait := 0, 2*time.Second; attempt < 5; attempt, wait = attempt+1, 2*wait {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		rn, err := c.Read(rb)
		if err != nil {
			continue // retransmit
		}
		resp := message.Message{Options: make(message.Options, 0, 8)}
		if _, err := coder.DefaultCoder.Decode(rb[:rn], &resp); err != nil {
			return fmt.Errorf("register %s: %w", ep, err)
		}
		if resp.Code != codes.Created {
			return fmt.Errorf("register %s: %v", ep, resp.Code)
		}
		return nil
	}
	return fmt.Errorf("register %s: no answer", ep)
}

// parallel runs fn(0..n-1) on at most workers goroutines and returns the
// first error.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
