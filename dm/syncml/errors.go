package syncml

import (
	"errors"
	"fmt"
)

// Sentinel errors of the message codec; callers branch with errors.Is.
var (
	// ErrMalformed: the bytes are not a well-formed SyncML message (syntax,
	// a missing or misplaced element, an unknown element inside a command,
	// a value that does not parse).
	ErrMalformed = errors.New("malformed SyncML message")
	// ErrTooLarge: the message exceeds a Limits bound (size, depth,
	// element count).
	ErrTooLarge = errors.New("SyncML message exceeds a limit")
	// ErrUnsupportedVersion: VerDTD or VerProto is not 1.2 / DM/1.2. The
	// error is a *VersionError.
	ErrUnsupportedVersion = errors.New("unsupported SyncML version")
	// ErrUnencodable: a Message value cannot be written in the asked
	// encoding (e.g. binary Data as XML text).
	ErrUnencodable = errors.New("message cannot be encoded")
)

// Sentinel errors of the credential functions.
var (
	// ErrBadCredential: Cred Data that cannot be read (bad base64, no colon).
	ErrBadCredential = errors.New("malformed credential")
	// ErrBadHMACHeader: an x-syncml-hmac header that cannot be read.
	ErrBadHMACHeader = errors.New("malformed x-syncml-hmac header")
)

// Sentinel errors of the Package 0 codec.
var (
	// ErrBadPackage0: bytes that are not a Package 0 notification.
	ErrBadPackage0 = errors.New("malformed package 0")
	// ErrPackage0Digest: the notification's digest does not match.
	ErrPackage0Digest = errors.New("package 0 digest mismatch")
)

// DecodeError says where decoding failed: the byte offset when it is known
// (WBXML always, XML for syntax errors; -1 otherwise), the element path
// (e.g. "SyncML/SyncBody/Status[2]/Data") and what was expected.
type DecodeError struct {
	Offset int
	Path   string
	Msg    string
	Err    error // ErrMalformed or ErrTooLarge, or a wrapped lower error
}

func (e *DecodeError) Error() string {
	s := "syncml: "
	if e.Offset >= 0 {
		s += fmt.Sprintf("offset %d: ", e.Offset)
	}
	if e.Path != "" {
		s += e.Path + ": "
	}
	return s + e.Msg
}

func (e *DecodeError) Unwrap() error { return e.Err }

// VersionError reports a SyncHdr whose VerDTD or VerProto this package does
// not speak. The decoders return it together with the decoded message so that
// a server can answer with StatusCode.
type VersionError struct {
	VerDTD   string
	VerProto string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("syncml: VerDTD %q / VerProto %q, want %q / %q", e.VerDTD, e.VerProto, VerDTD, VerProto)
}

func (e *VersionError) Unwrap() error { return ErrUnsupportedVersion }

// StatusCode is the SyncHdr status a server answers with: 505 (DTD version
// not supported) or 513 (protocol version not supported).
func (e *VersionError) StatusCode() int {
	if e.VerDTD != VerDTD {
		return 505
	}
	return 513
}
