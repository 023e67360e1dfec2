package lwm2m

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// szxOf returns the SZX of a block size (16..1024).
func szxOf(size int) (blockwise.SZX, bool) {
	for szx := blockwise.SZX16; szx <= blockwise.SZX1024; szx++ {
		if szx.Size() == int64(size) {
			return szx, true
		}
	}
	return 0, false
}

func bytesReader(s string) io.ReadSeeker { return bytes.NewReader([]byte(s)) }

var (
	// ErrBlockTooSmall: the device refused even 16-byte blocks.
	ErrBlockTooSmall = errors.New("lwm2m: device refuses the smallest block size")
	// ErrTooLarge: the device answered 4.13 with a Size1 below the
	// payload's size: it cannot take it at any block size.
	ErrTooLarge = errors.New("lwm2m: payload larger than the device takes")
)

// writeBlocks is WriteFrom at a starting block size.
func (s *Server) writeBlocks(ctx context.Context, endpoint string, path node.Path, mode WriteMode, f codec.Format, r io.ReaderAt, size int64, blockSize int, progress func(int64)) error {
	method := codes.PUT
	if mode == Partial {
		method = codes.POST
	}
	op := "write"
	if size <= int64(blockSize) {
		buf := make([]byte, size)
		if _, err := r.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && size > 0) && size > 0 {
			return fmt.Errorf("lwm2m: write %s: read payload: %w", path, err)
		}
		c, err := s.exchange(ctx, endpoint, op, path, func(ctx context.Context, cc *udpClient.Conn, p string) (*pool.Message, error) {
			return newWrite(ctx, cc, method, p, f, buf)
		})
		if err != nil {
			return err
		}
		if c.Code == codes.RequestEntityTooLarge {
			return s.retrySmaller(ctx, endpoint, path, mode, f, r, size, blockSize, c, progress)
		}
		if _, err := expect(c, op, path, codes.Changed); err != nil {
			return err
		}
		if progress != nil {
			progress(size)
		}
		return nil
	}
	szx, ok := szxOf(blockSize)
	if !ok {
		return fmt.Errorf("lwm2m: write %s: block size %d", path, blockSize)
	}
	buf := make([]byte, blockSize)
	for off := int64(0); off < size; {
		bs := szx.Size()
		num := off / bs
		n, err := r.ReadAt(buf[:bs], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("lwm2m: write %s: read payload at %d: %w", path, off, err)
		}
		if n == 0 {
			return fmt.Errorf("lwm2m: write %s: payload ends at %d of %d: %w", path, off, size, io.ErrUnexpectedEOF)
		}
		more := off+int64(n) < size
		block, _ := blockwise.EncodeBlockOption(szx, num, more)
		c, err := s.exchange(ctx, endpoint, op, path, func(ctx context.Context, cc *udpClient.Conn, p string) (*pool.Message, error) {
			req, err := newWrite(ctx, cc, method, p, f, buf[:n])
			if err != nil {
				return nil, err
			}
			req.SetOptionUint32(message.Block1, block)
			req.SetOptionUint32(message.Size1, uint32(size))
			return req, nil
		})
		if err != nil {
			return err
		}
		switch {
		case c.Code == codes.RequestEntityTooLarge:
			return s.retrySmaller(ctx, endpoint, path, mode, f, r, size, int(bs), c, progress)
		case more && c.Code == codes.Continue:
		case !more && (c.Code == codes.Changed || c.Code == codes.Created):
		default:
			return &CodeError{Op: op, Path: path.String(), Code: c.Code}
		}
		off += int64(n)
		if progress != nil {
			progress(off)
		}
		// The device may ask for smaller blocks in its 2.31 (RFC 7959
		// §2.3): continue at that size from the same offset.
		if c.hasBlock1 {
			if dszx, _, _, err := blockwise.DecodeBlockOption(c.block1); err == nil && dszx < szx {
				szx = dszx
			}
		}
	}
	return nil
}

// retrySmaller restarts a refused (4.13) transfer with the block size the
// device named in its Block1 option, or half the size tried.
func (s *Server) retrySmaller(ctx context.Context, endpoint string, path node.Path, mode WriteMode, f codec.Format, r io.ReaderAt, size int64, tried int, c *Content, progress func(int64)) error {
	if c.hasSize1 && int64(c.size1) < size {
		return fmt.Errorf("%w: write %s: %d bytes, the device takes %d", ErrTooLarge, path, size, c.size1)
	}
	next := tried / 2
	if c.hasBlock1 {
		if dszx, _, _, err := blockwise.DecodeBlockOption(c.block1); err == nil && int(dszx.Size()) < tried {
			next = int(dszx.Size())
		}
	}
	if next < 16 {
		return fmt.Errorf("%w: write %s of %d bytes", ErrBlockTooSmall, path, size)
	}
	s.log.Info("write: 4.13, retrying with smaller blocks", "endpoint", endpoint, "path", path, "from", tried, "to", next)
	if progress != nil {
		progress(0)
	}
	return s.writeBlocks(ctx, endpoint, path, mode, f, r, size, next, progress)
}

func newWrite(ctx context.Context, cc *udpClient.Conn, method codes.Code, p string, f codec.Format, b []byte) (*pool.Message, error) {
	if method == codes.POST {
		return cc.NewPostRequest(ctx, p, message.MediaType(f), bytes.NewReader(b))
	}
	return cc.NewPutRequest(ctx, p, message.MediaType(f), bytes.NewReader(b))
}

