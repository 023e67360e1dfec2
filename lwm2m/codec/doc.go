// Package codec owns the LwM2M content formats: it turns payloads of
// text/plain (0), application/octet-stream (42), LwM2M TLV (11542),
// SenML JSON (110) and SenML CBOR (112) into flat node.Records and back.
// Pure: bytes in, records out; no sockets, no clocks.
//
// Decode takes the request path (base) because TLV and text do not carry
// full paths: TLV identifiers are relative to the level of base, and a
// text or opaque payload is the value of base itself. SenML names carry
// full paths (bn + n), so base only shapes the names Encode writes.
//
// Values whose type the wire does not say (TLV bytes, text) decode to
// node.RawBinary and node.RawText; node.Typed converts them with the
// object models. SenML values arrive typed: v as node.Integer when
// integral (node.Unsigned above int64, node.Float otherwise), vs as
// node.String, vb as node.Boolean, vd as node.Opaque, vlo as node.Link.
//
// Every decode error wraps ErrMalformed and names the byte offset or the
// SenML element where decoding stopped, for example
//
//	codec: tlv: offset 7: length 300 beyond end (5 bytes left)
//
// Decoders never panic, whatever the input; fuzz targets in the tests
// check that decode, encode and decode again give the same records.
package codec
