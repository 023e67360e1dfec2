package lwm2m

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/link"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// Content is a device's answer with a payload.
type Content struct {
	Code    codes.Code
	Format  codec.Format // AnyFormat when the answer has none
	Payload []byte

	block2, block1       uint32
	hasBlock2, hasBlock1 bool
	size1                uint32 // 4.13: the largest body the device takes
	hasSize1             bool
}

// Records decodes the payload read at path (values typed with the models
// where known).
func (c *Content) Records(path node.Path) ([]node.Record, error) {
	recs, err := codec.Decode(c.Format, path, c.Payload)
	if err != nil {
		return nil, err
	}
	return node.Typed(recs)
}

// maxReadSize bounds a Read answer assembled from Block2.
const maxReadSize = 4 << 20

// reachable waits until the endpoint can be sent to: registered, with a
// connection, and awake when it is in queue mode. It returns the
// connection and the path prefix the device declared.
func (s *Server) reachable(ctx context.Context, endpoint string) (*client, *udpClient.Conn, string, error) {
	for {
		c, err := s.lookup(endpoint)
		if err != nil {
			return nil, nil, "", err
		}
		s.mu.Lock()
		if c.conn == nil && !c.reg.Secure && s.udp != nil {
			addr, err := net.ResolveUDPAddr("udp", c.reg.Address)
			if err == nil {
				var cc *udpClient.Conn
				if cc, err = s.udp.NewConn(addr); err == nil {
					s.moveConnLocked(c, cc)
				}
			}
			if err != nil {
				// Right after Start the listener may not be serving yet.
				s.mu.Unlock()
				s.log.Debug("no connection to a restored registration yet", "endpoint", endpoint, "addr", c.reg.Address, "err", err)
				select {
				case <-time.After(20 * time.Millisecond):
					continue
				case <-ctx.Done():
					return nil, nil, "", fmt.Errorf("%w: %s: %w", ErrUnreachable, endpoint, ctx.Err())
				}
			}
		}
		cc, root, wake := c.conn, c.reg.Root, c.wake
		asleep := cc == nil || c.reg.Queue && s.cfg.Now().After(c.awakeUntil)
		s.mu.Unlock()
		if !asleep {
			return c, cc, root, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			if cc == nil {
				return nil, nil, "", fmt.Errorf("%w: %s: %w", ErrUnreachable, endpoint, ctx.Err())
			}
			return nil, nil, "", fmt.Errorf("lwm2m: %s asleep (queue mode): %w", endpoint, ctx.Err())
		case <-s.ctx.Done():
			return nil, nil, "", ErrClosed
		}
	}
}

// exchange sends one request built by mk on the device's connection and
// returns its answer with the payload copied out.
//
// A device that registers again while the request is in flight (its
// socket died: a server restart, a NAT rebinding) gets a new connection,
// and the old one closes under the request: an idempotent request (GET,
// PUT, DELETE: RFC 7252 §5.1) is sent once more on the new one.
func (s *Server) exchange(ctx context.Context, endpoint, op string, path node.Path, mk func(ctx context.Context, cc *udpClient.Conn, p string) (*pool.Message, error)) (*Content, error) {
	for attempt := 1; ; attempt++ {
		c, cc, root, err := s.reachable(ctx, endpoint)
		if err != nil {
			return nil, err
		}
		content, method, err := s.exchangeOn(ctx, cc, root, op, path, mk)
		if err == nil {
			return content, nil
		}
		idempotent := method == codes.GET || method == codes.PUT || method == codes.DELETE
		if attempt == 1 && idempotent && ctx.Err() == nil && s.connReplaced(endpoint, c, cc) {
			s.log.Debug("request: the device's connection was replaced; sending again", "endpoint", endpoint, "op", op, "path", path.String(), "err", err)
			continue
		}
		return nil, fmt.Errorf("lwm2m: %s %s on %s: %w", op, path, endpoint, err)
	}
}

// exchangeOn sends one request on cc.
func (s *Server) exchangeOn(ctx context.Context, cc *udpClient.Conn, root, op string, path node.Path, mk func(ctx context.Context, cc *udpClient.Conn, p string) (*pool.Message, error)) (*Content, codes.Code, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	req, err := mk(ctx, cc, root+path.String())
	if err != nil {
		return nil, 0, err
	}
	defer cc.ReleaseMessage(req)
	method := req.Code()
	key := req.Token().Hash()
	s.inFlight.Store(key, struct{}{})
	resp, err := cc.Do(req)
	s.inFlight.Delete(key)
	s.stats.sent(resp, err)
	if err != nil {
		return nil, method, err
	}
	c, err := contentOf(resp)
	return c, method, err
}

// connReplaced reports whether the device's connection is no longer cc
// (it registered again, or moved), or its registration is another client.
func (s *Server) connReplaced(endpoint string, c *client, cc *udpClient.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.byEndpoint[endpoint]
	return cur != nil && (cur != c || cur.conn != cc)
}

