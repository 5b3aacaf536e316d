package web_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/netpolicy/netpolicytest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso"
	"github.com/gatehouse-dev/gatehouse/sso/ssotest"
)

// TestSSOFetchPolicyPages: on the admin pages, an IdP URL the server's SSO
// network policy refuses (loopback, the cloud metadata endpoint, a name
// resolving to loopback or to a private address, an allowed server's redirect
// to a refused address) is refused with the reason next to its field, what was
// typed kept, the refused server never reached and nothing stored or audited.
func TestSSOFetchPolicyPages(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		md := ssotest.NewMetadataServer(t, ssotest.IdPMetadata(t, "corp", time.Now().Add(90*24*time.Hour)))
		mdURL, _ := url.Parse(md.URL)
		corpURL := "http://idp.corp.example:" + mdURL.Port() + "/"
		res := netpolicytest.NewResolver("localhost", "127.0.0.1", "idp.corp.example", "10.1.2.3", "idp.public.example", "93.184.215.14")
		// The policy refuses loopback, but lets the test's redirector through
		// under a public name (routed to it by the test's dial).
		away := httptest.NewServer(http.RedirectHandler("http://169.254.169.254/latest/meta-data/", http.StatusFound))
		t.Cleanup(away.Close)
		awayURL, _ := url.Parse(away.URL)
		s := newSiteWith(t, b, sso.Network{Resolver: res, Dial: netpolicytest.Route(map[string]string{"93.184.215.14:" + awayURL.Port(): awayURL.Host})})
		admin, csrf := formClient(t, s, "admin@acme.test")
		byFile := s.siteAPI(t, "POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "By file",
			"idp_metadata_xml": string(ssotest.IdPMetadata(t, "by-file", time.Now().Add(90*24*time.Hour)))}).Want(t, 201).Str("id")
		state := func() string {
			return string(s.siteAPI(t, "GET", "/api/v1/sso/connections", nil).Want(t, 200).Raw)
		}
		before, audits := state(), auditCount(t, s)
		for _, c := range []struct {
			name, path, field string
			form              url.Values
			want              string
		}{
			{"loopback", "/admin/sso/add-saml", "idp_metadata_url", url.Values{"name": {"Typed Name"}, "idp_metadata_url": {md.URL}},
				"not allowed: 127.0.0.1, a loopback address; identity providers there are refused unless the server is started with --sso-allow-loopback"},
			{"cloud metadata", "/admin/sso/add-saml", "idp_metadata_url", url.Values{"name": {"Typed Name"}, "idp_metadata_url": {"http://169.254.169.254/latest/meta-data/"}},
				"169.254.169.254, a link-local address (the cloud metadata endpoint); no identity provider lives there"},
			{"localhost", "/admin/sso/add-saml", "idp_metadata_url", url.Values{"name": {"Typed Name"}, "idp_metadata_url": {"http://localhost:" + mdURL.Port() + "/"}},
				"not allowed: localhost resolves to 127.0.0.1, a loopback address"},
			{"private name", "/admin/sso/add-saml", "idp_metadata_url", url.Values{"name": {"Typed Name"}, "idp_metadata_url": {corpURL}},
				"not allowed: idp.corp.example resolves to 10.1.2.3, a private address (RFC 1918); identity providers there are refused unless the server is started with --sso-allow-private"},
			{"redirect to cloud metadata", "/admin/sso/add-saml", "idp_metadata_url", url.Values{"name": {"Typed Name"}, "idp_metadata_url": {"http://idp.public.example:" + awayURL.Port() + "/md"}},
				"redirected to http://169.254.169.254/latest/meta-data/: refused by the SSO network policy: 169.254.169.254, a link-local address"},
			{"loopback issuer", "/admin/sso/add-oidc", "issuer", url.Values{"name": {"Typed Name"}, "issuer": {md.URL}, "client_id": {"c"}, "client_secret": {"s"}},
				"not allowed: 127.0.0.1, a loopback address"},
			{"edit: private name", "/admin/sso/" + byFile, "idp_metadata_url", url.Values{"name": {"By file"}, "idp_metadata_url": {corpURL}},
				"not allowed: idp.corp.example resolves to 10.1.2.3"},
		} {
			code, body := postForm(t, admin, s.srv.URL+c.path, withCSRF(c.form, csrf))
			next := regexp.MustCompile(`name="` + c.field + `"[^>]*><span class="field-error">([^<]*)</span>`).FindStringSubmatch(body)
			if code != http.StatusUnprocessableEntity || next == nil || !strings.Contains(strings.ToLower(html.UnescapeString(next[1])), strings.ToLower(c.want)) {
				t.Errorf("%s: %d, field message %q, want 422 with %q next to %s", c.name, code, next, c.want, c.field)
			}
			if !strings.Contains(body, `value="Typed Name"`) && !strings.Contains(body, `value="By file"`) {
				t.Errorf("%s: the typed name is lost", c.name)
			}
			if state() != before || auditCount(t, s) != audits {
				t.Fatalf("%s changed the connections or wrote to the audit log", c.name)
			}
		}
		if n := md.Hits(); n != 0 {
			t.Fatalf("the refused metadata server was reached %d times", n)
		}
	})
}
