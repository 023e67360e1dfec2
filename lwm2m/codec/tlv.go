package codec

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// LwM2M TLV (11542), OMA-TS-LightweightM2M-Core §7.4.3. An element is
//
//	type byte  bits 7-6 identifier kind (tlvKind)
//	           bit  5   identifier length: 0 8-bit, 1 16-bit
//	           bits 4-3 length type: 00 length in bits 2-0, 01/10/11 an
//	                    8/16/24-bit length field follows the identifier
//	           bits 2-0 the length when the length type is 00
//	identifier 1 or 2 bytes, big-endian
//	length     0 to 3 bytes, big-endian
//	value      object instance and multiple resource elements hold
//	           elements; the others hold a resource value.
//
// Nesting is at most object instance > multiple resource > resource
// instance, so the decoder is bounded without a depth counter.

// tlvKind is the identifier kind of a TLV element.
type tlvKind uint8

const (
	kindObjectInstance   tlvKind = 0 // 00: holds resources
	kindResourceInstance tlvKind = 1 // 01: one instance of a multiple resource
	kindMultipleResource tlvKind = 2 // 10: holds resource instances
	kindResource         tlvKind = 3 // 11: a single resource with value
)

var kindNames = [...]string{"object instance", "resource instance", "multiple resource", "resource"}

func (k tlvKind) String() string { return kindNames[k&3] }

// maxTLVLength is the largest value a 24-bit length field can hold.
const maxTLVLength = 1<<24 - 1

// tlvElem is one parsed element; value aliases the decoder's copy of the
// payload.
type tlvElem struct {
	kind  tlvKind
	id    uint16
	off   int // payload offset of the type byte
	voff  int // payload offset of the value
	value []byte
}

func tlvErr(off int, format string, args ...any) error {
	return &decodeError{format: "tlv", where: atOffset(off), msg: fmt.Sprintf(format, args...)}
}

// parseTLV splits b, found at payload offset base, into its elements.
func parseTLV(b []byte, base int) ([]tlvElem, error) {
	var out []tlvElem
	for i := 0; i < len(b); {
		e := tlvElem{off: base + i}
		t := b[i]
		i++
		e.kind = tlvKind(t >> 6)
		idLen := 1
		if t&0x20 != 0 {
			idLen = 2
		}
		if len(b)-i < idLen {
			return nil, tlvErr(e.off, "identifier beyond end (%d bytes left)", len(b)-i)
		}
		if idLen == 1 {
			e.id = uint16(b[i])
		} else {
			e.id = uint16(b[i])<<8 | uint16(b[i+1])
			if e.id > node.MaxID {
				return nil, tlvErr(e.off, "identifier %d is reserved", e.id)
			}
		}
		i += idLen
		n := int(t & 7)
		if lenLen := int(t>>3) & 3; lenLen > 0 {
			if len(b)-i < lenLen {
				return nil, tlvErr(e.off, "%d-bit length field beyond end (%d bytes left)", 8*lenLen, len(b)-i)
			}
			n = 0
			for _, c := range b[i : i+lenLen] {
				n = n<<8 | int(c)
			}
			i += lenLen
		}
		if n > len(b)-i {
			return nil, tlvErr(e.off, "length %d beyond end (%d bytes left)", n, len(b)-i)
		}
		e.voff = base + i
		e.value = b[i : i+n : i+n]
		i += n
		out = append(out, e)
	}
	return out, nil
}

// tlvDecoder collects records with the offsets of their elements.
type tlvDecoder struct {
	recs []tlvRecord
}

type tlvRecord struct {
	rec node.Record
	off int
}

func (d *tlvDecoder) add(p node.Path, e tlvElem) {
	d.recs = append(d.recs, tlvRecord{node.Record{Path: p, Value: node.RawBinary(e.value)}, e.off})
}

// decodeTLV reads a TLV payload at base; see Decode.
func decodeTLV(base node.Path, payload []byte) ([]node.Record, error) {
	if base.Len() == 0 {
		return nil, fmt.Errorf("codec: tlv: no TLV form at /: %w", ErrUnsupportedFormat)
	}
	elems, err := parseTLV(bytes.Clone(payload), 0)
	if err != nil {
		return nil, err
	}
	var d tlvDecoder
	switch base.Len() {
	case 1:
		err = d.object(base, elems)
	case 2:
		err = d.instance(base, elems)
	case 3:
		err = d.resource(base, elems)
	default:
		err = d.resourceInstance(base, elems)
	}
	if err != nil {
		return nil, err
	}
	return d.finish()
}

