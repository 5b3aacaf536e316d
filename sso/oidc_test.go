package sso_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestOIDCLogin(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		o, conn := g.addOIDC(t, oidcOpts{domains: []string{"acme.test"}})
		o.users.set("u-bob", "bob@acme.test", true, []string{"eng", "Finance Team"})

		b := newBrowser(t)
		landed := b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), "bob@acme.test", "pw-u-bob")
		if landed.status != http.StatusOK || landed.url.Path != "/api/v1/me" {
			t.Fatalf("login landed on %s with %d: %.300s\n%s", landed.url, landed.status, landed.body, g.logs.String())
		}
		code, me := b.me(g)
		if code != http.StatusOK || me.User.Email != "bob@acme.test" || me.User.GivenName != "Bob" || me.Session.ConnectionID != conn.ID {
			t.Fatalf("/me = %d %+v", code, me)
		}
		if names := connGroups(t, g, conn); !slices.Equal(names, []string{"Finance Team", "eng"}) {
			t.Errorf("IdP groups from the groups claim = %v", names)
		}
		// Each login state is used once.
		var n int
		fatalIf(t, g.st.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM sso_oidc_states`), "count states")
		if n != 0 {
			t.Errorf("%d OIDC states left after the login", n)
		}
	})
}

// TestOIDCAttacksRefused drives real logins against the OP and tampers with the
// callback, or makes the OP misbehave; each must be refused with no session.
func TestOIDCAttacksRefused(t *testing.T) {
	t.Parallel()
	type attack struct {
		name, reason, cause string
		run                 func(t *testing.T, g *gatehouse, o *oidcOP, conn store.SSOConnection, b *browser) page
	}
	// callbackURL logs in and stops before the browser reaches our callback.
	callbackURL := func(t *testing.T, g *gatehouse, conn store.SSOConnection, b *browser) *url.URL {
		b.stopAt.Store("/sso/oidc/" + conn.ID + "/callback")
		defer b.stopAt.Store("")
		p := b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), "bob@acme.test", "pw-u-bob")
		if p.status != http.StatusFound && p.status != http.StatusSeeOther {
			t.Fatalf("OP did not redirect to the callback: %d %.300s", p.status, p.body)
		}
		u, err := p.url.Parse(p.location)
		fatalIf(t, err, "callback location")
		return u
	}
	attacks := []attack{
		{name: "wrong-state", reason: "oidc_state_mismatch", cause: "state parameter does not match", run: func(t *testing.T, g *gatehouse, o *oidcOP, conn store.SSOConnection, b *browser) page {
			u := callbackURL(t, g, conn, b)
			q := u.Query()
			q.Set("state", "forged-"+q.Get("state"))
			u.RawQuery = q.Encode()
			return b.get(u.String())
		}},
		{name: "callback-in-another-browser", reason: "oidc_state_mismatch", cause: "state parameter does not match", run: func(t *testing.T, g *gatehouse, o *oidcOP, conn store.SSOConnection, b *browser) page {
			// Login CSRF: the attacker's own code and state, opened in the victim's browser.
			u := callbackURL(t, g, conn, b)
			return newBrowser(t).get(u.String())
		}},
		{name: "replayed-callback", reason: "oidc_state_mismatch", cause: "state parameter does not match", run: func(t *testing.T, g *gatehouse, o *oidcOP, conn store.SSOConnection, b *browser) page {
			u := callbackURL(t, g, conn, b)
			if p := b.get(u.String()); p.status != http.StatusOK {
				t.Fatalf("first use refused: %d", p.status)
			}
			b.submit(b.get(g.url.String()+"/sso/logout"), nil)
			return b.get(u.String())
		}},
		{name: "code-of-another-login-pkce", reason: "oidc_code_exchange", cause: "code exchange", run: func(t *testing.T, g *gatehouse, o *oidcOP, conn store.SSOConnection, b *browser) page {
			// A code issued to another login (another PKCE verifier) injected
			// into this login's callback.
			first := callbackURL(t, g, conn, b)
			second := callbackURL(t, g, conn, b)
			q := second.Query()
			q.Set("code", first.Query().Get("code"))
			second.RawQuery = q.Encode()
			return b.get(second.String())
		}},
		{name: "wrong-nonce", reason: "oidc_nonce_mismatch", cause: "nonce does not match", run: func(t *testing.T, g *gatehouse, o *oidcOP, conn store.SSOConnection, b *browser) page {
			o.st.mu.Lock()
			o.st.forceNonce = "nonce-of-another-login"
			o.st.mu.Unlock()
			return b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), "bob@acme.test", "pw-u-bob")
		}},
		{name: "wrong-issuer", reason: "oidc_invalid_id_token", cause: "issued by a different provider", run: func(t *testing.T, g *gatehouse, o *oidcOP, conn store.SSOConnection, b *browser) page {
			o.setBadIssuer(true)
			return b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), "bob@acme.test", "pw-u-bob")
		}},
		{name: "wrong-audience-extra", reason: "oidc_invalid_id_token", cause: "untrusted audience", run: func(t *testing.T, g *gatehouse, o *oidcOP, conn store.SSOConnection, b *browser) page {
			o.st.mu.Lock()
			o.st.otherAudience = true
			o.st.mu.Unlock()
			return b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), "bob@acme.test", "pw-u-bob")
		}},
		{name: "expired-id-token", reason: "oidc_invalid_id_token", cause: "expired", run: func(t *testing.T, g *gatehouse, o *oidcOP, conn store.SSOConnection, b *browser) page {
			o.st.mu.Lock()
			o.st.tokenLifetime = -time.Hour
			o.st.mu.Unlock()
			return b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), "bob@acme.test", "pw-u-bob")
		}},
		{name: "unverified-email", reason: "email_not_verified", cause: "not verified", run: func(t *testing.T, g *gatehouse, o *oidcOP, conn store.SSOConnection, b *browser) page {
			o.users.set("u-bob", "bob@acme.test", false, nil)
			return b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), "bob@acme.test", "pw-u-bob")
		}},
	}
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		st := newStore(t)
		for i, a := range attacks {
			t.Run(a.name, func(t *testing.T) {
				g := newGatehouseIn(t, st, i)
				o, conn := g.addOIDC(t, oidcOpts{})
				o.users.set("u-bob", "bob@acme.test", true, []string{"eng"})
				b := newBrowser(t)
				wantRefused(t, g, a.run(t, g, o, conn, b), a.reason)
				if !contains(g.logs.String(), a.cause) {
					t.Errorf("log does not show the cause %q:\n%s", a.cause, g.logs.String())
				}
				if code, _ := b.me(g); code != http.StatusUnauthorized && a.name != "replayed-callback" {
					t.Errorf("/me after the attack: %d, want 401", code)
				}
				if a.name != "replayed-callback" {
					if _, err := g.userByEmail("bob@acme.test"); err == nil {
						t.Errorf("a user was created from a refused login")
					}
				}
				if len(g.audits("sso.login_refused")) == 0 {
					t.Errorf("no sso.login_refused audit event")
				}
			})
		}
	})
}
