package sso_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var mallory = idpUser{email: "mallory@acme.test", given: "Mallory", family: "Evil", groups: []string{"eng"}}

// TestSAMLLoginBoundToBrowser: over https an SP-initiated login finishes only in
// the browser that started it, so an attacker cannot push their own solicited
// response into a victim's browser (login CSRF).
func TestSAMLLoginBoundToBrowser(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouseTLS(t, newStore(t))
		idp := newSAMLIdP(t)
		idp.trustSP(g)
		conn := g.addSAML(idp, "okta", samlOpts{allowIdP: true})
		if strings.Contains(g.logs.String(), "cannot be bound") {
			t.Errorf("https Gatehouse warns about plain http:\n%s", g.logs.String())
		}

		t.Run("cookie-attributes", func(t *testing.T) {
			b := g.browser(t)
			b.stopAt.Store("/sso") // the IdP's SSO endpoint: look at /login's answer
			p := b.get(g.url.String() + "/sso/saml/" + conn.ID + "/login")
			if p.status != http.StatusFound {
				t.Fatalf("/login answered %d", p.status)
			}
			var bind string
			for _, c := range p.header.Values("Set-Cookie") {
				if strings.HasPrefix(c, "gatehouse_saml_") {
					bind = c
				}
			}
			for _, want := range []string{"Secure", "HttpOnly", "SameSite=None", "Path=/sso/saml/" + conn.ID + "/acs", "Max-Age=600"} {
				if !strings.Contains(bind, want) {
					t.Errorf("binding cookie %q lacks %s", bind, want)
				}
			}
		})

		t.Run("same-browser", func(t *testing.T) {
			idp.setUser(alice)
			b := g.browser(t)
			landed := b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
			if landed.status != http.StatusOK || landed.url.Path != "/api/v1/me" {
				t.Fatalf("login landed on %s with %d: %.300s\n%s", landed.url, landed.status, landed.body, g.logs.String())
			}
		})

		t.Run("other-browser-refused", func(t *testing.T) {
			idp.setUser(mallory)
			attacker := g.browser(t)
			form := attacker.samlStart(g, conn, "/api/v1/me") // the IdP's auto-posting response, not yet posted
			victim := g.browser(t)
			p := victim.submit(form, nil)
			wantRefused(t, g, p, "saml_browser_mismatch")
			if code, _ := victim.me(g); code != http.StatusUnauthorized {
				t.Errorf("victim's browser has a session after the forced login: /me %d", code)
			}
			if _, err := g.userByEmail(mallory.email); err == nil {
				t.Error("the refused login created the attacker's user")
			}
			found := false
			for _, e := range g.audits("sso.login_refused") {
				if e.Details["reason"] == "saml_browser_mismatch" {
					found = true
				}
			}
			if !found {
				t.Error("no sso.login_refused audit event with reason saml_browser_mismatch")
			}
			// The attacker's own browser cannot finish it afterwards either: the
			// request was taken by the refused attempt.
			if p := attacker.submit(form, nil); p.status == http.StatusOK && p.url.Path == "/api/v1/me" {
				t.Error("the request was still usable after a refused cross-browser post")
			}
		})

		t.Run("wrong-cookie-refused", func(t *testing.T) {
			// A victim's browser holding a binding cookie of the right name (as if
			// planted) but another value is refused too: the value is what counts.
			idp.setUser(mallory)
			form := g.browser(t).samlStart(g, conn, "/api/v1/me")
			_, vals := form.form(t)
			sum := sha256.Sum256([]byte(vals.Get("RelayState")))
			victim := g.browser(t)
			acs, _ := url.Parse(g.url.String() + "/sso/saml/" + conn.ID + "/acs")
			victim.client.Jar.SetCookies(acs, []*http.Cookie{{Name: "gatehouse_saml_" + hex.EncodeToString(sum[:])[:20], Value: "planted", Path: acs.Path, Secure: true}})
			wantRefused(t, g, victim.submit(form, nil), "saml_browser_mismatch")
			if code, _ := victim.me(g); code != http.StatusUnauthorized {
				t.Errorf("victim's browser has a session: /me %d", code)
			}
		})

		t.Run("idp-initiated-unaffected", func(t *testing.T) {
			idp.setUser(alice)
			b := g.browser(t)
			landed := b.submit(b.idpInitiated(idp, g, conn, "/api/v1/me"), nil)
			if landed.status != http.StatusOK || landed.url.Path != "/api/v1/me" {
				t.Fatalf("IdP-initiated login landed on %s with %d: %.300s\n%s", landed.url, landed.status, landed.body, g.logs.String())
			}
		})
	})
}

// TestSAMLBindingOverPlainHTTP: over http (development) the binding cannot work in
// browsers, so a login without it is accepted, and the handler says so at startup.
func TestSAMLBindingOverPlainHTTP(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		if n := strings.Count(g.logs.String(), "cannot be bound to the browser"); n != 1 {
			t.Errorf("%d startup warnings about the missing binding over http, want 1:\n%s", n, g.logs.String())
		}
		idp := newSAMLIdP(t)
		idp.setUser(alice)
		conn := g.addSAML(idp, "okta", samlOpts{})
		form := newBrowser(t).samlStart(g, conn, "/api/v1/me")
		other := newBrowser(t)
		if landed := other.submit(form, nil); landed.status != http.StatusOK || landed.url.Path != "/api/v1/me" {
			t.Fatalf("http login without the binding cookie landed on %s with %d\n%s", landed.url, landed.status, g.logs.String())
		}
		if n := strings.Count(g.logs.String(), "cannot be bound to the browser"); n != 1 {
			t.Errorf("the warning was repeated per login (%d times)", n)
		}
	})
}
