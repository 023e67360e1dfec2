package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/codec"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// Raw device commands, for debugging and for backends that drive devices
// themselves: a DM command queued for the device's next session (and its
// Status and Results once it answered), and LwM2M Read, Write, Execute,
// Observe, Discover and Write-Attributes (attributes.go) on a path,
// answered synchronously as Leshan's API does. The operations other than
// Read, Write and Execute have a path of their own (observe/, discover/,
// attributes/) before the LwM2M path, registered before the catch-all.

// DMCommandRequest is one DM command to queue.
type DMCommandRequest struct {
	// Command: Get, Replace, Add, Delete or Exec.
	Command string `json:"command"`
	Target  string `json:"target"` // a node URI, "./..."
	// Data, Format (chr, int, bool, b64, bin, node) and Type (MIME) are
	// the Item's data and Meta (Replace, Add, Exec).
	Data       string `json:"data,omitempty"`
	Format     string `json:"format,omitempty"`
	Type       string `json:"type,omitempty"`
	Correlator string `json:"correlator,omitempty"` // Exec
	// Trigger sends a Package 0 so that the device calls in now.
	Trigger bool `json:"trigger,omitempty"`
}

// DMCommandView is a queued command and, once the device answered, its
// Status code and Results.
type DMCommandView struct {
	ID       string               `json:"id"`
	DeviceID string               `json:"device_id"`
	State    fleet.DMCommandState `json:"state"`
	Status   int                  `json:"status,omitempty"`
	Results  []DMResult           `json:"results,omitempty"`
	Error    string               `json:"error,omitempty"`
}

// DMResult is one Results item.
type DMResult struct {
	Source string `json:"source"`
	Format string `json:"format,omitempty"`
	Data   string `json:"data"`
}

// LwM2MContent is a Read's answer.
type LwM2MContent struct {
	Code    string        `json:"code"`
	Format  string        `json:"format"`
	Records []LwM2MRecord `json:"records,omitempty"`
	Payload []byte        `json:"payload,omitempty"` // when not decodable into records
}

// LwM2MRecord is one resource value.
type LwM2MRecord struct {
	Path  string `json:"path"`
	Type  string `json:"type,omitempty"`
	Value any    `json:"value"`
}

// LwM2MWriteRequest is a Write: records, or one value for the path;
// values are typed with the object models (text for unknown resources).
type LwM2MWriteRequest struct {
	Records []LwM2MRecord `json:"records,omitempty"`
	Value   any           `json:"value,omitempty"`
	// Partial makes it a partial update (POST) rather than a replace.
	Partial bool `json:"partial,omitempty"`
}

// LwM2MExecuteRequest is an Execute's arguments.
type LwM2MExecuteRequest struct {
	Args string `json:"args,omitempty"`
}

func (a *API) routesCommands() {
	a.handle(http.MethodPost, "/devices/{id}/dm/commands", a.queueDMCommand)
	a.handle(http.MethodGet, "/devices/{id}/dm/commands/{cmd}", a.getDMCommand)
	a.handle(http.MethodPost, "/devices/{id}/lwm2m/observe/{path}", a.lwm2mObserve)
	a.handle(http.MethodDelete, "/devices/{id}/lwm2m/observe/{path}", a.lwm2mCancelObserve)
	a.handle(http.MethodGet, "/devices/{id}/lwm2m/discover/{path}", a.lwm2mDiscover)
	a.handle(http.MethodPut, "/devices/{id}/lwm2m/attributes/{path}", a.lwm2mWriteAttributes)
	a.handle(http.MethodGet, "/devices/{id}/lwm2m/{path}", a.lwm2mRead)
	a.handle(http.MethodPut, "/devices/{id}/lwm2m/{path}", a.lwm2mWrite)
	a.handle(http.MethodPost, "/devices/{id}/lwm2m/{path}", a.lwm2mExecute)
}

