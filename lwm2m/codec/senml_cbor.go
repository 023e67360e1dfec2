package codec

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// SenML CBOR (112): an array of maps with integer labels bn -2, n 0, v 2,
// vs 3, vb 4, vd 8 (a byte string) and the text label "vlo" for LwM2M
// object links (TS Core 1.1 §7.4.5). Other labels are ignored, but a text
// label ending in "_" (must-understand) is an error.

const senmlCBOR = "senml cbor"

// SenML CBOR labels.
const (
	labelBn = -2
	labelN  = 0
	labelV  = 2
	labelVs = 3
	labelVb = 4
	labelVd = 8
	textVlo = "vlo"
)

// cborDec decodes one record: shallow nesting, no tags, no duplicate
// labels, valid UTF-8 text.
var cborDec = mustDecMode(cbor.DecOptions{
	DupMapKey:       cbor.DupMapKeyEnforcedAPF,
	MaxNestedLevels: 8,
	TagsMd:          cbor.TagsForbidden,
	UTF8:            cbor.UTF8RejectInvalid,
})

// cborEnc writes deterministic CBOR with the shortest exact floats.
var cborEnc = mustEncMode(cbor.EncOptions{
	Sort:          cbor.SortCoreDeterministic,
	ShortestFloat: cbor.ShortestFloat16,
	NilContainers: cbor.NilContainerAsEmpty, // an empty vd is h'', not null
})

// The options above are constants; an error is a programming error.
func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	dm, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	em, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}

// decodeSenMLCBOR reads a SenML CBOR payload; see Decode. The array head
// is read here so that errors can name each record's byte offset.
func decodeSenMLCBOR(payload []byte) ([]node.Record, error) {
	n, indefinite, rest, err := cborArrayHead(payload)
	if err != nil {
		return nil, &decodeError{format: senmlCBOR, where: atOffset(0), msg: err.Error()}
	}
	var recs []senmlRec
	for i := 0; indefinite || uint64(i) < n; i++ {
		off := len(payload) - len(rest)
		where := fmt.Sprintf("offset %d: element %d", off, i)
		if len(rest) == 0 {
			return nil, &decodeError{format: senmlCBOR, where: where, msg: "beyond end"}
		}
		if indefinite && rest[0] == 0xff { // break
			rest = rest[1:]
			break
		}
		var m map[any]any
		if rest, err = cborDec.UnmarshalFirst(rest, &m); err != nil {
			return nil, &decodeError{format: senmlCBOR, where: where, msg: err.Error()}
		}
		if m == nil {
			return nil, &decodeError{format: senmlCBOR, where: where, msg: "not a map"}
		}
		r, err := cborRecord(m)
		if err != nil {
			return nil, &decodeError{format: senmlCBOR, where: where, msg: err.Error()}
		}
		r.where = where
		recs = append(recs, r)
	}
	if len(rest) > 0 {
		return nil, &decodeError{format: senmlCBOR, where: atOffset(len(payload) - len(rest)), msg: "data after the array"}
	}
	return resolveSenML(senmlCBOR, recs)
}

// cborArrayHead reads the head of a CBOR array (RFC 8949 §3): the count,
// or indefinite, and the bytes after the head.
func cborArrayHead(b []byte) (n uint64, indefinite bool, rest []byte, err error) {
	if len(b) == 0 || b[0]>>5 != 4 {
		return 0, false, nil, errors.New("not an array")
	}
	ai := b[0] & 0x1f
	switch {
	case ai < 24:
		return uint64(ai), false, b[1:], nil
	case ai == 31:
		return 0, true, b[1:], nil
	case ai > 27:
		return 0, false, nil, fmt.Errorf("bad array head 0x%02x", b[0])
	}
	size := 1 << (ai - 24) // 1, 2, 4 or 8 bytes of count
	if len(b)-1 < size {
		return 0, false, nil, errors.New("array head beyond end")
	}
	for _, c := range b[1 : 1+size] {
		n = n<<8 | uint64(c)
	}
	return n, false, b[1+size:], nil
}

