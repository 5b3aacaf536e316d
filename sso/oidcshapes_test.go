package sso_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// TestOIDCShapes logs in through the real zitadel OP shaped like each
// mainstream OpenID provider, with the connection set up as docs/sso.md says,
// and checks what Gatehouse read, or that the login was refused with its reason
// on the page and in the audit log.
func TestOIDCShapes(t *testing.T) {
	t.Parallel()
	const id = "u-alice"
	for _, tc := range []struct {
		name     string
		op       func(s *opStorage)
		user     func(u *opUsers)
		login    string // the user name typed at the OP
		domains  []string
		settings sso.Settings
		// either what is read...
		email  string
		groups []string
		scope  string // asked for (or, with "-", not)
		// ... or why the login is refused
		refused, pageSays string
	}{
		// Okta releases the groups claim only to a client asking for the groups
		// scope: without it the user signs in with no groups (issue 16, case 2).
		{name: "okta-without-groups-scope", op: func(s *opStorage) { s.groupsScope = true },
			email: "alice@acme.test", groups: nil, scope: "-groups"},
		{name: "okta-preset-asks-groups-scope", op: func(s *opStorage) { s.groupsScope = true }, settings: sso.Settings{Preset: ptr("okta")},
			email: "alice@acme.test", groups: []string{"eng", "ops"}, scope: "groups"},
		{name: "okta-groups-only-from-userinfo", op: func(s *opStorage) { s.groupsScope, s.groupsIn, s.profileInIDToken = true, "userinfo", true },
			settings: sso.Settings{Preset: ptr("okta")}, email: "alice@acme.test", groups: []string{"eng", "ops"}, scope: "groups"},
		{name: "userinfo-off-reads-only-the-id-token", op: func(s *opStorage) { s.groupsIn, s.profileInIDToken = "userinfo", true },
			settings: sso.Settings{Preset: ptr("okta"), UserInfo: ptr(false)}, email: "alice@acme.test", groups: nil},
		// Entra: no email claim, the UPN in preferred_username, groups as object ids.
		{name: "entra", op: func(s *opStorage) { s.profileInIDToken = true },
			user: func(u *opUsers) {
				u.setUser(id, "alice@acme.test", "", []string{"3f2a9c4e-1b7d-4e0a-9c51-0d6f2b8e7a11", "8b1e6d20-4c3f-4a9b-b2e7-5f0c9d1a3e44"})
			},
			domains: []string{"acme.test"}, settings: sso.Settings{Preset: ptr("entra")},
			email: "alice@acme.test", groups: []string{"3f2a9c4e-1b7d-4e0a-9c51-0d6f2b8e7a11", "8b1e6d20-4c3f-4a9b-b2e7-5f0c9d1a3e44"}},
		{name: "entra-upn-not-mapped", op: func(s *opStorage) { s.profileInIDToken = true },
			user:    func(u *opUsers) { u.setUser(id, "alice@acme.test", "", nil) },
			domains: []string{"acme.test"}, refused: "no_email", pageSays: "did not send an email address"},
		{name: "entra-upn-outside-domains", op: func(s *opStorage) { s.profileInIDToken = true },
			user:  func(u *opUsers) { u.setUser(id, "alice@partner.test", "", nil) },
			login: "alice@partner.test", domains: []string{"acme.test"}, settings: sso.Settings{Preset: ptr("entra")},
			refused: "email_source_outside_domains", pageSays: "sign-in name"},
		// Google: hd names the Workspace; a consumer account has none.
		{name: "google-workspace", op: func(s *opStorage) { s.profileInIDToken = true },
			user: func(u *opUsers) {
				u.set(id, "alice@acme.test", true, nil)
				u.setClaims(id, map[string]any{"hd": "acme.test"})
			},
			domains: []string{"acme.test"}, settings: sso.Settings{Preset: ptr("google")}, email: "alice@acme.test"},
		{name: "google-consumer-account", op: func(s *opStorage) { s.profileInIDToken = true },
			user:    func(u *opUsers) { u.set(id, "alice@acme.test", true, nil) },
			domains: []string{"acme.test"}, settings: sso.Settings{Preset: ptr("google")},
			refused: "hosted_domain_missing", pageSays: "personal Google account"},
		{name: "google-another-workspace", op: func(s *opStorage) { s.profileInIDToken = true },
			user: func(u *opUsers) {
				u.set(id, "alice@acme.test", true, nil)
				u.setClaims(id, map[string]any{"hd": "other.test"})
			},
			domains: []string{"acme.test"}, settings: sso.Settings{Preset: ptr("google")},
			refused: "hosted_domain_mismatch", pageSays: "another one"},
		// Without hd required, the consumer account signs in (issue 16, case 3).
		{name: "google-hd-not-required", op: func(s *opStorage) { s.profileInIDToken = true },
			user:    func(u *opUsers) { u.set(id, "alice@acme.test", true, nil) },
			domains: []string{"acme.test"}, email: "alice@acme.test"},
		{name: "keycloak-group-paths", user: func(u *opUsers) {
			u.set(id, "alice@acme.test", true, []string{"/engineering", "/engineering/platform"})
		},
			settings: sso.Settings{Preset: ptr("keycloak"), GroupValues: ptr("last-segment")},
			email:    "alice@acme.test", groups: []string{"engineering", "platform"}},
		// Auth0: groups in a namespaced claim an Action adds.
		{name: "auth0-namespaced-claim", op: func(s *opStorage) { s.groupsIn = "none" },
			user: func(u *opUsers) {
				u.set(id, "alice@acme.test", true, nil)
				u.setClaims(id, map[string]any{"https://acme.test/groups": []any{"admins", "eng"}})
			},
			settings: sso.Settings{Preset: ptr("auth0"), Groups: &[]string{"https://acme.test/groups"}},
			email:    "alice@acme.test", groups: []string{"admins", "eng"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
				g := newGatehouse(t, newStore(t))
				op, conn := g.addOIDC(t, oidcOpts{domains: tc.domains, settings: tc.settings})
				if tc.op != nil {
					op.st.set(tc.op)
				}
				op.users.set(id, "alice@acme.test", true, []string{"eng", "ops"})
				if tc.user != nil {
					tc.user(op.users)
				}
				login := tc.login
				if login == "" {
					login = "alice@acme.test"
				}
				b := newBrowser(t)
				p := b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), login, "pw-"+id)
				if tc.refused != "" {
					wantRefused(t, g, p, tc.refused)
					if !strings.Contains(p.body, tc.pageSays) {
						t.Errorf("page does not say %q: %.400s", tc.pageSays, p.body)
					}
					if es := g.audits("sso.login_refused"); len(es) != 1 || es[0].Details["reason"] != tc.refused {
						t.Errorf("audit %+v, want one sso.login_refused with reason %s", es, tc.refused)
					}
					if code, _ := b.me(g); code != http.StatusUnauthorized {
						t.Errorf("/me after refusal: %d", code)
					}
					return
				}
				mustLogin(t, g, p)
				_, me := b.me(g)
				if me.User.Email != tc.email {
					t.Errorf("email %q, want %q", me.User.Email, tc.email)
				}
				if got := connGroups(t, g, conn); !slices.Equal(got, sorted(tc.groups)) {
					t.Errorf("IdP groups %q, want %q", got, sorted(tc.groups))
				}
				if want, ok := strings.CutPrefix(tc.scope, "-"); ok && slices.Contains(op.st.scopesAsked(), want) {
					t.Errorf("scopes %v include %s", op.st.scopesAsked(), want)
				} else if !ok && tc.scope != "" && !slices.Contains(op.st.scopesAsked(), tc.scope) {
					t.Errorf("scopes %v lack %s", op.st.scopesAsked(), tc.scope)
				}
			})
		})
	}
}

