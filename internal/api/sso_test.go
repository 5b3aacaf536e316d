package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso/ssotest"
)

// ssoState is everything a refused request must leave as it was: the org's
// connections (with their versions) and its audit log.
func ssoState(t *testing.T, e *apitest.Env) string {
	t.Helper()
	list := e.API("GET", "/api/v1/sso/connections", nil).Want(t, 200)
	audit := e.API("GET", "/api/v1/audit?limit=1000", nil).Want(t, 200)
	return string(list.Raw) + "\n" + string(audit.Raw)
}

// TestSSOConnectionsAPI: POST, PATCH and DELETE /api/v1/sso/connections do what
// gatehouse sso add-saml / add-oidc / update / delete do, with the same checks:
// SAML by metadata URL (fetched) or XML, OIDC by issuer (discovered) and
// client, the secret sealed and never answered, the setup values to paste, the
// mapping, presets, scopes, hd, clock skew, a scheduled refresh's manual twin;
// bad input is problem+json naming the field and changes nothing.
func TestSSOConnectionsAPI(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewSSOEnv(t, b)
		md := ssotest.NewMetadataServer(t, ssotest.IdPMetadata(t, "okta-2026", time.Now().Add(20*24*time.Hour)))
		issuer := ssotest.OpenIDProvider(t)

		// SAML by metadata URL, with the Okta preset and a groups override.
		r := e.API("POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "Okta", "idp_metadata_url": md.URL,
			"domains": []string{"Acme.test"}, "allow_idp_initiated": true, "preset": "okta", "mapping": map[string]any{"groups": []string{"memberOf"}, "group_values": "cn"},
			"clock_skew_seconds": 120}).Want(t, 201)
		id := r.Str("id")
		base := apitest.SSOExternalURL + "/sso/saml/" + id
		for field, want := range map[string]string{"acs_url": base + "/acs", "entity_id": base + "/metadata", "slo_url": base + "/slo",
			"login_url": base + "/login", "idp_metadata_url": md.URL, "preset": "okta", "kind": "saml"} {
			if got := r.Str(field); got != want {
				t.Errorf("created SAML %s = %q, want %q", field, got, want)
			}
		}
		if r.Header.Get("Location") != "/api/v1/sso/connections/"+id {
			t.Errorf("Location %q", r.Header.Get("Location"))
		}
		if r.Body["allow_idp_initiated"] != true || r.Body["clock_skew_seconds"] != float64(120) || r.Body["jit"] != true {
			t.Errorf("settings not applied: %s", r.Raw)
		}
		m := r.Body["mapping"].(map[string]any)
		if m["groups"].([]any)[0] != "memberOf" || m["group_values"] != "cn" || m["given_name"].([]any)[0] != "firstName" {
			t.Errorf("mapping: preset then override expected: %v", m)
		}
		if ds := r.Body["domains"].([]any); len(ds) != 1 || ds[0] != "acme.test" {
			t.Errorf("domains %v", ds)
		}
		certs := r.Body["certificates"].([]any)
		if len(certs) != 1 || !strings.Contains(certs[0].(map[string]any)["subject"].(string), "okta-2026") {
			t.Fatalf("certificates %v", certs)
		}
		if strings.Contains(string(r.Raw), "sealed") || strings.Contains(string(r.Raw), "PRIVATE") {
			t.Errorf("the answer carries secrets: %s", r.Raw)
		}

		// SAML by metadata XML.
		r = e.API("POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "Entra",
			"idp_metadata_xml": string(ssotest.IdPMetadata(t, "entra", time.Now().Add(365*24*time.Hour))), "preset": "entra", "jit": false}).Want(t, 201)
		entra := r.Str("id")
		if r.Str("idp_metadata_url") != "" || r.Body["jit"] != false || r.Str("preset") != "entra" {
			t.Errorf("SAML by XML: %s", r.Raw)
		}

		// OIDC by issuer and client: discovery is checked, the secret sealed.
		r = e.API("POST", "/api/v1/sso/connections", map[string]any{"kind": "oidc", "name": "Google", "issuer": issuer, "client_id": "cid",
			"client_secret": "very-secret-value", "preset": "google", "domains": []string{"acme.test.example"}, "hosted_domains": []string{"acme.test.example"},
			"extra_scopes": []string{"groups"}}).Want(t, 201)
		oidc := r.Str("id")
		if r.Str("redirect_uri") != apitest.SSOExternalURL+"/sso/oidc/"+oidc+"/callback" || r.Str("issuer") != issuer || r.Str("client_id") != "cid" {
			t.Errorf("OIDC setup values: %s", r.Raw)
		}
		if hd := r.Body["hosted_domains"].([]any); len(hd) != 1 || hd[0] != "acme.test.example" {
			t.Errorf("hosted domains %v", hd)
		}
		if sc := r.Body["extra_scopes"].([]any); len(sc) != 1 || sc[0] != "groups" {
			t.Errorf("extra scopes %v", sc)
		}
		if strings.Contains(string(r.Raw), "very-secret-value") || strings.Contains(string(r.Raw), "sealed") {
			t.Errorf("the client secret is answered: %s", r.Raw)
		}
		conn, err := e.St.GetSSOConnection(context.Background(), oidc)
		if err != nil || conn.OIDC.ClientSecretSealed == "" || strings.Contains(conn.OIDC.ClientSecretSealed, "very-secret") {
			t.Fatalf("stored secret: %v %+v", err, conn.OIDC)
		}
		sealed := conn.OIDC.ClientSecretSealed

		// Bad input: problem+json naming the field, and nothing changed.
		before := ssoState(t, e)
		bad := []struct {
			name   string
			body   any
			status int
			detail string
		}{
			{"no kind", map[string]any{"name": "x", "idp_metadata_url": md.URL}, 422, "kind"},
			{"no name", map[string]any{"kind": "saml", "idp_metadata_url": md.URL}, 422, "name"},
			{"no metadata", map[string]any{"kind": "saml", "name": "x"}, 422, "idp_metadata_url"},
			{"URL and XML", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": md.URL, "idp_metadata_xml": "<x/>"}, 422, "idp_metadata_url"},
			{"not metadata", map[string]any{"kind": "saml", "name": "x", "idp_metadata_xml": "<html>hello</html>"}, 422, "idp_metadata_xml"},
			{"metadata URL answers 404", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": md.URL + "/missing"}, 422, "idp_metadata_url"},
			{"metadata URL not http", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": "file:///etc/passwd"}, 422, "idp_metadata_url"},
			{"issuer without discovery", map[string]any{"kind": "oidc", "name": "x", "issuer": md.URL, "client_id": "c", "client_secret": "s"}, 422, "issuer"},
			{"issuer not https", map[string]any{"kind": "oidc", "name": "x", "issuer": "http://idp.example.com", "client_id": "c", "client_secret": "s"}, 422, "issuer"},
			{"no secret", map[string]any{"kind": "oidc", "name": "x", "issuer": issuer, "client_id": "c"}, 422, "client_secret"},
			{"unknown preset", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": md.URL, "preset": "oktaa"}, 422, "unknown preset"},
			{"bad group values", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": md.URL, "mapping": map[string]any{"group_values": "upper"}}, 422, "group values"},
			{"skew too large", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": md.URL, "clock_skew_seconds": 600}, 422, "clock_skew_seconds"},
			{"OIDC field on SAML", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": md.URL, "extra_scopes": []string{"groups"}}, 422, "extra_scopes"},
			{"SAML field on OIDC", map[string]any{"kind": "oidc", "name": "x", "issuer": issuer, "client_id": "c", "client_secret": "s", "single_logout": false}, 422, "single_logout"},
			{"google without hd", map[string]any{"kind": "oidc", "name": "x", "issuer": issuer, "client_id": "c", "client_secret": "s", "preset": "google"}, 422, "hosted-domain"},
			{"UPN email without domains", map[string]any{"kind": "oidc", "name": "x", "issuer": issuer, "client_id": "c", "client_secret": "s", "preset": "entra"}, 422, "sign-in name"},
			{"bad domain", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": md.URL, "domains": []string{"not a domain"}}, 422, "domains"},
			{"name taken", map[string]any{"kind": "saml", "name": "Okta", "idp_metadata_url": md.URL}, 409, "name"},
			{"domain taken", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": md.URL, "domains": []string{"acme.test"}}, 409, "acme.test"},
			{"unknown field", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": md.URL, "metadata": "x"}, 400, "unknown field"},
		}
		for _, c := range bad {
			r := e.API("POST", "/api/v1/sso/connections", c.body)
			if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.Str("detail"), c.detail) {
				t.Errorf("%s: %d %s %s, want %d mentioning %q", c.name, r.Status, r.Header.Get("Content-Type"), truncate(r.Raw), c.status, c.detail)
			}
		}
		if r := e.API("POST", "/api/v1/sso/connections", "kind=saml&name=x", apitest.WithContentType("application/x-www-form-urlencoded")); r.Status != 415 {
			t.Errorf("form post: %d", r.Status)
		}
		badPatch := []struct {
			name, conn string
			body       any
			status     int
			detail     string
		}{
			{"nothing", id, map[string]any{}, 422, "nothing to change"},
			{"empty name", id, map[string]any{"name": " "}, 422, "name"},
			{"kind", id, map[string]any{"kind": "oidc"}, 422, "kind"},
			{"unknown preset", id, map[string]any{"preset": "bogus"}, 422, "unknown preset"},
			{"OIDC field on SAML", id, map[string]any{"client_secret": "x"}, 422, "client_secret"},
			{"SAML field on OIDC", oidc, map[string]any{"refresh_metadata": true}, 422, "refresh_metadata"},
			{"refresh without URL", entra, map[string]any{"refresh_metadata": true}, 422, "metadata file"},
			{"new metadata that is not", id, map[string]any{"idp_metadata_xml": "<EntityDescriptor/>"}, 422, "idp_metadata_xml"},
			{"empty secret", oidc, map[string]any{"client_secret": ""}, 422, "client_secret"},
			{"new issuer without discovery", oidc, map[string]any{"issuer": md.URL}, 422, "issuer"},
			{"hd cleared under google", oidc, map[string]any{"hosted_domains": []string{}}, 422, "hosted-domain"},
			{"name taken", entra, map[string]any{"name": "Okta"}, 409, "name"},
			{"domain taken", entra, map[string]any{"domains": []string{"acme.test"}}, 409, "acme.test"},
			{"unknown connection", "nope", map[string]any{"name": "x"}, 404, "nope"},
		}
		for _, c := range badPatch {
			r := e.API("PATCH", "/api/v1/sso/connections/"+c.conn, c.body)
			if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.Str("detail"), c.detail) {
				t.Errorf("PATCH %s: %d %s, want %d mentioning %q", c.name, r.Status, truncate(r.Raw), c.status, c.detail)
			}
		}
		if after := ssoState(t, e); after != before {
			t.Fatalf("refused requests changed something:\nbefore %.3000s\nafter  %.3000s", before, after)
		}

		// A non-admin person is refused, and changes nothing either.
		bob := e.User("bob")
		if r := apitest.Call(t, e.Srv.URL, "POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "x", "idp_metadata_url": md.URL}, e.Session(bob)); r.Status != 403 {
			t.Errorf("non-admin POST: %d %s", r.Status, r.Raw)
		}
		if r := apitest.Call(t, e.Srv.URL, "DELETE", "/api/v1/sso/connections/"+id, nil, e.Session(bob)); r.Status != 403 {
			t.Errorf("non-admin DELETE: %d %s", r.Status, r.Raw)
		}

		// PATCH: by name, the fields given; the rest kept.
		r = e.API("PATCH", "/api/v1/sso/connections/okta", map[string]any{"name": "Okta SAML", "domains": []string{"acme.test", "corp.acme.test"},
			"jit": false, "allow_idp_initiated": false, "single_logout": false}).Want(t, 200)
		if r.Str("name") != "Okta SAML" || r.Body["jit"] != false || r.Body["allow_idp_initiated"] != false || r.Body["single_logout"] != false ||
			len(r.Body["domains"].([]any)) != 2 || r.Body["version"] != float64(2) || r.Str("preset") != "okta" || r.Body["clock_skew_seconds"] != float64(120) {
			t.Errorf("PATCH: %s", r.Raw)
		}
		// The IdP rolls its key: refresh_metadata fetches the new certificate.
		md.Set(ssotest.IdPMetadata(t, "okta-2027", time.Now().Add(400*24*time.Hour)))
		r = e.API("PATCH", "/api/v1/sso/connections/"+id, map[string]any{"refresh_metadata": true}).Want(t, 200)
		var listed, retired []string
		for _, c := range r.Body["certificates"].([]any) {
			c := c.(map[string]any)
			if c["retired_at"] == nil {
				listed = append(listed, c["subject"].(string))
			} else {
				retired = append(retired, c["subject"].(string))
			}
		}
		if len(listed) != 1 || !strings.Contains(listed[0], "okta-2027") || len(retired) != 1 || !strings.Contains(retired[0], "okta-2026") {
			t.Errorf("after the refresh: listed %v, retired %v", listed, retired)
		}
		// A connection's answer, mapping and all, is a valid PATCH body.
		got := e.API("GET", "/api/v1/sso/connections/"+entra, nil).Want(t, 200)
		e.API("PATCH", "/api/v1/sso/connections/"+entra, map[string]any{"mapping": got.Body["mapping"], "jit": true}).Want(t, 200)
		if r := e.API("PATCH", "/api/v1/sso/connections/"+entra, map[string]any{"preset": "okta", "mapping": map[string]any{"preset": "entra"}}); r.Status != 422 {
			t.Errorf("two presets: %d", r.Status)
		}
		// The preset cleared, the mapping given: the defaults elsewhere.
		r = e.API("PATCH", "/api/v1/sso/connections/"+id, map[string]any{"preset": "", "mapping": map[string]any{"email": []string{"NameID"}}}).Want(t, 200)
		if m := r.Body["mapping"].(map[string]any); r.Str("preset") != "" || m["given_name"] != nil || m["email"].([]any)[0] != "NameID" {
			t.Errorf("preset cleared: %s", r.Raw)
		}
		// A new client secret is sealed anew; the answer never has it.
		r = e.API("PATCH", "/api/v1/sso/connections/"+oidc, map[string]any{"client_secret": "rotated-secret", "userinfo": false}).Want(t, 200)
		if strings.Contains(string(r.Raw), "rotated-secret") || r.Body["userinfo"] != false {
			t.Errorf("secret rotation answer: %s", r.Raw)
		}
		if conn, _ := e.St.GetSSOConnection(context.Background(), oidc); conn.OIDC.ClientSecretSealed == sealed || conn.OIDC.ClientSecretSealed == "" {
			t.Error("the client secret was not sealed anew")
		}

		// GET one, DELETE: what went, then 404.
		e.API("GET", "/api/v1/sso/connections/"+entra, nil).Want(t, 200)
		r = e.API("DELETE", "/api/v1/sso/connections/"+id, nil).Want(t, 200)
		if r.Str("name") != "Okta SAML" || len(r.Body["domains"].([]any)) != 2 || r.Body["users"] != float64(0) {
			t.Errorf("DELETE answer: %s", r.Raw)
		}
		e.API("GET", "/api/v1/sso/connections/"+id, nil).Want(t, 404)
		e.API("DELETE", "/api/v1/sso/connections/"+id, nil).Want(t, 404)
		if n := len(e.API("GET", "/api/v1/sso/connections", nil).Want(t, 200).Items()); n != 2 {
			t.Errorf("%d connections left, want 2", n)
		}
		// The API token's changes are audited as its own.
		audit := e.API("GET", "/api/v1/audit?limit=1000", nil).Want(t, 200)
		for _, want := range []string{"sso_connection.create", "sso_connection.update", "sso_connection.delete"} {
			if !strings.Contains(string(audit.Raw), want) {
				t.Errorf("audit lacks %s", want)
			}
		}
	})
}

func truncate(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}
