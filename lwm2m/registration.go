package lwm2m

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/options/config"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m/link"
)

// regParams is a Register or Update query.
type regParams struct {
	endpoint  string
	lifetime  time.Duration
	hasLT     bool
	version   string
	binding   string
	hasB      bool
	queue     bool // the 1.1+ "Q" parameter
	sms       string
	hasSMS    bool
	unknown   map[string]string
	malformed string
}

// parseRegQuery reads the registration interface's query parameters.
func (s *Server) parseRegQuery(r *pool.Message) regParams {
	var p regParams
	qs, _ := r.Queries()
	for _, q := range qs {
		name, value, hasValue := strings.Cut(q, "=")
		switch name {
		case "ep":
			p.endpoint = value
		case "lt":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n <= 0 || time.Duration(n)*time.Second < s.cfg.MinLifetime || time.Duration(n)*time.Second > s.cfg.MaxLifetime {
				p.malformed = fmt.Sprintf("lifetime %q outside %v..%v", value, s.cfg.MinLifetime, s.cfg.MaxLifetime)
			}
			p.lifetime, p.hasLT = time.Duration(n)*time.Second, true
		case "lwm2m":
			p.version = value
		case "b":
			p.binding, p.hasB = value, true
			if value == "" || strings.Trim(value, "UTSNQ") != "" {
				p.malformed = fmt.Sprintf("binding %q", value)
			}
		case "Q":
			if hasValue {
				p.malformed = "Q takes no value"
			}
			p.queue = true
		case "sms":
			p.sms, p.hasSMS = value, true
		default:
			if p.unknown == nil {
				p.unknown = map[string]string{}
			}
			p.unknown[name] = value
		}
	}
	return p
}

var supportedVersions = map[string]bool{"1.0": true, "1.1": true, "1.2": true}

// register handles POST /rd.
func (s *Server) register(w *responseWriter, r *pool.Message, body []byte) {
	p := s.parseRegQuery(r)
	switch {
	case p.malformed != "":
		s.reply(w, codes.BadRequest, "register: "+p.malformed)
		return
	case p.endpoint == "":
		s.reply(w, codes.BadRequest, "register: no ep")
		return
	}
	if p.version == "" {
		p.version = "1.0"
	}
	if !supportedVersions[p.version] {
		s.reply(w, codes.PreconditionFailed, "register: lwm2m version "+p.version+" not supported")
		return
	}
	if !p.hasLT {
		p.lifetime = s.cfg.DefaultLifetime
	}
	if !p.hasB {
		p.binding = "U"
	}
	objs, ok := s.parseObjects(w, r, body, "register")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	cc := w.Conn()
	d, identity, ok := s.authorize(ctx, w, cc, p.endpoint)
	if !ok {
		return
	}
	now := s.cfg.Now().UTC()
	reg := fleet.Registration{
		ID: newRegID(), Address: cc.RemoteAddr().String(), Lifetime: int(p.lifetime / time.Second),
		Binding: p.binding, Version: p.version, Queue: p.queue || strings.Contains(p.binding, "Q"),
		Secure: identity != "", Params: p.unknown, Registered: now, Updated: now,
	}
	if p.hasSMS {
		reg.Params = withParam(reg.Params, "sms", p.sms)
	}
	applyObjects(&reg, objs)
	if err := s.cfg.Store.SetRegistration(ctx, d.ID, &reg); err != nil {
		s.log.Error("register: store", "endpoint", p.endpoint, "err", err)
		s.reply(w, codes.InternalServerError, "register: not stored")
		return
	}
	c, stale := s.install(d, identity, reg, cc)
	for _, o := range stale {
		s.dropObservation(o)
	}
	s.reply(w, codes.Created, "", message.Option{ID: message.LocationPath, Value: []byte("rd")},
		message.Option{ID: message.LocationPath, Value: []byte(reg.ID)})
	s.stats.registers.Add(1)
	s.log.Info("registered", "endpoint", p.endpoint, "id", reg.ID, "addr", reg.Address, "lifetime", reg.Lifetime, "queue", reg.Queue, "secure", reg.Secure)
	afterResponse(r, func() {
		s.emit(c, Event{Kind: EventRegistered})
		s.queueInventory(c) // install made it due
	})
}

