package sim_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/sim"
)

const (
	serverID = "srv"
	serverPW = "srvpw"
)

func md5Cred(user, password string, nonce []byte) *syncml.Cred {
	return &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64"}, Data: syncml.MD5Credential(user, password, nonce)}
}

func basicCred(user, password string) *syncml.Cred {
	return &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthBasic, Format: "b64"}, Data: syncml.BasicCredential(user, password)}
}

// issuedNonce is the nonce the client issued to the server in m (its Chal
// on the server's SyncHdr), or nil.
func issuedNonce(m *syncml.Message) []byte {
	if st := headerStatus(m); st != nil && st.Chal != nil && st.Chal.Meta != nil {
		return st.Chal.Meta.NextNonce
	}
	return nil
}

// mutualDevice is a device that demands md5 credentials of the server
// while it authenticates itself with basic, as libdmclient ships.
func mutualDevice(s *scriptServer, execs *atomic.Int32) *sim.DMDevice {
	d := s.device()
	d.ServerID, d.ServerPassword, d.ServerAuth = serverID, serverPW, "md5"
	d.ServerNonce = []byte("nonce-0")
	d.Exec = func(_ context.Context, _, _ string, _ []byte) int { execs.Add(1); return 200 }
	return d
}

// challengeScript answers package 1 with the credentials bad gives (on
// the device's current nonce), a Get and an Exec; then good md5
// credentials on the nonce the device issued, and the Get again.
func challengeScript(bad func(nonce []byte) *syncml.Cred) func(r *request) *syncml.Message {
	nonce := []byte("nonce-0")
	return func(r *request) *syncml.Message {
		if n := issuedNonce(r.msg); n != nil {
			nonce = n
		}
		var m *syncml.Message
		switch r.n {
		case 1:
			m = answer(r.msg, 212, get("./DevDetail/FwV"), exec("./FwUpdate/1/Download"))
			m.Header.Cred = bad(nonce)
		case 2:
			m = answer(r.msg, 200, get("./DevDetail/FwV"))
			m.Header.Cred = md5Cred(serverID, serverPW, nonce)
		default:
			m = answer(r.msg, 200)
		}
		return m
	}
}

func TestDMDevice_ChallengeServer(t *testing.T) {
	cases := []struct {
		name string
		bad  func(nonce []byte) *syncml.Cred
	}{
		{"basic where md5 is demanded", func([]byte) *syncml.Cred { return basicCred(serverID, serverPW) }},
		{"md5 on a stale nonce", func([]byte) *syncml.Cred { return md5Cred(serverID, serverPW, []byte("stale")) }},
		{"wrong password", func(n []byte) *syncml.Cred { return md5Cred(serverID, "nope", n) }},
		{"no Cred", func([]byte) *syncml.Cred { return nil }},
		{"md5 digest under another type", func(n []byte) *syncml.Cred {
			c := md5Cred(serverID, serverPW, n)
			c.Meta.Type = syncml.AuthBasic
			return c
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScriptServer(t, challengeScript(c.bad))
			var execs atomic.Int32
			d := mutualDevice(s, &execs)
			d.ChallengeServer = true
			if _, err := d.Session(testContext(t), sim.SessionOptions{}); err != nil {
				t.Fatal(err)
			}
			reqs := s.requests()
			if len(reqs) != 3 {
				t.Fatalf("%d client messages, want 3", len(reqs))
			}
			refusal := reqs[1].msg
			st := headerStatus(refusal)
			if st == nil || st.Code != 401 || st.Chal == nil || st.Chal.Meta.Type != syncml.AuthMD5 || len(st.Chal.Meta.NextNonce) != 16 {
				t.Fatalf("status on the refused SyncHdr: %+v", st)
			}
			if got := statusCodes(refusal); got["4"] != 401 || got["5"] != 401 || len(got) != 2 {
				t.Errorf("statuses of the refused commands: %v, want 401 for Get 4 and Exec 5", got)
			}
			if len(commandsOf[*syncml.Results](refusal)) != 0 || !refusal.Body.Final || execs.Load() != 0 {
				t.Errorf("refused message: results %d, Final %v, execs %d", len(commandsOf[*syncml.Results](refusal)), refusal.Body.Final, execs.Load())
			}
			if string(d.ServerNonce) == string(st.Chal.Meta.NextNonce) {
				t.Error("the challenged nonce is still the device's: the next status should have issued another")
			}
			after := reqs[2].msg
			if st := headerStatus(after); st == nil || st.Code != 212 {
				t.Errorf("status on the good SyncHdr: %+v, want 212", st)
			}
			if res := commandsOf[*syncml.Results](after); len(res) != 1 || string(res[0].Items[0].Data) != "1.0" {
				t.Errorf("Get re-sent with good credentials: %+v", res)
			}
		})
	}
}

