package dm

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

const (
	devID     = "IMEI:493005100592800"
	serverURI = "http://127.0.0.1:8443/dm"
)

var md5Client = ClientAuth{Scheme: AuthMD5, Username: "Bruce2", Password: "OhBehave", Nonce: []byte("Nonce")}

// clientMsg is a device message with the given MsgID, commands and Final.
func clientMsg(msgID string, final bool, cmds ...syncml.Command) *syncml.Message {
	return &syncml.Message{
		Header: syncml.Header{VerDTD: "1.2", VerProto: "DM/1.2", SessionID: "3F2", MsgID: msgID,
			Target: syncml.Location{LocURI: serverURI}, Source: syncml.Location{LocURI: devID, LocName: "Bruce2"}},
		Body: syncml.Body{Commands: cmds, Final: final},
	}
}

// pkg1 is the vector's package 1: md5 credential, Alert 1201, DevInfo.
func pkg1(cred string) *syncml.Message {
	m := clientMsg("1", true,
		&syncml.Alert{CmdID: "1", Code: 1201},
		&syncml.Replace{CmdID: "2", Items: []syncml.Item{
			{Source: &syncml.Location{LocURI: "./DevInfo/DevId"}, Data: []byte(devID)},
			{Source: &syncml.Location{LocURI: "./DevInfo/Man"}, Data: []byte("Acme")},
		}})
	if cred != "" {
		m.Header.Cred = &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64"}, Data: cred}
	}
	return m
}

func step(t *testing.T, in StepInput) StepOutput {
	t.Helper()
	if in.Nonce == nil {
		in.Nonce = fixedNonce
	}
	out, err := Step(in)
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	// Every reply must encode in both encodings.
	for _, enc := range []syncml.Encoding{syncml.EncodingXML, syncml.EncodingWBXML} {
		if _, err := syncml.Encode(out.Reply, enc); err != nil {
			t.Fatalf("reply does not encode as %v: %v", enc, err)
		}
	}
	return out
}

// shape lists the reply's commands as "Status(SyncHdr)=212 Get ..." for
// compact assertions.
func shape(m *syncml.Message) string {
	var parts []string
	for _, c := range m.Body.Commands {
		switch c := c.(type) {
		case *syncml.Status:
			parts = append(parts, "Status("+c.Cmd+")="+itoa(c.Code))
		case *syncml.Alert:
			parts = append(parts, "Alert="+itoa(c.Code))
		default:
			parts = append(parts, c.CommandName())
		}
	}
	if m.Body.Final {
		parts = append(parts, "Final")
	}
	return strings.Join(parts, " ")
}

func itoa(n int) string { return strconv.Itoa(n) }

func getCmd(uri string) syncml.Command {
	return &syncml.Get{Items: []syncml.Item{{Target: &syncml.Location{LocURI: uri}}}}
}

