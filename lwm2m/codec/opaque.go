package codec

import (
	"bytes"
	"fmt"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// decodeOpaque reads an application/octet-stream payload: one node.Opaque
// at base (a copy of the payload; any bytes are valid).
func decodeOpaque(base node.Path, payload []byte) ([]node.Record, error) {
	if !isResourcePath(base) {
		return nil, fmt.Errorf("codec: opaque: %s is not a resource path: %w", base, ErrNotSingle)
	}
	return []node.Record{{Path: base, Value: node.Opaque(bytes.Clone(payload))}}, nil
}

// encodeOpaque writes the bytes of the single node.Opaque or
// node.RawBinary record at base.
func encodeOpaque(base node.Path, recs []node.Record) ([]byte, error) {
	r, err := single("opaque", base, recs)
	if err != nil {
		return nil, err
	}
	switch r.Value.Type() {
	case node.TypeOpaque, node.TypeRawBinary:
		b, err := r.Value.Bytes()
		return bytes.Clone(b), err
	}
	return nil, fmt.Errorf("codec: opaque: %s value at %s is not opaque: %w", r.Value.Type(), r.Path, node.ErrType)
}
