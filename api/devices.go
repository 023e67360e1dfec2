package api

import (
	"encoding/hex"
	"net/http"
	"time"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/store"
)

// DeviceRequest provisions a device. Secrets come in here and are never
// sent back.
type DeviceRequest struct {
	ID              string         `json:"id"`
	Protocol        fleet.Protocol `json:"protocol"`
	Model           string         `json:"model,omitempty"`
	FirmwareVersion string         `json:"firmware_version,omitempty"`
	DM              *DMSettings    `json:"dm,omitempty"`
	LwM2M           *LwM2MSettings `json:"lwm2m,omitempty"`
}

// DMSettings are a DM device's identity and credentials both ways.
type DMSettings struct {
	DeviceID       string       `json:"device_id"`
	FUMORoot       string       `json:"fumo_root,omitempty"`
	Auth           fleet.DMAuth `json:"auth"`
	Username       string       `json:"username"`
	Password       string       `json:"password"`
	ServerID       string       `json:"server_id,omitempty"`
	ServerPassword string       `json:"server_password,omitempty"`
	ServerAuth     fleet.DMAuth `json:"server_auth,omitempty"` // the server's credential type: basic, md5 or hmac; empty: Auth's
}

// LwM2MSettings are an LwM2M device's endpoint and optional DTLS PSK
// (the key as hex).
type LwM2MSettings struct {
	Endpoint    string `json:"endpoint"`
	PSKIdentity string `json:"psk_identity,omitempty"`
	PSKKeyHex   string `json:"psk_key_hex,omitempty"`
}

// DeviceView is a device as the API shows it.
type DeviceView struct {
	ID              string         `json:"id"`
	Protocol        fleet.Protocol `json:"protocol"`
	Model           string         `json:"model,omitempty"`
	FirmwareVersion string         `json:"firmware_version,omitempty"`
	Created         time.Time      `json:"created"`
	Updated         time.Time      `json:"updated"`
	DM              *DMView        `json:"dm,omitempty"`
	LwM2M           *LwM2MView     `json:"lwm2m,omitempty"`
	// CurrentJob is the device's unfinished job, if any.
	CurrentJob *fleet.Job `json:"current_job,omitempty"`
}

// DMView is what the API shows of a DM device (no secrets).
type DMView struct {
	DeviceID       string            `json:"device_id"`
	FUMORoot       string            `json:"fumo_root,omitempty"`
	Auth           fleet.DMAuth      `json:"auth"`
	Username       string            `json:"username"`
	ServerID       string            `json:"server_id,omitempty"`
	ServerAuth     fleet.DMAuth      `json:"server_auth,omitempty"` // as provisioned or learnt; absent: the same as Auth
	DevInfo        map[string]string `json:"dev_info,omitempty"`
	DevDetail      map[string]string `json:"dev_detail,omitempty"`
	PendingTrigger string            `json:"pending_trigger_session,omitempty"`
	QueuedCommands int               `json:"queued_commands"`
}

// LwM2MView is what the API shows of an LwM2M device (no key).
type LwM2MView struct {
	Endpoint     string              `json:"endpoint"`
	PSKIdentity  string              `json:"psk_identity,omitempty"`
	Registered   bool                `json:"registered"`
	Registration *fleet.Registration `json:"registration,omitempty"`
	Observing    []string            `json:"observing,omitempty"`
	// Inventory is what the device last reported of itself (Object 3 and
	// its registration's versions), read after every Register.
	Inventory *fleet.LwM2MInventory `json:"inventory,omitempty"`
}

func (a *API) routesDevices() {
	a.handle(http.MethodGet, "/devices", a.listDevices)
	a.handle(http.MethodPost, "/devices", a.addDevice)
	a.handle(http.MethodGet, "/devices/{id}", a.getDevice)
	a.handle(http.MethodDelete, "/devices/{id}", a.deleteDevice)
	a.handle(http.MethodGet, "/devices/{id}/state", a.deviceState)
}

