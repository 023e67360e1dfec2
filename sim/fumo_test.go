package sim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
	"github.com/fumo-gw/fumo-gw/sim"
)

const fumoRoot = "./Vendor/FOTA/fw"

// fumoServer sends a pull update (Replace PkgURL, Exec DownloadAndUpdate)
// in the first session, or, when onRequest is set, in the session of a
// device's update request; it keeps the Generic Alert 1226 results.
type fumoServer struct {
	*scriptServer
	mu       sync.Mutex
	sent     bool
	results  []string // Data of each FUMO result alert
	sessions map[string]bool
}

func newFUMOServer(t *testing.T, onRequest bool) *fumoServer {
	pkg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "fw", time.Time{}, strings.NewReader("firmware image 2.0"))
	}))
	t.Cleanup(pkg.Close)
	f := &fumoServer{sessions: map[string]bool{}}
	f.scriptServer = newScriptServer(t, func(r *request) *syncml.Message {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.sessions[r.msg.Header.SessionID] = true
		requested := false
		for _, a := range commandsOf[*syncml.Alert](r.msg) {
			for _, it := range a.Items {
				switch it.Meta.Type {
				case "org.openmobilealliance.dm.firmwareupdate.downloadandupdate":
					f.results = append(f.results, string(it.Data))
				case "org.openmobilealliance.dm.firmwareupdate.devicerequest":
					requested = true
				}
			}
		}
		if f.sent || r.msg.Header.MsgID != "1" || onRequest && !requested {
			return answer(r.msg, 212)
		}
		f.sent = true
		return answer(r.msg, 212, replace(fumoRoot+"/DownloadAndUpdate/PkgURL", pkg.URL+"/fw"), exec(fumoRoot+"/DownloadAndUpdate"))
	})
	return f
}

func (f *fumoServer) state() (results []string, sessions int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.results...), len(f.sessions)
}

func TestFUMO(t *testing.T) {
	cases := []struct {
		name      string
		fault     sim.Fault
		format    string
		request   bool
		wantFwV   string
		reported  []string
		sessions  int
		reportErr error
	}{
		{"reported", sim.FaultNone, "", false, "2.0", []string{"200"}, 2, nil},
		{"version formatted", sim.FaultNone, "V%s ", false, "V2.0 ", []string{"200"}, 2, nil},
		{"result alert lost", sim.FaultNoReport, "", false, "2.0", nil, 1, context.DeadlineExceeded},
		{"requested by the device", sim.FaultNone, "", true, "2.0", []string{"200"}, 2, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newFUMOServer(t, c.request)
			d := srv.device()
			f := &sim.FUMO{Root: fumoRoot, NewVersion: "2.0", Fault: c.fault, VersionFormat: c.format, ReportFor: time.Second}
			d.EnableFUMO(f)
			ctx := testContext(t)
			var rep *sim.SessionReport
			var err error
			if c.request {
				rep, err = d.RequestUpdate(ctx, false)
			} else {
				rep, err = d.Session(ctx, sim.SessionOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.request && rep.Statuses["Alert 3"] != 200 {
				t.Errorf("server status for the request: %v", rep.Statuses)
			}
			if err := f.WaitContext(ctx); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			if code, err := f.Report(rctx); !errors.Is(err, c.reportErr) || err == nil && code != 200 {
				t.Errorf("Report: %d %v, want %v", code, err, c.reportErr)
			}
			if got := f.Outcomes(); !reflect.DeepEqual(got, []int{200}) {
				t.Errorf("outcomes %v, want [200]", got)
			}
			fwv, _ := d.Node("./DevDetail/FwV")
			state, _ := d.Node(fumoRoot + "/State")
			if string(fwv) != c.wantFwV || string(state) != "100" {
				t.Errorf("FwV %q State %s, want %q 100", fwv, state, c.wantFwV)
			}
			results, sessions := srv.state()
			if !reflect.DeepEqual(results, c.reported) || sessions != c.sessions {
				t.Errorf("server got results %q in %d sessions, want %q in %d", results, sessions, c.reported, c.sessions)
			}
		})
	}
}

// TestFUMO_WaitContext: a context ends the wait for work that does not.
func TestFUMO_WaitContext(t *testing.T) {
	srv := newFUMOServer(t, false)
	d := srv.device()
	f := &sim.FUMO{Root: fumoRoot, Fault: sim.FaultNoReport, Delay: 300 * time.Millisecond}
	d.EnableFUMO(f)
	if err := f.WaitContext(testContext(t)); err != nil {
		t.Fatalf("idle device: %v", err)
	}
	if _, err := d.Session(testContext(t), sim.SessionOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.WaitContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("busy device: %v, want DeadlineExceeded", err)
	}
	if err := f.WaitContext(testContext(t)); err != nil || len(f.Outcomes()) != 1 {
		t.Errorf("after the work: %v, outcomes %v", err, f.Outcomes())
	}
}
