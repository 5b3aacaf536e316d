package scim

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestPaging(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		for i := 0; i < 25; i++ {
			e.createUser(fmt.Sprintf("user%02d@example.com", i), "")
		}
		seen := map[string]bool{}
		for start := 1; start <= 25; start += 10 {
			r := e.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=10", start), "").must(t, 200)
			if r.field("totalResults") != 25.0 || r.field("startIndex") != float64(start) {
				t.Fatalf("page %d: %s", start, r.body)
			}
			for _, x := range r.field("Resources").([]any) {
				id := x.(map[string]any)["id"].(string)
				if seen[id] {
					t.Fatalf("id %s on two pages", id)
				}
				seen[id] = true
			}
		}
		if len(seen) != 25 {
			t.Fatalf("paged through %d users, want 25", len(seen))
		}
		r := e.do("GET", "/Users?count=0", "").must(t, 200)
		if r.field("totalResults") != 25.0 || r.field("Resources.#") != 0.0 {
			t.Errorf("count=0: %s", r.body)
		}
		r = e.do("GET", "/Users?startIndex=100", "").must(t, 200)
		if r.field("totalResults") != 25.0 || r.field("Resources.#") != 0.0 || r.field("itemsPerPage") != 0.0 {
			t.Errorf("past the end: %s", r.body)
		}
		r = e.do("GET", "/Users?startIndex=-4&count=5000", "").must(t, 200)
		if r.field("startIndex") != 1.0 || r.field("Resources.#") != 25.0 {
			t.Errorf("clamped: %s", r.body)
		}
		if r := e.do("GET", "/Users?count=ten", ""); r.status != 400 {
			t.Errorf("count=ten: %d", r.status)
		}
	})
}

func TestAttributesProjection(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		id := e.createUser("p@example.com", `,"title":"T","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D","costCenter":"C"}`)
		r := e.do("GET", "/Users/"+id+"?attributes=userName,name.givenName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "").must(t, 200)
		if r.field("id") != id || r.field("userName") != "p@example.com" || r.field("name.givenName") != "G" || r.field("name.familyName") != nil ||
			r.field("title") != nil || r.field("emails.0.value") != "p@example.com" || r.field("emails.0.type") != nil || r.field("meta") != nil ||
			r.field("{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User}.department") != "D" ||
			r.field("{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User}.costCenter") != nil {
			t.Errorf("attributes: %s", r.body)
		}
		r = e.do("GET", "/Users/"+id+"?excludedAttributes=emails,name.familyName,id", "").must(t, 200)
		if r.field("emails") != nil || r.field("name.familyName") != nil || r.field("name.givenName") != "G" || r.field("id") != id || r.field("title") != "T" {
			t.Errorf("excludedAttributes: %s", r.body)
		}
		r = e.do("GET", "/Users?attributes=userName&filter="+url.QueryEscape(`userName eq "p@example.com"`), "").must(t, 200)
		if r.field("Resources.0.userName") != "p@example.com" || r.field("Resources.0.title") != nil {
			t.Errorf("list attributes: %s", r.body)
		}
		g := e.createGroup("G1")
		e.do("PATCH", "/Groups/"+g, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+id+`"}]}]}`).must(t, 204)
		r = e.do("GET", "/Groups/"+g+"?attributes=displayName", "").must(t, 200)
		if r.field("members") != nil || r.field("displayName") != "G1" {
			t.Errorf("group attributes: %s", r.body)
		}
		r = e.do("GET", "/Groups/"+g+"?attributes=members", "").must(t, 200)
		if r.field("members.0.value") != id || r.field("displayName") != nil {
			t.Errorf("group members attribute: %s", r.body)
		}
		r = e.do("GET", "/Groups?filter="+url.QueryEscape(`displayName eq "G1"`), "").must(t, 200)
		if r.field("Resources.0.members.0.value") != id {
			t.Errorf("group list with members: %s", r.body)
		}
	})
}