// TestStep_FullSession: package 1 (md5) -> package 2 with queued commands
// -> package 3 with statuses and Results -> the session ends.
func TestStep_FullSession(t *testing.T) {
	queue := []QueuedCommand{
		{ID: "q1", Command: getCmd("./DevDetail/FwV")},
		{ID: "q2", Command: &syncml.Replace{Items: []syncml.Item{{Target: &syncml.Location{LocURI: "./FwUpdate/fw1/PkgName"}, Data: []byte("fw")}}}},
	}
	srv := ServerAuth{Scheme: AuthMD5, ServerID: "funambol", Password: "srvpwd"}
	out := step(t, StepInput{Msg: pkg1("Zz6EivR3yeaaENcRN6lpAQ=="), Client: md5Client, Server: srv, Queue: queue, RespURI: serverURI + "?s=1"})
	if got := shape(out.Reply); got != "Status(SyncHdr)=212 Status(Alert)=200 Status(Replace)=200 Get Replace Final" {
		t.Fatalf("package 2: %s", got)
	}
	h := out.Reply.Header
	if h.Target.LocURI != devID || h.Source.LocURI != serverURI || h.MsgID != "1" || h.SessionID != "3F2" || h.RespURI != serverURI+"?s=1" {
		t.Errorf("header %+v", h)
	}
	if h.Cred == nil || h.Cred.Data != "Lx7CSZp0iHRedCEbryGJuw==" {
		t.Errorf("server credentials missing: %+v", h.Cred)
	}
	hs := out.Reply.Body.Commands[0].(*syncml.Status)
	if hs.MsgRef != "1" || hs.CmdRef != "0" || hs.Chal == nil || string(hs.Chal.Meta.NextNonce) != string(freshNonce) || string(out.Nonce) != string(freshNonce) {
		t.Errorf("SyncHdr status %+v (nonce to store %x)", hs, out.Nonce)
	}
	if out.DevInfo["./DevInfo/Man"] != "Acme" || out.DevInfo["./DevInfo/DevId"] != devID {
		t.Errorf("DevInfo %v", out.DevInfo)
	}
	if strings.Join(out.Sent, ",") != "q1,q2" || len(out.Session.Inflight) != 2 || !out.Session.Authenticated {
		t.Errorf("sent %v session %+v", out.Sent, out.Session)
	}
	get := out.Reply.Body.Commands[3].(*syncml.Get)
	rep := out.Reply.Body.Commands[4].(*syncml.Replace)

	// Package 3: statuses for the header and both commands, Results for the Get.
	pkg3 := clientMsg("2", true,
		&syncml.Status{CmdID: "1", MsgRef: "1", CmdRef: "0", Cmd: "SyncHdr", Code: 212},
		&syncml.Status{CmdID: "2", MsgRef: "1", CmdRef: get.CmdID, Cmd: "Get", Code: 200},
		&syncml.Results{CmdID: "3", MsgRef: "1", CmdRef: get.CmdID, Items: []syncml.Item{{Source: &syncml.Location{LocURI: "./DevDetail/FwV"}, Data: []byte("1.0.3")}}},
		&syncml.Status{CmdID: "4", MsgRef: "1", CmdRef: rep.CmdID, Cmd: "Replace", Code: 200},
	)
	out2 := step(t, StepInput{Msg: pkg3, Session: out.Session, Client: md5Client, Server: srv})
	if got := shape(out2.Reply); got != "Status(SyncHdr)=200 Final" {
		t.Fatalf("package 4: %s", got)
	}
	if out2.Reply.Header.Cred != nil {
		t.Error("server credentials sent after the device accepted them")
	}
	if !out2.Session.Ended || len(out2.Session.Inflight) != 0 || len(out2.Done) != 2 {
		t.Fatalf("session %+v done %+v", out2.Session, out2.Done)
	}
	byID := map[string]Outcome{}
	for _, o := range out2.Done {
		byID[o.EntryID] = o
	}
	if o := byID["q1"]; o.Code() != 200 || len(o.Results) != 1 || string(o.Results[0].Data) != "1.0.3" {
		t.Errorf("q1 outcome %+v", o)
	}
	if o := byID["q2"]; o.Code() != 200 {
		t.Errorf("q2 outcome %+v", o)
	}
	if _, err := Step(StepInput{Msg: clientMsg("3", true), Session: out2.Session, Client: md5Client, Nonce: fixedNonce}); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("message after the end: %v", err)
	}
}

