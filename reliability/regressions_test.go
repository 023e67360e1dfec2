package reliability

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/sim"
)

// The tests in this file reproduce bugs the reliability suite found in
// code outside it (fixed since): a forged package 1 ended the device's
// session (dm, store), and a malformed multipart upload got a 500 (api).

// TestForgedPackage1KeepsDeviceSession: a well-formed package 1 that
// names a device but does not authenticate (no credentials, or wrong
// ones), sent by someone else while the device is in a session, is
// refused (407, 401) and changes nothing: the device goes on with its
// session and its job succeeds.
func TestForgedPackage1KeepsDeviceSession(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cred   func(*rand.Rand) *syncml.Cred
		answer string
	}{
		{"no credentials", func(*rand.Rand) *syncml.Cred { return nil }, "syncml 407"},
		{"wrong md5 credentials", func(rng *rand.Rand) *syncml.Cred {
			return &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64"}, Data: syncml.MD5Credential("dm-00", "guess", randomBytes(rng, 16))}
		}, "syncml 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 16<<10, nil)
			a := newAttacker(1)
			rng := rand.New(rand.NewPCG(1, 2))
			forged := pkg1(rng, "IMEI:dm-00", "dm-00", tc.cred(rng), syncml.EncodingXML)
			// When the device has the server's first answer of the woken
			// session, the forged package 1 arrives.
			var armed atomic.Bool
			h.addDMWith("dm-00", &sim.FUMO{}, func(d *sim.DMDevice) {
				d.Record = func(n int, fromClient bool, _ []byte) {
					if n == 2 && !fromClient && armed.CompareAndSwap(true, false) {
						a.do(context.Background(), "forged package 1", http.MethodPost, "http://"+h.gw.HTTPAddr+dm.DefaultPath, bytes.NewReader(forged), "Content-Type", ctXML)
					}
				}
			})
			armed.Store(true)
			h.startCampaign("c", []string{"dm-00"}, 1)
			h.waitCampaign("c", 20*time.Second)
			h.checkSucceeded("c", []string{"dm-00"})
			if a.count("forged package 1", tc.answer) != 1 {
				t.Errorf("the forged package 1 was answered:\n%s", a.report())
			}
		})
	}
}

// TestAPIMalformedMultipartIsBadRequest: a package upload whose multipart
// body is malformed is the client's error (400), not the server's.
func TestAPIMalformedMultipartIsBadRequest(t *testing.T) {
	h := newHarness(t, 1024, nil)
	for _, tc := range []struct{ name, contentType, body string }{
		{"not multipart", "multipart/form-data; boundary=zz", "garbage"},
		{"no boundary parameter", "multipart/form-data", "--zz\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\nx\r\n--zz--\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.api.URL+"/api/v1/packages", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+apiToken)
			req.Header.Set("Content-Type", tc.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("HTTP %d: %s", resp.StatusCode, b)
			}
		})
	}
}
