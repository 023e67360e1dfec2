package dm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// Store is what the DM server keeps between messages. store.Store
// implements it; errors for missing records wrap fleet.ErrNotFound.
type Store interface {
	DeviceByDMID(ctx context.Context, dmID string) (fleet.Device, error)
	Device(ctx context.Context, id string) (fleet.Device, error)
	CreateDevice(ctx context.Context, d fleet.Device) (fleet.Device, error)
	UpdateDevice(ctx context.Context, id string, fn func(*fleet.Device) error) (fleet.Device, error)
	DMSession(ctx context.Context, deviceID, sessionID string) (fleet.DMSession, error)
	DMSessionByToken(ctx context.Context, token string) (fleet.DMSession, error)
	DMCommands(ctx context.Context, deviceID string) ([]fleet.DMCommand, error)
	DMCommand(ctx context.Context, id string) (fleet.DMCommand, error)
	EnqueueDMCommand(ctx context.Context, c fleet.DMCommand) (fleet.DMCommand, error)
	WithdrawDMCommands(ctx context.Context, why string, force bool, ids ...string) error
	CommitDMStep(ctx context.Context, st fleet.DMStep) error
	ReadPackageAt(ctx context.Context, id string, p []byte, off int64) (int, error)
}

// AlertEvent is a client alert the session engine does not handle itself
// (Generic Alert 1226, client event 1224, ...).
type AlertEvent struct {
	DeviceID  string // the fleet device id
	SessionID string
	Alert     *syncml.Alert
}

// AlertHandler receives client alerts and decides their Status: 200 when
// handled, 202 when accepted for later processing, 415 when the type or
// format is unknown. 0 leaves the decision to the server's default.
type AlertHandler interface {
	HandleAlert(ctx context.Context, ev AlertEvent) int
}

// CommandResult is what became of one queued command.
type CommandResult struct {
	ID       string
	DeviceID string
	State    fleet.DMCommandState
	Outcome  *Outcome // nil until the device answered
	Error    string   // why the gateway gave up (failed)
}

// ResultHandler is told about every queued command that finished, after
// its outcome is stored.
type ResultHandler interface {
	CommandFinished(ctx context.Context, r CommandResult)
}

// AutoEnrol, when set in Config, enrols devices the store does not know on
// their first message, with these credentials.
type AutoEnrol struct {
	Auth           fleet.DMAuth
	Password       fleet.Secret // the device's user name is its LocName, or its DM id
	ServerID       string
	ServerPassword fleet.Secret
	FUMORoot       string
}

// Config sets up a Server. Store is required; the rest has defaults.
type Config struct {
	Store Store
	// Path is the device-facing endpoint (default DefaultPath); RespURIs
	// are Path + "/s/" + a per-session token.
	Path string
	// PublicURL is the scheme and host devices reach the server at, for
	// RespURI (default: taken from each request).
	PublicURL string
	// MaxMsgSize bounds a request body and is announced to devices
	// (default DefaultMaxMsgSize); MaxObjSize bounds a client's large
	// object (default DefaultMaxObjSize).
	MaxMsgSize, MaxObjSize int64
	AutoEnrol              *AutoEnrol
	Alerts                 AlertHandler
	Results                ResultHandler
	Notifier               Notifier // default NopNotifier
	Logger                 *slog.Logger
	// Nonce makes nonces (default NewNonce with crypto/rand).
	Nonce func() ([]byte, error)
}

// Defaults of Config.
const (
	DefaultPath       = "/dm"
	DefaultMaxMsgSize = 512 << 10
)

// Server is the device-facing DM endpoint, an http.Handler.
type Server struct {
	cfg   Config
	log   *slog.Logger
	locks [256]sync.Mutex // messages of one device run one at a time
	stats stats
}