// fileRequest tells whether r is a GET of a package URI, and its path.
func (s *Server) fileRequest(r *pool.Message) (string, bool) {
	if r.Code() != codes.GET || s.cfg.Files == nil {
		return "", false
	}
	path, err := r.Options().Path()
	if err != nil {
		return "", false
	}
	return path, path == s.cfg.FilesPath || strings.HasPrefix(path, s.cfg.FilesPath+"/")
}

// idempotentReply makes w's response the piggybacked answer to r, as
// go-coap's own request path does, without storing it in go-coap's
// per-connection response cache. That cache keeps every answer for
// EXCHANGE_LIFETIME (247 s) so that a retransmitted request gets the same
// one; for package blocks it held a copy of every block served (a 256 KiB
// image to 5 000 devices: 1.3 GB). A block GET is idempotent, so RFC 7252
// §4.5 lets a duplicate be processed again instead: it is read again.
func idempotentReply(cc *udpClient.Conn, w *responseWriter, r *pool.Message) {
	if !w.Message().IsModified() {
		return
	}
	if r.Type() == message.Confirmable {
		w.Message().SetType(message.Acknowledgement)
		w.Message().SetMessageID(r.MessageID())
		return
	}
	w.Message().SetType(message.NonConfirmable)
	w.Message().SetMessageID(cc.GetMessageID())
}

// serveFile answers a Block2 GET of a package URI: the block the device
// asks for, at the size it asks for (the configured size when it does not
// say), with Size2 so it knows the total.
func (s *Server) serveFile(w *responseWriter, r *pool.Message, path string) {
	szx, _ := szxOf(s.cfg.BlockSize)
	num := int64(0)
	if v, err := r.GetOptionUint32(message.Block2); err == nil {
		dszx, dnum, _, err := blockwise.DecodeBlockOption(v)
		if err != nil || dszx > blockwise.SZX1024 {
			s.reply(w, codes.BadOption, "bad Block2 option")
			return
		}
		if dszx < szx {
			szx = dszx
		}
		num = dnum * dszx.Size() / szx.Size()
	}
	buf := make([]byte, szx.Size())
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	n, size, err := s.cfg.Files.ReadFileAt(ctx, path, buf, num*szx.Size())
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		s.reply(w, codes.NotFound, "")
		return
	case err != nil && !errors.Is(err, io.EOF):
		s.log.Error("serve file", "path", path, "err", err)
		s.reply(w, codes.InternalServerError, "")
		return
	case n == 0 && size > 0:
		s.reply(w, codes.BadRequest, "block beyond the end")
		return
	}
	more := num*szx.Size()+int64(n) < size
	block, _ := blockwise.EncodeBlockOption(szx, num, more)
	if err := w.SetResponse(codes.Content, message.AppOctets, bytes.NewReader(buf[:n])); err != nil {
		s.log.Debug("serve file: set response", "err", err)
		return
	}
	w.Message().SetOptionUint32(message.Block2, block)
	w.Message().SetOptionUint32(message.Size2, uint32(size))
}

// block1Assembler collects the Block1 blocks devices send to the
// registration interface and /dp (RFC 7959 §2.5), bounded in size and
// time.
type block1Assembler struct {
	mu      sync.Mutex
	pending map[block1Key]*block1State
}

type block1Key struct {
	cc   *udpClient.Conn
	path string
}

type block1State struct {
	data    []byte
	updated time.Time
}

func (a *block1Assembler) init() { a.pending = map[block1Key]*block1State{} }

// assemble returns the body of a request, and for the last block of a
// Block1 transfer the option to echo in the final answer. For a block
// that is not the last it answers (2.31, or an error) and returns done.
func (a *block1Assembler) assemble(s *Server, w *responseWriter, r *pool.Message, path string) (body []byte, echo *uint32, done bool) {
	if r.Body() != nil {
		body, _ = r.ReadBody()
	}
	v, err := r.GetOptionUint32(message.Block1)
	if err != nil {
		if len(body) > s.cfg.MaxPayload {
			s.reply(w, codes.RequestEntityTooLarge, "payload too large")
			return nil, nil, true
		}
		return body, nil, false
	}
	szx, num, more, err := blockwise.DecodeBlockOption(v)
	if err != nil || szx > blockwise.SZX1024 || more && int64(len(body)) != szx.Size() {
		s.reply(w, codes.BadOption, "bad Block1 option")
		return nil, nil, true
	}
	key := block1Key{w.Conn(), path}
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.pending[key]
	if num == 0 {
		st = &block1State{}
		a.pending[key] = st
	}
	now := s.cfg.Now()
	if st == nil || int64(len(st.data)) != num*szx.Size() || now.Sub(st.updated) > s.cfg.RequestTimeout && num > 0 {
		delete(a.pending, key)
		s.reply(w, codes.RequestEntityIncomplete, "block out of order")
		return nil, nil, true
	}
	if len(st.data)+len(body) > s.cfg.MaxPayload {
		delete(a.pending, key)
		s.reply(w, codes.RequestEntityTooLarge, "payload too large", message.Option{ID: message.Size1, Value: encodeUint(uint32(s.cfg.MaxPayload))})
		return nil, nil, true
	}
	st.data = append(st.data, body...)
	st.updated = now
	if more {
		s.reply(w, codes.Continue, "", message.Option{ID: message.Block1, Value: encodeUint(v)})
		return nil, nil, true
	}
	delete(a.pending, key)
	return st.data, &v, false
}

// expire drops assemblies idle for longer than the request timeout.
func (a *block1Assembler) expire(now time.Time, idle time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, st := range a.pending {
		if now.Sub(st.updated) > idle {
			delete(a.pending, k)
		}
	}
}
