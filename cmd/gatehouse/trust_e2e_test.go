package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// e2eCall sends one request to a running server and checks its status.
func e2eCall(t *testing.T, base, method, path, token string, body any, wantStatus int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if strings.HasPrefix(path, "/scim/") {
		req.Header.Set("Content-Type", "application/scim+json")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %d %s; want %d", method, path, resp.StatusCode, raw, wantStatus)
	}
	out := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
	}
	return out
}

// TestSecondDirectoryGetsNowhere is finding 1 of issue 9 against a running
// `gatehouse serve`, on each backend: with the token of a second, empty directory
// (entra), replacing the org admin's emails with mallory's, and deleting a user the
// okta directory provisioned, both answer 404 and change nothing; entra lists,
// finds and counts none of them. The okta directory still manages its own user.
func TestSecondDirectoryGetsNowhere(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.example")
			okta := lastLine(mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "okta", "--external-url", "http://127.0.0.1:8080"))
			entra := lastLine(mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "entra", "--external-url", "http://127.0.0.1:8080"))
			apiTok := lastLine(mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "api", "--name", "app"))
			srv := startServe(t, "--db", b.dsn)
			call := func(method, path, token string, body any, want int) map[string]any {
				t.Helper()
				return e2eCall(t, srv.base, method, path, token, body, want)
			}

			admins := call("GET", "/api/v1/users?email=admin@acme.example", apiTok, nil, 200)["items"].([]any)
			adminID := admins[0].(map[string]any)["id"].(string)
			ada := call("POST", "/scim/v2/Users", okta, map[string]any{
				"userName": "ada@acme.example", "active": true,
				"emails": []map[string]any{{"value": "ada@acme.example", "type": "work", "primary": true}},
			}, 201)["id"].(string)

			// The attack of finding 1: entra rewrites the admin's emails, deletes okta's user.
			call("PATCH", "/scim/v2/Users/"+adminID, entra, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []map[string]any{{"op": "replace", "path": "emails", "value": []map[string]any{{"value": "mallory@acme.example", "primary": true}}}},
			}, 404)
			call("DELETE", "/scim/v2/Users/"+ada, entra, nil, 404)
			call("GET", "/scim/v2/Users/"+adminID, entra, nil, 404)
			call("PUT", "/scim/v2/Users/"+ada, entra, map[string]any{"userName": "ada@acme.example", "active": false}, 404)
			for _, q := range []string{"", "?filter=" + url.QueryEscape(`userName eq "ada@acme.example"`), "?filter=" + url.QueryEscape(`emails.value co "acme"`)} {
				if r := call("GET", "/scim/v2/Users"+q, entra, nil, 200); r["totalResults"] != 0.0 {
					t.Errorf("entra sees users (%s): %v", q, r)
				}
			}
			admin := call("GET", "/api/v1/users/"+adminID, apiTok, nil, 200)
			if admin["email"] != "admin@acme.example" || admin["version"] != 1.0 || admin["active"] != true {
				t.Errorf("the admin after entra's attempts: %v", admin)
			}
			if owner := admin["owner"].(map[string]any); owner["kind"] != "local" {
				t.Errorf("the admin's owner: %v", owner)
			}
			u := call("GET", "/api/v1/users/"+ada, apiTok, nil, 200)
			if owner := u["owner"].(map[string]any); owner["kind"] != "directory" || owner["name"] != "okta" || u["active"] != true {
				t.Errorf("ada after entra's attempts: %v", u)
			}
			// okta sees exactly its own user, and still removes her.
			if r := call("GET", "/scim/v2/Users", okta, nil, 200); r["totalResults"] != 1.0 {
				t.Errorf("okta's list: %v", r)
			}
			call("DELETE", "/scim/v2/Users/"+ada, okta, nil, 204)
		})
	}
}

