package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/lwm2m"
)

// NotifyEvent is an LwM2M notification or Send of an observation the API
// started (event kind "notify" or "send").
type NotifyEvent struct {
	Time     time.Time     `json:"time"`
	DeviceID string        `json:"device_id"`
	Endpoint string        `json:"endpoint"`
	Path     string        `json:"path,omitempty"`
	Records  []LwM2MRecord `json:"records,omitempty"`
}

// notifyHub fans LwM2M notifications out to event streams; a stream that
// falls behind loses them.
type notifyHub struct {
	mu   sync.Mutex
	subs map[chan namedEvent]struct{}
}

type namedEvent struct {
	kind string
	ev   NotifyEvent
}

func (h *notifyHub) listen(_ context.Context, ev lwm2m.Event) {
	if ev.Kind != lwm2m.EventNotify && ev.Kind != lwm2m.EventSend {
		return
	}
	n := NotifyEvent{Time: time.Now().UTC(), DeviceID: ev.DeviceID, Endpoint: ev.Endpoint}
	if ev.Kind == lwm2m.EventNotify {
		n.Path = ev.Path.String()
	}
	for _, r := range ev.Records {
		n.Records = append(n.Records, LwM2MRecord{Path: r.Path.String(), Type: r.Value.Type().String(), Value: jsonValue(r.Value)})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- namedEvent{kind: ev.Kind.String(), ev: n}:
		default:
		}
	}
}

func (h *notifyHub) subscribe() (chan namedEvent, func()) {
	c := make(chan namedEvent, 64)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan namedEvent]struct{}{}
	}
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.subs, c)
		h.mu.Unlock()
	}
}

// heartbeat keeps idle event streams open through proxies.
const heartbeat = 15 * time.Second

func (a *API) routesEvents() {
	a.handle(http.MethodGet, "/events", a.events)
}

// events streams the bridge's job, device and campaign events as
// server-sent events (event: the kind; id: the sequence number; data: the
// event as JSON). Query filters: campaign, job, device. A client that
// falls behind loses events; a "dropped" event says how many.
func (a *API) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, CodeInternal, "streaming unsupported")
		return
	}
	q := r.URL.Query()
	campaign, job, device := q.Get("campaign"), q.Get("job"), q.Get("device")
	sub := a.g.Bridge.Subscribe(256)
	defer sub.Close()
	notes, unsubscribe := a.notify.subscribe()
	defer unsubscribe()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": fumo-gw events\n\n")
	fl.Flush()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	var dropped int64
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case n := <-notes:
			if (device != "" && n.ev.DeviceID != device) || campaign != "" || job != "" {
				continue
			}
			b, _ := json.Marshal(n.ev)
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", n.kind, b); err != nil {
				return
			}
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			if n := sub.Dropped(); n > dropped {
				_, _ = fmt.Fprintf(w, "event: dropped\ndata: {\"dropped\":%d}\n\n", n-dropped)
				dropped = n
			}
			if !matches(ev, campaign, job, device) {
				continue
			}
			b, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Kind, b); err != nil {
				return
			}
		}
		fl.Flush()
	}
}

func matches(ev bridge.Event, campaign, job, device string) bool {
	return (campaign == "" || ev.CampaignID == campaign) && (job == "" || ev.JobID == job) && (device == "" || ev.DeviceID == device)
}
