package fleet

import "errors"

// ErrInvalid: a record fails Validate; the error names the field.
var ErrInvalid = errors.New("fleet: invalid")
