package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// LwM2MFault is a failure the simulated Object 5 injects.
type LwM2MFault int

const (
	LwM2MFaultNone LwM2MFault = iota
	// LwM2MFaultCorrupt: the package fails the integrity check (Result 5).
	LwM2MFaultCorrupt
	// LwM2MFaultUnsupported: the package type is refused (Result 6).
	LwM2MFaultUnsupported
	// LwM2MFaultOutOfStorage: not enough flash (Result 2); a push is
	// answered 4.13 with Size1 = FreeStorage.
	LwM2MFaultOutOfStorage
	// LwM2MFaultConnectionLost: a pull download breaks half-way (Result 4).
	LwM2MFaultConnectionLost
	// LwM2MFaultUpdateFailure: the update fails after Execute (Result 8,
	// State back to 2).
	LwM2MFaultUpdateFailure
	// LwM2MFaultGiveUp: the device gives up on the gateway half-way
	// through a pull download (Result 4, connection lost), then vanishes
	// without de-registering: no more traffic, its registration expires.
	LwM2MFaultGiveUp
	// LwM2MFaultDropAndResume: a pull download loses its connection
	// half-way, as a device whose link drops, and resumes after
	// DropPause: a CoAP pull from a new socket (new source port) at the
	// next block, an HTTP pull with a Range from the bytes it has. The
	// download succeeds.
	LwM2MFaultDropAndResume
)

// DropPause is how long a LwM2MFaultDropAndResume download stays offline.
const DropPause = 200 * time.Millisecond

// Object 5 states and results the simulator uses.
const (
	fwIdle        = 0
	fwDownloading = 1
	fwDownloaded  = 2
	fwUpdating    = 3
)

// LwM2MFirmware is the simulated Object 5 (Firmware Update): push (Block1
// writes of /5/0/0) and pull (/5/0/1 URI fetched with CoAP Block2 GETs
// from a new socket, or HTTP), integrity check, Execute → Updating →
// reboot → re-register with the new version in /3/0/3, Cancel.
type LwM2MFirmware struct {
	Version      string // /3/0/3 before the update (default "1.0")
	NewVersion   string // after a successful update (default "2.0")
	ExpectSHA256 string // hex digest the package must have ("" skips the check)
	// Protocols is /5/0/8 (default CoAP, CoAPS, HTTP: 0, 1, 2).
	Protocols []int
	// PushOnly and PullOnly set /5/0/9 (default both: 2).
	PushOnly, PullOnly bool
	// BlockSize is the largest Block1 block accepted (larger: 4.13 naming
	// this size) and the Block2 size asked for in pulls (default 1024).
	BlockSize   int
	FreeStorage int // bytes, for LwM2MFaultOutOfStorage (default 1024)
	Fault       LwM2MFault
	NeverNotify bool // never sends notifications (poll me)
	// RefuseURIUnlessIdle: a non-empty Package URI is refused with 4.00
	// unless State is Idle (Anjay: after a failed update it stays in
	// State 2, Result 8, which LwM2M allows).
	RefuseURIUnlessIdle bool
	// RefuseURI: every non-empty Package URI is refused with 4.00 (a URI
	// the device will not fetch).
	RefuseURI bool
	// StuckAfterPush: a pushed package is taken (2.04 for every block) but
	// the device stays Downloading with Result 0 for ever (Wakaama's stub
	// firmware object).
	StuckAfterPush bool
	UpdateTime     time.Duration // time spent in Updating (default 50ms)
	// Slow delays each push block's answer and each pull block's request,
	// for transfers that span sleeps and restarts.
	Slow time.Duration
	HTTP *http.Client // for http:// URIs (default http.DefaultClient)

	dev       *LwM2MDevice
	wg        sync.WaitGroup
	buf       []byte // push under way
	installed []byte
	pullGen   int
	execs     int
	refusals  int // 4.13 answers for too large blocks
	blocks    int // Block2 GETs sent by pulls
	resumes   int // pulls resumed after a LwM2MFaultDropAndResume drop
}