// TestOIDCHostedDomainHint: with one hosted domain, the authorization request
// carries hd (Google's account chooser then shows only that Workspace).
func TestOIDCHostedDomainHint(t *testing.T) {
	t.Parallel()
	g := newGatehouse(t, storetest.NewSQLite(t))
	_, conn := g.addOIDC(t, oidcOpts{domains: []string{"acme.test"}, settings: sso.Settings{Preset: ptr("google")}})
	b := newBrowser(t)
	b.stopAt.Store("/authorize")
	p := b.get(g.url.String() + "/sso/oidc/" + conn.ID + "/login")
	u, err := url.Parse(p.location)
	fatalIf(t, err, "authorize URL")
	if u.Query().Get("hd") != "acme.test" {
		t.Errorf("authorization request %s has no hd=acme.test", p.location)
	}
}

// TestOIDCUserInfoFailureChangesNothing: when the ID token lacks the groups and
// the userinfo endpoint fails, the login is refused and the user keeps the
// groups of the last login (going on would remove them).
func TestOIDCUserInfoFailureChangesNothing(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		op, conn := g.addOIDC(t, oidcOpts{settings: sso.Settings{Preset: ptr("okta")}})
		op.st.set(func(s *opStorage) { s.groupsIn, s.profileInIDToken = "userinfo", true })
		const id, email = "u-dana", "dana@acme.test"
		op.users.set(id, email, true, []string{"eng", "ops"})
		first := newBrowser(t)
		f := newGroupsFixture(t, g, conn, first.oidcLogin(first.oidcStart(g, conn, "/api/v1/me"), email, "pw-"+id), first)
		op.st.set(func(s *opStorage) { s.userinfoFails = true })
		b := newBrowser(t)
		f.wantRefusal(t, b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), email, "pw-"+id), "oidc_userinfo_failed", "left unchanged")
		if !contains(g.logs.String(), "userinfo for the missing groups") {
			t.Errorf("log does not show the cause:\n%s", g.logs.String())
		}
	})
}

