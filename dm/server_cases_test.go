package dm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
)

// post sends a raw body and returns the HTTP status, content type and the
// decoded SyncML answer (nil when the answer is not SyncML).
func post(t *testing.T, url, contentType string, body []byte, header http.Header) (int, string, *syncml.Message) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	m, _, err := syncml.Decode(rb)
	if err != nil {
		m = nil
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), m
}

// hdrStatus is the server's Status on the client's SyncHdr.
func hdrStatus(t *testing.T, m *syncml.Message) *syncml.Status {
	t.Helper()
	if m == nil {
		t.Fatal("no SyncML answer")
	}
	for _, c := range m.Body.Commands {
		if st, ok := c.(*syncml.Status); ok && st.CmdRef == "0" {
			return st
		}
	}
	t.Fatal("no status for the SyncHdr")
	return nil
}

// basicPkg1 is a package 1 of device dev with basic credentials.
func basicPkg1(t *testing.T, dev, sessionID, msgID string, enc syncml.Encoding, cmds ...syncml.Command) []byte {
	t.Helper()
	m := &syncml.Message{Header: syncml.Header{VerDTD: "1.2", VerProto: "DM/1.2", SessionID: sessionID, MsgID: msgID,
		Target: syncml.Location{LocURI: "http://gw/dm"}, Source: syncml.Location{LocURI: "IMEI:" + dev},
		Cred: &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthBasic, Format: "b64"}, Data: syncml.BasicCredential("user-"+dev, "pw-"+dev)}},
		Body: syncml.Body{Final: true, Commands: append([]syncml.Command{&syncml.Alert{CmdID: "1", Code: 1201}}, cmds...)}}
	b, err := syncml.Encode(m, enc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWrongPassword(t *testing.T) {
	for _, auth := range []string{"basic", "md5", "hmac"} {
		t.Run(auth, func(t *testing.T) {
			g := newGateway(t, dm.Config{})
			d := g.provision("dev1", auth, syncml.EncodingXML)
			id := g.enqueue("dev1", get("./DevDetail/FwV"), "")
			d.Password = "wrong"
			var replies []*syncml.Message
			d.Record = func(n int, fromClient bool, body []byte) {
				if !fromClient {
					m, _, _ := syncml.Decode(body)
					replies = append(replies, m)
				}
			}
			_, err := d.Session(context.Background(), sim.SessionOptions{})
			if !errors.Is(err, sim.ErrAuthRefused) {
				t.Fatalf("session with a wrong password: %v, want refusal", err)
			}
			if len(replies) != 2 {
				t.Fatalf("server answered %d messages, want 2 (one more challenge, then refusal)", len(replies))
			}
			first, second := hdrStatus(t, replies[0]), hdrStatus(t, replies[1])
			if first.Code != 401 || first.Chal == nil {
				t.Errorf("first failure: status %d chal %v, want 401 with a challenge", first.Code, first.Chal)
			}
			if auth != "basic" && (first.Chal == nil || len(first.Chal.Meta.NextNonce) < 16) {
				t.Errorf("the challenge carries no fresh nonce")
			}
			if second.Code != 401 || second.Chal != nil {
				t.Errorf("second failure: status %d chal %v, want 401 and no more challenges", second.Code, second.Chal)
			}
			// Nothing ran: the command waits, DevInfo was not taken.
			if r := g.result(id); r.State != fleet.DMCommandPending {
				t.Errorf("command state %s after refused session", r.State)
			}
			if dev := g.device("dev1"); len(dev.DM.DevInfo) != 0 {
				t.Errorf("DevInfo stored from an unauthenticated message: %v", dev.DM.DevInfo)
			}
			// The right password works in a new session.
			d.Password, d.Record = "pw-dev1", nil
			session(t, d, sim.SessionOptions{})
			if r := g.result(id); r.State != fleet.DMCommandDone {
				t.Errorf("command state %s after a good session", r.State)
			}
		})
	}
}

func TestMissingCredentials(t *testing.T) {
	g := newGateway(t, dm.Config{})
	g.provision("dev1", "md5", syncml.EncodingXML)
	before := g.dump()
	m := &syncml.Message{Header: syncml.Header{VerDTD: "1.2", VerProto: "DM/1.2", SessionID: "1", MsgID: "1",
		Target: syncml.Location{LocURI: "http://gw/dm"}, Source: syncml.Location{LocURI: "IMEI:dev1"}},
		Body: syncml.Body{Final: true, Commands: []syncml.Command{&syncml.Alert{CmdID: "1", Code: 1201},
			&syncml.Replace{CmdID: "2", Items: []syncml.Item{{Source: &syncml.Location{LocURI: "./DevInfo/Man"}, Data: []byte("Evil")}}}}}}
	body, _ := syncml.EncodeXML(m)
	code, _, reply := post(t, g.url(), syncml.ContentTypeXML, body, nil)
	st := hdrStatus(t, reply)
	if code != 200 || st.Code != 407 || st.Chal == nil || st.Chal.Meta.Type != syncml.AuthMD5 || len(st.Chal.Meta.NextNonce) < 16 {
		t.Fatalf("answer %d, status %+v; want 407 with an md5 challenge", code, st)
	}
	for _, c := range reply.Body.Commands {
		if s, ok := c.(*syncml.Status); ok && s.CmdRef == "2" && s.Code != 407 {
			t.Errorf("Replace answered %d before authentication", s.Code)
		}
	}
	// Nothing was stored: the challenge waits in memory.
	if g.dump() != before {
		t.Errorf("a message without credentials changed the store")
	}
	// The device answers the challenge: credentials on the challenged
	// nonce, without LocName (real clients leave it out), are accepted.
	m.Header.MsgID = "2"
	m.Header.Cred = &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64"}, Data: syncml.MD5Credential("user-dev1", "pw-dev1", st.Chal.Meta.NextNonce)}
	body, _ = syncml.EncodeXML(m)
	_, _, reply = post(t, g.url(), syncml.ContentTypeXML, body, nil)
	if st := hdrStatus(t, reply); st.Code != 212 {
		t.Fatalf("credentials on the challenged nonce: status %d, want 212", st.Code)
	}
	if dev := g.device("dev1"); dev.DM.DevInfo["Man"] != "Evil" {
		t.Errorf("DevInfo of the authenticated message not stored: %v", dev.DM.DevInfo)
	}
}

// TestReplay: a package 1 captured from a finished session starts a new
// session under the same SessionID (clients reuse them), whose credentials,
// computed on a used nonce, are refused; credentials on a used nonce in a
// new session are refused too; neither changes anything stored.
func TestReplay(t *testing.T) {
	for _, auth := range []string{"md5", "hmac"} {
		t.Run(auth, func(t *testing.T) {
			g := newGateway(t, dm.Config{})
			d := g.provision("dev1", auth, syncml.EncodingXML)
			var pkg1 []byte
			var hmacHdr string
			rt := &recordingTransport{}
			d.HTTP = &http.Client{Transport: rt}
			session(t, d, sim.SessionOptions{SessionID: "A1"})
			pkg1, hmacHdr = rt.bodies[0], rt.hmac[0]
			hdr := http.Header{}
			if hmacHdr != "" {
				hdr.Set(syncml.HMACHeaderName, hmacHdr)
			}
			g.enqueue("dev1", get("./DevDetail/FwV"), "")
			before := g.dump()

			// The same message again: a new session, refused.
			code, _, reply := post(t, g.url(), syncml.ContentTypeXML, pkg1, hdr)
			if st := hdrStatus(t, reply); code != 200 || st.Code != 401 {
				t.Errorf("replayed message: HTTP %d status %d, want 401", code, st.Code)
			}
			if g.dump() != before {
				t.Errorf("a replayed message changed the store")
			}

			// The same credentials in a new session: the nonce is used up.
			m, _, _ := syncml.Decode(pkg1)
			m.Header.SessionID = "B2"
			body, _ := syncml.EncodeXML(m)
			if auth == "hmac" {
				// The attacker cannot compute a MAC: it replays the old one.
				hdr.Set(syncml.HMACHeaderName, hmacHdr)
			}
			_, _, reply = post(t, g.url(), syncml.ContentTypeXML, body, hdr)
			if st := hdrStatus(t, reply); st.Code != 401 {
				t.Errorf("credentials on a used nonce: status %d, want 401", st.Code)
			}
			if g.dump() != before {
				t.Errorf("a replayed message changed the store")
			}
			for _, c := range reply.Body.Commands {
				if _, ok := c.(*syncml.Get); ok {
					t.Errorf("queued command sent to a replayed session")
				}
			}
		})
	}
}

// TestRetransmission: a client that lost the server's reply sends the same
// message again (same MsgID, same bytes) and gets the same reply bytes,
// nothing stored changing; another message under a MsgID already taken is
// refused and changes nothing either.
func TestRetransmission(t *testing.T) {
	for _, enc := range []syncml.Encoding{syncml.EncodingXML, syncml.EncodingWBXML} {
		t.Run(enc.String(), func(t *testing.T) {
			g := newGateway(t, dm.Config{})
			g.provision("dev1", "basic", enc)
			g.enqueue("dev1", get("./DevDetail/FwV"), "")
			body := basicPkg1(t, "dev1", "7", "1", enc)
			first := postRaw(t, g.url(), enc.ContentType(), body)
			reply, _, err := syncml.Decode(first)
			if err != nil || hdrStatus(t, reply).Code != 212 {
				t.Fatalf("package 1: %v %v", reply, err)
			}
			before := g.dump()
			if again := postRaw(t, g.url(), enc.ContentType(), body); !bytes.Equal(again, first) {
				t.Errorf("retransmitted package 1: the reply differs")
			}
			if g.dump() != before {
				t.Errorf("a retransmission changed the store")
			}
			if g.server.Stats().Retransmissions != 1 {
				t.Errorf("retransmissions %d, want 1", g.server.Stats().Retransmissions)
			}
			// Another body under MsgID 1, to the session's RespURI.
			other := basicPkg1(t, "dev1", "7", "1", enc, &syncml.Alert{CmdID: "2", Code: 1224})
			_, _, refused := post(t, reply.Header.RespURI, enc.ContentType(), other, nil)
			if st := hdrStatus(t, refused); st.Code != 400 {
				t.Errorf("another message under a used MsgID: status %d, want 400", st.Code)
			}
			if g.dump() != before {
				t.Errorf("a refused message changed the store")
			}
		})
	}
}

// postRaw posts body and returns the answer's bytes.
func postRaw(t *testing.T, url, contentType string, body []byte) []byte {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP %d %v: %s", resp.StatusCode, err, b)
	}
	return b
}

