package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

var scimActor = core.Actor{Kind: core.ActorSCIM, Name: "okta"}

// world is the "done" scenario: Okta provisioned Ann into IdP group
// "Data Eng"; the admin maps it to user group "engineers", grants engineers Editor
// in development of workspace "marketing", and the app registers source s-1.
type world struct {
	*env
	ann     core.User
	idp     core.IdPGroup
	dirID   string
	mapping string
}

func newWorld(t *testing.T, b storetest.Backend) *world {
	e := newEnv(t, b)
	ctx := context.Background()
	e.api("POST", "/api/v1/workspaces", map[string]any{"slug": "marketing", "name": "Marketing", "environments": []string{"development", "production"}}).want(t, 201)
	g := e.api("POST", "/api/v1/groups", map[string]any{"name": "engineers"}).want(t, 201)
	if g.str("id") == "" {
		t.Fatalf("group without id: %s", g.raw)
	}
	d := e.api("POST", "/api/v1/directories", map[string]any{"name": "okta"}).want(t, 201)
	if !strings.HasPrefix(d.str("token", "secret"), "") || d.str("token", "secret") == "" {
		t.Fatalf("directory without its token secret: %s", d.raw)
	}
	dirID := d.str("directory", "id")
	ann := e.user("ann")
	idp, err := e.st.CreateIdPGroup(ctx, scimActor, core.IdPGroup{OrgID: e.org.ID, DirectoryID: dirID, ExternalID: "00g1", DisplayName: "Data Eng"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.ChangeIdPGroupMembers(ctx, scimActor, e.org.ID, idp.ID, []string{ann.ID}, nil); err != nil {
		t.Fatal(err)
	}
	m := e.api("POST", "/api/v1/mappings", map[string]any{"directory": "okta", "idp_group": "Data Eng", "group": "engineers"}).want(t, 201)
	e.api("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "editor", "environments": []string{"development"}}).want(t, 201)
	e.api("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "source", "id": "s-1", "name": "Salesforce", "environment": "development"}).want(t, 201)
	e.api("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "model", "id": "m-1", "name": "Churn", "environment": "development"}).want(t, 201)
	return &world{env: e, ann: ann, idp: idp, dirID: dirID, mapping: m.str("id")}
}

func (w *world) check(user, action, typ, id string, extra ...string) resp {
	q := map[string]any{"user": user, "workspace": "marketing", "action": action}
	if typ != "" {
		q["resource"] = map[string]any{"type": typ, "id": id}
	}
	if len(extra) > 0 {
		q["environment"] = extra[0]
	}
	return w.api("POST", "/api/v1/check", q).want(w.t, 200)
}

func TestCheckExplainsAndFollowsChanges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newWorld(t, b)
		ctx := context.Background()

		d := w.check("ann@acme.test", "edit", "model", "m-1")
		if d.str("decision") != "allow" {
			t.Fatalf("edit model: %s", d.raw)
		}
		if got, want := chainKinds(d.body), []string{"user", "idp_group", "mapping", "user_group", "grant", "role", "rule"}; !slices.Equal(got, want) {
			t.Fatalf("chain %v, want %v (%s)", got, want, d.raw)
		}
		// Editors may not edit existing sources.
		if d := w.check(w.ann.ID, "edit", "source", "s-1"); d.str("decision") != "deny" || d.str("reason") != core.ReasonRoleForbids {
			t.Fatalf("edit source: %s", d.raw)
		}
		// Not granted in production.
		if d := w.check(w.ann.ID, "create", "model", "", "production"); d.str("reason") != core.ReasonEnvironment {
			t.Fatalf("production: %s", d.raw)
		}
		// An unregistered resource: fine for create, a clear deny otherwise.
		if d := w.check(w.ann.ID, "create", "model", "m-new", "development"); d.str("decision") != "allow" {
			t.Fatalf("create unregistered: %s", d.raw)
		}
		if d := w.check(w.ann.ID, "edit", "model", "m-new"); d.str("reason") != decisions.ReasonUnknownResource || !strings.Contains(d.str("message"), "not registered") {
			t.Fatalf("edit unregistered: %s", d.raw)
		}
		if d := w.check("nobody@acme.test", "view", "", ""); d.str("reason") != decisions.ReasonUnknownUser {
			t.Fatalf("unknown user: %s", d.raw)
		}

		// A new grant is seen by the very next decision.
		w.api("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "viewer", "environments": []string{"production"}}).want(t, 201)
		if d := w.check(w.ann.ID, "view", "", "", "production"); d.str("decision") != "allow" {
			t.Fatalf("after viewer grant: %s", d.raw)
		}
		// SCIM deactivation: the very next decision denies.
		if _, err := w.st.UpdateUser(ctx, scimActor, w.org.ID, w.ann.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if d := w.check(w.ann.ID, "edit", "model", "m-1"); d.str("reason") != core.ReasonUserInactive {
			t.Fatalf("after deactivation: %s", d.raw)
		}
		w.api("POST", "/api/v1/users/"+w.ann.ID+"/reactivate", nil).want(t, 200)
		if d := w.check(w.ann.ID, "edit", "model", "m-1"); d.str("decision") != "allow" {
			t.Fatalf("after reactivation: %s", d.raw)
		}
		// Deleting the mapping removes the path.
		w.api("DELETE", "/api/v1/mappings/"+w.mapping, nil).want(t, 204)
		if d := w.check(w.ann.ID, "edit", "model", "m-1"); d.str("reason") != core.ReasonNoGrant {
			t.Fatalf("after mapping delete: %s", d.raw)
		}
		// A new mapping by the IdP group's external id brings it back, with the new reason.
		m := w.api("POST", "/api/v1/mappings", map[string]any{"directory": w.dirID, "idp_group": "00g1", "group": "engineers"}).want(t, 201)
		d = w.check(w.ann.ID, "edit", "model", "m-1")
		if d.str("decision") != "allow" || !strings.Contains(string(d.raw), m.str("id")) {
			t.Fatalf("after new mapping: %s", d.raw)
		}
		// IdP membership change (SCIM PATCH members) is seen at once too.
		if err := w.st.ChangeIdPGroupMembers(ctx, scimActor, w.org.ID, w.idp.ID, nil, []string{w.ann.ID}); err != nil {
			t.Fatal(err)
		}
		if d := w.check(w.ann.ID, "edit", "model", "m-1"); d.str("decision") != "deny" {
			t.Fatalf("after leaving the IdP group: %s", d.raw)
		}
	})
}

// TestRepeatedChecksAnswerAlike: a memoized answer is byte for byte the answer
// first computed, and a change replaces it at once.
func TestRepeatedChecksAnswerAlike(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newWorld(t, b)
		first := w.check(w.ann.ID, "edit", "model", "m-1")
		for range 3 {
			if again := w.check(w.ann.ID, "edit", "model", "m-1"); string(again.raw) != string(first.raw) {
				t.Fatalf("repeated answer differs:\n%s\n%s", first.raw, again.raw)
			}
		}
		if _, err := w.st.UpdateUser(context.Background(), scimActor, w.org.ID, w.ann.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if d := w.check(w.ann.ID, "edit", "model", "m-1"); d.str("reason") != core.ReasonUserInactive {
			t.Fatalf("after deactivation: %s", d.raw)
		}
	})
}

// TestCacheIsCoherentAcrossInstances: two servers on one database, both with warm
// caches; a change made through one (or straight in the store, as SCIM does) is
// reflected in the next decision of the other.
func TestCacheIsCoherentAcrossInstances(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newWorld(t, b)
		_, srv2 := newInstance(t, w.st, w.sess)
		ask := func(base string) string {
			r := call(t, base, "POST", "/api/v1/check", map[string]any{"user": w.ann.ID, "workspace": "marketing", "action": "view", "environment": "production"}, withToken(w.token)).want(t, 200)
			return r.str("decision")
		}
		for range 3 { // warm both caches
			if ask(w.srv.URL) != "deny" || ask(srv2.URL) != "deny" {
				t.Fatal("viewer in production before any grant")
			}
		}
		call(t, w.srv.URL, "POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "viewer"}, withToken(w.token)).want(t, 201)
		if got := ask(srv2.URL); got != "allow" {
			t.Fatalf("instance 2 after a grant on instance 1: %s", got)
		}
		if _, err := w.st.UpdateUser(context.Background(), scimActor, w.org.ID, w.ann.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if ask(w.srv.URL) != "deny" || ask(srv2.URL) != "deny" {
			t.Fatal("a deactivated user is still allowed on an instance")
		}
		// A revoked token stops working on every instance at once.
		tok := call(t, w.srv.URL, "POST", "/api/v1/tokens", map[string]any{"name": "app"}, withToken(w.token)).want(t, 201)
		secret, id := tok.str("secret"), tok.str("id")
		call(t, srv2.URL, "GET", "/api/v1/org", nil, withToken(secret)).want(t, 200)
		call(t, w.srv.URL, "DELETE", "/api/v1/tokens/"+id, nil, withToken(w.token)).want(t, 204)
		call(t, srv2.URL, "GET", "/api/v1/org", nil, withToken(secret)).want(t, 401)
	})
}

func TestCheckBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newWorld(t, b)
		q := func(action, typ, id string) map[string]any {
			return map[string]any{"user": "ann@acme.test", "workspace": "marketing", "action": action, "resource": map[string]any{"type": typ, "id": id}}
		}
		r := w.api("POST", "/api/v1/check/batch", map[string]any{"checks": []any{q("edit", "model", "m-1"), q("edit", "source", "s-1"), q("delete", "model", "zzz")}}).want(t, 200)
		var got []string
		for _, d := range r.body["results"].([]any) {
			got = append(got, d.(map[string]any)["decision"].(string))
		}
		if !slices.Equal(got, []string{"allow", "deny", "deny"}) {
			t.Fatalf("batch: %v (%s)", got, r.raw)
		}
		many := make([]any, decisions.MaxBatch+1)
		for i := range many {
			many[i] = q("view", "model", "m-1")
		}
		r = w.api("POST", "/api/v1/check/batch", map[string]any{"checks": many}).want(t, 400)
		if !strings.Contains(r.str("detail"), "at most 1000") {
			t.Fatalf("too big: %s", r.raw)
		}
		r = w.api("POST", "/api/v1/check/batch", map[string]any{"checks": []any{q("fly", "model", "m-1")}}).want(t, 400)
		if !strings.Contains(r.str("detail"), "checks[0]") {
			t.Fatalf("bad question: %s", r.raw)
		}
	})
}

