package sim_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/sim"
)

// A scripted DM server: each request is decoded and handed to a script
// that returns the server's message (nil ends the HTTP exchange with 500).

// request is one client message the scripted server received.
type request struct {
	n      int // 1 for the first request the server got
	msg    *syncml.Message
	body   []byte
	header http.Header
	url    string // path and query
	host   string
}

type scriptServer struct {
	t      *testing.T
	srv    *httptest.Server
	script func(r *request) *syncml.Message
	// sign, when set, gives the x-syncml-hmac header of each reply body.
	sign func(r *request, body []byte) string
	mu   sync.Mutex
	reqs []*request
}

func newScriptServer(t *testing.T, script func(r *request) *syncml.Message) *scriptServer {
	t.Helper()
	return newSignedScriptServer(t, script, nil)
}

// newSignedScriptServer is a scripted server that signs its replies with
// sign (HMAC mutual authentication).
func newSignedScriptServer(t *testing.T, script func(r *request) *syncml.Message, sign func(r *request, body []byte) string) *scriptServer {
	t.Helper()
	s := &scriptServer{t: t, script: script, sign: sign}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scriptServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m, _, err := syncml.Decode(body)
	if err != nil {
		s.t.Errorf("server: client message does not decode: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	req := &request{n: len(s.reqs) + 1, msg: m, body: body, header: r.Header.Clone(), url: r.URL.String(), host: r.Host}
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	out := s.script(req)
	if out == nil {
		http.Error(w, "script has no answer", http.StatusInternalServerError)
		return
	}
	b, err := syncml.Encode(out, syncml.EncodingXML)
	if err != nil {
		s.t.Errorf("server: %v", err)
		return
	}
	w.Header().Set("Content-Type", syncml.EncodingXML.ContentType())
	if s.sign != nil {
		if mac := s.sign(req, b); mac != "" {
			w.Header().Set(syncml.HMACHeaderName, mac)
		}
	}
	w.Write(b)
}

// requests are the client messages received so far.
func (s *scriptServer) requests() []*request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*request(nil), s.reqs...)
}

func (s *scriptServer) url() string { return s.srv.URL + "/dm" }

// device is a DM device of the scripted server with DevInfo.
func (s *scriptServer) device() *sim.DMDevice {
	d := &sim.DMDevice{ServerURL: s.url(), DevID: "IMEI:1", Username: "dev", Password: "devpw", Auth: "basic"}
	d.SetNode("./DevInfo/DevId", []byte("IMEI:1"))
	d.SetNode("./DevInfo/Mod", []byte("m1"))
	d.SetNode("./DevDetail/FwV", []byte("1.0"))
	return d
}

// answer builds the server's reply to in: code on the client's SyncHdr, 200
// on every client command, then cmds (their CmdIDs assigned) and Final.
func answer(in *syncml.Message, code int, cmds ...syncml.Command) *syncml.Message {
	m := &syncml.Message{Header: syncml.Header{VerDTD: syncml.VerDTD, VerProto: syncml.VerProto,
		SessionID: in.Header.SessionID, MsgID: in.Header.MsgID,
		Target: syncml.Location{LocURI: in.Header.Source.LocURI}, Source: syncml.Location{LocURI: in.Header.Target.LocURI}}}
	id := 0
	next := func() string { id++; return strconv.Itoa(id) }
	m.Body.Commands = append(m.Body.Commands, &syncml.Status{CmdID: next(), MsgRef: in.Header.MsgID, CmdRef: "0", Cmd: "SyncHdr", Code: code})
	for _, c := range in.Body.Commands {
		switch c.(type) {
		case *syncml.Status, *syncml.Results:
			continue
		}
		m.Body.Commands = append(m.Body.Commands, &syncml.Status{CmdID: next(), MsgRef: in.Header.MsgID, CmdRef: c.CommandID(), Cmd: c.CommandName(), Code: 200})
	}
	for _, c := range cmds {
		setCmdID(c, next())
		m.Body.Commands = append(m.Body.Commands, c)
	}
	m.Body.Final = true
	return m
}

func setCmdID(c syncml.Command, id string) {
	switch c := c.(type) {
	case *syncml.Get:
		c.CmdID = id
	case *syncml.Replace:
		c.CmdID = id
	case *syncml.Exec:
		c.CmdID = id
	case *syncml.Delete:
		c.CmdID = id
	case *syncml.Sequence:
		c.CmdID = id
		for i, in := range c.Commands {
			setCmdID(in, id+"."+strconv.Itoa(i+1))
		}
	case *syncml.Alert:
		c.CmdID = id
	}
}

func get(uri string) *syncml.Get {
	return &syncml.Get{Items: []syncml.Item{{Target: &syncml.Location{LocURI: uri}}}}
}

func exec(uri string) *syncml.Exec {
	return &syncml.Exec{Correlator: "job-1", Item: syncml.Item{Target: &syncml.Location{LocURI: uri}}}
}

func replace(uri, value string) *syncml.Replace {
	return &syncml.Replace{Items: []syncml.Item{{Target: &syncml.Location{LocURI: uri}, Data: []byte(value)}}}
}

// commandsOf is the commands of m of type T.
func commandsOf[T syncml.Command](m *syncml.Message) []T {
	var out []T
	for _, c := range m.Body.Commands {
		if t, ok := c.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// headerStatus is the client's Status on the server's SyncHdr, if any.
func headerStatus(m *syncml.Message) *syncml.Status {
	for _, st := range commandsOf[*syncml.Status](m) {
		if st.CmdRef == "0" {
			return st
		}
	}
	return nil
}

// statusCodes maps CmdRef to the client's status code, the SyncHdr's
// excluded.
func statusCodes(m *syncml.Message) map[string]int {
	out := map[string]int{}
	for _, st := range commandsOf[*syncml.Status](m) {
		if st.CmdRef != "0" {
			out[st.CmdRef] = st.Code
		}
	}
	return out
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recorded is one call of a device's Record hook.
type recorded struct {
	n          int
	fromClient bool
	body       []byte
}

// recorder collects a device's Record calls.
type recorder struct {
	mu   sync.Mutex
	msgs []recorded
}

func (r *recorder) record(n int, fromClient bool, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, recorded{n, fromClient, bytes.Clone(body)})
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.msgs...)
}
