package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"

	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/store"
)

func (a *API) routesPackages() {
	a.handle(http.MethodGet, "/packages", a.listPackages)
	a.handle(http.MethodPost, "/packages", a.addPackage)
	a.handle(http.MethodGet, "/packages/{id}", a.getPackage)
	a.handle(http.MethodDelete, "/packages/{id}", a.deletePackage)
}

func (a *API) listPackages(w http.ResponseWriter, r *http.Request) {
	ps, err := a.g.Store.Packages(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"packages": nonNil(ps)})
}

func (a *API) getPackage(w http.ResponseWriter, r *http.Request) {
	p, err := a.g.Store.Package(r.Context(), pathVar(r, "id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// addPackage stores an upload: the image as the raw body with its
// description in the query (id, name, version, sha256, size,
// content_type, verify), or a multipart form with those fields first and
// the image in the "file" part. The bytes stream into the store, which
// keeps nothing unless size and SHA-256 are the declared ones.
func (a *API) addPackage(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, a.cfg.MaxPackage+64<<10) // room for multipart framing
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var (
		desc  = map[string]string{}
		image io.Reader
	)
	switch mt {
	case "multipart/form-data":
		if params["boundary"] == "" {
			a.fail(w, r, badRequest("multipart upload without a boundary parameter"))
			return
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				a.fail(w, r, malformedMultipart(err))
				return
			}
			if part.FormName() == "file" {
				image = part
				break
			}
			v, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				a.fail(w, r, malformedMultipart(err))
				return
			}
			desc[part.FormName()] = string(v)
		}
	case "application/octet-stream", "":
		for _, k := range []string{"id", "name", "version", "sha256", "size", "content_type", "verify"} {
			desc[k] = r.URL.Query().Get(k)
		}
		image = body
	default:
		writeError(w, http.StatusUnsupportedMediaType, CodeUnsupported, fmt.Sprintf("Content-Type %q: send application/octet-stream or multipart/form-data", mt))
		return
	}
	p := fleet.Package{ID: desc["id"], Name: desc["name"], Version: desc["version"], SHA256: desc["sha256"], ContentType: desc["content_type"]}
	if p.Name == "" {
		p.Name = p.ID
	}
	switch desc["verify"] {
	case "":
	case "true", "false":
		v := desc["verify"] == "true"
		p.Verify = &v
	default:
		a.fail(w, r, badRequest("verify %q: want true or false", desc["verify"]))
		return
	}
	size, err := strconv.ParseInt(desc["size"], 10, 64)
	if desc["size"] == "" && mt != "multipart/form-data" {
		size, err = r.ContentLength, nil
	}
	switch {
	case err != nil || size <= 0:
		a.fail(w, r, badRequest("size %q: the image's size in bytes is required", desc["size"]))
		return
	case size > a.cfg.MaxPackage:
		writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("package of %d bytes over the limit of %d", size, a.cfg.MaxPackage))
		return
	}
	p.Size = size
	if err := p.Validate(); err != nil {
		a.fail(w, r, err)
		return
	}
	stored, err := a.g.Store.PutPackage(r.Context(), p, image)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("package stored", "package", stored.ID, "version", stored.Version, "size", stored.Size)
	writeJSON(w, http.StatusCreated, stored)
}

// deletePackage refuses while a job or an unfinished campaign uses it,
// or while it is a model's release (the store says so).
func (a *API) deletePackage(w http.ResponseWriter, r *http.Request) {
	id := pathVar(r, "id")
	if _, err := a.g.Store.Package(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	cs, err := a.g.Store.Campaigns(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, c := range cs {
		if c.PackageID == id && c.State != fleet.CampaignDone && c.State != fleet.CampaignCancelled {
			a.fail(w, r, fmt.Errorf("package %s is used by campaign %s (%s): %w", id, c.ID, c.State, store.ErrInUse))
			return
		}
	}
	if err := a.g.Store.DeletePackage(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// malformedMultipart turns what mime/multipart reports on a broken form
// (its own errors, EOF wrapped or not) into a bad request; a body over
// the limit stays what it is (413).
func malformedMultipart(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("multipart upload without a \"file\" part")
	}
	return badRequest("malformed multipart upload: %v", err)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