// TestDMDevice_ChallengeServer_Off: without ChallengeServer a bad server
// credential still ends the session at once, nothing run.
func TestDMDevice_ChallengeServer_Off(t *testing.T) {
	s := newScriptServer(t, challengeScript(func([]byte) *syncml.Cred { return basicCred(serverID, serverPW) }))
	var execs atomic.Int32
	d := mutualDevice(s, &execs)
	_, err := d.Session(testContext(t), sim.SessionOptions{})
	if !errors.Is(err, sim.ErrServerAuth) {
		t.Fatalf("err %v, want ErrServerAuth", err)
	}
	if n := len(s.requests()); n != 1 || execs.Load() != 0 {
		t.Errorf("%d client messages, %d execs; want 1 and 0", n, execs.Load())
	}
}

// TestDMDevice_ChallengeServer_Bounded: a server that never gets its
// credentials right ends the session at its third refused message.
func TestDMDevice_ChallengeServer_Bounded(t *testing.T) {
	s := newScriptServer(t, func(r *request) *syncml.Message {
		m := answer(r.msg, 212, get("./DevDetail/FwV"))
		m.Header.Cred = basicCred(serverID, serverPW)
		return m
	})
	var execs atomic.Int32
	d := mutualDevice(s, &execs)
	d.ChallengeServer = true
	_, err := d.Session(testContext(t), sim.SessionOptions{})
	if !errors.Is(err, sim.ErrServerAuth) {
		t.Fatalf("err %v, want ErrServerAuth", err)
	}
	if n := len(s.requests()); n != 3 {
		t.Errorf("%d client messages, want 3 (package 1 and two challenges)", n)
	}
}

// TestDMDevice_ChallengeServer_Basic: a basic challenge carries no nonce.
func TestDMDevice_ChallengeServer_Basic(t *testing.T) {
	s := newScriptServer(t, func(r *request) *syncml.Message {
		switch r.n {
		case 1:
			m := answer(r.msg, 212, get("./DevDetail/FwV"))
			m.Header.Cred = basicCred(serverID, "wrong")
			return m
		case 2:
			m := answer(r.msg, 200)
			m.Header.Cred = basicCred(serverID, serverPW)
			return m
		}
		return answer(r.msg, 200)
	})
	var execs atomic.Int32
	d := mutualDevice(s, &execs)
	d.ServerAuth, d.ChallengeServer = "basic", true
	if _, err := d.Session(testContext(t), sim.SessionOptions{}); err != nil {
		t.Fatal(err)
	}
	st := headerStatus(s.requests()[1].msg)
	if st == nil || st.Code != 401 || st.Chal == nil || st.Chal.Meta.Type != syncml.AuthBasic || st.Chal.Meta.NextNonce != nil {
		t.Fatalf("basic challenge: %+v", st)
	}
}

// TestDMDevice_ChallengeServer_HMAC: a server that sends no x-syncml-hmac
// is challenged with an HMAC nonce, then signs with it.
func TestDMDevice_ChallengeServer_HMAC(t *testing.T) {
	sign := func(r *request, body []byte) string {
		n := issuedNonce(r.msg)
		if r.n == 1 || n == nil {
			return ""
		}
		return syncml.HMACHeader{Username: serverID, MAC: syncml.ComputeHMAC(serverID, serverPW, n, body)}.String()
	}
	s := newSignedScriptServer(t, func(r *request) *syncml.Message {
		switch r.n {
		case 1, 2:
			return answer(r.msg, 212, get("./DevDetail/FwV"))
		}
		return answer(r.msg, 200)
	}, sign)
	var execs atomic.Int32
	d := mutualDevice(s, &execs)
	d.ServerAuth, d.ChallengeServer = "hmac", true
	if _, err := d.Session(testContext(t), sim.SessionOptions{}); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d client messages, want 3", len(reqs))
	}
	if st := headerStatus(reqs[1].msg); st == nil || st.Code != 401 || !strings.EqualFold(st.Chal.Meta.Type, syncml.AuthHMAC) || len(st.Chal.Meta.NextNonce) == 0 {
		t.Fatalf("HMAC challenge: %+v", st)
	}
	if st := headerStatus(reqs[2].msg); st == nil || st.Code != 200 {
		t.Errorf("status on a signed SyncHdr: %+v, want 200", st)
	}
}