// NewServer checks cfg and fills its defaults.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("dm: no store: %w", ErrBadConfig)
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		return nil, fmt.Errorf("dm: path %q does not start with /: %w", cfg.Path, ErrBadConfig)
	}
	cfg.Path = strings.TrimSuffix(cfg.Path, "/")
	if cfg.MaxMsgSize <= 0 {
		cfg.MaxMsgSize = DefaultMaxMsgSize
	}
	if cfg.MaxObjSize <= 0 {
		cfg.MaxObjSize = DefaultMaxObjSize
	}
	if cfg.Notifier == nil {
		cfg.Notifier = NopNotifier{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Nonce == nil {
		cfg.Nonce = func() ([]byte, error) { return NewNonce(nil) }
	}
	if a := cfg.AutoEnrol; a != nil {
		if _, err := ParseAuthScheme(string(a.Auth)); err != nil {
			return nil, err
		}
	}
	return &Server{cfg: cfg, log: cfg.Logger.With("component", "dm")}, nil
}

// Path is the endpoint the server answers on (and under, for RespURIs).
func (s *Server) Path() string { return s.cfg.Path }

func (s *Server) lock(deviceID string) func() {
	h := fnv.New32a()
	h.Write([]byte(deviceID))
	m := &s.locks[h.Sum32()%uint32(len(s.locks))]
	m.Lock()
	return m.Unlock
}

// httpError is a refusal at the HTTP level (the body is not a SyncML
// message the server can answer).
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// ServeHTTP answers one client message.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	resp, err := s.handle(r)
	var he *httpError
	switch {
	case errors.As(err, &he):
		s.log.Warn("dm request refused", "remote", r.RemoteAddr, "status", he.code, "reason", he.msg)
		s.stats.refusedHTTP(he.code)
		http.Error(w, he.msg, he.code)
		return
	case err != nil:
		s.log.Error("dm request failed", "remote", r.RemoteAddr, "err", err)
		s.stats.errors.Add(1)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", resp.contentType)
	w.Write(resp.body)
	s.log.Debug("dm message answered", "device", resp.device, "session", resp.session, "bytes_in", resp.in, "bytes_out", len(resp.body), "took", time.Since(start))
}

type response struct {
	contentType     string
	header          http.Header
	body            []byte
	device, session string
	in              int
}

// token returns the RespURI token of the request path, "" for the plain
// endpoint, or false for a path the server does not serve.
func (s *Server) token(p string) (string, bool) {
	if p == s.cfg.Path {
		return "", true
	}
	t, ok := strings.CutPrefix(p, s.cfg.Path+"/s/")
	if !ok || t == "" || strings.Contains(t, "/") {
		return "", false
	}
	return t, true
}

// readBody checks the method, content type and size, and returns the body
// with the encoding and the content type to answer with.
func (s *Server) readBody(r *http.Request) ([]byte, syncml.Encoding, string, error) {
	if r.Method != http.MethodPost {
		return nil, 0, "", &httpError{http.StatusMethodNotAllowed, "dm: POST a SyncML message"}
	}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	mt = strings.ToLower(mt)
	if mt != "" && !strings.HasPrefix(mt, "application/vnd.syncml") && mt != "application/octet-stream" &&
		mt != "application/xml" && mt != "text/xml" {
		return nil, 0, "", &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("dm: content type %q is not SyncML", ct)}
	}
	if r.ContentLength > s.cfg.MaxMsgSize {
		return nil, 0, "", &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("dm: body of %d bytes exceeds %d", r.ContentLength, s.cfg.MaxMsgSize)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxMsgSize+1))
	if err != nil {
		return nil, 0, "", &httpError{http.StatusBadRequest, "dm: reading body: " + err.Error()}
	}
	if int64(len(body)) > s.cfg.MaxMsgSize {
		return nil, 0, "", &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("dm: body exceeds %d bytes", s.cfg.MaxMsgSize)}
	}
	// The body decides, whatever the header says (clients mislabel).
	enc, err := syncml.Detect(body)
	if err != nil {
		return nil, 0, "", &httpError{http.StatusBadRequest, err.Error()}
	}
	answer := enc.ContentType()
	if strings.HasPrefix(mt, "application/vnd.syncml") && strings.HasSuffix(mt, "+"+strings.ToLower(enc.String())) {
		answer = mt // the form the client used (dm+xml or the older +xml)
	}
	return body, enc, answer, nil
}

