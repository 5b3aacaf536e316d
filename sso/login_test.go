package sso_test

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

var admin = core.Actor{Kind: core.ActorAdmin, Name: "test admin"}

// protocol logs a browser in through one kind of connection, with the IdP
// asserting the given groups for the user.
type protocol struct {
	name  string
	setup func(t *testing.T, g *gatehouse, o connOpts) (store.SSOConnection, func(b *browser, email string, groups []string) page)
}

type connOpts struct {
	noJIT   bool
	domains []string
	name    string // of a SAML connection; "okta" by default
}

var protocols = []protocol{
	{name: "saml", setup: func(t *testing.T, g *gatehouse, o connOpts) (store.SSOConnection, func(*browser, string, []string) page) {
		idp := newSAMLIdP(t)
		name := "okta"
		if o.name != "" {
			name = o.name
		}
		conn := g.addSAML(idp, name, samlOpts{noJIT: o.noJIT, domains: o.domains})
		return conn, func(b *browser, email string, groups []string) page {
			// Alternate Okta's "groups" and Entra's claim URI: both are read by default.
			attr := "groups"
			if len(groups)%2 == 1 {
				attr = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
			}
			idp.setUser(idpUser{email: email, given: "Test", family: "User", groups: groups, groupsAttr: attr})
			return b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
		}
	}},
	{name: "oidc", setup: func(t *testing.T, g *gatehouse, o connOpts) (store.SSOConnection, func(*browser, string, []string) page) {
		op, conn := g.addOIDC(t, oidcOpts{noJIT: o.noJIT, domains: o.domains})
		return conn, func(b *browser, email string, groups []string) page {
			id := "u-" + strings.Split(email, "@")[0]
			op.users.set(id, email, true, groups)
			return b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), email, "pw-"+id)
		}
	}},
}

func forEachProtocol(t *testing.T, fn func(t *testing.T, newStore func(testing.TB) *store.SQL, p protocol)) {
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		for _, p := range protocols {
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				fn(t, newStore, p)
			})
		}
	})
}

func mustLogin(t *testing.T, g *gatehouse, p page) {
	t.Helper()
	if p.status != http.StatusOK || p.url.Path != "/api/v1/me" {
		t.Fatalf("login landed on %s with %d: %.300s\nlogs:\n%s", p.url, p.status, p.body, g.logs.String())
	}
}

