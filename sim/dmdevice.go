// Package sim owns the device simulators: a DM 1.2 client that speaks
// SyncML DM over real HTTP (XML or WBXML; basic, md5 or HMAC; large
// objects both ways) with a management tree, used by tests, the demo and
// the load tool.
//
// The DM client's switches (all off by default) reproduce what real DM
// clients do that the protocol leaves open or gets wrong: intel's
// libdmclient, for one, never sends LocName, always uses SessionID 1,
// checks the server's credentials against its own server credential type
// and challenges instead of giving up, and follows whatever scheme the
// server's challenge names.
package sim

import (
	"context"
	"crypto/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// ExecFunc runs an Exec on node: it returns the Exec's status (200, 202,
// or an error code). It runs while the session is open.
type ExecFunc func(ctx context.Context, node string, correlator string, data []byte) int

// DMDevice is a simulated OMA DM 1.2 client. Configure the exported
// fields, then run sessions with Session. Safe for one session at a time.
//
// A session may change Auth, Nonce, ServerNonce and DropOnExec: read them
// between sessions (after FUMO.Wait when the device reports in the
// background).
type DMDevice struct {
	ServerURL string
	DevID     string // ./DevInfo/DevId and the SyncHdr Source LocURI
	Username  string
	Password  string
	Auth      string // "basic", "md5" or "hmac"
	// ServerID and ServerPassword check the server's credentials (mutual
	// authentication) when ServerPassword is set.
	ServerID       string
	ServerPassword string
	Encoding       syncml.Encoding // default XML
	// MaxMsgSize is announced to the server (0: none); ChunkSize is the
	// size of the device's own large-object chunks (default 4 KiB).
	MaxMsgSize int64
	MaxObjSize int64
	ChunkSize  int
	HTTP       *http.Client
	// Nonce is the nonce the server issued for the device's credentials;
	// ServerNonce the one the device issued for the server's.
	Nonce       []byte
	ServerNonce []byte
	// prevServerNonce is the last nonce the server is known to have, kept
	// until it uses a newer one.
	prevServerNonce     []byte
	havePrevServerNonce bool // prevServerNonce is set (it may be empty)
	// Exec handles Exec commands (default: 404 on a node the tree does not
	// have, 200 on any other).
	Exec ExecFunc
	// Record, when set, sees every message body of a session in order: n
	// counts the session's messages from 1, both ways, a re-sent message
	// and a lost reply included.
	Record func(n int, fromClient bool, body []byte)
	// LieAboutSize makes the device announce a wrong Size for its large
	// objects (fault injection).
	LieAboutSize bool

	// NoLocName leaves SyncHdr Source/LocName out of every message, as
	// libdmclient does with every credential type: a server must find the
	// user of md5 and HMAC credentials from the device's record.
	NoLocName bool
	// ServerAuth is the type of credentials the device demands of the
	// server (its DMAcc SRVCRED): "basic", "md5" or "hmac"; empty means
	// Auth's (the server proves itself the way the device does). When it
	// is set, or ChallengeServer is, the check is strict as libdmclient's:
	// the Meta Type of the server's Cred must name that type (a Cred
	// without one is basic, SyncML's default), and an md5 digest must be
	// made with the device's current ServerNonce (no fallback to the one
	// before).
	ServerAuth string
	// ChallengeServer answers a server message whose credentials fail the
	// check (missing while the server is not yet accepted in the session,
	// wrong type, wrong value, digest on another nonce) as libdmclient
	// does, instead of ending the session with ErrServerAuth: Status 401
	// on the server's SyncHdr with a Chal of ServerAuth's type (md5 and
	// HMAC: a fresh NextNonce, the only nonce accepted from then on;
	// basic: no nonce), Status 401 on every command of the message, none
	// of them run, then Final. The server is expected to send those
	// commands again with good credentials. The third refused message of
	// a session ends it with ErrServerAuth (two challenges are answered).
	ChallengeServer bool
	// FollowChal makes the device take the scheme of a server challenge:
	// when the server's Status on the device's SyncHdr is 401 or 407 with
	// a Chal whose Meta Type names another scheme than Auth, Auth becomes
	// that scheme (and the Chal's NextNonce the nonce) for the rest of
	// the device's life, as libdmclient does.
	FollowChal bool
	// SessionID, when set, is the id of every session of the device
	// (libdmclient always sends "1") instead of a counter from a random
	// start. SessionOptions.SessionID still wins for one session.
	SessionID string
	// LoseReply, when above 0, loses the reply to the device's message
	// number LoseReply (1 is package 1) once in every session: the reply
	// is read (and shown to Record), then the device sends the very same
	// bytes again (same URL, same headers, x-syncml-hmac included) and goes
	// on with the second reply, as a client does after a timeout.
	LoseReply int
	// DropOnExec is how many server messages carrying an Exec (at any
	// depth) the network still drops: the device reads such a message,
	// runs nothing of it, sends nothing more, and the session ends with
	// ErrSessionDropped. Each drop counts it down by one.
	DropOnExec int

	sessMu      sync.Mutex // one session at a time
	lastSession uint16     // the last session id (under sessMu)
	mu          sync.Mutex
	tree        map[string][]byte // leaf values; interior nodes are implied
	types       map[string]string // Type properties by node URI
	alerts      []syncml.Alert
	fumo        *FUMO // set by EnableFUMO
}

// QueueAlert makes the device send a (e.g. a Generic Alert 1226) in its
// next message of the running session, or in package 1 of the next one.
// An Exec handler calls it to report in the same session.
func (d *DMDevice) QueueAlert(a syncml.Alert) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.alerts = append(d.alerts, a)
}

