package syncml

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// The Package 0 vectors of shared/reference/omadm-fumo.md: server id
// com.mgmtsrv.manage, password srvpwd, version 11, ui-mode 1, initiator 0,
// session 0x1234.
const specTrigger = "02d0000000123412636f6d2e6d676d747372762e6d616e616765"

func specNotification() Notification {
	return Notification{Version: 11, UIMode: UIModeBackground, Initiator: InitiatorUser, SessionID: 0x1234, ServerID: "com.mgmtsrv.manage"}
}

func TestPackage0Digest_Vectors(t *testing.T) {
	trigger, _ := hex.DecodeString(specTrigger)
	tests := []struct {
		name   string
		nonce  []byte
		digest string
	}{
		{"empty nonce", nil, "91c8b57a5ac3d570c67743ec89e57793"},
		{"four zero bytes (resync)", []byte{0, 0, 0, 0}, "e37fdc0f8e9070fc31b0967910b921af"},
		{"nonce Nonce", []byte("Nonce"), "10369e83e3fc7103a4a21acce6e242ae"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Package0Digest("com.mgmtsrv.manage", "srvpwd", tt.nonce, trigger)
			if hex.EncodeToString(d[:]) != tt.digest {
				t.Errorf("digest %x, want %s", d, tt.digest)
			}
			raw, err := EncodeNotification(specNotification(), "srvpwd", tt.nonce)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(raw); got != tt.digest+specTrigger {
				t.Errorf("EncodeNotification = %s\nwant %s%s", got, tt.digest, specTrigger)
			}
			if err := VerifyNotification(raw, "com.mgmtsrv.manage", "srvpwd", tt.nonce); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if err := VerifyNotification(raw, "com.mgmtsrv.manage", "wrong", tt.nonce); !errors.Is(err, ErrPackage0Digest) {
				t.Errorf("Verify with a wrong password: %v", err)
			}
		})
	}
}

func TestDecodeNotification_SpecHeader(t *testing.T) {
	raw, _ := hex.DecodeString("91c8b57a5ac3d570c67743ec89e57793" + specTrigger + "cafe")
	n, err := DecodeNotification(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := specNotification()
	copy(want.Digest[:], raw[:16])
	want.VendorBody = []byte{0xca, 0xfe}
	if n.Version != 11 || n.UIMode != UIModeBackground || n.Initiator != InitiatorUser || n.SessionID != 0x1234 ||
		n.ServerID != "com.mgmtsrv.manage" || n.Digest != want.Digest || !bytes.Equal(n.VendorBody, want.VendorBody) {
		t.Errorf("decoded %+v", n)
	}
	if n.UIMode.String() != "background" || n.Initiator.String() != "user" || SessionIDHex(n.SessionID) != "1234" {
		t.Errorf("names: %v %v %s", n.UIMode, n.Initiator, SessionIDHex(n.SessionID))
	}
	back, err := n.MarshalBinary()
	if err != nil || !bytes.Equal(back, raw) {
		t.Errorf("MarshalBinary = %x %v", back, err)
	}
}

func TestDecodeNotification_Bad(t *testing.T) {
	raw, _ := hex.DecodeString("91c8b57a5ac3d570c67743ec89e57793" + specTrigger)
	for i := 0; i < len(raw); i++ {
		if _, err := DecodeNotification(raw[:i]); !errors.Is(err, ErrBadPackage0) {
			t.Fatalf("truncated at %d: err %v", i, err)
		}
	}
	long := append([]byte(nil), raw[:24]...)
	long[23] = 0xFF
	if _, err := DecodeNotification(long); err == nil || !bytes.Contains([]byte(err.Error()), []byte("offset 24")) {
		t.Errorf("server id length beyond the end: %v", err)
	}
	if err := VerifyNotification(raw[:10], "s", "p", nil); !errors.Is(err, ErrBadPackage0) {
		t.Errorf("Verify short: %v", err)
	}
}

func TestEncodeNotification_Bad(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Notification)
	}{
		{"version 10", func(n *Notification) { n.Version = 10 }},
		{"empty server id", func(n *Notification) { n.ServerID = "" }},
		{"server id over 255 bytes", func(n *Notification) { n.ServerID = string(make([]byte, 256)) }},
		{"ui-mode 4", func(n *Notification) { n.UIMode = 4 }},
		{"initiator 2", func(n *Notification) { n.Initiator = 2 }},
		{"reserved bits", func(n *Notification) { n.Reserved = 1 << 27 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := specNotification()
			tt.mod(&n)
			if _, err := EncodeNotification(n, "srvpwd", nil); !errors.Is(err, ErrBadPackage0) {
				t.Errorf("err %v, want ErrBadPackage0", err)
			}
		})
	}
}

func TestSessionIDHex(t *testing.T) {
	for _, tt := range []struct {
		id uint16
		s  string
	}{{0x00AB, "AB"}, {0, "0"}, {0x1234, "1234"}, {0xFFFF, "FFFF"}, {0x0F0, "F0"}} {
		if got := SessionIDHex(tt.id); got != tt.s {
			t.Errorf("SessionIDHex(%#x) = %s, want %s", tt.id, got, tt.s)
		}
		if back, err := ParseSessionIDHex(tt.s); err != nil || back != tt.id {
			t.Errorf("ParseSessionIDHex(%s) = %#x %v", tt.s, back, err)
		}
	}
	if back, err := ParseSessionIDHex("ab"); err != nil || back != 0xAB {
		t.Errorf("lower case: %#x %v", back, err)
	}
	for _, bad := range []string{"", "10000", "xyz"} {
		if _, err := ParseSessionIDHex(bad); !errors.Is(err, ErrBadPackage0) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzDecodePackage0(f *testing.F) {
	for _, d := range []string{"91c8b57a5ac3d570c67743ec89e57793", "e37fdc0f8e9070fc31b0967910b921af", "10369e83e3fc7103a4a21acce6e242ae"} {
		raw, _ := hex.DecodeString(d + specTrigger)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := DecodeNotification(b)
		if err != nil {
			if !errors.Is(err, ErrBadPackage0) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := n.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal of a decoded notification: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("decode -> encode changed the bytes:\n%x\n%x", b, out)
		}
		again, err := DecodeNotification(out)
		if err != nil || again.SessionID != n.SessionID || again.ServerID != n.ServerID || again.Digest != n.Digest {
			t.Fatalf("decode -> encode -> decode unstable: %+v %v", again, err)
		}
	})
}
