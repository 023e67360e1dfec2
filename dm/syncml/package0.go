package syncml

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// ContentTypeNotification is the media type of a Package 0.
const ContentTypeNotification = "application/vnd.syncml.notification"

// Package0Version is the version field of DM 1.2 notifications.
const Package0Version = 11

// UIMode is the ui-mode field of a Package 0.
type UIMode uint8

const (
	UIModeUnspecified     UIMode = 0
	UIModeBackground      UIMode = 1
	UIModeInformative     UIMode = 2
	UIModeUserInteraction UIMode = 3
)

func (m UIMode) String() string {
	switch m {
	case UIModeUnspecified:
		return "unspecified"
	case UIModeBackground:
		return "background"
	case UIModeInformative:
		return "informative"
	case UIModeUserInteraction:
		return "user-interaction"
	}
	return "UIMode(" + strconv.Itoa(int(m)) + ")"
}

// Initiator is the initiator field of a Package 0.
type Initiator uint8

const (
	InitiatorUser   Initiator = 0
	InitiatorServer Initiator = 1
)

func (i Initiator) String() string {
	if i == InitiatorServer {
		return "server"
	}
	return "user"
}

// Notification is a Package 0 (OMA DM Notification Initiated Session):
//
//	digest(128) | version(10) | ui-mode(2) | initiator(1) | future(27) |
//	sessionid(16) | server-id length(8) | server-id | vendor body
//
// big-endian; the digest covers everything after it (the trigger).
type Notification struct {
	Digest     [16]byte
	Version    int // 10 bits; 11 for DM 1.2
	UIMode     UIMode
	Initiator  Initiator
	Reserved   uint32 // the 27 future bits, 0 when written by the spec
	SessionID  uint16
	ServerID   string
	VendorBody []byte
}

const package0Header = 16 + 5 + 2 + 1 // digest, bit fields, session id, server-id length

// Trigger returns the bytes the digest covers.
func (n Notification) Trigger() ([]byte, error) {
	if n.Version < 0 || n.Version >= 1<<10 {
		return nil, fmt.Errorf("syncml: package0: version %d does not fit 10 bits: %w", n.Version, ErrBadPackage0)
	}
	if n.UIMode > 3 || n.Initiator > 1 || n.Reserved >= 1<<27 {
		return nil, fmt.Errorf("syncml: package0: ui-mode, initiator or future bits out of range: %w", ErrBadPackage0)
	}
	if len(n.ServerID) > 255 {
		return nil, fmt.Errorf("syncml: package0: server id of %d bytes, at most 255: %w", len(n.ServerID), ErrBadPackage0)
	}
	b := make([]byte, 0, package0Header-16+len(n.ServerID)+len(n.VendorBody))
	bits := uint64(n.Version)<<30 | uint64(n.UIMode)<<28 | uint64(n.Initiator)<<27 | uint64(n.Reserved)
	b = append(b, byte(bits>>32), byte(bits>>24), byte(bits>>16), byte(bits>>8), byte(bits))
	b = binary.BigEndian.AppendUint16(b, n.SessionID)
	b = append(b, byte(len(n.ServerID)))
	b = append(b, n.ServerID...)
	return append(b, n.VendorBody...), nil
}

// MarshalBinary writes the notification with its Digest field as it is.
func (n Notification) MarshalBinary() ([]byte, error) {
	t, err := n.Trigger()
	if err != nil {
		return nil, err
	}
	return append(n.Digest[:len(n.Digest):len(n.Digest)], t...), nil
}

// Package0Digest is MD5( B64(MD5(serverID:password)) ":" nonce ":"
// B64(MD5(trigger)) ), with the server-to-client credentials and the nonce
// the device expects.
func Package0Digest(serverID, password string, nonce, trigger []byte) [16]byte {
	return md5.Sum([]byte(string(userDigest(serverID, password)) + ":" + string(nonce) + ":" + b64md5(trigger)))
}

// EncodeNotification fills in the digest with the server credentials and
// the device's nonce and returns the Package 0 bytes. The version must be 11
// and the server id not empty.
func EncodeNotification(n Notification, serverPassword string, nonce []byte) ([]byte, error) {
	if n.Version != Package0Version {
		return nil, fmt.Errorf("syncml: package0: version %d, DM 1.2 writes %d: %w", n.Version, Package0Version, ErrBadPackage0)
	}
	if n.ServerID == "" {
		return nil, fmt.Errorf("syncml: package0: empty server id: %w", ErrBadPackage0)
	}
	t, err := n.Trigger()
	if err != nil {
		return nil, err
	}
	n.Digest = Package0Digest(n.ServerID, serverPassword, nonce, t)
	return append(n.Digest[:], t...), nil
}

// DecodeNotification reads a Package 0; any version is returned for the
// caller to judge. Errors name the byte offset.
func DecodeNotification(b []byte) (Notification, error) {
	var n Notification
	if len(b) < package0Header {
		return n, fmt.Errorf("syncml: package0: offset %d: need %d header bytes, have %d: %w", len(b), package0Header, len(b), ErrBadPackage0)
	}
	copy(n.Digest[:], b[:16])
	bits := uint64(b[16])<<32 | uint64(b[17])<<24 | uint64(b[18])<<16 | uint64(b[19])<<8 | uint64(b[20])
	n.Version = int(bits >> 30)
	n.UIMode = UIMode(bits >> 28 & 3)
	n.Initiator = Initiator(bits >> 27 & 1)
	n.Reserved = uint32(bits & (1<<27 - 1))
	n.SessionID = binary.BigEndian.Uint16(b[21:23])
	idLen := int(b[23])
	if len(b) < package0Header+idLen {
		return n, fmt.Errorf("syncml: package0: offset %d: server id of %d bytes, only %d left: %w", package0Header, idLen, len(b)-package0Header, ErrBadPackage0)
	}
	n.ServerID = string(b[package0Header : package0Header+idLen])
	if rest := b[package0Header+idLen:]; len(rest) > 0 {
		n.VendorBody = append([]byte(nil), rest...)
	}
	return n, nil
}

// VerifyNotification checks the digest of a raw Package 0 against the
// server credentials and the nonce the device holds.
func VerifyNotification(raw []byte, serverID, password string, nonce []byte) error {
	if len(raw) < package0Header {
		return fmt.Errorf("syncml: package0: %d bytes, need %d: %w", len(raw), package0Header, ErrBadPackage0)
	}
	want := Package0Digest(serverID, password, nonce, raw[16:])
	if subtle.ConstantTimeCompare(want[:], raw[:16]) != 1 {
		return fmt.Errorf("syncml: package0: %w", ErrPackage0Digest)
	}
	return nil
}

// SessionIDHex writes a Package 0 session id as the SyncHdr SessionID:
// uppercase hex without leading zeros (0x00AB -> "AB").
func SessionIDHex(id uint16) string { return strings.ToUpper(strconv.FormatUint(uint64(id), 16)) }

// ParseSessionIDHex reads a SessionID written by SessionIDHex (any case).
func ParseSessionIDHex(s string) (uint16, error) {
	v, err := strconv.ParseUint(s, 16, 16)
	if err != nil {
		return 0, fmt.Errorf("syncml: session id %q is not 16-bit hex: %w", s, ErrBadPackage0)
	}
	return uint16(v), nil
}
