package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/store"
)

// jobView is a job as the API shows it: the record, and when its current
// step times out.
type jobView struct {
	fleet.Job
	StepTimeoutAt time.Time `json:"step_timeout_at,omitzero"`
}

func (a *API) jobView(j fleet.Job) jobView {
	return jobView{Job: j, StepTimeoutAt: a.g.Bridge.StepTimeoutAt(j)}
}

func (a *API) routesJobs() {
	a.handle(http.MethodGet, "/jobs", a.listJobs)
	a.handle(http.MethodPost, "/jobs", a.createJob)
	a.handle(http.MethodGet, "/jobs/{id}", a.getJob)
	a.handle(http.MethodPost, "/jobs/{id}/cancel", a.cancelJob)
}

func (a *API) createJob(w http.ResponseWriter, r *http.Request) {
	var req bridge.JobRequest
	if err := a.decode(w, r, &req); err != nil {
		a.failDecode(w, r, err)
		return
	}
	j, err := a.g.Bridge.CreateJob(r.Context(), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.jobView(j))
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := a.g.Store.Job(r.Context(), pathVar(r, "id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.jobView(j))
}

func (a *API) cancelJob(w http.ResponseWriter, r *http.Request) {
	j, err := a.g.Bridge.CancelJob(r.Context(), pathVar(r, "id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.jobView(j))
}

// listJobs filters on state, device and campaign, and pages with after
// and limit (default 100, at most 1000).
func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.JobFilter{State: fleet.JobState(q.Get("state")), DeviceID: q.Get("device"), CampaignID: q.Get("campaign"), After: q.Get("after"), Limit: 100}
	if f.State != "" && !f.State.Valid() {
		a.fail(w, r, badRequest("state %q is not a job state", f.State))
		return
	}
	limit, err := pageLimit(q.Get("limit"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f.Limit = limit
	js, err := a.g.Store.Jobs(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	views := make([]jobView, len(js))
	for i, j := range js {
		views[i] = a.jobView(j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": views})
}

// pageLimit reads a list's limit: 1..1000, default 100.
func pageLimit(s string) (int, error) {
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 1000 {
		return 0, badRequest("limit %q: 1..1000", s)
	}
	return n, nil
}

// contextWithTimeout bounds a wait for a device within the request's
// context.
func contextWithTimeout(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}

// deviceWait names a wait for a device that ran out of time.
func deviceWait(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return errors.Join(errDeviceTimeout, err)
	}
	return err
}
