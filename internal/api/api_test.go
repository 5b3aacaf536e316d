package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

var scimActor = apitest.SCIMActor

func TestCheckExplainsAndFollowsChanges(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		ctx := context.Background()

		d := w.Check("ann@acme.test", "edit", "model", "m-1")
		if d.Str("decision") != "allow" {
			t.Fatalf("edit model: %s", d.Raw)
		}
		if got, want := apitest.ChainKinds(d.Body), []string{"user", "idp_group", "mapping", "user_group", "grant", "role", "rule"}; !slices.Equal(got, want) {
			t.Fatalf("chain %v, want %v (%s)", got, want, d.Raw)
		}
		// Editors may not edit existing sources.
		if d := w.Check(w.Ann.ID, "edit", "source", "s-1"); d.Str("decision") != "deny" || d.Str("reason") != core.ReasonRoleForbids {
			t.Fatalf("edit source: %s", d.Raw)
		}
		// Not granted in production.
		if d := w.Check(w.Ann.ID, "create", "model", "", "production"); d.Str("reason") != core.ReasonEnvironment {
			t.Fatalf("production: %s", d.Raw)
		}
		// An unregistered resource: fine for create, a clear deny otherwise.
		if d := w.Check(w.Ann.ID, "create", "model", "m-new", "development"); d.Str("decision") != "allow" {
			t.Fatalf("create unregistered: %s", d.Raw)
		}
		if d := w.Check(w.Ann.ID, "edit", "model", "m-new"); d.Str("reason") != decisions.ReasonUnknownResource || !strings.Contains(d.Str("message"), "not registered") {
			t.Fatalf("edit unregistered: %s", d.Raw)
		}
		if d := w.Check("nobody@acme.test", "view", "", ""); d.Str("reason") != decisions.ReasonUnknownUser {
			t.Fatalf("unknown user: %s", d.Raw)
		}

		// A new grant is seen by the very next decision.
		w.API("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "viewer", "environments": []string{"production"}}).Want(t, 201)
		if d := w.Check(w.Ann.ID, "view", "", "", "production"); d.Str("decision") != "allow" {
			t.Fatalf("after viewer grant: %s", d.Raw)
		}
		// SCIM deactivation: the very next decision denies.
		if _, err := w.St.UpdateUser(ctx, scimActor, w.Org.ID, w.Ann.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if d := w.Check(w.Ann.ID, "edit", "model", "m-1"); d.Str("reason") != core.ReasonUserInactive {
			t.Fatalf("after deactivation: %s", d.Raw)
		}
		w.API("POST", "/api/v1/users/"+w.Ann.ID+"/reactivate", nil).Want(t, 200)
		if d := w.Check(w.Ann.ID, "edit", "model", "m-1"); d.Str("decision") != "allow" {
			t.Fatalf("after reactivation: %s", d.Raw)
		}
		// Deleting the mapping removes the path.
		w.API("DELETE", "/api/v1/mappings/"+w.Mapping, nil).Want(t, 204)
		if d := w.Check(w.Ann.ID, "edit", "model", "m-1"); d.Str("reason") != core.ReasonNoGrant {
			t.Fatalf("after mapping delete: %s", d.Raw)
		}
		// A new mapping by the IdP group's external id brings it back, with the new reason.
		m := w.API("POST", "/api/v1/mappings", map[string]any{"directory": w.DirID, "idp_group": "00g1", "group": "engineers"}).Want(t, 201)
		d = w.Check(w.Ann.ID, "edit", "model", "m-1")
		if d.Str("decision") != "allow" || !strings.Contains(string(d.Raw), m.Str("id")) {
			t.Fatalf("after new mapping: %s", d.Raw)
		}
		// IdP membership change (SCIM PATCH members) is seen at once too.
		if err := w.St.ChangeIdPGroupMembers(ctx, scimActor, w.Org.ID, w.IdP.ID, nil, []string{w.Ann.ID}); err != nil {
			t.Fatal(err)
		}
		if d := w.Check(w.Ann.ID, "edit", "model", "m-1"); d.Str("decision") != "deny" {
			t.Fatalf("after leaving the IdP group: %s", d.Raw)
		}
	})
}

