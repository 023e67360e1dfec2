// Package sim owns the device simulators: a DM 1.2 client that speaks
// SyncML DM over real HTTP (XML or WBXML; basic, md5 or HMAC; large
// objects both ways) with a management tree, used by tests, the demo and
// the load tool.
package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// Errors a DM session of the simulator ends with.
var (
	// ErrAuthRefused: the server refused the device's credentials.
	ErrAuthRefused = errors.New("sim: server refused the credentials")
	// ErrServerAuth: the server's credentials did not verify.
	ErrServerAuth = errors.New("sim: server credentials do not verify")
	// ErrProtocol: the server broke the protocol (bad message, no status).
	ErrProtocol = errors.New("sim: protocol error")
)

// ExecFunc runs an Exec on node: it returns the Exec's status (200, 202,
// or an error code). It runs while the session is open.
type ExecFunc func(ctx context.Context, node string, correlator string, data []byte) int

// DMDevice is a simulated OMA DM 1.2 client. Configure the exported
// fields, then run sessions with Session. Safe for one session at a time.
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
	prevServerNonce []byte
	// Exec handles Exec commands (default: 200 on any node).
	Exec ExecFunc
	// Record, when set, sees every message body of a session in order.
	Record func(n int, fromClient bool, body []byte)
	// LieAboutSize makes the device announce a wrong Size for its large
	// objects (fault injection).
	LieAboutSize bool

	sessMu      sync.Mutex // one session at a time
	lastSession uint16     // the last session id (under sessMu)
	mu          sync.Mutex
	tree        map[string][]byte
	alerts      []syncml.Alert
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

// SetNode sets a node value in the device's tree.
func (d *DMDevice) SetNode(uri string, v []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tree == nil {
		d.tree = map[string][]byte{}
	}
	d.tree[uri] = append([]byte(nil), v...)
}

// Node returns a node value.
func (d *DMDevice) Node(uri string) ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.tree[uri]
	return v, ok
}

// SessionReport is what one session did.
type SessionReport struct {
	SessionID string
	Messages  int // client messages sent
	Commands  []string
	Statuses  map[string]int // server status for each client command ("Alert 3" -> 200)
	// HeaderStatus is the server's last status on the device's SyncHdr.
	HeaderStatus int
}

// SessionOptions shape one session.
type SessionOptions struct {
	SessionID string // default random
	// ServerInitiated opens with Alert 1200 (after a Package 0), else 1201.
	ServerInitiated bool
	// Alerts go in package 1 after the session alert (e.g. a 1226).
	Alerts []syncml.Alert
	// NoCred sends no credentials in package 1 (the server answers 407).
	NoCred bool
	// CredEveryMessage sends credentials in every message.
	CredEveryMessage bool
}

type outChunk struct {
	cmd  *syncml.Results
	data []byte
	sent int
}

type dmSession struct {
	d       *DMDevice
	opts    SessionOptions
	url     string
	msgID   int
	cmdID   int
	authed  bool
	report  *SessionReport
	sentCmd map[string]string // CmdID -> name of commands we sent in the last message
	// large objects
	inURI  string
	inData []byte
	inSize int64
	out    *outChunk
}

// Session runs one DM session with the server until it ends.
func (d *DMDevice) Session(ctx context.Context, o SessionOptions) (*SessionReport, error) {
	d.sessMu.Lock()
	defer d.sessMu.Unlock()
	if o.SessionID == "" {
		// As DM clients do: a counter, from a random start, so that a
		// session id is not reused soon (a server refuses a message of a
		// session it saw end).
		if d.lastSession == 0 {
			var b [2]byte
			rand.Read(b[:])
			d.lastSession = uint16(b[0])<<8 | uint16(b[1])
		}
		d.lastSession++
		if d.lastSession == 0 {
			d.lastSession = 1
		}
		o.SessionID = strings.ToUpper(strconv.FormatUint(uint64(d.lastSession), 16))
	}
	s := &dmSession{d: d, opts: o, url: d.ServerURL, report: &SessionReport{SessionID: o.SessionID, Statuses: map[string]int{}}}
	msg := s.pkg1(!o.NoCred)
	for n := 0; ; n++ {
		if n > 10000 {
			return s.report, fmt.Errorf("%w: session does not end", ErrProtocol)
		}
		reply, err := s.send(ctx, msg)
		if err != nil {
			return s.report, err
		}
		next, done, err := s.answer(reply)
		if err != nil || done {
			return s.report, err
		}
		msg = next
	}
}

