package syncml

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParseBasicCredential: Cred Data that parses gives a user and a
// password that BasicCredential writes back to Data that parses to them;
// Data that does not parse is ErrBadCredential.
func FuzzParseBasicCredential(f *testing.F) {
	f.Add("QnJ1Y2UyOk9oQmVoYXZl") // Bruce2:OhBehave
	f.Add(" QnJ1Y2UyOk9oQmVoYXZl\n")
	f.Add("QnJ1Y2UyOk9oQmVoYXZl==")
	f.Add("QnJ1Y2Uy") // no colon
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, data string) {
		user, password, err := ParseBasicCredential(data)
		if err != nil {
			if !errors.Is(err, ErrBadCredential) {
				t.Fatalf("ParseBasicCredential(%q): untyped error %v", data, err)
			}
			return
		}
		if strings.Contains(user, ":") {
			t.Fatalf("ParseBasicCredential(%q): user %q has a colon", data, user)
		}
		u, p, err := ParseBasicCredential(BasicCredential(user, password))
		if err != nil || u != user || p != password {
			t.Fatalf("round trip of %q/%q: %q/%q %v", user, password, u, p, err)
		}
	})
}

// FuzzDecodeNonce: a NextNonce that decodes encodes back to text that
// decodes to the same bytes; one that does not is ErrBadCredential.
func FuzzDecodeNonce(f *testing.F) {
	f.Add("Tm9uY2U=") // "Nonce"
	f.Add("Tm9uY2U")
	f.Add("AAAAAA==")
	f.Add("")
	f.Add("not base64!")
	f.Fuzz(func(t *testing.T, s string) {
		nonce, err := DecodeNonce(s)
		if err != nil {
			if !errors.Is(err, ErrBadCredential) {
				t.Fatalf("DecodeNonce(%q): untyped error %v", s, err)
			}
			return
		}
		back, err := DecodeNonce(EncodeNonce(nonce))
		if err != nil || !bytes.Equal(back, nonce) {
			t.Fatalf("round trip of %x: %x %v", nonce, back, err)
		}
	})
}