type recordingTransport struct {
	mu     sync.Mutex
	bodies [][]byte
	hmac   []string
	after  func(n int)
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(b))
	rt.mu.Lock()
	rt.bodies = append(rt.bodies, b)
	rt.hmac = append(rt.hmac, req.Header.Get(syncml.HMACHeaderName))
	n := len(rt.bodies)
	rt.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && rt.after != nil {
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(rb))
		rt.after(n)
	}
	return resp, err
}

// TestRestartBetweenMessages: the gateway restarts (store closed and
// reopened, new process state) between package 2 and package 3; the
// session goes on and the results reach the caller.
func TestRestartBetweenMessages(t *testing.T) {
	for _, auth := range []string{"md5", "hmac"} {
		t.Run(auth, func(t *testing.T) {
			g := newGateway(t, dm.Config{})
			d := g.provision("dev1", auth, syncml.EncodingWBXML)
			id := g.enqueue("dev1", get("./DevDetail/FwV"), "")
			restarts := 0
			d.HTTP = &http.Client{Transport: &recordingTransport{after: func(n int) {
				if n == 1 {
					g.restart()
					restarts++
				}
			}}}
			session(t, d, sim.SessionOptions{})
			if restarts != 1 {
				t.Fatalf("restarts = %d", restarts)
			}
			r := g.result(id)
			if r.State != fleet.DMCommandDone || len(r.Outcome.Results) != 1 {
				t.Errorf("result after restart: %+v", r)
			}
			if got := g.results.all(); len(got) != 1 || got[0].ID != id {
				t.Errorf("result handler after restart: %+v", got)
			}
		})
	}
}