func (s *Server) handle(r *http.Request) (*response, error) {
	ctx := r.Context()
	token, ok := s.token(r.URL.Path)
	if !ok {
		return nil, &httpError{http.StatusNotFound, "dm: no such endpoint"}
	}
	body, enc, contentType, err := s.readBody(r)
	if err != nil {
		return nil, err
	}
	limits := syncml.Limits{MaxBytes: int(s.cfg.MaxMsgSize)}
	msg, _, err := limits.Decode(body)
	var verr *syncml.VersionError
	if errors.As(err, &verr) && msg != nil {
		return s.refusal(msg, enc, contentType, verr.StatusCode(), "version")
	}
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, err.Error()}
	}
	devID := msg.Header.Source.LocURI
	if devID == "" || msg.Header.SessionID == "" {
		return nil, &httpError{http.StatusBadRequest, "dm: SyncHdr without Source LocURI or SessionID"}
	}
	unlock := s.lock(devID)
	defer unlock()

	dev, err := s.cfg.Store.DeviceByDMID(ctx, devID)
	if errors.Is(err, fleet.ErrNotFound) {
		dev, err = s.enrol(ctx, msg)
		if errors.Is(err, fleet.ErrNotFound) {
			s.log.Warn("dm: unknown device refused", "dm_id", devID, "remote", r.RemoteAddr)
			return s.refusal(msg, enc, contentType, 403, "unknown device")
		}
	}
	if err != nil {
		return nil, err
	}
	if dev.Protocol != fleet.ProtocolDM || dev.DM == nil {
		return s.refusal(msg, enc, contentType, 403, "not a DM device")
	}

	sess, stored, err := s.session(ctx, token, &dev, msg)
	if err != nil {
		return nil, err
	}
	state := Session{DeviceID: dev.ID, SessionID: msg.Header.SessionID, Encoding: enc}
	if stored {
		if err := json.Unmarshal(sess.State, &state); err != nil {
			return nil, fmt.Errorf("dm: stored session %s/%s: %w", dev.ID, sess.SessionID, err)
		}
		if state.Encoding != enc {
			return s.refusal(msg, enc, contentType, 400, "encoding changed inside the session")
		}
	}
	var failed []fleet.DMCommand
	loadQueue := func() ([]QueuedCommand, error) {
		var q []QueuedCommand
		var err error
		q, failed, err = s.queue(ctx, dev.ID, msg.Header.SessionID)
		return q, err
	}
	client, server, err := authOf(&dev)
	if err != nil {
		return nil, err
	}
	in := StepInput{
		Msg: msg, Body: body, HMAC: r.Header.Get(syncml.HMACHeaderName),
		Session: state, Client: client, Server: server, LoadQueue: loadQueue,
		RespURI: s.respURI(r, sess.Token),
		Alert: func(a *syncml.Alert) int {
			return s.alert(ctx, AlertEvent{DeviceID: dev.ID, SessionID: msg.Header.SessionID, Alert: a})
		},
		Nonce:      s.cfg.Nonce,
		ReadBlob:   func(ref string, off int64, n int) ([]byte, error) { return s.readBlob(ctx, ref, off, n) },
		MaxMsgSize: s.cfg.MaxMsgSize, MaxObjSize: s.cfg.MaxObjSize,
	}
	out, err := Step(in)
	switch {
	case errors.Is(err, ErrMsgID), errors.Is(err, ErrSessionEnded):
		s.log.Warn("dm: message refused", "device", dev.ID, "session", msg.Header.SessionID, "msg_id", msg.Header.MsgID, "err", err)
		return s.refusal(msg, enc, contentType, 400, err.Error())
	case err != nil:
		return nil, err
	}
	if !out.Auth.Accepted {
		s.log.Warn("dm: authentication", "device", dev.ID, "session", msg.Header.SessionID, "status", out.Auth.Status, "reason", out.Auth.Reason, "refused", out.Auth.Refused)
	}
	reply, err := syncml.Encode(out.Reply, enc)
	if err != nil {
		return nil, fmt.Errorf("dm: encode reply: %w", err)
	}
	step, finished, err := s.stepRecord(&dev, sess, out, failed)
	if err != nil {
		return nil, err
	}
	if want := dev.DM.TriggerSessionID; want != "" && out.Auth.Accepted && hasAlert(msg, AlertServerInitiated) {
		if !sameSessionID(want, msg.Header.SessionID) {
			s.log.Warn("dm: Alert 1200 session does not carry the Package 0 session id", "device", dev.ID, "session", msg.Header.SessionID, "want", want)
		} else {
			mutate := step.Device
			step.Device = func(d *fleet.Device) error {
				d.DM.TriggerSessionID = ""
				if mutate != nil {
					return mutate(d)
				}
				return nil
			}
		}
	}
	// State first, then the answer: a crash after this point replays
	// nothing the device saw.
	if err := s.cfg.Store.CommitDMStep(ctx, step); err != nil {
		return nil, fmt.Errorf("dm: commit session %s/%s: %w", dev.ID, sess.SessionID, err)
	}
	s.stats.answered(enc, !stored, &out)
	if s.cfg.Results != nil {
		for _, f := range finished {
			s.cfg.Results.CommandFinished(ctx, f)
		}
	}
	resp := &response{contentType: contentType, body: reply, device: dev.ID, session: sess.SessionID, in: len(body)}
	if server.Scheme == AuthHMAC && server.Password != "" {
		srv := server
		if out.ServerNonce != nil {
			srv.Nonce = out.ServerNonce
		}
		resp.header = http.Header{http.CanonicalHeaderKey(syncml.HMACHeaderName): {srv.HMACHeader(reply)}}
	}
	return resp, nil
}