// TestSSOUpdateDirectoryLink: gatehouse sso update --directory links a connection to
// a SCIM directory of its org (by name), --directory= unlinks it, and a directory the
// org does not have is refused with nothing changed; on each backend.
func TestSSOUpdateDirectoryLink(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			key := make([]byte, 32)
			rand.Read(key)
			sk := "--secret-key=" + hex.EncodeToString(key)
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.test")
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "evil", "--name", "Evil", "--admin-email", "admin@evil.test")
			mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "okta", "--external-url", "http://127.0.0.1:8080")
			mustRun(t, "token", "create", "--db", b.dsn, "--org", "evil", "--kind", "scim", "--name", "evildir", "--external-url", "http://127.0.0.1:8080")
			md := filepath.Join(t.TempDir(), "md.xml")
			if err := os.WriteFile(md, testIdPMetadata(t), 0o600); err != nil {
				t.Fatal(err)
			}
			mustRun(t, "sso", "add-saml", "--db", b.dsn, sk, "--org", "acme", "--name", "Okta", "--metadata-file", md, "--external-url", "https://gh.example.com")
			s := openTestStore(t, b.dsn)
			conn := func() store.SSOConnection {
				t.Helper()
				org, err := s.GetOrg(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				cs, err := s.ListSSOConnections(ctx, org.ID)
				if err != nil || len(cs) != 1 {
					t.Fatalf("connections: %v %v", cs, err)
				}
				return cs[0]
			}
			org, _ := s.GetOrg(ctx, "acme")
			okta, err := s.GetDirectory(ctx, org.ID, "okta")
			if err != nil {
				t.Fatal(err)
			}
			out := mustRun(t, "sso", "update", "--db", b.dsn, "--org", "acme", "--connection", "Okta", "--directory", "okta")
			if c := conn(); c.DirectoryID != okta.ID || !strings.Contains(out, "linked directory  none  ->  okta") {
				t.Errorf("after --directory okta: %q\n%s", c.DirectoryID, out)
			}
			before := conn().Version
			if _, _, err := gatehouse(t, "sso", "update", "--db", b.dsn, "--org", "acme", "--connection", "Okta", "--directory", "evildir"); err == nil {
				t.Error("linked a directory of another org")
			}
			if c := conn(); c.DirectoryID != okta.ID || c.Version != before {
				t.Errorf("a refused link changed the connection: %+v", c)
			}
			mustRun(t, "sso", "update", "--db", b.dsn, "--org", "acme", "--connection", "Okta", "--directory=")
			if c := conn(); c.DirectoryID != "" {
				t.Errorf("after --directory=: %q", c.DirectoryID)
			}
		})
	}
}

