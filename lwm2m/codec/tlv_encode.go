package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// encodeTLV writes records at base as TLV; see Encode. The nesting
// follows base: object instances at an object path, resources at an
// instance path, the resource at a resource path (a multiple resource
// when the records are resource instances), one resource instance at a
// resource instance path.
func encodeTLV(base node.Path, recs []node.Record) ([]byte, error) {
	if base.Len() == 0 {
		return nil, fmt.Errorf("codec: tlv: no TLV form at /: %w", ErrUnsupportedFormat)
	}
	if err := checkEncodable("tlv", base, recs); err != nil {
		return nil, err
	}
	sorted := slices.Clone(recs)
	sortRecords(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Path.HasPrefix(sorted[i-1].Path) {
			return nil, fmt.Errorf("codec: tlv: record %s conflicts with %s: %w", sorted[i].Path, sorted[i-1].Path, node.ErrBadPath)
		}
	}
	var out []byte
	var err error
	switch base.Len() {
	case 1:
		// One object instance element per instance, resources inside.
		for i := 0; i < len(sorted); {
			inst := sorted[i].Path.ID(1)
			j := i
			for j < len(sorted) && sorted[j].Path.ID(1) == inst {
				j++
			}
			var body []byte
			if body, err = appendResources(nil, sorted[i:j]); err != nil {
				return nil, err
			}
			if out, err = appendTLV(out, kindObjectInstance, inst, body); err != nil {
				return nil, err
			}
			i = j
		}
	case 2, 3:
		out, err = appendResources(nil, sorted)
	default:
		if len(sorted) == 1 {
			out, err = appendValue(nil, kindResourceInstance, sorted[0])
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendResources appends the resources of one object instance, sorted:
// a record at a resource path is a resource with value; records at
// resource instance paths of one resource make a multiple resource.
func appendResources(dst []byte, recs []node.Record) ([]byte, error) {
	var err error
	for i := 0; i < len(recs); {
		rid := recs[i].Path.ID(2)
		if recs[i].Path.Len() == 3 {
			if dst, err = appendValue(dst, kindResource, recs[i]); err != nil {
				return nil, err
			}
			i++
			continue
		}
		var body []byte
		j := i
		for ; j < len(recs) && recs[j].Path.Len() == 4 && recs[j].Path.ID(2) == rid; j++ {
			if body, err = appendValue(body, kindResourceInstance, recs[j]); err != nil {
				return nil, err
			}
		}
		if dst, err = appendTLV(dst, kindMultipleResource, rid, body); err != nil {
			return nil, err
		}
		i = j
	}
	return dst, nil
}

// appendValue appends one element holding the record's value, with the
// last id of its path.
func appendValue(dst []byte, kind tlvKind, r node.Record) ([]byte, error) {
	v, err := tlvValue(r.Value)
	if err != nil {
		return nil, fmt.Errorf("codec: tlv: %s: %w", r.Path, err)
	}
	return appendTLV(dst, kind, r.Path.ID(r.Path.Len()-1), v)
}

// appendTLV appends an element header (with the shortest identifier and
// length fields) and its value.
func appendTLV(dst []byte, kind tlvKind, id uint16, value []byte) ([]byte, error) {
	n := len(value)
	if n > maxTLVLength {
		return nil, fmt.Errorf("codec: tlv: %s %d: value of %d bytes exceeds the 24-bit length: %w", kind, id, n, node.ErrType)
	}
	t := byte(kind) << 6
	if id > 0xFF {
		t |= 0x20
	}
	lenLen := 0
	switch {
	case n <= 7:
		t |= byte(n)
	case n <= 0xFF:
		lenLen = 1
	case n <= 0xFFFF:
		lenLen = 2
	default:
		lenLen = 3
	}
	t |= byte(lenLen) << 3
	dst = append(dst, t)
	if id > 0xFF {
		dst = append(dst, byte(id>>8))
	}
	dst = append(dst, byte(id))
	for k := lenLen - 1; k >= 0; k-- {
		dst = append(dst, byte(n>>(8*k)))
	}
	return append(dst, value...), nil
}

// tlvValue renders a value as TLV value bytes: integers (and time) in the
// shortest of 1/2/4/8 bytes two's complement, unsigned in the shortest of
// 1/2/4/8 bytes, floats in 4 bytes when float32 holds them exactly (else
// 8), booleans in 1 byte, object links as two uint16, strings as UTF-8,
// opaque and raw binary as they are, raw text as its bytes.
func tlvValue(v node.Value) ([]byte, error) {
	switch v.Type() {
	case node.TypeString, node.TypeCorelnk, node.TypeRawText:
		s, err := v.Str()
		return []byte(s), err
	case node.TypeOpaque, node.TypeRawBinary:
		return v.Bytes()
	case node.TypeInteger, node.TypeTime:
		i, err := v.Int()
		switch {
		case i >= math.MinInt8 && i <= math.MaxInt8:
			return []byte{byte(i)}, err
		case i >= math.MinInt16 && i <= math.MaxInt16:
			return binary.BigEndian.AppendUint16(nil, uint16(i)), err
		case i >= math.MinInt32 && i <= math.MaxInt32:
			return binary.BigEndian.AppendUint32(nil, uint32(i)), err
		}
		return binary.BigEndian.AppendUint64(nil, uint64(i)), err
	case node.TypeUnsigned:
		u, err := v.Uint()
		switch {
		case u <= math.MaxUint8:
			return []byte{byte(u)}, err
		case u <= math.MaxUint16:
			return binary.BigEndian.AppendUint16(nil, uint16(u)), err
		case u <= math.MaxUint32:
			return binary.BigEndian.AppendUint32(nil, uint32(u)), err
		}
		return binary.BigEndian.AppendUint64(nil, u), err
	case node.TypeFloat:
		f, err := v.Float64()
		if f32 := float32(f); float64(f32) == f {
			return binary.BigEndian.AppendUint32(nil, math.Float32bits(f32)), err
		}
		return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)), err
	case node.TypeBoolean:
		b, err := v.Bool()
		if b {
			return []byte{1}, err
		}
		return []byte{0}, err
	case node.TypeObjlnk:
		l, err := v.ObjLink()
		return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, l.Object), l.Instance), err
	}
	return nil, fmt.Errorf("%s value has no TLV form: %w", v.Type(), node.ErrType)
}