// TestRepeatedChecksAnswerAlike: a memoized answer is byte for byte the answer
// first computed, and a change replaces it at once.
func TestRepeatedChecksAnswerAlike(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		first := w.Check(w.Ann.ID, "edit", "model", "m-1")
		for range 3 {
			if again := w.Check(w.Ann.ID, "edit", "model", "m-1"); string(again.Raw) != string(first.Raw) {
				t.Fatalf("repeated answer differs:\n%s\n%s", first.Raw, again.Raw)
			}
		}
		if _, err := w.St.UpdateUser(context.Background(), scimActor, w.Org.ID, w.Ann.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if d := w.Check(w.Ann.ID, "edit", "model", "m-1"); d.Str("reason") != core.ReasonUserInactive {
			t.Fatalf("after deactivation: %s", d.Raw)
		}
	})
}

// TestCacheIsCoherentAcrossInstances: two servers on one database, both with warm
// caches; a change made through one (or straight in the store, as SCIM does) is
// reflected in the next decision of the other.
func TestCacheIsCoherentAcrossInstances(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		_, srv2 := apitest.NewInstance(t, w.St, w.Sess)
		ask := func(base string) string {
			r := apitest.Call(t, base, "POST", "/api/v1/check", map[string]any{"user": w.Ann.ID, "workspace": "marketing", "action": "view", "environment": "production"}, apitest.WithToken(w.Token)).Want(t, 200)
			return r.Str("decision")
		}
		for range 3 { // warm both caches
			if ask(w.Srv.URL) != "deny" || ask(srv2.URL) != "deny" {
				t.Fatal("viewer in production before any grant")
			}
		}
		apitest.Call(t, w.Srv.URL, "POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "viewer"}, apitest.WithToken(w.Token)).Want(t, 201)
		if got := ask(srv2.URL); got != "allow" {
			t.Fatalf("instance 2 after a grant on instance 1: %s", got)
		}
		if _, err := w.St.UpdateUser(context.Background(), scimActor, w.Org.ID, w.Ann.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if ask(w.Srv.URL) != "deny" || ask(srv2.URL) != "deny" {
			t.Fatal("a deactivated user is still allowed on an instance")
		}
		// A revoked token stops working on every instance at once.
		tok := apitest.Call(t, w.Srv.URL, "POST", "/api/v1/tokens", map[string]any{"name": "app"}, apitest.WithToken(w.Token)).Want(t, 201)
		secret, id := tok.Str("secret"), tok.Str("id")
		apitest.Call(t, srv2.URL, "GET", "/api/v1/org", nil, apitest.WithToken(secret)).Want(t, 200)
		apitest.Call(t, w.Srv.URL, "DELETE", "/api/v1/tokens/"+id, nil, apitest.WithToken(w.Token)).Want(t, 204)
		apitest.Call(t, srv2.URL, "GET", "/api/v1/org", nil, apitest.WithToken(secret)).Want(t, 401)
	})
}

func TestCheckBatch(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		q := func(action, typ, id string) map[string]any {
			return map[string]any{"user": "ann@acme.test", "workspace": "marketing", "action": action, "resource": map[string]any{"type": typ, "id": id}}
		}
		r := w.API("POST", "/api/v1/check/batch", map[string]any{"checks": []any{q("edit", "model", "m-1"), q("edit", "source", "s-1"), q("delete", "model", "zzz")}}).Want(t, 200)
		var got []string
		for _, d := range r.Body["results"].([]any) {
			got = append(got, d.(map[string]any)["decision"].(string))
		}
		if !slices.Equal(got, []string{"allow", "deny", "deny"}) {
			t.Fatalf("batch: %v (%s)", got, r.Raw)
		}
		many := make([]any, decisions.MaxBatch+1)
		for i := range many {
			many[i] = q("view", "model", "m-1")
		}
		r = w.API("POST", "/api/v1/check/batch", map[string]any{"checks": many}).Want(t, 400)
		if !strings.Contains(r.Str("detail"), "at most 1000") {
			t.Fatalf("too big: %s", r.Raw)
		}
		r = w.API("POST", "/api/v1/check/batch", map[string]any{"checks": []any{q("fly", "model", "m-1")}}).Want(t, 400)
		if !strings.Contains(r.Str("detail"), "checks[0]") {
			t.Fatalf("bad question: %s", r.Raw)
		}
	})
}

