package sso_test

import (
	"html"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/crewjam/saml"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// overageProtocol signs a person in through a connection shaped as Microsoft
// Entra with the groups overage: the assertion or ID token carries the overage
// indicator and no groups.
type overageProtocol struct {
	name  string
	setup func(t *testing.T, g *gatehouse, domains []string) (store.SSOConnection, func(b *browser, email string) page)
}

var overageProtocols = []overageProtocol{
	{name: "saml", setup: func(t *testing.T, g *gatehouse, domains []string) (store.SSOConnection, func(*browser, string) page) {
		idp := newSAMLIdP(t)
		conn := g.addSAML(idp, "entra", samlOpts{domains: domains})
		return conn, func(b *browser, email string) page {
			// Entra leaves the groups claim out and sends the link instead.
			idp.setUser(idpUser{email: email, given: "Dana", family: "Scully",
				groupsAttr: "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
				extraAttrs: []saml.Attribute{{Name: "http://schemas.microsoft.com/claims/groups.link",
					Values: []saml.AttributeValue{{Type: "xs:string", Value: "https://graph.windows.net/tenant/users/" + email + "/getMemberObjects"}}}}})
			return b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
		}
	}},
	{name: "oidc", setup: func(t *testing.T, g *gatehouse, domains []string) (store.SSOConnection, func(*browser, string) page) {
		op, conn := g.addOIDC(t, oidcOpts{domains: domains})
		return conn, func(b *browser, email string) page {
			id := "u-" + strings.Split(email, "@")[0]
			op.users.set(id, email, true, nil)
			op.users.setClaims(id, map[string]any{
				"_claim_names":   map[string]any{"groups": "src1"},
				"_claim_sources": map[string]any{"src1": map[string]any{"endpoint": "https://graph.microsoft.com/v1.0/users/" + id + "/getMemberObjects"}},
			})
			return b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), email, "pw-"+id)
		}
	}},
}

// TestEntraOverageFromLinkedDirectory is issue 16's Entra groups overage, through
// the real crewjam IdP (SAML: groups.link, no groups attribute) and the zitadel OP
// (OIDC: _claim_names naming the groups claim, no groups), on each backend:
//   - not linked to a directory: refused (groups_overage) with a page that gives
//     the exact command linking the connection, no session, the connection's
//     groups of the user as they were;
//   - linked to the directory that provisioned the user: signed in, the user's
//     connection groups are the directory groups' external ids (else names), the
//     connection's mappings of those apply (user group and role), and sso.login
//     says the groups came from the directory;
//   - linked, but the user is another directory's: refused as issue 9's rules
//     say (owned_by_unlinked_directory);
//   - linked, but a local user in the connection's domains or an unknown one:
//     refused (groups_overage_not_provisioned), not adopted, not created.
func TestEntraOverageFromLinkedDirectory(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		for _, p := range overageProtocols {
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				testOverage(t, newStore(t), p)
			})
		}
	})
}

func testOverage(t *testing.T, st *store.SQL, p overageProtocol) {
	g := newGatehouse(t, st)
	must := func(err error, what string) { t.Helper(); fatalIf(t, err, "%s", what) }
	conn, login := p.setup(t, g, []string{"acme.test"})
	entra, err := g.st.EnsureDirectory(ctx, admin, g.org.ID, "entra")
	must(err, "directory")
	okta, err := g.st.EnsureDirectory(ctx, admin, g.org.ID, "okta")
	must(err, "directory")
	dana, err := g.st.CreateUser(ctx, admin, core.User{OrgID: g.org.ID, UserName: "dana@acme.test", Email: "dana@acme.test",
		Active: true, Source: core.SourceSCIM, DirectoryID: entra.ID})
	must(err, "entra's user")
	olga, err := g.st.CreateUser(ctx, admin, core.User{OrgID: g.org.ID, UserName: "olga@acme.test", Email: "olga@acme.test",
		Active: true, Source: core.SourceSCIM, DirectoryID: okta.ID})
	must(err, "okta's user")
	lou, err := g.st.CreateUser(ctx, admin, core.User{OrgID: g.org.ID, UserName: "lou@acme.test", Email: "lou@acme.test",
		Active: true, Source: core.SourceInvited})
	must(err, "local user")
	// What Entra's SCIM provisioning made: groups with the object id as externalId.
	dirGroup := func(dir core.Directory, ext, name string, members ...string) {
		t.Helper()
		ig, err := g.st.CreateIdPGroup(ctx, admin, core.IdPGroup{OrgID: g.org.ID, DirectoryID: dir.ID, ExternalID: ext, DisplayName: name})
		must(err, "directory group")
		must(g.st.ChangeIdPGroupMembers(ctx, admin, g.org.ID, ig.ID, members, nil), "members")
	}
	const engOID = "6f1c0e2a-0b5c-4f3e-9a41-2d7e0c1b9e11"
	dirGroup(entra, engOID, "Engineering", dana.ID)
	dirGroup(entra, "", "Ops", dana.ID)
	dirGroup(entra, "77aa0f3e-5b1d-4c55-8f0a-1e2d3c4b5a69", "Sales")
	dirGroup(okta, engOID, "Okta Engineering", olga.ID)
	// The connection's mapping is on the object id its groups claim carries.
	engs, err := g.st.CreateGroup(ctx, admin, core.UserGroup{OrgID: g.org.ID, Name: "Engineers"})
	must(err, "group")
	_, err = g.st.CreateMapping(ctx, admin, core.Mapping{OrgID: g.org.ID, ConnectionID: conn.ID, IdPGroup: engOID, UserGroupID: engs.ID})
	must(err, "mapping")
	ws, err := g.st.CreateWorkspace(ctx, admin, g.org.ID, "analytics", "Analytics", []string{"production"})
	must(err, "workspace")
	_, err = g.st.CreateGrant(ctx, admin, core.Grant{OrgID: g.org.ID, UserGroupID: engs.ID, WorkspaceID: ws.ID, Role: core.RoleEditor})
	must(err, "grant")
	// An earlier login under the group limit left dana one connection group.
	must(g.st.SetConnectionGroups(ctx, core.Actor{Kind: core.ActorSSO, ID: conn.ID}, g.org.ID, conn.ID, dana.ID, []string{"old-group"}), "earlier groups")

	connGroups := func(userID string) []string {
		t.Helper()
		var out []string
		gs, err := g.st.ListIdPGroups(ctx, g.org.ID, conn.ID, store.Page{})
		must(err, "idp groups")
		for _, x := range gs {
			ms, err := g.st.IdPGroupMembers(ctx, g.org.ID, x.ID, store.Page{})
			must(err, "members")
			if slices.ContainsFunc(ms, func(u core.User) bool { return u.ID == userID }) {
				out = append(out, x.ExternalID)
			}
		}
		slices.Sort(out)
		return out
	}
	users := func() int {
		us, err := g.st.ListUsers(ctx, g.org.ID, store.UserQuery{})
		must(err, "users")
		return len(us)
	}
	refused := func(email, reason string, pageSays ...string) page {
		t.Helper()
		before := users()
		b := newBrowser(t)
		pg := login(b, email)
		wantRefused(t, g, pg, reason)
		for _, s := range pageSays {
			if !strings.Contains(html.UnescapeString(pg.body), s) {
				t.Errorf("%s: refusal page does not say %q: %.1200s", email, s, pg.body)
			}
		}
		if code, _ := b.me(g); code != http.StatusUnauthorized {
			t.Errorf("%s: /me after a refused login: %d", email, code)
		}
		if n := users(); n != before {
			t.Errorf("%s: a refused login made a user (%d → %d)", email, before, n)
		}
		var seen bool
		for _, e := range g.audits("sso.login_refused") {
			seen = seen || (e.Details["reason"] == reason && e.Actor.ID == conn.ID)
		}
		if !seen {
			t.Errorf("%s: no sso.login_refused event with reason %s", email, reason)
		}
		return pg
	}

	// Not linked: the page says how to link the connection, with the command.
	refused("dana@acme.test", sso.ReasonGroupsOverage,
		"gatehouse sso update --org acme --connection "+conn.Name+" --directory DIRECTORY",
		"/api/v1/sso/connections/", "Linked SCIM directory", "/admin/sso/"+conn.ID, "Groups assigned to the application")
	if got := connGroups(dana.ID); !slices.Equal(got, []string{"old-group"}) {
		t.Errorf("a refused overage login changed dana's connection groups: %v", got)
	}

	// Linked to entra: the groups come from what entra provisioned for dana.
	_, err = g.st.UpdateSSOConnection(ctx, admin, g.org.ID, conn.ID, func(c *store.SSOConnection) error { c.DirectoryID = entra.ID; return nil })
	must(err, "link")
	b := newBrowser(t)
	mustLogin(t, g, login(b, "dana@acme.test"))
	code, me := b.me(g)
	if code != http.StatusOK || me.User.ID != dana.ID {
		t.Fatalf("/me after the linked login: %d %+v", code, me.User)
	}
	if got := groupsOf(me); !slices.Equal(got, []string{"Engineers<-" + engOID}) {
		t.Errorf("user groups %v, want [Engineers<-%s]", got, engOID)
	}
	if got := rolesOf(me); !slices.Equal(got, []string{"analytics/production=editor"}) {
		t.Errorf("roles %v, want [analytics/production=editor]", got)
	}
	if got, want := connGroups(dana.ID), []string{engOID, "Ops"}; !slices.Equal(got, want) {
		t.Errorf("dana's connection groups %v, want %v (from entra, old-group gone)", got, want)
	}
	logins := g.audits("sso.login")
	if len(logins) == 0 {
		t.Fatal("no sso.login event")
	}
	d := logins[len(logins)-1].Details
	if d["groups_from"] != "directory" || d["groups_directory"] != "entra" || d["groups_overage"] == nil {
		t.Errorf("sso.login does not say the groups came from directory entra: %v", d)
	}
	if u, _ := g.st.GetUser(ctx, g.org.ID, dana.ID); u.Owner.Kind != core.OwnerDirectory || u.Owner.ID != entra.ID {
		t.Errorf("signing in changed entra's ownership: %+v", u.Owner)
	}

	// Another directory's user: issue 9's rule refuses first.
	refused("olga@acme.test", core.RefuseOwnedByDirectory)
	if got := connGroups(olga.ID); len(got) != 0 {
		t.Errorf("olga got connection groups %v", got)
	}
	// A local user in the connection's domains would be adopted; entra has no
	// groups of theirs, so the overage login is refused and lou stays local.
	refused("lou@acme.test", sso.ReasonOverageNotProvisioned, `"entra"`, "provisioning")
	if u, _ := g.st.GetUser(ctx, g.org.ID, lou.ID); u.Owner.Kind != core.OwnerLocal {
		t.Errorf("a refused overage login adopted lou: %+v", u.Owner)
	}
	// Someone Gatehouse does not know: just-in-time creation has no groups to use.
	refused("newbie@acme.test", sso.ReasonOverageNotProvisioned)
	if _, err := g.userByEmail("newbie@acme.test"); err == nil {
		t.Error("a refused overage login created newbie")
	}
}
