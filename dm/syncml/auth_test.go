package syncml

import (
	"errors"
	"strings"
	"testing"
)

// The vectors of shared/reference/omadm-fumo.md, section Authentication.
func TestBasicCredential(t *testing.T) {
	if got := BasicCredential("Bruce2", "OhBehave"); got != "QnJ1Y2UyOk9oQmVoYXZl" {
		t.Errorf("BasicCredential = %s", got)
	}
	tests := []struct {
		name, data, user, pass string
		wantErr                bool
	}{
		{"vector", "QnJ1Y2UyOk9oQmVoYXZl", "Bruce2", "OhBehave", false},
		{"whitespace", "  QnJ1Y2UyOk9oQmVoYXZl\n", "Bruce2", "OhBehave", false},
		{"no padding", "U2N0czpTYW1wbGVDbGllbnQ", "Scts", "SampleClient", false},
		{"colon in password", BasicCredential("u", "a:b"), "u", "a:b", false},
		{"no colon", "YWJj", "", "", true},
		{"not base64", "***", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p, err := ParseBasicCredential(tt.data)
			if tt.wantErr {
				if !errors.Is(err, ErrBadCredential) {
					t.Fatalf("err %v, want ErrBadCredential", err)
				}
				return
			}
			if err != nil || u != tt.user || p != tt.pass {
				t.Errorf("got %q %q %v", u, p, err)
			}
		})
	}
}

func TestMD5Credential(t *testing.T) {
	tests := []struct {
		name, user, pass, nonce, want string
	}{
		{"Bruce2 with nonce", "Bruce2", "OhBehave", "Nonce", "Zz6EivR3yeaaENcRN6lpAQ=="},
		{"funambol empty nonce", "funambol", "srvpwd", "", "Lx7CSZp0iHRedCEbryGJuw=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MD5Credential(tt.user, tt.pass, []byte(tt.nonce)); got != tt.want {
				t.Errorf("MD5Credential = %s, want %s", got, tt.want)
			}
			if !VerifyMD5Credential(tt.user, tt.pass, []byte(tt.nonce), " "+tt.want+"\n") {
				t.Error("Verify refused the vector")
			}
			if VerifyMD5Credential(tt.user, tt.pass+"x", []byte(tt.nonce), tt.want) {
				t.Error("Verify accepted a wrong password")
			}
			if VerifyMD5Credential(tt.user, tt.pass, []byte(tt.nonce+"x"), tt.want) {
				t.Error("Verify accepted a stale nonce")
			}
		})
	}
}

func TestNonce(t *testing.T) {
	n, err := DecodeNonce("ZG9iZWhhdmUNCg==")
	if err != nil || string(n) != "dobehave\r\n" {
		t.Fatalf("DecodeNonce = %q %v", n, err)
	}
	if EncodeNonce(n) != "ZG9iZWhhdmUNCg==" {
		t.Error("EncodeNonce does not round-trip")
	}
	if _, err := DecodeNonce("not base64!"); !errors.Is(err, ErrBadCredential) {
		t.Errorf("bad nonce: %v", err)
	}
}

func TestHMAC(t *testing.T) {
	body := []byte(`<SyncML xmlns="SYNCML:SYNCML1.2"></SyncML>`)
	mac := ComputeHMAC("Bruce2", "OhBehave", []byte("Nonce"), body)
	if mac != "aSBvnDHzBa7JhdjeEEUR2g==" {
		t.Fatalf("ComputeHMAC = %s", mac)
	}
	h := HMACHeader{Username: "Bruce2", MAC: mac}
	if s := h.String(); s != `algorithm=MD5, username="Bruce2", mac=aSBvnDHzBa7JhdjeEEUR2g==` {
		t.Errorf("String = %s", s)
	}
	parsed, err := ParseHMACHeader(h.String())
	if err != nil || parsed != (HMACHeader{"MD5", "Bruce2", mac}) {
		t.Fatalf("parse = %+v %v", parsed, err)
	}
	if !VerifyHMAC(parsed, "OhBehave", []byte("Nonce"), body) {
		t.Error("VerifyHMAC refused the vector")
	}
	if VerifyHMAC(parsed, "OhBehave", []byte("Nonce"), append(body, ' ')) {
		t.Error("VerifyHMAC accepted a changed body")
	}
	if VerifyHMAC(parsed, "OhBehave", []byte("Other"), body) {
		t.Error("VerifyHMAC accepted another nonce")
	}
}

func TestParseHMACHeader(t *testing.T) {
	tests := []struct {
		name, in string
		want     HMACHeader
		wantErr  string
	}{
		{"spec", `algorithm=MD5, username="Bruce2", mac=abc==`, HMACHeader{"MD5", "Bruce2", "abc=="}, ""},
		{"any order, no spaces", `mac=abc==,username="u",algorithm=MD5`, HMACHeader{"MD5", "u", "abc=="}, ""},
		{"unquoted and upper-case names", `Algorithm=md5, USERNAME=u, MAC="m"`, HMACHeader{"MD5", "u", "m"}, ""},
		{"algorithm defaults to MD5", `username="u", mac=m`, HMACHeader{"MD5", "u", "m"}, ""},
		{"sha1 refused", `algorithm=SHA1, username="u", mac=m`, HMACHeader{}, "only MD5"},
		{"missing username", `algorithm=MD5, mac=m`, HMACHeader{}, "missing username"},
		{"missing mac", `username="u"`, HMACHeader{}, "missing mac"},
		{"duplicate", `username="u", username="v", mac=m`, HMACHeader{}, "twice"},
		{"no equals", `username`, HMACHeader{}, "name=value"},
		{"unknown parameter", `username=u, mac=m, realm=x`, HMACHeader{}, "unknown parameter"},
		{"unbalanced quote", `username="u, mac=m`, HMACHeader{}, "quote"},
		{"too long", "username=" + strings.Repeat("u", 5000) + ", mac=m", HMACHeader{}, "longer than"},
		{"empty", ``, HMACHeader{}, "missing username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHMACHeader(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrBadHMACHeader) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func FuzzParseHMACHeader(f *testing.F) {
	f.Add(`algorithm=MD5, username="Bruce2", mac=aSBvnDHzBa7JhdjeEEUR2g==`)
	f.Add(`mac=m,username=u`)
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHMACHeader(s)
		if err != nil {
			if !errors.Is(err, ErrBadHMACHeader) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		back, err := ParseHMACHeader(h.String())
		if err != nil || back != h {
			t.Fatalf("parse(String()) = %+v %v, want %+v (from %q via %q)", back, err, h, s, h.String())
		}
	})
}