func TestProblemDetails(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewEnv(t, b)
		isProblem := func(r apitest.Resp, status int) {
			t.Helper()
			r.Want(t, status)
			if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if int(r.Body["status"].(float64)) != status || r.Str("title") == "" || r.Str("request_id") == "" {
				t.Fatalf("problem body: %s", r.Raw)
			}
		}
		isProblem(apitest.Call(t, e.Srv.URL, "GET", "/api/v1/workspaces", nil), 401)
		isProblem(apitest.Call(t, e.Srv.URL, "GET", "/api/v1/workspaces", nil, apitest.WithToken("nope")), 401)
		isProblem(e.API("POST", "/api/v1/groups", `{"name":"x","color":"red"}`), 400)
		isProblem(e.API("POST", "/api/v1/groups", `{"name":`), 400)
		isProblem(e.API("POST", "/api/v1/groups", `name=x`, apitest.WithContentType("application/x-www-form-urlencoded")), 415)
		isProblem(e.API("POST", "/api/v1/groups", `{}`), 422)
		isProblem(e.API("GET", "/api/v1/workspaces/nope", nil), 404)
		isProblem(e.API("POST", "/api/v1/workspaces", map[string]any{"slug": "a", "environments": []string{"dev", "dev"}}), 422)
		e.API("POST", "/api/v1/groups", map[string]any{"name": "g"}).Want(t, 201)
		isProblem(e.API("POST", "/api/v1/groups", map[string]any{"name": "G"}), 409)
		isProblem(e.API("GET", "/api/v1/users?limit=5000", nil), 400)
		// The last org admin cannot be removed or deactivated.
		r := e.API("DELETE", "/api/v1/org/admins/"+e.Admin.ID, nil)
		isProblem(r, 409)
		if !strings.Contains(r.Str("detail"), "at least one active org admin") {
			t.Fatalf("last admin: %s", r.Raw)
		}
		isProblem(e.API("POST", "/api/v1/users/admin@acme.test/deactivate", nil), 409)
		// Big bodies are refused.
		isProblem(e.API("POST", "/api/v1/groups", `{"name":"`+strings.Repeat("x", api.MaxBody)+`"}`), 413)
		// Nothing was written by the refused requests.
		gs := e.API("GET", "/api/v1/groups", nil).Want(t, 200)
		if len(gs.Items()) != 1 {
			t.Fatalf("groups: %s", gs.Raw)
		}
	})
}

func TestOrgAdminTransfer(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewEnv(t, b)
		bob := e.User("bob")
		r := e.API("POST", "/api/v1/org/admins/transfer", map[string]any{"from": e.Admin.ID, "to": "bob@acme.test"}).Want(t, 200)
		if items := r.Items(); len(items) != 1 || items[0]["id"] != bob.ID {
			t.Fatalf("admins after transfer: %s", r.Raw)
		}
		e.API("DELETE", "/api/v1/org/admins/"+bob.ID, nil).Want(t, 409)
		e.API("PUT", "/api/v1/org/admins/"+e.Admin.ID, nil).Want(t, 200)
		e.API("DELETE", "/api/v1/org/admins/"+bob.ID, nil).Want(t, 204)
	})
}