func TestProblemDetails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		isProblem := func(r resp, status int) {
			t.Helper()
			r.want(t, status)
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if int(r.body["status"].(float64)) != status || r.str("title") == "" || r.str("request_id") == "" {
				t.Fatalf("problem body: %s", r.raw)
			}
		}
		isProblem(call(t, e.srv.URL, "GET", "/api/v1/workspaces", nil), 401)
		isProblem(call(t, e.srv.URL, "GET", "/api/v1/workspaces", nil, withToken("nope")), 401)
		isProblem(e.api("POST", "/api/v1/groups", `{"name":"x","color":"red"}`), 400)
		isProblem(e.api("POST", "/api/v1/groups", `{"name":`), 400)
		isProblem(e.api("POST", "/api/v1/groups", `name=x`, withContentType("application/x-www-form-urlencoded")), 415)
		isProblem(e.api("POST", "/api/v1/groups", `{}`), 422)
		isProblem(e.api("GET", "/api/v1/workspaces/nope", nil), 404)
		isProblem(e.api("POST", "/api/v1/workspaces", map[string]any{"slug": "a", "environments": []string{"dev", "dev"}}), 422)
		e.api("POST", "/api/v1/groups", map[string]any{"name": "g"}).want(t, 201)
		isProblem(e.api("POST", "/api/v1/groups", map[string]any{"name": "G"}), 409)
		isProblem(e.api("GET", "/api/v1/users?limit=5000", nil), 400)
		// The last org admin cannot be removed or deactivated.
		r := e.api("DELETE", "/api/v1/org/admins/"+e.admin.ID, nil)
		isProblem(r, 409)
		if !strings.Contains(r.str("detail"), "at least one active org admin") {
			t.Fatalf("last admin: %s", r.raw)
		}
		isProblem(e.api("POST", "/api/v1/users/admin@acme.test/deactivate", nil), 409)
		// Big bodies are refused.
		isProblem(e.api("POST", "/api/v1/groups", `{"name":"`+strings.Repeat("x", maxBody)+`"}`), 413)
		// Nothing was written by the refused requests.
		gs := e.api("GET", "/api/v1/groups", nil).want(t, 200)
		if len(gs.items()) != 1 {
			t.Fatalf("groups: %s", gs.raw)
		}
	})
}

