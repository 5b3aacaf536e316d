package decisions

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// org is a small org on a real store: an org admin, a Viewer of "marketing", Ann
// who is an Editor of marketing in development only, and a workspace "sales" where
// nobody but the org admin may do anything.
type org struct {
	st                    *store.SQL
	e                     *Engine
	id                    string
	admin, vic, ann       core.User
	marketing, sales      core.Workspace
	token                 string
	asAdmin, asVic, asAnn Principal
}

func newOrg(t *testing.T, b storetest.Backend) *org {
	t.Helper()
	st := b.New(t)
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	o, admin, err := st.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
	must(err)
	user := func(name string) core.User {
		u, err := st.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: name, Email: name + "@acme.test", Active: true, Source: core.SourceInvited})
		must(err)
		return u
	}
	vic, ann := user("vic"), user("ann")
	mkt, err := st.CreateWorkspace(ctx, sys, o.ID, "marketing", "Marketing", []string{"development", "production"})
	must(err)
	sales, err := st.CreateWorkspace(ctx, sys, o.ID, "sales", "Sales", []string{"production"})
	must(err)
	grant := func(u core.User, role string, envs ...string) {
		g, err := st.CreateGroup(ctx, sys, core.UserGroup{OrgID: o.ID, Name: u.UserName + "-" + role})
		must(err)
		must(st.AddGroupMember(ctx, sys, o.ID, g.ID, u.ID))
		_, err = st.CreateGrant(ctx, sys, core.Grant{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: mkt.ID, Role: role, EnvironmentIDs: envs})
		must(err)
	}
	grant(vic, core.RoleViewer)
	grant(ann, core.RoleEditor, mkt.Environments[0].ID)
	_, secret, err := st.CreateToken(ctx, sys, o.ID, store.TokenAPI, "app", "")
	must(err)
	gens, err := st.NewGenerationReader(ctx)
	must(err)
	t.Cleanup(func() { gens.Close() })
	x := &org{st: st, e: New(st, gens), id: o.ID, admin: admin, vic: vic, ann: ann, marketing: mkt, sales: sales, token: secret}
	for _, p := range []struct {
		dst *Principal
		u   core.User
	}{{&x.asAdmin, admin}, {&x.asVic, vic}, {&x.asAnn, ann}} {
		if *p.dst, err = x.e.SessionPrincipal(ctx, o.ID, p.u.ID); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b storetest.Backend)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

func TestAuthorize(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		o := newOrg(t, b)
		ctx := context.Background()
		asToken, err := o.e.TokenPrincipal(ctx, o.token)
		if err != nil || !asToken.Admin || asToken.UserID != "" || asToken.Gen < 0 {
			t.Fatalf("token principal %+v, %v", asToken, err)
		}
		if !o.asAdmin.Admin || o.asVic.Admin {
			t.Fatalf("org admin flags: admin %v, vic %v", o.asAdmin.Admin, o.asVic.Admin)
		}
		manage := core.Request{Action: core.ActionManageAccess}
		view := core.Request{Action: core.ActionView}
		cases := []struct {
			name       string
			p          Principal
			req        Request
			allow      bool
			hide       bool
			wantReason string
		}{
			{"a member reads the org", o.asVic, ReadOrg(), true, false, ""},
			{"an org admin manages the org", o.asAdmin, ManageOrg(), true, false, ""},
			{"a token manages the org", asToken, ManageOrg(), true, false, ""},
			{"a member does not manage the org", o.asVic, ManageOrg(), false, false, ReasonOrgAdminOnly},
			{"a member reads their own records", o.asVic, ReadUser(o.vic.ID), true, false, ""},
			{"a member does not read another's records", o.asVic, ReadUser(o.ann.ID), false, true, ReasonOwnOnly},
			{"an org admin reads anyone's records", o.asAdmin, ReadUser(o.ann.ID), true, false, ""},
			{"a member asks about themselves", o.asAnn, AskAbout(o.ann.ID), true, false, ""},
			{"a member may not ask about another", o.asAnn, AskAbout(o.vic.ID), false, false, ReasonOwnOnly},
			{"a member may not ask about nobody", o.asAnn, AskAbout(""), false, false, ReasonOwnOnly},
			{"a token asks about anyone", asToken, AskAbout(o.vic.ID), true, false, ""},
			{"a viewer sees the workspace", o.asVic, ViewWorkspace(o.marketing), true, false, ""},
			{"a member without a role does not see it", o.asVic, ViewWorkspace(o.sales), false, true, ReasonNotVisible},
			{"an org admin sees every workspace", o.asAdmin, ViewWorkspace(o.sales), true, false, ""},
			{"a role in one environment shows the workspace", o.asAnn, ViewWorkspace(o.marketing), true, false, ""},
			{"and no other", o.asAnn, ViewWorkspace(o.sales), false, true, ReasonNotVisible},
			{"a viewer views", o.asVic, InWorkspace(o.marketing, view), true, false, ""},
			{"a viewer does not manage access", o.asVic, InWorkspace(o.marketing, manage), false, false, core.ReasonRoleForbids},
			{"an org admin manages access everywhere", o.asAdmin, InWorkspace(o.sales, manage), true, false, ""},
			{"an editor creates models in development", o.asAnn, InWorkspace(o.marketing, core.Request{Action: core.ActionCreate, ResourceType: core.TypeModel, Environment: "development"}), true, false, ""},
			{"but not in production", o.asAnn, InWorkspace(o.marketing, core.Request{Action: core.ActionCreate, ResourceType: core.TypeModel, Environment: "production"}), false, false, core.ReasonEnvironment},
		}
		for _, c := range cases {
			d, err := o.e.Authorize(ctx, c.p, c.req)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if d.Allowed() != c.allow || d.Hide != c.hide || (!c.allow && d.Reason != c.wantReason) {
				t.Errorf("%s: %+v, want allow %v hide %v reason %q", c.name, d, c.allow, c.hide, c.wantReason)
			}
			var r *Refused
			if err := d.Err(); (err == nil) != c.allow || (err != nil && !errors.As(err, &r)) {
				t.Errorf("%s: Err() = %v", c.name, err)
			}
		}

		// Authentication: an unknown token, a SCIM token, a deactivated person.
		if _, err := o.e.TokenPrincipal(ctx, "gha_nope"); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("unknown token: %v", err)
		}
		d, err := o.st.EnsureDirectory(ctx, core.Actor{Kind: core.ActorSystem}, o.id, "okta")
		if err != nil {
			t.Fatal(err)
		}
		_, scim, err := o.st.CreateToken(ctx, core.Actor{Kind: core.ActorSystem}, o.id, store.TokenSCIM, "okta", d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.e.TokenPrincipal(ctx, scim); !errors.Is(err, ErrSCIMToken) {
			t.Errorf("SCIM token: %v", err)
		}
		if _, err := o.st.UpdateUser(ctx, core.Actor{Kind: core.ActorSystem}, o.id, o.vic.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := o.e.SessionPrincipal(ctx, o.id, o.vic.ID); !errors.Is(err, ErrDeactivated) {
			t.Errorf("deactivated: %v", err)
		}
		if _, err := o.e.SessionPrincipal(ctx, o.id, "nobody"); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("unknown user: %v", err)
		}
	})
}

