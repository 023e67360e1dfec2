package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrType: a value cannot be read as the asked type.
var ErrType = errors.New("lwm2m: value type")

// Type is an LwM2M resource data type. TypeRawBinary and TypeRawText are
// values whose type the wire did not say (TLV bytes, text/plain): they
// convert to any type on demand, with a model (Typed) or by the accessor
// the caller uses.
type Type uint8

const (
	TypeNone Type = iota // executable resources, or no value
	TypeString
	TypeInteger
	TypeUnsigned
	TypeFloat
	TypeBoolean
	TypeOpaque
	TypeTime
	TypeObjlnk
	TypeCorelnk
	TypeRawBinary // TLV value bytes, type not yet known
	TypeRawText   // text/plain value, type not yet known
)

var typeNames = [...]string{"none", "string", "integer", "unsigned", "float", "boolean", "opaque", "time", "objlnk", "corelnk", "raw-binary", "raw-text"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ObjLink is an Objlnk value: an object id and an instance id.
type ObjLink struct{ Object, Instance uint16 }

func (l ObjLink) String() string { return fmt.Sprintf("%d:%d", l.Object, l.Instance) }

// Value is one resource (instance) value. The zero Value is TypeNone.
type Value struct {
	typ  Type
	s    string  // String, Corelnk, RawText
	b    []byte  // Opaque, RawBinary
	i    int64   // Integer, Time, Boolean (0/1)
	u    uint64  // Unsigned
	f    float64 // Float
	link ObjLink
}

// Constructors, one per type.
func String(s string) Value    { return Value{typ: TypeString, s: s} }
func Integer(i int64) Value    { return Value{typ: TypeInteger, i: i} }
func Unsigned(u uint64) Value  { return Value{typ: TypeUnsigned, u: u} }
func Float(f float64) Value    { return Value{typ: TypeFloat, f: f} }
func Opaque(b []byte) Value    { return Value{typ: TypeOpaque, b: b} }
func Time(t time.Time) Value   { return Value{typ: TypeTime, i: t.Unix()} }
func Link(o, i uint16) Value   { return Value{typ: TypeObjlnk, link: ObjLink{o, i}} }
func Corelnk(s string) Value   { return Value{typ: TypeCorelnk, s: s} }
func RawBinary(b []byte) Value { return Value{typ: TypeRawBinary, b: b} }
func RawText(s string) Value   { return Value{typ: TypeRawText, s: s} }
func Boolean(v bool) Value {
	if v {
		return Value{typ: TypeBoolean, i: 1}
	}
	return Value{typ: TypeBoolean}
}

// Type is the value's type.
func (v Value) Type() Type { return v.typ }

func (v Value) errType(want Type) error {
	return fmt.Errorf("%w: %s value read as %s", ErrType, v.typ, want)
}

// Int reads an Integer or Time (and anything that holds an integer: an
// Unsigned that fits, an integral Float, a Boolean, raw bytes of 1, 2, 4
// or 8 bytes, raw text).
func (v Value) Int() (int64, error) {
	switch v.typ {
	case TypeInteger, TypeTime, TypeBoolean:
		return v.i, nil
	case TypeUnsigned:
		if v.u > math.MaxInt64 {
			return 0, v.errType(TypeInteger)
		}
		return int64(v.u), nil
	case TypeFloat:
		if v.f != math.Trunc(v.f) || math.Abs(v.f) > 1<<62 {
			return 0, v.errType(TypeInteger)
		}
		return int64(v.f), nil
	case TypeRawBinary:
		switch len(v.b) {
		case 1:
			return int64(int8(v.b[0])), nil
		case 2:
			return int64(int16(binary.BigEndian.Uint16(v.b))), nil
		case 4:
			return int64(int32(binary.BigEndian.Uint32(v.b))), nil
		case 8:
			return int64(binary.BigEndian.Uint64(v.b)), nil
		}
	case TypeRawText:
		i, err := strconv.ParseInt(v.s, 10, 64)
		if err == nil {
			return i, nil
		}
	}
	return 0, v.errType(TypeInteger)
}

// Uint reads an Unsigned (or a non-negative integer).
func (v Value) Uint() (uint64, error) {
	switch v.typ {
	case TypeUnsigned:
		return v.u, nil
	case TypeRawBinary:
		switch len(v.b) {
		case 1, 2, 4, 8:
			var u uint64
			for _, c := range v.b {
				u = u<<8 | uint64(c)
			}
			return u, nil
		}
	case TypeRawText:
		u, err := strconv.ParseUint(v.s, 10, 64)
		if err == nil {
			return u, nil
		}
	default:
		i, err := v.Int()
		if err == nil && i >= 0 {
			return uint64(i), nil
		}
	}
	return 0, v.errType(TypeUnsigned)
}

// Float64 reads a Float (or any number).
func (v Value) Float64() (float64, error) {
	switch v.typ {
	case TypeFloat:
		return v.f, nil
	case TypeUnsigned:
		return float64(v.u), nil
	case TypeRawBinary:
		switch len(v.b) {
		case 4:
			return float64(math.Float32frombits(binary.BigEndian.Uint32(v.b))), nil
		case 8:
			return math.Float64frombits(binary.BigEndian.Uint64(v.b)), nil
		}
	case TypeRawText:
		f, err := strconv.ParseFloat(v.s, 64)
		if err == nil {
			return f, nil
		}
	case TypeInteger, TypeTime:
		return float64(v.i), nil
	}
	return 0, v.errType(TypeFloat)
}

// Bool reads a Boolean (raw: one byte 0/1, text "0"/"1").
func (v Value) Bool() (bool, error) {
	switch v.typ {
	case TypeBoolean:
		return v.i != 0, nil
	case TypeRawBinary:
		if len(v.b) == 1 && v.b[0] <= 1 {
			return v.b[0] == 1, nil
		}
	case TypeRawText:
		if v.s == "0" || v.s == "1" {
			return v.s == "1", nil
		}
	}
	return false, v.errType(TypeBoolean)
}

// Str reads a String or Corelnk (raw bytes are taken as UTF-8).
func (v Value) Str() (string, error) {
	switch v.typ {
	case TypeString, TypeCorelnk, TypeRawText:
		return v.s, nil
	case TypeRawBinary, TypeOpaque:
		return string(v.b), nil
	}
	return "", v.errType(TypeString)
}

// Bytes reads an Opaque (raw bytes, or a string's bytes).
func (v Value) Bytes() ([]byte, error) {
	switch v.typ {
	case TypeOpaque, TypeRawBinary:
		return v.b, nil
	case TypeString, TypeCorelnk, TypeRawText:
		return []byte(v.s), nil
	}
	return nil, v.errType(TypeOpaque)
}

// ObjLink reads an Objlnk (raw: 4 bytes; text: "o:i").
func (v Value) ObjLink() (ObjLink, error) {
	switch v.typ {
	case TypeObjlnk:
		return v.link, nil
	case TypeRawBinary:
		if len(v.b) == 4 {
			return ObjLink{binary.BigEndian.Uint16(v.b), binary.BigEndian.Uint16(v.b[2:])}, nil
		}
	case TypeRawText:
		o, i, ok := strings.Cut(v.s, ":")
		on, err1 := strconv.ParseUint(o, 10, 16)
		in, err2 := strconv.ParseUint(i, 10, 16)
		if ok && err1 == nil && err2 == nil {
			return ObjLink{uint16(on), uint16(in)}, nil
		}
	}
	return ObjLink{}, v.errType(TypeObjlnk)
}

// As converts the value to type t with the accessor of that type: raw
// values convert to any type they hold; typed values convert where the
// accessor allows (numbers to numbers, String and Opaque to each other).
func (v Value) As(t Type) (Value, error) {
	if v.typ == t {
		return v, nil
	}
	switch t {
	case TypeString:
		s, err := v.Str()
		return String(s), err
	case TypeCorelnk:
		s, err := v.Str()
		return Corelnk(s), err
	case TypeInteger:
		i, err := v.Int()
		return Integer(i), err
	case TypeTime:
		i, err := v.Int()
		return Value{typ: TypeTime, i: i}, err
	case TypeUnsigned:
		u, err := v.Uint()
		return Unsigned(u), err
	case TypeFloat:
		f, err := v.Float64()
		return Float(f), err
	case TypeBoolean:
		b, err := v.Bool()
		return Boolean(b), err
	case TypeOpaque:
		b, err := v.Bytes()
		return Opaque(b), err
	case TypeObjlnk:
		l, err := v.ObjLink()
		return Link(l.Object, l.Instance), err
	case TypeNone:
		return Value{}, nil
	}
	return Value{}, v.errType(t)
}

// Equal compares type and content.
func (v Value) Equal(w Value) bool {
	return v.typ == w.typ && v.s == w.s && bytes.Equal(v.b, w.b) && v.i == w.i && v.u == w.u &&
		(v.f == w.f || (math.IsNaN(v.f) && math.IsNaN(w.f))) && v.link == w.link
}

// String renders the value for logs and tests.
func (v Value) String() string {
	switch v.typ {
	case TypeNone:
		return "<none>"
	case TypeString, TypeCorelnk, TypeRawText:
		return strconv.Quote(v.s)
	case TypeInteger, TypeTime:
		return strconv.FormatInt(v.i, 10)
	case TypeBoolean:
		return strconv.FormatBool(v.i != 0)
	case TypeUnsigned:
		return strconv.FormatUint(v.u, 10)
	case TypeFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case TypeOpaque, TypeRawBinary:
		return fmt.Sprintf("%x", v.b)
	case TypeObjlnk:
		return v.link.String()
	}
	return "?"
}

// Record is one value at a resource or resource-instance path: the flat
// form every content format decodes to.
type Record struct {
	Path  Path
	Value Value
}

func (r Record) String() string { return r.Path.String() + "=" + r.Value.String() }