func contentOf(resp *pool.Message) (*Content, error) {
	c := &Content{Code: resp.Code(), Format: AnyFormat}
	if cf, err := resp.ContentFormat(); err == nil {
		c.Format = codec.Format(cf)
	}
	if v, err := resp.GetOptionUint32(message.Block2); err == nil {
		c.block2, c.hasBlock2 = v, true
	}
	if v, err := resp.GetOptionUint32(message.Block1); err == nil {
		c.block1, c.hasBlock1 = v, true
	}
	if v, err := resp.GetOptionUint32(message.Size1); err == nil {
		c.size1, c.hasSize1 = v, true
	}
	if resp.Body() != nil {
		b, err := resp.ReadBody()
		if err != nil {
			return nil, err
		}
		c.Payload = b
	}
	return c, nil
}

func expect(c *Content, op string, path node.Path, ok ...codes.Code) (*Content, error) {
	for _, code := range ok {
		if c.Code == code {
			return c, nil
		}
	}
	return nil, &CodeError{Op: op, Path: path.String(), Code: c.Code}
}

// AnyFormat in a Read or Observe leaves the content format to the device:
// it is asked in one it supports (see readFormats). It also marks an
// answer without a format.
const AnyFormat codec.Format = 0xFFFF

// Read reads path; accept asks for a content format. With AnyFormat the
// device is asked in a format it supports (the ct= of its registration,
// else one its LwM2M version makes mandatory), and once more in another
// when it refuses that one (4.06, 4.15 or 5.00); an explicit format is
// asked as it is, once. A Block2 answer is fetched to the end (up to
// 4 MiB).
func (s *Server) Read(ctx context.Context, endpoint string, path node.Path, accept codec.Format) (*Content, error) {
	if accept != AnyFormat {
		return s.read(ctx, endpoint, path, accept)
	}
	reg, _ := s.Registration(endpoint)
	fs := readFormats(reg, path)
	c, err := s.read(ctx, endpoint, path, fs[0])
	if formatRefused(err) && len(fs) > 1 {
		s.log.Debug("read: format refused, asking in another", "endpoint", endpoint, "path", path.String(), "format", fs[0], "retry", fs[1], "err", err)
		c, err = s.read(ctx, endpoint, path, fs[1])
	}
	return c, err
}

// read is one Read asking in accept (AnyFormat: no Accept option).
func (s *Server) read(ctx context.Context, endpoint string, path node.Path, accept codec.Format) (*Content, error) {
	get := func(num int64, szx blockwise.SZX) (*Content, error) {
		c, err := s.exchange(ctx, endpoint, "read", path, func(ctx context.Context, cc *udpClient.Conn, p string) (*pool.Message, error) {
			req, err := cc.NewGetRequest(ctx, p)
			if err != nil {
				return nil, err
			}
			if accept != AnyFormat {
				req.SetAccept(message.MediaType(accept))
			}
			if num > 0 {
				v, _ := blockwise.EncodeBlockOption(szx, num, false)
				req.SetOptionUint32(message.Block2, v)
			}
			return req, nil
		})
		if err != nil {
			return nil, err
		}
		return expect(c, "read", path, codes.Content)
	}
	c, err := get(0, 0)
	if err != nil || !c.hasBlock2 {
		return c, err
	}
	for {
		szx, num, more, err := blockwise.DecodeBlockOption(c.block2)
		if err != nil {
			return nil, fmt.Errorf("lwm2m: read %s: bad Block2: %w", path, err)
		}
		if !more {
			return c, nil
		}
		if int64(len(c.Payload)) != (num+1)*szx.Size() || len(c.Payload) > maxReadSize {
			return nil, fmt.Errorf("lwm2m: read %s: Block2 answer out of order or over %d bytes", path, maxReadSize)
		}
		next, err := get(num+1, szx)
		if err != nil {
			return nil, err
		}
		if !next.hasBlock2 {
			return nil, fmt.Errorf("lwm2m: read %s: block %d came without Block2", path, num+1)
		}
		c.Payload = append(c.Payload, next.Payload...)
		c.block2 = next.block2
	}
}

// Discover returns the links the device lists under path.
func (s *Server) Discover(ctx context.Context, endpoint string, path node.Path) ([]link.Link, error) {
	c, err := s.exchange(ctx, endpoint, "discover", path, func(ctx context.Context, cc *udpClient.Conn, p string) (*pool.Message, error) {
		req, err := cc.NewGetRequest(ctx, p)
		if err == nil {
			req.SetAccept(message.AppLinkFormat)
		}
		return req, err
	})
	if err != nil {
		return nil, err
	}
	if _, err := expect(c, "discover", path, codes.Content); err != nil {
		return nil, err
	}
	return link.Parse(c.Payload)
}