// authorize finds the endpoint's device and checks the transport: a device
// with a PSK must come over DTLS with its own identity; a device without
// one may not use another's DTLS session either.
func (s *Server) authorize(ctx context.Context, w *responseWriter, cc *udpClient.Conn, endpoint string) (fleet.Device, string, bool) {
	d, err := s.cfg.Store.DeviceByEndpoint(ctx, endpoint)
	if errors.Is(err, fleet.ErrNotFound) || err == nil && d.LwM2M == nil {
		s.log.Warn("register: unknown endpoint", "endpoint", endpoint, "addr", cc.RemoteAddr())
		s.reply(w, codes.Forbidden, "unknown endpoint")
		return d, "", false
	}
	if err != nil {
		s.log.Error("register: store", "endpoint", endpoint, "err", err)
		s.reply(w, codes.InternalServerError, "")
		return d, "", false
	}
	identity, secure := identityOf(cc)
	switch {
	case secure && identity != d.LwM2M.PSKIdentity:
		s.log.Warn("register: endpoint of another psk identity", "endpoint", endpoint, "identity", identity)
		s.reply(w, codes.Forbidden, "endpoint does not belong to this identity")
		return d, "", false
	case !secure && d.LwM2M.PSKIdentity != "":
		s.log.Warn("register: psk device over plain udp", "endpoint", endpoint, "addr", cc.RemoteAddr())
		s.reply(w, codes.Forbidden, "this endpoint must use DTLS")
		return d, "", false
	}
	return d, identity, true
}

// parseObjects reads a registration payload (link format).
func (s *Server) parseObjects(w *responseWriter, r *pool.Message, body []byte, op string) (*link.Objects, bool) {
	if len(body) == 0 {
		return nil, true
	}
	if cf, err := r.ContentFormat(); err == nil && cf != message.AppLinkFormat {
		s.reply(w, codes.UnsupportedMediaType, op+": payload must be link format (40)")
		return nil, false
	}
	objs, err := link.ParseObjects(body)
	if err != nil {
		s.reply(w, codes.BadRequest, op+": "+err.Error())
		return nil, false
	}
	return &objs, true
}

func applyObjects(reg *fleet.Registration, objs *link.Objects) {
	if objs == nil {
		return
	}
	reg.Root, reg.Objects, reg.Versions = objs.Root, objs.Instances, nil
	reg.ContentFormat = 0
	if objs.ContentFormat >= 0 {
		reg.ContentFormat = objs.ContentFormat
	}
	for id, v := range objs.Versions {
		if reg.Versions == nil {
			reg.Versions = map[string]string{}
		}
		reg.Versions[strconv.Itoa(int(id))] = v
	}
}

func withParam(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// install makes reg the endpoint's registration on cc, replacing an
// earlier one; it returns the observations that died with the old one.
func (s *Server) install(d fleet.Device, identity string, reg fleet.Registration, cc *udpClient.Conn) (*client, []observation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byEndpoint[d.LwM2M.Endpoint]
	var stale []observation
	if c == nil {
		c = &client{endpoint: d.LwM2M.Endpoint, wake: make(chan struct{})}
		s.byEndpoint[c.endpoint] = c
	} else {
		delete(s.byRegID, c.reg.ID)
		for _, o := range c.obs {
			stale = append(stale, o)
		}
		if c.conn != nil && c.conn != cc {
			delete(s.byConn, c.conn)
			old := c.conn
			go old.Close() // the device rebooted or moved; its old session is dead
		}
	}
	c.deviceID, c.identity, c.reg, c.obs = d.ID, identity, reg, nil
	c.inv.due = true // a new Register: the device may have new firmware
	s.byRegID[reg.ID] = c
	s.moveConnLocked(c, cc)
	s.wakeLocked(c)
	return c, stale
}

func (s *Server) moveConnLocked(c *client, cc *udpClient.Conn) {
	if c.conn == cc {
		return
	}
	if c.conn != nil && s.byConn[c.conn] == c {
		delete(s.byConn, c.conn)
	}
	c.conn = cc
	if cc != nil {
		s.byConn[cc] = c
		// A connection that dies (closed by an error) is forgotten, so
		// that the next operation opens a new one (UDP) or waits for the
		// device (DTLS).
		cc.AddOnClose(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if c.conn == cc {
				s.moveConnLocked(c, nil)
			}
		})
	}
}

