package lwm2m_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
)

// TestPackageBlocksNotRetained pulls an 8 MiB package block by block over
// one connection and checks that the served blocks are not kept in memory
// afterwards (go-coap's response cache held each for 247 s: 5 000 devices
// pulling a 256 KiB image kept 1.3 GB). Kept, they would be the whole
// package; the bound leaves room for what other tests' goroutines still
// running in the process allocate meanwhile.
func TestPackageBlocksNotRetained(t *testing.T) {
	g := newGateway(t, nil)
	img := make([]byte, 8<<20)
	rand.Read(img)
	g.addPackageBytes("big", img)
	path := g.files.URL("", "job1", "big")
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	n, err := pullBlocks(context.Background(), g.cfg.UDPAddr, path, 1024)
	if err != nil || n != len(img) {
		t.Fatalf("pulled %d bytes: %v", n, err)
	}
	// The server's connection for the puller is still open (it closes
	// after IdleTimeout): whatever it keeps is counted here.
	// Kept blocks stay (247 s); what other tests' goroutines allocate
	// meanwhile comes and goes: the least growth over a few looks counts.
	grew := int64(heap()) - int64(before)
	for i := 0; i < 10 && grew > 4<<20; i++ {
		time.Sleep(200 * time.Millisecond)
		grew = min(grew, int64(heap())-int64(before))
	}
	if grew > 4<<20 {
		t.Errorf("heap grew by %d KiB after serving 8 MiB of blocks", grew>>10)
	}
}

// TestPackageBlockRetransmission: a retransmitted Confirmable block GET
// (same Message ID) is answered again, with the same Message ID and the
// same block; a Non-confirmable GET gets a Non-confirmable answer.
func TestPackageBlockRetransmission(t *testing.T) {
	g := newGateway(t, nil)
	img := make([]byte, 3000)
	rand.Read(img)
	g.addPackageBytes("small", img)
	path := g.files.URL("", "job1", "small")
	c, err := net.Dial("udp", g.cfg.UDPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func(typ message.Type, mid int32, num int64) message.Message {
		t.Helper()
		m := message.Message{Code: codes.GET, Type: typ, MessageID: mid, Token: []byte{1, 2, 3, byte(mid)}, Options: make(message.Options, 0, 16)}
		buf := make([]byte, 1024)
		m.Options, _, _ = m.Options.SetPath(buf, path)
		block, _ := blockwise.EncodeBlockOption(blockwise.SZX1024, num, false)
		bb := make([]byte, 4)
		m.Options, _, _ = m.Options.SetUint32(bb, message.Block2, block)
		out := make([]byte, 2048)
		n, err := coder.DefaultCoder.Encode(m, out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(out[:n]); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		in := make([]byte, 2048)
		rn, err := c.Read(in)
		if err != nil {
			t.Fatal(err)
		}
		resp := message.Message{Options: make(message.Options, 0, 16)}
		if _, err := coder.DefaultCoder.Decode(in[:rn], &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i := 0; i < 2; i++ {
		resp := exchange(message.Confirmable, 77, 1)
		if resp.Type != message.Acknowledgement || resp.MessageID != 77 || resp.Code != codes.Content {
			t.Fatalf("copy %d: %v %v mid %d", i+1, resp.Type, resp.Code, resp.MessageID)
		}
		if !bytes.Equal(resp.Payload, img[1024:2048]) {
			t.Fatalf("copy %d: wrong block", i+1)
		}
	}
	resp := exchange(message.NonConfirmable, 78, 2)
	if resp.Type != message.NonConfirmable || resp.Code != codes.Content || !bytes.Equal(resp.Payload, img[2048:]) {
		t.Fatalf("NON: %v %v, %d bytes", resp.Type, resp.Code, len(resp.Payload))
	}
	if v, ok := blockValue(resp); !ok || v != 2<<4|6 {
		t.Fatalf("NON: Block2 %x", v)
	}
}

func blockValue(m message.Message) (uint32, bool) {
	v, err := m.Options.GetUint32(message.Block2)
	return v, err == nil
}
