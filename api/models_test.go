package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/api"
	"github.com/fumo-gw/fumo-gw/api/client"
	"github.com/fumo-gw/fumo-gw/fleet"
)

// modelPath is a model's resource, its name escaped as one path segment.
func modelPath(model string) string {
	if model == "." || model == ".." {
		return "/api/v1/models/" + strings.Repeat("%2E", len(model))
	}
	return "/api/v1/models/" + url.PathEscape(model)
}

// TestModels sets, reads, lists, replaces and deletes per-model settings,
// with model names as devices report them (spaces, '/', '%').
func TestModels(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.MaxBody = 4096 })
	h.upload("fw2")
	h.upload("fw3")

	names := []struct{ name, model string }{
		{"plain", "Rocket-DM"},
		{"space", "test model"},
		{"slash", "a/b"},
		{"percent and slash", "50% off/v2"},
		{"dots", ".."},
	}
	for _, c := range names {
		t.Run(c.name, func(t *testing.T) {
			var m fleet.ModelSettings
			h.ok(http.StatusOK, http.MethodPut, modelPath(c.model), api.ModelRequest{Release: "fw2", FUMORoot: "./FwUpdate/1"}, &m)
			if m.Model != c.model || m.Release != "fw2" || m.FUMORoot != "./FwUpdate/1" || m.Updated.IsZero() {
				t.Fatalf("put: %+v", m)
			}
			var got fleet.ModelSettings
			h.ok(http.StatusOK, http.MethodGet, modelPath(c.model), nil, &got)
			if got != m {
				t.Fatalf("get: %+v, want %+v", got, m)
			}
			if s, err := h.gw.Store.ModelSettings(context.Background(), c.model); err != nil || s.Release != "fw2" {
				t.Fatalf("stored: %+v %v", s, err)
			}
		})
	}

	var list struct{ Models []fleet.ModelSettings }
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/models", nil, &list)
	var listed []string
	for _, m := range list.Models {
		listed = append(listed, m.Model)
	}
	if got, want := strings.Join(listed, "|"), "..|50% off/v2|Rocket-DM|a/b|test model"; got != want {
		t.Fatalf("list: %s, want %s", got, want)
	}

	// PUT replaces: a field left out is cleared.
	var m fleet.ModelSettings
	h.ok(http.StatusOK, http.MethodPut, modelPath("test model"), api.ModelRequest{Release: "fw3"}, &m)
	if m.Release != "fw3" || m.FUMORoot != "" {
		t.Fatalf("replaced: %+v", m)
	}

	// Refused: nothing changes.
	before := h.dump()
	long := strings.Repeat("m", 129)
	for _, c := range []struct {
		name, model string
		body        any
		hdr         []string
		status      int
		code        string
	}{
		{"unknown release", "test model", api.ModelRequest{Release: "nope"}, nil, 404, api.CodeNotFound},
		{"release not an id", "test model", api.ModelRequest{Release: "fw/2"}, nil, 400, api.CodeBadRequest},
		{"relative fumo root", "test model", api.ModelRequest{FUMORoot: "FwUpdate/1"}, nil, 400, api.CodeBadRequest},
		{"model too long", long, api.ModelRequest{}, nil, 400, api.CodeBadRequest},
		{"model with NUL", "a\x00b", api.ModelRequest{}, nil, 400, api.CodeBadRequest},
		{"unknown field", "test model", `{"release":"fw2","colour":"red"}`, nil, 400, api.CodeBadRequest},
		{"wrong type", "test model", `{"release":2}`, nil, 400, api.CodeBadRequest},
		{"malformed JSON", "test model", `{"release":`, nil, 400, api.CodeBadRequest},
		{"empty body", "test model", ``, nil, 400, api.CodeBadRequest},
		{"body over the limit", "test model", `{"release":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, api.CodeTooLarge},
		{"not JSON", "test model", `{}`, []string{"Content-Type", "text/plain"}, 415, api.CodeUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.apiError(c.status, c.code, http.MethodPut, modelPath(c.model), c.body, c.hdr...)
			if got := h.dump(); got != before {
				t.Fatalf("a refused request changed the store:\n%s", got)
			}
		})
	}
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodGet, modelPath("no such model"), nil)
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodDelete, modelPath("no such model"), nil)
	// An unescaped '/' names another resource.
	h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodGet, "/api/v1/models/a/b", nil)

	// The Go client escapes names the same way.
	c := &client.Client{Base: h.srv.URL, Token: token}
	ctx := context.Background()
	for _, model := range []string{"a/b", "..", "50% off/v2"} {
		if got, err := c.Model(ctx, model); err != nil || got.Model != model {
			t.Fatalf("client: model %q: %+v %v", model, got, err)
		}
	}
	if got, err := c.SetModel(ctx, "x/y z", api.ModelRequest{FUMORoot: "./FUMO"}); err != nil || got.Model != "x/y z" {
		t.Fatalf("client: set: %+v %v", got, err)
	}
	if ms, err := c.Models(ctx); err != nil || len(ms) != 6 {
		t.Fatalf("client: list: %+v %v", ms, err)
	}
	if err := c.DeleteModel(ctx, "x/y z"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Model(ctx, "x/y z"); !client.IsCode(err, api.CodeNotFound) {
		t.Fatalf("client: deleted model: %v", err)
	}

	// Deleted: gone from the list, the others stay.
	for _, c := range names {
		h.ok(http.StatusNoContent, http.MethodDelete, modelPath(c.model), nil, nil)
		h.apiError(http.StatusNotFound, api.CodeNotFound, http.MethodGet, modelPath(c.model), nil)
	}
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/models", nil, &list)
	if list.Models == nil || len(list.Models) != 0 {
		t.Fatalf("list after deletes: %+v", list)
	}
}

// TestModels_ReleaseInUse: a package that is a model's release is not
// deleted (409) until the model lets it go.
func TestModels_ReleaseInUse(t *testing.T) {
	h := newHarness(t, nil)
	h.upload("fw2")
	h.upload("fw3")
	h.ok(http.StatusOK, http.MethodPut, modelPath("test model/2"), api.ModelRequest{Release: "fw2"}, nil)

	before := h.dump()
	h.apiError(http.StatusConflict, api.CodeConflict, http.MethodDelete, "/api/v1/packages/fw2", nil)
	if h.dump() != before {
		t.Fatal("a refused delete changed the store")
	}
	h.ok(http.StatusOK, http.MethodGet, "/api/v1/packages/fw2", nil, nil)

	// Another release: fw2 is free, fw3 is held.
	h.ok(http.StatusOK, http.MethodPut, modelPath("test model/2"), api.ModelRequest{Release: "fw3"}, nil)
	h.ok(http.StatusNoContent, http.MethodDelete, "/api/v1/packages/fw2", nil, nil)
	h.apiError(http.StatusConflict, api.CodeConflict, http.MethodDelete, "/api/v1/packages/fw3", nil)
	h.ok(http.StatusNoContent, http.MethodDelete, modelPath("test model/2"), nil, nil)
	h.ok(http.StatusNoContent, http.MethodDelete, "/api/v1/packages/fw3", nil, nil)
}
