package syncml

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// Credential schemes: the Meta Type of a Cred or Chal.
const (
	AuthBasic = "syncml:auth-basic"
	AuthMD5   = "syncml:auth-md5"
	AuthHMAC  = "syncml:auth-MAC" // never in a Cred: carried by the x-syncml-hmac HTTP header
)

// b64md5 is B64(MD5(parts...)), the building block of every DM digest.
func b64md5(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		h.Write(p)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// userDigest is B64(MD5("user:password")).
func userDigest(user, password string) []byte {
	return []byte(b64md5([]byte(user + ":" + password)))
}

// BasicCredential is the Cred Data of syncml:auth-basic: B64("user:password").
func BasicCredential(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// ParseBasicCredential reads syncml:auth-basic Cred Data. Surrounding
// whitespace and missing base64 padding are tolerated.
func ParseBasicCredential(data string) (user, password string, err error) {
	raw, err := decodeB64(data)
	if err != nil {
		return "", "", fmt.Errorf("syncml: basic credential: %w", err)
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("syncml: basic credential has no \"user:password\": %w", ErrBadCredential)
	}
	return user, password, nil
}

// MD5Credential is the Cred Data of syncml:auth-md5:
// B64(MD5( B64(MD5("user:password")) ":" nonce )), nonce as raw bytes.
func MD5Credential(user, password string, nonce []byte) string {
	return b64md5(userDigest(user, password), []byte(":"), nonce)
}

// VerifyMD5Credential compares data with the expected md5 credential in
// constant time.
func VerifyMD5Credential(user, password string, nonce []byte, data string) bool {
	return equalB64(data, MD5Credential(user, password, nonce))
}

// DecodeNonce reads a NextNonce given as base64 text.
func DecodeNonce(s string) ([]byte, error) {
	b, err := decodeB64(s)
	if err != nil {
		return nil, fmt.Errorf("syncml: nonce: %w", err)
	}
	return b, nil
}

// EncodeNonce writes a nonce as base64 text for a NextNonce.
func EncodeNonce(nonce []byte) string { return base64.StdEncoding.EncodeToString(nonce) }

// decodeB64 decodes standard base64, padded or not, ignoring surrounding
// whitespace.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", ErrBadCredential)
	}
	return b, nil
}

func equalB64(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) == 1
}

// HMACHeaderName is the HTTP header that carries the DM 1.2 HMAC.
const HMACHeaderName = "x-syncml-hmac"

// maxHMACHeader bounds the header a parser reads.
const maxHMACHeader = 4096

// HMACHeader is the value of an x-syncml-hmac header:
// algorithm=MD5, username="NAME", mac=B64MAC.
type HMACHeader struct {
	Algorithm string // "MD5" (the only one DM 1.2 defines)
	Username  string
	MAC       string
}

// String formats the header value.
func (h HMACHeader) String() string {
	alg := h.Algorithm
	if alg == "" {
		alg = "MD5"
	}
	return "algorithm=" + alg + ", username=\"" + h.Username + "\", mac=" + h.MAC
}

// ParseHMACHeader reads an x-syncml-hmac header value: parameters in any
// order, separated by commas, values quoted or not, names in any case. The
// algorithm defaults to MD5; any other is refused.
func ParseHMACHeader(v string) (HMACHeader, error) {
	var h HMACHeader
	if len(v) > maxHMACHeader {
		return h, fmt.Errorf("syncml: x-syncml-hmac longer than %d bytes: %w", maxHMACHeader, ErrBadHMACHeader)
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return h, fmt.Errorf("syncml: x-syncml-hmac: %q is not name=value: %w", part, ErrBadHMACHeader)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		} else if strings.ContainsRune(val, '"') {
			return h, fmt.Errorf("syncml: x-syncml-hmac: %s has an unbalanced quote: %w", k, ErrBadHMACHeader)
		}
		if seen[k] {
			return h, fmt.Errorf("syncml: x-syncml-hmac: %s given twice: %w", k, ErrBadHMACHeader)
		}
		seen[k] = true
		switch k {
		case "algorithm":
			h.Algorithm = val
		case "username":
			h.Username = val
		case "mac":
			h.MAC = val
		default:
			return h, fmt.Errorf("syncml: x-syncml-hmac: unknown parameter %q: %w", k, ErrBadHMACHeader)
		}
	}
	if h.Algorithm == "" {
		h.Algorithm = "MD5"
	}
	if !strings.EqualFold(h.Algorithm, "MD5") {
		return h, fmt.Errorf("syncml: x-syncml-hmac: algorithm %q, only MD5 is defined: %w", h.Algorithm, ErrBadHMACHeader)
	}
	h.Algorithm = "MD5"
	switch {
	case h.Username == "":
		return h, fmt.Errorf("syncml: x-syncml-hmac: missing username: %w", ErrBadHMACHeader)
	case h.MAC == "":
		return h, fmt.Errorf("syncml: x-syncml-hmac: missing mac: %w", ErrBadHMACHeader)
	}
	return h, nil
}

// ComputeHMAC is the mac of an HTTP body:
// B64(MD5( B64(MD5("user:password")) ":" nonce ":" B64(MD5(body)) )).
func ComputeHMAC(user, password string, nonce, body []byte) string {
	return b64md5(userDigest(user, password), []byte(":"), nonce, []byte(":"), []byte(b64md5(body)))
}

// VerifyHMAC checks the header's mac over body in constant time.
func VerifyHMAC(h HMACHeader, password string, nonce, body []byte) bool {
	return equalB64(h.MAC, ComputeHMAC(h.Username, password, nonce, body))
}