func TestDMDevice_FollowChal(t *testing.T) {
	nonce := []byte("server-nonce")
	cases := []struct {
		name     string
		chalType string
		follow   bool
		wantAuth string
		check    func(t *testing.T, r *request)
	}{
		{"basic to md5", syncml.AuthMD5, true, "md5", func(t *testing.T, r *request) {
			if c := r.msg.Header.Cred; c == nil || c.Meta.Type != syncml.AuthMD5 || c.Data != syncml.MD5Credential("dev", "devpw", nonce) {
				t.Errorf("re-sent package 1 Cred: %+v", c)
			}
		}},
		{"basic to hmac", syncml.AuthHMAC, true, "hmac", func(t *testing.T, r *request) {
			h, err := syncml.ParseHMACHeader(r.header.Get(syncml.HMACHeaderName))
			if r.msg.Header.Cred != nil || err != nil || !syncml.VerifyHMAC(h, "devpw", nonce, r.body) {
				t.Errorf("re-sent package 1: Cred %+v, HMAC %v %v", r.msg.Header.Cred, h, err)
			}
		}},
		{"off: stays basic", syncml.AuthMD5, false, "basic", func(t *testing.T, r *request) {
			if c := r.msg.Header.Cred; c == nil || c.Meta.Type != syncml.AuthBasic {
				t.Errorf("re-sent package 1 Cred: %+v", c)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScriptServer(t, func(r *request) *syncml.Message {
				if r.n > 1 {
					return answer(r.msg, 212)
				}
				m := answer(r.msg, 401)
				m.Body.Commands[0].(*syncml.Status).Chal = &syncml.Chal{Meta: &syncml.Meta{Type: c.chalType, Format: "b64", NextNonce: nonce}}
				return m
			})
			d := s.device()
			d.FollowChal = c.follow
			if _, err := d.Session(testContext(t), sim.SessionOptions{}); err != nil {
				t.Fatal(err)
			}
			reqs := s.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d client messages, want 2", len(reqs))
			}
			c.check(t, reqs[1])
			if d.Auth != c.wantAuth {
				t.Errorf("Auth %q after the session, want %q", d.Auth, c.wantAuth)
			}
		})
	}
}

func TestDMDevice_NoLocName(t *testing.T) {
	for _, noLocName := range []bool{false, true} {
		s := newScriptServer(t, func(r *request) *syncml.Message { return answer(r.msg, 212) })
		d := s.device()
		d.Auth, d.NoLocName = "md5", noLocName
		if _, err := d.Session(testContext(t), sim.SessionOptions{}); err != nil {
			t.Fatal(err)
		}
		r := s.requests()[0]
		if got := r.msg.Header.Source.LocName; (got == "") != noLocName || strings.Contains(string(r.body), "LocName") == noLocName {
			t.Errorf("NoLocName %v: LocName %q", noLocName, got)
		}
	}
}

// TestDMDevice_LibdmclientProfile: every switch as libdmclient behaves.
// The server challenges the device's basic credentials with md5 and
// proves itself with basic: the device re-sends package 1 with md5 (no
// LocName, SessionID 1) and challenges the server in the same message;
// the server's md5 on the device's nonce is then accepted.
func TestDMDevice_LibdmclientProfile(t *testing.T) {
	clientNonce := []byte("client-nonce")
	s := newScriptServer(t, func(r *request) *syncml.Message {
		switch r.n {
		case 1:
			m := answer(r.msg, 401)
			m.Body.Commands[0].(*syncml.Status).Chal = &syncml.Chal{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64", NextNonce: clientNonce}}
			m.Header.Cred = basicCred(serverID, serverPW)
			return m
		case 2:
			m := answer(r.msg, 212, get("./DevDetail/FwV"))
			m.Header.Cred = md5Cred(serverID, serverPW, issuedNonce(r.msg))
			return m
		}
		return answer(r.msg, 200)
	})
	var execs atomic.Int32
	d := mutualDevice(s, &execs)
	d.NoLocName, d.SessionID, d.ChallengeServer, d.FollowChal = true, "1", true, true
	if _, err := d.Session(testContext(t), sim.SessionOptions{}); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d client messages, want 3", len(reqs))
	}
	again := reqs[1].msg
	if c := again.Header.Cred; c == nil || c.Data != syncml.MD5Credential("dev", "devpw", clientNonce) || again.Header.Source.LocName != "" || again.Header.SessionID != "1" {
		t.Errorf("package 1 again: %+v", again.Header)
	}
	st := headerStatus(again)
	if st == nil || st.CmdID != "1" || st.Code != 401 || st.Chal == nil || st.Chal.Meta.Type != syncml.AuthMD5 {
		t.Errorf("challenge of the server in package 1 again: %+v", st)
	}
	if alerts := commandsOf[*syncml.Alert](again); len(alerts) != 1 || alerts[0].Code != 1201 {
		t.Errorf("package 1 again: alerts %+v", alerts)
	}
	if res := commandsOf[*syncml.Results](reqs[2].msg); len(res) != 1 || d.Auth != "md5" {
		t.Errorf("after the server proved itself: results %+v, Auth %s", res, d.Auth)
	}
}
