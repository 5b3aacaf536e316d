package api_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/netpolicy/netpolicytest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso"
	"github.com/gatehouse-dev/gatehouse/sso/ssotest"
)

// redirector answers every request with a redirect to to.
func redirector(t *testing.T, to string) string {
	t.Helper()
	srv := httptest.NewServer(http.RedirectHandler(to, http.StatusFound))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSSOFetchPolicyAPI: the IdP URLs an org admin gives through the JSON API
// are fetched only where the server's SSO network policy allows (serve's
// --sso-allow-loopback and --sso-allow-private). Refused: loopback addresses,
// the cloud metadata endpoints, a name resolving to loopback (localhost) or to
// a private address, a redirect from an allowed IdP to a refused address, for
// SAML metadata and OIDC discovery, on create and update: 422 problem+json
// naming the field and the address, the refused server never reached, nothing
// stored or audited. Allowed: the same private name once the policy allows
// private addresses.
func TestSSOFetchPolicyAPI(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		md := ssotest.NewMetadataServer(t, ssotest.IdPMetadata(t, "corp", time.Now().Add(90*24*time.Hour)))
		issuer := ssotest.OpenIDProvider(t)
		mdPort := md.Listener.Addr().(*net.TCPAddr).Port
		res := netpolicytest.NewResolver("localhost", "127.0.0.1,::1", "idp.corp.example", "10.1.2.3")
		corpURL := "http://idp.corp.example:" + strconv.Itoa(mdPort) + "/"

		strict := apitest.NewSSOEnvWith(t, b, sso.Network{Resolver: res})
		xml := string(ssotest.IdPMetadata(t, "by-file", time.Now().Add(90*24*time.Hour)))
		byFile := strict.API("POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "By file", "idp_metadata_xml": xml}).Want(t, 201).Str("id")
		before := ssoState(t, strict)
		for _, c := range []struct {
			name   string
			body   map[string]any
			detail string
		}{
			{"loopback metadata URL", map[string]any{"kind": "saml", "idp_metadata_url": md.URL},
				"idp_metadata_url: not allowed: 127.0.0.1, a loopback address; identity providers there are refused unless the server is started with --sso-allow-loopback"},
			{"cloud metadata", map[string]any{"kind": "saml", "idp_metadata_url": "http://169.254.169.254/latest/meta-data/"},
				"idp_metadata_url: not allowed: 169.254.169.254, a link-local address (the cloud metadata endpoint); no identity provider lives there"},
			{"cloud metadata, IPv6", map[string]any{"kind": "saml", "idp_metadata_url": "http://[fd00:ec2::254]/latest/meta-data/"},
				"idp_metadata_url: not allowed: fd00:ec2::254, the cloud metadata endpoint (fd00:ec2::254); no identity provider lives there"},
			{"IPv4-mapped loopback", map[string]any{"kind": "saml", "idp_metadata_url": "http://[::ffff:127.0.0.1]:" + strconv.Itoa(mdPort) + "/"},
				"127.0.0.1, a loopback address"},
			{"name resolving to loopback", map[string]any{"kind": "saml", "idp_metadata_url": "http://localhost:" + strconv.Itoa(mdPort) + "/"},
				"idp_metadata_url: not allowed: localhost resolves to 127.0.0.1, a loopback address"},
			{"name resolving to a private address", map[string]any{"kind": "saml", "idp_metadata_url": corpURL},
				"idp_metadata_url: not allowed: idp.corp.example resolves to 10.1.2.3, a private address (RFC 1918); identity providers there are refused unless the server is started with --sso-allow-private"},
			{"loopback issuer", map[string]any{"kind": "oidc", "issuer": issuer, "client_id": "c", "client_secret": "s"},
				"issuer: not allowed: 127.0.0.1, a loopback address"},
		} {
			c.body["name"] = "x"
			r := strict.API("POST", "/api/v1/sso/connections", c.body)
			if r.Status != 422 || r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.Str("detail"), c.detail) {
				t.Errorf("%s: %d %s, want 422 with %q", c.name, r.Status, truncate(r.Raw), c.detail)
			}
			if c.body["kind"] == "saml" {
				delete(c.body, "kind")
				delete(c.body, "name")
				r := strict.API("PATCH", "/api/v1/sso/connections/"+byFile, c.body)
				if r.Status != 422 || !strings.Contains(r.Str("detail"), c.detail) {
					t.Errorf("%s, update: %d %s, want 422 with %q", c.name, r.Status, truncate(r.Raw), c.detail)
				}
			}
		}
		if after := ssoState(t, strict); after != before {
			t.Errorf("refused requests changed connections or audit:\n%s\n---\n%s", before, after)
		}
		if n := md.Hits(); n != 0 {
			t.Fatalf("the refused metadata server was reached %d times", n)
		}

		// Loopback allowed (the test stack's --sso-allow-loopback): an allowed IdP
		// that redirects to a refused address is refused at the redirect, by the
		// dialer, after resolution.
		loop := apitest.NewSSOEnvWith(t, b, sso.Network{AllowLoopback: true, Resolver: res})
		loopBefore := ssoState(t, loop)
		for _, c := range []struct {
			name   string
			body   map[string]any
			detail string
		}{
			{"metadata redirected to cloud metadata", map[string]any{"kind": "saml", "idp_metadata_url": redirector(t, "http://169.254.169.254/latest/meta-data/")},
				"idp_metadata_url: fetch metadata: redirected to http://169.254.169.254/latest/meta-data/: refused by the SSO network policy: 169.254.169.254, a link-local address"},
			{"metadata redirected to a private name", map[string]any{"kind": "saml", "idp_metadata_url": redirector(t, corpURL)},
				"redirected to " + corpURL + ": refused by the SSO network policy: idp.corp.example resolves to 10.1.2.3, a private address (RFC 1918)"},
			{"discovery redirected to cloud metadata", map[string]any{"kind": "oidc", "issuer": redirector(t, "http://169.254.169.254/"), "client_id": "c", "client_secret": "s"},
				"failed: redirected to http://169.254.169.254/: refused by the SSO network policy: 169.254.169.254, a link-local address"},
		} {
			c.body["name"] = "x"
			r := loop.API("POST", "/api/v1/sso/connections", c.body)
			if r.Status != 422 || !strings.Contains(r.Str("detail"), c.detail) {
				t.Errorf("%s: %d %s, want 422 with %q", c.name, r.Status, truncate(r.Raw), c.detail)
			}
		}
		if after := ssoState(t, loop); after != loopBefore {
			t.Errorf("refused redirects changed connections or audit:\n%s\n---\n%s", loopBefore, after)
		}
		loop.API("POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "Local", "idp_metadata_url": md.URL}).Want(t, 201)
		loop.API("POST", "/api/v1/sso/connections", map[string]any{"kind": "oidc", "name": "Local OIDC", "issuer": issuer, "client_id": "c", "client_secret": "s"}).Want(t, 201)

		// Private addresses allowed (--sso-allow-private): idp.corp.example is
		// dialed at 10.1.2.3 (the only address the test routes, to the metadata
		// server).
		toMetadata := netpolicytest.Route(map[string]string{"10.1.2.3:" + strconv.Itoa(mdPort): md.Listener.Addr().String()})
		private := apitest.NewSSOEnvWith(t, b, sso.Network{AllowPrivate: true, Resolver: res, Dial: toMetadata})
		r := private.API("POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "Corp", "idp_metadata_url": corpURL}).Want(t, 201)
		if r.Str("idp_metadata_url") != corpURL {
			t.Errorf("created from %q", r.Str("idp_metadata_url"))
		}
		// Private does not mean loopback or link-local.
		private.API("POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "y", "idp_metadata_url": md.URL}).Want(t, 422)
		private.API("POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "y", "idp_metadata_url": "http://169.254.169.254/"}).Want(t, 422)
	})
}