func (s *dmSession) nextCmd() string {
	s.cmdID++
	return strconv.Itoa(s.cmdID)
}

func (s *dmSession) header(cred bool) syncml.Header {
	s.msgID++
	s.cmdID = 0
	s.sentCmd = map[string]string{}
	h := syncml.Header{VerDTD: syncml.VerDTD, VerProto: syncml.VerProto, SessionID: s.opts.SessionID, MsgID: strconv.Itoa(s.msgID),
		Target: syncml.Location{LocURI: s.d.ServerURL}, Source: syncml.Location{LocURI: s.d.DevID, LocName: s.d.Username}}
	if s.d.MaxMsgSize > 0 || s.d.MaxObjSize > 0 {
		h.Meta = &syncml.Meta{MaxMsgSize: s.d.MaxMsgSize, MaxObjSize: s.d.MaxObjSize}
	}
	if cred {
		switch s.d.Auth {
		case "basic":
			h.Cred = &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthBasic, Format: "b64"}, Data: syncml.BasicCredential(s.d.Username, s.d.Password)}
		case "md5":
			h.Cred = &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64"}, Data: syncml.MD5Credential(s.d.Username, s.d.Password, s.d.Nonce)}
		}
	}
	return h
}

func (s *dmSession) add(m *syncml.Message, c syncml.Command) {
	m.Body.Commands = append(m.Body.Commands, c)
	s.sentCmd[c.CommandID()] = c.CommandName()
	s.report.Commands = append(s.report.Commands, c.CommandName())
}

// pkg1 is package 1: session alert, DevInfo, extra alerts, Final.
func (s *dmSession) pkg1(cred bool) *syncml.Message {
	m := &syncml.Message{Header: s.header(cred)}
	code := 1201
	if s.opts.ServerInitiated {
		code = 1200
	}
	s.add(m, &syncml.Alert{CmdID: s.nextCmd(), Code: code})
	var items []syncml.Item
	s.d.mu.Lock()
	var uris []string
	for uri := range s.d.tree {
		if strings.HasPrefix(uri, "./DevInfo/") {
			uris = append(uris, uri)
		}
	}
	sort.Strings(uris)
	for _, uri := range uris {
		items = append(items, syncml.Item{Source: &syncml.Location{LocURI: uri}, Data: s.d.tree[uri]})
	}
	s.d.mu.Unlock()
	if len(items) > 0 {
		s.add(m, &syncml.Replace{CmdID: s.nextCmd(), Items: items})
	}
	for _, a := range append(append([]syncml.Alert(nil), s.opts.Alerts...), s.d.takeAlerts()...) {
		a.CmdID = s.nextCmd()
		s.add(m, &a)
	}
	m.Body.Final = true
	return m
}