// TestQueuedWhileOffline: commands queued while the device is away (and
// across a gateway restart) reach it in its next session.
func TestQueuedWhileOffline(t *testing.T) {
	g := newGateway(t, dm.Config{})
	d := g.provision("dev1", "md5", syncml.EncodingXML)
	session(t, d, sim.SessionOptions{}) // nothing queued: a short session
	id := g.enqueue("dev1", &syncml.Sequence{Commands: []syncml.Command{
		replace("./Vendor/A", "1"), get("./Vendor/A"),
	}}, "")
	g.restart()
	if r := g.result(id); r.State != fleet.DMCommandPending {
		t.Fatalf("state %s", r.State)
	}
	session(t, d, sim.SessionOptions{})
	r := g.result(id)
	if r.State != fleet.DMCommandDone || r.Outcome.Code() != 200 || len(r.Outcome.Statuses) != 3 ||
		len(r.Outcome.Results) != 1 || string(r.Outcome.Results[0].Data) != "1" {
		t.Errorf("sequence outcome: %+v", r.Outcome)
	}
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestLargeObjectPush: a 1 MiB package goes to a device with MaxMsgSize
// 4 KiB as a large object, read from the store chunk by chunk; every
// server message stays under the limit.
func TestLargeObjectPush(t *testing.T) {
	for _, enc := range encodings {
		t.Run(enc.String(), func(t *testing.T) {
			g := newGateway(t, dm.Config{})
			d := g.provision("dev1", "md5", enc)
			d.MaxMsgSize = 4096
			img := randomBytes(t, 1<<20)
			sum := sha256.Sum256(img)
			pkg := fleet.Package{ID: "fw2", Name: "fw", Version: "2", Size: int64(len(img)), SHA256: hex.EncodeToString(sum[:])}
			if _, err := g.store.PutPackage(context.Background(), pkg, bytes.NewReader(img)); err != nil {
				t.Fatal(err)
			}
			const node = "./FwUpdate/x/Update/PkgData"
			cmd := &syncml.Replace{Items: []syncml.Item{{Target: &syncml.Location{LocURI: node}, Meta: &syncml.Meta{Type: "application/octet-stream"}}}}
			id := g.enqueue("dev1", cmd, "fw2")
			after := g.enqueue("dev1", get("./DevDetail/FwV"), "")
			largest, messages := 0, 0
			d.Record = func(n int, fromClient bool, body []byte) {
				if !fromClient {
					messages++
					largest = max(largest, len(body))
				}
			}
			session(t, d, sim.SessionOptions{})
			if largest > 4096 {
				t.Errorf("largest server message %d bytes > MaxMsgSize 4096", largest)
			}
			if messages < 256 {
				t.Errorf("only %d server messages for 1 MiB under 4 KiB", messages)
			}
			if got, _ := d.Node(node); !bytes.Equal(got, img) {
				t.Errorf("device got %d bytes, not the image", len(got))
			}
			if r := g.result(id); r.State != fleet.DMCommandDone || r.Outcome.Code() != 200 {
				t.Errorf("push outcome %+v", r)
			}
			if r := g.result(after); r.State != fleet.DMCommandDone {
				t.Errorf("the command after the object: %s", r.State)
			}
		})
	}
}

// TestClientLargeObject: a device answers a Get with a large object in
// chunks; the server reassembles it, and a size mismatch is answered 424
// with nothing kept.
func TestClientLargeObject(t *testing.T) {
	for _, lie := range []bool{false, true} {
		name := map[bool]string{false: "whole", true: "size-mismatch"}[lie]
		t.Run(name, func(t *testing.T) {
			g := newGateway(t, dm.Config{})
			d := g.provision("dev1", "basic", syncml.EncodingXML)
			d.ChunkSize, d.LieAboutSize = 1000, lie
			log := bytes.Repeat([]byte("log line 0123456789\n"), 1000) // 20 000 bytes
			d.SetNode("./Vendor/Log", log)
			id := g.enqueue("dev1", get("./Vendor/Log"), "")
			rep := session(t, d, sim.SessionOptions{})
			r := g.result(id)
			if r.State != fleet.DMCommandDone {
				t.Fatalf("state %s", r.State)
			}
			last := 0
			for k, v := range rep.Statuses {
				if strings.HasPrefix(k, "Results") {
					last = v
				}
			}
			if !lie {
				if len(r.Outcome.Results) != 1 || !bytes.Equal(r.Outcome.Results[0].Data, log) {
					t.Errorf("reassembled %d items", len(r.Outcome.Results))
				}
				return
			}
			if len(r.Outcome.Results) != 0 {
				t.Errorf("results kept despite the size mismatch")
			}
			found := false
			for _, s := range r.Outcome.Statuses {
				found = found || s.Cmd == "Results" && s.Code == 424
			}
			if !found || last != 424 {
				t.Errorf("no 424: outcome %+v, device saw %d", r.Outcome.Statuses, last)
			}
		})
	}
}

// TestContentTypes: the forms real clients send are taken, the body
// decides the encoding, and the answer uses the client's form.
func TestContentTypes(t *testing.T) {
	cases := []struct {
		ct     string
		enc    syncml.Encoding
		status int
		answer string
	}{
		{"application/vnd.syncml.dm+xml", syncml.EncodingXML, 200, "application/vnd.syncml.dm+xml"},
		{"application/vnd.syncml.dm+wbxml", syncml.EncodingWBXML, 200, "application/vnd.syncml.dm+wbxml"},
		{"application/vnd.syncml+xml; charset=UTF-8", syncml.EncodingXML, 200, "application/vnd.syncml+xml"},
		{"application/vnd.syncml+wbxml", syncml.EncodingWBXML, 200, "application/vnd.syncml+wbxml"},
		{"", syncml.EncodingWBXML, 200, "application/vnd.syncml.dm+wbxml"},
		{"application/vnd.syncml.dm+xml", syncml.EncodingWBXML, 200, "application/vnd.syncml.dm+wbxml"}, // mislabelled
		{"image/png", syncml.EncodingXML, 415, ""},
	}
	g := newGateway(t, dm.Config{})
	g.provision("dev1", "basic", syncml.EncodingXML)
	for i, c := range cases {
		body := basicPkg1(t, "dev1", "C"+string(rune('0'+i)), "1", c.enc)
		code, ct, reply := post(t, g.url(), c.ct, body, nil)
		if code != c.status {
			t.Errorf("%q: HTTP %d, want %d", c.ct, code, c.status)
			continue
		}
		if code != 200 {
			continue
		}
		if ct != c.answer {
			t.Errorf("%q: answered as %q, want %q", c.ct, ct, c.answer)
		}
		if st := hdrStatus(t, reply); st.Code != 212 {
			t.Errorf("%q: status %d", c.ct, st.Code)
		}
	}
}

// TestCorrelatorBeforeData: a real client's package 1 (XML declaration,
// single-quoted namespaces, Correlator before Data, no metinf namespace)
// is read and its Generic Alert reaches the subscriber.
func TestCorrelatorBeforeData(t *testing.T) {
	g := newGateway(t, dm.Config{})
	g.provision("dev1", "basic", syncml.EncodingXML)
	body := `<?xml version='1.0' encoding='UTF-8'?>
<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1F</SessionID><MsgID>1</MsgID>
<Target><LocURI>http://gw/dm</LocURI></Target><Source><LocURI>IMEI:dev1</LocURI></Source>
<Cred><Meta><Type xmlns='syncml:metinf'>syncml:auth-basic</Type><Format>b64</Format></Meta><Data>` + syncml.BasicCredential("user-dev1", "pw-dev1") + `</Data></Cred></SyncHdr>
<SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert>
<Alert><CmdID>2</CmdID><Correlator>job-42</Correlator><Data>1226</Data>
<Item><Source><LocURI>./FwUpdate/x</LocURI></Source><Meta><Type>org.openmobilealliance.dm.firmwareupdate.downloadandupdate</Type><Format>int</Format></Meta><Data>200</Data></Item></Alert>
<Final/></SyncBody></SyncML>`
	_, _, reply := post(t, g.url(), "application/vnd.syncml+xml", []byte(body), nil)
	codes := map[string]int{}
	for _, c := range reply.Body.Commands {
		if st, ok := c.(*syncml.Status); ok {
			codes[st.CmdRef] = st.Code
		}
	}
	if codes["0"] != 212 || codes["2"] != 200 {
		t.Errorf("statuses %v", codes)
	}
	got := g.alerts.all()
	if len(got) != 1 || got[0].Alert.Correlator != "job-42" || got[0].DeviceID != "dev1" || string(got[0].Alert.Items[0].Data) != "200" {
		t.Fatalf("alert subscriber got %+v", got)
	}
}

// TestCredAfterAuthentication: clients that send Cred in every message
// and clients that stop after 212 are both served.
func TestCredAfterAuthentication(t *testing.T) {
	for _, every := range []bool{false, true} {
		g := newGateway(t, dm.Config{})
		d := g.provision("dev1", "md5", syncml.EncodingXML)
		id := g.enqueue("dev1", get("./DevDetail/FwV"), "")
		rep := session(t, d, sim.SessionOptions{CredEveryMessage: every})
		if rep.HeaderStatus != 200 && rep.HeaderStatus != 212 {
			t.Errorf("every=%v: header status %d", every, rep.HeaderStatus)
		}
		if r := g.result(id); r.State != fleet.DMCommandDone {
			t.Errorf("every=%v: %s", every, r.State)
		}
	}
}

// TestGenericAlertInExecSession: a client answers Exec with 200 and sends
// its 1226 in the same session; the subscriber gets it and the client gets
// the subscriber's status.
func TestGenericAlertInExecSession(t *testing.T) {
	g := newGateway(t, dm.Config{})
	d := g.provision("dev1", "md5", syncml.EncodingWBXML)
	d.Exec = func(_ context.Context, node, correlator string, _ []byte) int {
		d.QueueAlert(syncml.Alert{Code: 1226, Correlator: correlator, Items: []syncml.Item{{
			Source: &syncml.Location{LocURI: "./FwUpdate/x/DownloadAndUpdate"},
			Meta:   &syncml.Meta{Type: "org.openmobilealliance.dm.firmwareupdate.downloadandupdate", Format: "int"},
			Data:   []byte("200")}}})
		return 200
	}
	id := g.enqueue("dev1", &syncml.Exec{Correlator: "job-7", Item: syncml.Item{Target: &syncml.Location{LocURI: "./FwUpdate/x/DownloadAndUpdate"}}}, "")
	rep := session(t, d, sim.SessionOptions{})
	if r := g.result(id); r.State != fleet.DMCommandDone || r.Outcome.Code() != 200 {
		t.Errorf("exec outcome %+v", r)
	}
	got := g.alerts.all()
	if len(got) != 1 || got[0].Alert.Correlator != "job-7" {
		t.Fatalf("subscriber got %+v", got)
	}
	alertStatus := 0
	for k, v := range rep.Statuses {
		if strings.HasPrefix(k, "Alert") && k != "Alert 1" {
			alertStatus = v
		}
	}
	if alertStatus != 200 {
		t.Errorf("1226 answered %d (statuses %v)", alertStatus, rep.Statuses)
	}
}

// TestGenericAlertStatuses: the subscriber's 202 and 415 reach the device;
// without a subscriber decision, a 1226 without Type/Format gets 415.
func TestGenericAlertStatuses(t *testing.T) {
	alert := func(meta *syncml.Meta) syncml.Alert {
		return syncml.Alert{Code: 1226, Items: []syncml.Item{{Source: &syncml.Location{LocURI: "./FwUpdate/x"}, Meta: meta, Data: []byte("200")}}}
	}
	good := &syncml.Meta{Type: "org.openmobilealliance.dm.firmwareupdate.update", Format: "int"}
	cases := []struct {
		name    string
		handler int
		meta    *syncml.Meta
		want    int
	}{
		{"accepted", 202, good, 202},
		{"unknown-type", 415, &syncml.Meta{Type: "com.example.unknown", Format: "int"}, 415},
		{"default", 0, good, 200},
		{"no-meta", 0, nil, 415},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGateway(t, dm.Config{})
			g.alerts.code = c.handler
			d := g.provision("dev1", "basic", syncml.EncodingXML)
			rep := session(t, d, sim.SessionOptions{Alerts: []syncml.Alert{alert(c.meta)}})
			got := -1
			for k, v := range rep.Statuses {
				if strings.HasPrefix(k, "Alert") && k != "Alert 1" {
					got = v
				}
			}
			if got != c.want {
				t.Errorf("1226 answered %d, want %d (%v)", got, c.want, rep.Statuses)
			}
		})
	}
}