// BlocksFetched counts the Block2 GETs the device's CoAP pulls sent
// (retransmissions of one GET count once).
func (f *LwM2MFirmware) BlocksFetched() int {
	f.dev.mu.Lock()
	defer f.dev.mu.Unlock()
	return f.blocks
}

// Resumes counts the pulls that resumed after a LwM2MFaultDropAndResume
// drop.
func (f *LwM2MFirmware) Resumes() int {
	f.dev.mu.Lock()
	defer f.dev.mu.Unlock()
	return f.resumes
}

func (f *LwM2MFirmware) count(blocks, resumes int) {
	f.dev.mu.Lock()
	f.blocks += blocks
	f.resumes += resumes
	f.dev.mu.Unlock()
}

// BlockRefusals counts the 4.13 answers given to blocks larger than
// BlockSize.
func (f *LwM2MFirmware) BlockRefusals() int {
	f.dev.mu.Lock()
	defer f.dev.mu.Unlock()
	return f.refusals
}

func (f *LwM2MFirmware) defaults() {
	if f.Version == "" {
		f.Version = "1.0"
	}
	if f.NewVersion == "" {
		f.NewVersion = "2.0"
	}
	if f.Protocols == nil {
		f.Protocols = []int{0, 1, 2}
	}
	if f.BlockSize == 0 {
		f.BlockSize = 1024
	}
	if f.FreeStorage == 0 {
		f.FreeStorage = 1024
	}
	if f.UpdateTime == 0 {
		f.UpdateTime = 50 * time.Millisecond
	}
	if f.HTTP == nil {
		f.HTTP = http.DefaultClient
	}
}

func (f *LwM2MFirmware) initValuesLocked(set func(string, node.Value)) {
	set("/5/0/1", node.String(""))
	set("/5/0/3", node.Integer(fwIdle))
	set("/5/0/5", node.Integer(0))
	set("/5/0/6", node.String(""))
	set("/5/0/7", node.String(""))
	for i, p := range f.Protocols {
		set(fmt.Sprintf("/5/0/8/%d", i), node.Integer(int64(p)))
	}
	method := 2
	switch {
	case f.PushOnly:
		method = 1
	case f.PullOnly:
		method = 0
	}
	set("/5/0/9", node.Integer(int64(method)))
}

// State returns /5/0/3, /5/0/5 and /3/0/3.
func (f *LwM2MFirmware) State() (state, result int, version string) {
	d := f.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	s, _ := d.values[node.MustPath("/5/0/3")].Int()
	r, _ := d.values[node.MustPath("/5/0/5")].Int()
	v, _ := d.values[node.MustPath("/3/0/3")].Str()
	return int(s), int(r), v
}

// Installed returns the image of the last successful update.
func (f *LwM2MFirmware) Installed() []byte {
	f.dev.mu.Lock()
	defer f.dev.mu.Unlock()
	return f.installed
}

// Executions counts the Update executions the device accepted.
func (f *LwM2MFirmware) Executions() int {
	f.dev.mu.Lock()
	defer f.dev.mu.Unlock()
	return f.execs
}

// set changes State and Result and notifies their observers.
func (f *LwM2MFirmware) set(state, result int) {
	d := f.dev
	d.mu.Lock()
	d.values[node.MustPath("/5/0/3")] = node.Integer(int64(state))
	d.values[node.MustPath("/5/0/5")] = node.Integer(int64(result))
	d.mu.Unlock()
	d.changed(node.MustPath("/5/0/3"))
	d.changed(node.MustPath("/5/0/5"))
}

func (f *LwM2MFirmware) state() int {
	s, _, _ := f.State()
	return s
}

type coapWriter = responsewriter.ResponseWriter[*udpClient.Conn]

// handle serves writes and executes of /5/0/*; false for the rest.
func (f *LwM2MFirmware) handle(w *coapWriter, r *pool.Message, p node.Path, body []byte) bool {
	if p.Len() != 3 || p.ID(0) != 5 || p.ID(1) != 0 {
		return false
	}
	switch p.ID(2) {
	case 0:
		f.push(w, r, body)
	case 1:
		f.writeURI(w, r, body)
	case 2:
		if r.Code() != codes.POST {
			return false
		}
		f.execute(w)
	case 10:
		if r.Code() != codes.POST {
			return false
		}
		f.cancel(w)
	default:
		return false
	}
	return true
}

