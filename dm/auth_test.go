package dm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

var freshNonce = bytes.Repeat([]byte{0xAB}, NonceSize)

func fixedNonce() ([]byte, error) { return append([]byte(nil), freshNonce...), nil }

func hdr(locName string, cred *syncml.Cred) *syncml.Header {
	return &syncml.Header{Source: syncml.Location{LocURI: "IMEI:1", LocName: locName}, Cred: cred}
}

func cred(typ, data string) *syncml.Cred {
	return &syncml.Cred{Meta: &syncml.Meta{Type: typ, Format: "b64"}, Data: data}
}

func TestAuthenticate(t *testing.T) {
	md5Dev := ClientAuth{Scheme: AuthMD5, Username: "Bruce2", Password: "OhBehave", Nonce: []byte("Nonce")}
	basicDev := ClientAuth{Scheme: AuthBasic, Username: "Bruce2", Password: "OhBehave"}
	hmacDev := ClientAuth{Scheme: AuthHMAC, Username: "Bruce2", Password: "OhBehave", Nonce: []byte("Nonce")}
	body := []byte(`<SyncML xmlns="SYNCML:SYNCML1.2"></SyncML>`)
	goodMAC := `algorithm=MD5, username="Bruce2", mac=aSBvnDHzBa7JhdjeEEUR2g==`

	tests := []struct {
		name     string
		dev      ClientAuth
		req      AuthRequest
		status   int
		accepted bool
		chal     string // Chal Meta Type, "" for none
		nonce    bool   // a new nonce to store
		failed   bool
		refused  bool
	}{
		{"md5 vector accepted with the next session's nonce", md5Dev, AuthRequest{Header: hdr("Bruce2", cred(syncml.AuthMD5, "Zz6EivR3yeaaENcRN6lpAQ=="))}, 212, true, syncml.AuthMD5, true, false, false},
		{"md5 missing credentials", md5Dev, AuthRequest{Header: hdr("Bruce2", nil)}, 407, false, syncml.AuthMD5, true, false, false},
		{"md5 wrong password: one more challenge", md5Dev, AuthRequest{Header: hdr("Bruce2", cred(syncml.AuthMD5, syncml.MD5Credential("Bruce2", "nope", []byte("Nonce"))))}, 401, false, syncml.AuthMD5, true, true, false},
		{"md5 replayed credential of an old nonce", md5Dev, AuthRequest{Header: hdr("Bruce2", cred(syncml.AuthMD5, syncml.MD5Credential("Bruce2", "OhBehave", []byte("Old"))))}, 401, false, syncml.AuthMD5, true, true, false},
		{"md5 wrong user name", md5Dev, AuthRequest{Header: hdr("Mallory", cred(syncml.AuthMD5, "Zz6EivR3yeaaENcRN6lpAQ=="))}, 401, false, syncml.AuthMD5, true, true, false},
		{"md5 second failure refused", md5Dev, AuthRequest{Header: hdr("Bruce2", cred(syncml.AuthMD5, "AAAA")), Failures: 1}, 401, false, "", false, true, true},
		{"md5 device sends basic", md5Dev, AuthRequest{Header: hdr("Bruce2", cred(syncml.AuthBasic, syncml.BasicCredential("Bruce2", "OhBehave")))}, 401, false, syncml.AuthMD5, true, true, false},
		{"md5 session already authenticated", md5Dev, AuthRequest{Header: hdr("Bruce2", nil), Authenticated: true}, 200, true, "", false, false, false},
		{"basic accepted", basicDev, AuthRequest{Header: hdr("", cred(syncml.AuthBasic, "QnJ1Y2UyOk9oQmVoYXZl"))}, 212, true, "", false, false, false},
		{"basic with no Meta Type", basicDev, AuthRequest{Header: hdr("", &syncml.Cred{Data: "QnJ1Y2UyOk9oQmVoYXZl"})}, 212, true, "", false, false, false},
		{"basic wrong", basicDev, AuthRequest{Header: hdr("", cred(syncml.AuthBasic, syncml.BasicCredential("Bruce2", "x")))}, 401, false, syncml.AuthBasic, false, true, false},
		{"basic garbage", basicDev, AuthRequest{Header: hdr("", cred(syncml.AuthBasic, "***"))}, 401, false, syncml.AuthBasic, false, true, false},
		{"basic missing", basicDev, AuthRequest{}, 407, false, syncml.AuthBasic, false, false, false},
		{"hmac vector accepted: 200 and a fresh nonce", hmacDev, AuthRequest{HMAC: goodMAC, Body: body}, 200, true, syncml.AuthHMAC, true, false, false},
		{"hmac accepted again within the session", hmacDev, AuthRequest{HMAC: goodMAC, Body: body, Authenticated: true}, 200, true, syncml.AuthHMAC, true, false, false},
		{"hmac body changed", hmacDev, AuthRequest{HMAC: goodMAC, Body: append(body, ' ')}, 401, false, syncml.AuthHMAC, true, true, false},
		{"hmac missing header", hmacDev, AuthRequest{Body: body}, 407, false, syncml.AuthHMAC, true, false, false},
		{"hmac missing even in an authenticated session", hmacDev, AuthRequest{Body: body, Authenticated: true}, 407, false, syncml.AuthHMAC, true, false, false},
		{"hmac malformed header", hmacDev, AuthRequest{HMAC: "mac", Body: body}, 401, false, syncml.AuthHMAC, true, true, false},
		{"hmac other user", hmacDev, AuthRequest{HMAC: `username="x", mac=aSBvnDHzBa7JhdjeEEUR2g==`, Body: body}, 401, false, syncml.AuthHMAC, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			d, err := Authenticate(tt.dev, tt.req, func() ([]byte, error) { calls++; return fixedNonce() })
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != tt.status || d.Accepted != tt.accepted || d.Failed != tt.failed || d.Refused != tt.refused {
				t.Errorf("got %+v", d)
			}
			gotChal := ""
			if d.Chal != nil {
				gotChal = d.Chal.Meta.Type
			}
			if gotChal != tt.chal {
				t.Errorf("chal %q, want %q", gotChal, tt.chal)
			}
			if tt.nonce != (d.Nonce != nil) || (d.Nonce != nil && (!bytes.Equal(d.Nonce, freshNonce) || !bytes.Equal(d.Chal.Meta.NextNonce, freshNonce))) {
				t.Errorf("nonce %x (chal %+v), want new: %v", d.Nonce, d.Chal, tt.nonce)
			}
			if calls > 1 {
				t.Errorf("nonce source called %d times", calls)
			}
		})
	}
}