// clientForRequest finds the registration an Update or De-register names
// and checks the request comes over the same kind of transport with the
// same identity.
func (s *Server) clientForRequest(w *responseWriter, id, op string) *client {
	s.mu.Lock()
	c := s.byRegID[id]
	s.mu.Unlock()
	if c == nil {
		s.reply(w, codes.NotFound, op+": unknown registration")
		return nil
	}
	identity, secure := identityOf(w.Conn())
	s.mu.Lock()
	defer s.mu.Unlock()
	if secure != c.reg.Secure || identity != c.identity {
		s.log.Warn(op+": registration of another identity", "endpoint", c.endpoint, "addr", w.Conn().RemoteAddr())
		s.reply(w, codes.Forbidden, op+": registration belongs to another identity")
		return nil
	}
	return c
}

// update handles POST /rd/{id}.
func (s *Server) update(w *responseWriter, r *pool.Message, id string, body []byte) {
	c := s.clientForRequest(w, id, "update")
	if c == nil {
		return
	}
	p := s.parseRegQuery(r)
	if p.malformed != "" {
		s.reply(w, codes.BadRequest, "update: "+p.malformed)
		return
	}
	objs, ok := s.parseObjects(w, r, body, "update")
	if !ok {
		return
	}
	cc := w.Conn()
	s.mu.Lock()
	reg := c.reg
	s.mu.Unlock()
	if reg.ID != id {
		s.reply(w, codes.NotFound, "update: registration replaced")
		return
	}
	if p.hasLT {
		reg.Lifetime = int(p.lifetime / time.Second)
	}
	if p.hasB {
		reg.Binding = p.binding
		reg.Queue = p.queue || strings.Contains(p.binding, "Q")
	} else if p.queue {
		reg.Queue = true
	}
	if p.hasSMS {
		reg.Params = withParam(reg.Params, "sms", p.sms)
	}
	applyObjects(&reg, objs)
	reg.Address = cc.RemoteAddr().String()
	reg.Updated = s.cfg.Now().UTC()
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if err := s.cfg.Store.SetRegistration(ctx, c.deviceID, &reg); err != nil {
		s.log.Error("update: store", "endpoint", c.endpoint, "err", err)
		s.reply(w, codes.InternalServerError, "update: not stored")
		return
	}
	s.mu.Lock()
	if c.reg.ID == id {
		c.reg = reg
		s.moveConnLocked(c, cc) // NAT rebinding: downlink follows the Update
		s.wakeLocked(c)
	}
	s.mu.Unlock()
	s.reply(w, codes.Changed, "")
	s.stats.updates.Add(1)
	afterResponse(r, func() {
		s.emit(c, Event{Kind: EventUpdated})
		s.queueInventory(c) // a read left for the device's waking
	})
}

// deregister handles DELETE /rd/{id}.
func (s *Server) deregister(w *responseWriter, r *pool.Message, id string) {
	c := s.clientForRequest(w, id, "deregister")
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if err := s.cfg.Store.SetRegistration(ctx, c.deviceID, nil); err != nil {
		s.log.Error("deregister: store", "endpoint", c.endpoint, "err", err)
		s.reply(w, codes.InternalServerError, "")
		return
	}
	s.reply(w, codes.Deleted, "")
	s.stats.deregistrations.Add(1)
	s.log.Info("deregistered", "endpoint", c.endpoint, "id", id)
	afterResponse(r, func() { s.drop(c, id, EventDeregistered) })
}

// drop forgets a registration (if it is still the client's current one)
// and tells the listeners.
func (s *Server) drop(c *client, id string, kind EventKind) {
	s.mu.Lock()
	if c.reg.ID != id || s.byEndpoint[c.endpoint] != c {
		s.mu.Unlock()
		return
	}
	delete(s.byEndpoint, c.endpoint)
	delete(s.byRegID, id)
	conn := c.conn
	s.moveConnLocked(c, nil)
	obs := c.obs
	c.obs = nil
	s.mu.Unlock()
	for _, o := range obs {
		s.dropObservation(o)
	}
	s.emit(c, Event{Kind: kind})
	if conn != nil {
		_ = conn.Close()
	}
}

// reaper expires registrations whose lifetime (plus grace) ran out.
func (s *Server) reaper() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		now := s.cfg.Now()
		s.blocks.expire(now, s.cfg.RequestTimeout)
		type exp struct {
			c  *client
			id string
		}
		var due []exp
		s.mu.Lock()
		for _, c := range s.byEndpoint {
			if now.After(c.reg.Expires().Add(s.cfg.ExpiryGrace)) {
				due = append(due, exp{c, c.reg.ID})
			}
		}
		s.mu.Unlock()
		for _, e := range due {
			ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			err := s.cfg.Store.SetRegistration(ctx, e.c.deviceID, nil)
			cancel()
			if err != nil && !errors.Is(err, fleet.ErrNotFound) {
				s.log.Error("expiry: store", "endpoint", e.c.endpoint, "err", err)
				s.stats.errors.Add(1)
				continue
			}
			s.log.Info("registration expired", "endpoint", e.c.endpoint, "id", e.id)
			s.stats.expirations.Add(1)
			s.drop(e.c, e.id, EventExpired)
		}
	}
}