func TestETags(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		id := e.createUser("etag@example.com", "")
		r := e.do("GET", "/Users/"+id, "").must(t, 200)
		v1 := r.header.Get("ETag")
		if v1 == "" || r.field("meta.version") != v1 {
			t.Fatalf("ETag %q, meta.version %v", v1, r.field("meta.version"))
		}
		e.do("GET", "/Users/"+id, "", "If-None-Match: "+v1).must(t, 304)
		patch := `{"Operations":[{"op":"replace","path":"title","value":"x"}]}`
		r = e.do("PATCH", "/Users/"+id, patch, "If-Match: "+v1).must(t, 200)
		v2 := r.header.Get("ETag")
		if v2 == v1 || r.field("meta.version") != v2 {
			t.Fatalf("version did not change: %s %s", v1, v2)
		}
		if r := e.do("PATCH", "/Users/"+id, patch, "If-Match: "+v1); r.status != 412 || r.field("status") != "412" {
			t.Errorf("stale If-Match PATCH: %d %s", r.status, r.body)
		}
		if r := e.do("PUT", "/Users/"+id, `{"userName":"etag@example.com"}`, "If-Match: "+v1); r.status != 412 {
			t.Errorf("stale If-Match PUT: %d", r.status)
		}
		if r := e.do("DELETE", "/Users/"+id, "", "If-Match: "+v1); r.status != 412 {
			t.Errorf("stale If-Match DELETE: %d", r.status)
		}
		e.do("GET", "/Users/"+id, "", "If-None-Match: "+v2).must(t, 304)
		e.do("GET", "/Users/"+id, "", "If-None-Match: "+v1).must(t, 200)
		g := e.createGroup("Tagged")
		gr := e.do("GET", "/Groups/"+g, "").must(t, 200)
		gv1 := gr.header.Get("ETag")
		e.do("PATCH", "/Groups/"+g, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+id+`"}]}]}`, "If-Match: "+gv1).must(t, 204)
		if r := e.do("PATCH", "/Groups/"+g, `{"Operations":[{"op":"replace","path":"displayName","value":"x"}]}`, "If-Match: "+gv1); r.status != 412 {
			t.Errorf("stale group If-Match: %d", r.status)
		}
		e.do("GET", "/Groups/"+g, "", "If-None-Match: "+gv1).must(t, 200)
		// A members-only PATCH without If-Match (the store locks the group last)
		// moves the ETag too; with a stale If-Match it is 412 and changes nothing.
		remove := `{"Operations":[{"op":"remove","path":"members[value eq \"` + id + `\"]"}]}`
		gv2 := e.do("GET", "/Groups/"+g, "").must(t, 200).header.Get("ETag")
		if r := e.do("PATCH", "/Groups/"+g, remove, "If-Match: "+gv1); r.status != 412 {
			t.Errorf("stale If-Match on a member PATCH: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/Groups/"+g, "").must(t, 200); r.header.Get("ETag") != gv2 || len(r.field("members").([]any)) != 1 {
			t.Errorf("a refused PATCH changed the group: %s %s", r.header.Get("ETag"), r.body)
		}
		gv3 := e.do("PATCH", "/Groups/"+g, remove).must(t, 204).header.Get("ETag")
		if r := e.do("GET", "/Groups/"+g, "").must(t, 200); gv3 == gv2 || r.header.Get("ETag") != gv3 || len(r.field("members").([]any)) != 0 {
			t.Errorf("member PATCH: ETag %s after %s, group %s", gv3, gv2, r.body)
		}
		e.do("GET", "/Groups/"+g, "", "If-None-Match: "+gv3).must(t, 304)
		e.do("DELETE", "/Users/"+id, "", "If-Match: "+v2).must(t, 204)
	})
}

func TestErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		e.h.MaxBody = 4096
		id := e.createUser("err@example.com", "")
		g := e.createGroup("Errs")
		cases := []struct {
			method, path, body string
			status             int
			scimType           string
		}{
			{"POST", "/Users", `{"userName":`, 400, "invalidSyntax"},
			{"POST", "/Users", ``, 400, "invalidSyntax"},
			{"POST", "/Users", `[1,2]`, 400, "invalidSyntax"},
			{"POST", "/Users", `{"userName":"a"} {}`, 400, "invalidSyntax"},
			{"POST", "/Users", `{"name":{"givenName":"x"}}`, 400, "invalidValue"},
			{"POST", "/Users", `{"userName":"b","active":"maybe"}`, 400, "invalidValue"},
			{"POST", "/Users", `{"userName":"c","emails":[{"type":"work","value":"a@x"},{"type":"work","value":"b@x"}]}`, 400, "invalidValue"},
			{"POST", "/Users", `{"userName":"ERR@example.com"}`, 409, "uniqueness"},
			{"POST", "/Users", `{"userName":"` + strings.Repeat("x", 5000) + `"}`, 413, ""},
			{"POST", "/Groups", `{"displayName":"errs"}`, 409, "uniqueness"},
			{"POST", "/Groups", `{"displayName":""}`, 400, "invalidValue"},
			{"POST", "/Groups", `{"displayName":"N","members":[{"value":"nobody"}]}`, 400, "invalidValue"},
			{"POST", "/Groups", `{"displayName":"N2","members":[{"value":"` + g + `","type":"Group"}]}`, 400, "invalidValue"},
			{"PATCH", "/Users/" + id, `{"Operations":[]}`, 400, "invalidValue"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"move","path":"title","value":"x"}]}`, 400, "invalidSyntax"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"title"}]}`, 400, "invalidValue"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"nope","value":"x"}]}`, 400, "invalidPath"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"emails[type eq","value":"x"}]}`, 400, "invalidPath"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"urn:x:y:z:title","value":"x"}]}`, 400, "invalidPath"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"name.nope","value":"x"}]}`, 400, "invalidPath"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"id","value":"x"}]}`, 400, "mutability"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"meta.created","value":"x"}]}`, 400, "mutability"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"remove"}]}`, 400, "noTarget"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"emails[type eq \"fax\"].value","value":"x"}]}`, 400, "noTarget"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"userName","value":""}]}`, 400, "invalidValue"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"active","value":"sometimes"}]}`, 400, "invalidValue"},
			{"PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","value":"notamap"}]}`, 400, "invalidValue"},
			{"PATCH", "/Groups/" + g, `{"Operations":[{"op":"remove","path":"members[display eq \"x\"]"}]}`, 400, "invalidFilter"},
			{"PATCH", "/Groups/" + g, `{"Operations":[{"op":"add","path":"members[value eq \"x\"]","value":"x"}]}`, 400, "invalidPath"},
			{"PATCH", "/Groups/" + g, `{"Operations":[{"op":"add","path":"members","value":[{"display":"no value"}]}]}`, 400, "invalidValue"},
			{"PATCH", "/Groups/" + g, `{"Operations":[{"op":"add","path":"members","value":[{"value":"ghost"}]}]}`, 400, "invalidValue"},
			{"PATCH", "/Groups/" + g, `{"Operations":[{"op":"replace","path":"displayName","value":""}]}`, 400, "invalidValue"},
			{"GET", "/Users/nope", "", 404, ""},
			{"PATCH", "/Users/nope", `{"Operations":[{"op":"replace","path":"title","value":"x"}]}`, 404, ""},
			{"DELETE", "/Groups/nope", "", 404, ""},
			// A missing group is 404 before its members are looked at.
			{"PATCH", "/Groups/nope", `{"Operations":[{"op":"add","path":"members","value":[{"value":"ghost"}]}]}`, 404, ""},
			{"PATCH", "/Groups/nope", `{"Operations":[{"op":"remove","path":"members[value eq \"` + id + `\"]"}]}`, 404, ""},
			{"GET", "/Nope", "", 404, ""},
			{"DELETE", "/Users", "", 405, ""},
			{"GET", "/Users/.search", "", 405, ""},
		}
		for _, c := range cases {
			r := e.do(c.method, c.path, c.body)
			if r.status != c.status || r.field("scimType") != nilIfEmpty(c.scimType) || r.field("status") != fmt.Sprint(c.status) ||
				r.field("schemas.0") != URNError || r.field("detail") == "" || r.header.Get("Content-Type") != "application/scim+json" {
				t.Errorf("%s %s %.60s: %d %s, want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.scimType)
			}
		}
		// Nothing was half-written by the failed requests.
		r := e.do("GET", "/Users/"+id, "").must(t, 200)
		if r.field("meta.version") != `W/"1"` {
			t.Errorf("failed PATCHes changed the user: %s", r.body)
		}
		if r := e.do("GET", "/Groups/"+g, "").must(t, 200); r.field("members.#") != 0.0 || r.field("meta.version") != `W/"1"` {
			t.Errorf("failed PATCHes changed the group: %s", r.body)
		}
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func TestAuth(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		for _, h := range []string{"Authorization:", "Authorization: non-token", "Authorization: Bearer", "Authorization: Bearer gh_scim_wrong", "Authorization: Basic dXNlcjpwYXNz"} {
			r := e.do("GET", "/Users", "", h)
			if r.status != 401 || r.field("status") != "401" || r.field("detail") == "" || r.field("schemas.0") != URNError {
				t.Errorf("%q: %d %s", h, r.status, r.body)
			}
		}
		// An API token is not a SCIM token.
		_, apiSecret, err := e.s.CreateToken(ctx, sys, e.org.ID, store.TokenAPI, "api", "")
		if err != nil {
			t.Fatal(err)
		}
		if r := e.do("GET", "/Users", "", "Authorization: Bearer "+apiSecret); r.status != 401 {
			t.Errorf("API token on SCIM: %d", r.status)
		}
		// Revocation works at once.
		e.do("GET", "/ServiceProviderConfig", "").must(t, 200)
		toks, _ := e.s.ListTokens(ctx, e.org.ID)
		for _, tk := range toks {
			if tk.Kind == store.TokenSCIM {
				if err := e.s.RevokeToken(ctx, sys, e.org.ID, tk.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if r := e.do("GET", "/Users", ""); r.status != 401 {
			t.Errorf("revoked token: %d", r.status)
		}
	})
}

// TestTenantIsolation: a token of org A can never read, match or change org B.
func TestTenantIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		s := newStore(t)
		a := newEnvOn(t, s, "org-a", "okta")
		b := newEnvOn(t, s, "org-b", "okta")
		bu := b.createUser("shared@example.com", `,"externalId":"ext-b"`)
		bg := b.createGroup("B group")
		b.do("PATCH", "/Groups/"+bg, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+bu+`"}]}]}`).must(t, 204)
		// Same userName in org A is fine: userName is unique per org.
		au := a.createUser("shared@example.com", "")
		ag := a.createGroup("B group")
		for _, f := range []string{`userName eq "shared@example.com"`, `externalId eq "ext-b"`, `id eq "` + bu + `"`, `userName pr`} {
			r := a.do("GET", "/Users?filter="+url.QueryEscape(f), "").must(t, 200)
			for _, x := range r.field("Resources").([]any) {
				if x.(map[string]any)["id"] == bu {
					t.Errorf("org A sees org B's user through %s", f)
				}
			}
		}
		if r := a.do("GET", "/Groups?filter="+url.QueryEscape(`members eq "`+bu+`"`), "").must(t, 200); r.field("totalResults") != 0.0 {
			t.Errorf("org A matches org B's membership")
		}
		a.do("GET", "/Users/"+bu, "").must(t, 404)
		a.do("PUT", "/Users/"+bu, `{"userName":"x"}`).must(t, 404)
		a.do("PATCH", "/Users/"+bu, `{"Operations":[{"op":"replace","path":"active","value":false}]}`).must(t, 404)
		a.do("DELETE", "/Users/"+bu, "").must(t, 404)
		a.do("GET", "/Groups/"+bg, "").must(t, 404)
		a.do("PATCH", "/Groups/"+bg, `{"Operations":[{"op":"remove","path":"members"}]}`).must(t, 404)
		a.do("PATCH", "/Groups/"+bg, `{"Operations":[{"op":"remove","path":"members[value eq \"`+bu+`\"]"}]}`).must(t, 404)
		a.do("PATCH", "/Groups/"+bg, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+au+`"}]}]}`).must(t, 404)
		a.do("DELETE", "/Groups/"+bg, "").must(t, 404)
		// Org B's user cannot be put into org A's group.
		if r := a.do("PATCH", "/Groups/"+ag, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+bu+`"}]}]}`); r.status != 400 {
			t.Errorf("cross-org member: %d %s", r.status, r.body)
		}
		// Org B is untouched.
		r := b.do("GET", "/Users/"+bu, "").must(t, 200)
		if r.field("active") != true || r.field("meta.version") != `W/"1"` {
			t.Errorf("org B's user changed: %s", r.body)
		}
		if r := b.do("GET", "/Groups/"+bg, "").must(t, 200); r.field("members.#") != 1.0 {
			t.Errorf("org B's group changed: %s", r.body)
		}
		_ = au
	})
}

