package codec

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// Format is a CoAP content-format number (the Content-Format and Accept
// options).
type Format uint16

// Content formats LwM2M uses. Decode and Encode handle text, opaque, TLV
// and SenML JSON/CBOR; the others are named for logs and negotiation.
const (
	FormatText       Format = 0
	FormatLinkFormat Format = 40
	FormatOpaque     Format = 42
	FormatCBOR       Format = 60
	FormatSenMLJSON  Format = 110
	FormatSenMLCBOR  Format = 112
	FormatTLV        Format = 11542
	FormatLwM2MJSON  Format = 11543
)

var formatNames = map[Format]string{
	FormatText:       "text/plain",
	FormatLinkFormat: "application/link-format",
	FormatOpaque:     "application/octet-stream",
	FormatCBOR:       "application/cbor",
	FormatSenMLJSON:  "application/senml+json",
	FormatSenMLCBOR:  "application/senml+cbor",
	FormatTLV:        "application/vnd.oma.lwm2m+tlv",
	FormatLwM2MJSON:  "application/vnd.oma.lwm2m+json",
}

// String is the media type, or "format(N)" for a number not listed.
func (f Format) String() string {
	if s, ok := formatNames[f]; ok {
		return s
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// Decode decodes a payload read or written at base (the request path)
// into flat records sorted by path.
//
//   - text/plain and opaque need base to be a resource or resource
//     instance path (else ErrNotSingle): one record at base holding
//     node.RawText or node.Opaque.
//   - TLV gives node.RawBinary values at base plus the TLV identifiers:
//     object instances at an object path, resources at an instance path,
//     the resource or its instances at a resource path.
//   - SenML JSON and CBOR give typed values at the paths the names (bn+n)
//     spell; names need not lie under base (a Send to /dp has none).
//     SenML records with the same name (a time series) are all kept, in
//     payload order.
//
// Decode errors wrap ErrMalformed. The records do not alias payload.
func Decode(f Format, base node.Path, payload []byte) ([]node.Record, error) {
	switch f {
	case FormatText:
		return decodeText(base, payload)
	case FormatOpaque:
		return decodeOpaque(base, payload)
	case FormatTLV:
		return decodeTLV(base, payload)
	case FormatSenMLJSON:
		return decodeSenMLJSON(payload)
	case FormatSenMLCBOR:
		return decodeSenMLCBOR(payload)
	}
	return nil, fmt.Errorf("codec: decode %s: %w", f, ErrUnsupportedFormat)
}

// Encode encodes records, all at or under base, in the format.
//
//   - text/plain and opaque take exactly one record whose path is base
//     (else ErrNotSingle); text uses EncodeText, opaque takes node.Opaque
//     or node.RawBinary.
//   - TLV nests by base (object instances at an object path, resources at
//     an instance path); records at resource instance paths become a
//     multiple resource. Raw values are written as their bytes or text.
//   - SenML JSON and CBOR write bn = base + "/" on the first record and
//     names relative to it; raw values are first typed with the models
//     (node.Typed), and those left raw go as vs (text) or vd (bytes).
//
// Errors about paths wrap node.ErrBadPath, about values node.ErrType.
func Encode(f Format, base node.Path, recs []node.Record) ([]byte, error) {
	switch f {
	case FormatText:
		return encodeText(base, recs)
	case FormatOpaque:
		return encodeOpaque(base, recs)
	case FormatTLV:
		return encodeTLV(base, recs)
	case FormatSenMLJSON:
		return encodeSenMLJSON(base, recs)
	case FormatSenMLCBOR:
		return encodeSenMLCBOR(base, recs)
	}
	return nil, fmt.Errorf("codec: encode %s: %w", f, ErrUnsupportedFormat)
}

// sortRecords sorts by path, keeping the order of equal paths.
func sortRecords(recs []node.Record) {
	slices.SortStableFunc(recs, func(a, b node.Record) int { return a.Path.Compare(b.Path) })
}

// checkEncodable checks that every record lies at or under base and names
// a resource or resource instance (3 or 4 ids).
func checkEncodable(format string, base node.Path, recs []node.Record) error {
	for _, r := range recs {
		if !r.Path.HasPrefix(base) {
			return fmt.Errorf("codec: %s: record %s is not under %s: %w", format, r.Path, base, node.ErrBadPath)
		}
		if r.Path.Len() < 3 {
			return fmt.Errorf("codec: %s: record %s is not a resource path: %w", format, r.Path, node.ErrBadPath)
		}
	}
	return nil
}

// isResourcePath tells whether p names a resource or resource instance.
func isResourcePath(p node.Path) bool { return p.Len() >= 3 }
