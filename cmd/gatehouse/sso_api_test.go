package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/sso/ssotest"
)

// TestServeSSOConnectionsAPI: serve wires the SSO connection API to the
// server's secret key and external URL; a connection the API created is one
// the CLI lists and updates (one path, one sealed key), and the CLI's changes
// show through the API.
func TestServeSSOConnectionsAPI(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.test")
			tok := lastLine(mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "api", "--name", "app"))
			srv := startServe(t, "--db", b.dsn, "--external-url", "https://gh.example.com", "--sso-allow-loopback") // the test IdP is on loopback
			md := ssotest.NewMetadataServer(t, ssotest.IdPMetadata(t, "okta", time.Now().Add(90*24*time.Hour)))
			call := func(method, path string, body any, want int) map[string]any {
				t.Helper()
				raw, _ := json.Marshal(body)
				req, _ := http.NewRequest(method, srv.base+path, bytes.NewReader(raw))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				out, _ := io.ReadAll(res.Body)
				if res.StatusCode != want {
					t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, out, want)
				}
				m := map[string]any{}
				_ = json.Unmarshal(out, &m)
				return m
			}
			c := call("POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "Okta", "idp_metadata_url": md.URL,
				"domains": []string{"acme.test"}, "preset": "okta"}, 201)
			id, _ := c["id"].(string)
			if c["acs_url"] != "https://gh.example.com/sso/saml/"+id+"/acs" {
				t.Errorf("acs_url %v", c["acs_url"])
			}
			list := mustRun(t, "sso", "list", "--db", b.dsn, "--org", "acme")
			if !strings.Contains(list, id) || !strings.Contains(list, "okta") {
				t.Errorf("the CLI does not list the API's connection:\n%s", list)
			}
			mustRun(t, "sso", "update", "--db", b.dsn, "--org", "acme", "--connection", "Okta", "--group-values", "cn")
			c = call("GET", "/api/v1/sso/connections/"+id, nil, 200)
			if m, _ := c["mapping"].(map[string]any); m["group_values"] != "cn" {
				t.Errorf("the CLI's change does not show through the API: %v", c["mapping"])
			}
			call("PATCH", "/api/v1/sso/connections/"+id, map[string]any{"refresh_metadata": true}, 200)
			call("DELETE", "/api/v1/sso/connections/"+id, nil, 200)
		})
	}
}
