package lwm2m

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// Store is what the server keeps registrations in and finds devices
// with; store.Store implements it. Errors wrap fleet.ErrNotFound.
type Store interface {
	DeviceByEndpoint(ctx context.Context, endpoint string) (fleet.Device, error)
	DeviceByPSKIdentity(ctx context.Context, identity string) (fleet.Device, error)
	SetRegistration(ctx context.Context, deviceID string, reg *fleet.Registration) error
	RegisteredDevices(ctx context.Context) ([]fleet.Device, error)
}

// Files serves package URIs for pull delivery: len(p) bytes of the file at
// a path (e.g. /fw/<job>/<pkg>/<sig>) at off, and the file's size, io.EOF
// at the end, fleet.ErrNotFound for a path it does not know.
// download.Server implements it.
type Files interface {
	ReadFileAt(ctx context.Context, path string, p []byte, off int64) (n int, size int64, err error)
}

// Config is the server's settings; DefaultConfig has every default.
type Config struct {
	Store Store
	// Files answers GETs under FilesPath (nil: no package serving).
	Files     Files
	FilesPath string
	// UDPAddr and DTLSAddr are where to listen ("" to not listen).
	UDPAddr  string
	DTLSAddr string
	// DefaultLifetime applies when a Register has no lt (spec: 86400 s).
	DefaultLifetime time.Duration
	// MinLifetime and MaxLifetime bound the lifetimes accepted.
	MinLifetime, MaxLifetime time.Duration
	// ExpiryGrace is added to a lifetime before a registration expires.
	ExpiryGrace time.Duration
	// IdleTimeout closes connections that carry no registration (package
	// downloads, strays) after this much silence.
	IdleTimeout time.Duration
	// QueueWindow is how long a queue-mode device stays reachable after it
	// sent something (CoAP MAX_TRANSMIT_WAIT, 93 s).
	QueueWindow time.Duration
	// RequestTimeout bounds one downlink exchange (not the wait for a
	// queue-mode device to wake up).
	RequestTimeout time.Duration
	// BlockSize is the block size for package pushes and for Block2
	// answers when the device does not ask for one (16..1024).
	BlockSize int
	// MaxPayload bounds request bodies assembled from Block1 (Register
	// link lists, Send).
	MaxPayload int
	// Logger (default: discard). Now is the clock (default time.Now).
	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultConfig returns the defaults (listen addresses are the IANA
// ports on loopback; cmd overrides them).
func DefaultConfig() Config {
	return Config{
		FilesPath:       "/fw",
		UDPAddr:         "127.0.0.1:5683",
		DTLSAddr:        "127.0.0.1:5684",
		DefaultLifetime: 86400 * time.Second,
		MinLifetime:     1 * time.Second,
		MaxLifetime:     365 * 24 * time.Hour,
		ExpiryGrace:     15 * time.Second,
		IdleTimeout:     2 * time.Minute,
		QueueWindow:     93 * time.Second,
		RequestTimeout:  60 * time.Second,
		BlockSize:       1024,
		MaxPayload:      64 << 10,
		Logger:          slog.New(slog.DiscardHandler),
		Now:             time.Now,
	}
}

// Validate checks a configuration.
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("lwm2m: config: no Store")
	case c.UDPAddr == "" && c.DTLSAddr == "":
		return errors.New("lwm2m: config: neither UDPAddr nor DTLSAddr")
	case c.MinLifetime <= 0 || c.MaxLifetime < c.MinLifetime || c.DefaultLifetime < c.MinLifetime || c.DefaultLifetime > c.MaxLifetime:
		return fmt.Errorf("lwm2m: config: lifetimes: min %v, default %v, max %v", c.MinLifetime, c.DefaultLifetime, c.MaxLifetime)
	case c.IdleTimeout <= 0 || c.QueueWindow <= 0 || c.RequestTimeout <= 0 || c.ExpiryGrace < 0:
		return errors.New("lwm2m: config: timeouts must be positive")
	case !validBlockSize(c.BlockSize):
		return fmt.Errorf("lwm2m: config: block size %d is not a power of two in 16..1024", c.BlockSize)
	case c.MaxPayload < 1024:
		return fmt.Errorf("lwm2m: config: MaxPayload %d below 1024", c.MaxPayload)
	}
	return nil
}

func validBlockSize(n int) bool { _, ok := szxOf(n); return ok }