// restore loads the stored registrations at start. A UDP device gets a
// connection to its last address at once; a DTLS device waits for its
// next message (a server cannot open a DTLS session towards a client).
func (s *Server) restore(ctx context.Context) error {
	devs, err := s.cfg.Store.RegisteredDevices(ctx)
	if err != nil {
		return fmt.Errorf("lwm2m: restore registrations: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range devs {
		reg := *d.LwM2M.Registration
		c := &client{endpoint: d.LwM2M.Endpoint, deviceID: d.ID, reg: reg, wake: make(chan struct{})}
		if reg.Secure {
			c.identity = d.LwM2M.PSKIdentity
		}
		s.byEndpoint[c.endpoint] = c
		s.byRegID[reg.ID] = c
	}
	return nil
}

var regIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRegID returns a random registration id (80 bits).
func newRegID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return regIDEncoding.EncodeToString(b)
}

type afterKey struct{}

// afterResponse runs fn once the response to r has been handed to the
// connection (so that downlink requests a listener sends follow it), or
// at once when r did not come through processReceived.
func afterResponse(r *pool.Message, fn func()) {
	if l, ok := r.Context().Value(afterKey{}).(*[]func()); ok {
		*l = append(*l, fn)
		return
	}
	fn()
}

// processReceived wraps go-coap's request processing: it rejects
// responses that answer nothing this server asked, and runs the actions
// handlers left for after their response.
func (s *Server) processReceived(req *pool.Message, cc *udpClient.Conn, handler config.HandlerFunc[*udpClient.Conn]) {
	if s.unsolicited(req, cc) {
		cc.ReleaseMessage(req)
		return
	}
	if path, ok := s.fileRequest(req); ok {
		cc.ProcessReceivedMessageWithHandler(req, func(w *responseWriter, r *pool.Message) {
			s.serveFile(w, r, path)
			idempotentReply(cc, w, r)
		})
		return
	}
	var after []func()
	req.SetContext(context.WithValue(req.Context(), afterKey{}, &after))
	cc.ProcessReceivedMessageWithHandler(req, handler)
	for _, fn := range after {
		fn()
	}
}

// unsolicited tells whether m is a response (or an empty message) whose
// token matches no request in flight and no observation, and rejects it
// as RFC 7252 §4.2/§4.3 and RFC 7641 §3.6 say: a Reset for a Confirmable
// or Non-confirmable one (a device stops notifying an observation the
// server no longer has), nothing for an Acknowledgement or a Reset.
// Such messages are normal after a restart: a late answer to the previous
// process's request, a notification for its observation. go-coap would
// otherwise hand them to the request handler, whose answer to an
// Acknowledgement goes out as a new Confirmable message; a peer that does
// the same answers it again, and the two loop for ever.
func (s *Server) unsolicited(m *pool.Message, cc *udpClient.Conn) bool {
	if isRequestCode(m.Code()) {
		return false
	}
	if m.Code() != codes.Empty {
		if _, ok := s.inFlight.Load(m.Token().Hash()); ok {
			return false
		}
		if o, ok := cc.GetObservationRequest(m.Token()); ok {
			cc.ReleaseMessage(o)
			return false
		}
	}
	s.log.Debug("coap: unsolicited message rejected", "addr", cc.RemoteAddr().String(), "type", m.Type(), "code", m.Code(), "mid", m.MessageID(), "token", m.Token().String())
	s.stats.unsolicited.Add(1)
	s.noteUnsolicited(cc, m)
	if m.Type() == message.Confirmable || m.Type() == message.NonConfirmable {
		rst := cc.AcquireMessage(cc.Context())
		defer cc.ReleaseMessage(rst)
		rst.SetType(message.Reset)
		rst.SetCode(codes.Empty)
		rst.SetMessageID(m.MessageID())
		if err := cc.Session().WriteMessage(rst); err != nil {
			s.log.Debug("coap: reset", "addr", cc.RemoteAddr().String(), "err", err)
		}
	}
	return true
}

// isRequestCode tells a method code (class 0, not Empty) from a response
// code.
func isRequestCode(c codes.Code) bool {
	return c != codes.Empty && c>>5 == 0
}
