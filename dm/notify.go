package dm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// Trigger asks one device to open a session with the server.
type Trigger struct {
	DeviceID  string // the device's DM id, for the notifier to address it
	SessionID uint16 // the device answers with Alert 1200 and this SessionID (as uppercase hex)
	UIMode    syncml.UIMode
	Initiator syncml.Initiator
	// Server is the server's identity towards the device; its Nonce is the
	// one the device holds for server credentials.
	Server ServerAuth
}

// BuildPackage0 returns the Package 0 bytes of t (version 11, digest with
// the server credentials and the device's nonce).
func BuildPackage0(t Trigger) ([]byte, error) {
	n := syncml.Notification{
		Version:   syncml.Package0Version,
		UIMode:    t.UIMode,
		Initiator: t.Initiator,
		SessionID: t.SessionID,
		ServerID:  t.Server.ServerID,
	}
	return syncml.EncodeNotification(n, t.Server.Password, t.Server.Nonce)
}

// Notifier delivers a Package 0 to a device (over WAP push, SMS, or any
// transport an operator has).
type Notifier interface {
	Notify(ctx context.Context, deviceID string, pkg0 []byte) error
}

// NopNotifier delivers nothing: devices are reached when they call in.
type NopNotifier struct{}

// Notify does nothing.
func (NopNotifier) Notify(context.Context, string, []byte) error { return nil }

// HTTPNotifier POSTs each Package 0 to an operator's push gateway: the
// body is the raw Package 0 (Content-Type application/vnd.syncml.notification)
// and the header X-DM-Device-ID names the device. Any 2xx answer counts as
// delivered.
type HTTPNotifier struct {
	URL    string
	Client *http.Client // http.DefaultClient when nil
	Header http.Header  // extra headers, e.g. an API key
}

// DeviceIDHeader names the device in an HTTPNotifier request.
const DeviceIDHeader = "X-DM-Device-ID"

// Notify posts pkg0 for deviceID.
func (n *HTTPNotifier) Notify(ctx context.Context, deviceID string, pkg0 []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(pkg0))
	if err != nil {
		return fmt.Errorf("dm: notify %s: %w: %w", deviceID, ErrNotify, err)
	}
	for k, vs := range n.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", syncml.ContentTypeNotification)
	req.Header.Set(DeviceIDHeader, deviceID)
	c := n.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("dm: notify %s: %w: %w", deviceID, ErrNotify, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("dm: notify %s: push gateway answered %s: %w", deviceID, resp.Status, ErrNotify)
	}
	return nil
}