func TestStep_AuthFailures(t *testing.T) {
	out := step(t, StepInput{Msg: pkg1(""), Client: md5Client})
	if got := shape(out.Reply); got != "Status(SyncHdr)=407 Status(Alert)=407 Status(Replace)=407 Final" {
		t.Fatalf("missing credentials: %s", got)
	}
	if out.DevInfo != nil || out.Session.Ended || out.Nonce == nil {
		t.Errorf("%+v", out)
	}
	bad := syncml.MD5Credential("Bruce2", "wrong", []byte("Nonce"))
	m := pkg1(bad)
	m.Header.MsgID = "2"
	out = step(t, StepInput{Msg: m, Session: out.Session, Client: md5Client})
	if got := shape(out.Reply); !strings.HasPrefix(got, "Status(SyncHdr)=401") || out.Session.Failures != 1 || out.Session.Ended {
		t.Fatalf("first failure: %s %+v", got, out.Session)
	}
	if out.Reply.Body.Commands[0].(*syncml.Status).Chal == nil {
		t.Error("no second challenge")
	}
	m = pkg1(bad)
	m.Header.MsgID = "3"
	out = step(t, StepInput{Msg: m, Session: out.Session, Client: md5Client})
	if hs := out.Reply.Body.Commands[0].(*syncml.Status); hs.Code != 401 || hs.Chal != nil || !out.Session.Ended {
		t.Fatalf("second failure must end the session: %+v %+v", hs, out.Session)
	}
}

func TestStep_MsgID(t *testing.T) {
	out := step(t, StepInput{Msg: pkg1("Zz6EivR3yeaaENcRN6lpAQ=="), Client: md5Client, Queue: []QueuedCommand{{ID: "q", Command: getCmd("./x")}}})
	for _, id := range []string{"1", "3", "x", "0"} {
		_, err := Step(StepInput{Msg: clientMsg(id, true), Session: out.Session, Client: md5Client, Nonce: fixedNonce})
		if !errors.Is(err, ErrMsgID) {
			t.Errorf("MsgID %s after 1: %v", id, err)
		}
	}
}

func TestStep_ClientPackageContinues(t *testing.T) {
	m := pkg1("Zz6EivR3yeaaENcRN6lpAQ==")
	m.Body.Final = false
	out := step(t, StepInput{Msg: m, Client: md5Client, Queue: []QueuedCommand{{ID: "q", Command: getCmd("./x")}}})
	if got := shape(out.Reply); got != "Status(SyncHdr)=212 Status(Alert)=200 Status(Replace)=200 Alert=1222" {
		t.Fatalf("%s", got)
	}
	if len(out.Sent) != 0 || out.Session.Ended {
		t.Errorf("commands sent into an unfinished client package: %+v", out)
	}
}

// TestStep_SplitUnderMaxMsgSize: a package larger than the device's
// MaxMsgSize goes over several messages; the device asks for each with 1222.
func TestStep_SplitUnderMaxMsgSize(t *testing.T) {
	var queue []QueuedCommand
	for i := 0; i < 6; i++ {
		queue = append(queue, QueuedCommand{ID: "q" + string(rune('0'+i)), Command: &syncml.Replace{Items: []syncml.Item{{
			Target: &syncml.Location{LocURI: "./Vendor/Blob"}, Data: []byte(strings.Repeat("x", 500))}}}})
	}
	m := pkg1("Zz6EivR3yeaaENcRN6lpAQ==")
	m.Header.Meta = &syncml.Meta{MaxMsgSize: 2000}
	s := Session{Encoding: syncml.EncodingXML}
	out := step(t, StepInput{Msg: m, Session: s, Client: md5Client, Queue: queue})
	sent := len(out.Sent)
	if sent == 0 || sent == len(queue) || out.Reply.Body.Final {
		t.Fatalf("first message sent %d of %d, final %v", sent, len(queue), out.Reply.Body.Final)
	}
	b, _ := syncml.EncodeXML(out.Reply)
	if len(b) > 2000 {
		t.Errorf("message of %d bytes over MaxMsgSize 2000", len(b))
	}
	total, msgID, sess := sent, 2, out.Session
	for total < len(queue) {
		var cmds []syncml.Command
		cmds = append(cmds, &syncml.Status{CmdID: "1", MsgRef: out.Reply.Header.MsgID, CmdRef: "0", Cmd: "SyncHdr", Code: 200})
		for _, c := range out.Reply.Body.Commands {
			if r, ok := c.(*syncml.Replace); ok {
				cmds = append(cmds, &syncml.Status{CmdID: "2", MsgRef: out.Reply.Header.MsgID, CmdRef: r.CmdID, Cmd: "Replace", Code: 200})
			}
		}
		cmds = append(cmds, &syncml.Alert{CmdID: "9", Code: AlertNextMessage})
		out = step(t, StepInput{Msg: clientMsg(itoa(msgID), true, cmds...), Session: sess, Client: md5Client, Queue: queue[total:]})
		if len(out.Done) == 0 || len(out.Sent) == 0 {
			t.Fatalf("message %d: done %v sent %v", msgID, out.Done, out.Sent)
		}
		total += len(out.Sent)
		msgID++
		sess = out.Session
	}
	if !out.Reply.Body.Final {
		t.Error("last message of the package has no Final")
	}
}

