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
	"strings"
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
		http.Error(w, "download: GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, s.path+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		http.NotFound(w, r)
		return
	}
	jobID, pkgID, sig := parts[0], parts[1], parts[2]
	if !hmac.Equal([]byte(sig), []byte(s.sign(jobID, pkgID))) {
		s.log.Warn("download: bad signature", "remote", r.RemoteAddr, "job", jobID, "package", pkgID)
		http.NotFound(w, r) // no hint whether the package exists
		return
	}
	p, err := s.pkgs.Package(r.Context(), pkgID)
	if errors.Is(err, fleet.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.log.Error("download: package", "package", pkgID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	content := io.NewSectionReader(readerAt{ctx: r.Context(), pkgs: s.pkgs, id: pkgID}, 0, p.Size)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", fmt.Sprintf("%q", p.SHA256))
	w.Header().Set("Cache-Control", "private, no-transform")
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", p.Created, content)
	s.served.Add(cw.n)
	s.log.Debug("download: served", "job", jobID, "package", pkgID, "range", r.Header.Get("Range"), "bytes", cw.n)
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
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}
