package sso_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func requireVerified(t *testing.T, g *gatehouse, on bool) {
	t.Helper()
	_, err := g.st.UpdateOrg(ctx, admin, g.org.ID, func(o *core.Org) error { o.RequireVerifiedDomains = on; return nil })
	fatalIf(t, err, "require verified domains")
}

// TestLoginByEmailRoutesVerifiedDomains: the sign-in form routes an email to its
// domain's connection whatever the domain's state, until the org requires
// verified domains: then an unverified domain gets a page that says so (404, no
// redirect to the IdP), and once the domain is verified it routes again.
func TestLoginByEmailRoutesVerifiedDomains(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		idp := newSAMLIdP(t)
		idp.setUser(alice)
		g.addSAML(idp, "okta", samlOpts{domains: []string{"acme.test"}})
		form := newBrowser(t).get(g.url.String() + "/sso/login?return_to=/api/v1/me")
		route := func() page {
			b := newBrowser(t)
			return b.submit(b.submit(form, map[string]string{"email": "alice@acme.test"}), nil)
		}
		mustLogin(t, g, route()) // unverified, not required: routed

		requireVerified(t, g, true)
		p := newBrowser(t).submit(form, map[string]string{"email": "alice@acme.test"})
		if p.status != http.StatusNotFound || !strings.Contains(p.body, "waits for its organization to verify the domain") ||
			!strings.Contains(p.body, "Domains page") || strings.HasPrefix(p.url.String(), idp.srv.URL) {
			t.Fatalf("unverified domain, verification required: %d %s %.600s", p.status, p.url, p.body)
		}

		_, err := g.st.VerifyOrgDomain(ctx, admin, g.org.ID, "acme.test", core.VerifiedByOperator)
		fatalIf(t, err, "verify")
		mustLogin(t, g, route())
	})
}

// TestSignInByDomainUsesVerifiedDomains: a connection signs in (and adopts) a
// local user by the asserted address's domain; when the org requires verified
// domains it does so only for a verified domain: for an unverified one the login
// is refused (local_user_outside_domains, no session, the user stays local),
// through the real crewjam IdP (SAML) and the zitadel OP (OIDC), on each backend.
func TestSignInByDomainUsesVerifiedDomains(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, newStore func(testing.TB) *store.SQL, p protocol) {
		g := newGatehouse(t, newStore(t))
		local := func(name string) core.User {
			u, err := g.st.CreateUser(ctx, admin, core.User{OrgID: g.org.ID, UserName: name + "@acme.test", Email: name + "@acme.test",
				Active: true, Source: core.SourceInvited})
			fatalIf(t, err, "local user")
			return u
		}
		lou, max := local("lou"), local("max")
		conn, login := p.setup(t, g, connOpts{domains: []string{"acme.test"}})
		owner := func(u core.User) core.Owner {
			got, err := g.st.GetUser(ctx, g.org.ID, u.ID)
			fatalIf(t, err, "get user")
			return got.Owner
		}

		requireVerified(t, g, true)
		b := newBrowser(t)
		wantRefused(t, g, login(b, "lou@acme.test", nil), core.RefuseLocalOutside)
		if code, _ := b.me(g); code != http.StatusUnauthorized {
			t.Errorf("/me after the refused login: %d", code)
		}
		if o := owner(lou); o.Kind != core.OwnerLocal {
			t.Errorf("a refused login changed lou's owner: %+v", o)
		}
		var seen bool
		for _, e := range g.audits("sso.login_refused") {
			seen = seen || (e.Details["reason"] == core.RefuseLocalOutside && e.TargetID == lou.ID)
		}
		if !seen {
			t.Error("no sso.login_refused event for lou")
		}

		// Not required: the same login signs lou in and adopts her.
		requireVerified(t, g, false)
		mustLogin(t, g, login(newBrowser(t), "lou@acme.test", nil))
		if o := owner(lou); o.Kind != core.OwnerConnection || o.ID != conn.ID {
			t.Errorf("lou after the login: %+v", o)
		}

		// Required, and the domain verified: max is signed in and adopted.
		requireVerified(t, g, true)
		_, err := g.st.VerifyOrgDomain(ctx, admin, g.org.ID, "acme.test", core.VerifiedByOperator)
		fatalIf(t, err, "verify")
		mustLogin(t, g, login(newBrowser(t), "max@acme.test", nil))
		if o := owner(max); o.Kind != core.OwnerConnection || o.ID != conn.ID {
			t.Errorf("max after the login: %+v", o)
		}
	})
}
