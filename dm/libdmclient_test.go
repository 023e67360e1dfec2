package dm_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// The client messages of intel's libdmclient test client, replayed (see
// testdata/libdmclient/ORIGIN.md). Its account as it ships: DevId DMCtest;
// client credentials basic funambol/funambol; server credentials md5,
// server id funambol, password srvpwd, empty initial nonce. It never sends
// LocName and always uses SessionID 1.

func libdmclientMessage(t *testing.T, scenario, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "libdmclient", scenario, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// provisionLibdmclient stores the client's account: clientAuth for the
// client's credentials, serverAuth for the server's ("" = the same).
func provisionLibdmclient(t *testing.T, g *gateway, clientAuth, serverAuth fleet.DMAuth) {
	t.Helper()
	if _, err := g.store.CreateDevice(context.Background(), fleet.Device{ID: "dmc", Protocol: fleet.ProtocolDM, DM: &fleet.DMInfo{
		DeviceID: "DMCtest", Auth: clientAuth, Username: "funambol", Password: fleet.Secret("funambol"),
		ServerID: "funambol", ServerPassword: fleet.Secret("srvpwd"), ServerAuth: serverAuth, FUMORoot: "./FwUpdate/1",
	}}); err != nil {
		t.Fatal(err)
	}
}

func statusOf(m *syncml.Message, cmdRef string) *syncml.Status {
	for _, c := range m.Body.Commands {
		if st, ok := c.(*syncml.Status); ok && st.CmdRef == cmdRef {
			return st
		}
	}
	return nil
}

func gets(m *syncml.Message) []*syncml.Get {
	var out []*syncml.Get
	for _, c := range m.Body.Commands {
		if g, ok := c.(*syncml.Get); ok {
			out = append(out, g)
		}
	}
	return out
}

// TestLibdmclient_MD5WithoutLocName: the client's md5 credential carries
// no LocName and is verified with the device's user name; the NextNonce
// its first (refused) message's status gave for the server's credentials
// is kept with the session and used, and stored once the client has
// authenticated.
func TestLibdmclient_MD5WithoutLocName(t *testing.T) {
	// The nonce fumo-gw challenged with when the session was captured, so
	// that the client's recorded md5 credential verifies.
	challenged := b64(t, "1EMsI+5/+wotwKgW5syTQg==")
	g := newGateway(t, dm.Config{Nonce: func() ([]byte, error) { return challenged, nil }})
	provisionLibdmclient(t, g, fleet.DMAuthMD5, "")
	g.enqueue("dmc", get("./DevInfo/Mod"), "")
	before := g.dump()

	_, _, r1 := post(t, g.url(), syncml.ContentTypeXML, libdmclientMessage(t, "md5-no-locname", "001-c2s.xml"), nil)
	st := hdrStatus(t, r1)
	if st.Code != 401 || st.Chal == nil || st.Chal.Meta.Type != syncml.AuthMD5 || !bytes.Equal(st.Chal.Meta.NextNonce, challenged) {
		t.Fatalf("basic credentials of an md5 device: %+v, want 401 with the md5 challenge", st)
	}
	if cred := r1.Header.Cred; cred == nil || cred.Data != "Lx7CSZp0iHRedCEbryGJuw==" {
		t.Errorf("server credentials %+v, want md5 of funambol/srvpwd on the empty nonce", cred)
	}
	if g.dump() != before {
		t.Errorf("a refused message changed the store")
	}

	// Its md5 credential (no LocName) on the challenged nonce, and 212 for
	// the server with its next nonce.
	_, _, r2 := post(t, g.url(), syncml.ContentTypeXML, libdmclientMessage(t, "md5-no-locname", "003-c2s.xml"), nil)
	if st := hdrStatus(t, r2); st.Code != 212 {
		t.Fatalf("md5 without LocName: status %d, want 212", st.Code)
	}
	for _, ref := range []string{"2", "3"} {
		if st := statusOf(r2, ref); st == nil || st.Code != 200 {
			t.Errorf("command %s: %+v, want 200", ref, st)
		}
	}
	if r2.Header.Cred != nil {
		t.Errorf("server credentials sent again after the client's 212: %+v", r2.Header.Cred)
	}
	if len(gets(r2)) != 1 {
		t.Errorf("the queued Get was not sent: %d gets", len(gets(r2)))
	}
	dev := g.device("dmc")
	if want := b64(t, "a0dDRkNqQ2NSdVE9"); !bytes.Equal(dev.DM.ServerNonce, want) {
		t.Errorf("server nonce %q, want the client's %q", dev.DM.ServerNonce, want)
	}
	if dev.DM.DevInfo["Mod"] != "test model" {
		t.Errorf("DevInfo %v", dev.DM.DevInfo)
	}
}

// TestLibdmclient_ServerCredentialType: the device is provisioned with
// basic both ways; the client checks the server's credentials as md5,
// refuses them (401 with an md5 challenge) and runs nothing. The server
// takes md5 from then on and sends the refused Get again with md5
// credentials on the client's nonce; the 401 is no result.
func TestLibdmclient_ServerCredentialType(t *testing.T) {
	g := newGateway(t, dm.Config{})
	provisionLibdmclient(t, g, fleet.DMAuthBasic, "")
	id := g.enqueue("dmc", get("./DevInfo/Mod"), "")

	_, _, r1 := post(t, g.url(), syncml.ContentTypeXML, libdmclientMessage(t, "basic-to-server-md5-from-server", "001-c2s.xml"), nil)
	if st := hdrStatus(t, r1); st.Code != 212 {
		t.Fatalf("package 1: status %d", st.Code)
	}
	if cred := r1.Header.Cred; cred == nil || cred.Meta.Type != syncml.AuthBasic {
		t.Fatalf("server credentials %+v, want basic (as provisioned)", cred)
	}
	if gs := gets(r1); len(gs) != 1 || gs[0].CmdID != "4" {
		t.Fatalf("the Get goes out as command 4, as the capture has it: %+v", gs)
	}

	_, _, r2 := post(t, r1.Header.RespURI, syncml.ContentTypeXML, libdmclientMessage(t, "basic-to-server-md5-from-server", "003-c2s.xml"), nil)
	if st := hdrStatus(t, r2); st.Code != 200 && st.Code != 212 {
		t.Fatalf("client status %d on its SyncHdr", st.Code)
	}
	nonce := b64(t, "TWNzTUtqQjhGRTA9")
	cred := r2.Header.Cred
	if cred == nil || cred.Meta.Type != syncml.AuthMD5 || cred.Data != syncml.MD5Credential("funambol", "srvpwd", nonce) {
		t.Errorf("server credentials %+v, want md5 on the client's nonce", cred)
	}
	if len(gets(r2)) != 1 || r2.Body.Final != true {
		t.Errorf("the refused Get is not sent again: %d gets", len(gets(r2)))
	}
	if r := g.result(id); r.State != fleet.DMCommandSent || r.Outcome != nil {
		t.Errorf("the refused Get: %+v, want sent again with no outcome", r)
	}
	dev := g.device("dmc")
	if dev.DM.ServerAuth != fleet.DMAuthMD5 || !bytes.Equal(dev.DM.ServerNonce, nonce) {
		t.Errorf("device server auth %q nonce %q, want md5 and the client's nonce", dev.DM.ServerAuth, dev.DM.ServerNonce)
	}
}

// TestLibdmclient_SessionIDReused: the client sends SessionID 1 in every
// session; a package 1 under the id of an ended session starts a new one.
func TestLibdmclient_SessionIDReused(t *testing.T) {
	g := newGateway(t, dm.Config{})
	provisionLibdmclient(t, g, fleet.DMAuthBasic, "")
	pkg1 := libdmclientMessage(t, "second-session-same-sessionid", "001-c2s.xml")
	_, _, r1 := post(t, g.url(), syncml.ContentTypeXML, pkg1, nil)
	if st := hdrStatus(t, r1); st.Code != 212 || !r1.Body.Final || len(r1.Body.Commands) != 3 {
		t.Fatalf("first session: %+v", r1.Body)
	}
	id := g.enqueue("dmc", get("./DevInfo/Mod"), "")
	_, _, r2 := post(t, g.url(), syncml.ContentTypeXML, pkg1, nil)
	if st := hdrStatus(t, r2); st.Code != 212 {
		t.Fatalf("second session with SessionID 1: status %d, want 212", st.Code)
	}
	if len(gets(r2)) != 1 || r2.Header.RespURI == r1.Header.RespURI {
		t.Errorf("second session: %d gets, RespURI %s (first %s)", len(gets(r2)), r2.Header.RespURI, r1.Header.RespURI)
	}
	if r := g.result(id); r.State != fleet.DMCommandSent {
		t.Errorf("command %s in the second session", r.State)
	}
}
