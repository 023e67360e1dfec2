package sim

import (
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// maxServerRefusals is how many server messages whose credentials fail a
// ChallengeServer device takes in one session: the last one ends it.
const maxServerRefusals = 3

// cred is the device's Cred for its SyncHdr (none for HMAC, which goes in
// the HTTP header).
func (d *DMDevice) cred() *syncml.Cred {
	switch d.Auth {
	case "basic":
		return &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthBasic, Format: "b64"}, Data: syncml.BasicCredential(d.Username, d.Password)}
	case "md5":
		return &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64"}, Data: syncml.MD5Credential(d.Username, d.Password, d.Nonce)}
	}
	return nil
}

// hmacHeader is the device's x-syncml-hmac value for body, "" unless the
// device authenticates with HMAC.
func (d *DMDevice) hmacHeader(body []byte) string {
	if d.Auth != "hmac" {
		return ""
	}
	return syncml.HMACHeader{Username: d.Username, MAC: syncml.ComputeHMAC(d.Username, d.Password, d.Nonce, body)}.String()
}

// serverScheme is the type of credentials the device demands of the
// server: ServerAuth, else its own.
func (d *DMDevice) serverScheme() string {
	if d.ServerAuth != "" {
		return d.ServerAuth
	}
	return d.Auth
}

// strictServerCheck: the device checks the server's credentials as
// libdmclient does (type named, current nonce only).
func (d *DMDevice) strictServerCheck() bool { return d.ServerAuth != "" || d.ChallengeServer }

// authType is the Meta Type of a scheme's Cred or Chal; md5 for anything
// but basic and hmac, as the device has always defaulted.
func authType(scheme string) string {
	switch scheme {
	case "basic":
		return syncml.AuthBasic
	case "hmac":
		return syncml.AuthHMAC
	}
	return syncml.AuthMD5
}

// schemeOf is the scheme a Cred or Chal Meta Type names ("" for none the
// device knows). Types are compared without case: syncml:auth-MAC is
// also written syncml:auth-mac.
func schemeOf(metaType string) string {
	for _, scheme := range []string{"basic", "md5", "hmac"} {
		if strings.EqualFold(metaType, authType(scheme)) {
			return scheme
		}
	}
	return ""
}

// newNonce is a fresh nonce the device issues to the server.
func newNonce() []byte {
	n := make([]byte, 16)
	rand.Read(n)
	return n
}

// takeChal takes the nonce of the server's challenge on the device's
// SyncHdr and, with FollowChal, the scheme it names when it refused the
// device's credentials.
func (s *dmSession) takeChal(st *syncml.Status) {
	if st.Chal == nil || st.Chal.Meta == nil {
		return
	}
	if st.Chal.Meta.NextNonce != nil {
		s.d.Nonce = st.Chal.Meta.NextNonce
	}
	if s.d.FollowChal && (st.Code == 401 || st.Code == 407) {
		if scheme := schemeOf(st.Chal.Meta.Type); scheme != "" {
			s.d.Auth = scheme
		}
	}
}

// checkServer checks the server's credentials in a reply under mutual
// authentication. A failure ends the session with ErrServerAuth, unless
// the device challenges the server (ChallengeServer): trusted is then
// false, up to the maxServerRefusals-th failure of the session.
func (s *dmSession) checkServer(in serverMsg) (trusted bool, err error) {
	if s.d.ServerPassword == "" || s.serverAuthentic(in.msg, in.hmac, in.body) {
		return true, nil
	}
	if !s.d.ChallengeServer {
		return false, ErrServerAuth
	}
	s.refusals++
	if s.refusals >= maxServerRefusals {
		return false, fmt.Errorf("%w: %d server messages refused in session %s", ErrServerAuth, s.refusals, s.opts.SessionID)
	}
	return false, nil
}