// TestAnotherOrgSeesNothing: a token of org B reaches none of org A's objects.
func TestAnotherOrgSeesNothing(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		ctx := context.Background()
		sys := core.Actor{Kind: core.ActorSystem}
		orgB, _, err := w.St.CreateOrg(ctx, sys, "globex", "Globex", "admin@globex.test")
		if err != nil {
			t.Fatal(err)
		}
		_, secretB, err := w.St.CreateToken(ctx, sys, orgB.ID, "api", "b", "")
		if err != nil {
			t.Fatal(err)
		}
		asB := func(method, path string, body any) apitest.Resp {
			return apitest.Call(t, w.Srv.URL, method, path, body, apitest.WithToken(secretB))
		}
		ws := w.API("GET", "/api/v1/workspaces/marketing", nil).Want(t, 200)
		g := w.API("GET", "/api/v1/groups/engineers", nil).Want(t, 200)
		for _, p := range []string{
			"/api/v1/workspaces/marketing", "/api/v1/workspaces/" + ws.Str("id"), "/api/v1/groups/" + g.Str("id"),
			"/api/v1/users/" + w.Ann.ID, "/api/v1/users/ann@acme.test", "/api/v1/mappings/" + w.Mapping,
			"/api/v1/directories/okta", "/api/v1/idp-groups/" + w.IdP.ID, "/api/v1/users/" + w.Ann.ID + "/access",
		} {
			asB("GET", p, nil).Want(t, 404)
		}
		for _, p := range []string{"/api/v1/workspaces", "/api/v1/groups", "/api/v1/mappings", "/api/v1/idp-groups", "/api/v1/grants", "/api/v1/directories", "/api/v1/tokens"} {
			r := asB("GET", p, nil).Want(t, 200)
			if n := len(r.Items()); n != 1 && p == "/api/v1/tokens" || n != 0 && p != "/api/v1/tokens" {
				t.Fatalf("%s lists %d of another org's items: %s", p, n, r.Raw)
			}
		}
		r := asB("GET", "/api/v1/users", nil).Want(t, 200)
		for _, u := range r.Items() {
			if u["org_id"] != orgB.ID {
				t.Fatalf("user of another org listed: %v", u)
			}
		}
		if d := asB("POST", "/api/v1/check", map[string]any{"user": w.Ann.ID, "workspace": ws.Str("id"), "action": "view"}).Want(t, 200); d.Str("decision") != "deny" {
			t.Fatalf("cross-org check: %s", d.Raw)
		}
		asB("POST", "/api/v1/grants", map[string]any{"group": g.Str("id"), "workspace": ws.Str("id"), "role": "admin"}).Want(t, 404)
		asB("POST", "/api/v1/mappings", map[string]any{"directory": w.DirID, "idp_group": "x", "group": "engineers"}).Want(t, 404)
		asB("DELETE", "/api/v1/mappings/"+w.Mapping, nil).Want(t, 404)
		w.API("GET", "/api/v1/mappings/"+w.Mapping, nil).Want(t, 200)
	})
}