func (f *LwM2MFirmware) push(w *coapWriter, r *pool.Message, body []byte) {
	if f.PullOnly {
		_ = w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
		return
	}
	v, err := r.GetOptionUint32(message.Block1)
	if err != nil { // the whole package in one message
		if len(body) == 0 || len(body) == 1 && body[0] == 0 {
			f.reset()
			_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
			return
		}
		if f.Fault == LwM2MFaultOutOfStorage && len(body) > f.FreeStorage {
			f.set(fwIdle, 2)
			_ = w.SetResponse(codes.RequestEntityTooLarge, message.TextPlain, nil, message.Option{ID: message.Size1, Value: uintBytes(uint32(f.FreeStorage))})
			return
		}
		f.set(fwDownloading, 0)
		f.finishPush(body)
		_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
		return
	}
	szx, num, more, err := blockwise.DecodeBlockOption(v)
	if err != nil {
		_ = w.SetResponse(codes.BadOption, message.TextPlain, nil)
		return
	}
	time.Sleep(f.Slow)
	if szx.Size() > int64(f.BlockSize) {
		f.dev.mu.Lock()
		f.refusals++
		f.dev.mu.Unlock()
		mine, _ := blockwise.EncodeBlockOption(szxFor(f.BlockSize), 0, false)
		_ = w.SetResponse(codes.RequestEntityTooLarge, message.TextPlain, nil)
		w.Message().SetOptionUint32(message.Block1, mine)
		return
	}
	d := f.dev
	if num == 0 {
		if total, err := r.GetOptionUint32(message.Size1); err == nil && f.Fault == LwM2MFaultOutOfStorage && int(total) > f.FreeStorage {
			f.set(fwIdle, 2)
			_ = w.SetResponse(codes.RequestEntityTooLarge, message.TextPlain, nil, message.Option{ID: message.Size1, Value: uintBytes(uint32(f.FreeStorage))})
			return
		}
		d.mu.Lock()
		f.buf = f.buf[:0]
		d.mu.Unlock()
		f.set(fwDownloading, 0)
	}
	d.mu.Lock()
	inOrder := int64(len(f.buf)) == num*szx.Size()
	if inOrder {
		f.buf = append(f.buf, body...)
	}
	data := f.buf
	d.mu.Unlock()
	if !inOrder {
		_ = w.SetResponse(codes.RequestEntityIncomplete, message.TextPlain, nil)
		return
	}
	if more {
		_ = w.SetResponse(codes.Continue, message.TextPlain, nil)
		w.Message().SetOptionUint32(message.Block1, v)
		return
	}
	f.finishPush(append([]byte(nil), data...))
	// A package failing the check is still answered 2.04: the outcome is
	// in State and Result, as real clients do.
	_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
	w.Message().SetOptionUint32(message.Block1, v)
}

// finishPush is finish for a pushed package, unless the device is one
// that stays Downloading for ever (StuckAfterPush).
func (f *LwM2MFirmware) finishPush(data []byte) {
	if !f.StuckAfterPush {
		f.finish(data)
	}
}

// finish checks a complete package: State 2, or State 0 with a Result.
func (f *LwM2MFirmware) finish(data []byte) {
	switch f.Fault {
	case LwM2MFaultCorrupt:
		data = append([]byte(nil), data...)
		data[len(data)/2] ^= 0xff
		if f.ExpectSHA256 == "" {
			f.set(fwIdle, 5)
			return
		}
	case LwM2MFaultUnsupported:
		f.set(fwIdle, 6)
		return
	}
	if f.ExpectSHA256 != "" {
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.ExpectSHA256 {
			f.set(fwIdle, 5)
			return
		}
	}
	f.dev.mu.Lock()
	f.buf = data
	f.dev.mu.Unlock()
	f.set(fwDownloaded, 0)
}

func (f *LwM2MFirmware) reset() {
	f.dev.mu.Lock()
	f.buf, f.pullGen = nil, f.pullGen+1
	f.dev.mu.Unlock()
	f.set(fwIdle, 0)
}

