package lwm2m

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	// PerSourceRate bounds the CoAP messages one source IP address may
	// send, per second, over UDP and DTLS together, with PerSourceBurst
	// more at once. Messages beyond it are dropped unanswered, before
	// any work (a device retransmits a Confirmable one), and counted in
	// Stats.RateLimited. Answers to the server's own requests and
	// notifications of its observations are never dropped: the server
	// paces those itself. 0 turns the limit off.
	//
	// Devices behind one NAT address share it. The defaults (2000/s,
	// burst 8192) are far above what a device sends: CoAP lets a client
	// have one exchange in flight (NSTART 1), so a device pulls a package
	// at one Block2 GET per round trip, ~1000/s on a LAN at 1 ms, 2..20/s
	// over cellular; 2000/s serves ~100 cellular devices behind one NAT
	// address pulling at once. On loopback one device pulls ~12 000
	// blocks/s (measured on a 2-core machine): the burst lets a package of
	// up to 8 MiB (1 KiB blocks) through at that speed; beyond it, a
	// loopback pull is paced by the device's retransmissions. A flood is
	// far faster (one sender, one port, ~55 000/s on that machine): with
	// the limit the server drops it as fast as it comes (a decode and a
	// map lookup each); without it the server answered ~8 000/s and the
	// kernel dropped the rest, with every other device's datagrams.
	PerSourceRate  float64
	PerSourceBurst int
	// PerSourceConns bounds the connections without a registration
	// (package downloads, strays, a flood) kept for one source IP
	// address: over UDP one per source port, kept IdleTimeout after its
	// last datagram; over DTLS one per session. Beyond it the address's
	// oldest is closed and counted in Stats.ConnsEvicted: what such a
	// connection serves is stateless (Block2 GETs, a Register), and the
	// device's next datagram gets a new one. A connection that carries a
	// registration is not counted: devices behind one NAT address are
	// bounded by the devices provisioned, not by this. 0 turns the limit
	// off; without it a flood from many ports of one address keeps a
	// connection (state and a goroutine) per port for IdleTimeout. The
	// default, 64, is the downloads of 64 devices behind one address at
	// once; more only close connections their devices are done with.
	PerSourceConns int
	// Inventory reads each device's Object 3 (manufacturer, model,
	// serial, firmware version) after its Register, in the background,
	// into its record (fleet.LwM2MInventory); off, only RefreshInventory
	// reads it.
	Inventory bool
	// Logger (default: discard). Now is the clock (default time.Now).
	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultConfig returns the defaults (listen addresses are the IANA
// ports on loopback; cmd overrides them). The per-source limits and the
// inventory reads are on: a Config made without DefaultConfig has them
// off.
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
		PerSourceRate:   2000,
		PerSourceBurst:  8192,
		PerSourceConns:  64,
		Inventory:       true,
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
	case c.PerSourceRate < 0 || math.IsNaN(c.PerSourceRate) || math.IsInf(c.PerSourceRate, 0) || c.PerSourceBurst < 0 || c.PerSourceConns < 0:
		return fmt.Errorf("lwm2m: config: per-source limits must not be negative (rate %v, burst %d, conns %d)",
			c.PerSourceRate, c.PerSourceBurst, c.PerSourceConns)
	case c.PerSourceRate > 0 && c.PerSourceBurst < 1:
		return fmt.Errorf("lwm2m: config: PerSourceRate %v needs a PerSourceBurst of at least 1", c.PerSourceRate)
	}
	return nil
}

func validBlockSize(n int) bool { _, ok := szxOf(n); return ok }
