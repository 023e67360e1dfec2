package scenario

import "errors"

var (
	// ErrNoSetup: the scenario folder has no setup.json.
	ErrNoSetup = errors.New("no " + FileName)
	// ErrInvalid: a setup.json that does not parse or whose parts do not
	// refer to each other.
	ErrInvalid = errors.New("invalid setup")
)