func (f *LwM2MFirmware) writeURI(w *coapWriter, r *pool.Message, body []byte) {
	if f.PushOnly {
		_ = w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
		return
	}
	cf, _ := r.ContentFormat()
	recs, err := codec.Decode(codec.Format(cf), node.MustPath("/5/0/1"), body)
	if err != nil || len(recs) != 1 {
		_ = w.SetResponse(codes.BadRequest, message.TextPlain, nil)
		return
	}
	uri, _ := recs[0].Value.Str()
	if uri != "" && (f.RefuseURI || f.RefuseURIUnlessIdle && f.state() != fwIdle) {
		_ = w.SetResponse(codes.BadRequest, message.TextPlain, nil)
		return
	}
	d := f.dev
	d.mu.Lock()
	d.values[node.MustPath("/5/0/1")] = node.String(uri)
	d.mu.Unlock()
	_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
	if uri == "" {
		f.reset()
		return
	}
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		f.set(fwIdle, 7)
		return
	}
	proto, known := map[string]int{"coap": 0, "coaps": 1, "http": 2, "https": 3}[u.Scheme]
	if !known || !slices.Contains(f.Protocols, proto) {
		f.set(fwIdle, 9)
		return
	}
	d.mu.Lock()
	f.pullGen++
	gen := f.pullGen
	d.mu.Unlock()
	f.set(fwDownloading, 0)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		data, err := f.download(ctx, u)
		d.mu.Lock()
		current := gen == f.pullGen
		d.mu.Unlock()
		if !current {
			return // cancelled or replaced meanwhile
		}
		switch {
		case errors.Is(err, errGiveUp):
			f.set(fwIdle, 4)
			go f.dev.Kill() // and nothing more from this device
		case errors.Is(err, errOutOfStorage):
			f.set(fwIdle, 2)
		case err != nil:
			d.log().Debug("sim: download failed", "uri", uri, "err", err)
			f.set(fwIdle, 4)
		default:
			f.finish(data)
		}
	}()
}

var (
	errOutOfStorage = errors.New("sim: out of storage")
	errGiveUp       = errors.New("sim: the device gives up on the server")
)

// download fetches a package URI: CoAP(S) Block2 GETs from a new socket,
// or HTTP.
func (f *LwM2MFirmware) download(ctx context.Context, u *url.URL) ([]byte, error) {
	if u.Scheme == "http" || u.Scheme == "https" {
		return f.downloadHTTP(ctx, u)
	}
	cc, err := f.dev.dial(u.Host, u.Scheme == "coaps")
	if err != nil {
		return nil, err
	}
	defer func() { _ = cc.Close() }() // the socket in use at the end
	szx := szxFor(f.BlockSize)
	var data []byte
	dropped := false
	for num := int64(0); ; num++ {
		time.Sleep(f.Slow)
		req, err := cc.NewGetRequest(ctx, u.Path)
		if err != nil {
			return nil, err
		}
		block, _ := blockwise.EncodeBlockOption(szx, num, false)
		req.SetOptionUint32(message.Block2, block)
		f.count(1, 0)
		resp, err := cc.Do(req)
		cc.ReleaseMessage(req)
		if err != nil {
			return nil, err
		}
		if resp.Code() != codes.Content {
			return nil, fmt.Errorf("coap %v", resp.Code())
		}
		total, _ := resp.GetOptionUint32(message.Size2)
		if f.Fault == LwM2MFaultOutOfStorage && int(total) > f.FreeStorage {
			return nil, errOutOfStorage
		}
		b, _ := resp.ReadBody()
		data = append(data, b...)
		if f.Fault == LwM2MFaultConnectionLost && len(data) >= int(total)/2 {
			return nil, errors.New("sim: connection lost")
		}
		if f.Fault == LwM2MFaultGiveUp && len(data) >= int(total)/2 {
			return nil, errGiveUp
		}
		v, err := resp.GetOptionUint32(message.Block2)
		if err != nil {
			return data, nil // the whole file in one answer
		}
		_, _, more, err := blockwise.DecodeBlockOption(v)
		if err != nil {
			return nil, err
		}
		if !more {
			return data, nil
		}
		if len(data) > 64<<20 {
			return nil, errors.New("sim: package too large")
		}
		if f.Fault == LwM2MFaultDropAndResume && !dropped && len(data) >= int(total)/2 {
			// The link drops; back online, the device goes on from a new
			// socket with the next block, keeping what it has.
			dropped = true
			_ = cc.Close()
			if err := sleepCtx(ctx, DropPause); err != nil {
				return nil, err
			}
			again, err := f.dev.dial(u.Host, u.Scheme == "coaps")
			if err != nil {
				return nil, err
			}
			cc = again
			f.count(0, 1)
		}
	}
}