func TestOrgAdminTransfer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		bob := e.user("bob")
		r := e.api("POST", "/api/v1/org/admins/transfer", map[string]any{"from": e.admin.ID, "to": "bob@acme.test"}).want(t, 200)
		if items := r.items(); len(items) != 1 || items[0]["id"] != bob.ID {
			t.Fatalf("admins after transfer: %s", r.raw)
		}
		e.api("DELETE", "/api/v1/org/admins/"+bob.ID, nil).want(t, 409)
		e.api("PUT", "/api/v1/org/admins/"+e.admin.ID, nil).want(t, 200)
		e.api("DELETE", "/api/v1/org/admins/"+bob.ID, nil).want(t, 204)
	})
}

// TestAnotherOrgSeesNothing: a token of org B reaches none of org A's objects.
func TestAnotherOrgSeesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newWorld(t, b)
		ctx := context.Background()
		sys := core.Actor{Kind: core.ActorSystem}
		orgB, _, err := w.st.CreateOrg(ctx, sys, "globex", "Globex", "admin@globex.test")
		if err != nil {
			t.Fatal(err)
		}
		_, secretB, err := w.st.CreateToken(ctx, sys, orgB.ID, "api", "b", "")
		if err != nil {
			t.Fatal(err)
		}
		asB := func(method, path string, body any) resp {
			return call(t, w.srv.URL, method, path, body, withToken(secretB))
		}
		ws := w.api("GET", "/api/v1/workspaces/marketing", nil).want(t, 200)
		g := w.api("GET", "/api/v1/groups/engineers", nil).want(t, 200)
		for _, p := range []string{
			"/api/v1/workspaces/marketing", "/api/v1/workspaces/" + ws.str("id"), "/api/v1/groups/" + g.str("id"),
			"/api/v1/users/" + w.ann.ID, "/api/v1/users/ann@acme.test", "/api/v1/mappings/" + w.mapping,
			"/api/v1/directories/okta", "/api/v1/idp-groups/" + w.idp.ID, "/api/v1/users/" + w.ann.ID + "/access",
		} {
			asB("GET", p, nil).want(t, 404)
		}
		for _, p := range []string{"/api/v1/workspaces", "/api/v1/groups", "/api/v1/mappings", "/api/v1/idp-groups", "/api/v1/grants", "/api/v1/directories", "/api/v1/tokens"} {
			r := asB("GET", p, nil).want(t, 200)
			if n := len(r.items()); n != 1 && p == "/api/v1/tokens" || n != 0 && p != "/api/v1/tokens" {
				t.Fatalf("%s lists %d of another org's items: %s", p, n, r.raw)
			}
		}
		r := asB("GET", "/api/v1/users", nil).want(t, 200)
		for _, u := range r.items() {
			if u["org_id"] != orgB.ID {
				t.Fatalf("user of another org listed: %v", u)
			}
		}
		if d := asB("POST", "/api/v1/check", map[string]any{"user": w.ann.ID, "workspace": ws.str("id"), "action": "view"}).want(t, 200); d.str("decision") != "deny" {
			t.Fatalf("cross-org check: %s", d.raw)
		}
		asB("POST", "/api/v1/grants", map[string]any{"group": g.str("id"), "workspace": ws.str("id"), "role": "admin"}).want(t, 404)
		asB("POST", "/api/v1/mappings", map[string]any{"directory": w.dirID, "idp_group": "x", "group": "engineers"}).want(t, 404)
		asB("DELETE", "/api/v1/mappings/"+w.mapping, nil).want(t, 404)
		w.api("GET", "/api/v1/mappings/"+w.mapping, nil).want(t, 200)
	})
}