func TestStep_ClientCommands(t *testing.T) {
	var seen []*syncml.Alert
	m := clientMsg("1", true,
		&syncml.Alert{CmdID: "1", Code: 1201},
		&syncml.Alert{CmdID: "2", Code: 1226, Correlator: "job-1", Items: []syncml.Item{{Data: []byte("200")}}},
		&syncml.Alert{CmdID: "3", Code: 1226, Items: []syncml.Item{{Meta: &syncml.Meta{Type: "x.unknown"}}}},
		&syncml.Exec{CmdID: "4", Item: syncml.Item{Target: &syncml.Location{LocURI: "./x"}}},
		&syncml.Replace{CmdID: "5", Items: []syncml.Item{{Target: &syncml.Location{LocURI: "./FwUpdate/x"}, Data: []byte("1")}}},
		&syncml.Unknown{Tag: "Sync", CmdID: "6"},
	)
	m.Header.Cred = &syncml.Cred{Meta: &syncml.Meta{Type: syncml.AuthMD5}, Data: "Zz6EivR3yeaaENcRN6lpAQ=="}
	out := step(t, StepInput{Msg: m, Client: md5Client, Alert: func(a *syncml.Alert) int {
		seen = append(seen, a)
		if a.Correlator == "job-1" {
			return 202
		}
		return 415
	}})
	want := "Status(SyncHdr)=212 Status(Alert)=200 Status(Alert)=202 Status(Alert)=415 Status(Exec)=405 Status(Replace)=405 Status(Sync)=406 Final"
	if got := shape(out.Reply); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if len(seen) != 2 || !out.Session.Ended {
		t.Errorf("alerts %d, session %+v", len(seen), out.Session)
	}
}

func TestStep_SequenceOutcome(t *testing.T) {
	seq := &syncml.Sequence{Commands: []syncml.Command{getCmd("./a"), &syncml.Delete{Items: []syncml.Item{{Target: &syncml.Location{LocURI: "./b"}}}}}}
	out := step(t, StepInput{Msg: pkg1("Zz6EivR3yeaaENcRN6lpAQ=="), Client: md5Client, Queue: []QueuedCommand{{ID: "s", Command: seq}}})
	sent := out.Reply.Body.Commands[3].(*syncml.Sequence)
	g, d := sent.Commands[0].(*syncml.Get), sent.Commands[1].(*syncml.Delete)
	if sent.CmdID != "4" || g.CmdID != "5" || d.CmdID != "6" || len(out.Session.Inflight) != 3 {
		t.Fatalf("numbering %s %s %s, inflight %d", sent.CmdID, g.CmdID, d.CmdID, len(out.Session.Inflight))
	}
	if seq.CmdID != "" {
		t.Error("the queued command was changed")
	}
	// Inner statuses first, then a lost one: the device's package ends.
	pkg3 := clientMsg("2", true,
		&syncml.Status{CmdID: "1", MsgRef: "1", CmdRef: "0", Cmd: "SyncHdr", Code: 200},
		&syncml.Status{CmdID: "2", MsgRef: "1", CmdRef: "5", Cmd: "Get", Code: 404},
		&syncml.Status{CmdID: "3", MsgRef: "1", CmdRef: "4", Cmd: "Sequence", Code: 200},
	)
	out2 := step(t, StepInput{Msg: pkg3, Session: out.Session, Client: md5Client})
	if len(out2.Done) != 0 || strings.Join(out2.Unanswered, ",") != "s" || !out2.Session.Ended {
		t.Fatalf("done %+v unanswered %v", out2.Done, out2.Unanswered)
	}
	pkg3.Body.Commands = append(pkg3.Body.Commands, &syncml.Status{CmdID: "4", MsgRef: "1", CmdRef: "6", Cmd: "Delete", Code: 200})
	out3 := step(t, StepInput{Msg: pkg3, Session: out.Session, Client: md5Client})
	if len(out3.Done) != 1 || out3.Done[0].Code() != 200 || len(out3.Done[0].Statuses) != 3 || out3.Done[0].CmdID != "4" {
		t.Fatalf("done %+v", out3.Done)
	}
}

