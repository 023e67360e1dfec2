package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/fumo-gw/fumo-gw/bridge"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/link"
	"github.com/fumo-gw/fumo-gw/store"
)

// Error codes: stable strings clients branch on (the message is for
// people and may change).
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"    // exists, in use, busy, wrong state
	CodeTooLarge         = "too_large"   // body over the limit
	CodeUnsupported      = "unsupported" // media type
	CodeIntegrity        = "integrity"   // package size or SHA-256 mismatch
	CodeCannotDeliver    = "cannot_deliver"
	CodeDevice           = "device_error" // the device answered with an error
	CodeUnreachable      = "unreachable"  // the device did not answer
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// ErrorBody is every error's JSON shape: {"error": {"code", "message"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an error's code and message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
}

// fail answers err with the status its sentinel calls for.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	var codeErr *lwm2m.CodeError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("request body over %d bytes", tooLarge.Limit))
	case errors.Is(err, store.ErrIntegrity), errors.Is(err, store.ErrSize):
		writeError(w, http.StatusBadRequest, CodeIntegrity, err.Error())
	case errors.Is(err, fleet.ErrNotFound), errors.Is(err, lwm2m.ErrNotRegistered):
		writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, bridge.ErrCannotDeliver):
		writeError(w, http.StatusUnprocessableEntity, CodeCannotDeliver, err.Error())
	case errors.Is(err, fleet.ErrInvalid), errors.Is(err, store.ErrInvalid), errors.Is(err, bridge.ErrNoDevices), errors.Is(err, errBadRequest):
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
	case errors.Is(err, fleet.ErrExists), errors.Is(err, store.ErrInUse), errors.Is(err, bridge.ErrBusy), errors.Is(err, fleet.ErrStale), errors.Is(err, store.ErrTransition):
		writeError(w, http.StatusConflict, CodeConflict, err.Error())
	case errors.As(err, &codeErr), errors.Is(err, link.ErrMalformed): // an error answer, a Discover answer not in link format
		writeError(w, http.StatusBadGateway, CodeDevice, err.Error())
	case errors.Is(err, lwm2m.ErrUnreachable), errors.Is(err, errDeviceTimeout):
		writeError(w, http.StatusGatewayTimeout, CodeUnreachable, err.Error())
	default:
		a.log.Error("api: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal error (logged)")
	}
}

var (
	errBadRequest    = errors.New("bad request")
	errDeviceTimeout = errors.New("the device did not answer in time")
)

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// decode reads a JSON body into v: one object, no unknown fields, within
// MaxBody.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: Content-Type %q, want application/json", errUnsupported, ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.cfg.MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooLarge):
			return err
		case errors.As(err, &syntax):
			return badRequest("malformed JSON at byte %d: %v", syntax.Offset, err)
		case errors.As(err, &typ):
			return badRequest("field %q: %s where %s was expected", typ.Field, typ.Value, typ.Type)
		case errors.Is(err, io.EOF):
			return badRequest("empty body, a JSON object was expected")
		default:
			return badRequest("%v", err)
		}
	}
	if dec.More() {
		return badRequest("trailing data after the JSON object")
	}
	return nil
}

var errUnsupported = errors.New("unsupported media type")

// failDecode answers a decode error (415 for a wrong Content-Type).
func (a *API) failDecode(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errUnsupported) {
		writeError(w, http.StatusUnsupportedMediaType, CodeUnsupported, err.Error())
		return
	}
	a.fail(w, r, err)
}