// cborRecord reads the labels of one SenML CBOR record.
func cborRecord(m map[any]any) (senmlRec, error) {
	var r senmlRec
	for _, k := range sortedLabels(m) {
		x := m[k]
		var err error
		switch k := k.(type) {
		case uint64, int64:
			err = r.cborLabel(k, x)
		case string:
			switch {
			case k == textVlo:
				s, ok := x.(string)
				if !ok {
					return r, fmt.Errorf("vlo is %T, not text", x)
				}
				var v node.Value
				if v, err = parseObjLink(s); err == nil {
					r.vals = append(r.vals, v)
				}
			case strings.HasSuffix(k, "_"):
				err = fmt.Errorf("unknown must-understand label %q", k)
			}
		default:
			err = fmt.Errorf("label of type %T", k)
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// sortedLabels orders labels (integers, then text, then others) so that
// the first error reported does not vary with map order.
func sortedLabels(m map[any]any) []any {
	rank := func(k any) (int, int64, string) {
		switch k := k.(type) {
		case int64:
			return 0, k, ""
		case uint64:
			if k > math.MaxInt64 {
				return 1, 0, strconv.FormatUint(k, 10)
			}
			return 0, int64(k), ""
		case string:
			return 2, 0, k
		}
		return 3, 0, fmt.Sprintf("%T %v", k, k)
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b any) int {
		ra, ia, sa := rank(a)
		rb, ib, sb := rank(b)
		return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(ia, ib), strings.Compare(sa, sb))
	})
	return keys
}

// cborLabel reads one integer-labelled field; unknown labels are ignored.
func (r *senmlRec) cborLabel(label any, x any) error {
	var l int64
	switch label := label.(type) {
	case uint64:
		if label > labelVd {
			return nil
		}
		l = int64(label)
	case int64:
		l = label
	}
	switch l {
	case labelBn, labelN:
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("label %d is %T, not text", l, x)
		}
		if l == labelBn {
			r.bn = &s
		} else {
			r.n = s
		}
	case labelV:
		v, err := cborNumber(x)
		if err != nil {
			return err
		}
		r.vals = append(r.vals, v)
	case labelVs:
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("vs is %T, not text", x)
		}
		r.vals = append(r.vals, node.String(s))
	case labelVb:
		b, ok := x.(bool)
		if !ok {
			return fmt.Errorf("vb is %T, not a boolean", x)
		}
		r.vals = append(r.vals, node.Boolean(b))
	case labelVd:
		b, ok := x.([]byte)
		if !ok {
			return fmt.Errorf("vd is %T, not a byte string", x)
		}
		r.vals = append(r.vals, node.Opaque(b))
	}
	return nil
}

// cborNumber reads v: integers as node.Integer (node.Unsigned beyond
// int64), floats through floatValue.
func cborNumber(x any) (node.Value, error) {
	switch x := x.(type) {
	case uint64:
		if x > math.MaxInt64 {
			return node.Unsigned(x), nil
		}
		return node.Integer(int64(x)), nil
	case int64:
		return node.Integer(x), nil
	case float64:
		return floatValue(x), nil
	case float32:
		return floatValue(float64(x)), nil
	}
	return node.Value{}, fmt.Errorf("v is %T, not a number", x)
}

// encodeSenMLCBOR writes records as SenML CBOR; see Encode.
func encodeSenMLCBOR(base node.Path, recs []node.Record) ([]byte, error) {
	plan, err := planSenML(senmlCBOR, base, recs)
	if err != nil {
		return nil, err
	}
	out := make([]map[any]any, len(plan))
	for i, p := range plan {
		m := map[any]any{}
		if p.bn != "" {
			m[labelBn] = p.bn
		}
		if p.n != "" {
			m[labelN] = p.n
		}
		switch p.field {
		case "v":
			m[labelV] = p.num
		case "vs":
			m[labelVs] = p.str
		case "vb":
			m[labelVb] = p.b
		case "vd":
			m[labelVd] = p.data
		case "vlo":
			m[textVlo] = p.str
		}
		out[i] = m
	}
	b, err := cborEnc.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("codec: %s: %w", senmlCBOR, err)
	}
	return b, nil
}
