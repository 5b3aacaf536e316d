package api_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestEnvironmentRenameMoveDelete: PATCH renames an environment and moves it along
// the promotion path in one transaction (a refused part changes nothing), DELETE
// removes one but not while a grant is limited to it or resources are registered
// in it, and only org admins and the workspace's Admins may. Both backends.
func TestEnvironmentRenameMoveDelete(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		path := func() []string {
			var out []string
			for _, e := range w.API("GET", "/api/v1/workspaces/marketing", nil).Want(t, 200).Body["environments"].([]any) {
				out = append(out, e.(map[string]any)["name"].(string))
			}
			return out
		}
		env := "/api/v1/workspaces/marketing/environments/"
		w.API("POST", "/api/v1/workspaces/marketing/environments", map[string]any{"name": "staging"}).Want(t, 201)
		e := w.API("PATCH", env+"staging", map[string]any{"name": "qa", "position": 1}).Want(t, 200)
		if e.Str("name") != "qa" {
			t.Fatalf("renamed: %s", e.Raw)
		}
		if got := path(); len(got) != 3 || got[0] != "development" || got[1] != "qa" || got[2] != "production" {
			t.Fatalf("path after the move: %v", got)
		}
		// A taken name, or a bad position, refuses the whole change.
		w.API("PATCH", env+"qa", map[string]any{"name": "production", "position": 0}).Want(t, 409)
		w.API("PATCH", env+"qa", map[string]any{"name": "uat", "position": 7}).Want(t, 422)
		w.API("PATCH", env+"qa", map[string]any{"name": "Not A Slug"}).Want(t, 422)
		if got := path(); got[1] != "qa" {
			t.Fatalf("a refused change changed the path: %v", got)
		}
		// Ann is no Admin of marketing.
		apitest.Call(t, w.Srv.URL, "PATCH", env+"qa", map[string]any{"name": "uat"}, w.Session(w.Ann)).Want(t, 403)
		apitest.Call(t, w.Srv.URL, "DELETE", env+"qa", nil, w.Session(w.Ann)).Want(t, 403)
		// development holds resources and a grant is limited to it.
		w.API("DELETE", env+"development", nil).Want(t, 422)
		w.API("DELETE", env+"qa", nil).Want(t, 204)
		if got := path(); len(got) != 2 || got[1] != "production" {
			t.Fatalf("path after the delete: %v", got)
		}
		w.API("DELETE", env+"qa", nil).Want(t, 404)
		if d := w.Check("ann@acme.test", "edit", "model", "m-1", "development"); d.Str("decision") != "allow" {
			t.Fatalf("ann after the changes: %s", d.Raw)
		}
		// Decisions follow a rename at once: the grant and the resource name it by id.
		w.API("PATCH", env+"development", map[string]any{"name": "dev"}).Want(t, 200)
		if d := w.Check("ann@acme.test", "edit", "model", "m-1", "dev"); d.Str("decision") != "allow" {
			t.Fatalf("ann in the renamed environment: %s", d.Raw)
		}
	})
}
