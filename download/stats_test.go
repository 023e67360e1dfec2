package download_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// moved checks that between two Stats exactly one request counter, key,
// went up by one, and the byte counters by httpBytes and coapBytes.
func moved(t *testing.T, before, after download.Stats, key download.RequestKey, httpBytes, coapBytes int64) {
	t.Helper()
	if len(after.Requests) != 12 {
		t.Errorf("%d request counters, want 12 (8 outcomes of HTTP, 4 of CoAP)", len(after.Requests))
	}
	for k, n := range after.Requests {
		want := before.Requests[k]
		if k == key {
			want++
		}
		if n != want {
			t.Errorf("requests %v = %d, want %d", k, n, want)
		}
	}
	if d := after.BytesHTTP - before.BytesHTTP; d != httpBytes {
		t.Errorf("HTTP bytes moved by %d, want %d", d, httpBytes)
	}
	if d := after.BytesCoAP - before.BytesCoAP; d != coapBytes {
		t.Errorf("CoAP bytes moved by %d, want %d", d, coapBytes)
	}
}

// counted waits until d has counted one more request than in before: a
// served request is counted once its handler returns, which may be after
// the client has read the whole answer.
func counted(t *testing.T, d *download.Server, before download.Stats) download.Stats {
	t.Helper()
	total := func(st download.Stats) (n int64) {
		for _, v := range st.Requests {
			n += v
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := d.Stats()
		if total(st) > total(before) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStats_HTTP: every HTTP request counts once under its outcome, with
// the package bytes it carried.
func TestStats_HTTP(t *testing.T) {
	d, base, _ := setup(t)
	url := d.URL(base, "job1", "fw2")
	head, _ := fetch(t, http.MethodHead, url, nil)
	etag := head.Header.Get("ETag")
	cases := []struct {
		name    string
		method  string
		url     string
		hdr     map[string]string
		status  int
		outcome string
		bytes   int64
	}{
		{"whole", http.MethodGet, url, nil, 200, download.OutcomeOK, 10_000},
		{"HEAD", http.MethodHead, url, nil, 200, download.OutcomeOK, 0},
		{"range", http.MethodGet, url, map[string]string{"Range": "bytes=0-99"}, 206, download.OutcomePartial, 100},
		{"not modified", http.MethodGet, url, map[string]string{"If-None-Match": etag}, 304, download.OutcomeNotModified, 0},
		{"precondition", http.MethodGet, url, map[string]string{"If-Match": `"stale"`}, 412, download.OutcomePreconditionFailed, 0},
		{"range past the end", http.MethodGet, url, map[string]string{"Range": "bytes=20000-"}, 416, download.OutcomeBadRange, 0},
		{"unsigned", http.MethodGet, base + "/fw/job1/fw2/00", nil, 404, download.OutcomeNotFound, 0},
		{"no such package", http.MethodGet, d.URL(base, "job1", "missing"), nil, 404, download.OutcomeNotFound, 0},
		{"POST", http.MethodPost, url, nil, 405, download.OutcomeMethod, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := d.Stats()
			if resp, _ := fetch(t, c.method, c.url, c.hdr); resp.StatusCode != c.status {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, c.status)
			}
			moved(t, before, counted(t, d, before), download.RequestKey{Protocol: download.ProtocolHTTP, Outcome: c.outcome}, c.bytes, 0)
		})
	}
}

// TestStats_CoAP: every ReadFileAt counts once, with the bytes it read.
func TestStats_CoAP(t *testing.T) {
	d, _, _ := setup(t)
	ctx := context.Background()
	path := strings.TrimPrefix(d.URL("coap://gw", "job1", "fw2"), "coap://gw")
	buf := make([]byte, 1024)
	cases := []struct {
		name    string
		path    string
		off     int64
		outcome string
		bytes   int64
	}{
		{"first block", path, 0, download.OutcomeOK, 1024},
		{"last block", path, 9 * 1024, download.OutcomeOK, 10_000 - 9*1024},
		{"past the end", path, 10 * 1024, download.OutcomeBadRange, 0},
		{"forged", path[:len(path)-1] + "x", 0, download.OutcomeNotFound, 0},
		{"no such package", d.URL("", "job1", "missing"), 0, download.OutcomeNotFound, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := d.Stats()
			d.ReadFileAt(ctx, c.path, buf, c.off)
			moved(t, before, d.Stats(), download.RequestKey{Protocol: download.ProtocolCoAP, Outcome: c.outcome}, 0, c.bytes)
		})
	}
	if st := d.Stats(); st.Errors != 0 {
		t.Errorf("%d errors, want 0", st.Errors)
	}
}

// brokenPackages fails every read.
type brokenPackages struct{}

func (brokenPackages) Package(context.Context, string) (fleet.Package, error) {
	return fleet.Package{}, errors.New("disk on fire")
}

func (brokenPackages) ReadPackageAt(context.Context, string, []byte, int64) (int, error) {
	return 0, errors.New("disk on fire")
}

// TestStats_Errors: a store failure counts as an error on both
// transports.
func TestStats_Errors(t *testing.T) {
	d, err := download.New(brokenPackages{}, []byte("0123456789abcdef0123"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	before := d.Stats()
	if resp, _ := fetch(t, http.MethodGet, d.URL(srv.URL, "job1", "fw2"), nil); resp.StatusCode != 500 {
		t.Fatalf("HTTP %d, want 500", resp.StatusCode)
	}
	moved(t, before, d.Stats(), download.RequestKey{Protocol: download.ProtocolHTTP, Outcome: download.OutcomeError}, 0, 0)
	before = d.Stats()
	if _, _, err := d.ReadFileAt(context.Background(), d.URL("", "job1", "fw2"), make([]byte, 16), 0); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("ReadFileAt on a broken store: %v", err)
	}
	moved(t, before, d.Stats(), download.RequestKey{Protocol: download.ProtocolCoAP, Outcome: download.OutcomeError}, 0, 0)
	if st := d.Stats(); st.Errors != 2 {
		t.Errorf("%d errors, want 2", st.Errors)
	}
}
