package dm

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// AuthScheme is how a device proves who it is.
type AuthScheme int

const (
	AuthBasic AuthScheme = iota + 1 // syncml:auth-basic in Cred
	AuthMD5                         // syncml:auth-md5 in Cred, with a nonce
	AuthHMAC                        // x-syncml-hmac HTTP header, a fresh nonce every message
)

func (s AuthScheme) String() string {
	switch s {
	case AuthBasic:
		return "basic"
	case AuthMD5:
		return "md5"
	case AuthHMAC:
		return "hmac"
	}
	return fmt.Sprintf("AuthScheme(%d)", int(s))
}

// metaType is the Cred/Chal Meta Type of the scheme.
func (s AuthScheme) metaType() string {
	switch s {
	case AuthBasic:
		return syncml.AuthBasic
	case AuthMD5:
		return syncml.AuthMD5
	}
	return syncml.AuthHMAC
}

// ParseAuthScheme reads "basic", "md5" or "hmac" (as in configuration), or a
// Cred Meta Type (any case).
func ParseAuthScheme(s string) (AuthScheme, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "basic", strings.ToLower(syncml.AuthBasic):
		return AuthBasic, nil
	case "md5", "digest", strings.ToLower(syncml.AuthMD5):
		return AuthMD5, nil
	case "hmac", strings.ToLower(syncml.AuthHMAC):
		return AuthHMAC, nil
	}
	return 0, fmt.Errorf("dm: unknown authentication scheme %q: %w", s, ErrBadConfig)
}

// NonceSize is the length of the nonces the server issues: at least 16
// random bytes, as the reference demands.
const NonceSize = 16

// NewNonce reads NonceSize bytes from r (crypto/rand.Reader when nil).
func NewNonce(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	n := make([]byte, NonceSize)
	if _, err := io.ReadFull(r, n); err != nil {
		return nil, fmt.Errorf("dm: nonce: %w", err)
	}
	return n, nil
}

// ClientAuth is what the server knows of a device's credentials.
type ClientAuth struct {
	Scheme   AuthScheme
	Username string
	Password string
	// Nonce is the nonce the server last issued to the device; the device's
	// md5 credential or HMAC must be computed with it. AltNonce, when set,
	// is a nonce challenged in a message the server did not store (it
	// failed authentication): credentials computed with it are taken too.
	Nonce    []byte
	AltNonce []byte
}

// verifies reports whether check passes with the device's nonce or its
// alternative one.
func (c ClientAuth) verifies(check func(nonce []byte) bool) bool {
	return check(c.Nonce) || c.AltNonce != nil && check(c.AltNonce)
}

// AuthRequest is what Authenticate sees of one client message.
type AuthRequest struct {
	Header *syncml.Header // Cred and Source LocName
	HMAC   string         // the x-syncml-hmac header, "" when absent
	Body   []byte         // the exact HTTP body, for HMAC
	// Authenticated: the session was already accepted with 212 (basic,
	// md5); HMAC sessions authenticate every message.
	Authenticated bool
	// Failures counts credentials refused earlier in this session.
	Failures int
}

// AuthDecision is the outcome for one message: the SyncHdr status and the
// challenge to send, and what to store before answering.
type AuthDecision struct {
	Status int          // 212, 200, 401 or 407 on the SyncHdr
	Chal   *syncml.Chal // challenge with the device's next nonce; nil when none
	// Nonce is the nonce to store for the device (the one in Chal), nil to
	// keep the stored one. Store it before sending the answer.
	Nonce []byte
	// Accepted: the message is authenticated; its commands may run.
	Accepted bool
	// Refused: the device failed again after its one more challenge (or
	// sent nothing usable twice); end the session without running anything.
	Refused bool
	// Failed: this message's credentials were wrong (count it in the session).
	Failed bool
	// Reason says why a message was not accepted, for logs.
	Reason string
}

// maxFailures is how many wrong credentials a session tolerates: the first
// gets one more challenge, the second ends the session.
const maxFailures = 2