// refusal answers a message the server will not run: one Status on its
// SyncHdr, Final, nothing stored.
func (s *Server) refusal(msg *syncml.Message, enc syncml.Encoding, contentType string, code int, reason string) (*response, error) {
	h := msg.Header
	m := &syncml.Message{
		Header: syncml.Header{VerDTD: syncml.VerDTD, VerProto: syncml.VerProto, SessionID: h.SessionID, MsgID: "1",
			Target: syncml.Location{LocURI: h.Source.LocURI}, Source: syncml.Location{LocURI: h.Target.LocURI}},
		Body: syncml.Body{Final: true, Commands: []syncml.Command{&syncml.Status{
			CmdID: "1", MsgRef: h.MsgID, CmdRef: "0", Cmd: "SyncHdr", Code: code,
			TargetRefs: []string{h.Target.LocURI}, SourceRefs: []string{h.Source.LocURI},
		}}},
	}
	if m.Header.SessionID == "" {
		m.Header.SessionID = "0"
	}
	if m.Header.Target.LocURI == "" {
		m.Header.Target.LocURI = "unknown"
	}
	if m.Header.Source.LocURI == "" {
		m.Header.Source.LocURI = "unknown"
	}
	b, err := syncml.Encode(m, enc)
	if err != nil {
		return nil, fmt.Errorf("dm: encode refusal: %w", err)
	}
	s.log.Info("dm: message refused", "dm_id", h.Source.LocURI, "session", h.SessionID, "status", code, "reason", reason)
	s.stats.refusedSyncML(code)
	return &response{contentType: contentType, body: b, device: h.Source.LocURI, session: h.SessionID}, nil
}

// enrol creates an unknown device when auto-enrolment is on; otherwise it
// returns an error wrapping fleet.ErrNotFound.
func (s *Server) enrol(ctx context.Context, msg *syncml.Message) (fleet.Device, error) {
	a := s.cfg.AutoEnrol
	dmID := msg.Header.Source.LocURI
	if a == nil {
		return fleet.Device{}, fmt.Errorf("dm: device %q: %w", dmID, fleet.ErrNotFound)
	}
	user := msg.Header.Source.LocName
	if user == "" {
		user = dmID
	}
	id, err := randomHex(8)
	if err != nil {
		return fleet.Device{}, err
	}
	d, err := s.cfg.Store.CreateDevice(ctx, fleet.Device{ID: "dm-" + id, Protocol: fleet.ProtocolDM, DM: &fleet.DMInfo{
		DeviceID: dmID, FUMORoot: a.FUMORoot, Auth: a.Auth, Username: user, Password: a.Password,
		ServerID: a.ServerID, ServerPassword: a.ServerPassword,
	}})
	if errors.Is(err, fleet.ErrExists) {
		return s.cfg.Store.DeviceByDMID(ctx, dmID)
	}
	if err == nil {
		s.log.Info("dm: device enrolled", "device", d.ID, "dm_id", dmID)
	}
	return d, err
}

