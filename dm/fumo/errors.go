package fumo

import "errors"

var (
	// ErrBadValue: a State or result code that is not a number in range.
	ErrBadValue = errors.New("bad FUMO value")
	// ErrNotFUMOAlert: a Generic Alert whose type is not a FUMO type; a
	// server answers it with 415 when nobody else claims it.
	ErrNotFUMOAlert = errors.New("not a FUMO generic alert")
	// ErrBadAlert: a FUMO Generic Alert that cannot be read (no item, a
	// result that is not a number, a format other than int).
	ErrBadAlert = errors.New("malformed FUMO generic alert")
)
