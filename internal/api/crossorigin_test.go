package api_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestCrossOriginWrites: a state-changing request that a session cookie
// authenticates is refused when a browser says it comes from another origin, a
// sibling subdomain (same-site, which SameSite=Lax cookies reach) included, with a
// body or without one; nothing changes. Reads, same-origin requests, clients that
// are no browser, and bearer-token callers are unaffected (issue 9, finding 4: a
// bodiless POST /users/{u}/deactivate skipped the content-type check and answered
// 200).
func TestCrossOriginWrites(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewEnv(t, b)
		base := e.Srv.URL
		asAdmin := e.Session(e.Admin)
		headers := func(kv ...string) apitest.ReqOpt {
			return func(r *http.Request) {
				for i := 0; i+1 < len(kv); i += 2 {
					r.Header.Set(kv[i], kv[i+1])
				}
			}
		}
		sibling := headers("Sec-Fetch-Site", "same-site", "Origin", "https://evil.acme.test")
		crossSite := headers("Sec-Fetch-Site", "cross-site", "Origin", "https://attacker.example")
		oldBrowser := headers("Origin", "https://evil.acme.test") // no Sec-Fetch-Site
		active := func(id string) bool {
			t.Helper()
			v, _ := e.API("GET", "/api/v1/users/"+id, nil).Want(t, 200).Body["active"].(bool)
			return v
		}

		bob := e.User("bob")
		for name, from := range map[string]apitest.ReqOpt{"same-site": sibling, "cross-site": crossSite, "Origin only": oldBrowser} {
			r := apitest.Call(t, base, "POST", "/api/v1/users/"+bob.ID+"/deactivate", nil, asAdmin, from).Want(t, 403)
			if r.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: refusal is not problem+json: %v %s", name, r.Header, r.Raw)
			}
			if !active(bob.ID) {
				t.Fatalf("%s: a bodiless cross-origin POST with a session cookie deactivated bob", name)
			}
			apitest.Call(t, base, "POST", "/api/v1/groups", map[string]any{"name": "sneaky"}, asAdmin, from).Want(t, 403)
			apitest.Call(t, base, "PATCH", "/api/v1/users/"+bob.ID, map[string]any{"display_name": "Mallory"}, asAdmin, from).Want(t, 403)
			apitest.Call(t, base, "DELETE", "/api/v1/users/"+bob.ID, nil, asAdmin, from).Want(t, 403)
		}
		if r := e.API("GET", "/api/v1/groups", nil).Want(t, 200); len(r.Items()) != 0 {
			t.Fatalf("a cross-origin POST created a group: %s", r.Raw)
		}
		if r := e.API("GET", "/api/v1/users/"+bob.ID, nil).Want(t, 200); r.Str("display_name") != "bob" {
			t.Fatalf("a cross-origin PATCH changed bob: %s", r.Raw)
		}

		// Reads are not state-changing.
		apitest.Call(t, base, "GET", "/api/v1/users/"+bob.ID, nil, asAdmin, sibling).Want(t, 200)
		// A bearer token is not something another site can make a browser send.
		e.API("POST", "/api/v1/groups", map[string]any{"name": "by-token"}, crossSite).Want(t, 201)
		// The same origin, and clients that are no browser (no Sec-Fetch-Site, no
		// Origin), keep working with a session.
		apitest.Call(t, base, "POST", "/api/v1/groups", map[string]any{"name": "same-origin"}, asAdmin,
			headers("Sec-Fetch-Site", "same-origin", "Origin", base)).Want(t, 201)
		apitest.Call(t, base, "POST", "/api/v1/users/"+bob.ID+"/deactivate", nil, asAdmin).Want(t, 200)
		if active(bob.ID) {
			t.Fatal("a same-origin deactivate did not deactivate bob")
		}
	})
}
