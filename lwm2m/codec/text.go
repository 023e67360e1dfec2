package codec

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// EncodeText renders a value as LwM2M text/plain: strings and core links
// as they are, integers, unsigned and time (seconds) in decimal, floats in
// the shortest decimal that reads back the same, booleans "0"/"1",
// object links "o:i". Opaque and raw binary values have no text form (use
// FormatOpaque), nor have NaN, infinities or a value of TypeNone; the
// error wraps node.ErrType.
func EncodeText(v node.Value) ([]byte, error) {
	switch v.Type() {
	case node.TypeString, node.TypeCorelnk, node.TypeRawText:
		s, err := v.Str()
		return []byte(s), err
	case node.TypeInteger, node.TypeTime:
		i, err := v.Int()
		return strconv.AppendInt(nil, i, 10), err
	case node.TypeUnsigned:
		u, err := v.Uint()
		return strconv.AppendUint(nil, u, 10), err
	case node.TypeFloat:
		f, err := v.Float64()
		if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return nil, fmt.Errorf("codec: text: float %v has no text form: %w", f, node.ErrType)
		}
		return strconv.AppendFloat(nil, f, 'g', -1, 64), err
	case node.TypeBoolean:
		b, err := v.Bool()
		if b {
			return []byte("1"), err
		}
		return []byte("0"), err
	case node.TypeObjlnk:
		l, err := v.ObjLink()
		return []byte(l.String()), err
	}
	return nil, fmt.Errorf("codec: text: %s value has no text form: %w", v.Type(), node.ErrType)
}

// decodeText reads a text/plain payload: one node.RawText at base. The
// payload must be UTF-8.
func decodeText(base node.Path, payload []byte) ([]node.Record, error) {
	if !isResourcePath(base) {
		return nil, fmt.Errorf("codec: text: %s is not a resource path: %w", base, ErrNotSingle)
	}
	if !utf8.Valid(payload) {
		return nil, &decodeError{format: "text", where: atOffset(firstInvalidUTF8(payload)), msg: "invalid UTF-8"}
	}
	return []node.Record{{Path: base, Value: node.RawText(string(payload))}}, nil
}

// firstInvalidUTF8 is the offset of the first byte that does not start a
// valid UTF-8 sequence (len(b) if there is none).
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// encodeText writes the single record at base with EncodeText.
func encodeText(base node.Path, recs []node.Record) ([]byte, error) {
	r, err := single("text", base, recs)
	if err != nil {
		return nil, err
	}
	return EncodeText(r.Value)
}

// single returns the one record text/plain and opaque can carry: exactly
// one, at base, and base a resource or resource instance.
func single(format string, base node.Path, recs []node.Record) (node.Record, error) {
	if !isResourcePath(base) {
		return node.Record{}, fmt.Errorf("codec: %s: %s is not a resource path: %w", format, base, ErrNotSingle)
	}
	if len(recs) != 1 {
		return node.Record{}, fmt.Errorf("codec: %s: %d records at %s: %w", format, len(recs), base, ErrNotSingle)
	}
	if recs[0].Path != base {
		return node.Record{}, fmt.Errorf("codec: %s: record %s is not at %s: %w", format, recs[0].Path, base, ErrNotSingle)
	}
	return recs[0], nil
}
