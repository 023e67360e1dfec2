package codec

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// SenML (RFC 8428) as LwM2M 1.1 uses it (TS Core §7.4.4, §7.4.5). This
// file holds what JSON and CBOR share: resolving names to paths on
// decode, and names and value fields on encode.

// senmlRec is one decoded SenML record before its name is resolved.
type senmlRec struct {
	bn    *string      // base name, when the record sets one
	n     string       // name
	vals  []node.Value // the value fields present; exactly one is valid
	where string       // "element 3", for errors
}

// resolveSenML turns records into node records: the base name applies
// to its record and all later ones until the next, the name is bn + n
// (so "/5/0" + "/3" and "/5/0/" + "3" both give /5/0/3) and must be a
// resource or resource instance path, and each record holds one value.
func resolveSenML(format string, in []senmlRec) ([]node.Record, error) {
	var bn string
	out := make([]node.Record, 0, len(in))
	for _, r := range in {
		if r.bn != nil {
			bn = *r.bn
		}
		name := bn + r.n
		p, err := node.ParsePath(name)
		if err != nil {
			return nil, &decodeError{format: format, where: r.where, msg: fmt.Sprintf("name %q", name), cause: err}
		}
		if !isResourcePath(p) {
			return nil, &decodeError{format: format, where: r.where, msg: fmt.Sprintf("name %q is not a resource path", name), cause: node.ErrBadPath}
		}
		switch len(r.vals) {
		case 0:
			return nil, &decodeError{format: format, where: r.where, msg: fmt.Sprintf("%s has no value", p)}
		case 1:
		default:
			return nil, &decodeError{format: format, where: r.where, msg: fmt.Sprintf("%s has %d values", p, len(r.vals))}
		}
		out = append(out, node.Record{Path: p, Value: r.vals[0]})
	}
	sortRecords(out)
	return out, nil
}

// floatValue is the value of a SenML number: node.Integer when it is
// integral and within int64, node.Float otherwise.
func floatValue(f float64) node.Value {
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return node.Integer(int64(f))
	}
	return node.Float(f)
}

// numberValue is the value of a SenML JSON number literal: an integer
// literal that fits int64 is node.Integer, one that fits only uint64 is
// node.Unsigned; others go through floatValue.
func numberValue(s string) (node.Value, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return node.Integer(i), nil
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return node.Unsigned(u), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return node.Value{}, fmt.Errorf("number %s out of range", s)
	}
	return floatValue(f), nil
}

// parseObjLink reads a vlo value "o:i" (65535:65535 is the null link).
func parseObjLink(s string) (node.Value, error) {
	o, i, ok := strings.Cut(s, ":")
	obj, err1 := strconv.ParseUint(o, 10, 16)
	inst, err2 := strconv.ParseUint(i, 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return node.Value{}, fmt.Errorf("object link %q is not o:i", s)
	}
	return node.Link(uint16(obj), uint16(inst)), nil
}

// senmlOut is one record to encode: its name and its value field.
type senmlOut struct {
	bn, n string // bn only on the first record
	field string // "v", "vs", "vb", "vd" or "vlo"
	num   any    // v: int64, uint64 or float64
	str   string // vs, vlo
	b     bool   // vb
	data  []byte // vd
}

// planSenML checks and types the records and works out names and value
// fields. The base name is base + "/" and names are relative to it; when
// every record is at base itself the base name is base and names are
// empty; at the root there is no base name and names are full paths.
func planSenML(format string, base node.Path, recs []node.Record) ([]senmlOut, error) {
	if err := checkEncodable(format, base, recs); err != nil {
		return nil, err
	}
	typed, err := node.Typed(recs)
	if err != nil {
		return nil, fmt.Errorf("codec: %s: %w", format, err)
	}
	prefix := ""
	if base.Len() > 0 {
		prefix = base.String() + "/"
		allAtBase := true
		for _, r := range recs {
			allAtBase = allAtBase && r.Path == base
		}
		if allAtBase {
			prefix = base.String()
		}
	}
	out := make([]senmlOut, len(typed))
	for i, r := range typed {
		o := &out[i]
		if i == 0 {
			o.bn = prefix
		}
		// The path string starts with base's, then "/" (or nothing at
		// base), so cutting the prefix leaves the relative name.
		o.n = strings.TrimPrefix(r.Path.String(), prefix)
		if r.Path == base {
			o.n = ""
		}
		if err := o.setValue(r.Value); err != nil {
			return nil, fmt.Errorf("codec: %s: %s: %w", format, r.Path, err)
		}
	}
	return out, nil
}

// setValue picks the value field: numbers and time v, strings and core
// links vs, booleans vb, opaque vd, object links vlo. Raw values left
// unconverted by the models go as vs (text) or vd (bytes).
func (o *senmlOut) setValue(v node.Value) error {
	var err error
	switch v.Type() {
	case node.TypeInteger, node.TypeTime:
		o.field = "v"
		o.num, err = v.Int()
	case node.TypeUnsigned:
		o.field = "v"
		o.num, err = v.Uint()
	case node.TypeFloat:
		o.field = "v"
		o.num, err = v.Float64()
	case node.TypeString, node.TypeCorelnk, node.TypeRawText:
		o.field = "vs"
		o.str, err = v.Str()
	case node.TypeBoolean:
		o.field = "vb"
		o.b, err = v.Bool()
	case node.TypeOpaque, node.TypeRawBinary:
		o.field = "vd"
		o.data, err = v.Bytes()
	case node.TypeObjlnk:
		var l node.ObjLink
		l, err = v.ObjLink()
		o.field, o.str = "vlo", l.String()
	default:
		return fmt.Errorf("%s value has no SenML form: %w", v.Type(), node.ErrType)
	}
	return err
}
