package fleet

import (
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"
)

// Protocol is how a device is managed.
type Protocol string

const (
	ProtocolDM    Protocol = "dm"
	ProtocolLwM2M Protocol = "lwm2m"
)

// DMAuth is how a DM device authenticates.
type DMAuth string

const (
	DMAuthBasic DMAuth = "basic"
	DMAuthMD5   DMAuth = "md5"
	DMAuthHMAC  DMAuth = "hmac"
)

// Device is one managed device.
type Device struct {
	ID              string     `json:"id"`
	Protocol        Protocol   `json:"protocol"`
	Model           string     `json:"model,omitempty"`
	FirmwareVersion string     `json:"firmware_version,omitempty"`
	Created         time.Time  `json:"created"`
	Updated         time.Time  `json:"updated"`
	DM              *DMInfo    `json:"dm,omitempty"`
	LwM2M           *LwM2MInfo `json:"lwm2m,omitempty"`
}

// DMInfo is what a DM device needs: identity, credentials both ways,
// nonces, its FUMO root and what it reported.
type DMInfo struct {
	DeviceID       string `json:"device_id"` // SyncHdr Source LocURI, e.g. "IMEI:..."
	FUMORoot       string `json:"fumo_root,omitempty"`
	Auth           DMAuth `json:"auth"`
	Username       string `json:"username"`
	Password       Secret `json:"password"`
	ServerID       string `json:"server_id,omitempty"`
	ServerPassword Secret `json:"server_password,omitempty"`
	// ServerAuth is how the server proves itself to the device (the DM
	// account's server credential type, DMAcc AppAuth SRVCRED), which may
	// differ from Auth (the client's, CLCRED). Empty: the same as Auth. A
	// device that refuses the server's credentials with a challenge naming
	// another type changes it.
	ServerAuth  DMAuth            `json:"server_auth,omitempty"`
	ClientNonce []byte            `json:"client_nonce,omitempty"` // issued by the server for the device's next credential
	ServerNonce []byte            `json:"server_nonce,omitempty"` // issued by the device for the server's credential
	DevInfo     map[string]string `json:"dev_info,omitempty"`
	DevDetail   map[string]string `json:"dev_detail,omitempty"`
	// TriggerSessionID is the session id of the last Package 0 sent (hex,
	// as the device writes it in its Alert 1200 session); cleared when that
	// session arrives.
	TriggerSessionID string `json:"trigger_session_id,omitempty"`
}

// ServerAuthType is the type of the server's credentials towards the
// device: ServerAuth, or Auth when it is not set.
func (m *DMInfo) ServerAuthType() DMAuth {
	if m.ServerAuth != "" {
		return m.ServerAuth
	}
	return m.Auth
}

// Valid reports whether a is a known DM authentication type.
func (a DMAuth) Valid() bool { return a == DMAuthBasic || a == DMAuthMD5 || a == DMAuthHMAC }

// LwM2MInfo is what an LwM2M device needs.
type LwM2MInfo struct {
	Endpoint     string        `json:"endpoint"`
	PSKIdentity  string        `json:"psk_identity,omitempty"`
	PSKKey       Secret        `json:"psk_key,omitempty"`
	Registration *Registration `json:"registration,omitempty"`
	// Inventory is what the device last reported of itself; nil until
	// its Object 3 was first read.
	Inventory *LwM2MInventory `json:"inventory,omitempty"`
}

// LwM2MInventory is what an LwM2M device reports of itself: its Device
// object (/3/0) and the versions its registration carries. The server
// reads Object 3 after every Register; a model number and firmware
// version read also become the device's Model and FirmwareVersion (what
// selectors and the device list filter on), and a value the device does
// not give never clears them. A value is empty when the device did not
// give it (or gave one that is not printable text of at most 128 bytes).
type LwM2MInventory struct {
	Manufacturer    string `json:"manufacturer,omitempty"`     // /3/0/0
	ModelNumber     string `json:"model_number,omitempty"`     // /3/0/1
	SerialNumber    string `json:"serial_number,omitempty"`    // /3/0/2
	FirmwareVersion string `json:"firmware_version,omitempty"` // /3/0/3
	// LwM2MVersion and ObjectVersions are the registration's lwm2m= and
	// ver= (object id -> version; objects at their default version are
	// not listed).
	LwM2MVersion   string            `json:"lwm2m_version,omitempty"`
	ObjectVersions map[string]string `json:"object_versions,omitempty"`
	// Updated is when the inventory last changed.
	Updated time.Time `json:"updated"`
}