// TestSessionCallersGetTheirOwnRights: people act with what core.Decide gives them.
func TestSessionCallersGetTheirOwnRights(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newWorld(t, b)
		ctx := context.Background()
		w.api("POST", "/api/v1/workspaces", map[string]any{"slug": "sales", "environments": []string{"production"}}).want(t, 201)
		w.api("POST", "/api/v1/groups", map[string]any{"name": "mkt-admins"}).want(t, 201)
		w.api("POST", "/api/v1/groups", map[string]any{"name": "watchers"}).want(t, 201)
		w.api("POST", "/api/v1/grants", map[string]any{"group": "mkt-admins", "workspace": "marketing", "role": "admin"}).want(t, 201)
		w.api("POST", "/api/v1/grants", map[string]any{"group": "watchers", "workspace": "marketing", "role": "viewer"}).want(t, 201)
		boss, vic := w.user("boss"), w.user("vic")
		w.api("PUT", "/api/v1/groups/mkt-admins/members/"+boss.ID, nil).want(t, 204)
		w.api("PUT", "/api/v1/groups/watchers/members/vic@acme.test", nil).want(t, 204)
		asBoss, asVic := w.session(boss), w.session(vic)
		base := w.srv.URL

		// The viewer reads what they can see and changes nothing.
		call(t, base, "GET", "/api/v1/workspaces/marketing", nil, asVic).want(t, 200)
		call(t, base, "GET", "/api/v1/workspaces/sales", nil, asVic).want(t, 404)
		if r := call(t, base, "GET", "/api/v1/workspaces", nil, asVic).want(t, 200); len(r.items()) != 1 {
			t.Fatalf("viewer sees workspaces: %s", r.raw)
		}
		if r := call(t, base, "GET", "/api/v1/workspaces/marketing/resources", nil, asVic).want(t, 200); len(r.items()) != 2 {
			t.Fatalf("viewer sees resources: %s", r.raw)
		}
		call(t, base, "POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "model", "id": "m-9"}, asVic).want(t, 403)
		call(t, base, "DELETE", "/api/v1/workspaces/marketing/resources/model:m-1", nil, asVic).want(t, 403)
		call(t, base, "POST", "/api/v1/grants", map[string]any{"group": "watchers", "workspace": "marketing", "role": "admin"}, asVic).want(t, 403)
		call(t, base, "GET", "/api/v1/users", nil, asVic).want(t, 403)
		call(t, base, "GET", "/api/v1/audit", nil, asVic).want(t, 403)
		call(t, base, "GET", "/api/v1/users/"+vic.ID+"/access", nil, asVic).want(t, 200)
		call(t, base, "GET", "/api/v1/users/"+boss.ID+"/access", nil, asVic).want(t, 404)
		if d := call(t, base, "POST", "/api/v1/check", map[string]any{"user": vic.ID, "workspace": "marketing", "action": "view"}, asVic).want(t, 200); d.str("decision") != "allow" {
			t.Fatalf("self check: %s", d.raw)
		}
		call(t, base, "POST", "/api/v1/check", map[string]any{"user": boss.ID, "workspace": "marketing", "action": "view"}, asVic).want(t, 403)
		// Answers are memoized per generation; one first asked by an admin still
		// keeps the own-access rule for a person, and a person's own answer is theirs.
		bossQ := map[string]any{"user": boss.ID, "workspace": "marketing", "action": "edit"}
		w.api("POST", "/api/v1/check", bossQ).want(t, 200)
		call(t, base, "POST", "/api/v1/check", bossQ, asVic).want(t, 403)
		call(t, base, "POST", "/api/v1/check", bossQ, asBoss).want(t, 200)
		nobodyQ := map[string]any{"user": "nobody@acme.test", "workspace": "marketing", "action": "view"}
		w.api("POST", "/api/v1/check", nobodyQ).want(t, 200)
		call(t, base, "POST", "/api/v1/check", nobodyQ, asVic).want(t, 403)

		// The workspace Admin manages that workspace's access and spaces, nothing else.
		call(t, base, "POST", "/api/v1/grants", map[string]any{"group": "watchers", "workspace": "marketing", "role": "editor", "environments": []string{"development"}}, asBoss).want(t, 201)
		call(t, base, "POST", "/api/v1/workspaces/marketing/spaces", map[string]any{"name": "finance"}, asBoss).want(t, 201)
		call(t, base, "POST", "/api/v1/grants", map[string]any{"group": "watchers", "workspace": "sales", "role": "viewer"}, asBoss).want(t, 404)
		call(t, base, "POST", "/api/v1/groups", map[string]any{"name": "x"}, asBoss).want(t, 403)
		call(t, base, "POST", "/api/v1/workspaces", map[string]any{"slug": "x", "environments": []string{"p"}}, asBoss).want(t, 403)

		// Spaces: a resource in a space unassigned to the viewer's groups vanishes for them.
		call(t, base, "PATCH", "/api/v1/workspaces/marketing/resources/model:m-1", map[string]any{"space": "finance"}, asBoss).want(t, 200)
		if r := call(t, base, "GET", "/api/v1/workspaces/marketing/resources", nil, asVic).want(t, 200); len(r.items()) != 1 {
			t.Fatalf("viewer sees a resource of an unassigned space: %s", r.raw)
		}
		call(t, base, "GET", "/api/v1/workspaces/marketing/resources/model:m-1", nil, asVic).want(t, 404)
		call(t, base, "PUT", "/api/v1/workspaces/marketing/spaces/finance/groups/watchers", nil, asBoss).want(t, 204)
		call(t, base, "GET", "/api/v1/workspaces/marketing/resources/model:m-1", nil, asVic).want(t, 200)

		// A deactivated person's session stops working.
		if _, err := w.st.UpdateUser(ctx, scimActor, w.org.ID, vic.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		call(t, base, "GET", "/api/v1/workspaces/marketing", nil, asVic).want(t, 401)
	})
}

func TestPagingAndFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		for i := range 5 {
			e.api("POST", "/api/v1/groups", map[string]any{"name": fmt.Sprintf("g%d", i)}).want(t, 201)
			e.user(fmt.Sprintf("user%d", i))
		}
		var names []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			r := e.api("GET", "/api/v1/groups?limit=2&after="+after, nil).want(t, 200)
			for _, it := range r.items() {
				names = append(names, it["name"].(string))
			}
			if after = r.str("next"); after == "" {
				break
			}
		}
		if !slices.Equal(names, []string{"g0", "g1", "g2", "g3", "g4"}) {
			t.Fatalf("paged groups: %v", names)
		}
		if r := e.api("GET", "/api/v1/users?q=user3", nil).want(t, 200); len(r.items()) != 1 {
			t.Fatalf("search: %s", r.raw)
		}
		if r := e.api("GET", "/api/v1/users?email=USER2@acme.test", nil).want(t, 200); len(r.items()) != 1 {
			t.Fatalf("email: %s", r.raw)
		}
		e.api("POST", "/api/v1/users/user1@acme.test/deactivate", nil).want(t, 200)
		if r := e.api("GET", "/api/v1/users?status=inactive", nil).want(t, 200); len(r.items()) != 1 {
			t.Fatalf("status: %s", r.raw)
		}
		r := e.api("GET", "/api/v1/audit?action=group.&limit=2", nil).want(t, 200)
		if len(r.items()) != 2 || r.str("next") == "" {
			t.Fatalf("audit page: %s", r.raw)
		}
		r = e.api("GET", "/api/v1/audit?actor=nobody", nil).want(t, 200)
		if len(r.items()) != 0 {
			t.Fatalf("audit by actor: %s", r.raw)
		}
		e.api("GET", "/api/v1/audit?since=yesterday", nil).want(t, 400)
	})
}

