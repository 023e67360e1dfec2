package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// SenML JSON (110): an array of objects with the labels bn, n, v, vs, vb,
// vd (base64url without padding) and vlo (LwM2M object link "o:i").
// Other labels (bt, t, bu, u, ...) are ignored; an unknown label ending
// in "_" (must-understand, RFC 8428 §4.4) is an error.

const senmlJSON = "senml json"

// decodeSenMLJSON reads a SenML JSON payload; see Decode.
func decodeSenMLJSON(payload []byte) ([]node.Record, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(payload, &elems); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, &decodeError{format: senmlJSON, where: atOffset(int(se.Offset)), msg: se.Error()}
		}
		return nil, &decodeError{format: senmlJSON, msg: "not an array"}
	}
	// null unmarshals into a slice without error.
	if t := bytes.TrimLeft(payload, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return nil, &decodeError{format: senmlJSON, msg: "not an array"}
	}
	recs := make([]senmlRec, len(elems))
	for i, e := range elems {
		var err error
		if recs[i], err = jsonRecord(e); err != nil {
			return nil, &decodeError{format: senmlJSON, where: atElement(i), msg: err.Error()}
		}
		recs[i].where = atElement(i)
	}
	return resolveSenML(senmlJSON, recs)
}

// jsonRecord reads the labels of one SenML JSON record.
func jsonRecord(e json.RawMessage) (senmlRec, error) {
	var r senmlRec
	var m map[string]json.RawMessage
	if err := json.Unmarshal(e, &m); err != nil || m == nil {
		return r, errors.New("not an object")
	}
	// Sorted labels, so that the first error reported does not vary.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		raw := m[k]
		var err error
		switch k {
		case "bn":
			var s string
			s, err = jsonString(k, raw)
			r.bn = &s
		case "n":
			r.n, err = jsonString(k, raw)
		case "v":
			// A valid JSON number starts with '-' or a digit.
			if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
				return r, fmt.Errorf("v is not a number: %s", raw)
			}
			var v node.Value
			if v, err = numberValue(string(raw)); err == nil {
				r.vals = append(r.vals, v)
			}
		case "vs":
			var s string
			if s, err = jsonString(k, raw); err == nil {
				r.vals = append(r.vals, node.String(s))
			}
		case "vb":
			switch string(raw) {
			case "true", "false":
				r.vals = append(r.vals, node.Boolean(string(raw) == "true"))
			default:
				err = fmt.Errorf("vb is not a boolean: %s", raw)
			}
		case "vd":
			var s string
			var b []byte
			if s, err = jsonString(k, raw); err == nil {
				if b, err = decodeBase64URL(s); err == nil {
					r.vals = append(r.vals, node.Opaque(b))
				}
			}
		case "vlo":
			var s string
			var v node.Value
			if s, err = jsonString(k, raw); err == nil {
				if v, err = parseObjLink(s); err == nil {
					r.vals = append(r.vals, v)
				}
			}
		default:
			if strings.HasSuffix(k, "_") {
				err = fmt.Errorf("unknown must-understand label %q", k)
			}
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// jsonString reads a JSON string (null is not one).
func jsonString(label string, raw json.RawMessage) (string, error) {
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%s is not a string: %s", label, raw)
	}
	return s, nil
}

// decodeBase64URL reads vd: base64url without padding as LwM2M 1.1 and
// RFC 8428 say; padding and the standard alphabet are tolerated, as some
// clients send them.
func decodeBase64URL(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("vd is not base64url: %w", err)
	}
	return b, nil
}

// jsonOut is one SenML JSON record as written.
type jsonOut struct {
	Bn  string      `json:"bn,omitempty"`
	N   string      `json:"n,omitempty"`
	V   json.Number `json:"v,omitempty"`
	Vs  *string     `json:"vs,omitempty"`
	Vb  *bool       `json:"vb,omitempty"`
	Vd  *string     `json:"vd,omitempty"`
	Vlo *string     `json:"vlo,omitempty"`
}

// encodeSenMLJSON writes records as SenML JSON; see Encode. JSON has no
// NaN or infinities: such floats are an error wrapping node.ErrType.
func encodeSenMLJSON(base node.Path, recs []node.Record) ([]byte, error) {
	plan, err := planSenML(senmlJSON, base, recs)
	if err != nil {
		return nil, err
	}
	out := make([]jsonOut, len(plan))
	for i, p := range plan {
		o := &out[i]
		o.Bn, o.N = p.bn, p.n
		switch p.field {
		case "v":
			switch x := p.num.(type) {
			case int64:
				o.V = json.Number(strconv.FormatInt(x, 10))
			case uint64:
				o.V = json.Number(strconv.FormatUint(x, 10))
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return nil, fmt.Errorf("codec: %s: %s: float %v has no JSON form: %w", senmlJSON, p.n, x, node.ErrType)
				}
				o.V = json.Number(strconv.FormatFloat(x, 'g', -1, 64))
			}
		case "vs":
			o.Vs = &p.str
		case "vb":
			o.Vb = &p.b
		case "vd":
			s := base64.RawURLEncoding.EncodeToString(p.data)
			o.Vd = &s
		case "vlo":
			o.Vlo = &p.str
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // core links hold '<' and '>'
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("codec: %s: %w", senmlJSON, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
