package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/metrics"
	"github.com/fumo-gw/fumo-gw/store"
)

type fakeDM struct{ st dm.Stats }

func (f fakeDM) Stats() dm.Stats { return f.st }

type fakeStore struct {
	jobs map[fleet.JobState]int
	err  error
}

func (f fakeStore) Stats() store.Stats { return store.Stats{Writes: 5, Commits: 4} }

func (f fakeStore) CountJobsByState(context.Context) (map[fleet.JobState]int, error) {
	return f.jobs, f.err
}

func (f fakeStore) CountCampaignsByState(context.Context) (map[fleet.CampaignState]int, error) {
	return nil, f.err
}

// TestNewHandler_Sources: only the sources given are exposed; label
// values the sources make up are escaped; states the code does not know
// still show.
func TestNewHandler_Sources(t *testing.T) {
	weird := "a \"quoted\" \\ reason\nin two lines"
	h := metrics.NewHandler(metrics.Sources{
		DM:    fakeDM{dm.Stats{SessionsStarted: 3, Rejected: map[string]int64{weird: 7}}},
		Store: fakeStore{jobs: map[fleet.JobState]int{fleet.JobQueued: 4, "future_state": 1}},
	})
	e := scrape(t, h)
	for _, name := range e.order {
		if strings.HasPrefix(name, "fumo_lwm2m_") || strings.HasPrefix(name, "fumo_download_") {
			t.Errorf("family %s of a source not given", name)
		}
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fumo_dm_sessions_started_total", nil, 3},
		{"fumo_dm_rejected_messages_total", map[string]string{"reason": weird}, 7},
		{"fumo_jobs", map[string]string{"state": "queued"}, 4},
		{"fumo_jobs", map[string]string{"state": "failed"}, 0},
		{"fumo_jobs", map[string]string{"state": "future_state"}, 1},
		{"fumo_campaigns", map[string]string{"state": "running"}, 0},
		{"fumo_store_writes_total", nil, 5},
		{"fumo_internal_errors_total", map[string]string{"component": "dm"}, 0},
	}
	for _, c := range checks {
		if v := value(t, e, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if f := e.fams["fumo_internal_errors_total"]; len(f.samples) != 1 {
		t.Errorf("internal errors of components not given: %+v", f.samples)
	}
}

// TestNewHandler_Refusals: a store that cannot be read fails the scrape
// (500, no figures); methods other than GET and HEAD get 405.
func TestNewHandler_Refusals(t *testing.T) {
	h := metrics.NewHandler(metrics.Sources{DM: fakeDM{}, Store: fakeStore{err: errors.New("disk on fire")}})
	cases := []struct {
		name, method string
		status       int
	}{
		{"store fails", http.MethodGet, http.StatusInternalServerError},
		{"POST", http.MethodPost, http.StatusMethodNotAllowed},
		{"DELETE", http.MethodDelete, http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(c.method, "/metrics", nil))
			if rec.Code != c.status {
				t.Errorf("HTTP %d, want %d", rec.Code, c.status)
			}
			if strings.Contains(rec.Body.String(), "fumo_") {
				t.Errorf("figures in a refusal: %q", rec.Body.String())
			}
		})
	}
}

type fakeLwM2M struct{ st lwm2m.Stats }

func (f fakeLwM2M) Stats() lwm2m.Stats { return f.st }
func (f fakeLwM2M) Registered() int    { return 0 }

type fakeHTTP int64

func (f fakeHTTP) HTTPConnsRefused() int64 { return int64(f) }

// TestNewHandler_PerSourceLimits: what the per-source limits refused is
// exposed, per listener.
func TestNewHandler_PerSourceLimits(t *testing.T) {
	h := metrics.NewHandler(metrics.Sources{LwM2M: fakeLwM2M{lwm2m.Stats{RateLimited: 7, ConnsEvicted: 3}}, HTTP: fakeHTTP(5)})
	e := scrape(t, h)
	for name, want := range map[string]float64{
		"fumo_lwm2m_rate_limited_messages_total": 7,
		"fumo_lwm2m_evicted_connections_total":   3,
		"fumo_http_refused_connections_total":    5,
	} {
		if v := value(t, e, name, nil); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}
