package download_test

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
	"path/filepath"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/store"
)

func setup(t *testing.T) (*download.Server, string, []byte) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), &store.Options{ChunkSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	img := make([]byte, 10_000)
	rand.Read(img)
	for _, id := range []string{"fw2", "other"} {
		sum := sha256.Sum256(img)
		if _, err := st.PutPackage(context.Background(), fleet.Package{ID: id, Name: "fw", Version: "2", Size: int64(len(img)), SHA256: hex.EncodeToString(sum[:])}, bytes.NewReader(img)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := download.New(st, []byte("0123456789abcdef0123"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return d, srv.URL, img
}

func fetch(t *testing.T, method, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestRanges(t *testing.T) {
	d, base, img := setup(t)
	url := d.URL(base, "job1", "fw2")
	cases := []struct {
		rng        string
		status     int
		from, to   int // expected slice of img
		contentLen string
	}{
		{"", 200, 0, 10_000, "10000"},
		{"bytes=0-99", 206, 0, 100, "100"},
		{"bytes=4321-", 206, 4321, 10_000, "5679"},
		{"bytes=-10", 206, 9990, 10_000, "10"},
		{"bytes=999-1000", 206, 999, 1001, "2"}, // across a stored chunk boundary
	}
	for _, c := range cases {
		resp, body := fetch(t, http.MethodGet, url, map[string]string{"Range": c.rng})
		if resp.StatusCode != c.status || !bytes.Equal(body, img[c.from:c.to]) || resp.Header.Get("Content-Length") != c.contentLen {
			t.Errorf("Range %q: %d, %d bytes, Content-Length %s", c.rng, resp.StatusCode, len(body), resp.Header.Get("Content-Length"))
		}
	}
	if resp, _ := fetch(t, http.MethodGet, url, map[string]string{"Range": "bytes=20000-"}); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: %d", resp.StatusCode)
	}
	resp, body := fetch(t, http.MethodHead, url, nil)
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Length") != "10000" || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	// Resuming with If-Range and the ETag gets the rest; a stale ETag the whole.
	etag := resp.Header.Get("ETag")
	if resp, body := fetch(t, http.MethodGet, url, map[string]string{"Range": "bytes=5000-", "If-Range": etag}); resp.StatusCode != 206 || !bytes.Equal(body, img[5000:]) {
		t.Errorf("resume with If-Range: %d", resp.StatusCode)
	}
	if resp, body := fetch(t, http.MethodGet, url, map[string]string{"Range": "bytes=5000-", "If-Range": `"stale"`}); resp.StatusCode != 200 || len(body) != len(img) {
		t.Errorf("stale If-Range: %d", resp.StatusCode)
	}
	if d.BytesServed() == 0 {
		t.Error("bytes served not counted")
	}
}

func TestUnguessable(t *testing.T) {
	d, base, _ := setup(t)
	good := d.URL(base, "job1", "fw2")
	sig := good[strings.LastIndex(good, "/")+1:]
	for _, url := range []string{
		base + "/fw/job1/other/" + sig, // another package with job1's signature
		base + "/fw/job2/fw2/" + sig,   // another job
		base + "/fw/job1/fw2/" + strings.Repeat("0", len(sig)),
		base + "/fw/job1/fw2",
		base + "/fw/job1/missing/" + sig,
		d.URL(base, "job1", "missing"), // signed, but no such package
	} {
		if resp, _ := fetch(t, http.MethodGet, url, nil); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", url, resp.StatusCode)
		}
	}
	if resp, _ := fetch(t, http.MethodPost, good, nil); resp.StatusCode != 405 {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	if _, err := download.New(nil, []byte("short"), "", nil); err == nil {
		t.Error("short key accepted")
	}
}

// TestReadFileAt reads a package block by block the way a CoAP Block2
// transfer does, across chunk boundaries (chunks are 1000 bytes here).
func TestReadFileAt(t *testing.T) {
	d, _, img := setup(t)
	ctx := context.Background()
	path := strings.TrimPrefix(d.URL("coap://gw", "job1", "fw2"), "coap://gw")
	var got []byte
	buf := make([]byte, 128)
	for off := int64(0); ; off += int64(len(buf)) {
		n, size, err := d.ReadFileAt(ctx, path, buf, off)
		if size != int64(len(img)) {
			t.Fatalf("size %d", size)
		}
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, img) {
		t.Fatalf("read %d bytes, differ", len(got))
	}
	for _, bad := range []string{
		strings.Replace(path, "fw2", "other", 1),        // the signature is for fw2
		path[:len(path)-1] + "x",                        // forged signature
		strings.TrimPrefix(d.URL("", "job1", "zz"), ""), // signed, no such package
	} {
		if _, _, err := d.ReadFileAt(ctx, bad, buf, 0); !errors.Is(err, fleet.ErrNotFound) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}
