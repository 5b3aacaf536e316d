package api_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestDirectoryDomainsAPI: PATCH /api/v1/directories/{directory} replaces a
// directory's email domains (normalized like a connection's), GET and the list
// show them, the change is audited; bad input is problem+json naming the field
// (422 for a malformed domain or a missing list, 409 for a domain another org or
// another directory uses, 404 for another org's directory) and changes nothing.
func TestDirectoryDomainsAPI(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewEnv(t, b)
		ctx := context.Background()
		sys := core.Actor{Kind: core.ActorSystem, ID: "test"}
		dir := e.API("POST", "/api/v1/directories", map[string]any{"name": "okta"}).Want(t, 201)
		if got := dir.Body["directory"].(map[string]any)["domains"]; !reflect.DeepEqual(got, []any{}) {
			t.Fatalf("a new directory's domains: %s", dir.Raw)
		}
		r := e.API("PATCH", "/api/v1/directories/okta", map[string]any{"domains": []string{" Acme.Example.com", "corp.example"}}).Want(t, 200)
		want := []any{"acme.example.com", "corp.example"}
		if !reflect.DeepEqual(r.Body["domains"], want) || r.Str("id") != dir.Str("directory", "id") {
			t.Fatalf("patched: %s", r.Raw)
		}
		if g := e.API("GET", "/api/v1/directories/"+r.Str("id"), nil).Want(t, 200); !reflect.DeepEqual(g.Body["domains"], want) {
			t.Fatalf("get: %s", g.Raw)
		}
		if l := e.API("GET", "/api/v1/directories", nil).Want(t, 200); !reflect.DeepEqual(l.Items()[0]["domains"], want) {
			t.Fatalf("list: %s", l.Raw)
		}
		if a := e.API("GET", "/api/v1/audit?action=directory.update", nil).Want(t, 200); len(a.Items()) != 1 {
			t.Fatalf("audit: %s", a.Raw)
		}
		e.API("POST", "/api/v1/directories", map[string]any{"name": "entra"}).Want(t, 201)
		other, _, err := e.St.CreateOrg(ctx, sys, "other", "Other", "admin@other.example")
		if err != nil {
			t.Fatal(err)
		}
		od, err := e.St.CreateDirectory(ctx, sys, other.ID, "other-okta")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.St.SetDirectoryDomains(ctx, sys, other.ID, od.ID, []string{"other.example"}); err != nil {
			t.Fatal(err)
		}
		state := func() string {
			l := e.API("GET", "/api/v1/directories", nil).Want(t, 200)
			a := e.API("GET", "/api/v1/audit?limit=1000", nil).Want(t, 200)
			return string(l.Raw) + "\n" + string(a.Raw)
		}
		before := state()
		for _, c := range []struct {
			path   string
			body   any
			status int
			detail string
		}{
			{"/api/v1/directories/okta", map[string]any{"domains": []string{"ok.example", "not a domain"}}, 422, "domains: "},
			{"/api/v1/directories/okta", map[string]any{"domains": []string{"someone@acme.example.com"}}, 422, "domains: "},
			{"/api/v1/directories/okta", map[string]any{}, 422, `"domains" is required`},
			{"/api/v1/directories/okta", map[string]any{"domains": "acme.example.com"}, 400, ""},
			{"/api/v1/directories/okta", map[string]any{"domains": []string{"x.example"}, "name": "renamed"}, 400, ""},
			{"/api/v1/directories/entra", map[string]any{"domains": []string{"new.example", "corp.example"}}, 409, "domains: email domain corp.example"},
			{"/api/v1/directories/okta", map[string]any{"domains": []string{"acme.example.com", "other.example"}}, 409, "domains: email domain other.example belongs to another organization"},
			{"/api/v1/directories/other-okta", map[string]any{"domains": []string{}}, 404, "other-okta"},
			{"/api/v1/directories/" + od.ID, map[string]any{"domains": []string{}}, 404, ""},
		} {
			r := e.API("PATCH", c.path, c.body)
			if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.Str("detail"), c.detail) {
				t.Errorf("PATCH %s %v: %d %s %s", c.path, c.body, r.Status, r.Header.Get("Content-Type"), r.Raw)
			}
		}
		if after := state(); after != before {
			t.Errorf("refused changes changed something:\nbefore %s\nafter  %s", before, after)
		}
		if got, _ := e.St.GetDirectory(ctx, other.ID, od.ID); !reflect.DeepEqual(got.Domains, []string{"other.example"}) {
			t.Errorf("the other org's directory: %+v", got)
		}
		// [] clears the list.
		if r := e.API("PATCH", "/api/v1/directories/okta", map[string]any{"domains": []string{}}).Want(t, 200); !reflect.DeepEqual(r.Body["domains"], []any{}) {
			t.Fatalf("cleared: %s", r.Raw)
		}
	})
}