func TestAccessMatrix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newWorld(t, b)
		r := w.api("GET", "/api/v1/users/ann@acme.test/access", nil).want(t, 200)
		wss := r.body["workspaces"].([]any)
		if len(wss) != 1 {
			t.Fatalf("matrix: %s", r.raw)
		}
		envs := wss[0].(map[string]any)["environments"].([]any)
		dev, prod := envs[0].(map[string]any), envs[1].(map[string]any)
		roles := dev["roles"].([]any)
		if dev["environment"] != "development" || len(roles) != 1 || len(prod["roles"].([]any)) != 0 {
			t.Fatalf("matrix: %s", r.raw)
		}
		role := roles[0].(map[string]any)
		via := role["via"].([]any)[0].(map[string]any)
		if role["role"] != "editor" || role["group"].(map[string]any)["name"] != "engineers" || via["idp_group"] != "Data Eng" || via["mapping_id"] != w.mapping {
			t.Fatalf("matrix role: %s", r.raw)
		}
	})
}

func TestWorkspaceResourcesAndRoles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newWorld(t, b)
		w.api("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "source", "id": "s-1"}).want(t, 409)
		w.api("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "rocket", "id": "r"}).want(t, 422)
		w.api("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "model", "id": "m-2", "environment": "staging"}).want(t, 422)
		r := w.api("PATCH", "/api/v1/workspaces/marketing/resources/source:s-1", map[string]any{"name": "SFDC", "environment": "production"}).want(t, 200)
		if r.str("name") != "SFDC" {
			t.Fatalf("rename: %s", r.raw)
		}
		if r := w.api("GET", "/api/v1/workspaces/marketing/resources?type=source&environment=production", nil).want(t, 200); len(r.items()) != 1 {
			t.Fatalf("filter: %s", r.raw)
		}
		// Custom role: edit on source s-1 only.
		w.api("POST", "/api/v1/roles", map[string]any{"name": "s1-editor", "rules": []any{map[string]any{"actions": []string{"edit"}, "resource_type": "source", "resource_id": "s-1"}}}).want(t, 201)
		w.api("POST", "/api/v1/roles", map[string]any{"name": "bad", "rules": []any{map[string]any{"actions": []string{"fly"}, "resource_type": "source"}}}).want(t, 422)
		w.api("POST", "/api/v1/roles", map[string]any{"name": "Editor", "rules": []any{map[string]any{"actions": []string{"view"}, "resource_type": "*"}}}).want(t, 422)
		w.api("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "s1-editor"}).want(t, 201)
		if d := w.check(w.ann.ID, "edit", "source", "s-1"); d.str("decision") != "allow" || !strings.Contains(string(d.raw), "s1-editor") {
			t.Fatalf("custom role: %s", d.raw)
		}
		if r := w.api("GET", "/api/v1/roles", nil).want(t, 200); len(r.items()) != 5 {
			t.Fatalf("roles: %s", r.raw)
		}
		w.api("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "superuser"}).want(t, 422)
		w.api("POST", "/api/v1/workspaces/marketing/environments", map[string]any{"name": "staging"}).want(t, 201)
		w.api("DELETE", "/api/v1/workspaces/marketing/resources/source:s-1", nil).want(t, 204)
		w.api("GET", "/api/v1/workspaces/marketing/resources/source:s-1", nil).want(t, 404)
	})
}

func TestDirectoryTokensRotate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newWorld(t, b)
		ctx := context.Background()
		list := w.api("GET", "/api/v1/directories/okta/tokens", nil).want(t, 200)
		if len(list.items()) != 1 || strings.Contains(string(list.raw), "secret") {
			t.Fatalf("token list: %s", list.raw)
		}
		old := list.items()[0]["id"].(string)
		nt := w.api("POST", "/api/v1/directories/okta/tokens", nil).want(t, 201)
		if nt.str("secret") == "" {
			t.Fatalf("new token: %s", nt.raw)
		}
		// Both tokens are live until the old one is revoked.
		if _, err := w.st.Authenticate(ctx, nt.str("secret")); err != nil {
			t.Fatal(err)
		}
		if r := w.api("GET", "/api/v1/directories/okta/tokens", nil).want(t, 200); len(r.items()) != 2 {
			t.Fatalf("after rotate: %s", r.raw)
		}
		w.api("DELETE", "/api/v1/directories/okta/tokens/"+old, nil).want(t, 204)
		w.api("DELETE", "/api/v1/tokens/"+nt.str("id"), nil).want(t, 404) // not an API token
		// A SCIM token does not open the API.
		call(t, w.srv.URL, "GET", "/api/v1/org", nil, withToken(nt.str("secret"))).want(t, 401)
	})
}
