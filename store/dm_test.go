package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/fumo-gw/fumo-gw/fleet"
)

func dmCmd(id, dev string) fleet.DMCommand {
	return fleet.DMCommand{ID: id, DeviceID: dev, Command: []byte("cmd-" + id)}
}

func step(dev, session, token string) fleet.DMStep {
	return fleet.DMStep{Session: fleet.DMSession{DeviceID: dev, SessionID: session, Token: token, State: []byte(`{}`)}}
}

func TestDMQueue_Lifecycle(t *testing.T) {
	s, path := openTest(t)
	for _, d := range []fleet.Device{dmDev("d1", "IMEI:1"), lwDev("l1", "ep1")} {
		if _, err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	img := []byte("firmware")
	if _, err := s.PutPackage(ctx, pkgOf("fw", img), bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	bad := []struct {
		name string
		cmd  fleet.DMCommand
		want error
	}{
		{"unknown device", dmCmd("c", "nobody"), ErrNotFound},
		{"LwM2M device", dmCmd("c", "l1"), ErrInvalid},
		{"no command", fleet.DMCommand{ID: "c", DeviceID: "d1"}, ErrInvalid},
		{"unknown blob", fleet.DMCommand{ID: "c", DeviceID: "d1", Command: []byte("x"), Blob: "nope"}, ErrNotFound},
	}
	for _, b := range bad {
		if _, err := s.EnqueueDMCommand(ctx, b.cmd); !errors.Is(err, b.want) {
			t.Errorf("%s: %v, want %v", b.name, err, b.want)
		}
	}
	if dump(t, s) != before {
		t.Fatal("refused commands changed the store")
	}

	c1, err := s.EnqueueDMCommand(ctx, dmCmd("c1", "d1"))
	if err != nil {
		t.Fatal(err)
	}
	blob := dmCmd("c2", "d1")
	blob.Blob = "fw"
	c2, err := s.EnqueueDMCommand(ctx, blob)
	if err != nil || c2.BlobSize != int64(len(img)) || c2.Seq <= c1.Seq {
		t.Fatalf("blob command %+v, %v", c2, err)
	}
	if _, err := s.EnqueueDMCommand(ctx, dmCmd("c1", "d1")); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate id: %v", err)
	}
	if err := s.DeletePackage(ctx, "fw"); !errors.Is(err, ErrInUse) {
		t.Errorf("deleting a queued package: %v", err)
	}

	// Session 1 sends both; a step cannot send them twice in it.
	st := step("d1", "S1", "tok1")
	st.Sent = []string{"c1", "c2"}
	st.Device = func(d *fleet.Device) error { d.DM.ClientNonce = []byte("n1"); return nil }
	if err := s.CommitDMStep(ctx, st); err != nil {
		t.Fatal(err)
	}
	st.Device = nil
	if err := s.CommitDMStep(ctx, st); !errors.Is(err, ErrStale) {
		t.Errorf("sent twice in one session: %v", err)
	}
	// A gateway restart keeps all of it.
	s = reopen(t, s, path)
	if ss, err := s.DMSessionByToken(ctx, "tok1"); err != nil || ss.SessionID != "S1" {
		t.Fatalf("session by token: %+v %v", ss, err)
	}
	if d, _ := s.Device(ctx, "d1"); string(d.DM.ClientNonce) != "n1" {
		t.Errorf("nonce not stored")
	}
	// c1 finished, c2 back to the queue.
	st = step("d1", "S1", "tok1")
	st.Finished = []fleet.DMCommand{{ID: "c1", State: fleet.DMCommandDone, Outcome: []byte(`{"code":200}`)}}
	st.Requeue = []string{"c2"}
	if err := s.CommitDMStep(ctx, st); err != nil {
		t.Fatal(err)
	}
	queue, _ := s.DMCommands(ctx, "d1")
	if len(queue) != 1 || queue[0].ID != "c2" || queue[0].State != fleet.DMCommandPending || queue[0].Attempts != 1 {
		t.Fatalf("queue %+v", queue)
	}
	if c, _ := s.DMCommand(ctx, "c1"); c.State != fleet.DMCommandDone || string(c.Outcome) != `{"code":200}` {
		t.Errorf("finished command %+v", c)
	}
	// A finished command cannot change again; nothing of that step is kept.
	before = dump(t, s)
	st = step("d1", "S1", "tok1")
	st.Sent = []string{"c2"}
	st.Finished = []fleet.DMCommand{{ID: "c1", State: fleet.DMCommandFailed}}
	if err := s.CommitDMStep(ctx, st); !errors.Is(err, ErrStale) {
		t.Errorf("finishing twice: %v", err)
	}
	if dump(t, s) != before {
		t.Error("a refused step changed the store")
	}
	// A new session replaces the old one (and its token).
	if err := s.CommitDMStep(ctx, step("d1", "S2", "tok2")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DMSessionByToken(ctx, "tok1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old session token still valid: %v", err)
	}
	if _, err := s.DMSession(ctx, "d1", "S1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old session kept: %v", err)
	}
	// Deleting the device removes its queue and sessions.
	if err := s.DeleteDevice(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DMSessionByToken(ctx, "tok2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("session of a deleted device: %v", err)
	}
	if q, _ := s.DMCommands(ctx, "d1"); len(q) != 0 {
		t.Errorf("queue of a deleted device: %v", q)
	}
	if _, err := s.DMCommand(ctx, "c1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("finished command of a deleted device kept: %v", err)
	}
	if all, _ := s.AllDMCommands(ctx, "d1"); len(all) != 0 {
		t.Errorf("commands of a deleted device: %v", all)
	}
	if err := s.DeletePackage(ctx, "fw"); err != nil {
		t.Errorf("package no longer queued: %v", err)
	}
}

// TestCommitDMStep_GroupIsolatesFailures: concurrent steps share commits,
// and a failing step fails alone.
func TestCommitDMStep_GroupIsolatesFailures(t *testing.T) {
	s, _ := openTest(t)
	const n = 40
	for i := range n {
		if _, err := s.CreateDevice(ctx, dmDev(fmt.Sprint("d", i), fmt.Sprint("IMEI:", i))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := step(fmt.Sprint("d", i), "S", fmt.Sprint("tok", i))
			if i%5 == 0 {
				st.Sent = []string{"missing"} // fails: no such command
			}
			errs[i] = s.CommitDMStep(ctx, st)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		_, serr := s.DMSession(ctx, fmt.Sprint("d", i), "S")
		if i%5 == 0 {
			if !errors.Is(err, ErrNotFound) || !errors.Is(serr, ErrNotFound) {
				t.Errorf("step %d: %v, session %v; want it refused and not stored", i, err, serr)
			}
		} else if err != nil || serr != nil {
			t.Errorf("step %d: %v, session %v", i, err, serr)
		}
	}
}

func TestWithdrawDMCommands(t *testing.T) {
	s, _ := openTest(t)
	if _, err := s.CreateDevice(ctx, dmDev("d1", "IMEI:1")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.EnqueueDMCommand(ctx, dmCmd(id, "d1")); err != nil {
			t.Fatal(err)
		}
	}
	st := step("d1", "s1", "t1")
	st.Sent = []string{"c"}
	if err := s.CommitDMStep(ctx, st); err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	if err := s.WithdrawDMCommands(ctx, "cancelled", false, "a", "c"); !errors.Is(err, ErrStale) {
		t.Fatalf("withdrawing a sent command: %v, want ErrStale", err)
	}
	if dump(t, s) != before {
		t.Fatal("a refused withdrawal changed the store")
	}
	if err := s.WithdrawDMCommands(ctx, "cancelled", false, "a", "nope"); err != nil {
		t.Fatal(err)
	}
	a, _ := s.DMCommand(ctx, "a")
	if a.State != fleet.DMCommandFailed || a.Error != "withdrawn: cancelled" {
		t.Errorf("withdrawn command %+v", a)
	}
	q, _ := s.DMCommands(ctx, "d1")
	if len(q) != 2 || q[0].ID != "b" || q[1].ID != "c" {
		t.Errorf("queue after withdrawal %+v", q)
	}
	if err := s.WithdrawDMCommands(ctx, "again", false, "a"); err != nil {
		t.Errorf("withdrawing a withdrawn command again: %v", err)
	}
	// Forced: the sent command leaves the queue and is not sent again.
	if err := s.WithdrawDMCommands(ctx, "superseded", true, "b", "c"); err != nil {
		t.Fatal(err)
	}
	if q, _ := s.DMCommands(ctx, "d1"); len(q) != 0 {
		t.Errorf("queue after a forced withdrawal %+v", q)
	}
	if c, _ := s.DMCommand(ctx, "c"); c.State != fleet.DMCommandFailed || c.Error != "withdrawn: superseded" {
		t.Errorf("sent command after a forced withdrawal %+v", c)
	}
	// Its answer, arriving late in the session that had it, is recorded.
	late := step("d1", "s1", "t1")
	late.Finished = []fleet.DMCommand{{ID: "c", State: fleet.DMCommandDone, Outcome: []byte(`{"code":200}`)}}
	if err := s.CommitDMStep(ctx, late); err != nil {
		t.Fatalf("late answer to a withdrawn command: %v", err)
	}
	if c, _ := s.DMCommand(ctx, "c"); c.State != fleet.DMCommandDone {
		t.Errorf("late answer not recorded: %+v", c)
	}
	if _, err := s.EnqueueDMCommand(ctx, dmCmd("e", "d1")); err != nil {
		t.Fatal(err)
	}
	st = step("d1", "s2", "t2")
	st.Sent = []string{"e"}
	if err := s.CommitDMStep(ctx, st); err != nil {
		t.Fatal(err)
	}
	done := step("d1", "s2", "t2")
	done.Finished = []fleet.DMCommand{{ID: "e", State: fleet.DMCommandDone}}
	if err := s.CommitDMStep(ctx, done); err != nil {
		t.Fatal(err)
	}
	if err := s.WithdrawDMCommands(ctx, "late", false, "e"); !errors.Is(err, ErrStale) {
		t.Errorf("withdrawing an answered command: %v, want ErrStale", err)
	}
	if err := s.WithdrawDMCommands(ctx, "late", true, "e"); err != nil {
		t.Error(err)
	}
	if c, _ := s.DMCommand(ctx, "e"); c.State != fleet.DMCommandDone {
		t.Errorf("a forced withdrawal changed an answered command: %+v", c)
	}
}

// TestDMSessionsEndedByNewOnes: a message of a session in which the
// device authenticated ends the device's other sessions; one of a session
// in which it has not ends only the other unauthenticated ones (a forged
// package 1 cannot end the device's live session).
func TestDMSessionsEndedByNewOnes(t *testing.T) {
	s, _ := openTest(t)
	if _, err := s.CreateDevice(ctx, dmDev("d1", "IMEI:1")); err != nil {
		t.Fatal(err)
	}
	commit := func(session string, authed bool) {
		t.Helper()
		st := step("d1", session, "tok-"+session)
		st.Session.Authenticated = authed
		if err := s.CommitDMStep(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	alive := func() (ids []string) {
		for _, id := range []string{"A", "B", "C", "D"} {
			if _, err := s.DMSession(ctx, "d1", id); err == nil {
				ids = append(ids, id)
			}
		}
		return ids
	}
	for _, tc := range []struct {
		session string
		authed  bool
		want    string
	}{
		{"A", true, "[A]"},
		{"B", false, "[A B]"}, // forged: A lives on
		{"C", false, "[A C]"}, // replaces B, not A
		{"A", true, "[A]"},    // A's next message ends the unauthenticated one
		{"B", false, "[A B]"}, // forged again
		{"D", true, "[D]"},    // a new authenticated session ends all
	} {
		commit(tc.session, tc.authed)
		if got := fmt.Sprint(alive()); got != tc.want {
			t.Fatalf("after %s (authenticated %v): sessions %s, want %s", tc.session, tc.authed, got, tc.want)
		}
	}
}
