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