// TestOktaAdoptsFirstAdmin is how Okta links the org admin made by `gatehouse org
// create`, against a running server on each backend, with Okta's own requests and a
// real SAML IdP (crewjam) behind the Okta SAML connection, which has the org's
// domain and is linked to the okta directory. The admin signs in (the connection
// adopts the local admin); Okta looks the address up (no match: the directory sees
// only its own) and POSTs it: 201 with the admin's existing id and a Location, the
// directory now owns the admin (user.adopted, from the connection to okta), the
// admin signs in as before (through the linked directory) and is still an org admin.
// Okta's PATCHes then change and deactivate the admin (the sign-in is refused) and
// reactivate them (it works again). The same POST again, and a second directory
// without the domain posting the admin's address, get the unchanged 409 uniqueness.
func TestOktaAdoptsFirstAdmin(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			lb := newBalancer(t)
			idp := newTestSAMLIdP(t)
			idp.setUser("admin@acme.test", nil)
			mdFile := filepath.Join(t.TempDir(), "idp.xml")
			if err := os.WriteFile(mdFile, idp.metadata(t), 0o600); err != nil {
				t.Fatal(err)
			}
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.test")
			okta := lastLine(mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "okta",
				"--domain", "acme.test", "--external-url", lb.url))
			entra := lastLine(mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "entra", "--external-url", lb.url))
			apiTok := lastLine(mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "api", "--name", "app"))
			out := mustRun(t, "sso", "add-saml", "--db", b.dsn, "--org", "acme", "--name", "Okta SAML", "--metadata-file", mdFile,
				"--domain", "acme.test", "--external-url", lb.url, "--secret-key", testSecretKey)
			m := regexp.MustCompile(`connection id: (\S+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no connection id in:\n%s", out)
			}
			connID := m[1]
			mustRun(t, "sso", "update", "--db", b.dsn, "--org", "acme", "--connection", "Okta SAML", "--directory", "okta")
			srv := startServe(t, "--db", b.dsn, "--external-url", lb.url)
			lb.setBackends(srv.base)
			call := func(method, path, token string, body any, want int) map[string]any {
				t.Helper()
				return e2eCall(t, srv.base, method, path, token, body, want)
			}
			signIn := func() (int, int) {
				t.Helper()
				br := newTestBrowser(t)
				p := br.get(lb.url + "/sso/saml/" + connID + "/login")
				action, form := p.form(t)
				done := br.postNoFollow(action, form)
				code, me := br.me(lb.url)
				if code == http.StatusOK && me.User.Email != "admin@acme.test" {
					t.Fatalf("signed in as %q", me.User.Email)
				}
				return done.status, code
			}
			adminID := call("GET", "/api/v1/users?email=admin@acme.test", apiTok, nil, 200)["items"].([]any)[0].(map[string]any)["id"].(string)
			if acs, me := signIn(); acs != http.StatusSeeOther || me != http.StatusOK {
				t.Fatalf("the local admin's first sign-in: ACS %d, /me %d", acs, me)
			}

			// Okta's import: a filter on the address (nothing: not okta's user), then its POST.
			if r := call("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "admin@acme.test"`), okta, nil, 200); r["totalResults"] != 0.0 {
				t.Fatalf("okta sees the admin before adopting: %v", r)
			}
			oktaBody := map[string]any{
				"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "admin@acme.test",
				"name":        map[string]any{"givenName": "Ada", "familyName": "Admin"},
				"emails":      []map[string]any{{"primary": true, "value": "admin@acme.test", "type": "work"}},
				"displayName": "Ada Admin", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
				"groups": []any{}, "password": "1mz050nq", "active": true,
			}
			raw, _ := json.Marshal(oktaBody)
			req, _ := http.NewRequest("POST", srv.base+"/scim/v2/Users", bytes.NewReader(raw))
			req.Header.Set("Authorization", "Bearer "+okta)
			req.Header.Set("Content-Type", "application/scim+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var created map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&created)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated || created["id"] != adminID || resp.Header.Get("Location") != lb.url+"/scim/v2/Users/"+adminID ||
				created["externalId"] != "00ujl29u0le5T6Aj10h7" || created["password"] != nil {
				t.Fatalf("Okta's POST of the admin: %d Location %q %v; want 201 with id %s", resp.StatusCode, resp.Header.Get("Location"), created, adminID)
			}
			admin := call("GET", "/api/v1/users/"+adminID, apiTok, nil, 200)
			if owner := admin["owner"].(map[string]any); owner["kind"] != "directory" || owner["name"] != "okta" || admin["display_name"] != "Ada Admin" {
				t.Fatalf("the admin after Okta's POST: %v", admin)
			}
			ev := call("GET", "/api/v1/audit?action=user.adopted", apiTok, nil, 200)["items"].([]any)
			if len(ev) != 2 { // the connection's at the first sign-in, then okta's
				t.Fatalf("user.adopted events: %v", ev)
			}
			last := ev[0].(map[string]any)
			if d := last["details"].(map[string]any); d["from"].(map[string]any)["kind"] != "connection" || d["owner"].(map[string]any)["name"] != "okta" {
				t.Fatalf("okta's adoption event: %v", last)
			}
			if r := call("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "admin@acme.test"`), okta, nil, 200); r["totalResults"] != 1.0 {
				t.Fatalf("okta does not see its admin: %v", r)
			}
			if acs, me := signIn(); acs != http.StatusSeeOther || me != http.StatusOK {
				t.Fatalf("the adopted admin's sign-in through the linked connection: ACS %d, /me %d", acs, me)
			}
			if admins := call("GET", "/api/v1/org/admins", apiTok, nil, 200)["items"].([]any); len(admins) != 1 || admins[0].(map[string]any)["id"] != adminID {
				t.Fatalf("org admins after the adoption: %v", admins)
			}

			// Duplicates keep the 409 they always had, whoever sends them.
			dup := call("POST", "/scim/v2/Users", okta, oktaBody, 409)
			other := call("POST", "/scim/v2/Users", entra, oktaBody, 409)
			for _, e := range []map[string]any{dup, other} {
				if e["status"] != "409" || e["scimType"] != "uniqueness" || e["detail"] != dup["detail"] ||
					len(e["schemas"].([]any)) != 1 || e["schemas"].([]any)[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
					t.Fatalf("409 body: %v", e)
				}
			}

			// Okta now manages the admin: an update, a deactivation (the last admin:
			// the IdP is authoritative), a reactivation.
			patch := func(value map[string]any) map[string]any {
				return call("PATCH", "/scim/v2/Users/"+adminID, okta, map[string]any{
					"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []map[string]any{{"op": "replace", "value": value}},
				}, 200)
			}
			if u := patch(map[string]any{"displayName": "Ada A."}); u["displayName"] != "Ada A." {
				t.Fatalf("after Okta's update: %v", u)
			}
			patch(map[string]any{"active": false})
			if acs, me := signIn(); acs != http.StatusForbidden || me == http.StatusOK {
				t.Fatalf("the deactivated admin signs in: ACS %d, /me %d", acs, me)
			}
			patch(map[string]any{"active": true})
			if acs, me := signIn(); acs != http.StatusSeeOther || me != http.StatusOK {
				t.Fatalf("the reactivated admin's sign-in: ACS %d, /me %d", acs, me)
			}
		})
	}
}
