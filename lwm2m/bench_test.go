package lwm2m_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
)

// registerRaw sends one Register from its own socket, hand-encoded, and
// checks the 2.01: no client library state stays in this process.
func registerRaw(addr, ep string, mid uint16) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	m := message.Message{Code: codes.POST, Type: message.Confirmable, MessageID: int32(mid), Token: []byte{byte(mid >> 8), byte(mid), 1, 2},
		Payload: []byte(`</>;rt="oma.lwm2m";ct=112,</1/0>,</3/0>,</5/0>`)}
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
	for attempt := 0; attempt < 4; attempt++ {
		if _, err := c.Write(buf[:n]); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		rb := make([]byte, 1500)
		rn, err := c.Read(rb)
		if err != nil {
			continue // retransmit, as CoAP does
		}
		resp := message.Message{Options: make(message.Options, 0, 16)}
		if _, err := coder.DefaultCoder.Decode(rb[:rn], &resp); err != nil {
			return err
		}
		if resp.Code != codes.Created {
			return fmt.Errorf("register %s: %v", ep, resp.Code)
		}
		return nil
	}
	return fmt.Errorf("register %s: no answer", ep)
}

func provision(b testing.TB, g *gateway, n int, prefix string) []string {
	eps := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range eps {
		eps[i] = fmt.Sprintf("%s-%06d", prefix, i)
		wg.Add(1)
		sem <- struct{}{}
		go func(ep string) {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := g.st.CreateDevice(context.Background(), fleet.Device{ID: "d-" + ep, Protocol: fleet.ProtocolLwM2M, Model: "B", LwM2M: &fleet.LwM2MInfo{Endpoint: ep}})
			if err != nil {
				errs <- err
			}
		}(eps[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return eps
}

// BenchmarkRegister measures Register handling (each registration stored
// with an fsync, shared by concurrent ones) with 64 devices registering
// at once over loopback UDP.
func BenchmarkRegister(b *testing.B) {
	g := newGateway(b, noSourceLimits)
	eps := provision(b, g, 2000, "reg")
	var next atomic.Int64
	b.SetParallelism(64 / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if err := registerRaw(g.cfg.UDPAddr, eps[int(i)%len(eps)], uint16(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
}

// pullBlocks fetches a file block by block (Block2, hand-made, as
// devices do) and returns its length.
func pullBlocks(ctx context.Context, addr, path string, blockSize int) (int, error) {
	cc, err := udp.Dial(addr, options.WithBlockwise(false, blockwise.SZX1024, time.Minute))
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	szx := blockwise.SZX1024
	for s := blockwise.SZX16; s <= blockwise.SZX1024; s++ {
		if s.Size() == int64(blockSize) {
			szx = s
		}
	}
	total := 0
	for num := int64(0); ; num++ {
		req, err := cc.NewGetRequest(ctx, path)
		if err != nil {
			return total, err
		}
		v, _ := blockwise.EncodeBlockOption(szx, num, false)
		req.SetOptionUint32(message.Block2, v)
		resp, err := cc.Do(req)
		cc.ReleaseMessage(req)
		if err != nil {
			return total, err
		}
		body, _ := resp.ReadBody()
		total += len(body)
		bv, err := resp.GetOptionUint32(message.Block2)
		if err != nil {
			return total, fmt.Errorf("block %d without Block2", num)
		}
		if _, _, more, _ := blockwise.DecodeBlockOption(bv); !more {
			return total, nil
		}
	}
}

// BenchmarkPull1MiB pulls a 1 MiB package at 1024-byte blocks from the
// gateway (signed path, each block read from the store) and, in the same
// iteration, from a bare go-coap server with automatic block-wise serving
// the same bytes from memory; it reports both rates and their ratio.
func BenchmarkPull1MiB(b *testing.B) {
	g := newGateway(b, noSourceLimits)
	img := make([]byte, 1<<20)
	rand.Read(img)
	g.addPackageBytes("big", img)
	path := g.files.URL("", "job1", "big")

	r := mux.NewRouter()
	_ = r.Handle("/fw", mux.HandlerFunc(func(w mux.ResponseWriter, _ *mux.Message) {
		_ = w.SetResponse(codes.Content, message.AppOctets, bytes.NewReader(img))
	}))
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	ln.Close()
	bare := udp.NewServer(options.WithMux(r), options.WithBlockwise(true, blockwise.SZX1024, time.Minute))
	bareLn, err := listenUDP(ln.LocalAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	go bare.Serve(bareLn)
	b.Cleanup(bare.Stop)

	ctx := context.Background()
	var gw, bw time.Duration
	b.SetBytes(int64(len(img)))
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if n, err := pullBlocks(ctx, g.cfg.UDPAddr, path, 1024); err != nil || n != len(img) {
			b.Fatalf("gateway: %d bytes, %v", n, err)
		}
		t1 := time.Now()
		if n, err := pullBlocks(ctx, bareLn.LocalAddr().String(), "/fw", 1024); err != nil || n != len(img) {
			b.Fatalf("bare: %d bytes, %v", n, err)
		}
		gw += t1.Sub(t0)
		bw += time.Since(t1)
	}
	mb := float64(b.N) * float64(len(img)) / (1 << 20)
	b.ReportMetric(mb/gw.Seconds(), "gateway-MiB/s")
	b.ReportMetric(mb/bw.Seconds(), "bare-go-coap-MiB/s")
	b.ReportMetric(bw.Seconds()/gw.Seconds(), "ratio")
}

// BenchmarkIdleDeviceMemory registers devices from sockets that are then
// closed and reports the server's heap per registered device.
func BenchmarkIdleDeviceMemory(b *testing.B) {
	const n = 2000
	g := newGateway(b, noSourceLimits)
	eps := provision(b, g, n, "idle")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, ep := range eps {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, ep string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := registerRaw(g.cfg.UDPAddr, ep, uint16(i)); err != nil {
				b.Error(err)
			}
		}(i, ep)
	}
	wg.Wait()
	for range b.N {
		// The measurement is the registrations above; b.N only repeats
		// the reading.
	}
	b.StopTimer()
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if g.srv.Registered() != n {
		b.Fatalf("registered %d", g.srv.Registered())
	}
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/n, "heap-bytes/device")
}

// noSourceLimits turns the per-source limits off: these benchmarks send
// everything from one loopback address, as no fleet does (the load tool,
// fumo-gw bench, spreads its devices over many and keeps the defaults).
func noSourceLimits(c *lwm2m.Config) { c.PerSourceRate, c.PerSourceConns = 0, 0 }
