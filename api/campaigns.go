package api

import (
	"context"
	"net/http"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/fleet"
)

func (a *API) routesCampaigns() {
	a.handle(http.MethodGet, "/campaigns", a.listCampaigns)
	a.handle(http.MethodPost, "/campaigns", a.createCampaign)
	a.handle(http.MethodGet, "/campaigns/{id}", a.campaignProgress)
	a.handle(http.MethodGet, "/campaigns/{id}/progress", a.campaignProgress)
	for _, act := range []struct {
		name string
		fn   func(context.Context, string) (fleet.Campaign, error)
	}{
		{"start", a.g.Bridge.StartCampaign},
		{"pause", a.g.Bridge.PauseCampaign},
		{"resume", a.g.Bridge.ResumeCampaign},
		{"cancel", a.g.Bridge.CancelCampaign},
	} {
		a.handle(http.MethodPost, "/campaigns/{id}/"+act.name, func(w http.ResponseWriter, r *http.Request) {
			if _, err := act.fn(r.Context(), pathVar(r, "id")); err != nil {
				a.fail(w, r, err)
				return
			}
			a.campaignProgress(w, r)
		})
	}
}

// createCampaign stores a draft; POST .../start runs it.
func (a *API) createCampaign(w http.ResponseWriter, r *http.Request) {
	var req bridge.CampaignRequest
	if err := a.decode(w, r, &req); err != nil {
		a.failDecode(w, r, err)
		return
	}
	c, err := a.g.Bridge.CreateCampaign(r.Context(), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.g.Bridge.CampaignProgress(r.Context(), c.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (a *API) listCampaigns(w http.ResponseWriter, r *http.Request) {
	cs, err := a.g.Store.Campaigns(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if s := fleet.CampaignState(r.URL.Query().Get("state")); s != "" {
		kept := cs[:0]
		for _, c := range cs {
			if c.State == s {
				kept = append(kept, c)
			}
		}
		cs = kept
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": nonNil(cs)})
}

// campaignProgress answers a campaign with its live job counts.
func (a *API) campaignProgress(w http.ResponseWriter, r *http.Request) {
	p, err := a.g.Bridge.CampaignProgress(r.Context(), pathVar(r, "id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}