// TestClockSkewAllowance: an IdP whose clock is off is refused by default and
// accepted within the connection's allowance; the allowance is bounded.
func TestClockSkewAllowance(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		st := newStore(t)
		t.Run("saml", func(t *testing.T) {
			for i, tc := range []struct {
				name string
				off  time.Duration // IdP clock minus ours
				skew time.Duration
				ok   bool
			}{
				{"behind-2m-no-allowance", -2 * time.Minute, 0, false},
				{"behind-2m-allowance-3m", -2 * time.Minute, 3 * time.Minute, true},
				{"ahead-4m-no-allowance", 4 * time.Minute, 0, false},
				{"ahead-4m-allowance-5m", 4 * time.Minute, 5 * time.Minute, true},
				{"behind-8m-allowance-5m", -8 * time.Minute, 5 * time.Minute, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					g := newGatehouseIn(t, st, 10+i)
					idp := newSAMLIdP(t)
					idp.setUser(alice)
					idp.setClock(time.Now().Add(tc.off))
					conn := g.addSAML(idp, "okta", samlOpts{allowIdP: true, settings: sso.Settings{ClockSkew: &tc.skew}})
					b := newBrowser(t)
					p := b.submit(b.idpInitiated(idp, g, conn, "/api/v1/me"), nil)
					if tc.ok {
						mustLogin(t, g, p)
					} else {
						wantRefused(t, g, p, "invalid_saml_response")
					}
				})
			}
		})
		t.Run("oidc-expired-1m", func(t *testing.T) {
			for i, skew := range []time.Duration{0, 2 * time.Minute} {
				g := newGatehouseIn(t, st, 20+i)
				op, conn := g.addOIDC(t, oidcOpts{settings: sso.Settings{ClockSkew: &skew}})
				op.st.set(func(s *opStorage) { s.tokenLifetime = -time.Minute })
				op.users.set("u-bob", "bob@acme.test", true, nil)
				b := newBrowser(t)
				p := b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), "bob@acme.test", "pw-u-bob")
				if skew == 0 {
					wantRefused(t, g, p, "oidc_invalid_id_token")
				} else {
					mustLogin(t, g, p)
				}
			}
		})
		for _, bad := range []time.Duration{6 * time.Minute, -time.Second, 1500 * time.Millisecond} {
			c := store.SSOConnection{Kind: store.KindSAML, SAML: &store.SAMLConfig{}}
			if err := (sso.Settings{ClockSkew: &bad}).Apply(&c); err == nil {
				t.Errorf("clock skew %s accepted", bad)
			}
		}
	})
}