// serverAuthentic checks the server's credentials: its Cred until the
// device accepted one in the session, or the HMAC of every message.
//
// A nonce the device issued in a message the server never processed (it
// crashed first) never reached it: like clients that keep the previous
// nonce until the server has used the new one, the device also accepts
// credentials on the nonce it issued before, and goes back to it. A strict
// device (ServerAuth or ChallengeServer set) does not: it challenges.
func (s *dmSession) serverAuthentic(m *syncml.Message, hmac string, body []byte) bool {
	if s.authenticWith(s.d.ServerNonce, m, hmac, body) {
		s.d.prevServerNonce, s.d.havePrevServerNonce = nil, false
		return true
	}
	// The previous nonce may be the empty one a device starts from.
	if prev := s.d.prevServerNonce; s.d.havePrevServerNonce && !s.d.strictServerCheck() && s.authenticWith(prev, m, hmac, body) {
		s.d.ServerNonce, s.d.prevServerNonce, s.d.havePrevServerNonce = prev, nil, false
		return true
	}
	return false
}

func (s *dmSession) authenticWith(nonce []byte, m *syncml.Message, hmac string, body []byte) bool {
	scheme := s.d.serverScheme()
	if scheme == "hmac" {
		h, err := syncml.ParseHMACHeader(hmac)
		return err == nil && h.Username == s.d.ServerID && syncml.VerifyHMAC(h, s.d.ServerPassword, nonce, body)
	}
	c := m.Header.Cred
	if c == nil {
		return s.serverAccepted
	}
	if s.d.strictServerCheck() && credScheme(c) != scheme {
		return false
	}
	var ok bool
	if scheme == "basic" {
		u, p, err := syncml.ParseBasicCredential(c.Data)
		ok = err == nil && u == s.d.ServerID && p == s.d.ServerPassword
	} else {
		ok = syncml.VerifyMD5Credential(s.d.ServerID, s.d.ServerPassword, nonce, c.Data)
	}
	s.serverAccepted = s.serverAccepted || ok
	return ok
}

// credScheme is the scheme of a Cred; basic when it names none (SyncML's
// default Meta Type for Cred).
func credScheme(c *syncml.Cred) string {
	if c.Meta == nil || c.Meta.Type == "" {
		return "basic"
	}
	return schemeOf(c.Meta.Type)
}

// headerStatus answers the SyncHdr of a trusted server message: 200, or
// 212 once its Cred verified; under mutual authentication with md5 or
// HMAC, a Chal with a fresh nonce for the server's next credentials.
func (s *dmSession) headerStatus(in *syncml.Message) *syncml.Status {
	st := hdrStatus(in, 200)
	st.CmdID = s.nextCmd()
	if s.d.ServerPassword == "" {
		return st
	}
	scheme := s.d.serverScheme()
	if scheme != "hmac" && in.Header.Cred != nil {
		st.Code = 212
	}
	n := newNonce()
	if !s.d.havePrevServerNonce {
		s.d.prevServerNonce, s.d.havePrevServerNonce = s.d.ServerNonce, true
	}
	s.d.ServerNonce = n
	if scheme != "basic" {
		st.Chal = &syncml.Chal{Meta: &syncml.Meta{Type: authType(scheme), Format: "b64", NextNonce: n}}
	}
	return st
}

// serverChallenge answers the SyncHdr of a server message whose
// credentials failed: 401 with a Chal of the device's server credential
// type, for md5 and HMAC with a fresh nonce, from now on the only one the
// device accepts (no CmdID yet).
func (s *dmSession) serverChallenge(in *syncml.Message) *syncml.Status {
	st := hdrStatus(in, 401)
	scheme := s.d.serverScheme()
	meta := &syncml.Meta{Type: authType(scheme), Format: "b64"}
	if scheme != "basic" {
		meta.NextNonce = newNonce()
		s.d.ServerNonce, s.d.prevServerNonce, s.d.havePrevServerNonce = meta.NextNonce, nil, false
	}
	st.Chal = &syncml.Chal{Meta: meta}
	return st
}