// session finds the stored session the message belongs to, or starts one.
func (s *Server) session(ctx context.Context, token string, dev *fleet.Device, msg *syncml.Message) (fleet.DMSession, bool, error) {
	sid := msg.Header.SessionID
	if token != "" {
		ss, err := s.cfg.Store.DMSessionByToken(ctx, token)
		if errors.Is(err, fleet.ErrNotFound) {
			return ss, false, &httpError{http.StatusNotFound, "dm: no such session"}
		}
		if err != nil {
			return ss, false, err
		}
		if ss.DeviceID != dev.ID || ss.SessionID != sid {
			return ss, false, &httpError{http.StatusForbidden, "dm: the message does not belong to this session"}
		}
		return ss, true, nil
	}
	ss, err := s.cfg.Store.DMSession(ctx, dev.ID, sid)
	if err == nil {
		return ss, true, nil
	}
	if !errors.Is(err, fleet.ErrNotFound) {
		return ss, false, err
	}
	t, err := randomHex(16)
	if err != nil {
		return ss, false, err
	}
	return fleet.DMSession{DeviceID: dev.ID, SessionID: sid, Token: t}, false, nil
}

// queue returns the device's commands to send in this session, and the
// stored commands that no longer decode (they are failed at commit).
func (s *Server) queue(ctx context.Context, deviceID, sessionID string) ([]QueuedCommand, []fleet.DMCommand, error) {
	cmds, err := s.cfg.Store.DMCommands(ctx, deviceID)
	if err != nil {
		return nil, nil, fmt.Errorf("dm: reading the queue of %s: %w", deviceID, err)
	}
	var q []QueuedCommand
	var failed []fleet.DMCommand
	for _, c := range cmds {
		if c.State == fleet.DMCommandSent && c.SessionID == sessionID {
			continue // in flight in this session
		}
		cmd, err := DecodeCommand(c.Command)
		if err != nil {
			failed = append(failed, fleet.DMCommand{ID: c.ID, State: fleet.DMCommandFailed, Error: err.Error()})
			continue
		}
		q = append(q, QueuedCommand{ID: c.ID, Command: cmd, Blob: c.Blob, BlobSize: c.BlobSize})
	}
	return q, failed, nil
}

func authOf(d *fleet.Device) (ClientAuth, ServerAuth, error) {
	scheme, err := ParseAuthScheme(string(d.DM.Auth))
	if err != nil {
		return ClientAuth{}, ServerAuth{}, fmt.Errorf("dm: device %s: %w", d.ID, err)
	}
	c := ClientAuth{Scheme: scheme, Username: d.DM.Username, Password: string(d.DM.Password.Reveal()), Nonce: d.DM.ClientNonce}
	var srv ServerAuth
	if !d.DM.ServerPassword.Empty() {
		srv = ServerAuth{Scheme: scheme, ServerID: d.DM.ServerID, Password: string(d.DM.ServerPassword.Reveal()), Nonce: d.DM.ServerNonce}
	}
	return c, srv, nil
}

func (s *Server) respURI(r *http.Request, token string) string {
	base := s.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return strings.TrimSuffix(base, "/") + s.cfg.Path + "/s/" + token
}

func (s *Server) alert(ctx context.Context, ev AlertEvent) int {
	if s.cfg.Alerts != nil {
		if code := s.cfg.Alerts.HandleAlert(ctx, ev); code != 0 {
			return code
		}
	}
	if ev.Alert.Code == AlertGeneric {
		// A Generic Alert names what it reports in each Item's Meta Type
		// and Format; without them the server cannot know it.
		if len(ev.Alert.Items) == 0 {
			return 415
		}
		for _, it := range ev.Alert.Items {
			if it.Meta == nil || it.Meta.Type == "" || it.Meta.Format == "" {
				return 415
			}
		}
	}
	return 200
}

func (s *Server) readBlob(ctx context.Context, ref string, off int64, n int) ([]byte, error) {
	p := make([]byte, n)
	m, err := s.cfg.Store.ReadPackageAt(ctx, ref, p, off)
	if m == n {
		return p, nil
	}
	return p[:m], err
}