func (d *DMDevice) takeAlerts() []syncml.Alert {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.alerts
	d.alerts = nil
	return a
}

// SessionReport is what one session did.
type SessionReport struct {
	SessionID string
	Messages  int // client messages sent (a message sent again counts twice)
	Commands  []string
	Statuses  map[string]int // server status for each client command ("Alert 3" -> 200)
	// HeaderStatus is the server's last status on the device's SyncHdr.
	HeaderStatus int
}

// SessionOptions shape one session.
type SessionOptions struct {
	SessionID string // default DMDevice.SessionID, else the next of a counter
	// ServerInitiated opens with Alert 1200 (after a Package 0), else 1201.
	ServerInitiated bool
	// Alerts go in package 1 after the session alert (e.g. a 1226).
	Alerts []syncml.Alert
	// NoCred sends no credentials in package 1 (the server answers 407).
	NoCred bool
	// CredEveryMessage sends credentials in every message.
	CredEveryMessage bool
}

// Session runs one DM session with the server until it ends.
func (d *DMDevice) Session(ctx context.Context, o SessionOptions) (*SessionReport, error) {
	d.sessMu.Lock()
	defer d.sessMu.Unlock()
	if o.SessionID == "" {
		o.SessionID = d.nextSessionID()
	}
	s := &dmSession{d: d, opts: o, url: d.ServerURL, report: &SessionReport{SessionID: o.SessionID, Statuses: map[string]int{}}}
	return s.report, s.loop(ctx)
}

// nextSessionID is the id of a session the caller gave none: the device's
// fixed SessionID, else, as DM clients do, a counter from a random start,
// so that a session id is not reused soon (a server refuses a message of
// a session it saw end).
func (d *DMDevice) nextSessionID() string {
	if d.SessionID != "" {
		return d.SessionID
	}
	if d.lastSession == 0 {
		var b [2]byte
		rand.Read(b[:])
		d.lastSession = uint16(b[0])<<8 | uint16(b[1])
	}
	d.lastSession++
	if d.lastSession == 0 {
		d.lastSession = 1
	}
	return strings.ToUpper(strconv.FormatUint(uint64(d.lastSession), 16))
}

// FUMO Generic Alert types of an update the device asks for itself.
const (
	fumoDeviceRequest = "org.openmobilealliance.dm.firmwareupdate.devicerequest"
	fumoUserRequest   = "org.openmobilealliance.dm.firmwareupdate.userrequest"
)

// RequestUpdate runs a client-initiated session that asks the server for a
// firmware update: package 1 carries, after Alert 1201 and DevInfo, a
// Generic Alert 1226 whose one Item has Source the FUMO root, Meta Type
// ...firmwareupdate.devicerequest (.userrequest when user is set), Format
// chr, and no Data. The server may answer with FUMO commands in the same
// session, which the FUMO client runs as usual. The report's Statuses hold
// the server's status for the alert under "Alert <CmdID>" (its CmdID is 3
// after a DevInfo Replace, else 2). ErrNoFUMO without EnableFUMO.
func (d *DMDevice) RequestUpdate(ctx context.Context, user bool) (*SessionReport, error) {
	d.mu.Lock()
	f := d.fumo
	d.mu.Unlock()
	if f == nil {
		return nil, ErrNoFUMO
	}
	typ := fumoDeviceRequest
	if user {
		typ = fumoUserRequest
	}
	alert := syncml.Alert{Code: 1226, Items: []syncml.Item{{
		Source: &syncml.Location{LocURI: f.Root},
		Meta:   &syncml.Meta{Type: typ, Format: "chr"},
	}}}
	return d.Session(ctx, SessionOptions{Alerts: []syncml.Alert{alert}})
}

// exec runs an Exec with the device's handler, or answers it as a device
// without one: 404 on a node the tree does not have, else 200.
func (d *DMDevice) exec(ctx context.Context, node, correlator string, data []byte) int {
	if d.Exec != nil {
		return d.Exec(ctx, node, correlator, data)
	}
	if !d.hasNode(node) {
		return 404
	}
	return 200
}