// WriteMode is a Write's CoAP method: Replace (PUT) or Partial (POST).
type WriteMode int

const (
	Replace WriteMode = iota
	Partial
)

// Write writes a payload in a format at path. Payloads larger than the
// block size go with Block1 (see WriteFrom).
func (s *Server) Write(ctx context.Context, endpoint string, path node.Path, mode WriteMode, f codec.Format, payload []byte) error {
	return s.WriteFrom(ctx, endpoint, path, mode, f, bytes.NewReader(payload), int64(len(payload)), nil)
}

// WriteRecords encodes records in a format the device reads: text/plain
// or opaque for a single resource, otherwise the device's preferred
// format (TLV for 1.0 devices, SenML CBOR for 1.1 and later).
func (s *Server) WriteRecords(ctx context.Context, endpoint string, path node.Path, mode WriteMode, recs []node.Record) error {
	f := codec.FormatTLV
	if reg, ok := s.Registration(endpoint); ok && reg.Version != "1.0" {
		f = codec.FormatSenMLCBOR
		if reg.ContentFormat == int(codec.FormatSenMLJSON) || reg.ContentFormat == int(codec.FormatTLV) {
			f = codec.Format(reg.ContentFormat)
		}
	}
	if len(recs) == 1 && recs[0].Path == path && path.Len() >= 3 {
		f = codec.FormatText
		if recs[0].Value.Type() == node.TypeOpaque {
			f = codec.FormatOpaque
		}
	}
	b, err := codec.Encode(f, path, recs)
	if err != nil {
		return fmt.Errorf("lwm2m: write %s: %w", path, err)
	}
	return s.Write(ctx, endpoint, path, mode, f, b)
}

// WriteFrom writes size bytes read from r. Up to the block size it is one
// request; beyond, Block1 blocks of the configured size (or blockSize when
// it is not 0), each read from r when it is sent. A 4.13 answer restarts
// the transfer with the block size the device names (or half), down to
// 16 bytes; a 2.31 naming a smaller size continues at that size.
// progress, when not nil, hears the bytes acknowledged so far.
func (s *Server) WriteFrom(ctx context.Context, endpoint string, path node.Path, mode WriteMode, f codec.Format, r io.ReaderAt, size int64, progress func(done int64)) error {
	return s.writeBlocks(ctx, endpoint, path, mode, f, r, size, s.cfg.BlockSize, progress)
}

// Execute executes path with optional arguments.
func (s *Server) Execute(ctx context.Context, endpoint string, path node.Path, args string) error {
	c, err := s.exchange(ctx, endpoint, "execute", path, func(ctx context.Context, cc *udpClient.Conn, p string) (*pool.Message, error) {
		if args == "" {
			return cc.NewPostRequest(ctx, p, message.TextPlain, nil)
		}
		return cc.NewPostRequest(ctx, p, message.TextPlain, bytes.NewReader([]byte(args)))
	})
	if err != nil {
		return err
	}
	_, err = expect(c, "execute", path, codes.Changed)
	return err
}

// Attributes are Write-Attributes parameters; nil fields are not sent.
type Attributes struct {
	MinPeriod, MaxPeriod  *int     // pmin, pmax (seconds)
	GreaterThan, LessThan *float64 // gt, lt
	Step                  *float64 // st
}

func (a Attributes) queries() []string {
	var q []string
	if a.MinPeriod != nil {
		q = append(q, "pmin="+strconv.Itoa(*a.MinPeriod))
	}
	if a.MaxPeriod != nil {
		q = append(q, "pmax="+strconv.Itoa(*a.MaxPeriod))
	}
	for _, f := range []struct {
		n string
		v *float64
	}{{"gt", a.GreaterThan}, {"lt", a.LessThan}, {"st", a.Step}} {
		if f.v != nil {
			q = append(q, f.n+"="+strconv.FormatFloat(*f.v, 'g', -1, 64))
		}
	}
	return q
}

// WriteAttributes sets notification attributes on path.
func (s *Server) WriteAttributes(ctx context.Context, endpoint string, path node.Path, a Attributes) error {
	c, err := s.exchange(ctx, endpoint, "write-attributes", path, func(ctx context.Context, cc *udpClient.Conn, p string) (*pool.Message, error) {
		req, err := cc.NewPutRequest(ctx, p, message.TextPlain, nil)
		if err != nil {
			return nil, err
		}
		for _, q := range a.queries() {
			req.AddQuery(q)
		}
		return req, nil
	})
	if err != nil {
		return err
	}
	_, err = expect(c, "write-attributes", path, codes.Changed)
	return err
}

// Ping checks the device answers (a CoAP ping on its connection).
func (s *Server) Ping(ctx context.Context, endpoint string) error {
	_, cc, _, err := s.reachable(ctx, endpoint)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return cc.Ping(ctx)
}
