package lwm2m

import (
	"context"
	"sync"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// EventKind says what happened to a device.
type EventKind int

const (
	EventRegistered   EventKind = iota + 1 // a Register was stored and answered
	EventUpdated                           // an Update was stored and answered
	EventDeregistered                      // the device de-registered
	EventExpired                           // the registration's lifetime ran out
	EventNotify                            // an observation sent a value (the first answer too)
	EventSend                              // the device sent values (POST /dp)
	// EventUnsolicited: a registered device notified an observation the
	// server does not have (the previous process's, after a restart): it
	// was answered Reset, and whoever follows the device should read
	// what it wanted and observe again. At most one a device per
	// unsolicitedQuiet.
	EventUnsolicited
)

var eventNames = map[EventKind]string{EventRegistered: "registered", EventUpdated: "updated", EventDeregistered: "deregistered",
	EventExpired: "expired", EventNotify: "notify", EventSend: "send", EventUnsolicited: "unsolicited"}

func (k EventKind) String() string { return eventNames[k] }

// Event is what listeners hear. Events of one device reach a listener in
// order, one at a time; events of different devices run concurrently, so
// a listener may issue downlink operations (they wait for the device,
// not for other devices).
type Event struct {
	Kind         EventKind
	Endpoint     string
	DeviceID     string
	Registration fleet.Registration // for every kind: the registration at the time
	// For EventNotify: the observed path; for Notify and Send: the values
	// (typed with the models where known), the format and raw payload.
	Path    node.Path
	Records []node.Record
	Format  codec.Format
	Payload []byte
}

// Listener receives events. ctx ends when the server closes.
type Listener func(ctx context.Context, ev Event)

// mailbox runs one device's events in order on a goroutine that exists
// only while events are pending.
type mailbox struct {
	mu      sync.Mutex
	pending []Event
	running bool
}

func (s *Server) emit(c *client, ev Event) {
	s.mu.Lock()
	ls := s.listeners
	ev.Endpoint, ev.DeviceID, ev.Registration = c.endpoint, c.deviceID, c.reg
	s.mu.Unlock()
	if len(ls) == 0 {
		return
	}
	m := &c.mbox
	m.mu.Lock()
	m.pending = append(m.pending, ev)
	if m.running {
		m.mu.Unlock()
		return
	}
	m.running = true
	m.mu.Unlock()
	// Add under s.mu, after checking closed: Close sets it under s.mu
	// before it waits, so no Add races its Wait.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		m.mu.Lock()
		m.pending, m.running = nil, false
		m.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for {
			m.mu.Lock()
			if len(m.pending) == 0 {
				m.running = false
				m.mu.Unlock()
				return
			}
			ev := m.pending[0]
			m.pending = m.pending[1:]
			m.mu.Unlock()
			for _, l := range ls {
				l(s.ctx, ev)
			}
		}
	}()
}

// AddListener adds a listener for every device's events.
func (s *Server) AddListener(l Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners[:len(s.listeners):len(s.listeners)], l)
}