func (s *dmSession) send(ctx context.Context, m *syncml.Message) (*syncml.Message, error) {
	enc := s.d.Encoding
	if enc == 0 {
		enc = syncml.EncodingXML
	}
	body, err := syncml.Encode(m, enc)
	if err != nil {
		return nil, err
	}
	s.report.Messages++
	if s.d.Record != nil {
		s.d.Record(2*s.msgID-1, true, body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", enc.ContentType())
	if s.d.Auth == "hmac" {
		req.Header.Set(syncml.HMACHeaderName, syncml.HMACHeader{Username: s.d.Username,
			MAC: syncml.ComputeHMAC(s.d.Username, s.d.Password, s.d.Nonce, body)}.String())
	}
	c := s.d.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: HTTP %s: %s", ErrProtocol, resp.Status, bytes.TrimSpace(rb))
	}
	if s.d.Record != nil {
		s.d.Record(2*s.msgID, false, rb)
	}
	reply, _, err := syncml.Decode(rb)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if s.d.ServerPassword != "" && !s.serverAuthentic(reply, resp.Header.Get(syncml.HMACHeaderName), rb) {
		return nil, ErrServerAuth
	}
	if reply.Header.RespURI != "" {
		s.url = reply.Header.RespURI
	}
	return reply, nil
}

// serverAuthentic checks the server's credentials: its Cred until the
// device accepted it (212), or the HMAC of every message.
//
// A nonce the device issued in a message the server never processed (it
// crashed first) never reached it: like clients that keep the previous
// nonce until the server has used the new one, the device also accepts
// credentials on the nonce it issued before, and goes back to it.
func (s *dmSession) serverAuthentic(m *syncml.Message, hmac string, body []byte) bool {
	if s.authenticWith(s.d.ServerNonce, m, hmac, body) {
		s.d.prevServerNonce = nil
		return true
	}
	if prev := s.d.prevServerNonce; prev != nil && s.authenticWith(prev, m, hmac, body) {
		s.d.ServerNonce, s.d.prevServerNonce = prev, nil
		return true
	}
	return false
}

func (s *dmSession) authenticWith(nonce []byte, m *syncml.Message, hmac string, body []byte) bool {
	switch s.d.Auth {
	case "hmac":
		h, err := syncml.ParseHMACHeader(hmac)
		return err == nil && h.Username == s.d.ServerID && syncml.VerifyHMAC(h, s.d.ServerPassword, nonce, body)
	case "basic":
		if m.Header.Cred == nil {
			return s.msgID > 1
		}
		u, p, err := syncml.ParseBasicCredential(m.Header.Cred.Data)
		return err == nil && u == s.d.ServerID && p == s.d.ServerPassword
	default:
		if m.Header.Cred == nil {
			return s.msgID > 1
		}
		return syncml.VerifyMD5Credential(s.d.ServerID, s.d.ServerPassword, nonce, m.Header.Cred.Data)
	}
}

// answer processes a server message and builds the device's next one;
// done reports the end of the session.
func (s *dmSession) answer(in *syncml.Message) (*syncml.Message, bool, error) {
	hdr, chal := -1, false
	var cmds []syncml.Command
	final := in.Body.Final
	moreAsked := false
	for _, c := range in.Body.Commands {
		st, ok := c.(*syncml.Status)
		if !ok {
			cmds = append(cmds, c)
			if a, ok := c.(*syncml.Alert); ok && a.Code == 1222 {
				moreAsked = true
			}
			continue
		}
		if st.CmdRef == "0" {
			hdr, chal = st.Code, st.Chal != nil
			if st.Chal != nil && st.Chal.Meta != nil && st.Chal.Meta.NextNonce != nil {
				s.d.Nonce = st.Chal.Meta.NextNonce
			}
			continue
		}
		if name, ok := s.sentCmd[st.CmdRef]; ok {
			s.report.Statuses[name+" "+st.CmdRef] = st.Code
		}
		if s.out != nil && st.CmdRef == s.out.cmd.CmdID && st.Code != 213 {
			s.out = nil // the server refused our object
		}
	}
	if hdr < 0 {
		return nil, false, fmt.Errorf("%w: no status for the SyncHdr", ErrProtocol)
	}
	s.report.HeaderStatus = hdr
	switch hdr {
	case 212:
		s.authed = true
	case 200:
	case 401, 407:
		if s.authed || len(cmds) > 0 {
			return nil, false, fmt.Errorf("%w: %d after authentication", ErrProtocol, hdr)
		}
		if !final || !chal {
			// No new challenge: the server gave up on this session.
			return nil, true, fmt.Errorf("%w (status %d)", ErrAuthRefused, hdr)
		}
		// Package 1 again, with credentials computed on the new nonce.
		return s.pkg1(true), false, nil
	default:
		return nil, true, fmt.Errorf("%w (status %d)", ErrAuthRefused, hdr)
	}

	if final && !moreAsked && s.out == nil && s.inURI == "" && len(cmds) == 0 {
		return nil, true, nil // statuses and Final only: the session is over
	}
	m := &syncml.Message{Header: s.header(s.opts.CredEveryMessage || !s.authed && s.d.Auth != "hmac")}
	st := &syncml.Status{CmdID: s.nextCmd(), MsgRef: in.Header.MsgID, CmdRef: "0", Cmd: "SyncHdr", Code: 200,
		TargetRefs: []string{in.Header.Target.LocURI}, SourceRefs: []string{in.Header.Source.LocURI}}
	if s.d.ServerPassword != "" && s.d.Auth != "hmac" && in.Header.Cred != nil {
		st.Code = 212
	}
	if s.d.ServerPassword != "" {
		// A fresh nonce for the server's next credentials.
		n := make([]byte, 16)
		rand.Read(n)
		if s.d.prevServerNonce == nil {
			s.d.prevServerNonce = s.d.ServerNonce
		}
		s.d.ServerNonce = n
		typ := syncml.AuthMD5
		if s.d.Auth == "hmac" {
			typ = syncml.AuthHMAC
		}
		if s.d.Auth != "basic" {
			st.Chal = &syncml.Chal{Meta: &syncml.Meta{Type: typ, Format: "b64", NextNonce: n}}
		}
	}
	m.Body.Commands = append(m.Body.Commands, st)
	for _, c := range cmds {
		s.run(m, in.Header.MsgID, c)
	}
	for _, a := range s.d.takeAlerts() {
		a.CmdID = s.nextCmd()
		s.add(m, &a)
	}
	if s.out != nil {
		s.sendChunk(m)
		return m, false, nil
	}
	if s.inURI != "" {
		// The server's object goes on in its next message.
		s.add(m, &syncml.Alert{CmdID: s.nextCmd(), Code: 1222})
		return m, false, nil
	}
	if !final || moreAsked {
		if !final {
			s.add(m, &syncml.Alert{CmdID: s.nextCmd(), Code: 1222})
		}
		m.Body.Final = true
		return m, false, nil
	}
	m.Body.Final = true
	return m, false, nil
}

// run executes one server command and answers it.
func (s *dmSession) run(m *syncml.Message, msgRef string, c syncml.Command) {
	status := func(cmdRef, cmd string, code int, target string) {
		st := &syncml.Status{CmdID: s.nextCmd(), MsgRef: msgRef, CmdRef: cmdRef, Cmd: cmd, Code: code}
		if target != "" {
			st.TargetRefs = []string{target}
		}
		m.Body.Commands = append(m.Body.Commands, st)
	}
	d := s.d
	switch c := c.(type) {
	case *syncml.Get:
		var items []syncml.Item
		code := 200
		for _, it := range c.Items {
			v, ok := d.Node(it.Target.LocURI)
			if !ok {
				code = 404
				break
			}
			items = append(items, syncml.Item{Source: &syncml.Location{LocURI: it.Target.LocURI}, Meta: &syncml.Meta{Format: "chr"}, Data: v})
		}
		status(c.CmdID, "Get", code, "")
		if code == 200 {
			res := &syncml.Results{CmdID: s.nextCmd(), MsgRef: msgRef, CmdRef: c.CmdID, Items: items}
			chunk := d.ChunkSize
			if chunk <= 0 {
				chunk = 4 << 10
			}
			if len(items) == 1 && len(items[0].Data) > chunk {
				s.out = &outChunk{cmd: res, data: items[0].Data}
				s.cmdID-- // the chunk takes its CmdID when sent
				return
			}
			m.Body.Commands = append(m.Body.Commands, res)
		}
	case *syncml.Replace:
		status(c.CmdID, "Replace", s.write(c.Items, false), "")
	case *syncml.Add:
		status(c.CmdID, "Add", s.write(c.Items, true), "")
	case *syncml.Delete:
		for _, it := range c.Items {
			d.mu.Lock()
			delete(d.tree, it.Target.LocURI)
			d.mu.Unlock()
		}
		status(c.CmdID, "Delete", 200, "")
	case *syncml.Exec:
		code := 200
		if d.Exec != nil {
			code = d.Exec(context.Background(), c.Item.Target.LocURI, c.Correlator, c.Item.Data)
		}
		status(c.CmdID, "Exec", code, c.Item.Target.LocURI)
	case *syncml.Sequence:
		status(c.CmdID, "Sequence", 200, "")
		for _, in := range c.Commands {
			s.run(m, msgRef, in)
		}
	case *syncml.Atomic:
		status(c.CmdID, "Atomic", 200, "")
		for _, in := range c.Commands {
			s.run(m, msgRef, in)
		}
	case *syncml.Alert:
		switch c.Code {
		case 1222:
		case 1225:
			s.inURI, s.inData, s.inSize = "", nil, 0
		}
		status(c.CmdID, "Alert", 200, "")
	default:
		status(c.CommandID(), c.CommandName(), 406, "")
	}
}

// write stores Replace/Add items, reassembling large objects: 213 for a
// chunk, 424 when the whole differs from the announced Size.
func (s *dmSession) write(items []syncml.Item, add bool) int {
	code := 200
	for _, it := range items {
		uri := it.Target.LocURI
		if it.MoreData || s.inURI == uri {
			if s.inURI != uri {
				s.inURI, s.inData, s.inSize = uri, nil, 0
				if it.Meta != nil {
					s.inSize = it.Meta.Size
				}
			}
			s.inData = append(s.inData, it.Data...)
			if it.MoreData {
				code = 213
				continue
			}
			data, size := s.inData, s.inSize
			s.inURI, s.inData, s.inSize = "", nil, 0
			if size > 0 && int64(len(data)) != size {
				return 424
			}
			it.Data = data
		}
		v := it.Data
		if it.Meta != nil && it.Meta.Format == "b64" {
			raw, err := base64.StdEncoding.DecodeString(string(v))
			if err != nil {
				return 400
			}
			v = raw
		}
		if _, exists := s.d.Node(uri); add && exists {
			return 418
		}
		s.d.SetNode(uri, v)
	}
	return code
}

// sendChunk puts the next chunk of the device's large object in m.
func (s *dmSession) sendChunk(m *syncml.Message) {
	o := s.out
	chunk := s.d.ChunkSize
	if chunk <= 0 {
		chunk = 4 << 10
	}
	end := min(o.sent+chunk, len(o.data))
	it := o.cmd.Items[0]
	meta := syncml.Meta{Format: "chr"}
	if it.Meta != nil {
		meta = *it.Meta
	}
	if o.sent == 0 {
		meta.Size = int64(len(o.data))
		if s.d.LieAboutSize {
			meta.Size += 7
		}
	} else {
		meta.Size = 0
	}
	it.Meta, it.Data, it.MoreData = &meta, o.data[o.sent:end], end < len(o.data)
	res := *o.cmd
	res.CmdID = s.nextCmd()
	res.Items = []syncml.Item{it}
	o.cmd.CmdID = res.CmdID
	s.add(m, &res)
	o.sent = end
	if end == len(o.data) {
		s.out = nil
		m.Body.Final = true
	}
}
