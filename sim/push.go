package sim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// ErrBadPackage0: a Package 0 whose digest does not verify; the device
// ignores it.
var ErrBadPackage0 = errors.New("sim: package 0 does not verify")

// HandlePackage0 is the device receiving a Package 0: it checks the digest
// with the server credentials and its server nonce, then opens the Alert
// 1200 session with the notification's session id.
func (d *DMDevice) HandlePackage0(ctx context.Context, pkg0 []byte) (*SessionReport, error) {
	d.sessMu.Lock()
	nonce, prev, havePrev := d.ServerNonce, d.prevServerNonce, d.havePrevServerNonce
	d.sessMu.Unlock()
	if err := syncml.VerifyNotification(pkg0, d.ServerID, d.ServerPassword, nonce); err != nil {
		if !havePrev || syncml.VerifyNotification(pkg0, d.ServerID, d.ServerPassword, prev) != nil {
			return nil, errors.Join(ErrBadPackage0, err)
		}
	}
	n, err := syncml.DecodeNotification(pkg0)
	if err != nil {
		return nil, errors.Join(ErrBadPackage0, err)
	}
	return d.Session(ctx, SessionOptions{ServerInitiated: true, SessionID: syncml.SessionIDHex(n.SessionID)})
}

// PushGateway is an operator's SMS/WAP-push gateway in miniature: it takes
// the Package 0 a dm.HTTPNotifier posts and wakes the simulated device the
// X-DM-Device-ID header names.
type PushGateway struct {
	mu      sync.Mutex
	devices map[string]*DMDevice
	wg      sync.WaitGroup
	// Errors receives the outcome of each woken session (nil on success).
	Errors chan error
}

// NewPushGateway returns an empty gateway.
func NewPushGateway() *PushGateway {
	return &PushGateway{devices: map[string]*DMDevice{}, Errors: make(chan error, 64)}
}

// Add makes d reachable by its DevID.
func (p *PushGateway) Add(d *DMDevice) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.devices[d.DevID] = d
}

// Wait waits for the sessions the gateway started.
func (p *PushGateway) Wait() { p.wg.Wait() }

// ServeHTTP accepts a Package 0 (202) and delivers it in the background.
func (p *PushGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	d := p.devices[r.Header.Get("X-DM-Device-ID")]
	p.mu.Unlock()
	if d == nil {
		http.Error(w, "unknown device", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_, err := d.HandlePackage0(context.Background(), body)
		select {
		case p.Errors <- err:
		default:
		}
	}()
}
