package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/fumo-gw/fumo-gw/api"
)

// TestOpenAPIMatchesRoutes: the document lists exactly the operations
// served, each with its path parameters, a success answer and, behind the
// token, a 401.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, func(c *api.Config) { c.Metrics = http.NotFoundHandler() })
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Security   *[]any `json:"security"`
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	code, b := h.call(http.MethodGet, "/api/v1/openapi.json", nil, "Authorization", "")
	if code != http.StatusOK {
		t.Fatalf("openapi.json: %d", code)
	}
	if err := json.Unmarshal(b, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v (version %q)", err, doc.OpenAPI)
	}
	var documented, served []string
	params := regexp.MustCompile(`\{([a-z]+)\}`)
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + path
			documented = append(documented, key)
			declared := map[string]bool{}
			for _, p := range op.Parameters {
				if p.In == "path" {
					declared[p.Name] = true
				}
			}
			for _, m := range params.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %s not declared", key, m[1])
				}
			}
			ok := false
			for c := range op.Responses {
				ok = ok || strings.HasPrefix(c, "2")
			}
			public := op.Security != nil && len(*op.Security) == 0
			if _, has401 := op.Responses["401"]; !ok || !public && !has401 {
				t.Errorf("%s: responses %v", key, op.Responses)
			}
		}
	}
	for _, r := range h.api.Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("document and routes differ:\ndocumented:\n  %s\nserved:\n  %s", strings.Join(documented, "\n  "), strings.Join(served, "\n  "))
	}
	h.call(http.MethodGet, "/metrics", nil)
}
