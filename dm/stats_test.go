package dm_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
)

// TestStats_Session: a whole session counts one start, one end and each
// of its messages under its encoding, and nothing else.
func TestStats_Session(t *testing.T) {
	for _, enc := range encodings {
		t.Run(enc.String(), func(t *testing.T) {
			g := newGateway(t, dm.Config{})
			d := g.provision("dev1", "md5", enc)
			g.enqueue("dev1", get("./DevDetail/FwV"), "")
			rep := session(t, d, sim.SessionOptions{})
			st := g.server.Stats()
			xml, wbxml := int64(rep.Messages), int64(0)
			if enc == syncml.EncodingWBXML {
				xml, wbxml = 0, xml
			}
			if st.SessionsStarted != 1 || st.SessionsEnded != 1 || st.MessagesXML != xml || st.MessagesWBXML != wbxml {
				t.Errorf("stats %+v, want 1 session started and ended, %d xml and %d wbxml messages", st, xml, wbxml)
			}
			if st.AuthFailures != 0 || st.Errors != 0 {
				t.Errorf("stats %+v, want no failures", st)
			}
			for r, n := range st.Rejected {
				if n != 0 {
					t.Errorf("rejected %s = %d, want 0", r, n)
				}
			}
		})
	}
}

// TestStats_AuthFailures: each message with wrong credentials counts.
func TestStats_AuthFailures(t *testing.T) {
	g := newGateway(t, dm.Config{})
	d := g.provision("dev1", "md5", syncml.EncodingXML)
	d.Password = "wrong"
	if _, err := d.Session(context.Background(), sim.SessionOptions{}); !errors.Is(err, sim.ErrAuthRefused) {
		t.Fatalf("session with a wrong password: %v, want refusal", err)
	}
	if st := g.server.Stats(); st.AuthFailures != 2 || st.SessionsStarted != 1 {
		t.Errorf("stats %+v, want 2 authentication failures in 1 session", st)
	}
}

// TestStats_Rejected: each kind of refused message counts under its
// reason, and only there.
func TestStats_Rejected(t *testing.T) {
	g := newGateway(t, dm.Config{MaxMsgSize: 64 << 10})
	g.provision("dev1", "basic", syncml.EncodingXML)
	g.provision("dev2", "basic", syncml.EncodingXML)
	_, _, reply := post(t, g.url(), syncml.ContentTypeXML, basicPkg1(t, "dev2", "5", "1", syncml.EncodingXML), nil)
	dev2URI := reply.Header.RespURI
	wrongVersion := func() []byte {
		m, _, _ := syncml.Decode(basicPkg1(t, "dev1", "6", "1", syncml.EncodingXML))
		m.Header.VerProto = "DM/1.1"
		b, _ := syncml.EncodeXML(m)
		return b
	}()
	if code, _, _ := post(t, g.url(), syncml.ContentTypeXML, basicPkg1(t, "dev1", "7", "1", syncml.EncodingXML), nil); code != 200 {
		t.Fatalf("first message: HTTP %d", code)
	}
	// The next message of session 7, which ended with package 1.
	replayed := basicPkg1(t, "dev1", "7", "2", syncml.EncodingXML)
	cases := []struct {
		name, reason string
		url, ct      string
		body         []byte // nil: a GET
		status       int
	}{
		{"GET", dm.RejectMethod, g.url(), "", nil, 405},
		{"media type", dm.RejectMediaType, g.url(), "image/png", []byte("x"), 415},
		{"oversized", dm.RejectTooLarge, g.url(), syncml.ContentTypeXML, bytes.Repeat([]byte("<"), 65<<10), 413},
		{"not SyncML", dm.RejectMalformed, g.url(), syncml.ContentTypeXML, []byte("hello"), 400},
		{"unknown session token", dm.RejectNotFound, g.url() + "/s/0123", syncml.ContentTypeXML, basicPkg1(t, "dev1", "5", "1", syncml.EncodingXML), 404},
		{"another device's session", dm.RejectWrongSession, dev2URI, syncml.ContentTypeXML, basicPkg1(t, "dev1", "5", "2", syncml.EncodingXML), 403},
		{"unknown device", dm.RejectForbidden, g.url(), syncml.ContentTypeXML, basicPkg1(t, "nobody", "8", "1", syncml.EncodingXML), 200},
		{"replayed message", dm.RejectSequence, g.url(), syncml.ContentTypeXML, replayed, 200},
		{"wrong version", dm.RejectVersion, g.url(), syncml.ContentTypeXML, wrongVersion, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := g.server.Stats()
			var code int
			if c.body == nil {
				resp, err := http.Get(c.url)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				code = resp.StatusCode
			} else {
				code, _, _ = post(t, c.url, c.ct, c.body, nil)
			}
			if code != c.status {
				t.Fatalf("HTTP %d, want %d", code, c.status)
			}
			after := g.server.Stats()
			if len(after.Rejected) != 9 {
				t.Errorf("%d reasons, want 9: %v", len(after.Rejected), after.Rejected)
			}
			for r, n := range after.Rejected {
				want := before.Rejected[r]
				if r == c.reason {
					want++
				}
				if n != want {
					t.Errorf("rejected %s = %d, want %d", r, n, want)
				}
			}
			if after.MessagesXML != before.MessagesXML || after.SessionsStarted != before.SessionsStarted {
				t.Errorf("a refused message counted as answered: %+v -> %+v", before, after)
			}
		})
	}
}

// failingCommits is a store whose session commits fail.
type failingCommits struct{ dm.Store }

func (failingCommits) CommitDMStep(context.Context, fleet.DMStep) error {
	return errors.New("disk on fire")
}

// TestStats_Errors: a request that fails inside the server counts as an
// error, not as an answered message.
func TestStats_Errors(t *testing.T) {
	g := newGateway(t, dm.Config{})
	g.provision("dev1", "basic", syncml.EncodingXML)
	srv, err := dm.NewServer(dm.Config{Store: failingCommits{g.store}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	if code, _, _ := post(t, hs.URL+"/dm", syncml.ContentTypeXML, basicPkg1(t, "dev1", "1", "1", syncml.EncodingXML), nil); code != 500 {
		t.Fatalf("HTTP %d, want 500", code)
	}
	if st := srv.Stats(); st.Errors != 1 || st.MessagesXML != 0 || st.SessionsStarted != 0 {
		t.Errorf("stats %+v, want 1 error and nothing answered", st)
	}
}