func TestAuthenticate_NonceSourceFails(t *testing.T) {
	boom := errors.New("no entropy")
	_, err := Authenticate(ClientAuth{Scheme: AuthMD5}, AuthRequest{}, func() ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
}

func TestNewNonce(t *testing.T) {
	a, err := NewNonce(nil)
	if err != nil || len(a) < 16 {
		t.Fatalf("%x %v", a, err)
	}
	b, _ := NewNonce(nil)
	if bytes.Equal(a, b) {
		t.Error("two nonces are equal")
	}
	if _, err := NewNonce(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Error("short entropy accepted")
	}
}

func TestParseAuthScheme(t *testing.T) {
	for in, want := range map[string]AuthScheme{"basic": AuthBasic, "MD5": AuthMD5, "syncml:auth-md5": AuthMD5, "hmac": AuthHMAC, "syncml:auth-MAC": AuthHMAC, "SYNCML:AUTH-BASIC": AuthBasic} {
		if got, err := ParseAuthScheme(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseAuthScheme("kerberos"); !errors.Is(err, ErrBadConfig) {
		t.Errorf("unknown: %v", err)
	}
}

// TestServerAuth: the server's own credentials are the reference vectors.
func TestServerAuth(t *testing.T) {
	md5 := ServerAuth{Scheme: AuthMD5, ServerID: "funambol", Password: "srvpwd"}
	if c := md5.Cred(); c.Data != "Lx7CSZp0iHRedCEbryGJuw==" || c.Meta.Type != syncml.AuthMD5 {
		t.Errorf("md5 server cred %+v", c)
	}
	basic := ServerAuth{Scheme: AuthBasic, ServerID: "Bruce2", Password: "OhBehave"}
	if c := basic.Cred(); c.Data != "QnJ1Y2UyOk9oQmVoYXZl" {
		t.Errorf("basic server cred %+v", c)
	}
	h := ServerAuth{Scheme: AuthHMAC, ServerID: "Bruce2", Password: "OhBehave", Nonce: []byte("Nonce")}
	if h.Cred() != nil {
		t.Error("HMAC sends no Cred")
	}
	got := h.HMACHeader([]byte(`<SyncML xmlns="SYNCML:SYNCML1.2"></SyncML>`))
	if got != `algorithm=MD5, username="Bruce2", mac=aSBvnDHzBa7JhdjeEEUR2g==` {
		t.Errorf("HMAC header %s", got)
	}
}