// downloadHTTP fetches an http(s) package URI; a LwM2MFaultDropAndResume
// download breaks half-way and resumes with a Range.
func (f *LwM2MFirmware) downloadHTTP(ctx context.Context, u *url.URL) ([]byte, error) {
	get := func(offset int64) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		want := http.StatusOK
		if offset > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
			want = http.StatusPartialContent
		}
		resp, err := f.HTTP.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != want {
			resp.Body.Close()
			return nil, fmt.Errorf("http %s", resp.Status)
		}
		return resp, nil
	}
	resp, err := get(0)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if f.Fault == LwM2MFaultOutOfStorage && resp.ContentLength > int64(f.FreeStorage) {
		return nil, errOutOfStorage
	}
	switch f.Fault {
	case LwM2MFaultConnectionLost:
		_, _ = io.CopyN(io.Discard, resp.Body, resp.ContentLength/2)
		return nil, errors.New("sim: connection lost")
	case LwM2MFaultDropAndResume:
		if resp.ContentLength < 2 {
			break
		}
		first, err := io.ReadAll(io.LimitReader(resp.Body, resp.ContentLength/2))
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if err := sleepCtx(ctx, DropPause); err != nil {
			return nil, err
		}
		again, err := get(int64(len(first)))
		if err != nil {
			return nil, err
		}
		defer again.Body.Close()
		f.count(0, 1)
		rest, err := io.ReadAll(io.LimitReader(again.Body, 64<<20))
		return append(first, rest...), err
	}
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *LwM2MFirmware) execute(w *coapWriter) {
	if f.state() != fwDownloaded {
		_ = w.SetResponse(codes.BadRequest, message.TextPlain, bytes.NewReader([]byte("not downloaded")))
		return
	}
	d := f.dev
	d.mu.Lock()
	f.execs++
	d.mu.Unlock()
	_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
	f.set(fwUpdating, 0)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		time.Sleep(f.UpdateTime)
		if f.Fault == LwM2MFaultUpdateFailure {
			f.set(fwDownloaded, 8)
			return
		}
		d.mu.Lock()
		f.installed, f.buf = f.buf, nil
		d.values[node.MustPath("/3/0/3")] = node.String(f.NewVersion)
		d.values[node.MustPath("/5/0/3")] = node.Integer(fwIdle)
		d.values[node.MustPath("/5/0/5")] = node.Integer(1)
		closed := d.closed
		d.mu.Unlock()
		if closed {
			return
		}
		// Reboot into the new firmware: new socket, new registration,
		// retried until the server takes it (as clients retry Register).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Reboot(ctx); err != nil {
			d.log().Debug("sim: re-register after update failed", "err", err)
			d.recover()
		}
	}()
}

func (f *LwM2MFirmware) cancel(w *coapWriter) {
	s := f.state()
	if s != fwDownloading && s != fwDownloaded {
		_ = w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
		return
	}
	f.dev.mu.Lock()
	f.buf, f.pullGen = nil, f.pullGen+1
	f.dev.mu.Unlock()
	_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
	f.set(fwIdle, 10)
}

func szxFor(size int) blockwise.SZX {
	for szx := blockwise.SZX16; szx < blockwise.SZX1024; szx++ {
		if szx.Size() >= int64(size) {
			return szx
		}
	}
	return blockwise.SZX1024
}

func uintBytes(v uint32) []byte {
	var b []byte
	for v > 0 {
		b = append([]byte{byte(v)}, b...)
		v >>= 8
	}
	return b
}