// stepRecord turns a step's output into the store's change, and the
// results to report once it is stored.
func (s *Server) stepRecord(dev *fleet.Device, sess fleet.DMSession, out StepOutput, failed []fleet.DMCommand) (fleet.DMStep, []CommandResult, error) {
	state, err := json.Marshal(out.Session)
	if err != nil {
		return fleet.DMStep{}, nil, err
	}
	sess.State, sess.Authenticated = state, out.Session.Authenticated
	st := fleet.DMStep{Session: sess, Sent: out.Sent, Requeue: out.Unanswered, Finished: failed}
	var results []CommandResult
	devDetail := map[string]string{}
	for _, o := range out.Done {
		raw, err := json.Marshal(o)
		if err != nil {
			return st, nil, err
		}
		st.Finished = append(st.Finished, fleet.DMCommand{ID: o.EntryID, State: fleet.DMCommandDone, Outcome: raw})
		oc := o
		results = append(results, CommandResult{ID: o.EntryID, DeviceID: dev.ID, State: fleet.DMCommandDone, Outcome: &oc})
		for _, it := range o.Results {
			if it.Source != nil && strings.HasPrefix(it.Source.LocURI, "./DevDetail/") && it.Data != nil {
				devDetail[it.Source.LocURI] = string(it.Data)
			}
		}
	}
	for _, id := range out.TooLarge {
		const why = "the command does not fit the device's MaxMsgSize/MaxObjSize"
		st.Finished = append(st.Finished, fleet.DMCommand{ID: id, State: fleet.DMCommandFailed, Error: why})
		results = append(results, CommandResult{ID: id, DeviceID: dev.ID, State: fleet.DMCommandFailed, Error: why})
	}
	for _, f := range failed {
		results = append(results, CommandResult{ID: f.ID, DeviceID: dev.ID, State: f.State, Error: f.Error})
	}
	if out.Nonce != nil || out.ServerNonce != nil || len(out.DevInfo) > 0 || len(devDetail) > 0 {
		st.Device = func(d *fleet.Device) error {
			if out.Nonce != nil {
				d.DM.ClientNonce = out.Nonce
			}
			if out.ServerNonce != nil {
				d.DM.ServerNonce = out.ServerNonce
			}
			if len(out.DevInfo) > 0 {
				d.DM.DevInfo = mergeNodes(d.DM.DevInfo, out.DevInfo, "./DevInfo/")
				if mod := d.DM.DevInfo["Mod"]; d.Model == "" && mod != "" {
					d.Model = mod
				}
			}
			if len(devDetail) > 0 {
				d.DM.DevDetail = mergeNodes(d.DM.DevDetail, devDetail, "./DevDetail/")
				if fwv := d.DM.DevDetail["FwV"]; fwv != "" {
					d.FirmwareVersion = fwv
				}
			}
			return nil
		}
	}
	return st, results, nil
}

