package store

import (
	"errors"
	"fmt"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// Sentinel errors; callers branch with errors.Is.
var (
	// ErrNotFound: no record with that id.
	ErrNotFound = fmt.Errorf("store: %w", fleet.ErrNotFound)
	// ErrExists: a record (or a unique key such as a DM device id) exists.
	ErrExists = fmt.Errorf("store: %w", fleet.ErrExists)
	// ErrInvalid: the record fails validation (wraps fleet.ErrInvalid).
	ErrInvalid = errors.New("store: invalid record")
	// ErrStale: a conditional update found another state than expected.
	ErrStale = fmt.Errorf("store: %w", fleet.ErrStale)
	// ErrTransition: the job state change is not allowed.
	ErrTransition = errors.New("store: transition not allowed")
	// ErrIntegrity: package bytes whose SHA-256 is not the declared one.
	ErrIntegrity = errors.New("store: package sha-256 mismatch")
	// ErrSize: package bytes shorter or longer than the declared size.
	ErrSize = errors.New("store: package size mismatch")
	// ErrInUse: the record is referenced by an unfinished job.
	ErrInUse = errors.New("store: in use")
	// ErrSchema: the file's schema is newer than this code, or a migration
	// is missing.
	ErrSchema = errors.New("store: unsupported schema")
)