// kindErr reports an element whose identifier kind does not belong where
// it was found.
func kindErr(e tlvElem, where string) error {
	return tlvErr(e.off, "%s %d not allowed in %s", e.kind, e.id, where)
}

// object reads the object instances of an object.
func (d *tlvDecoder) object(obj node.Path, elems []tlvElem) error {
	for _, e := range elems {
		if e.kind != kindObjectInstance {
			return kindErr(e, "an object")
		}
		children, err := parseTLV(e.value, e.voff)
		if err != nil {
			return err
		}
		if err := d.resources(obj.Append(e.id), children); err != nil {
			return err
		}
	}
	return nil
}

// instance reads the resources of an object instance. Some clients wrap
// them in the instance's own object instance element: that is accepted
// when its id is the instance's.
func (d *tlvDecoder) instance(inst node.Path, elems []tlvElem) error {
	if len(elems) == 1 && elems[0].kind == kindObjectInstance {
		e := elems[0]
		if id, _ := inst.Instance(); e.id != id {
			return tlvErr(e.off, "object instance %d in %s", e.id, inst)
		}
		var err error
		if elems, err = parseTLV(e.value, e.voff); err != nil {
			return err
		}
	}
	return d.resources(inst, elems)
}

// resources reads resources (single or multiple) of an object instance.
func (d *tlvDecoder) resources(inst node.Path, elems []tlvElem) error {
	for _, e := range elems {
		switch e.kind {
		case kindResource:
			d.add(inst.Append(e.id), e)
		case kindMultipleResource:
			if err := d.multiple(inst.Append(e.id), e); err != nil {
				return err
			}
		default:
			return kindErr(e, "an object instance")
		}
	}
	return nil
}

// multiple reads the resource instances inside a multiple resource.
func (d *tlvDecoder) multiple(res node.Path, e tlvElem) error {
	children, err := parseTLV(e.value, e.voff)
	if err != nil {
		return err
	}
	for _, c := range children {
		if c.kind != kindResourceInstance {
			return kindErr(c, "a multiple resource")
		}
		d.add(res.Append(c.id), c)
	}
	return nil
}

// resource reads a payload at a resource path: the resource itself (with
// a value, or multiple) with the path's id, or bare resource instances.
func (d *tlvDecoder) resource(res node.Path, elems []tlvElem) error {
	rid, _ := res.Resource()
	if len(elems) == 1 && (elems[0].kind == kindResource || elems[0].kind == kindMultipleResource) {
		e := elems[0]
		if e.id != rid {
			return tlvErr(e.off, "%s %d at %s", e.kind, e.id, res)
		}
		if e.kind == kindMultipleResource {
			return d.multiple(res, e)
		}
		d.add(res, e)
		return nil
	}
	for _, e := range elems {
		if e.kind != kindResourceInstance {
			return kindErr(e, "a resource")
		}
		d.add(res.Append(e.id), e)
	}
	return nil
}

// resourceInstance reads a payload at a resource instance path: one
// element with the path's id (resource instance, or resource as some
// clients write it).
func (d *tlvDecoder) resourceInstance(ri node.Path, elems []tlvElem) error {
	id, _ := ri.ResourceInstance()
	for i, e := range elems {
		switch {
		case i > 0:
			return tlvErr(e.off, "more than one element at %s", ri)
		case e.kind != kindResourceInstance && e.kind != kindResource:
			return kindErr(e, "a resource instance")
		case e.id != id:
			return tlvErr(e.off, "%s %d at %s", e.kind, e.id, ri)
		}
		d.add(ri, e)
	}
	return nil
}

// finish sorts the records by path and rejects a path given twice, or
// given both as a resource with value and as a multiple resource.
func (d *tlvDecoder) finish() ([]node.Record, error) {
	slices.SortStableFunc(d.recs, func(a, b tlvRecord) int {
		return cmp.Or(a.rec.Path.Compare(b.rec.Path), a.off-b.off)
	})
	out := make([]node.Record, len(d.recs))
	for i, r := range d.recs {
		if i > 0 && r.rec.Path.HasPrefix(d.recs[i-1].rec.Path) {
			prev := d.recs[i-1]
			if r.rec.Path == prev.rec.Path {
				return nil, tlvErr(max(r.off, prev.off), "duplicate %s", r.rec.Path)
			}
			return nil, tlvErr(max(r.off, prev.off), "%s conflicts with %s", r.rec.Path, prev.rec.Path)
		}
		out[i] = r.rec
	}
	return out, nil
}