// mergeNodes adds values (keyed by full URI) to m, keyed by the path
// under prefix ("./DevInfo/Man" -> "Man").
func mergeNodes(m, values map[string]string, prefix string) map[string]string {
	out := make(map[string]string, len(m)+len(values))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range values {
		out[strings.TrimPrefix(k, prefix)] = v
	}
	return out
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Enqueue queues cmd (no CmdIDs) for a DM device and returns its id. When
// blob names a stored package, its bytes become the Data of the command's
// only Item, streamed as a large object. The device gets it in its next
// session; its outcome comes through the ResultHandler and Result.
func (s *Server) Enqueue(ctx context.Context, deviceID string, cmd syncml.Command, blob string) (string, error) {
	id, err := randomHex(12)
	if err != nil {
		return "", err
	}
	if err := s.EnqueueAs(ctx, id, deviceID, cmd, blob); err != nil {
		return "", err
	}
	return id, nil
}

// EnqueueAs is Enqueue with the caller's id, so that a caller that may
// repeat itself (a driver resuming after a restart) queues a command once:
// a second call with the same id returns an error wrapping
// fleet.ErrExists and changes nothing.
func (s *Server) EnqueueAs(ctx context.Context, id, deviceID string, cmd syncml.Command, blob string) error {
	if blob != "" && len(commandItems(cmd)) != 1 {
		return fmt.Errorf("%w: a blob needs a command with exactly one item", ErrBadCommand)
	}
	raw, err := EncodeCommand(cmd)
	if err != nil {
		return err
	}
	_, err = s.cfg.Store.EnqueueDMCommand(ctx, fleet.DMCommand{ID: id, DeviceID: deviceID, Command: raw, Blob: blob})
	if err != nil {
		return fmt.Errorf("dm: enqueue for %s: %w", deviceID, err)
	}
	s.log.Info("dm: command queued", "device", deviceID, "command", id, "cmd", cmd.CommandName())
	return nil
}

// Withdraw takes queued commands out of their device's queue (they end
// failed, "withdrawn: why"); unknown and finished ids are skipped. A
// command already sent may be acted on by the device: without force
// nothing changes and the error wraps fleet.ErrStale; with force it is
// withdrawn too and not sent again.
func (s *Server) Withdraw(ctx context.Context, why string, force bool, ids ...string) error {
	if err := s.cfg.Store.WithdrawDMCommands(ctx, why, force, ids...); err != nil {
		return fmt.Errorf("dm: withdraw: %w", err)
	}
	return nil
}

// Result returns a queued command's state and, once the device answered,
// its outcome.
func (s *Server) Result(ctx context.Context, id string) (CommandResult, error) {
	c, err := s.cfg.Store.DMCommand(ctx, id)
	if err != nil {
		return CommandResult{}, err
	}
	r := CommandResult{ID: c.ID, DeviceID: c.DeviceID, State: c.State, Error: c.Error}
	if len(c.Outcome) > 0 {
		var o Outcome
		if err := json.Unmarshal(c.Outcome, &o); err != nil {
			return r, fmt.Errorf("dm: stored outcome of %s: %w", id, err)
		}
		r.Outcome = &o
	}
	return r, nil
}

// TriggerOptions tune a Package 0.
type TriggerOptions struct {
	UIMode syncml.UIMode
	// UserInitiated marks the trigger as asked for by the user (default:
	// server-initiated).
	UserInitiated bool
}

// Trigger builds a Package 0 for a device and hands it to the Notifier. It
// returns the session id the device must answer with (uppercase hex, as
// in its Alert 1200 session).
func (s *Server) Trigger(ctx context.Context, deviceID string, o TriggerOptions) (string, error) {
	d, err := s.cfg.Store.Device(ctx, deviceID)
	if err != nil {
		return "", err
	}
	if d.DM == nil {
		return "", fmt.Errorf("dm: device %s is not a DM device: %w", deviceID, ErrBadConfig)
	}
	_, srv, err := authOf(&d)
	if err != nil {
		return "", err
	}
	if srv.ServerID == "" {
		return "", fmt.Errorf("dm: device %s has no server credentials for a Package 0 digest: %w", deviceID, ErrBadConfig)
	}
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	sid := uint16(b[0])<<8 | uint16(b[1])
	if sid == 0 {
		sid = 1
	}
	ini := syncml.InitiatorServer
	if o.UserInitiated {
		ini = syncml.InitiatorUser
	}
	pkg0, err := BuildPackage0(Trigger{DeviceID: d.DM.DeviceID, SessionID: sid, UIMode: o.UIMode, Initiator: ini, Server: srv})
	if err != nil {
		return "", err
	}
	hexID := syncml.SessionIDHex(sid)
	// Recorded before it is sent: the answering session must carry it.
	if _, err := s.cfg.Store.UpdateDevice(ctx, deviceID, func(d *fleet.Device) error {
		d.DM.TriggerSessionID = hexID
		return nil
	}); err != nil {
		return "", err
	}
	if err := s.cfg.Notifier.Notify(ctx, d.DM.DeviceID, pkg0); err != nil {
		return "", err
	}
	s.log.Info("dm: package 0 sent", "device", deviceID, "session", hexID)
	return hexID, nil
}

func hasAlert(m *syncml.Message, code int) bool {
	for _, c := range m.Body.Commands {
		if a, ok := c.(*syncml.Alert); ok && a.Code == code {
			return true
		}
	}
	return false
}

// sameSessionID compares session ids as hex numbers ("00AB" is "ab").
func sameSessionID(a, b string) bool {
	x, err1 := syncml.ParseSessionIDHex(a)
	y, err2 := syncml.ParseSessionIDHex(b)
	return err1 == nil && err2 == nil && x == y
}
