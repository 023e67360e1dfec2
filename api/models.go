package api

import (
	"net/http"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// Per-model settings: the package that is a model's current release and
// the FUMO root its DM devices use when none is provisioned per device.
// A model is named as devices name it (DM DevInfo Mod), so it may hold
// spaces or '/': clients escape it in the path (a%2Fb).

// ModelRequest sets a model's settings (PUT /models/{model}). The settings
// are replaced: a field left out is cleared.
type ModelRequest struct {
	// Release is the id of a stored package; empty for none.
	Release string `json:"release,omitempty"`
	// FUMORoot is e.g. ./FwUpdate/1; empty for the gateway's default.
	FUMORoot string `json:"fumo_root,omitempty"`
}

func (a *API) routesModels() {
	a.handle(http.MethodGet, "/models", a.listModels)
	a.handle(http.MethodGet, "/models/{model}", a.getModel)
	a.handle(http.MethodPut, "/models/{model}", a.putModel)
	a.handle(http.MethodDelete, "/models/{model}", a.deleteModel)
}

func (a *API) listModels(w http.ResponseWriter, r *http.Request) {
	ms, err := a.g.Store.AllModelSettings(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": nonNil(ms)})
}

func (a *API) getModel(w http.ResponseWriter, r *http.Request) {
	m, err := a.g.Store.ModelSettings(r.Context(), pathVar(r, "model"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// putModel stores a model's settings, replacing what was there; a release
// that is not a stored package is refused (404), as a job naming one is.
func (a *API) putModel(w http.ResponseWriter, r *http.Request) {
	var req ModelRequest
	if err := a.decode(w, r, &req); err != nil {
		a.failDecode(w, r, err)
		return
	}
	m := fleet.ModelSettings{Model: pathVar(r, "model"), Release: req.Release, FUMORoot: req.FUMORoot}
	if err := m.Validate(); err != nil {
		a.fail(w, r, err)
		return
	}
	stored, err := a.g.Store.PutModelSettings(r.Context(), m)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("model settings stored", "model", stored.Model, "release", stored.Release, "fumo_root", stored.FUMORoot)
	writeJSON(w, http.StatusOK, stored)
}

func (a *API) deleteModel(w http.ResponseWriter, r *http.Request) {
	if err := a.g.Store.DeleteModelSettings(r.Context(), pathVar(r, "model")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