// groupsOf summarizes /me's groups as "Name<-idpgroup,…" or "Name(direct)".
func groupsOf(me decisions.Me) []string {
	var out []string
	for _, g := range me.Groups {
		s := g.Name
		if g.Direct {
			s += "(direct)"
		}
		var via []string
		for _, v := range g.Via {
			via = append(via, v.IdPGroup)
		}
		sort.Strings(via)
		if len(via) > 0 {
			s += "<-" + strings.Join(via, ",")
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// rolesOf summarizes /me's workspaces as "ws/env=role".
func rolesOf(me decisions.Me) []string {
	var out []string
	for _, w := range me.Workspaces {
		for _, e := range w.Environments {
			out = append(out, fmt.Sprintf("%s/%s=%s", w.Slug, e.Name, e.Role))
		}
	}
	sort.Strings(out)
	return out
}

// TestGroupsFollowEveryLogin maps IdP groups onto user groups granted roles, then
// logs in with added and removed groups: user groups, roles and decisions follow,
// and a manual membership is never touched.
func TestGroupsFollowEveryLogin(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, newStore func(testing.TB) *store.SQL, p protocol) {
		g := newGatehouse(t, newStore(t))
		conn, login := p.setup(t, g, connOpts{})
		must := func(err error, what string) { t.Helper(); fatalIf(t, err, "%s", what) }
		engs, err := g.st.CreateGroup(ctx, admin, core.UserGroup{OrgID: g.org.ID, Name: "Engineers"})
		must(err, "group")
		ops, err := g.st.CreateGroup(ctx, admin, core.UserGroup{OrgID: g.org.ID, Name: "Ops"})
		must(err, "group")
		manual, err := g.st.CreateGroup(ctx, admin, core.UserGroup{OrgID: g.org.ID, Name: "Manual"})
		must(err, "group")
		for idpGroup, ug := range map[string]string{"eng": engs.ID, "ops": ops.ID} {
			_, err := g.st.CreateMapping(ctx, admin, core.Mapping{OrgID: g.org.ID, ConnectionID: conn.ID, IdPGroup: idpGroup, UserGroupID: ug})
			must(err, "mapping")
		}
		ws, err := g.st.CreateWorkspace(ctx, admin, g.org.ID, "analytics", "Analytics", []string{"development", "production"})
		must(err, "workspace")
		prod := ws.Environments[1].ID
		_, err = g.st.CreateGrant(ctx, admin, core.Grant{OrgID: g.org.ID, UserGroupID: engs.ID, WorkspaceID: ws.ID, Role: core.RoleEditor})
		must(err, "grant")
		_, err = g.st.CreateGrant(ctx, admin, core.Grant{OrgID: g.org.ID, UserGroupID: ops.ID, WorkspaceID: ws.ID, Role: core.RoleAdmin, EnvironmentIDs: []string{prod}})
		must(err, "grant")
		_, err = g.st.CreateGrant(ctx, admin, core.Grant{OrgID: g.org.ID, UserGroupID: manual.ID, WorkspaceID: ws.ID, Role: core.RoleViewer})
		must(err, "grant")

		decide := func(userID string, a core.Action) core.Effect {
			t.Helper()
			f, err := g.st.Facts(ctx, g.org.ID, userID, ws.ID)
			must(err, "facts")
			return core.Decide(f, core.Request{Action: a, Environment: "production"}).Effect
		}

		steps := []struct {
			groups     []string
			addManual  bool
			wantGroups []string
			wantRoles  []string
			wantManage core.Effect
		}{
			{groups: []string{"eng", "ops", "unmapped"},
				wantGroups: []string{"Engineers<-eng", "Ops<-ops"},
				wantRoles:  []string{"analytics/development=editor", "analytics/production=admin"}, wantManage: core.Allow},
			{groups: []string{"eng"}, addManual: true,
				wantGroups: []string{"Engineers<-eng", "Manual(direct)"},
				wantRoles:  []string{"analytics/development=editor", "analytics/production=editor"}, wantManage: core.Deny},
			{groups: nil,
				wantGroups: []string{"Manual(direct)"},
				wantRoles:  []string{"analytics/development=viewer", "analytics/production=viewer"}, wantManage: core.Deny},
			{groups: []string{"ops"},
				wantGroups: []string{"Manual(direct)", "Ops<-ops"},
				wantRoles:  []string{"analytics/development=viewer", "analytics/production=admin"}, wantManage: core.Allow},
		}
		for i, s := range steps {
			b := newBrowser(t)
			mustLogin(t, g, login(b, "carol@acme.test", s.groups))
			u, err := g.userByEmail("carol@acme.test")
			must(err, "user")
			if s.addManual {
				must(g.st.AddGroupMember(ctx, admin, g.org.ID, manual.ID, u.ID), "add manual member")
			}
			code, me := b.me(g)
			if code != http.StatusOK {
				t.Fatalf("step %d: /me %d", i, code)
			}
			if got := groupsOf(me); !slices.Equal(got, s.wantGroups) {
				t.Errorf("step %d (IdP groups %v): user groups %v, want %v", i, s.groups, got, s.wantGroups)
			}
			if got := rolesOf(me); !slices.Equal(got, s.wantRoles) {
				t.Errorf("step %d (IdP groups %v): roles %v, want %v", i, s.groups, got, s.wantRoles)
			}
			if got := decide(u.ID, core.ActionManageAccess); got != s.wantManage {
				t.Errorf("step %d: manage_access in production = %s, want %s", i, got, s.wantManage)
			}
			for _, w := range me.Workspaces {
				for _, e := range w.Environments {
					if e.Name == "production" && e.Decisions[core.ActionManageAccess] != s.wantManage {
						t.Errorf("step %d: /me decision manage_access = %s, want %s", i, e.Decisions[core.ActionManageAccess], s.wantManage)
					}
				}
			}
		}
	})
}

// TestJustInTime covers JIT on (default) and off.
func TestJustInTime(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, newStore func(testing.TB) *store.SQL, p protocol) {
		st := newStore(t)
		t.Run("on", func(t *testing.T) {
			g := newGatehouseIn(t, st, 1)
			_, login := p.setup(t, g, connOpts{})
			mustLogin(t, g, login(newBrowser(t), "dave@acme.test", nil))
			u, err := g.userByEmail("dave@acme.test")
			fatalIf(t, err, "JIT user")
			if u.Source != core.SourceSSO || !u.Active || u.UserName != "dave@acme.test" {
				t.Errorf("JIT user = %+v", u)
			}
			if len(g.audits("user.create")) == 0 {
				t.Errorf("no user.create audit event for the JIT user")
			}
			// A second login finds the same user.
			mustLogin(t, g, login(newBrowser(t), "Dave@ACME.test", nil))
			us, err := g.st.ListUsers(ctx, g.org.ID, store.UserQuery{Search: "dave"})
			fatalIf(t, err, "list")
			if len(us) != 1 {
				t.Errorf("%d users named dave after two logins", len(us))
			}
		})
		t.Run("off", func(t *testing.T) {
			g := newGatehouseIn(t, st, 2)
			_, login := p.setup(t, g, connOpts{noJIT: true, domains: []string{"acme.test"}})
			b := newBrowser(t)
			wantRefused(t, g, login(b, "erin@acme.test", nil), "no_account")
			if _, err := g.userByEmail("erin@acme.test"); err == nil {
				t.Errorf("a user was created with JIT off")
			}
			// An invited (local) user of the connection's domain logs in, and the
			// connection adopts them.
			frank, err := g.st.CreateUser(ctx, admin, core.User{OrgID: g.org.ID, UserName: "frank", Email: "frank@acme.test", Active: true, Source: core.SourceInvited})
			fatalIf(t, err, "create user")
			mustLogin(t, g, login(newBrowser(t), "frank@acme.test", nil))
			if u, _ := g.st.GetUser(ctx, g.org.ID, frank.ID); u.Owner.Kind != core.OwnerConnection || len(g.audits("user.adopted")) != 1 {
				t.Errorf("frank after his first login: %+v", u.Owner)
			}
		})
	})
}

// TestDeactivatedUser: a deactivated user is refused with a clear page, and a live
// session dies at once when the user is deactivated.
func TestDeactivatedUser(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, newStore func(testing.TB) *store.SQL, p protocol) {
		g := newGatehouse(t, newStore(t))
		_, login := p.setup(t, g, connOpts{})
		b := newBrowser(t)
		mustLogin(t, g, login(b, "gina@acme.test", nil))
		u, err := g.userByEmail("gina@acme.test")
		fatalIf(t, err, "user")
		_, err = g.st.UpdateUser(ctx, core.Actor{Kind: core.ActorSCIM, Name: "okta"}, g.org.ID, u.ID, func(u *core.User) error { u.Active = false; return nil })
		fatalIf(t, err, "deactivate")
		if code, _ := b.me(g); code != http.StatusUnauthorized {
			t.Errorf("/me after deactivation: %d, want 401", code)
		}
		refused := login(newBrowser(t), "gina@acme.test", nil)
		wantRefused(t, g, refused, "user_deactivated")
		if !strings.Contains(refused.body, "deactivated") {
			t.Errorf("refusal page does not say the account is deactivated: %.300s", refused.body)
		}
		// Reactivated, the user logs in again, but the old session stays ended.
		_, err = g.st.UpdateUser(ctx, admin, g.org.ID, u.ID, func(u *core.User) error { u.Active = true; return nil })
		fatalIf(t, err, "reactivate")
		if code, _ := b.me(g); code != http.StatusUnauthorized {
			t.Errorf("/me with the session from before the deactivation: %d, want 401", code)
		}
		mustLogin(t, g, login(newBrowser(t), "gina@acme.test", nil))
	})
}

// TestSessions covers timeouts, logout, cookie flags, and instances sharing one
// database.
func TestSessions(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		st := newStore(t)
		n := 0
		// Each subtest has its own org, clock and IdP on the shared store.
		setup := func(t *testing.T) (*gatehouse, func(b *browser)) {
			n++
			g := newGatehouseIn(t, st, n)
			idp := newSAMLIdP(t)
			conn := g.addSAML(idp, "okta", samlOpts{})
			return g, func(b *browser) {
				idp.setUser(alice)
				mustLogin(t, g, b.submit(b.samlStart(g, conn, "/api/v1/me"), nil))
			}
		}

		t.Run("cookie", func(t *testing.T) {
			g, _ := setup(t)
			idp := newSAMLIdP(t)
			idp.setUser(alice)
			conn := g.addSAML(idp, "okta-2", samlOpts{})
			b := newBrowser(t)
			b.stopAt.Store("/api/v1/me")
			p := b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
			if p.status != http.StatusSeeOther {
				t.Fatalf("ACS answered %d: %.300s\n%s", p.status, p.body, g.logs.String())
			}
			var ck *http.Cookie
			for _, c := range (&http.Response{Header: p.header}).Cookies() {
				if c.Name == sso.DefaultCookieName {
					ck = c
				}
			}
			if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure || len(ck.Value) < 40 {
				t.Fatalf("session cookie = %+v (HttpOnly, SameSite=Lax, not Secure over http)", ck)
			}
			var hashes []string
			fatalIf(t, st.DB().SelectContext(ctx, &hashes, `SELECT id_hash FROM sso_sessions`), "sessions")
			if slices.Contains(hashes, ck.Value) {
				t.Errorf("the session id is stored in the clear")
			}
		})
		t.Run("idle-timeout", func(t *testing.T) {
			g, login := setup(t)
			b := newBrowser(t)
			login(b)
			g.clock.Advance(20 * time.Minute)
			if code, _ := b.me(g); code != http.StatusOK {
				t.Fatalf("/me after 20 idle minutes: %d", code)
			}
			g.clock.Advance(31 * time.Minute)
			if code, _ := b.me(g); code != http.StatusUnauthorized {
				t.Errorf("/me after 31 idle minutes: %d, want 401", code)
			}
		})
		t.Run("absolute-timeout", func(t *testing.T) {
			g, login := setup(t)
			b := newBrowser(t)
			login(b)
			for i := 0; i < 23; i++ { // 23 × 20 min = 7h40: active all along
				g.clock.Advance(20 * time.Minute)
				if code, _ := b.me(g); code != http.StatusOK {
					t.Fatalf("/me after %d active minutes: %d", (i+1)*20, code)
				}
			}
			g.clock.Advance(25 * time.Minute) // 8h05
			if code, _ := b.me(g); code != http.StatusUnauthorized {
				t.Errorf("/me after 8h05: %d, want 401", code)
			}
		})
		t.Run("logout", func(t *testing.T) {
			g, login := setup(t)
			b := newBrowser(t)
			login(b)
			// GET only asks; the form's POST signs out.
			if code, _ := b.me(g); code != http.StatusOK {
				t.Fatalf("/me: %d", code)
			}
			confirm := b.get(g.url.String() + "/sso/logout")
			if code, _ := b.me(g); code != http.StatusOK {
				t.Fatalf("GET /sso/logout ended the session")
			}
			p := b.submit(confirm, nil)
			if p.status != http.StatusOK || !strings.Contains(p.body, "signed out") {
				t.Errorf("logout page: %d %.200s", p.status, p.body)
			}
			if code, _ := b.me(g); code != http.StatusUnauthorized {
				t.Errorf("/me after logout: %d", code)
			}
			if len(g.audits("sso.logout")) == 0 {
				t.Errorf("no sso.logout audit event")
			}
		})
		t.Run("logout-cross-origin", func(t *testing.T) {
			// A sibling subdomain's form gets the SameSite=Lax cookie (same-site) but
			// is another origin: it cannot sign anyone out (issue 9, finding 4).
			g, login := setup(t)
			b := newBrowser(t)
			login(b)
			// The JSON API refuses a write the real session cookie authenticates
			// from another origin, a bodiless POST included, and takes it from this
			// one (alice asks about herself).
			me := `{"user":"alice@acme.test","workspace":"nope","action":"view"}`
			for _, tc := range []struct {
				site, body string
				want       int
			}{{"same-site", "", http.StatusForbidden}, {"same-site", me, http.StatusForbidden}, {"same-origin", me, http.StatusOK}} {
				req, _ := http.NewRequest(http.MethodPost, g.url.String()+"/api/v1/check", strings.NewReader(tc.body))
				req.Header.Set("Sec-Fetch-Site", tc.site)
				if tc.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				if p := b.do(req); p.status != tc.want {
					t.Errorf("%s POST /api/v1/check with the session (body %q): %d %.200s, want %d", tc.site, tc.body, p.status, p.body, tc.want)
				}
			}
			for _, hd := range []map[string]string{
				{"Sec-Fetch-Site": "same-site", "Origin": "http://evil.acme.test"},
				{"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"},
				{"Origin": "http://evil.acme.test"},
			} {
				req, _ := http.NewRequest(http.MethodPost, g.url.String()+"/sso/logout", nil)
				for k, v := range hd {
					req.Header.Set(k, v)
				}
				if p := b.do(req); p.status != http.StatusForbidden || !strings.Contains(p.body, "Sign-out refused") {
					t.Errorf("cross-origin logout %v: %d %.200s", hd, p.status, p.body)
				}
				if code, _ := b.me(g); code != http.StatusOK {
					t.Fatalf("a cross-origin POST /sso/logout %v ended the session", hd)
				}
			}
			req, _ := http.NewRequest(http.MethodPost, g.url.String()+"/sso/logout", nil)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			if p := b.do(req); p.status != http.StatusOK {
				t.Errorf("same-origin logout: %d %.200s", p.status, p.body)
			}
			if code, _ := b.me(g); code != http.StatusUnauthorized {
				t.Errorf("/me after a same-origin logout: %d", code)
			}
		})
		t.Run("shared-by-instances", func(t *testing.T) {
			g, login := setup(t)
			// A second Gatehouse on the same database sees the session.
			other := &sso.Handler{Store: st, Now: g.clock.Now, ExternalURL: g.url, Box: g.box, Network: g.h.Network}
			mux := http.NewServeMux()
			other.Mount(mux)
			mountAPI(mux, st, other)
			srv := newServer(t, mux)
			b := newBrowser(t)
			login(b)
			p := b.get(srv + "/api/v1/me")
			if p.status != http.StatusOK || !strings.Contains(p.body, "alice@acme.test") {
				t.Errorf("other instance /me: %d %.200s", p.status, p.body)
			}
		})
	})
}

// TestLoginByEmailDomain: /sso/login routes an email to its domain's connection.
func TestLoginByEmailDomain(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		idp := newSAMLIdP(t)
		idp.setUser(alice)
		g.addSAML(idp, "okta", samlOpts{domains: []string{"acme.test"}})
		b := newBrowser(t)
		form := b.get(g.url.String() + "/sso/login?return_to=/api/v1/me")
		if form.status != http.StatusOK {
			t.Fatalf("login form: %d", form.status)
		}
		landed := b.submit(b.submit(form, map[string]string{"email": "Alice@Acme.Test"}), nil)
		mustLogin(t, g, landed)

		unknown := newBrowser(t).submit(form, map[string]string{"email": "x@nowhere.example"})
		if unknown.status != http.StatusNotFound || !strings.Contains(unknown.body, "No single sign-on") {
			t.Errorf("unknown domain: %d %.200s", unknown.status, unknown.body)
		}
		// An org admin whose domain has no SSO yet is told how to get in.
		if !strings.Contains(unknown.body, "gatehouse login-link --org") {
			t.Errorf("the page does not tell an admin without SSO about break-glass links: %.600s", unknown.body)
		}
		// Bytes that are not text: a 400, not a database error (PostgreSQL refuses NUL
		// and invalid UTF-8 in a text parameter).
		for _, bad := range []string{"x@acme\x00.test", "x@\xff\xfe.test", "x@acme.test\x01"} {
			p := newBrowser(t).submit(form, map[string]string{"email": bad})
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, "not an email address") {
				t.Errorf("email %q: %d %.200s", bad, p.status, p.body)
			}
		}
	})
}
