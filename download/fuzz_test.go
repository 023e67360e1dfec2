package download_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// memPackages is one package in memory: the fuzz targets serve it without
// a store.
type memPackages struct {
	p   fleet.Package
	img []byte
}

func (m *memPackages) Package(_ context.Context, id string) (fleet.Package, error) {
	if id != m.p.ID {
		return fleet.Package{}, fmt.Errorf("package %q: %w", id, fleet.ErrNotFound)
	}
	return m.p, nil
}

func (m *memPackages) ReadPackageAt(_ context.Context, id string, p []byte, off int64) (int, error) {
	if id != m.p.ID {
		return 0, fleet.ErrNotFound
	}
	if off >= int64(len(m.img)) {
		return 0, io.EOF
	}
	n := copy(p, m.img[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func fuzzServer(f testing.TB) (*download.Server, []byte) {
	img := make([]byte, 10_000)
	for i := range img {
		img[i] = byte(i*7 + i>>8)
	}
	m := &memPackages{p: fleet.Package{ID: "fw2", Size: int64(len(img)), SHA256: "ab", Created: time.Unix(1e9, 0)}, img: img}
	d, err := download.New(m, []byte("0123456789abcdef0123"), "", nil)
	if err != nil {
		f.Fatal(err)
	}
	return d, img
}

// FuzzSignedPath: the download path (/fw/<job>/<package>/<signature>) is
// accepted exactly when it is the URL the server signed for its job and
// package; every job id without a slash gets a URL that works.
func FuzzSignedPath(f *testing.F) {
	d, img := fuzzServer(f)
	f.Add(d.URL("", "job-1", "fw2"), "job-1")
	f.Add("/fw/job-1/fw2/00000000000000000000000000000000", "j")
	f.Add("/fw/job-1/fw2/", "")
	f.Add("/fw//fw2/x", "a/b")
	f.Fuzz(func(t *testing.T, path, job string) {
		buf := make([]byte, 16)
		n, size, err := d.ReadFileAt(context.Background(), path, buf, 0)
		switch {
		case errors.Is(err, fleet.ErrNotFound):
		case err != nil && !errors.Is(err, io.EOF):
			t.Fatalf("ReadFileAt(%q): %v", path, err)
		default:
			parts := strings.Split(strings.TrimPrefix(path, "/fw/"), "/")
			if len(parts) != 3 || d.URL("", parts[0], parts[1]) != path {
				t.Fatalf("ReadFileAt accepted %q, which is not a URL the server signs", path)
			}
			if size != int64(len(img)) || !bytes.Equal(buf[:n], img[:n]) {
				t.Fatalf("ReadFileAt(%q) read %d bytes of %d that are not the package's", path, n, size)
			}
		}
		if job == "" || strings.Contains(job, "/") {
			return
		}
		u := d.URL("", job, "fw2")
		if _, _, err := d.ReadFileAt(context.Background(), u, buf, 0); err != nil {
			t.Fatalf("job %q: its own URL %q: %v", job, u, err)
		}
	})
}

// FuzzServeRange: whatever the Range header, the answer is the whole
// package (200), the ranges asked for (206, one part or multipart/
// byteranges) with exactly the package's bytes at the offsets each part's
// Content-Range names, or 416.
func FuzzServeRange(f *testing.F) {
	d, img := fuzzServer(f)
	url := d.URL("http://gw", "job-1", "fw2")
	for _, r := range []string{"", "bytes=0-99", "bytes=5000-", "bytes=-10", "bytes=0-0,9999-9999", "bytes=9999-0", "bytes=10000-", "bytes=abc"} {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, rng string) {
		req := httptest.NewRequest(http.MethodGet, url, nil)
		if rng != "" {
			req.Header["Range"] = []string{rng}
		}
		w := httptest.NewRecorder()
		d.ServeHTTP(w, req)
		body := w.Body.Bytes()
		switch w.Code {
		case http.StatusOK:
			if !bytes.Equal(body, img) {
				t.Fatalf("Range %q: 200 with %d bytes that are not the package", rng, len(body))
			}
		case http.StatusRequestedRangeNotSatisfiable:
			// net/http names the size when the ranges are past the end,
			// nothing when the header does not parse.
			if got, want := w.Header().Get("Content-Range"), fmt.Sprintf("bytes */%d", len(img)); got != "" && got != want {
				t.Fatalf("Range %q: 416 with Content-Range %q, want %q", rng, got, want)
			}
		case http.StatusPartialContent:
			mt, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
			if err != nil {
				t.Fatalf("Range %q: 206 with Content-Type %q: %v", rng, w.Header().Get("Content-Type"), err)
			}
			if mt != "multipart/byteranges" {
				checkPart(t, rng, w.Header().Get("Content-Range"), body, img)
				return
			}
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Range %q: multipart answer: %v", rng, err)
				}
				b, err := io.ReadAll(p)
				if err != nil {
					t.Fatalf("Range %q: multipart answer: %v", rng, err)
				}
				checkPart(t, rng, p.Header.Get("Content-Range"), b, img)
			}
		default:
			t.Fatalf("Range %q: HTTP %d: %s", rng, w.Code, body)
		}
	})
}

// checkPart checks that b is img at the range contentRange names.
func checkPart(t *testing.T, rng, contentRange string, b, img []byte) {
	t.Helper()
	var first, last, size int
	if _, err := fmt.Sscanf(contentRange, "bytes %d-%d/%d", &first, &last, &size); err != nil {
		t.Fatalf("Range %q: part with Content-Range %q: %v", rng, contentRange, err)
	}
	if size != len(img) || first < 0 || first > last || last >= size || !bytes.Equal(b, img[first:last+1]) {
		t.Fatalf("Range %q: part %q of %d bytes is not the package at that range", rng, contentRange, len(b))
	}
}

// TestZeroLengthSuffixRange: a suffix range of zero bytes selects nothing
// (RFC 9110 §14.1.1): alone it is answered 416 with the size, beside other
// ranges it is left out (net/http alone answers a 206 with the invalid
// Content-Range "bytes 10000-9999/10000", golang/go#81262).
func TestZeroLengthSuffixRange(t *testing.T) {
	d, img := fuzzServer(t)
	for _, tc := range []struct {
		name, rng    string
		code         int
		contentRange string
	}{
		{"alone", "bytes=-0", http.StatusRequestedRangeNotSatisfiable, "bytes */10000"},
		{"spaced", "bytes= - 00 ", http.StatusRequestedRangeNotSatisfiable, "bytes */10000"},
		{"twice and empty", "bytes=-0,,-+0", http.StatusRequestedRangeNotSatisfiable, "bytes */10000"},
		{"with a range", "bytes=-0,0-5", http.StatusPartialContent, "bytes 0-5/10000"},
		{"suffix of one", "bytes=-1", http.StatusPartialContent, "bytes 9999-9999/10000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, d.URL("http://gw", "job-1", "fw2"), nil)
			req.Header.Set("Range", tc.rng)
			w := httptest.NewRecorder()
			d.ServeHTTP(w, req)
			if w.Code != tc.code || w.Header().Get("Content-Range") != tc.contentRange {
				t.Fatalf("HTTP %d Content-Range %q, want %d %q", w.Code, w.Header().Get("Content-Range"), tc.code, tc.contentRange)
			}
			if w.Code == http.StatusPartialContent {
				checkPart(t, tc.rng, tc.contentRange, w.Body.Bytes(), img)
			}
		})
	}
}
