package lwm2m

import (
	"errors"
	"fmt"

	"github.com/plgd-dev/go-coap/v3/message/codes"
)

var (
	// ErrNotRegistered: the endpoint has no registration.
	ErrNotRegistered = errors.New("lwm2m: endpoint not registered")
	// ErrUnreachable: the device is registered over DTLS but its session
	// is gone; it can be reached again only after it sends an Update or
	// Register.
	ErrUnreachable = errors.New("lwm2m: device unreachable until its next update")
	// ErrClosed: the server is shut down.
	ErrClosed = errors.New("lwm2m: server closed")
)

// CodeError is a device's answer other than success to a downlink
// operation.
type CodeError struct {
	Op   string // "read", "write", ...
	Path string
	Code codes.Code
}

func (e *CodeError) Error() string {
	return fmt.Sprintf("lwm2m: %s %s: device answered %s", e.Op, e.Path, e.Code)
}

// IsCode tells whether err is a CodeError with that code.
func IsCode(err error, c codes.Code) bool {
	var ce *CodeError
	return errors.As(err, &ce) && ce.Code == c
}
