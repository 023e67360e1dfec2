// Package download owns the gateway's package download endpoint for pull
// delivery: stored packages served over HTTP at URLs signed per job (a URL
// reaches one package for one job and cannot be forged for another), with
// Range support so devices resume interrupted downloads, and an exact
// Content-Length.
package download

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// Packages is what the endpoint reads; store.Store implements it.
type Packages interface {
	Package(ctx context.Context, id string) (fleet.Package, error)
	ReadPackageAt(ctx context.Context, id string, p []byte, off int64) (int, error)
}

// ErrBadKey: the signing key is missing or too short.
var ErrBadKey = errors.New("download: signing key must be at least 16 bytes")

// DefaultPath is where the endpoint is mounted.
const DefaultPath = "/fw"

// Server serves packages at signed URLs.
type Server struct {
	pkgs   Packages
	key    []byte
	path   string
	log    *slog.Logger
	served atomic.Int64
	sizes  sync.Map // package id -> int64
	stats  stats
}

// New returns an endpoint mounted at path (DefaultPath when "") signing
// with key (keep it across restarts: URLs handed to devices must stay
// valid).
func New(pkgs Packages, key []byte, path string, log *slog.Logger) (*Server, error) {
	if len(key) < 16 {
		return nil, ErrBadKey
	}
	if path == "" {
		path = DefaultPath
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{pkgs: pkgs, key: append([]byte(nil), key...), path: strings.TrimSuffix(path, "/"), log: log.With("component", "download")}, nil
}

// Path is the prefix the endpoint answers under.
func (s *Server) Path() string { return s.path }

// BytesServed counts package bytes written to clients.
func (s *Server) BytesServed() int64 { return s.served.Load() }

func (s *Server) sign(jobID, pkgID string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(jobID))
	m.Write([]byte{0})
	m.Write([]byte(pkgID))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// URL is the address of package pkgID for job jobID under base (the
// scheme and host devices reach the gateway at).
func (s *Server) URL(base, jobID, pkgID string) string {
	return strings.TrimSuffix(base, "/") + s.path + "/" + jobID + "/" + pkgID + "/" + s.sign(jobID, pkgID)
}

// ServeHTTP serves GET and HEAD of signed package URLs.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.stats.http[outMethod].Add(1)
		http.Error(w, "download: GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	jobID, pkgID, ok := s.resolve(r.URL.Path)
	if !ok {
		s.log.Warn("download: unsigned path", "remote", r.RemoteAddr, "path", r.URL.Path)
		s.stats.http[outNotFound].Add(1)
		http.NotFound(w, r) // no hint whether the package exists
		return
	}
	p, err := s.pkgs.Package(r.Context(), pkgID)
	if errors.Is(err, fleet.ErrNotFound) {
		s.stats.http[outNotFound].Add(1)
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.log.Error("download: package", "package", pkgID, "err", err)
		s.stats.http[outError].Add(1)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	content := io.NewSectionReader(readerAt{ctx: r.Context(), pkgs: s.pkgs, id: pkgID}, 0, p.Size)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", fmt.Sprintf("%q", p.SHA256))
	w.Header().Set("Cache-Control", "private, no-transform")
	if rng := r.Header.Get("Range"); rng != "" {
		if kept := dropEmptySuffixes(rng, p.Size); kept != rng {
			r = r.Clone(r.Context())
			r.Header.Set("Range", kept)
		}
	}
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", p.Created, content)
	s.served.Add(cw.n)
	s.stats.servedHTTP(cw)
	s.log.Debug("download: served", "job", jobID, "package", pkgID, "range", r.Header.Get("Range"), "bytes", cw.n)
}

// dropEmptySuffixes removes zero-length suffix ranges ("-0") from a bytes
// Range header. RFC 9110 §14.1.1 makes them unsatisfiable, but
// http.ServeContent answers them with a 206 whose Content-Range ends
// before it starts ("bytes 10-9/10", golang/go#81262). When no range is
// left, the header becomes one past the end, which ServeContent answers
// with 416 and the size (If-Range still applies). Specs are read as
// net/http reads them.
func dropEmptySuffixes(h string, size int64) string {
	set, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return h
	}
	specs := strings.Split(set, ",")
	kept, ranges := specs[:0:0], 0
	for _, spec := range specs {
		first, last, ok := strings.Cut(spec, "-")
		last = strings.Trim(last, " \t\r\n")
		if ok && strings.Trim(first, " \t\r\n") == "" && last != "" && last[0] != '-' {
			if n, err := strconv.ParseInt(last, 10, 64); err == nil && n == 0 {
				continue
			}
		}
		kept = append(kept, spec)
		if strings.Trim(spec, " \t\r\n") != "" {
			ranges++
		}
	}
	switch {
	case len(kept) == len(specs):
		return h
	case ranges == 0:
		return fmt.Sprintf("bytes=%d-", size)
	}
	return "bytes=" + strings.Join(kept, ",")
}

// resolve checks a path's signature and returns its job and package ids.
func (s *Server) resolve(path string) (jobID, pkgID string, ok bool) {
	rest, ok := strings.CutPrefix(path, s.path+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	if !hmac.Equal([]byte(parts[2]), []byte(s.sign(parts[0], parts[1]))) {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// ReadFileAt reads the package at a signed path for other transports
// (CoAP Block2): len(p) bytes at off, and the package's size. It costs one
// signature check and one short read transaction, so a transfer may call
// it once per block. An unsigned path or a missing package is
// fleet.ErrNotFound.
func (s *Server) ReadFileAt(ctx context.Context, path string, p []byte, off int64) (int, int64, error) {
	_, pkgID, ok := s.resolve(path)
	if !ok {
		s.stats.coap[outNotFound].Add(1)
		return 0, 0, fmt.Errorf("download: %s: %w", path, fleet.ErrNotFound)
	}
	size, err := s.size(ctx, pkgID)
	if err != nil {
		s.stats.refusedCoAP(err)
		return 0, 0, err
	}
	if off >= size {
		s.stats.readCoAP(0, size > 0, nil)
		return 0, size, io.EOF
	}
	n, err := s.pkgs.ReadPackageAt(ctx, pkgID, p, off)
	s.served.Add(int64(n))
	s.stats.readCoAP(n, false, err)
	return n, size, err
}

// size returns a package's size, remembered: a stored package never
// changes (it can only be deleted, which ReadPackageAt then reports).
func (s *Server) size(ctx context.Context, pkgID string) (int64, error) {
	if v, ok := s.sizes.Load(pkgID); ok {
		return v.(int64), nil
	}
	p, err := s.pkgs.Package(ctx, pkgID)
	if err != nil {
		return 0, err
	}
	s.sizes.Store(pkgID, p.Size)
	return p.Size, nil
}

type readerAt struct {
	ctx  context.Context
	pkgs Packages
	id   string
}

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	return r.pkgs.ReadPackageAt(r.ctx, r.id, p, off)
}

type countingWriter struct {
	http.ResponseWriter
	n    int64
	code int // the status written, 0 before (200 then)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}