// Authenticate decides the SyncHdr status of one client message. nonce
// supplies a fresh nonce when a challenge needs one (it is called at most
// once). It is pure: the caller stores Nonce and the failure count, then
// answers.
func Authenticate(dev ClientAuth, req AuthRequest, nonce func() ([]byte, error)) (AuthDecision, error) {
	challenge := func(d AuthDecision) (AuthDecision, error) {
		if d.Refused {
			return d, nil
		}
		n, err := nonce()
		if err != nil {
			return AuthDecision{}, err
		}
		meta := &syncml.Meta{Type: dev.Scheme.metaType(), Format: "b64"}
		if dev.Scheme != AuthBasic {
			meta.NextNonce = n
			d.Nonce = n
		}
		d.Chal = &syncml.Chal{Meta: meta}
		return d, nil
	}
	fail := func(reason string) (AuthDecision, error) {
		d := AuthDecision{Status: 401, Failed: true, Reason: reason}
		d.Refused = req.Failures+1 >= maxFailures
		return challenge(d)
	}

	if dev.Scheme == AuthHMAC {
		if req.HMAC == "" {
			if req.Header != nil && req.Header.Cred != nil {
				return fail("Cred sent where x-syncml-hmac is required")
			}
			return challenge(AuthDecision{Status: 407, Reason: "no x-syncml-hmac header"})
		}
		h, err := syncml.ParseHMACHeader(req.HMAC)
		if err != nil {
			return fail(err.Error())
		}
		if h.Username != dev.Username || !dev.verifies(func(n []byte) bool { return syncml.VerifyHMAC(h, dev.Password, n, req.Body) }) {
			return fail("HMAC does not verify")
		}
		// Every HMAC message is answered 200 with a fresh nonce, used once.
		return challenge(AuthDecision{Status: 200, Accepted: true})
	}

	if req.Authenticated {
		return AuthDecision{Status: 200, Accepted: true}, nil
	}
	if req.Header == nil || req.Header.Cred == nil {
		return challenge(AuthDecision{Status: 407, Reason: "no credentials"})
	}
	cred := req.Header.Cred
	var typ string
	if cred.Meta != nil {
		typ = cred.Meta.Type
	}
	got, err := ParseAuthScheme(typ)
	if err != nil && typ == "" {
		got, err = AuthBasic, nil // Meta Type defaults to basic in SyncML
	}
	if err != nil || got != dev.Scheme {
		return fail(fmt.Sprintf("credential type %q, want %s", typ, dev.Scheme))
	}
	// LocName is "used for" the user name (DM 1.2): real clients leave it
	// out, and then the device's own user name is the one; a LocName that
	// names someone else is refused.
	if ln := req.Header.Source.LocName; ln != "" && ln != dev.Username {
		return fail(fmt.Sprintf("LocName %q is not the device's user name", ln))
	}
	switch dev.Scheme {
	case AuthBasic:
		user, pass, err := syncml.ParseBasicCredential(cred.Data)
		if err != nil || user != dev.Username || pass != dev.Password {
			return fail("basic credential does not match")
		}
		return AuthDecision{Status: 212, Accepted: true}, nil
	case AuthMD5:
		if !dev.verifies(func(n []byte) bool { return syncml.VerifyMD5Credential(dev.Username, dev.Password, n, cred.Data) }) {
			return fail("md5 credential does not match")
		}
		// 212 with the nonce for the next session.
		return challenge(AuthDecision{Status: 212, Accepted: true})
	}
	return AuthDecision{}, fmt.Errorf("dm: device auth scheme %v: %w", dev.Scheme, ErrBadConfig)
}

// ServerAuth is the server's identity towards one device (mutual
// authentication): the server id and password the device checks, and the
// nonce the device last issued to the server.
type ServerAuth struct {
	Scheme   AuthScheme
	ServerID string
	Password string
	Nonce    []byte
}

// Cred is the Cred the server puts in its SyncHdr (basic or md5). HMAC
// servers authenticate with HMACHeader instead and send no Cred.
func (s ServerAuth) Cred() *syncml.Cred {
	switch s.Scheme {
	case AuthBasic:
		return &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthBasic, Format: "b64"}, Data: syncml.BasicCredential(s.ServerID, s.Password)}
	case AuthMD5:
		return &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64"}, Data: syncml.MD5Credential(s.ServerID, s.Password, s.Nonce)}
	}
	return nil
}

// HMACHeader is the x-syncml-hmac value the server sends with body.
func (s ServerAuth) HMACHeader(body []byte) string {
	return syncml.HMACHeader{Username: s.ServerID, MAC: syncml.ComputeHMAC(s.ServerID, s.Password, s.Nonce, body)}.String()
}