// SameAs tells whether two inventories hold the same values (Updated
// aside).
func (i *LwM2MInventory) SameAs(o *LwM2MInventory) bool {
	if i == nil || o == nil {
		return i == o
	}
	return i.Manufacturer == o.Manufacturer && i.ModelNumber == o.ModelNumber && i.SerialNumber == o.SerialNumber &&
		i.FirmwareVersion == o.FirmwareVersion && i.LwM2MVersion == o.LwM2MVersion && maps.Equal(i.ObjectVersions, o.ObjectVersions)
}

// Registration is the device's current LwM2M registration.
type Registration struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Lifetime int    `json:"lifetime"` // seconds
	Binding  string `json:"binding,omitempty"`
	Version  string `json:"version,omitempty"`
	// Queue: the client is reachable only just after it sends something
	// (1.0 "b=UQ", 1.1+ the "Q" parameter).
	Queue bool `json:"queue,omitempty"`
	// Secure: registered over DTLS.
	Secure bool `json:"secure,omitempty"`
	// Root is the alternate path prefix from rt="oma.lwm2m" ("" for none).
	Root string `json:"root,omitempty"`
	// ContentFormat is the ct= the client prefers (0 when it said none).
	ContentFormat int               `json:"content_format,omitempty"`
	Objects       []string          `json:"objects,omitempty"`  // e.g. "/3/0", "/5/0"
	Versions      map[string]string `json:"versions,omitempty"` // object id -> ver=
	Params        map[string]string `json:"params,omitempty"`   // parameters the gateway does not use, kept
	Registered    time.Time         `json:"registered"`
	Updated       time.Time         `json:"updated"`
}

// Expires is when the registration lapses without an Update.
func (r *Registration) Expires() time.Time {
	return r.Updated.Add(time.Duration(r.Lifetime) * time.Second)
}

// LogValue shows a device in logs without its secrets.
func (d Device) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", d.ID), slog.String("protocol", string(d.Protocol)), slog.String("model", d.Model))
}

// Validate checks a device record.
func (d *Device) Validate() error {
	if err := validID("device id", d.ID); err != nil {
		return err
	}
	switch d.Protocol {
	case ProtocolDM:
		if d.DM == nil || d.LwM2M != nil {
			return invalid("device %s: a dm device has dm settings only", d.ID)
		}
		if strings.TrimSpace(d.DM.DeviceID) == "" {
			return invalid("device %s: empty dm device id", d.ID)
		}
		if !d.DM.Auth.Valid() {
			return invalid("device %s: dm auth %q, want basic, md5 or hmac", d.ID, d.DM.Auth)
		}
		if a := d.DM.ServerAuth; a != "" && !a.Valid() {
			return invalid("device %s: dm server auth %q, want basic, md5 or hmac", d.ID, a)
		}
		if d.DM.Username == "" || d.DM.Password.Empty() {
			return invalid("device %s: dm credentials need a username and a password", d.ID)
		}
		if r := d.DM.FUMORoot; r != "" && !strings.HasPrefix(r, "./") {
			return invalid("device %s: fumo root %q must start with ./", d.ID, r)
		}
	case ProtocolLwM2M:
		if d.LwM2M == nil || d.DM != nil {
			return invalid("device %s: an lwm2m device has lwm2m settings only", d.ID)
		}
		if strings.TrimSpace(d.LwM2M.Endpoint) == "" {
			return invalid("device %s: empty lwm2m endpoint", d.ID)
		}
		if (d.LwM2M.PSKIdentity == "") != d.LwM2M.PSKKey.Empty() {
			return invalid("device %s: psk identity and key go together", d.ID)
		}
	default:
		return invalid("device %s: protocol %q, want dm or lwm2m", d.ID, d.Protocol)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// validID accepts printable ids without '/' or NUL, at most 128 bytes.
func validID(what, id string) error {
	if id == "" || len(id) > 128 || strings.ContainsAny(id, "/\x00") || strings.TrimSpace(id) != id {
		return invalid("%s %q: want 1-128 bytes, no '/', NUL or surrounding spaces", what, id)
	}
	return nil
}