// TestBadInput: refused input gets a clear answer and changes nothing.
func TestBadInput(t *testing.T) {
	g := newGateway(t, dm.Config{MaxMsgSize: 64 << 10})
	g.provision("dev1", "basic", syncml.EncodingXML)
	g.provision("dev2", "basic", syncml.EncodingXML)
	g.enqueue("dev1", get("./DevDetail/FwV"), "")
	// dev2 opens a session: its RespURI is another device's session.
	_, _, reply := post(t, g.url(), syncml.ContentTypeXML, basicPkg1(t, "dev2", "5", "1", syncml.EncodingXML), nil)
	dev2URI := reply.Header.RespURI
	if !strings.Contains(dev2URI, "/dm/s/") {
		t.Fatalf("RespURI %q", dev2URI)
	}
	before := g.dump()

	wbxml := basicPkg1(t, "dev1", "9", "1", syncml.EncodingWBXML)
	cases := []struct {
		name   string
		url    string
		ct     string
		body   []byte
		status int
	}{
		{"malformed XML", g.url(), syncml.ContentTypeXML, []byte("<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</Ver"), 400},
		{"malformed WBXML", g.url(), syncml.ContentTypeWBXML, wbxml[:len(wbxml)/2], 400},
		{"not SyncML", g.url(), syncml.ContentTypeXML, []byte("hello"), 400},
		{"oversized", g.url(), syncml.ContentTypeXML, bytes.Repeat([]byte("<"), 65<<10), 413},
		{"another device's session", dev2URI, syncml.ContentTypeXML, basicPkg1(t, "dev1", "5", "2", syncml.EncodingXML), 403},
		{"unknown session token", g.url() + "/s/0123", syncml.ContentTypeXML, basicPkg1(t, "dev1", "5", "1", syncml.EncodingXML), 404},
		{"GET", g.url(), "", nil, 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var code int
			if c.body == nil {
				resp, err := http.Get(c.url)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				code = resp.StatusCode
			} else {
				code, _, _ = post(t, c.url, c.ct, c.body, nil)
			}
			if code != c.status {
				t.Errorf("HTTP %d, want %d", code, c.status)
			}
			if g.dump() != before {
				t.Errorf("store changed")
			}
		})
	}
	// A wrong SyncML version is answered in SyncML.
	m, _, _ := syncml.Decode(basicPkg1(t, "dev1", "6", "1", syncml.EncodingXML))
	m.Header.VerProto = "DM/1.1"
	body, _ := syncml.EncodeXML(m)
	if _, _, reply := post(t, g.url(), syncml.ContentTypeXML, body, nil); hdrStatus(t, reply).Code != 513 {
		t.Errorf("DM/1.1: status %d, want 513", hdrStatus(t, reply).Code)
	}
	if g.dump() != before {
		t.Errorf("store changed")
	}
}

