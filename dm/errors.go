package dm

import "errors"

var (
	// ErrBadConfig: a device or server setting the DM server cannot use.
	ErrBadConfig = errors.New("dm: bad configuration")
	// ErrNotify: a Package 0 could not be delivered.
	ErrNotify = errors.New("dm: notification not delivered")
)
