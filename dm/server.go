package dm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
	// DevInfo are the ./DevInfo values of the alert's message (node URI
	// -> value): a device's package 1 tells who it is before the step is
	// stored.
	DevInfo map[string]string
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
	// SessionTimeout is how long a session may go without a message
	// before a package 1 reusing its SessionID from another address
	// starts a new session (default DefaultSessionTimeout).
	SessionTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
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
	// pending keeps what unstored (unauthenticated) messages were told.
	pending *pendingCache
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
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if a := cfg.AutoEnrol; a != nil {
		if _, err := ParseAuthScheme(string(a.Auth)); err != nil {
			return nil, err
		}
	}
	return &Server{cfg: cfg, log: cfg.Logger.With("component", "dm"), pending: newPendingCache(cfg.Now)}, nil
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

	dev, enrolling, err := s.device(ctx, msg)
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		s.log.Warn("dm: unknown device refused", "dm_id", devID, "remote", r.RemoteAddr)
		return s.refusal(msg, enc, contentType, 403, "unknown device")
	case err != nil:
		return nil, err
	}
	if dev.Protocol != fleet.ProtocolDM || dev.DM == nil {
		return s.refusal(msg, enc, contentType, 403, "not a DM device")
	}
	if enrolling && token != "" {
		return nil, &httpError{http.StatusNotFound, "dm: no such session"}
	}
	m := &message{r: r, msg: msg, body: body, sum: sha256.Sum256(body), enc: enc, contentType: contentType,
		token: token, source: sourceOf(r), dev: &dev, enrolling: enrolling}
	if err := s.findSession(ctx, m); err != nil {
		var refused *refusedError
		if errors.As(err, &refused) {
			s.log.Warn("dm: message refused", "device", dev.ID, "session", msg.Header.SessionID, "msg_id", msg.Header.MsgID, "reason", refused.reason)
			return s.refusal(msg, enc, contentType, refused.code, refused.reason)
		}
		return nil, err
	}
	if m.retransmission {
		s.stats.retransmissions.Add(1)
		s.log.Info("dm: retransmission answered with the stored reply", "device", dev.ID, "session", msg.Header.SessionID, "msg_id", msg.Header.MsgID)
		resp := &response{contentType: m.sess.LastReplyType, body: m.sess.LastReply, device: dev.ID, session: m.sess.SessionID, in: len(body)}
		if m.sess.LastReplyHMAC != "" {
			resp.header = http.Header{http.CanonicalHeaderKey(syncml.HMACHeaderName): {m.sess.LastReplyHMAC}}
		}
		return resp, nil
	}
	return s.answer(ctx, m)
}

// message is one client message on its way through the server.
type message struct {
	r           *http.Request
	msg         *syncml.Message
	body        []byte
	sum         [sha256.Size]byte
	enc         syncml.Encoding
	contentType string
	token       string // the RespURI token it came to ("" for the endpoint)
	source      string // the client's address (IP)
	dev         *fleet.Device
	// enrolling: the device is not stored yet (auto-enrolment); it is
	// created with the step in which it authenticates.
	enrolling bool
	// sess and state are the session it belongs to (stored: found in the
	// store); retransmission: it repeats the session's last message.
	sess           fleet.DMSession
	state          Session
	stored         bool
	retransmission bool
}