// TestSessionCallersGetTheirOwnRights: people act with what core.Decide gives them.
func TestSessionCallersGetTheirOwnRights(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		ctx := context.Background()
		w.API("POST", "/api/v1/workspaces", map[string]any{"slug": "sales", "environments": []string{"production"}}).Want(t, 201)
		w.API("POST", "/api/v1/groups", map[string]any{"name": "mkt-admins"}).Want(t, 201)
		w.API("POST", "/api/v1/groups", map[string]any{"name": "watchers"}).Want(t, 201)
		w.API("POST", "/api/v1/grants", map[string]any{"group": "mkt-admins", "workspace": "marketing", "role": "admin"}).Want(t, 201)
		w.API("POST", "/api/v1/grants", map[string]any{"group": "watchers", "workspace": "marketing", "role": "viewer"}).Want(t, 201)
		boss, vic := w.User("boss"), w.User("vic")
		w.API("PUT", "/api/v1/groups/mkt-admins/members/"+boss.ID, nil).Want(t, 204)
		w.API("PUT", "/api/v1/groups/watchers/members/vic@acme.test", nil).Want(t, 204)
		asBoss, asVic := w.Session(boss), w.Session(vic)
		base := w.Srv.URL

		// The viewer reads what they can see and changes nothing.
		apitest.Call(t, base, "GET", "/api/v1/workspaces/marketing", nil, asVic).Want(t, 200)
		apitest.Call(t, base, "GET", "/api/v1/workspaces/sales", nil, asVic).Want(t, 404)
		if r := apitest.Call(t, base, "GET", "/api/v1/workspaces", nil, asVic).Want(t, 200); len(r.Items()) != 1 {
			t.Fatalf("viewer sees workspaces: %s", r.Raw)
		}
		if r := apitest.Call(t, base, "GET", "/api/v1/workspaces/marketing/resources", nil, asVic).Want(t, 200); len(r.Items()) != 2 {
			t.Fatalf("viewer sees resources: %s", r.Raw)
		}
		apitest.Call(t, base, "POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "model", "id": "m-9"}, asVic).Want(t, 403)
		apitest.Call(t, base, "DELETE", "/api/v1/workspaces/marketing/resources/model:m-1", nil, asVic).Want(t, 403)
		apitest.Call(t, base, "POST", "/api/v1/grants", map[string]any{"group": "watchers", "workspace": "marketing", "role": "admin"}, asVic).Want(t, 403)
		apitest.Call(t, base, "GET", "/api/v1/users", nil, asVic).Want(t, 403)
		apitest.Call(t, base, "GET", "/api/v1/audit", nil, asVic).Want(t, 403)
		apitest.Call(t, base, "GET", "/api/v1/users/"+vic.ID+"/access", nil, asVic).Want(t, 200)
		apitest.Call(t, base, "GET", "/api/v1/users/"+boss.ID+"/access", nil, asVic).Want(t, 404)
		if d := apitest.Call(t, base, "POST", "/api/v1/check", map[string]any{"user": vic.ID, "workspace": "marketing", "action": "view"}, asVic).Want(t, 200); d.Str("decision") != "allow" {
			t.Fatalf("self check: %s", d.Raw)
		}
		apitest.Call(t, base, "POST", "/api/v1/check", map[string]any{"user": boss.ID, "workspace": "marketing", "action": "view"}, asVic).Want(t, 403)
		// Answers are memoized per generation; one first asked by an admin still
		// keeps the own-access rule for a person, and a person's own answer is theirs.
		bossQ := map[string]any{"user": boss.ID, "workspace": "marketing", "action": "edit"}
		w.API("POST", "/api/v1/check", bossQ).Want(t, 200)
		apitest.Call(t, base, "POST", "/api/v1/check", bossQ, asVic).Want(t, 403)
		apitest.Call(t, base, "POST", "/api/v1/check", bossQ, asBoss).Want(t, 200)
		nobodyQ := map[string]any{"user": "nobody@acme.test", "workspace": "marketing", "action": "view"}
		w.API("POST", "/api/v1/check", nobodyQ).Want(t, 200)
		apitest.Call(t, base, "POST", "/api/v1/check", nobodyQ, asVic).Want(t, 403)

		// The workspace Admin manages that workspace's access and spaces, nothing else.
		apitest.Call(t, base, "POST", "/api/v1/grants", map[string]any{"group": "watchers", "workspace": "marketing", "role": "editor", "environments": []string{"development"}}, asBoss).Want(t, 201)
		apitest.Call(t, base, "POST", "/api/v1/workspaces/marketing/spaces", map[string]any{"name": "finance"}, asBoss).Want(t, 201)
		apitest.Call(t, base, "POST", "/api/v1/grants", map[string]any{"group": "watchers", "workspace": "sales", "role": "viewer"}, asBoss).Want(t, 404)
		apitest.Call(t, base, "POST", "/api/v1/groups", map[string]any{"name": "x"}, asBoss).Want(t, 403)
		apitest.Call(t, base, "POST", "/api/v1/workspaces", map[string]any{"slug": "x", "environments": []string{"p"}}, asBoss).Want(t, 403)

		// Spaces: a resource in a space unassigned to the viewer's groups vanishes for them.
		apitest.Call(t, base, "PATCH", "/api/v1/workspaces/marketing/resources/model:m-1", map[string]any{"space": "finance"}, asBoss).Want(t, 200)
		if r := apitest.Call(t, base, "GET", "/api/v1/workspaces/marketing/resources", nil, asVic).Want(t, 200); len(r.Items()) != 1 {
			t.Fatalf("viewer sees a resource of an unassigned space: %s", r.Raw)
		}
		apitest.Call(t, base, "GET", "/api/v1/workspaces/marketing/resources/model:m-1", nil, asVic).Want(t, 404)
		apitest.Call(t, base, "PUT", "/api/v1/workspaces/marketing/spaces/finance/groups/watchers", nil, asBoss).Want(t, 204)
		apitest.Call(t, base, "GET", "/api/v1/workspaces/marketing/resources/model:m-1", nil, asVic).Want(t, 200)

		// A deactivated person's session stops working.
		if _, err := w.St.UpdateUser(ctx, scimActor, w.Org.ID, vic.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		apitest.Call(t, base, "GET", "/api/v1/workspaces/marketing", nil, asVic).Want(t, 401)
	})
}

