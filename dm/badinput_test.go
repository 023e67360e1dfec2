package dm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/sim"
)

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (127.0.0.x).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func postWith(t *testing.T, c *http.Client, url string, body []byte) *syncml.Message {
	t.Helper()
	resp, err := c.Post(url, syncml.ContentTypeXML, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	m, _, err := syncml.Decode(b.Bytes())
	if err != nil {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, b.Bytes())
	}
	return m
}

// md5Pkg1 is a package 1 of dev with md5 credentials on nonce, from
// LocName locName ("" for none).
func md5Pkg1(t *testing.T, dev, locName, password, sessionID, msgID string, nonce []byte) []byte {
	t.Helper()
	m := &syncml.Message{Header: syncml.Header{VerDTD: "1.2", VerProto: "DM/1.2", SessionID: sessionID, MsgID: msgID,
		Target: syncml.Location{LocURI: "http://gw/dm"}, Source: syncml.Location{LocURI: "IMEI:" + dev, LocName: locName},
		Cred: &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64"}, Data: syncml.MD5Credential("user-"+dev, password, nonce)}},
		Body: syncml.Body{Final: true, Commands: []syncml.Command{&syncml.Alert{CmdID: "1", Code: 1201}}}}
	b, err := syncml.EncodeXML(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadInputChangesNothing: what a real client's leniency must not let
// through is refused, and nothing stored changes.
func TestBadInputChangesNothing(t *testing.T) {
	t.Run("LocName naming someone else", func(t *testing.T) {
		g := newGateway(t, dm.Config{})
		g.provision("dev1", "md5", syncml.EncodingXML)
		before := g.dump()
		reply := postWith(t, http.DefaultClient, g.url(), md5Pkg1(t, "dev1", "mallory", "pw-dev1", "1", "1", nil))
		if st := hdrStatus(t, reply); st.Code != 401 {
			t.Errorf("foreign LocName: status %d, want 401", st.Code)
		}
		if g.dump() != before {
			t.Errorf("store changed")
		}
	})
	t.Run("wrong digest", func(t *testing.T) {
		g := newGateway(t, dm.Config{})
		g.provision("dev1", "md5", syncml.EncodingXML)
		before := g.dump()
		// One more challenge, then the session is refused, then over.
		for i, want := range []int{401, 401, 400} {
			reply := postWith(t, http.DefaultClient, g.url(), md5Pkg1(t, "dev1", "", "wrong", "1", fmt.Sprint(i+1), nil))
			if st := hdrStatus(t, reply); st.Code != want {
				t.Errorf("wrong digest %d: status %d, want %d", i+1, st.Code, want)
			}
		}
		if g.dump() != before {
			t.Errorf("store changed")
		}
	})
	t.Run("open session's SessionID from another address", func(t *testing.T) {
		g := newGateway(t, dm.Config{})
		d := g.provision("dev1", "basic", syncml.EncodingXML)
		g.enqueue("dev1", get("./DevDetail/FwV"), "")
		pkg1 := basicPkg1(t, "dev1", "1", "1", syncml.EncodingXML)
		first := postWith(t, clientFrom("127.0.0.1"), g.url(), pkg1)
		if st := hdrStatus(t, first); st.Code != 212 || len(gets(first)) != 1 {
			t.Fatalf("package 1: %d, %d gets (the Get keeps the session open)", st.Code, len(gets(first)))
		}
		before := g.dump()
		other := basicPkg1(t, "dev1", "1", "1", syncml.EncodingXML, &syncml.Alert{CmdID: "2", Code: 1224})
		if st := hdrStatus(t, postWith(t, clientFrom("127.0.0.2"), g.url(), other)); st.Code != 400 {
			t.Errorf("SessionID of an open session from another address: status %d, want 400", st.Code)
		}
		if g.dump() != before {
			t.Errorf("store changed")
		}
		// From the session's own address, a package 1 starts over.
		if st := hdrStatus(t, postWith(t, clientFrom("127.0.0.1"), g.url(), other)); st.Code != 212 {
			t.Errorf("the device starting over: status %d, want 212", st.Code)
		}
		// And the simulator with a fixed SessionID completes its session.
		d.SessionID = "1"
		session(t, d, sim.SessionOptions{})
	})
}

// TestAutoEnrolAfterAuthentication: under auto-enrolment an unknown device
// is stored only in the step in which it authenticates with the
// enrolment credentials; before that (no credentials, a wrong password)
// nothing is stored.
func TestAutoEnrolAfterAuthentication(t *testing.T) {
	for _, auth := range []fleet.DMAuth{fleet.DMAuthBasic, fleet.DMAuthMD5} {
		t.Run(string(auth), func(t *testing.T) {
			g := newGateway(t, dm.Config{AutoEnrol: &dm.AutoEnrol{Auth: auth, Password: fleet.Secret("bootstrap")}})
			before := g.dump()
			m := &syncml.Message{Header: syncml.Header{VerDTD: "1.2", VerProto: "DM/1.2", SessionID: "1", MsgID: "1",
				Target: syncml.Location{LocURI: "http://gw/dm"}, Source: syncml.Location{LocURI: "IMEI:new"}},
				Body: syncml.Body{Final: true, Commands: []syncml.Command{&syncml.Alert{CmdID: "1", Code: 1201}}}}
			body, _ := syncml.EncodeXML(m)
			reply := postWith(t, http.DefaultClient, g.url(), body)
			if st := hdrStatus(t, reply); st.Code != 407 || reply.Header.RespURI != "" {
				t.Errorf("unauthenticated first contact: %d, RespURI %q; want 407 and no session", st.Code, reply.Header.RespURI)
			}
			wrong := &sim.DMDevice{ServerURL: g.url(), DevID: "IMEI:new", Username: "new-user", Password: "guess", Auth: string(auth)}
			if _, err := wrong.Session(context.Background(), sim.SessionOptions{}); err == nil {
				t.Errorf("a wrong enrolment password was accepted")
			}
			if g.dump() != before {
				t.Errorf("an unauthenticated device changed the store")
			}
			// The device answers a challenge with the right password.
			d := &sim.DMDevice{ServerURL: g.url(), DevID: "IMEI:new", Username: "new-user", Password: "bootstrap", Auth: string(auth)}
			d.SetNode("./DevInfo/Mod", []byte("Rocket-2"))
			session(t, d, sim.SessionOptions{NoCred: true})
			dev, err := g.store.DeviceByDMID(context.Background(), "IMEI:new")
			if err != nil || dev.Model != "Rocket-2" || dev.DM.Auth != auth || dev.DM.Username != "new-user" {
				t.Fatalf("enrolled device %+v, %v", dev, err)
			}
			session(t, d, sim.SessionOptions{}) // and it goes on with its stored nonce
		})
	}
}

// TestServerRefusedTooOften: a device that keeps refusing the server's
// credentials gets its commands sent again at most twice in a session;
// then they wait, pending, for its next session: a refusal is never
// recorded as a command's result.
func TestServerRefusedTooOften(t *testing.T) {
	g := newGateway(t, dm.Config{})
	d := g.provision("dev1", "basic", syncml.EncodingXML)
	d.ServerPassword, d.ChallengeServer, d.ServerAuth = "not-the-servers", true, "md5"
	var serverMsgs int
	d.Record = func(_ int, fromClient bool, _ []byte) {
		if !fromClient {
			serverMsgs++
		}
	}
	id := g.enqueue("dev1", get("./DevDetail/FwV"), "")
	if _, err := d.Session(context.Background(), sim.SessionOptions{}); !errors.Is(err, sim.ErrServerAuth) {
		t.Fatalf("session: %v, want the device to give up on the server", err)
	}
	if serverMsgs != 3 {
		t.Errorf("the server sent %d messages, want 3 (the command, then twice again)", serverMsgs)
	}
	if r := g.result(id); r.State != fleet.DMCommandSent || r.Outcome != nil {
		t.Errorf("command after the refusals: %+v", r)
	}
	// With the server's password right, the next session runs it: the
	// server took md5, and the device's last nonce, from its challenges.
	d.ServerPassword = "srv-dev1"
	session(t, d, sim.SessionOptions{})
	if r := g.result(id); r.State != fleet.DMCommandDone || r.Outcome.Code() != 200 {
		t.Errorf("command in the next session: %+v", r)
	}
}

// TestHMACFailureMidSession: a message whose MAC fails is answered with a
// challenge and stores nothing; the device's next message, MAC'd on the
// challenged nonce, goes on with the session.
func TestHMACFailureMidSession(t *testing.T) {
	g := newGateway(t, dm.Config{})
	g.provision("dev1", "hmac", syncml.EncodingXML)
	id := g.enqueue("dev1", get("./DevDetail/FwV"), "")
	dev := g.device("dev1")
	send := func(url string, m *syncml.Message, nonce []byte) *syncml.Message {
		t.Helper()
		body, _ := syncml.EncodeXML(m)
		h := http.Header{}
		h.Set(syncml.HMACHeaderName, syncml.HMACHeader{Username: "user-dev1", MAC: syncml.ComputeHMAC("user-dev1", "pw-dev1", nonce, body)}.String())
		_, _, reply := post(t, url, syncml.ContentTypeXML, body, h)
		return reply
	}
	hdr := func(msgID string) syncml.Header {
		return syncml.Header{VerDTD: "1.2", VerProto: "DM/1.2", SessionID: "9", MsgID: msgID,
			Target: syncml.Location{LocURI: "http://gw/dm"}, Source: syncml.Location{LocURI: "IMEI:dev1"}}
	}
	r1 := send(g.url(), &syncml.Message{Header: hdr("1"), Body: syncml.Body{Final: true, Commands: []syncml.Command{&syncml.Alert{CmdID: "1", Code: 1201}}}}, dev.DM.ClientNonce)
	st := hdrStatus(t, r1)
	if st.Code != 200 || st.Chal == nil || len(gets(r1)) != 1 {
		t.Fatalf("package 1: %+v", st)
	}
	getID := gets(r1)[0].CmdID
	answer := func(msgID string) *syncml.Message {
		return &syncml.Message{Header: hdr(msgID), Body: syncml.Body{Final: true, Commands: []syncml.Command{
			&syncml.Status{CmdID: "1", MsgRef: "1", CmdRef: "0", Cmd: "SyncHdr", Code: 200},
			&syncml.Status{CmdID: "2", MsgRef: "1", CmdRef: getID, Cmd: "Get", Code: 200},
			&syncml.Results{CmdID: "3", MsgRef: "1", CmdRef: getID, Items: []syncml.Item{{Source: &syncml.Location{LocURI: "./DevDetail/FwV"}, Data: []byte("1.0")}}},
		}}}
	}
	before := g.dump()
	r2 := send(r1.Header.RespURI, answer("2"), []byte("a nonce nobody issued"))
	st2 := hdrStatus(t, r2)
	if st2.Code != 401 || st2.Chal == nil {
		t.Fatalf("bad MAC: %+v", st2)
	}
	if g.dump() != before {
		t.Errorf("a message with a bad MAC changed the store")
	}
	r3 := send(r1.Header.RespURI, answer("3"), st2.Chal.Meta.NextNonce)
	if st := hdrStatus(t, r3); st.Code != 200 {
		t.Fatalf("MAC on the challenged nonce: %d", st.Code)
	}
	if r := g.result(id); r.State != fleet.DMCommandDone || r.Outcome.Code() != 200 {
		t.Errorf("the Get after the challenge: %+v", r)
	}
}
