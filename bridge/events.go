package bridge

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// EventKind says what an Event is about.
type EventKind string

const (
	EventJob      EventKind = "job"
	EventDevice   EventKind = "device"
	EventCampaign EventKind = "campaign"
)

// Event is one entry of the bridge's event stream: a job's step or result
// (with the device's report), a device event (registration, an alert that
// matches no job), or a campaign's change of state.
type Event struct {
	Seq        uint64              `json:"seq"`
	Time       time.Time           `json:"time"`
	Kind       EventKind           `json:"kind"`
	CampaignID string              `json:"campaign_id,omitempty"`
	Campaign   fleet.CampaignState `json:"campaign_state,omitempty"`
	Report
}

// hub fans events out to subscribers; a subscriber too slow to keep up
// loses events (counted) rather than holding up the pipeline.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	seq  atomic.Uint64
}

type subscriber struct {
	ch      chan Event
	dropped atomic.Int64
}

func (h *hub) publish(ev Event) {
	ev.Seq = h.seq.Add(1)
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ch <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}

// Subscription is a live view of the event stream.
type Subscription struct {
	C   <-chan Event
	h   *hub
	sub *subscriber
}

// Dropped counts the events this subscriber lost because it fell behind.
func (s *Subscription) Dropped() int64 { return s.sub.dropped.Load() }

// Close ends the subscription; C is closed.
func (s *Subscription) Close() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if _, ok := s.h.subs[s.sub]; ok {
		delete(s.h.subs, s.sub)
		close(s.sub.ch)
	}
}

// Subscribe starts receiving events, buffered up to buf.
func (b *Bridge) Subscribe(buf int) *Subscription {
	s := &subscriber{ch: make(chan Event, max(buf, 1))}
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	if b.hub.subs == nil {
		b.hub.subs = map[*subscriber]struct{}{}
	}
	b.hub.subs[s] = struct{}{}
	return &Subscription{C: s.ch, h: &b.hub, sub: s}
}