func (a *API) addDevice(w http.ResponseWriter, r *http.Request) {
	var req DeviceRequest
	if err := a.decode(w, r, &req); err != nil {
		a.failDecode(w, r, err)
		return
	}
	d := fleet.Device{ID: req.ID, Protocol: req.Protocol, Model: req.Model, FirmwareVersion: req.FirmwareVersion}
	if s := req.DM; s != nil {
		d.DM = &fleet.DMInfo{DeviceID: s.DeviceID, FUMORoot: s.FUMORoot, Auth: s.Auth, Username: s.Username,
			Password: fleet.Secret(s.Password), ServerID: s.ServerID, ServerPassword: fleet.Secret(s.ServerPassword), ServerAuth: s.ServerAuth}
	}
	if s := req.LwM2M; s != nil {
		key, err := hex.DecodeString(s.PSKKeyHex)
		if err != nil {
			a.fail(w, r, badRequest("lwm2m.psk_key_hex: %v", err))
			return
		}
		d.LwM2M = &fleet.LwM2MInfo{Endpoint: s.Endpoint, PSKIdentity: s.PSKIdentity, PSKKey: fleet.Secret(key)}
	}
	if err := d.Validate(); err != nil {
		a.fail(w, r, err)
		return
	}
	stored, err := a.g.Store.CreateDevice(r.Context(), d)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("device provisioned", "device", stored.ID, "protocol", stored.Protocol)
	v, err := a.view(r, stored)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// listDevices filters on protocol, model and firmware version, and pages
// with after (the last id seen) and limit (default 100, at most 1000).
func (a *API) listDevices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.DeviceFilter{Protocol: fleet.Protocol(q.Get("protocol")), Model: q.Get("model"), After: q.Get("after"), Limit: 100}
	if f.Protocol != "" && f.Protocol != fleet.ProtocolDM && f.Protocol != fleet.ProtocolLwM2M {
		a.fail(w, r, badRequest("protocol %q, want dm or lwm2m", f.Protocol))
		return
	}
	limit, err := pageLimit(q.Get("limit"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f.Limit = limit
	fw := q.Get("firmware_version")
	out := []DeviceView{}
	for len(out) < f.Limit {
		ds, err := a.g.Store.Devices(r.Context(), f)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, d := range ds {
			if fw == "" || d.FirmwareVersion == fw {
				out = append(out, a.brief(d))
			}
		}
		if len(ds) < f.Limit {
			break
		}
		f.After = ds[len(ds)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
}

func (a *API) getDevice(w http.ResponseWriter, r *http.Request) {
	d, err := a.g.Store.Device(r.Context(), pathVar(r, "id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.view(r, d)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// deleteDevice refuses while the device has an unfinished job.
func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) {
	if err := a.g.Store.DeleteDevice(r.Context(), pathVar(r, "id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deviceState reads the device's FUMO state now (Get <x>/State queued
// for a DM device, a Read of /5/0/3 and /5/0/5 for an LwM2M one).
func (a *API) deviceState(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := contextWithTimeout(r, a.cfg.RequestTimeout)
	defer cancel()
	st, err := a.g.Bridge.DeviceState(ctx, pathVar(r, "id"))
	if err != nil {
		a.fail(w, r, deviceWait(ctx, err))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// brief is a device for lists: no queue or job lookups.
func (a *API) brief(d fleet.Device) DeviceView {
	v := DeviceView{ID: d.ID, Protocol: d.Protocol, Model: d.Model, FirmwareVersion: d.FirmwareVersion, Created: d.Created, Updated: d.Updated}
	if d.DM != nil {
		v.DM = &DMView{DeviceID: d.DM.DeviceID, FUMORoot: d.DM.FUMORoot, Auth: d.DM.Auth, Username: d.DM.Username, ServerID: d.DM.ServerID,
			ServerAuth: d.DM.ServerAuth, DevInfo: d.DM.DevInfo, DevDetail: d.DM.DevDetail, PendingTrigger: d.DM.TriggerSessionID}
	}
	if d.LwM2M != nil {
		v.LwM2M = &LwM2MView{Endpoint: d.LwM2M.Endpoint, PSKIdentity: d.LwM2M.PSKIdentity, Inventory: d.LwM2M.Inventory}
		if reg, ok := a.g.LwM2M.Registration(d.LwM2M.Endpoint); ok {
			v.LwM2M.Registered, v.LwM2M.Registration = true, &reg
		}
	}
	return v
}

// view is a device with its session or registration state and its
// current job.
func (a *API) view(r *http.Request, d fleet.Device) (DeviceView, error) {
	v := a.brief(d)
	if v.DM != nil {
		cmds, err := a.g.Store.DMCommands(r.Context(), d.ID)
		if err != nil {
			return v, err
		}
		for _, c := range cmds {
			if c.State == fleet.DMCommandPending || c.State == fleet.DMCommandSent {
				v.DM.QueuedCommands++
			}
		}
	}
	if v.LwM2M != nil && v.LwM2M.Registered {
		v.LwM2M.Observing = a.g.LwM2M.Observing(d.LwM2M.Endpoint)
	}
	jobs, err := a.g.Store.JobsOfDevice(r.Context(), d.ID)
	if err != nil {
		return v, err
	}
	for i := range jobs {
		if !jobs[i].State.Terminal() {
			v.CurrentJob = &jobs[i]
		}
	}
	return v, nil
}
