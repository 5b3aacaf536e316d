package sso_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestSignInRespectsOwners is issue 9's sign-in half, through the real crewjam
// IdP (SAML) and the zitadel OP (OIDC), on each backend. A connection signs in an
// existing user only when it owns them, when their owner is the directory linked to
// it, or when they are local and the asserted address is in its domains (and then
// adopts them). Finding 2: a second connection without domains cannot sign in as a
// user the okta directory provisioned; finding 1's sign-in half: an address that
// names a local admin (mallory's, had it been written onto the admin) gets nothing
// through a connection whose domains do not hold it. Each refusal is a clear page,
// no session, no user created, and an sso.login_refused event with the reason.
func TestSignInRespectsOwners(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, newStore func(testing.TB) *store.SQL, p protocol) {
		g := newGatehouse(t, newStore(t))
		dir, err := g.st.EnsureDirectory(ctx, admin, g.org.ID, "okta")
		fatalIf(t, err, "directory")
		ada, err := g.st.CreateUser(ctx, admin, core.User{OrgID: g.org.ID, UserName: "ada@acme.test", Email: "ada@acme.test",
			Active: true, Source: core.SourceSCIM, DirectoryID: dir.ID})
		fatalIf(t, err, "okta's user")
		mallory, err := g.st.CreateUser(ctx, admin, core.User{OrgID: g.org.ID, UserName: "root", Email: "mallory@evil.test",
			Active: true, Source: core.SourceInvited})
		fatalIf(t, err, "local user")
		fatalIf(t, g.st.AddOrgAdmin(ctx, admin, g.org.ID, mallory.ID), "org admin")

		conn, login := p.setup(t, g, connOpts{}) // a second connection, no domains, JIT on
		users := func() int {
			us, err := g.st.ListUsers(ctx, g.org.ID, store.UserQuery{})
			fatalIf(t, err, "list users")
			return len(us)
		}
		before := users()
		refused := func(email, reason, userID string) {
			t.Helper()
			b := newBrowser(t)
			wantRefused(t, g, login(b, email, nil), reason)
			if code, _ := b.me(g); code != http.StatusUnauthorized {
				t.Errorf("%s: /me after a refused login: %d", email, code)
			}
			if n := users(); n != before {
				t.Errorf("%s: a refused login made a user (%d → %d)", email, before, n)
			}
			var seen bool
			for _, e := range g.audits("sso.login_refused") {
				seen = seen || (e.Details["reason"] == reason && e.TargetID == userID && e.Actor.ID == conn.ID)
			}
			if !seen {
				t.Errorf("%s: no sso.login_refused event with reason %s naming user %s", email, reason, userID)
			}
		}
		// Finding 2: okta's user through a connection that is not linked to okta.
		refused("ada@acme.test", core.RefuseOwnedByDirectory, ada.ID)
		// Finding 1, sign-in half: a local admin's address, outside the connection's domains.
		refused("mallory@evil.test", core.RefuseLocalOutside, mallory.ID)

		// A user another connection created is that connection's.
		_, other := p.setup(t, g, connOpts{name: "other"})
		mustLogin(t, g, other(newBrowser(t), "olga@acme.test", nil))
		olga, err := g.userByEmail("olga@acme.test")
		fatalIf(t, err, "olga")
		before = users()
		refused("olga@acme.test", core.RefuseOwnedByConnection, olga.ID)

		// Linked to okta, the connection signs ada in.
		_, err = g.st.UpdateSSOConnection(ctx, admin, g.org.ID, conn.ID, func(c *store.SSOConnection) error { c.DirectoryID = "okta"; return nil })
		fatalIf(t, err, "link")
		b := newBrowser(t)
		mustLogin(t, g, login(b, "ada@acme.test", nil))
		if _, me := b.me(g); me.User.ID != ada.ID {
			t.Errorf("the linked connection signed in %+v, want ada", me.User)
		}
		if u, _ := g.st.GetUser(ctx, g.org.ID, ada.ID); u.Owner.Kind != core.OwnerDirectory {
			t.Errorf("signing in changed okta's ownership: %+v", u.Owner)
		}
		// With evil.test among its domains, the connection signs the local user in and adopts them.
		_, err = g.st.UpdateSSOConnection(ctx, admin, g.org.ID, conn.ID, func(c *store.SSOConnection) error {
			c.Domains = []string{"acme.test", "evil.test"}
			return nil
		})
		fatalIf(t, err, "domains")
		// While the org requires verified domains, an unverified one signs in and
		// adopts nobody: refused.
		_, err = g.st.UpdateOrg(ctx, admin, g.org.ID, func(o *core.Org) error { o.RequireVerifiedDomains = true; return nil })
		fatalIf(t, err, "require verified domains")
		refused("mallory@evil.test", core.RefuseLocalOutside, mallory.ID)
		if u, _ := g.st.GetUser(ctx, g.org.ID, mallory.ID); u.Owner.Kind != core.OwnerLocal {
			t.Errorf("adopted by an unverified domain: %+v", u.Owner)
		}
		_, err = g.st.VerifyOrgDomain(ctx, admin, g.org.ID, "evil.test", core.VerifiedByOperator)
		fatalIf(t, err, "verify evil.test")
		mustLogin(t, g, login(newBrowser(t), "mallory@evil.test", nil))
		if u, _ := g.st.GetUser(ctx, g.org.ID, mallory.ID); u.Owner.Kind != core.OwnerConnection || u.Owner.ID != conn.ID {
			t.Errorf("after the adopting login: %+v", u.Owner)
		}
		if ev := g.audits("user.adopted"); len(ev) != 1 || ev[0].TargetID != mallory.ID || ev[0].Actor.ID != conn.ID {
			t.Errorf("adoption events: %+v", ev)
		}
		// Domains never open another source's user: olga stays refused.
		refused("olga@acme.test", core.RefuseOwnedByConnection, olga.ID)
	})
}
