package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpServer "github.com/plgd-dev/go-coap/v3/udp/server"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// Block2 measures firmware serving over CoAP: Concurrency devices at a
// time each pull an ImageSize package in 1024-byte Block2 blocks, from a
// new socket each (as LwM2M clients fetch a Package URI), each worker
// from its own loopback address. fumo-gw checks the URL's signature and
// reads each block from the store; the baseline is a bare go-coap server
// answering the same GETs with the block sliced from memory.
func Block2(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	g, closeGW, err := inProcess(ctx, o.Dir)
	if err != nil {
		return Result{}, err
	}
	defer closeGW()
	img := make([]byte, o.ImageSize)
	rand.Read(img)
	sum := sha256.Sum256(img)
	if _, err := g.Store.PutPackage(ctx, fleet.Package{ID: "bench", Name: "bench", Version: "2.0", Size: int64(len(img)),
		SHA256: hex.EncodeToString(sum[:])}, bytes.NewReader(img)); err != nil {
		return Result{}, err
	}
	path := g.Files.URL("", "bench-job", "bench")
	bare, bareAddr, err := bareBlockServer(img)
	if err != nil {
		return Result{}, err
	}
	defer bare.Stop()
	pull := func(addr, path string) func(context.Context, int) error {
		return func(ctx context.Context, w int) error {
			n, err := pullBlock2(ctx, addr, sourceIP(w, 1), path)
			if err == nil && n != len(img) {
				err = fmt.Errorf("pulled %d of %d bytes", n, len(img))
			}
			return err
		}
	}
	gw, base, err := paired(ctx, o, [2]func(context.Context, int) error{pull(g.LwM2M.UDPAddr().String(), path), pull(bareAddr, "/fw")})
	if err != nil {
		return Result{}, err
	}
	mib := float64(len(img)) / (1 << 20)
	p := o.params()
	p["image"] = o.ImageSize
	delete(p, "devices")
	r := Result{Scenario: "lwm2m-block2", Metric: "MiB/s", Value: gw * mib, Params: p,
		Extra: map[string]float64{"blocks/s": gw * float64((len(img)+1023)/1024)}}
	r.compare("bare go-coap", base*mib, 0.8, ">= 80% of bare go-coap")
	return r, nil
}

// bareBlockServer is the baseline: go-coap answering GET /fw with the
// Block2 block asked for, from memory.
func bareBlockServer(img []byte) (*udpServer.Server, string, error) {
	ln, err := coapNet.NewListenUDP("udp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	r := mux.NewRouter()
	_ = r.Handle("/fw", mux.HandlerFunc(func(w mux.ResponseWriter, req *mux.Message) {
		szx, num := blockwise.SZX1024, int64(0)
		if v, err := req.GetOptionUint32(message.Block2); err == nil {
			s, n, _, err := blockwise.DecodeBlockOption(v)
			if err != nil || s > blockwise.SZX1024 {
				_ = w.SetResponse(codes.BadOption, message.TextPlain, nil)
				return
			}
			szx, num = s, n
		}
		off := num * szx.Size()
		if off >= int64(len(img)) {
			_ = w.SetResponse(codes.BadRequest, message.TextPlain, nil)
			return
		}
		end := min(off+szx.Size(), int64(len(img)))
		block, _ := blockwise.EncodeBlockOption(szx, num, end < int64(len(img)))
		_ = w.SetResponse(codes.Content, message.AppOctets, bytes.NewReader(img[off:end]))
		w.Message().SetOptionUint32(message.Block2, block)
		w.Message().SetOptionUint32(message.Size2, uint32(len(img)))
	}))
	s := udp.NewServer(options.WithMux(r), options.WithBlockwise(false, blockwise.SZX1024, time.Minute))
	go baseline(func() { _ = s.Serve(ln) })
	return s, ln.LocalAddr().String(), nil
}

// pullBlock2 fetches path block by block (1024 bytes) from a new socket
// and returns the bytes received.
func pullBlock2(ctx context.Context, addr string, src net.IP, path string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cc, err := udp.Dial(addr, options.WithBlockwise(false, blockwise.SZX1024, time.Minute),
		options.WithDialer(&net.Dialer{LocalAddr: &net.UDPAddr{IP: src}}), options.WithErrors(func(error) {}))
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	total := 0
	for num := int64(0); ; num++ {
		req, err := cc.NewGetRequest(ctx, path)
		if err != nil {
			return total, err
		}
		v, _ := blockwise.EncodeBlockOption(blockwise.SZX1024, num, false)
		req.SetOptionUint32(message.Block2, v)
		resp, err := cc.Do(req)
		cc.ReleaseMessage(req)
		if err != nil {
			return total, err
		}
		if resp.Code() != codes.Content {
			return total, fmt.Errorf("block %d: %v", num, resp.Code())
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