// TestDirectories: a directory sees only what it owns. Users and groups of another
// directory of the same org do not exist for it (404, no filter match, not listed,
// not counted); userName stays unique per org, so creating the same one is 409.
func TestDirectories(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		uid := e.createUser("moving@example.com", "")
		okGroup := e.createGroup("Staff")
		e.addDirectory("entra")
		if r := e.do("POST", "/Users", `{"userName":"MOVING@example.com"}`); r.status != 409 {
			t.Errorf("same userName from a second directory: %d", r.status)
		}
		r := e.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "moving@example.com"`), "").must(t, 200)
		if r.field("totalResults") != 0.0 {
			t.Errorf("a second directory finds the first one's user: %s", r.body)
		}
		if r := e.do("GET", "/Users", "").must(t, 200); r.field("totalResults") != 0.0 {
			t.Errorf("a second directory lists others' users: %s", r.body)
		}
		e.do("GET", "/Users/"+uid, "").must(t, 404)
		e.do("PATCH", "/Users/"+uid, `{"Operations":[{"op":"replace","path":"displayName","value":"x"}]}`).must(t, 404)
		e.do("PUT", "/Users/"+uid, `{"userName":"moving@example.com"}`).must(t, 404)
		e.do("DELETE", "/Users/"+uid, "").must(t, 404)
		if u, err := e.s.GetUser(ctx, e.org.ID, uid); err != nil || u.Version != 1 || u.DisplayName == "x" {
			t.Errorf("the second directory changed the first one's user: %+v %v", u, err)
		}
		e.do("GET", "/Groups/"+okGroup, "").must(t, 404)
		if r := e.do("GET", "/Groups", "").must(t, 200); r.field("totalResults") != 0.0 {
			t.Errorf("second directory sees the first one's groups: %s", r.body)
		}
		// The same group name is fine in another directory.
		e.createGroup("Staff")
		// Nor can it make them (or the local org admin) a member of its groups.
		for _, id := range []string{uid, e.admin.ID} {
			r := e.do("POST", "/Groups", `{"displayName":"Mine","members":[{"value":"`+id+`"}]}`)
			if r.status != 400 || r.field("scimType") != "invalidValue" {
				t.Errorf("a group with another source's member: %d %s", r.status, r.body)
			}
		}
		mine := e.createGroup("Mine")
		r = e.do("PATCH", "/Groups/"+mine, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+uid+`"}]}]}`)
		if r.status != 400 || r.field("scimType") != "invalidValue" {
			t.Errorf("adding another source's member: %d %s", r.status, r.body)
		}
		if r := e.do("GET", "/Groups/"+mine, "").must(t, 200); r.field("members.#") != 0.0 {
			t.Errorf("members after the refused add: %s", r.body)
		}
	})
}

