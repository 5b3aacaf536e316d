package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestOpenAPICoversEveryRoute walks the route table: every route must be in the
// served document, and the document must describe no route that does not exist.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	h := &Handler{}
	mux := http.NewServeMux()
	h.Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if rec.Code != 200 {
		t.Fatalf("openapi.json: %d %s", rec.Code, rec.Body)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
		Comps   struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	routed := map[string]bool{}
	for _, rt := range h.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		routed[method+" "+path] = true
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is missing from /api/v1/openapi.json", rt.pattern)
		}
	}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if !routed[strings.ToUpper(method)+" "+path] {
				t.Errorf("the document describes %s %s, which no route serves", strings.ToUpper(method), path)
			}
			// Every schema an operation names exists.
			for _, part := range strings.Split(string(raw), `"#/components/schemas/`)[1:] {
				name, _, _ := strings.Cut(part, `"`)
				if _, ok := doc.Comps.Schemas[name]; !ok {
					t.Errorf("%s %s names schema %s, which is not defined", method, path, name)
				}
			}
		}
	}
}
