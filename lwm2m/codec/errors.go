package codec

import (
	"errors"
	"fmt"
)

// Sentinel errors; test them with errors.Is.
var (
	// ErrUnsupportedFormat: the content format is not one this package
	// encodes or decodes, or it has no form at the path level asked
	// (TLV at the root).
	ErrUnsupportedFormat = errors.New("codec: unsupported content format")

	// ErrMalformed: a payload does not decode. The wrapping error names
	// the format and the byte offset or element where decoding stopped.
	ErrMalformed = errors.New("codec: malformed payload")

	// ErrNotSingle: text/plain and opaque carry exactly one value, at a
	// resource or resource instance path equal to the request path.
	ErrNotSingle = errors.New("codec: not a single resource value")
)

// decodeError is a decode failure: "codec: <format>: <where>: <msg>". It
// wraps ErrMalformed and, when there is one, the cause (a node error).
type decodeError struct {
	format string // "tlv", "senml json", ...
	where  string // "offset 7", "element 2"
	msg    string
	cause  error
}

func (e *decodeError) Error() string {
	s := "codec: " + e.format + ": "
	if e.where != "" {
		s += e.where + ": "
	}
	s += e.msg
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *decodeError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrMalformed, e.cause}
	}
	return []error{ErrMalformed}
}

// atOffset and atElement render the where of a decodeError.
func atOffset(off int) string { return fmt.Sprintf("offset %d", off) }
func atElement(i int) string  { return fmt.Sprintf("element %d", i) }
