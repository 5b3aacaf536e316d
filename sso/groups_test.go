package sso_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/crewjam/saml"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// groupsFixture is a connection whose IdP group "eng" maps to user group
// Engineers, and a user who logged in once with groups [eng ops].
type groupsFixture struct {
	g       *gatehouse
	conn    store.SSOConnection
	session *browser // the user's first, still live, session
}

func newGroupsFixture(t *testing.T, g *gatehouse, conn store.SSOConnection, first page, b *browser) groupsFixture {
	t.Helper()
	engs, err := g.st.CreateGroup(ctx, admin, core.UserGroup{OrgID: g.org.ID, Name: "Engineers"})
	fatalIf(t, err, "group")
	_, err = g.st.CreateMapping(ctx, admin, core.Mapping{OrgID: g.org.ID, ConnectionID: conn.ID, IdPGroup: "eng", UserGroupID: engs.ID})
	fatalIf(t, err, "mapping")
	mustLogin(t, g, first)
	f := groupsFixture{g: g, conn: conn, session: b}
	f.wantUnchanged(t)
	return f
}

// wantUnchanged checks the user still has exactly the groups of the first login.
func (f groupsFixture) wantUnchanged(t *testing.T) {
	t.Helper()
	code, me := f.session.me(f.g)
	if code != http.StatusOK {
		t.Fatalf("/me of the first session: %d", code)
	}
	if got := groupsOf(me); !slices.Equal(got, []string{"Engineers<-eng"}) {
		t.Errorf("user groups %v, want [Engineers<-eng] (left as they were)", got)
	}
	gs, err := f.g.st.ListIdPGroups(ctx, f.g.org.ID, f.conn.ID, store.Page{})
	fatalIf(t, err, "idp groups")
	var names []string
	for _, x := range gs {
		names = append(names, x.DisplayName)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"eng", "ops"}) {
		t.Errorf("connection IdP groups = %v, want [eng ops]", names)
	}
}

// wantRefusal checks a refused login: its page, its log line, its audit event.
func (f groupsFixture) wantRefusal(t *testing.T, p page, reason string, pageSays ...string) {
	t.Helper()
	wantRefused(t, f.g, p, reason)
	for _, s := range pageSays {
		if !strings.Contains(p.body, s) {
			t.Errorf("refusal page does not say %q: %.600s", s, p.body)
		}
	}
	n := 0
	for _, e := range f.g.audits("sso.login_refused") {
		if e.Details["reason"] == reason {
			n++
		}
	}
	if n == 0 {
		t.Errorf("no sso.login_refused audit event with reason %s", reason)
	}
	f.wantUnchanged(t)
}

func manyGroups(n int) []string {
	gs := make([]string, n)
	for i := range gs {
		gs[i] = fmt.Sprintf("group-%04d", i)
	}
	return gs
}

