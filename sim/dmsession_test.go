package sim_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/sim"
)

func TestDMDevice_SessionID(t *testing.T) {
	cases := []struct {
		name   string
		fixed  string
		opts   []string // SessionOptions.SessionID of each session
		want   []string // "" where any id will do
		counts bool     // the ids count up
	}{
		{"fixed", "1", []string{"", ""}, []string{"1", "1"}, false},
		{"an option wins for one session", "1", []string{"", "A1", ""}, []string{"1", "A1", "1"}, false},
		{"default counts up", "", []string{"", ""}, []string{"", ""}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScriptServer(t, func(r *request) *syncml.Message { return answer(r.msg, 212) })
			d := s.device()
			d.SessionID = c.fixed
			var got []string
			for _, id := range c.opts {
				rep, err := d.Session(testContext(t), sim.SessionOptions{SessionID: id})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, rep.SessionID)
			}
			for i, r := range s.requests() {
				if r.msg.Header.SessionID != got[i] {
					t.Errorf("session %d sent SessionID %q, reported %q", i, r.msg.Header.SessionID, got[i])
				}
				if c.want[i] != "" && got[i] != c.want[i] {
					t.Errorf("session %d: SessionID %q, want %q", i, got[i], c.want[i])
				}
			}
			if c.counts {
				a, _ := strconv.ParseUint(got[0], 16, 16)
				b, _ := strconv.ParseUint(got[1], 16, 16)
				if uint16(a+1) != uint16(b) && !(a == 0xFFFF && b == 1) {
					t.Errorf("session ids %v do not count up", got)
				}
			}
		})
	}
}

func TestDMDevice_LoseReply(t *testing.T) {
	for _, lose := range []int{1, 2} {
		t.Run("message "+strconv.Itoa(lose), func(t *testing.T) {
			// Each reply names itself: a Get of ./DevInfo/<n> tells which
			// reply the device went on with; RespURIs too.
			s := newScriptServer(t, func(r *request) *syncml.Message {
				if r.n == 4 {
					return answer(r.msg, 200)
				}
				m := answer(r.msg, 212, get("./DevInfo/"+strconv.Itoa(r.n)))
				m.Header.RespURI = "http://" + r.host + "/dm/s/" + strconv.Itoa(r.n)
				return m
			})
			d := s.device()
			for i := 1; i <= 3; i++ {
				d.SetNode("./DevInfo/"+strconv.Itoa(i), []byte("reply "+strconv.Itoa(i)))
			}
			d.Auth, d.Nonce, d.LoseReply = "hmac", []byte("n"), lose
			var rec recorder
			d.Record = rec.record
			d.HTTP = s.srv.Client()
			rep, err := d.Session(testContext(t), sim.SessionOptions{})
			if err != nil {
				t.Fatal(err)
			}
			reqs := s.requests()
			if len(reqs) != 4 || rep.Messages != 4 {
				t.Fatalf("%d requests, %d messages reported; want 4", len(reqs), rep.Messages)
			}
			first, again := reqs[lose-1], reqs[lose]
			if !bytes.Equal(first.body, again.body) || first.url != again.url ||
				first.header.Get(syncml.HMACHeaderName) != again.header.Get(syncml.HMACHeaderName) || first.header.Get(syncml.HMACHeaderName) == "" {
				t.Errorf("message %d was not sent again as it was: %s %q, then %s %q", lose, first.url, first.header, again.url, again.header)
			}
			// The device went on with the second reply, the one to request
			// lose+1, and its RespURI.
			last := reqs[3]
			if last.url != "/dm/s/3" {
				t.Errorf("message after the resend went to %s, want /dm/s/3", last.url)
			}
			if res := commandsOf[*syncml.Results](last.msg); len(res) != 1 || res[0].Items[0].Source.LocURI != "./DevInfo/3" {
				t.Errorf("results after the resend: %+v, want those of the second reply", res)
			}
			msgs := rec.all()
			if len(msgs) != 8 {
				t.Fatalf("Record saw %d messages, want 8", len(msgs))
			}
			for i, m := range msgs {
				if m.n != i+1 || m.fromClient != (i%2 == 0) {
					t.Errorf("Record call %d: n %d, from client %v", i, m.n, m.fromClient)
				}
			}
			if !bytes.Equal(msgs[2*lose-2].body, msgs[2*lose].body) || !bytes.Equal(msgs[2*lose].body, again.body) {
				t.Error("Record did not see the resent message as sent")
			}
		})
	}
}

func TestDMDevice_DropOnExec(t *testing.T) {
	s := newScriptServer(t, func(r *request) *syncml.Message {
		if len(commandsOf[*syncml.Alert](r.msg)) > 0 { // package 1
			return answer(r.msg, 212, replace("./DevDetail/FwV", "9.9"), &syncml.Sequence{Commands: []syncml.Command{exec("./A/Go")}})
		}
		return answer(r.msg, 200)
	})
	d := s.device()
	d.SetNode("./A/Go", nil)
	var execs atomic.Int32
	d.Exec = func(context.Context, string, string, []byte) int { execs.Add(1); return 200 }
	d.DropOnExec = 1
	_, err := d.Session(testContext(t), sim.SessionOptions{})
	if !errors.Is(err, sim.ErrSessionDropped) {
		t.Fatalf("err %v, want ErrSessionDropped", err)
	}
	if v, _ := d.Node("./DevDetail/FwV"); len(s.requests()) != 1 || execs.Load() != 0 || string(v) != "1.0" || d.DropOnExec != 0 {
		t.Fatalf("after the drop: %d requests, %d execs, FwV %q, DropOnExec %d", len(s.requests()), execs.Load(), v, d.DropOnExec)
	}
	rep, err := d.Session(testContext(t), sim.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if execs.Load() != 1 || rep.SessionID == s.requests()[0].msg.Header.SessionID {
		t.Errorf("next session: %d execs, SessionID %s", execs.Load(), rep.SessionID)
	}
}

func TestDMDevice_RequestUpdate(t *testing.T) {
	for _, user := range []bool{false, true} {
		s := newScriptServer(t, func(r *request) *syncml.Message { return answer(r.msg, 212) })
		d := s.device()
		if _, err := d.RequestUpdate(testContext(t), user); !errors.Is(err, sim.ErrNoFUMO) {
			t.Fatalf("without FUMO: %v, want ErrNoFUMO", err)
		}
		d.EnableFUMO(&sim.FUMO{Root: "./Vendor/FOTA/fw"})
		rep, err := d.RequestUpdate(testContext(t), user)
		if err != nil {
			t.Fatal(err)
		}
		alerts := commandsOf[*syncml.Alert](s.requests()[0].msg)
		want := "org.openmobilealliance.dm.firmwareupdate.devicerequest"
		if user {
			want = "org.openmobilealliance.dm.firmwareupdate.userrequest"
		}
		if len(alerts) != 2 || alerts[0].Code != 1201 || alerts[1].Code != 1226 || len(alerts[1].Items) != 1 {
			t.Fatalf("package 1 alerts: %+v", alerts)
		}
		it := alerts[1].Items[0]
		if it.Source.LocURI != "./Vendor/FOTA/fw" || it.Meta.Type != want || it.Meta.Format != "chr" || it.Data != nil {
			t.Errorf("request item: %+v %+v", it.Source, it.Meta)
		}
		if rep.Statuses["Alert "+alerts[1].CmdID] != 200 || alerts[1].CmdID != "3" {
			t.Errorf("statuses %v, want the server's 200 for Alert 3", rep.Statuses)
		}
	}
}