// TestEffectOnAccess: deactivation and deletion act on the core user at once, and
// every change is audited with the directory named.
func TestEffectOnAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		id := e.createUser("leaver@example.com", "")
		g := e.createGroup("Team")
		e.do("PATCH", "/Groups/"+g, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+id+`"}]}]}`).must(t, 204)
		u, err := e.s.GetUser(ctx, e.org.ID, id)
		if err != nil || !u.Active || u.Source != core.SourceSCIM || u.DirectoryID != e.dir.ID || u.Email != "leaver@example.com" {
			t.Fatalf("core user %+v %v", u, err)
		}
		members, err := e.s.IdPGroupMembers(ctx, e.org.ID, g, store.Page{Limit: 10})
		if err != nil || len(members) != 1 || members[0].ID != id {
			t.Fatalf("IdP group members %v %v", members, err)
		}
		e.do("PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","value":{"active":false}}]}`).must(t, 200)
		if u, _ := e.s.GetUser(ctx, e.org.ID, id); u.Active {
			t.Fatal("deactivated over SCIM, still active in the core")
		}
		e.do("DELETE", "/Users/"+id, "").must(t, 204)
		if _, err := e.s.GetUser(ctx, e.org.ID, id); err == nil {
			t.Fatal("deleted over SCIM, still in the core")
		}
		if members, _ := e.s.IdPGroupMembers(ctx, e.org.ID, g, store.Page{Limit: 10}); len(members) != 0 {
			t.Fatal("deleted user is still a group member")
		}
		events, err := e.s.ListAudit(ctx, e.org.ID, store.AuditQuery{Page: store.Page{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"user.create": false, "idp_group.create": false, "idp_group.update": false, "user.deactivate": false, "user.delete": false}
		for _, ev := range events {
			if _, ok := want[ev.Action]; ok && ev.Actor.Kind == core.ActorSCIM && ev.Actor.ID == e.dir.ID && ev.Details["directory_id"] == e.dir.ID {
				want[ev.Action] = true
			}
		}
		for a, seen := range want {
			if !seen {
				t.Errorf("no audit event %s naming directory %s", a, e.dir.ID)
			}
		}
		// The org's admin is local: the directory does not own them, so for it they
		// do not exist.
		e.do("PATCH", "/Users/"+e.admin.ID, `{"Operations":[{"op":"replace","path":"active","value":false}]}`).must(t, 404)
		e.do("DELETE", "/Users/"+e.admin.ID, "").must(t, 404)
		if a, err := e.s.GetUser(ctx, e.org.ID, e.admin.ID); err != nil || !a.Active {
			t.Errorf("the org admin after the directory's attempts: %+v %v", a, err)
		}
	})
}

// TestIdempotentRetries: IdPs retry; nothing is duplicated.
func TestIdempotentRetries(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		body := `{"userName":"retry@example.com","emails":[{"value":"retry@example.com","type":"work"}]}`
		id := e.do("POST", "/Users", body).must(t, 201).field("id").(string)
		e.do("POST", "/Users", body).must(t, 409)
		add := `{"Operations":[{"op":"add","path":"emails","value":[{"value":"retry@example.com","type":"work"}]},{"op":"add","path":"emails[type eq \"home\"].value","value":"h@example.com"}]}`
		e.do("PATCH", "/Users/"+id, add).must(t, 200)
		r := e.do("PATCH", "/Users/"+id, add).must(t, 200)
		if r.field("emails.#") != 2.0 {
			t.Errorf("re-sent PATCH duplicated emails: %s", r.body)
		}
		if r := e.do("GET", "/Users?filter="+url.QueryEscape(`emails.value eq "h@example.com"`), "").must(t, 200); r.field("totalResults") != 1.0 {
			t.Errorf("email rows: %s", r.body)
		}
		g := e.createGroup("Retry")
		p := `{"Operations":[{"op":"add","path":"members","value":[{"value":"` + id + `"},{"value":"` + id + `"}]}]}`
		e.do("PATCH", "/Groups/"+g, p).must(t, 204)
		e.do("PATCH", "/Groups/"+g, p).must(t, 204)
		if r := e.do("GET", "/Groups/"+g, "").must(t, 200); r.field("members.#") != 1.0 {
			t.Errorf("members duplicated: %s", r.body)
		}
		e.do("POST", "/Groups", `{"displayName":"retry"}`).must(t, 409)
	})
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t, func(tb testing.TB) *store.SQL { return newSQLite(tb) })
	r := e.do("GET", "/ServiceProviderConfig", "").must(t, 200)
	if r.field("patch.supported") != true || r.field("filter.supported") != true || r.field("etag.supported") != true ||
		r.field("bulk.supported") != false || r.field("sort.supported") != false || r.field("filter.maxResults") != float64(MaxCount) {
		t.Errorf("ServiceProviderConfig: %s", r.body)
	}
	r = e.do("GET", "/Schemas", "").must(t, 200)
	if r.field("totalResults") != 3.0 || strings.Contains(string(r.body), "null") {
		t.Errorf("Schemas: %.300s", r.body)
	}
	e.do("GET", "/Schemas/"+URNEnterprise, "").must(t, 200)
	e.do("GET", "/Schemas/urn:nope", "").must(t, 404)
	r = e.do("GET", "/ResourceTypes", "").must(t, 200)
	if r.field("totalResults") != 2.0 || r.field("Resources.0.schemaExtensions.0.schema") != URNEnterprise {
		t.Errorf("ResourceTypes: %s", r.body)
	}
	e.do("GET", "/ResourceTypes/Group", "").must(t, 200)
	e.do("GET", "/ResourceTypes/Nope", "").must(t, 404)
}