func TestStep_HMACAndAbort(t *testing.T) {
	dev := ClientAuth{Scheme: AuthHMAC, Username: "Bruce2", Password: "OhBehave", Nonce: []byte("Nonce")}
	m := clientMsg("1", false, &syncml.Alert{CmdID: "1", Code: 1201})
	body, _ := syncml.EncodeXML(m)
	mac := syncml.HMACHeader{Username: "Bruce2", MAC: syncml.ComputeHMAC("Bruce2", "OhBehave", []byte("Nonce"), body)}.String()
	out := step(t, StepInput{Msg: m, Body: body, HMAC: mac, Client: dev})
	hs := out.Reply.Body.Commands[0].(*syncml.Status)
	if hs.Code != 200 || hs.Chal == nil || out.Nonce == nil || out.Session.Authenticated {
		t.Fatalf("HMAC: %+v nonce %x session %+v", hs, out.Nonce, out.Session)
	}
	// The same MAC with the old nonce on the next message is refused.
	m2 := clientMsg("2", true, &syncml.Alert{CmdID: "1", Code: AlertSessionAbort})
	dev.Nonce = out.Nonce
	out2 := step(t, StepInput{Msg: m2, Body: body, HMAC: mac, Session: out.Session, Client: dev})
	if got := shape(out2.Reply); !strings.HasPrefix(got, "Status(SyncHdr)=401") {
		t.Fatalf("replayed HMAC: %s", got)
	}
	body2, _ := syncml.EncodeXML(m2)
	mac2 := syncml.HMACHeader{Username: "Bruce2", MAC: syncml.ComputeHMAC("Bruce2", "OhBehave", dev.Nonce, body2)}.String()
	m2.Header.MsgID = "3"
	body2, _ = syncml.EncodeXML(m2)
	mac2 = syncml.HMACHeader{Username: "Bruce2", MAC: syncml.ComputeHMAC("Bruce2", "OhBehave", dev.Nonce, body2)}.String()
	out3 := step(t, StepInput{Msg: m2, Body: body2, HMAC: mac2, Session: out2.Session, Client: dev})
	if got := shape(out3.Reply); got != "Status(SyncHdr)=200 Status(Alert)=200 Final" || !out3.Session.Ended {
		t.Errorf("abort: %s %+v", got, out3.Session)
	}
}

func TestStep_TooLarge(t *testing.T) {
	m := pkg1("Zz6EivR3yeaaENcRN6lpAQ==")
	m.Header.Meta = &syncml.Meta{MaxMsgSize: 1200}
	big := QueuedCommand{ID: "big", Command: &syncml.Replace{Items: []syncml.Item{{Target: &syncml.Location{LocURI: "./x"}, Data: []byte(strings.Repeat("y", 5000))}}}}
	small := QueuedCommand{ID: "small", Command: getCmd("./y")}
	out := step(t, StepInput{Msg: m, Client: md5Client, Queue: []QueuedCommand{big, small}})
	if strings.Join(out.TooLarge, ",") != "big" || strings.Join(out.Sent, ",") != "small" {
		t.Errorf("too large %v sent %v", out.TooLarge, out.Sent)
	}
}

