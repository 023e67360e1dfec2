package dm

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

func blobReader(data []byte) func(string, int64, int) ([]byte, error) {
	return func(_ string, off int64, n int) ([]byte, error) { return data[off : off+int64(n)], nil }
}

func chunkStatus(msgRef, cmdRef string, code int) *syncml.Status {
	return &syncml.Status{CmdID: "9", MsgRef: msgRef, CmdRef: cmdRef, Cmd: "Replace", Code: code}
}

// firstChunk runs package 1 with a blob queued under MaxMsgSize 2000 and
// returns the output and the chunk command.
func firstChunk(t *testing.T, data []byte) (StepOutput, *syncml.Replace) {
	t.Helper()
	m := pkg1("Zz6EivR3yeaaENcRN6lpAQ==")
	m.Header.Meta = &syncml.Meta{MaxMsgSize: 2000}
	q := []QueuedCommand{{ID: "img", Blob: "fw", BlobSize: int64(len(data)),
		Command: &syncml.Replace{Items: []syncml.Item{{Target: &syncml.Location{LocURI: "./FwUpdate/x/Update/PkgData"}}}}}}
	out := step(t, StepInput{Msg: m, Client: md5Client, Queue: q, ReadBlob: blobReader(data)})
	if got := shape(out.Reply); got != "Status(SyncHdr)=212 Status(Alert)=200 Status(Replace)=200 Replace" {
		t.Fatalf("first chunk message: %s", got)
	}
	c := out.Reply.Body.Commands[3].(*syncml.Replace)
	it := c.Items[0]
	if !it.MoreData || it.Meta.Size != int64(base64.StdEncoding.EncodedLen(len(data))) || it.Meta.Format != "b64" {
		t.Fatalf("first chunk item: more %v meta %+v", it.MoreData, it.Meta)
	}
	if enc, _ := syncml.EncodeXML(out.Reply); len(enc) > 2000 {
		t.Fatalf("message of %d bytes over MaxMsgSize", len(enc))
	}
	if len(out.Sent) != 1 || out.Session.LargeOut == nil {
		t.Fatalf("sent %v, large %+v", out.Sent, out.Session.LargeOut)
	}
	return out, c
}

// TestStep_LargeObjectChunks: each 213 brings the next chunk, alone in its
// message; the last chunk's status is the outcome; the chunks rebuild the
// object.
func TestStep_LargeObjectChunks(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 400) // 6400 bytes
	out, c := firstChunk(t, data)
	var got []byte
	for msg := 2; ; msg++ {
		raw, err := base64.StdEncoding.DecodeString(string(c.Items[0].Data))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, raw...)
		code := StatusChunkAccepted
		if !c.Items[0].MoreData {
			code = 200
		}
		out = step(t, StepInput{Msg: clientMsg(itoa(msg), true, chunkStatus(out.Reply.Header.MsgID, c.CmdID, code)),
			Session: out.Session, Client: md5Client, ReadBlob: blobReader(data)})
		if code == 200 {
			if len(out.Done) != 1 || out.Done[0].Code() != 200 || !out.Reply.Body.Final || !out.Session.Ended {
				t.Fatalf("after the last chunk: done %+v, %s", out.Done, shape(out.Reply))
			}
			break
		}
		if len(out.Done) != 0 || len(out.Sent) != 0 {
			t.Fatalf("a 213 finished the entry: %+v", out)
		}
		if shape(out.Reply) != "Status(SyncHdr)=200 Replace" && shape(out.Reply) != "Status(SyncHdr)=200 Replace Final" {
			t.Fatalf("chunk message %d: %s", msg, shape(out.Reply))
		}
		c = out.Reply.Body.Commands[1].(*syncml.Replace)
		if c.Items[0].Meta.Size != 0 {
			t.Errorf("Size on a later chunk")
		}
	}
	if !bytes.Equal(got, data) {
		t.Errorf("chunks rebuild %d bytes, want %d", len(got), len(data))
	}
}

// TestStep_LargeObjectRefused: an error status on a chunk ends the object
// with that outcome; an unanswered chunk sends the entry back to the queue.
func TestStep_LargeObjectRefused(t *testing.T) {
	data := bytes.Repeat([]byte{0xAB}, 6000)
	out, c := firstChunk(t, data)
	refused := step(t, StepInput{Msg: clientMsg("2", true, chunkStatus("1", c.CmdID, 420)),
		Session: out.Session, Client: md5Client, ReadBlob: blobReader(data)})
	if len(refused.Done) != 1 || refused.Done[0].Code() != 420 || refused.Session.LargeOut != nil || !refused.Session.Ended {
		t.Errorf("device full: done %+v session %+v", refused.Done, refused.Session)
	}
	silent := step(t, StepInput{Msg: clientMsg("2", true), Session: out.Session, Client: md5Client, ReadBlob: blobReader(data)})
	if len(silent.Unanswered) != 1 || silent.Unanswered[0] != "img" || silent.Session.LargeOut != nil {
		t.Errorf("unanswered chunk: %+v", silent)
	}
}

// TestStep_ClientObjectInterrupted: a new command before the last chunk
// of the client's object gets Alert 1225 and nothing of the object is kept.
func TestStep_ClientObjectInterrupted(t *testing.T) {
	out := step(t, StepInput{Msg: pkg1("Zz6EivR3yeaaENcRN6lpAQ=="), Client: md5Client,
		Queue: []QueuedCommand{{ID: "log", Command: getCmd("./Vendor/Log")}}})
	get := out.Reply.Body.Commands[3].(*syncml.Get)
	chunk := &syncml.Results{CmdID: "3", MsgRef: "1", CmdRef: get.CmdID, Items: []syncml.Item{{
		Source: &syncml.Location{LocURI: "./Vendor/Log"}, Meta: &syncml.Meta{Size: 10}, Data: []byte("01234"), MoreData: true}}}
	out = step(t, StepInput{Msg: clientMsg("2", false, &syncml.Status{CmdID: "2", MsgRef: "1", CmdRef: get.CmdID, Cmd: "Get", Code: 200}, chunk),
		Session: out.Session, Client: md5Client})
	if got := shape(out.Reply); got != "Status(SyncHdr)=200 Status(Results)=213 Alert=1222" {
		t.Fatalf("chunk: %s", got)
	}
	if len(out.Done) != 0 || out.Session.LargeIn == nil {
		t.Fatalf("entry finished before its object: %+v", out.Done)
	}
	other := &syncml.Alert{CmdID: "2", Code: 1226, Items: []syncml.Item{{Meta: &syncml.Meta{Type: "x", Format: "int"}, Data: []byte("200")}}}
	out = step(t, StepInput{Msg: clientMsg("3", true, other), Session: out.Session, Client: md5Client})
	if got := shape(out.Reply); !strings.Contains(got, "Alert=1225") {
		t.Fatalf("no 1225: %s", got)
	}
	if len(out.Done) != 1 || len(out.Done[0].Results) != 0 || out.Session.LargeIn != nil {
		t.Fatalf("interrupted object kept: %+v", out.Done)
	}
	last := out.Done[0].Statuses[len(out.Done[0].Statuses)-1]
	if last.Cmd != "Results" || last.Code != AlertNoEndOfData {
		t.Errorf("outcome does not say the object never completed: %+v", out.Done[0].Statuses)
	}
}