func TestAutoEnrol(t *testing.T) {
	g := newGateway(t, dm.Config{AutoEnrol: &dm.AutoEnrol{Auth: fleet.DMAuthBasic, Password: fleet.Secret("bootstrap")}})
	d := &sim.DMDevice{ServerURL: g.url(), DevID: "IMEI:new", Username: "new-user", Password: "bootstrap", Auth: "basic"}
	d.SetNode("./DevInfo/Mod", []byte("Rocket-2"))
	session(t, d, sim.SessionOptions{})
	dev, err := g.store.DeviceByDMID(context.Background(), "IMEI:new")
	if err != nil || dev.Model != "Rocket-2" || dev.DM.Username != "new-user" {
		t.Fatalf("enrolled device %+v, %v", dev, err)
	}
	d.Password = "other"
	if _, err := d.Session(context.Background(), sim.SessionOptions{}); !errors.Is(err, sim.ErrAuthRefused) {
		t.Errorf("enrolled device with a wrong password: %v", err)
	}
}

// TestPackage0: the trigger goes to an operator's push gateway over HTTP,
// its digest verifies with the server credentials and the device's nonce,
// and the device's Alert 1200 session with that session id is served.
func TestPackage0(t *testing.T) {
	var mu sync.Mutex
	var pushed []byte
	var pushedFor string
	push := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		pushed, _ = io.ReadAll(r.Body)
		pushedFor = r.Header.Get(dm.DeviceIDHeader)
	}))
	defer push.Close()
	g := newGateway(t, dm.Config{Notifier: &dm.HTTPNotifier{URL: push.URL}})
	d := g.provision("dev1", "md5", syncml.EncodingXML)
	session(t, d, sim.SessionOptions{}) // the device issues its server nonce
	id := g.enqueue("dev1", get("./DevDetail/FwV"), "")

	sid, err := g.server.Trigger(context.Background(), "dev1", dm.TriggerOptions{UIMode: syncml.UIModeBackground})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	pkg0, to := pushed, pushedFor
	mu.Unlock()
	if to != "IMEI:dev1" {
		t.Errorf("pushed for %q", to)
	}
	if err := syncml.VerifyNotification(pkg0, "fumo-gw", "srv-dev1", d.ServerNonce); err != nil {
		t.Fatalf("device cannot verify the Package 0: %v", err)
	}
	n, err := syncml.DecodeNotification(pkg0)
	if err != nil || syncml.SessionIDHex(n.SessionID) != sid || n.ServerID != "fumo-gw" || n.Initiator != syncml.InitiatorServer {
		t.Fatalf("notification %+v (%v), session %s", n, err, sid)
	}
	if dev := g.device("dev1"); dev.DM.TriggerSessionID != sid {
		t.Errorf("trigger session id not recorded before sending: %q", dev.DM.TriggerSessionID)
	}
	rep := session(t, d, sim.SessionOptions{ServerInitiated: true, SessionID: sid})
	if dev := g.device("dev1"); dev.DM.TriggerSessionID != "" {
		t.Errorf("the answering session did not clear the trigger: %q", dev.DM.TriggerSessionID)
	}
	if rep.SessionID != sid {
		t.Errorf("session %s", rep.SessionID)
	}
	if _, err := g.store.DMSession(context.Background(), "dev1", sid); err != nil {
		t.Errorf("no session %s stored: %v", sid, err)
	}
	if r := g.result(id); r.State != fleet.DMCommandDone {
		t.Errorf("queued command after the triggered session: %s", r.State)
	}
}

// TestAlertHandlerQueuesInSameSession: a command the alert subscriber
// queues while handling a 1226 goes out in the reply to that message.
func TestAlertHandlerQueuesInSameSession(t *testing.T) {
	g := newGateway(t, dm.Config{})
	d := g.provision("dev1", "md5", syncml.EncodingXML)
	var id string
	g.alerts.hook = func(dm.AlertEvent) { id = g.enqueue("dev1", get("./DevDetail/FwV"), "") }
	alert := syncml.Alert{Code: 1226, Items: []syncml.Item{{Source: &syncml.Location{LocURI: "./FwUpdate/x"},
		Meta: &syncml.Meta{Type: "org.openmobilealliance.dm.firmwareupdate.update", Format: "int"}, Data: []byte("200")}}}
	rep := session(t, d, sim.SessionOptions{Alerts: []syncml.Alert{alert}})
	if rep.Messages != 2 {
		t.Errorf("%d client messages, want 2", rep.Messages)
	}
	if r := g.result(id); r.State != fleet.DMCommandDone {
		t.Errorf("command queued by the alert handler: %s", r.State)
	}
}