// TestStep_ServerRefused: a device that refuses the server's credentials
// (401 with a challenge naming md5) ran nothing of that message: its
// commands go again with md5 credentials on the device's nonce, at most
// twice a session; after that they wait for the next session and the
// session ends. The 401s are no outcome.
func TestStep_ServerRefused(t *testing.T) {
	queue := []QueuedCommand{{ID: "q1", Command: getCmd("./DevDetail/FwV")}, {ID: "q2", Command: getCmd("./DevInfo/Mod")}}
	srv := ServerAuth{Scheme: AuthBasic, ServerID: "funambol", Password: "srvpwd"}
	out := step(t, StepInput{Msg: pkg1("Zz6EivR3yeaaENcRN6lpAQ=="), Client: md5Client, Server: srv, Queue: queue})
	if got := shape(out.Reply); got != "Status(SyncHdr)=212 Status(Alert)=200 Status(Replace)=200 Get Get Final" {
		t.Fatalf("package 2: %s", got)
	}
	session := out.Session
	lastMsg := out.Reply.Header.MsgID
	for round := 1; round <= 3; round++ {
		nonce := []byte("device nonce " + itoa(round))
		refusal := clientMsg(itoa(round+1), true,
			&syncml.Status{CmdID: "1", MsgRef: lastMsg, CmdRef: "0", Cmd: "SyncHdr", Code: 401,
				Chal: &syncml.Chal{Meta: &syncml.Meta{Type: syncml.AuthMD5, Format: "b64", NextNonce: nonce}}},
			&syncml.Status{CmdID: "2", MsgRef: lastMsg, CmdRef: "4", Cmd: "Get", Code: 401},
			&syncml.Status{CmdID: "3", MsgRef: lastMsg, CmdRef: "5", Cmd: "Get", Code: 401})
		// The queue as the server loads it: both commands in flight here.
		inflight := []QueuedCommand{{ID: "q1", Command: getCmd("./DevDetail/FwV"), SentHere: true}, {ID: "q2", Command: getCmd("./DevInfo/Mod"), SentHere: true}}
		o := step(t, StepInput{Msg: refusal, Session: session, Client: md5Client, Server: srv, Queue: inflight})
		if len(o.Done) != 0 {
			t.Fatalf("round %d: refused commands recorded as done: %+v", round, o.Done)
		}
		if o.ServerScheme != AuthMD5 || string(o.ServerNonce) != string(nonce) {
			t.Errorf("round %d: server scheme %v nonce %q to store", round, o.ServerScheme, o.ServerNonce)
		}
		if round <= 2 {
			if got := shape(o.Reply); got != "Status(SyncHdr)=200 Get Get Final" {
				t.Fatalf("round %d: %s", round, got)
			}
			if cred := o.Reply.Header.Cred; cred == nil || cred.Data != syncml.MD5Credential("funambol", "srvpwd", nonce) {
				t.Errorf("round %d: server credentials %+v, want md5 on the device's nonce", round, cred)
			}
			if strings.Join(o.Resent, ",") != "q1,q2" || len(o.Sent) != 0 {
				t.Errorf("round %d: resent %v sent %v", round, o.Resent, o.Sent)
			}
			// Renumbered: the next refusal names the new CmdIDs.
			for i, c := range o.Reply.Body.Commands[1:] {
				if c.CommandID() != itoa(2+i) {
					t.Fatalf("round %d: CmdIDs %s", round, shape(o.Reply))
				}
			}
			// The refusal is of a whole message (its MsgRef); the
			// statuses' CmdRefs are not needed to find the commands.
			session, lastMsg = o.Session, o.Reply.Header.MsgID
			continue
		}
		if got := shape(o.Reply); got != "Status(SyncHdr)=200 Final" || !o.Session.Ended {
			t.Fatalf("third refusal: %s, ended %v", got, o.Session.Ended)
		}
		if strings.Join(o.Unanswered, ",") != "q1,q2" {
			t.Errorf("third refusal: unanswered %v, want both back to the queue", o.Unanswered)
		}
	}
}