func (a *API) queueDMCommand(w http.ResponseWriter, r *http.Request) {
	d, ok := a.deviceOf(w, r, fleet.ProtocolDM)
	if !ok {
		return
	}
	var req DMCommandRequest
	if err := a.decode(w, r, &req); err != nil {
		a.failDecode(w, r, err)
		return
	}
	cmd, err := req.syncml()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := a.g.DM.Enqueue(r.Context(), d.ID, cmd, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Trigger {
		if _, err := a.g.DM.Trigger(r.Context(), d.ID, dm.TriggerOptions{}); err != nil {
			a.log.Warn("api: package 0", "device", d.ID, "err", err)
		}
	}
	writeJSON(w, http.StatusAccepted, DMCommandView{ID: id, DeviceID: d.ID, State: fleet.DMCommandPending})
}

func (req DMCommandRequest) syncml() (syncml.Command, error) {
	if !strings.HasPrefix(req.Target, "./") {
		return nil, badRequest("target %q must be a node URI starting with ./", req.Target)
	}
	item := syncml.Item{Target: &syncml.Location{LocURI: req.Target}}
	if req.Format != "" || req.Type != "" {
		item.Meta = &syncml.Meta{Format: req.Format, Type: req.Type}
	}
	hasData := req.Data != "" || req.Format != ""
	if hasData {
		item.Data = []byte(req.Data)
	}
	items := []syncml.Item{item}
	switch req.Command {
	case "Get":
		return &syncml.Get{Items: items}, nil
	case "Delete":
		return &syncml.Delete{Items: items}, nil
	case "Replace":
		return &syncml.Replace{Items: items}, nil
	case "Add":
		return &syncml.Add{Items: items}, nil
	case "Exec":
		return &syncml.Exec{Item: item, Correlator: req.Correlator}, nil
	}
	return nil, badRequest("command %q, want Get, Replace, Add, Delete or Exec", req.Command)
}

func (a *API) getDMCommand(w http.ResponseWriter, r *http.Request) {
	d, ok := a.deviceOf(w, r, fleet.ProtocolDM)
	if !ok {
		return
	}
	res, err := a.g.DM.Result(r.Context(), pathVar(r, "cmd"))
	if err == nil && res.DeviceID != d.ID {
		err = fmt.Errorf("command %s of device %s: %w", pathVar(r, "cmd"), d.ID, fleet.ErrNotFound)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v := DMCommandView{ID: res.ID, DeviceID: res.DeviceID, State: res.State, Error: res.Error}
	if o := res.Outcome; o != nil {
		v.Status = o.Code()
		for _, it := range o.Results {
			var res DMResult
			if it.Source != nil {
				res.Source = it.Source.LocURI
			}
			if it.Meta != nil {
				res.Format = it.Meta.Format
			}
			res.Data = string(it.Data)
			v.Results = append(v.Results, res)
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// deviceOf loads the {id} device and checks its protocol.
func (a *API) deviceOf(w http.ResponseWriter, r *http.Request, p fleet.Protocol) (fleet.Device, bool) {
	d, err := a.g.Store.Device(r.Context(), pathVar(r, "id"))
	if err != nil {
		a.fail(w, r, err)
		return d, false
	}
	if d.Protocol != p {
		a.fail(w, r, badRequest("device %s speaks %s, not %s", d.ID, d.Protocol, p))
		return d, false
	}
	return d, true
}

// lwm2mTarget is the {id} LwM2M device's endpoint and the {path}.
func (a *API) lwm2mTarget(w http.ResponseWriter, r *http.Request) (string, node.Path, bool) {
	d, ok := a.deviceOf(w, r, fleet.ProtocolLwM2M)
	if !ok {
		return "", node.Path{}, false
	}
	p, err := node.ParsePath("/" + strings.TrimPrefix(pathVar(r, "path"), "/"))
	if err != nil {
		a.fail(w, r, badRequest("path: %v", err))
		return "", node.Path{}, false
	}
	return d.LwM2M.Endpoint, p, true
}

// formats are the content formats a Read may ask for (?format=).
var formats = map[string]codec.Format{"": lwm2m.AnyFormat, "text": codec.FormatText, "opaque": codec.FormatOpaque, "cbor": codec.FormatCBOR,
	"tlv": codec.FormatTLV, "senml-json": codec.FormatSenMLJSON, "senml-cbor": codec.FormatSenMLCBOR}

func (a *API) lwm2mRead(w http.ResponseWriter, r *http.Request) {
	ep, p, ok := a.lwm2mTarget(w, r)
	if !ok {
		return
	}
	f, ok := formats[r.URL.Query().Get("format")]
	if !ok {
		a.fail(w, r, badRequest("format %q, want one of text, opaque, cbor, tlv, senml-json, senml-cbor", r.URL.Query().Get("format")))
		return
	}
	ctx, cancel := contextWithTimeout(r, a.cfg.RequestTimeout)
	defer cancel()
	c, err := a.g.LwM2M.Read(ctx, ep, p, f)
	if err != nil {
		a.fail(w, r, deviceWait(ctx, err))
		return
	}
	out := LwM2MContent{Code: c.Code.String(), Format: strconv.Itoa(int(c.Format))}
	recs, err := c.Records(p)
	if err != nil {
		out.Payload = c.Payload
	}
	for _, rec := range recs {
		out.Records = append(out.Records, LwM2MRecord{Path: rec.Path.String(), Type: rec.Value.Type().String(), Value: jsonValue(rec.Value)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) lwm2mWrite(w http.ResponseWriter, r *http.Request) {
	ep, p, ok := a.lwm2mTarget(w, r)
	if !ok {
		return
	}
	var req LwM2MWriteRequest
	if err := a.decode(w, r, &req); err != nil {
		a.failDecode(w, r, err)
		return
	}
	in := req.Records
	if req.Value != nil {
		in = append(in, LwM2MRecord{Path: p.String(), Value: req.Value})
	}
	if len(in) == 0 {
		a.fail(w, r, badRequest("nothing to write: give records or a value"))
		return
	}
	recs := make([]node.Record, 0, len(in))
	for _, rec := range in {
		rp, err := node.ParsePath(rec.Path)
		if err != nil {
			a.fail(w, r, badRequest("record path: %v", err))
			return
		}
		s, err := textOf(rec.Value)
		if err != nil {
			a.fail(w, r, badRequest("%s: %v", rec.Path, err))
			return
		}
		recs = append(recs, node.Record{Path: rp, Value: node.RawText(s)})
	}
	recs, err := node.Typed(recs)
	if err != nil {
		a.fail(w, r, badRequest("%v", err))
		return
	}
	mode := lwm2m.Replace
	if req.Partial {
		mode = lwm2m.Partial
	}
	ctx, cancel := contextWithTimeout(r, a.cfg.RequestTimeout)
	defer cancel()
	if err := a.g.LwM2M.WriteRecords(ctx, ep, p, mode, recs); err != nil {
		a.fail(w, r, deviceWait(ctx, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"code": "2.04"})
}

func (a *API) lwm2mExecute(w http.ResponseWriter, r *http.Request) {
	ep, p, ok := a.lwm2mTarget(w, r)
	if !ok {
		return
	}
	var req LwM2MExecuteRequest
	if r.ContentLength != 0 {
		if err := a.decode(w, r, &req); err != nil {
			a.failDecode(w, r, err)
			return
		}
	}
	ctx, cancel := contextWithTimeout(r, a.cfg.RequestTimeout)
	defer cancel()
	if err := a.g.LwM2M.Execute(ctx, ep, p, req.Args); err != nil {
		a.fail(w, r, deviceWait(ctx, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"code": "2.04"})
}

// lwm2mObserve starts an observation; notifications arrive on the event
// stream (kind "notify").
func (a *API) lwm2mObserve(w http.ResponseWriter, r *http.Request) {
	ep, p, ok := a.lwm2mTarget(w, r)
	if !ok {
		return
	}
	ctx, cancel := contextWithTimeout(r, a.cfg.RequestTimeout)
	defer cancel()
	if err := a.g.LwM2M.Observe(ctx, ep, p, lwm2m.AnyFormat); err != nil {
		a.fail(w, r, deviceWait(ctx, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"observing": a.g.LwM2M.Observing(ep)})
}

func (a *API) lwm2mCancelObserve(w http.ResponseWriter, r *http.Request) {
	ep, p, ok := a.lwm2mTarget(w, r)
	if !ok {
		return
	}
	if !slices.Contains(a.g.LwM2M.Observing(ep), p.String()) {
		a.fail(w, r, fmt.Errorf("%s is not observing %s: %w", ep, p, fleet.ErrNotFound))
		return
	}
	ctx, cancel := contextWithTimeout(r, a.cfg.RequestTimeout)
	defer cancel()
	if err := a.g.LwM2M.CancelObserve(ctx, ep, p); err != nil {
		a.fail(w, r, deviceWait(ctx, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"observing": nonNil(a.g.LwM2M.Observing(ep))})
}

// jsonValue is a value as JSON: numbers, booleans, strings; opaque bytes
// as base64 (encoding/json's []byte).
func jsonValue(v node.Value) any {
	switch v.Type() {
	case node.TypeInteger, node.TypeTime:
		i, _ := v.Int()
		return i
	case node.TypeUnsigned:
		u, _ := v.Uint()
		return u
	case node.TypeFloat:
		f, _ := v.Float64()
		return f
	case node.TypeBoolean:
		b, _ := v.Bool()
		return b
	case node.TypeOpaque, node.TypeRawBinary:
		b, _ := v.Bytes()
		return b
	case node.TypeString, node.TypeCorelnk, node.TypeRawText:
		s, _ := v.Str()
		return s
	}
	return v.String()
}

// textOf is a JSON value as LwM2M text, for the models to type.
func textOf(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	}
	return "", fmt.Errorf("value %v: a string, number or boolean", v)
}
