package api_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestLeastKnowledge: a member learns nothing about a workspace where they hold no
// role, from any path (the API's lists and lookups, their access matrix, /me and
// /check), and org admins' emails are for org admins (issue 9, finding 5). One
// visibility rule answers all of them, so they agree with each other too.
func TestLeastKnowledge(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b) // Ann: Editor of marketing, in development only
		w.API("POST", "/api/v1/workspaces", map[string]any{"slug": "sales", "environments": []string{"production"}}).Want(t, 201)
		asAnn := w.Session(w.Ann)
		base := w.Srv.URL
		slugs := func(items []any) []string {
			var out []string
			for _, it := range items {
				m := it.(map[string]any)
				if ws, ok := m["workspace"].(map[string]any); ok {
					m = ws
				}
				out = append(out, m["slug"].(string))
			}
			return out
		}
		want := func(what string, got []string, want ...string) {
			t.Helper()
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s: %v, want %v", what, got, want)
			}
		}

		// A role in one environment shows the workspace; no role hides it.
		apitest.Call(t, base, "GET", "/api/v1/workspaces/marketing", nil, asAnn).Want(t, 200)
		apitest.Call(t, base, "GET", "/api/v1/workspaces/sales", nil, asAnn).Want(t, 404)
		want("workspaces", slugs(apitest.Call(t, base, "GET", "/api/v1/workspaces", nil, asAnn).Want(t, 200).Body["items"].([]any)), "marketing")
		want("own access matrix", slugs(apitest.Call(t, base, "GET", "/api/v1/users/"+w.Ann.ID+"/access", nil, asAnn).Want(t, 200).Body["workspaces"].([]any)), "marketing")
		want("/me", slugs(apitest.Call(t, base, "GET", "/api/v1/me", nil, asAnn).Want(t, 200).Body["workspaces"].([]any)), "marketing")
		// An org admin sees every workspace, in Ann's matrix too.
		want("Ann's matrix for an org admin", slugs(w.API("GET", "/api/v1/users/"+w.Ann.ID+"/access", nil).Want(t, 200).Body["workspaces"].([]any)), "marketing", "sales")

		// /check answers Ann the same about a workspace she cannot see and one that
		// does not exist, also after an org admin's answer about it was remembered.
		q := func(ws string) map[string]any {
			return map[string]any{"user": w.Ann.ID, "workspace": ws, "action": "view"}
		}
		if d := w.API("POST", "/api/v1/check", q("sales")).Want(t, 200); d.Str("reason") != core.ReasonNoGrant {
			t.Fatalf("org admin's answer: %s", d.Raw)
		}
		same := func(what, hidden, missing string) {
			t.Helper()
			if hidden = strings.ReplaceAll(hidden, `sales`, `X`); hidden != strings.ReplaceAll(missing, `nope`, `X`) {
				t.Errorf("%s tells a hidden workspace from a missing one:\n%s\n%s", what, hidden, missing)
			}
		}
		hidden := apitest.Call(t, base, "POST", "/api/v1/check", q("sales"), asAnn).Want(t, 200)
		missing := apitest.Call(t, base, "POST", "/api/v1/check", q("nope"), asAnn).Want(t, 200)
		if hidden.Str("reason") != decisions.ReasonUnknownWorkspace {
			t.Errorf("hidden workspace: %s", hidden.Raw)
		}
		same("/check", string(hidden.Raw), string(missing.Raw))
		batch := apitest.Call(t, base, "POST", "/api/v1/check/batch", map[string]any{"checks": []any{q("sales"), q("nope")}}, asAnn).Want(t, 200)
		rs := batch.Body["results"].([]any)
		same("/check/batch", apitest.Resp{Body: rs[0].(map[string]any)}.Str("message"), apitest.Resp{Body: rs[1].(map[string]any)}.Str("message"))
		if rs[0].(map[string]any)["reason"] != rs[1].(map[string]any)["reason"] {
			t.Errorf("batch reasons differ: %v", rs)
		}

		// Admin emails go to org admins only.
		apitest.Call(t, base, "GET", "/api/v1/org/admins", nil, asAnn).Want(t, 403)
		if r := w.API("GET", "/api/v1/org/admins", nil).Want(t, 200); !strings.Contains(string(r.Raw), "admin@acme.test") {
			t.Errorf("org admins for an org admin: %s", r.Raw)
		}
	})
}
