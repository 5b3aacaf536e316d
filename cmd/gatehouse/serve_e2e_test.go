package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeEndToEnd drives one running `gatehouse serve` the way its users meet it:
// an IdP provisions over SCIM with the token from `token create`, an application
// registers a workspace and asks for decisions with an API token, an admin maps the
// IdP group, and the answers change with their reasons; then SCIM deactivates the
// user and the next answer is a deny. /metrics counts what happened.
func TestServeEndToEnd(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.test")
			scimTok := lastLine(mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "okta", "--external-url", "http://127.0.0.1:8080"))
			apiTok := lastLine(mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "api", "--name", "app"))
			srv := startServe(t, "--db", b.dsn)

			call := func(method, path, token string, body any, wantStatus ...int) map[string]any {
				t.Helper()
				var rd io.Reader
				if body != nil {
					b, _ := json.Marshal(body)
					rd = bytes.NewReader(b)
				}
				req, _ := http.NewRequest(method, srv.base+path, rd)
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
				ok := false
				for _, s := range wantStatus {
					ok = ok || resp.StatusCode == s
				}
				if !ok {
					t.Fatalf("%s %s: %d %s; want %v", method, path, resp.StatusCode, raw, wantStatus)
				}
				out := map[string]any{}
				if len(raw) > 0 {
					if err := json.Unmarshal(raw, &out); err != nil {
						t.Fatalf("%s %s: not JSON: %s", method, path, raw)
					}
				}
				return out
			}
			check := func(action, rtype, rid string) map[string]any {
				t.Helper()
				return call("POST", "/api/v1/check", apiTok, map[string]any{
					"user": "ada@acme.test", "workspace": "marketing", "environment": "development",
					"action": action, "resource": map[string]string{"type": rtype, "id": rid},
				}, 200)
			}

			user := call("POST", "/scim/v2/Users", scimTok, map[string]any{
				"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
				"userName": "ada@acme.test", "active": true, "password": "not-stored",
				"name":   map[string]string{"givenName": "Ada", "familyName": "Lovelace"},
				"emails": []map[string]any{{"value": "ada@acme.test", "type": "work", "primary": true}},
			}, 201)
			uid, _ := user["id"].(string)
			call("POST", "/scim/v2/Groups", scimTok, map[string]any{
				"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Okta-Data",
				"members": []map[string]string{{"value": uid}},
			}, 201)

			call("POST", "/api/v1/workspaces", apiTok, map[string]any{"slug": "marketing", "name": "Marketing", "environments": []string{"development", "production"}}, 201)
			call("POST", "/api/v1/workspaces/marketing/resources", apiTok, map[string]any{"type": "source", "id": "s-1", "name": "Salesforce", "environment": "development"}, 201)
			call("POST", "/api/v1/groups", apiTok, map[string]any{"name": "Data Team"}, 201)
			call("POST", "/api/v1/grants", apiTok, map[string]any{"group": "Data Team", "workspace": "marketing", "role": "editor"}, 201)

			if d := check("create", "source", "s-new"); d["decision"] != "deny" || d["reason"] != "no_grant" {
				t.Fatalf("before the mapping: %v; want deny no_grant", d)
			}
			call("POST", "/api/v1/mappings", apiTok, map[string]any{"directory": "okta", "idp_group": "Okta-Data", "group": "Data Team"}, 201)
			d := check("create", "source", "s-new")
			if d["decision"] != "allow" {
				t.Fatalf("after the mapping: %v; want allow", d)
			}
			kinds := []string{}
			for _, s := range d["explanation"].([]any) {
				kinds = append(kinds, s.(map[string]any)["kind"].(string))
			}
			if got := strings.Join(kinds, ">"); !strings.Contains(got, "user>idp_group>mapping>user_group>grant>role") {
				t.Errorf("explanation chain %s; want user>idp_group>mapping>user_group>grant>role…", got)
			}
			if d := check("edit", "source", "s-1"); d["decision"] != "deny" || d["reason"] != "role_forbids" {
				t.Errorf("editor editing an existing source: %v; want deny role_forbids", d)
			}

			call("PATCH", "/scim/v2/Users/"+uid, scimTok, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"active": false}}},
			}, 200, 204)
			if d := check("create", "source", "s-new"); d["decision"] != "deny" || d["reason"] != "user_inactive" {
				t.Fatalf("after SCIM deactivation: %v; want deny user_inactive", d)
			}

			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			if resp, err := noFollow.Get(srv.base + "/"); err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
				t.Errorf("GET /: %v %v; want a redirect to the admin pages", resp, err)
			} else {
				resp.Body.Close()
			}

			resp, err := http.Get(srv.base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{
				`gatehouse_scim_operations_total{directory=`,
				`operation="create",outcome="ok",resource="Users"} 1`,
				`gatehouse_decisions_total{decision="allow",reason="allowed"} 1`,
				`gatehouse_decisions_total{decision="deny",reason="user_inactive"} 1`,
				`gatehouse_http_requests_total{method="POST",route="POST /api/v1/check",status="200"} 4`,
			} {
				if !strings.Contains(string(raw), want) {
					t.Errorf("/metrics lacks %s\n%s", want, grep(string(raw), "gatehouse_http_requests_total"))
				}
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