func TestSAMLGroupClaimsRefused(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		idp := newSAMLIdP(t)
		conn := g.addSAML(idp, "entra", samlOpts{})
		login := func(u idpUser) page {
			t.Helper()
			b := newBrowser(t)
			return b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
		}
		entraGroups := "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
		user := idpUser{email: "dana@acme.test", given: "Dana", family: "Scully", groups: []string{"eng", "ops"}, groupsAttr: entraGroups}
		idp.setUser(user)
		first := newBrowser(t)
		f := newGroupsFixture(t, g, conn, first.submit(first.samlStart(g, conn, "/api/v1/me"), nil), first)

		t.Run("entra-overage", func(t *testing.T) {
			u := user
			u.groups = nil // Entra leaves the groups out and sends the link instead
			u.extraAttrs = []saml.Attribute{{Name: "http://schemas.microsoft.com/claims/groups.link",
				Values: []saml.AttributeValue{{Type: "xs:string", Value: "https://graph.windows.net/tenant/users/dana/getMemberObjects"}}}}
			idp.setUser(u)
			f.wantRefusal(t, login(u), "groups_overage", "Groups assigned to the application", "SCIM")
		})
		t.Run("value-over-512-bytes", func(t *testing.T) {
			u := user
			u.groups = []string{"eng", strings.Repeat("g", 513)}
			idp.setUser(u)
			f.wantRefusal(t, login(u), "bad_groups_claim", "512")
		})
		t.Run("too-many-groups", func(t *testing.T) {
			u := user
			u.groups = append(manyGroups(1001), "eng")
			idp.setUser(u)
			f.wantRefusal(t, login(u), "too_many_groups", "1000")
		})
		t.Run("at-the-limits-accepted", func(t *testing.T) {
			u := user
			u.groups = append(manyGroups(998), "eng", strings.Repeat("é", 256)) // 1000 values, the last 512 bytes
			idp.setUser(u)
			mustLogin(t, g, login(u))
			gs, err := g.st.ListIdPGroups(ctx, g.org.ID, conn.ID, store.Page{Limit: 2000})
			fatalIf(t, err, "idp groups")
			if len(gs) < 1000 {
				t.Errorf("%d IdP groups after a login with 1000, want at least 1000", len(gs))
			}
		})
	})
}

func TestOIDCGroupClaimsRefused(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		op, conn := g.addOIDC(t, oidcOpts{})
		const id, email = "u-dana", "dana@acme.test"
		login := func(groups []string, claims map[string]any) page {
			t.Helper()
			op.users.set(id, email, true, groups)
			op.users.setClaims(id, claims)
			b := newBrowser(t)
			return b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), email, "pw-"+id)
		}
		first := newBrowser(t)
		op.users.set(id, email, true, []string{"eng", "ops"})
		f := newGroupsFixture(t, g, conn, first.oidcLogin(first.oidcStart(g, conn, "/api/v1/me"), email, "pw-"+id), first)

		t.Run("entra-overage", func(t *testing.T) {
			p := login(nil, map[string]any{
				"_claim_names":   map[string]any{"groups": "src1"},
				"_claim_sources": map[string]any{"src1": map[string]any{"endpoint": "https://graph.microsoft.com/v1.0/users/dana/getMemberObjects"}},
			})
			f.wantRefusal(t, p, "groups_overage", "Groups assigned to the application", "SCIM")
		})
		t.Run("entra-hasgroups", func(t *testing.T) {
			f.wantRefusal(t, login(nil, map[string]any{"hasgroups": true}), "groups_overage")
		})
		t.Run("value-over-512-bytes", func(t *testing.T) {
			f.wantRefusal(t, login([]string{"eng", strings.Repeat("g", 513)}, nil), "bad_groups_claim", "512")
		})
		for name, v := range map[string]any{
			"number-element": []any{"eng", 42},
			"object-element": []any{"eng", map[string]any{"id": "ops"}},
			"array-element":  []any{"eng", []any{"ops"}},
			"bool-element":   []any{"eng", true},
			"null-element":   []any{"eng", nil},
			"claim-number":   7,
			"claim-object":   map[string]any{"eng": true},
			"control-char":   []any{"eng", "ops\u0000"},
		} {
			t.Run(name, func(t *testing.T) {
				f.wantRefusal(t, login(nil, map[string]any{"groups": v}), "bad_groups_claim")
			})
		}
		t.Run("too-many-groups", func(t *testing.T) {
			f.wantRefusal(t, login(append(manyGroups(1001), "eng"), nil), "too_many_groups", "1000")
		})
		t.Run("overage-of-another-claim-ignored", func(t *testing.T) {
			// A distributed claim other than the groups claim does not matter.
			p := login([]string{"eng", "ops"}, map[string]any{"_claim_names": map[string]any{"roles": "src1"},
				"_claim_sources": map[string]any{"src1": map[string]any{"endpoint": "https://example.com/"}}})
			mustLogin(t, g, p)
		})
	})
}
