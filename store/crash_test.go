package store

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/fumo-gw/fumo-gw/fleet"
)

const crashChildEnv = "FUMO_STORE_CRASH_CHILD"

// crashJobs and the path each job walks, over and over: a cycle through the
// pipeline made of allowed transitions (retry back to queued).
const crashJobs = 8

var crashCycle = []fleet.JobState{fleet.JobQueued, fleet.JobWaitingDevice, fleet.JobDelivering, fleet.JobQueued}

// TestCrashChild is the child process: it advances jobs forever and prints
// "ack <job> <state> <attempts>" after each transition has returned (is
// durable). It runs only when re-executed by TestCrash_SIGKILL.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("child of TestCrash_SIGKILL only")
	}
	s, err := Open(path, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	grouped := os.Getenv("FUMO_STORE_CRASH_GROUPED") == "1"
	for n := 0; ; n++ {
		id := "j" + strconv.Itoa(n%crashJobs)
		j, err := s.Job(ctx, id)
		if err != nil {
			fmt.Println("job:", err)
			os.Exit(2)
		}
		next := crashCycle[(indexOf(j.State)+1)%(len(crashCycle)-1)]
		tr := Transition{JobID: id, From: j.State, To: next, Mutate: func(j *fleet.Job) error { j.Attempts++; return nil }}
		if grouped {
			j, err = s.TransitionJob(ctx, tr)
		} else {
			j, err = s.TransitionJob(ctx, tr)
		}
		if err != nil {
			fmt.Println("transition:", err)
			os.Exit(2)
		}
		fmt.Fprintf(out, "ack %s %s %d\n", id, j.State, j.Attempts)
		out.Flush()
	}
}

func indexOf(s fleet.JobState) int {
	for i, x := range crashCycle[:len(crashCycle)-1] {
		if x == s {
			return i
		}
	}
	return 0
}

// TestCrash_SIGKILL kills a writer at random moments, many times: after
// each kill the file checks clean, every acknowledged transition is there,
// and each job's record, history and state index agree.
func TestCrash_SIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary many times")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "crash.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("fw")
	s.CreateDevice(ctx, dmDev("d1", "IMEI:1"))
	s.PutPackage(ctx, pkgOf("p1", data), bytes.NewReader(data))
	for i := 0; i < crashJobs; i++ {
		if _, err := s.CreateJob(ctx, fleet.Job{ID: "j" + strconv.Itoa(i), DeviceID: "d1", PackageID: "p1", Operation: fleet.OpUpdate, Delivery: fleet.DeliveryPull}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	acked := map[string]int{} // job -> attempts acknowledged
	for round := 0; round < 24; round++ {
		killAfter := 1 + rng.IntN(150)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, "FUMO_STORE_CRASH_GROUPED="+strconv.Itoa(round%2))
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 4 || f[0] != "ack" {
				t.Fatalf("child said %q", sc.Text())
			}
			a, _ := strconv.Atoi(f[3])
			acked[f[1]] = a
			if n++; n == killAfter {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		cmd.Wait()
		s, err := Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i := 0; i < crashJobs; i++ {
			id := "j" + strconv.Itoa(i)
			j, err := s.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			// At most one transition past the last ack can have committed
			// (its ack was lost with the process).
			if j.Attempts < acked[id] || j.Attempts > acked[id]+1 {
				t.Fatalf("round %d: %s has %d attempts, %d acknowledged", round, id, j.Attempts, acked[id])
			}
			acked[id] = j.Attempts
			if len(j.History) != j.Attempts || j.Attempts > 0 && j.History[len(j.History)-1].To != j.State {
				t.Fatalf("round %d: %s half-updated: %d history entries, %d attempts, state %s", round, id, len(j.History), j.Attempts, j.State)
			}
			inState, _ := s.Jobs(ctx, JobFilter{State: j.State})
			found := false
			for _, x := range inState {
				found = found || x.ID == id
			}
			if !found {
				t.Fatalf("round %d: %s missing from the %s index", round, id, j.State)
			}
		}
		total := 0
		for _, st := range fleet.JobStates {
			l, _ := s.Jobs(ctx, JobFilter{State: st})
			total += len(l)
		}
		if total != crashJobs {
			t.Fatalf("round %d: state index holds %d entries for %d jobs", round, total, crashJobs)
		}
		s.Close()
	}
}
