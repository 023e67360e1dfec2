package lwm2m

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	coapClient "github.com/plgd-dev/go-coap/v3/net/client"

	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// observation is one live Observe on a device.
type observation struct {
	gen uint64
	o   coapClient.Observation
}

// cancelObservation sends the Observe 1 that ends o; the answer carries the
// observation's token, which go-coap forgets first, so the token counts
// as in flight until it comes.
func (s *Server) cancelObservation(ctx context.Context, o observation) error {
	if r, ok := o.o.(interface{ Request() message.Message }); ok {
		key := r.Request().Token.Hash()
		s.inFlight.Store(key, struct{}{})
		defer s.inFlight.Delete(key)
	}
	return o.o.Cancel(ctx)
}

// dropObservation cancels an observation that a new registration made stale, best
// effort and in the background (the device may be gone).
func (s *Server) dropObservation(o observation) {
	if o.o == nil || o.o.Canceled() {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.cancelObservation(ctx, o)
	}()
}

var obsGen atomic.Uint64

// Observe starts observing path; every notification, the first answer
// included, reaches the listeners as an EventNotify. A second Observe of
// the same path replaces the first. Observations end with the
// registration: re-establish them after EventRegistered. The format is
// chosen as Read chooses it: AnyFormat asks in one the device supports,
// and in another once when it refuses that one. A first answer other than
// 2.05 or 2.03 is a *CodeError.
func (s *Server) Observe(ctx context.Context, endpoint string, path node.Path, accept codec.Format) error {
	if accept != AnyFormat {
		return s.observe(ctx, endpoint, path, accept)
	}
	reg, _ := s.Registration(endpoint)
	fs := readFormats(reg, path)
	err := s.observe(ctx, endpoint, path, fs[0])
	if formatRefused(err) && len(fs) > 1 {
		s.log.Debug("observe: format refused, asking in another", "endpoint", endpoint, "path", path.String(), "format", fs[0], "retry", fs[1], "err", err)
		err = s.observe(ctx, endpoint, path, fs[1])
	}
	return err
}

// observe is one Observe asking in accept (AnyFormat: no Accept option).
func (s *Server) observe(ctx context.Context, endpoint string, path node.Path, accept codec.Format) error {
	c, cc, root, err := s.reachable(ctx, endpoint)
	if err != nil {
		return err
	}
	gen := obsGen.Add(1)
	key := path.String()
	// refused hears the code of a first answer that is an error: go-coap
	// hands it to notify right after Observe returns its error, which
	// does not name the code.
	refused := make(chan codes.Code, 1)
	notify := func(m *pool.Message) {
		code := m.Code()
		if code != codes.Content && code != codes.Valid {
			if code >= codes.BadRequest {
				select {
				case refused <- code:
				default:
				}
			}
			return
		}
		ct, err := contentOf(m)
		if err != nil {
			return
		}
		s.mu.Lock()
		cur, ok := c.obs[key]
		s.mu.Unlock()
		// The first answer arrives before Observe stores the observation.
		if ok && cur.gen != gen {
			return
		}
		recs, err := ct.Records(path)
		if err != nil {
			s.log.Warn("notify: undecodable", "endpoint", endpoint, "path", key, "format", ct.Format, "err", err)
		}
		s.emit(c, Event{Kind: EventNotify, Path: path, Records: recs, Format: ct.Format, Payload: ct.Payload})
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	var opts []message.Option
	if accept != AnyFormat {
		opts = append(opts, message.Option{ID: message.Accept, Value: encodeUint(uint32(accept))})
	}
	o, err := cc.Observe(rctx, root+key, notify, opts...)
	s.stats.observed(err)
	if err != nil {
		if rctx.Err() == nil && cc.Context().Err() == nil {
			select {
			case code := <-refused:
				return &CodeError{Op: "observe", Path: key, Code: code}
			case <-time.After(time.Second):
			}
		}
		return fmt.Errorf("lwm2m: observe %s on %s: %w", key, endpoint, err)
	}
	s.mu.Lock()
	old, had := c.obs[key]
	if c.conn != cc {
		// Re-registered meanwhile: this observation is already stale.
		s.mu.Unlock()
		s.dropObservation(observation{o: o})
		return fmt.Errorf("lwm2m: observe %s on %s: the device re-registered", key, endpoint)
	}
	if c.obs == nil {
		c.obs = map[string]observation{}
	}
	c.obs[key] = observation{gen: gen, o: o}
	s.mu.Unlock()
	if had {
		s.dropObservation(old)
	}
	return nil
}

// CancelObserve ends the observation of path (Observe 1 to the device).
func (s *Server) CancelObserve(ctx context.Context, endpoint string, path node.Path) error {
	c, err := s.lookup(endpoint)
	if err != nil {
		return err
	}
	s.mu.Lock()
	o, ok := c.obs[path.String()]
	delete(c.obs, path.String())
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("lwm2m: %s is not observing %s", endpoint, path)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if err := s.cancelObservation(ctx, o); err != nil {
		return fmt.Errorf("lwm2m: cancel observe %s on %s: %w", path, endpoint, err)
	}
	return nil
}

// Observing lists the paths observed on an endpoint.
func (s *Server) Observing(endpoint string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byEndpoint[endpoint]
	if c == nil {
		return nil
	}
	var out []string
	for k := range c.obs {
		out = append(out, k)
	}
	return out
}

// encodeUint encodes a CoAP uint option value (minimal length).
func encodeUint(v uint32) []byte {
	switch {
	case v == 0:
		return nil
	case v < 1<<8:
		return []byte{byte(v)}
	case v < 1<<16:
		return []byte{byte(v >> 8), byte(v)}
	case v < 1<<24:
		return []byte{byte(v >> 16), byte(v >> 8), byte(v)}
	}
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
