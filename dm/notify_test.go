package dm

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// TestBuildPackage0_Vector: the trigger for the reference example carries
// the reference digest.
func TestBuildPackage0_Vector(t *testing.T) {
	b, err := BuildPackage0(Trigger{DeviceID: "IMEI:1", SessionID: 0x1234, UIMode: syncml.UIModeBackground,
		Server: ServerAuth{ServerID: "com.mgmtsrv.manage", Password: "srvpwd", Nonce: []byte("Nonce")}})
	if err != nil {
		t.Fatal(err)
	}
	want := "10369e83e3fc7103a4a21acce6e242ae02d0000000123412636f6d2e6d676d747372762e6d616e616765"
	if hex.EncodeToString(b) != want {
		t.Errorf("got %x", b)
	}
	if err := syncml.VerifyNotification(b, "com.mgmtsrv.manage", "srvpwd", []byte("Nonce")); err != nil {
		t.Error(err)
	}
	if _, err := BuildPackage0(Trigger{}); !errors.Is(err, syncml.ErrBadPackage0) {
		t.Errorf("no server id: %v", err)
	}
}

// TestHTTPNotifier posts to a real push gateway on 127.0.0.1.
func TestHTTPNotifier(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	status := http.StatusAccepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		s := status
		mu.Unlock()
		w.WriteHeader(s)
	}))
	defer srv.Close()
	n := &HTTPNotifier{URL: srv.URL + "/push", Header: http.Header{"Authorization": {"Bearer k"}}}
	pkg := []byte{1, 2, 3}
	if err := n.Notify(context.Background(), "IMEI:1", pkg); err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if r.Method != http.MethodPost || r.URL.Path != "/push" || r.Header.Get("Content-Type") != syncml.ContentTypeNotification ||
		r.Header.Get(DeviceIDHeader) != "IMEI:1" || r.Header.Get("Authorization") != "Bearer k" || !bytes.Equal(bodies[0], pkg) {
		t.Errorf("request %s %s %v body %x", r.Method, r.URL, r.Header, bodies[0])
	}
	mu.Lock()
	status = http.StatusServiceUnavailable
	mu.Unlock()
	if err := n.Notify(context.Background(), "IMEI:1", pkg); !errors.Is(err, ErrNotify) {
		t.Errorf("503: %v", err)
	}
	srv.Close()
	if err := n.Notify(context.Background(), "IMEI:1", pkg); !errors.Is(err, ErrNotify) {
		t.Errorf("server gone: %v", err)
	}
	if err := (&HTTPNotifier{URL: "::bad"}).Notify(context.Background(), "x", pkg); !errors.Is(err, ErrNotify) {
		t.Errorf("bad url: %v", err)
	}
	if err := (NopNotifier{}).Notify(context.Background(), "x", pkg); err != nil {
		t.Error(err)
	}
}
