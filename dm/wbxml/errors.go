package wbxml

import (
	"errors"
	"fmt"
)

// Sentinel errors; a *SyntaxError wraps one of them, so callers can branch with
// errors.Is.
var (
	// ErrTruncated: the input ended inside a token, a length or a string.
	ErrTruncated = errors.New("unexpected end of input")
	// ErrMalformed: a token, index or value is not valid where it stands.
	ErrMalformed = errors.New("malformed document")
	// ErrUnknownTag: a tag token has no name in the caller's code pages.
	ErrUnknownTag = errors.New("unknown tag")
	// ErrLimit: the document exceeds a Limits bound.
	ErrLimit = errors.New("limit exceeded")
	// ErrUnsupported: a valid WBXML feature the decoder does not carry
	// (an unsupported charset, extension tokens).
	ErrUnsupported = errors.New("unsupported")
)

// SyntaxError reports where decoding failed and what was expected there.
type SyntaxError struct {
	Offset int    // byte offset in the input
	Msg    string // what was expected or found
	Err    error  // one of the sentinels above
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("wbxml: offset %d: %s: %v", e.Offset, e.Msg, e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }
