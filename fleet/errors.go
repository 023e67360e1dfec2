package fleet

import "errors"

// ErrInvalid: a record fails Validate; the error names the field.
var ErrInvalid = errors.New("fleet: invalid")

// ErrNotFound and ErrExists are what a store returns (wrapped) for a
// missing record and for a duplicate, so that packages that declare their
// own store interface can branch on them without importing the store.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrStale: a conditional change found the record in another state.
	ErrStale = errors.New("stale state")
)