// countingStore counts the store's token authentications.
type countingStore struct {
	*store.SQL
	auths atomic.Int64
}

func (c *countingStore) Authenticate(ctx context.Context, secret string) (store.Token, error) {
	c.auths.Add(1)
	return c.SQL.Authenticate(ctx, secret)
}

// TestTokenKeptAcrossChanges: an authenticated API token is kept while no token
// of its org changes, whatever else does (a rename, a membership): an IdP's
// steady changes do not make every request authenticate again. A token created
// or revoked makes the next request authenticate again, and a revoked token is
// refused at once.
func TestTokenKeptAcrossChanges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		o := newOrg(t, b)
		ctx := context.Background()
		sys := core.Actor{Kind: core.ActorSystem}
		cs := &countingStore{SQL: o.st}
		e := New(cs, nil)
		auth := func(what string, want int64) {
			t.Helper()
			p, err := e.TokenPrincipal(ctx, o.token)
			if err != nil || !p.Admin {
				t.Fatalf("%s: %+v, %v", what, p, err)
			}
			if n := cs.auths.Load(); n != want {
				t.Fatalf("%s: %d authentications, want %d", what, n, want)
			}
		}
		auth("first use", 2) // authenticated, the org read, authenticated again
		auth("second use", 2)
		if _, err := o.st.UpdateUser(ctx, sys, o.id, o.vic.ID, func(u *core.User) error { u.DisplayName = "Victor"; return nil }); err != nil {
			t.Fatal(err)
		}
		g, err := o.st.CreateGroup(ctx, sys, core.UserGroup{OrgID: o.id, Name: "more"})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.st.AddGroupMember(ctx, sys, o.id, g.ID, o.vic.ID); err != nil {
			t.Fatal(err)
		}
		auth("after a rename and a membership", 2)
		other, _, err := o.st.CreateToken(ctx, sys, o.id, store.TokenAPI, "other", "")
		if err != nil {
			t.Fatal(err)
		}
		auth("after another token was created", 4)
		auth("and again", 4)
		if err := o.st.RevokeToken(ctx, sys, o.id, other.ID); err != nil {
			t.Fatal(err)
		}
		auth("after the other token was revoked", 6)
		tok, err := o.st.Authenticate(ctx, o.token)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.st.RevokeToken(ctx, sys, o.id, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.TokenPrincipal(ctx, o.token); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("a revoked token: %v", err)
		}
	})
}

// TestSessionSeesItsOwnChanges: a person's principal does not pin the request to
// the org's state when they signed in: a change made during the request (a page
// that grants, then shows) is in the request's next decision.
func TestSessionSeesItsOwnChanges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		o := newOrg(t, b)
		ctx := context.Background()
		p, err := o.e.SessionPrincipal(ctx, o.id, o.vic.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := o.e.Authorize(ctx, p, ViewWorkspace(o.sales)); err != nil || d.Allowed() {
			t.Fatalf("before the grant: %+v, %v", d, err)
		}
		g, err := o.st.GetGroup(ctx, o.id, "vic-viewer")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.st.CreateGrant(ctx, core.Actor{Kind: core.ActorSystem}, core.Grant{OrgID: o.id, UserGroupID: g.ID, WorkspaceID: o.sales.ID, Role: core.RoleViewer}); err != nil {
			t.Fatal(err)
		}
		if d, err := o.e.Authorize(ctx, p, ViewWorkspace(o.sales)); err != nil || !d.Allowed() {
			t.Fatalf("after the grant, same principal: %+v, %v", d, err)
		}
	})
}