func TestPagingAndFilters(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewEnv(t, b)
		for i := range 5 {
			e.API("POST", "/api/v1/groups", map[string]any{"name": fmt.Sprintf("g%d", i)}).Want(t, 201)
			e.User(fmt.Sprintf("user%d", i))
		}
		var names []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			r := e.API("GET", "/api/v1/groups?limit=2&after="+after, nil).Want(t, 200)
			for _, it := range r.Items() {
				names = append(names, it["name"].(string))
			}
			if after = r.Str("next"); after == "" {
				break
			}
		}
		if !slices.Equal(names, []string{"g0", "g1", "g2", "g3", "g4"}) {
			t.Fatalf("paged groups: %v", names)
		}
		if r := e.API("GET", "/api/v1/users?q=user3", nil).Want(t, 200); len(r.Items()) != 1 {
			t.Fatalf("search: %s", r.Raw)
		}
		if r := e.API("GET", "/api/v1/users?email=USER2@acme.test", nil).Want(t, 200); len(r.Items()) != 1 {
			t.Fatalf("email: %s", r.Raw)
		}
		e.API("POST", "/api/v1/users/user1@acme.test/deactivate", nil).Want(t, 200)
		if r := e.API("GET", "/api/v1/users?status=inactive", nil).Want(t, 200); len(r.Items()) != 1 {
			t.Fatalf("status: %s", r.Raw)
		}
		r := e.API("GET", "/api/v1/audit?action=group.&limit=2", nil).Want(t, 200)
		if len(r.Items()) != 2 || r.Str("next") == "" {
			t.Fatalf("audit page: %s", r.Raw)
		}
		r = e.API("GET", "/api/v1/audit?actor=nobody", nil).Want(t, 200)
		if len(r.Items()) != 0 {
			t.Fatalf("audit by actor: %s", r.Raw)
		}
		e.API("GET", "/api/v1/audit?since=yesterday", nil).Want(t, 400)
	})
}

func TestAccessMatrix(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		r := w.API("GET", "/api/v1/users/ann@acme.test/access", nil).Want(t, 200)
		wss := r.Body["workspaces"].([]any)
		if len(wss) != 1 {
			t.Fatalf("matrix: %s", r.Raw)
		}
		envs := wss[0].(map[string]any)["environments"].([]any)
		dev, prod := envs[0].(map[string]any), envs[1].(map[string]any)
		roles := dev["roles"].([]any)
		if dev["environment"] != "development" || len(roles) != 1 || len(prod["roles"].([]any)) != 0 {
			t.Fatalf("matrix: %s", r.Raw)
		}
		role := roles[0].(map[string]any)
		via := role["via"].([]any)[0].(map[string]any)
		if role["role"] != "editor" || role["group"].(map[string]any)["name"] != "engineers" || via["idp_group"] != "Data Eng" || via["mapping_id"] != w.Mapping {
			t.Fatalf("matrix role: %s", r.Raw)
		}
	})
}