// answer runs the session engine on a message, stores the step, reports
// finished commands, and returns the reply.
func (s *Server) answer(ctx context.Context, m *message) (*response, error) {
	dev, msg := m.dev, m.msg
	client, server, err := authOf(dev)
	if err != nil {
		return nil, err
	}
	client.AltNonce = s.pending.get(dev.DM.DeviceID).nonce
	var failed []fleet.DMCommand
	in := StepInput{
		Msg: msg, Body: m.body, HMAC: m.r.Header.Get(syncml.HMACHeaderName),
		Session: m.state, Client: client, Server: server,
		LoadQueue: func() (q []QueuedCommand, err error) {
			q, failed, err = s.queue(ctx, dev.ID, m.sess)
			return q, err
		},
		RespURI: s.respURI(m.r, m.sess.Token),
		Alert: func(a *syncml.Alert) int {
			return s.alert(ctx, AlertEvent{DeviceID: dev.ID, SessionID: msg.Header.SessionID, Alert: a, DevInfo: devInfoOf(msg)})
		},
		Nonce:      s.cfg.Nonce,
		ReadBlob:   func(ref string, off int64, n int) ([]byte, error) { return s.readBlob(ctx, ref, off, n) },
		MaxMsgSize: s.cfg.MaxMsgSize, MaxObjSize: s.cfg.MaxObjSize,
	}
	out, err := Step(in)
	switch {
	case errors.Is(err, ErrMsgID), errors.Is(err, ErrSessionEnded):
		s.log.Warn("dm: message refused", "device", dev.ID, "session", msg.Header.SessionID, "msg_id", msg.Header.MsgID, "err", err)
		return s.refusal(msg, m.enc, m.contentType, 400, err.Error())
	case err != nil:
		return nil, err
	}
	if !out.Auth.Accepted {
		s.log.Warn("dm: authentication", "device", dev.ID, "session", msg.Header.SessionID, "status", out.Auth.Status, "reason", out.Auth.Reason, "refused", out.Auth.Refused)
	}
	if !out.Auth.Accepted {
		// A message that does not authenticate changes nothing stored
		// (anyone who knows a device id can send one): its challenge's
		// nonce, and the session when it is not stored, wait in memory
		// for the device's next message.
		if !m.stored {
			out.Reply.Header.RespURI = "" // its token names no stored session
		}
		s.pending.put(dev.DM.DeviceID, out.Nonce, msg.Header.SessionID, &out.Session)
		s.stats.answered(m.enc, m.state.ClientMsgID == 0, &out)
		return s.reply(m, out)
	}
	first := m.state.ClientMsgID == 0
	resp, finished, err := s.commit(ctx, m, out, failed)
	if err != nil {
		return nil, err
	}
	s.report(ctx, finished)
	final := out
	if out.Idle && len(finished) > 0 {
		// The results may have queued commands that belong in this
		// session (a read whose answer decides the next command).
		failed = nil
		ext, ok, err := Continue(in, out)
		if err != nil {
			return nil, err
		}
		if ok {
			r2, finished2, err := s.commit(ctx, m, ext, failed)
			if err != nil {
				return nil, err
			}
			s.report(ctx, finished2)
			resp, final = r2, ext
		}
	}
	s.stats.answered(m.enc, first, &final)
	return resp, nil
}

// commit stores what a step changed (the reply included, for
// retransmissions) and returns the reply to send and the commands that
// finished.
func (s *Server) commit(ctx context.Context, m *message, out StepOutput, failed []fleet.DMCommand) (*response, []CommandResult, error) {
	resp, err := s.reply(m, out)
	if err != nil {
		return nil, nil, err
	}
	step, finished, err := s.stepRecord(m, out, failed)
	if err != nil {
		return nil, nil, err
	}
	step.Session.LastMsgID, step.Session.LastBodySum = m.msg.Header.MsgID, m.sum[:]
	step.Session.LastReply, step.Session.LastReplyType = resp.body, resp.contentType
	step.Session.LastReplyHMAC = resp.header.Get(syncml.HMACHeaderName)
	// State first, then the answer: a crash after this point replays
	// nothing the device saw.
	if err := s.cfg.Store.CommitDMStep(ctx, step); err != nil {
		return nil, nil, fmt.Errorf("dm: commit session %s/%s: %w", m.dev.ID, m.sess.SessionID, err)
	}
	s.pending.drop(m.dev.DM.DeviceID)
	if m.enrolling {
		s.log.Info("dm: device enrolled", "device", m.dev.ID, "dm_id", m.dev.DM.DeviceID)
		m.enrolling = false
	}
	m.sess, m.state, m.stored = step.Session, out.Session, true
	return resp, finished, nil
}

// reply encodes a step's reply (signed when the server authenticates
// with HMAC).
func (s *Server) reply(m *message, out StepOutput) (*response, error) {
	b, err := syncml.Encode(out.Reply, m.enc)
	if err != nil {
		return nil, fmt.Errorf("dm: encode reply: %w", err)
	}
	resp := &response{contentType: m.contentType, body: b, device: m.dev.ID, session: m.msg.Header.SessionID, in: len(m.body)}
	if srv := out.Server; srv.Scheme == AuthHMAC && srv.Password != "" {
		resp.header = http.Header{http.CanonicalHeaderKey(syncml.HMACHeaderName): {srv.HMACHeader(b)}}
	}
	return resp, nil
}

// report tells the ResultHandler about finished commands (after they are
// stored).
func (s *Server) report(ctx context.Context, finished []CommandResult) {
	if s.cfg.Results == nil {
		return
	}
	for _, f := range finished {
		s.cfg.Results.CommandFinished(ctx, f)
	}
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
	c, err := QueueRecord(id, deviceID, cmd, blob, false)
	if err != nil {
		return err
	}
	if _, err = s.cfg.Store.EnqueueDMCommand(ctx, c); err != nil {
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
	return ResultOf(c)
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

// devInfoOf collects the ./DevInfo values a message replaces.
func devInfoOf(m *syncml.Message) map[string]string {
	out := map[string]string{}
	for _, c := range m.Body.Commands {
		if r, ok := c.(*syncml.Replace); ok {
			for _, it := range r.Items {
				if it.Source != nil && strings.HasPrefix(it.Source.LocURI, "./DevInfo/") {
					out[it.Source.LocURI] = string(it.Data)
				}
			}
		}
	}
	return out
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