func TestWorkspaceResourcesAndRoles(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		w.API("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "source", "id": "s-1"}).Want(t, 409)
		w.API("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "rocket", "id": "r"}).Want(t, 422)
		w.API("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "model", "id": "m-2", "environment": "staging"}).Want(t, 422)
		r := w.API("PATCH", "/api/v1/workspaces/marketing/resources/source:s-1", map[string]any{"name": "SFDC", "environment": "production"}).Want(t, 200)
		if r.Str("name") != "SFDC" {
			t.Fatalf("rename: %s", r.Raw)
		}
		if r := w.API("GET", "/api/v1/workspaces/marketing/resources?type=source&environment=production", nil).Want(t, 200); len(r.Items()) != 1 {
			t.Fatalf("filter: %s", r.Raw)
		}
		// Custom role: edit on source s-1 only.
		w.API("POST", "/api/v1/roles", map[string]any{"name": "s1-editor", "rules": []any{map[string]any{"actions": []string{"edit"}, "resource_type": "source", "resource_id": "s-1"}}}).Want(t, 201)
		w.API("POST", "/api/v1/roles", map[string]any{"name": "bad", "rules": []any{map[string]any{"actions": []string{"fly"}, "resource_type": "source"}}}).Want(t, 422)
		w.API("POST", "/api/v1/roles", map[string]any{"name": "Editor", "rules": []any{map[string]any{"actions": []string{"view"}, "resource_type": "*"}}}).Want(t, 422)
		w.API("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "s1-editor"}).Want(t, 201)
		if d := w.Check(w.Ann.ID, "edit", "source", "s-1"); d.Str("decision") != "allow" || !strings.Contains(string(d.Raw), "s1-editor") {
			t.Fatalf("custom role: %s", d.Raw)
		}
		if r := w.API("GET", "/api/v1/roles", nil).Want(t, 200); len(r.Items()) != 5 {
			t.Fatalf("roles: %s", r.Raw)
		}
		w.API("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "superuser"}).Want(t, 422)
		w.API("POST", "/api/v1/workspaces/marketing/environments", map[string]any{"name": "staging"}).Want(t, 201)
		w.API("DELETE", "/api/v1/workspaces/marketing/resources/source:s-1", nil).Want(t, 204)
		w.API("GET", "/api/v1/workspaces/marketing/resources/source:s-1", nil).Want(t, 404)
	})
}

func TestDirectoryTokensRotate(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		ctx := context.Background()
		list := w.API("GET", "/api/v1/directories/okta/tokens", nil).Want(t, 200)
		if len(list.Items()) != 1 || strings.Contains(string(list.Raw), "secret") {
			t.Fatalf("token list: %s", list.Raw)
		}
		old := list.Items()[0]["id"].(string)
		nt := w.API("POST", "/api/v1/directories/okta/tokens", nil).Want(t, 201)
		if nt.Str("secret") == "" {
			t.Fatalf("new token: %s", nt.Raw)
		}
		// Both tokens are live until the old one is revoked.
		if _, err := w.St.Authenticate(ctx, nt.Str("secret")); err != nil {
			t.Fatal(err)
		}
		if r := w.API("GET", "/api/v1/directories/okta/tokens", nil).Want(t, 200); len(r.Items()) != 2 {
			t.Fatalf("after rotate: %s", r.Raw)
		}
		w.API("DELETE", "/api/v1/directories/okta/tokens/"+old, nil).Want(t, 204)
		w.API("DELETE", "/api/v1/tokens/"+nt.Str("id"), nil).Want(t, 404) // not an API token
		// A SCIM token does not open the API.
		apitest.Call(t, w.Srv.URL, "GET", "/api/v1/org", nil, apitest.WithToken(nt.Str("secret"))).Want(t, 401)
	})
}

// TestRoleDisplayNames: the pre-built roles are named in requests as the docs show
// them ("Draft Contributor") as well as by their names (draft_contributor), and a
// custom role cannot take a pre-built role's display name.
func TestRoleDisplayNames(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		g := w.API("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "Draft Contributor"}).Want(t, 201)
		if g.Str("role") != core.RoleDraftContributor {
			t.Fatalf("grant by display name: %s", g.Raw)
		}
		if r := w.API("GET", "/api/v1/roles/Draft%20Contributor", nil).Want(t, 200); r.Str("id") != core.RoleDraftContributor {
			t.Fatalf("role by display name: %s", r.Raw)
		}
		w.API("DELETE", "/api/v1/roles/Draft%20Contributor", nil).Want(t, 422)
		w.API("POST", "/api/v1/roles", map[string]any{"name": "draft contributor", "rules": []any{map[string]any{"actions": []string{"view"}, "resource_type": "*"}}}).Want(t, 422)
		w.API("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "Draft Contributors"}).Want(t, 422)
	})
}
