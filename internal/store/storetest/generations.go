package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// generationTests cover the Generations contract (the per-org counter caches of
// decisions compare) and what moves it: every mutator of a table decisions read, and
// no failed mutation. They also check the membership events readers of the change
// log rely on.
var generationTests = []test{
	{"Generations/Counter", func(t *testing.T, s subject) {
		if g := must[int64](t)(s.OrgGeneration(ctx, "missing")); g != 0 {
			t.Fatalf("an unknown org's generation = %d", g)
		}
		o, _ := newOrg(t, s, "acme")
		b, _ := newOrg(t, s, "b")
		g0, gb := gen(t, s, o.ID), gen(t, s, b.ID)
		if g0 != 3 { // org.create, user.create, org_admin.add
			t.Fatalf("a new org's generation = %d", g0)
		}
		newGroup(t, s, o.ID, "eng")
		if g := gen(t, s, o.ID); g != g0+1 {
			t.Fatalf("after one change: %d, want %d", g, g0+1)
		}
		if g := gen(t, s, b.ID); g != gb {
			t.Fatalf("another org's change moved b: %d → %d", gb, g)
		}
		// The generation is the seq of the org's last change.
		ch := must[[]core.AuditEvent](t)(s.Changes(ctx, o.ID, 0, 0))
		if last := ch[len(ch)-1]; last.Seq != gen(t, s, o.ID) || last.Action != "group.create" {
			t.Fatalf("last change %+v, generation %d", last, gen(t, s, o.ID))
		}
	}},
	{"Generations/EveryMutatorMoves", everyMutatorMoves},
	{"Generations/ReadsAndLoginStateDoNotMove", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		c := newConnection(t, s, o.ID, "okta-oidc")
		_, secret, err := s.CreateToken(ctx, adm, o.ID, store.TokenSCIM, "okta", d.ID)
		ok(t, err)
		now := time.Now()
		ok(t, s.CreateSession(ctx, sys, store.Session{IDHash: "h", OrgID: o.ID, UserID: admin.ID, ConnectionID: c, CreatedAt: now,
			ExpiresAt: now.Add(time.Hour), Idle: time.Hour}, nil))
		g := gen(t, s, o.ID)
		// The hot paths of every request (a token, a session) and login state must not
		// make every cached decision of the org stale.
		for _, step := range []struct {
			name string
			f    func() error
		}{
			{"Authenticate", func() error { return second(s.Authenticate(ctx, secret)) }},
			{"LookupSession", func() error { return second(s.LookupSession(ctx, "h", now.Add(2*time.Minute))) }},
			{"SaveSAMLRequest", func() error {
				return s.SaveSAMLRequest(ctx, store.SAMLRequest{RelayHash: "r", ConnectionID: c, ExpiresAt: now.Add(time.Minute)})
			}},
			{"TakeSAMLRequest", func() error { return second(s.TakeSAMLRequest(ctx, c, store.SAMLLogin, "r", now)) }},
			{"ConsumeAssertion", func() error { return s.ConsumeAssertion(ctx, c, "a", now.Add(time.Minute)) }},
			{"SaveOIDCState", func() error {
				return s.SaveOIDCState(ctx, store.OIDCState{StateHash: "st", ConnectionID: c, ExpiresAt: now.Add(time.Minute)})
			}},
			{"TakeOIDCState", func() error { return second(s.TakeOIDCState(ctx, c, "st", now)) }},
			{"DeleteSession", func() error { return s.DeleteSession(ctx, "h") }},
			{"PruneSSO", func() error { return s.PruneSSO(ctx, now) }},
			{"Hit", func() error { return second(s.Hit(ctx, "k", time.Minute)) }},
			{"PruneRateLimits", func() error { return s.PruneRateLimits(ctx, now) }},
		} {
			name, f := step.name, step.f
			if err := f(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if after := gen(t, s, o.ID); after != g {
				t.Fatalf("%s moved the generation: %d → %d", name, g, after)
			}
		}
	}},
	{"ChangeLog/MembershipEvents", membershipEvents},
}

func gen(t *testing.T, s Contract, orgID string) int64 {
	t.Helper()
	return must[int64](t)(s.OrgGeneration(ctx, orgID))
}

// mutation is one change of a table that decisions read, through one method of the
// contract, and an attempt at the same method that fails (nil when the method cannot
// fail on a valid org).
type mutation struct {
	method   string
	org      func() string // the org it changes; nil means the test's org
	change   func() error
	failure  func() error
	failWith error
}

// everyMutatorMoves runs every mutator of the contract (every method taking a
// core.Actor: the test fails when one is added without a case here) once to change
// something, and once to fail. A change moves its org's generation, and only its
// org's; a failure moves nothing and leaves no change in the log.
func everyMutatorMoves(t *testing.T, s subject) {
	o, admin := newOrg(t, s, "acme")
	b, _ := newOrg(t, s, "bystander")
	var (
		d, d2      core.Directory
		conn       string
		connObj    store.SSOConnection
		u, v       core.User
		su         store.SCIMUser
		g, g2      core.UserGroup
		ig         core.IdPGroup
		sg         store.SCIMGroup
		w          core.Workspace
		env        core.Environment
		sp         core.Space
		res        core.Resource
		role       core.CustomRole
		grant      core.Grant
		mapping    core.Mapping
		tok        store.Token
		hook       store.Webhook
		prop       store.Proposal
		deadSeq    int64
		newOrgID   string
		newerOrgID string
		fnErr      = errors.New("refused by fn")
		scimDir    = func() core.Actor { return scimActor(d) }
		sessionAt  = time.Now()
	)
	steps := []mutation{
		{method: "CreateOrg", org: func() string { return newOrgID },
			change: func() error {
				no, _, err := s.CreateOrg(ctx, sys, "new", "New", "a@new.example.com")
				newOrgID = no.ID
				return err
			},
			failure: func() error { _, _, err := s.CreateOrg(ctx, sys, "acme", "Again", "a@acme.example.com"); return err }, failWith: core.ErrConflict},
		{method: "CreateOrgWithAdmin", org: func() string { return newerOrgID },
			change: func() error {
				no, _, err := s.CreateOrgWithAdmin(ctx, sys, store.NewOrg{Slug: "newer", Name: "Newer", AdminEmail: "a@newer.example.com", AdminName: "Ada"})
				newerOrgID = no.ID
				return err
			},
			failure: func() error {
				_, _, err := s.CreateOrgWithAdmin(ctx, sys, store.NewOrg{Slug: "acme", Name: "Again", AdminEmail: "a@acme.example.com"})
				return err
			}, failWith: core.ErrConflict},
		{method: "EnsureDirectory",
			change: func() (err error) {
				if d, err = s.EnsureDirectory(ctx, adm, o.ID, "okta"); err == nil {
					d2, err = s.EnsureDirectory(ctx, adm, o.ID, "entra")
				}
				return err
			},
			failure: func() error { return second(s.EnsureDirectory(ctx, adm, o.ID, " ")) }, failWith: core.ErrInvalid},
		{method: "CreateDirectory",
			change:  func() error { return second(s.CreateDirectory(ctx, adm, o.ID, "jumpcloud")) },
			failure: func() error { return second(s.CreateDirectory(ctx, adm, o.ID, "okta")) }, failWith: core.ErrConflict},
		{method: "SetDirectoryDomains",
			change: func() error { return second(s.SetDirectoryDomains(ctx, adm, o.ID, d.ID, []string{"okta.example"})) },
			// Another directory's domain: refused by the key after the org's claim was written.
			failure: func() error {
				return second(s.SetDirectoryDomains(ctx, adm, o.ID, d2.ID, []string{"new.example", "okta.example"}))
			}, failWith: core.ErrConflict},
		{method: "VerifyOrgDomain",
			change: func() error {
				return second(s.VerifyOrgDomain(ctx, adm, o.ID, "okta.example", core.VerifiedByOperator))
			},
			failure: func() error {
				return second(s.VerifyOrgDomain(ctx, adm, o.ID, "not a domain", core.VerifiedByOperator))
			}, failWith: core.ErrInvalid},
		{method: "CreateSSOConnection",
			change: func() (err error) {
				connObj, err = s.CreateSSOConnection(ctx, adm, oidcConnection(o.ID, "okta-oidc", "acme.example.com"))
				conn = connObj.ID
				return err
			},
			failure: func() error { return second(s.CreateSSOConnection(ctx, adm, oidcConnection(o.ID, "okta-oidc"))) }, failWith: core.ErrConflict},
		{method: "UpdateSSOConnection",
			change: func() error {
				return second(s.UpdateSSOConnection(ctx, adm, o.ID, conn, func(c *store.SSOConnection) error { c.JIT = false; return nil }))
			},
			failure: func() error {
				return second(s.UpdateSSOConnection(ctx, adm, o.ID, conn, func(c *store.SSOConnection) error { c.JIT = true; return fnErr }))
			}, failWith: fnErr},
		{method: "CreateUser",
			change: func() (err error) {
				u, err = s.CreateUser(ctx, adm, core.User{OrgID: o.ID, UserName: "jane", Email: "jane@acme.example.com", Active: true, Source: core.SourceInvited})
				if err == nil {
					v, err = s.CreateUser(ctx, adm, core.User{OrgID: o.ID, UserName: "bob@okta.example", Active: true, Source: core.SourceInvited})
				}
				return err
			},
			failure: func() error {
				return second(s.CreateUser(ctx, adm, core.User{OrgID: o.ID, UserName: "JANE", Active: true, Source: core.SourceInvited}))
			}, failWith: core.ErrConflict},
		{method: "UpdateUser",
			change: func() error {
				return second(s.UpdateUser(ctx, adm, o.ID, u.ID, func(x *core.User) error { x.DisplayName = "Jane"; return nil }))
			},
			failure: func() error {
				return second(s.UpdateUser(ctx, adm, o.ID, admin.ID, func(x *core.User) error { x.Active = false; return nil }))
			}, failWith: core.ErrLastAdmin},
		{method: "TransferUser",
			change: func() error {
				return second(s.TransferUser(ctx, adm, o.ID, v.ID, core.Owner{Kind: core.OwnerConnection, ID: conn}))
			},
			failure: func() error {
				return second(s.TransferUser(ctx, adm, o.ID, v.ID, core.Owner{Kind: core.OwnerDirectory, ID: "missing"}))
			}, failWith: core.ErrInvalid},
		{method: "AdoptUser",
			change: func() error {
				return second(s.AdoptUser(ctx, scimDir(), o.ID, v.ID, core.Owner{Kind: core.OwnerDirectory, ID: d.ID}, "bob@okta.example"))
			},
			failure: func() error {
				return second(s.AdoptUser(ctx, adm, o.ID, v.ID, core.Owner{Kind: core.OwnerConnection, ID: conn}, "bob@okta.example"))
			}, failWith: core.ErrConflict},
		{method: "AddOrgAdmin",
			change:  func() error { return s.AddOrgAdmin(ctx, adm, o.ID, v.ID) },
			failure: func() error { return s.AddOrgAdmin(ctx, adm, o.ID, "missing") }, failWith: core.ErrNotFound},
		{method: "RemoveOrgAdmin",
			change:  func() error { return s.RemoveOrgAdmin(ctx, adm, o.ID, v.ID) },
			failure: func() error { return s.RemoveOrgAdmin(ctx, adm, o.ID, admin.ID) }, failWith: core.ErrLastAdmin},
		{method: "SCIMCreateUser",
			change: func() (err error) {
				su, err = s.SCIMCreateUser(ctx, scimDir(), scimUser(o.ID, d.ID, "sam@acme.example.com"))
				return err
			},
			failure: func() error {
				return second(s.SCIMCreateUser(ctx, scimDir(), scimUser(o.ID, d.ID, "SAM@acme.example.com")))
			}, failWith: core.ErrConflict},
		{method: "SCIMUpdateUser",
			change: func() error {
				return second(s.SCIMUpdateUser(ctx, scimDir(), o.ID, d.ID, su.ID, func(x *store.SCIMUser) error { x.Active = false; return nil }))
			},
			failure: func() error {
				return second(s.SCIMUpdateUser(ctx, scimDir(), o.ID, d.ID, su.ID, func(x *store.SCIMUser) error { x.Title = "x"; return core.ErrVersion }))
			}, failWith: core.ErrVersion},
		{method: "CreateGroup",
			change: func() (err error) {
				if g, err = s.CreateGroup(ctx, adm, core.UserGroup{OrgID: o.ID, Name: "eng"}); err == nil {
					g2, err = s.CreateGroup(ctx, adm, core.UserGroup{OrgID: o.ID, Name: "doomed"})
				}
				return err
			},
			failure: func() error { return second(s.CreateGroup(ctx, adm, core.UserGroup{OrgID: o.ID, Name: "ENG"})) }, failWith: core.ErrConflict},
		{method: "UpdateGroup",
			change: func() error {
				return second(s.UpdateGroup(ctx, adm, o.ID, g.ID, func(x *core.UserGroup) error { x.Description = "all"; return nil }))
			},
			failure: func() error {
				return second(s.UpdateGroup(ctx, adm, o.ID, g.ID, func(x *core.UserGroup) error { x.Name = "doomed"; return nil }))
			}, failWith: core.ErrConflict},
		{method: "AddGroupMember",
			change:  func() error { return s.AddGroupMember(ctx, adm, o.ID, g.ID, u.ID) },
			failure: func() error { return s.AddGroupMember(ctx, adm, o.ID, g.ID, "missing") }, failWith: core.ErrNotFound},
		{method: "RemoveGroupMember",
			change:  func() error { return s.RemoveGroupMember(ctx, adm, o.ID, g.ID, u.ID) },
			failure: func() error { return s.RemoveGroupMember(ctx, adm, o.ID, "missing", u.ID) }, failWith: core.ErrNotFound},
		{method: "CreateIdPGroup",
			change: func() (err error) {
				ig, err = s.CreateIdPGroup(ctx, adm, core.IdPGroup{OrgID: o.ID, DirectoryID: d2.ID, DisplayName: "Engineering"})
				return err
			},
			failure: func() error {
				return second(s.CreateIdPGroup(ctx, adm, core.IdPGroup{OrgID: o.ID, DirectoryID: d2.ID, DisplayName: "engineering"}))
			}, failWith: core.ErrConflict},
		{method: "UpdateIdPGroup",
			change: func() error {
				return second(s.UpdateIdPGroup(ctx, adm, o.ID, ig.ID, func(x *core.IdPGroup) error { x.ExternalID = "00g1"; return nil }))
			},
			failure: func() error {
				return second(s.UpdateIdPGroup(ctx, adm, o.ID, ig.ID, func(x *core.IdPGroup) error { x.DisplayName = ""; return nil }))
			}, failWith: core.ErrInvalid},
		{method: "ChangeIdPGroupMembers",
			change: func() error { return s.ChangeIdPGroupMembers(ctx, adm, o.ID, ig.ID, []string{u.ID, v.ID}, nil) },
			failure: func() error {
				return s.ChangeIdPGroupMembers(ctx, adm, o.ID, ig.ID, []string{"missing"}, []string{u.ID})
			}, failWith: core.ErrNotFound},
		{method: "ReplaceIdPGroupMembers",
			change:  func() error { return s.ReplaceIdPGroupMembers(ctx, adm, o.ID, ig.ID, []string{v.ID}) },
			failure: func() error { return s.ReplaceIdPGroupMembers(ctx, adm, o.ID, ig.ID, []string{"missing"}) }, failWith: core.ErrNotFound},
		{method: "SCIMCreateGroup",
			change: func() (err error) {
				sg, err = s.SCIMCreateGroup(ctx, scimDir(), store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Okta-Eng"}, []string{su.ID})
				return err
			},
			failure: func() error {
				return second(s.SCIMCreateGroup(ctx, scimDir(), store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "x"}, []string{"missing"}))
			}, failWith: core.ErrInvalid},
		{method: "SCIMUpdateGroup",
			change: func() error {
				return second(s.SCIMUpdateGroup(ctx, scimDir(), o.ID, d.ID, sg.ID, nil, store.MemberChange{Remove: []string{su.ID}}))
			},
			failure: func() error {
				return second(s.SCIMUpdateGroup(ctx, scimDir(), o.ID, d.ID, sg.ID, nil, store.MemberChange{Remove: []string{u.ID}, Add: []string{"missing"}}))
			}, failWith: core.ErrInvalid},
		{method: "SetConnectionGroups",
			change: func() error {
				return s.SetConnectionGroups(ctx, core.Actor{Kind: core.ActorSSO, ID: conn}, o.ID, conn, u.ID, []string{"admins"})
			},
			failure: func() error { return s.SetConnectionGroups(ctx, sys, o.ID, "missing", u.ID, []string{"admins"}) }, failWith: core.ErrNotFound},
		{method: "SetConnectionGroupsFromDirectory",
			change: func() error {
				// Linked to okta, sam's login without groups (Entra's overage) takes
				// okta's Okta-Eng; the step checks the call itself moves the generation.
				if _, err := s.UpdateSSOConnection(ctx, adm, o.ID, conn, func(c *store.SSOConnection) error { c.DirectoryID = d.ID; return nil }); err != nil {
					return err
				}
				if _, err := s.SCIMUpdateGroup(ctx, scimDir(), o.ID, d.ID, sg.ID, nil, store.MemberChange{Add: []string{su.ID}}); err != nil {
					return err
				}
				g := gen(t, s, o.ID)
				dg, err := s.SetConnectionGroupsFromDirectory(ctx, core.Actor{Kind: core.ActorSSO, ID: conn}, o.ID, conn, su.ID)
				if err == nil && (gen(t, s, o.ID) <= g || !slices.Equal(dg.Values, []string{"Okta-Eng"})) {
					err = fmt.Errorf("groups %v, generation %d → %d", dg.Values, g, gen(t, s, o.ID))
				}
				return err
			},
			failure: func() error {
				return second(s.SetConnectionGroupsFromDirectory(ctx, core.Actor{Kind: core.ActorSSO, ID: conn}, o.ID, conn, u.ID))
			}, failWith: core.ErrConflict},
		{method: "CreateMapping",
			change: func() (err error) {
				mapping, err = s.CreateMapping(ctx, adm, core.Mapping{OrgID: o.ID, DirectoryID: d2.ID, IdPGroup: "Engineering", UserGroupID: g.ID})
				return err
			},
			failure: func() error {
				return second(s.CreateMapping(ctx, adm, core.Mapping{OrgID: o.ID, DirectoryID: d2.ID, IdPGroup: "engineering", UserGroupID: g.ID}))
			}, failWith: core.ErrConflict},
		{method: "CreateWorkspace",
			change: func() (err error) {
				w, err = s.CreateWorkspace(ctx, adm, o.ID, "marketing", "Marketing", []string{"development"})
				return err
			},
			failure: func() error { return second(s.CreateWorkspace(ctx, adm, o.ID, "marketing", "Again", nil)) }, failWith: core.ErrConflict},
		{method: "RenameWorkspace",
			change:  func() error { return second(s.RenameWorkspace(ctx, adm, o.ID, w.ID, "Marketing Team")) },
			failure: func() error { return second(s.RenameWorkspace(ctx, adm, o.ID, w.ID, " ")) }, failWith: core.ErrInvalid},
		{method: "AddEnvironment",
			change: func() (err error) {
				env, err = s.AddEnvironment(ctx, adm, o.ID, w.ID, "production")
				return err
			},
			failure: func() error { return second(s.AddEnvironment(ctx, adm, o.ID, w.ID, "production")) }, failWith: core.ErrConflict},
		{method: "UpdateEnvironment",
			change: func() error {
				return second(s.UpdateEnvironment(ctx, adm, o.ID, w.ID, env.ID, func(e *core.Environment) error { e.RequiresApproval = true; return nil }))
			},
			failure: func() error {
				return second(s.UpdateEnvironment(ctx, adm, o.ID, w.ID, env.ID, func(e *core.Environment) error { e.ApprovalsRequired = 0; return nil }))
			}, failWith: core.ErrInvalid},
		{method: "RenameEnvironment",
			change:  func() error { return second(s.RenameEnvironment(ctx, adm, o.ID, w.ID, env.ID, "live")) },
			failure: func() error { return second(s.RenameEnvironment(ctx, adm, o.ID, w.ID, env.ID, "development")) }, failWith: core.ErrConflict},
		{method: "MoveEnvironment",
			change:  func() error { return second(s.MoveEnvironment(ctx, adm, o.ID, w.ID, env.ID, 0)) },
			failure: func() error { return second(s.MoveEnvironment(ctx, adm, o.ID, w.ID, env.ID, 9)) }, failWith: core.ErrInvalid},
		{method: "DeleteEnvironment",
			change:  func() error { return s.DeleteEnvironment(ctx, adm, o.ID, w.ID, w.Environments[0].ID) },
			failure: func() error { return s.DeleteEnvironment(ctx, adm, o.ID, w.ID, "missing") }, failWith: core.ErrNotFound},
		{method: "CreateSpace",
			change: func() (err error) {
				sp, err = s.CreateSpace(ctx, adm, o.ID, w.ID, "Finance")
				return err
			},
			failure: func() error { return second(s.CreateSpace(ctx, adm, o.ID, w.ID, "Finance")) }, failWith: core.ErrConflict},
		{method: "AssignSpace",
			change:  func() error { return s.AssignSpace(ctx, adm, o.ID, w.ID, sp.ID, g.ID) },
			failure: func() error { return s.AssignSpace(ctx, adm, o.ID, w.ID, sp.ID, "missing") }, failWith: core.ErrNotFound},
		{method: "UnassignSpace",
			change:  func() error { return s.UnassignSpace(ctx, adm, o.ID, w.ID, sp.ID, g.ID) },
			failure: func() error { return s.UnassignSpace(ctx, adm, o.ID, w.ID, "missing", g.ID) }, failWith: core.ErrNotFound},
		{method: "CreateResource",
			change: func() (err error) {
				res, err = s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeSource, ExternalID: "s-1", SpaceID: sp.ID})
				return err
			},
			failure: func() error {
				return second(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeSource, ExternalID: "s-1"}))
			}, failWith: core.ErrConflict},
		{method: "UpdateResource",
			change: func() error {
				return second(s.UpdateResource(ctx, adm, o.ID, res.ID, func(x *core.Resource) error { x.EnvironmentID = env.ID; return nil }))
			},
			failure: func() error {
				return second(s.UpdateResource(ctx, adm, o.ID, res.ID, func(x *core.Resource) error { x.EnvironmentID = "missing"; return nil }))
			}, failWith: core.ErrNotFound},
		{method: "DeleteSpace",
			change: func() error {
				if _, err := s.UpdateResource(ctx, adm, o.ID, res.ID, func(x *core.Resource) error { x.SpaceID = ""; return nil }); err != nil {
					return err
				}
				return s.DeleteSpace(ctx, adm, o.ID, w.ID, sp.ID)
			},
			failure: func() error { return s.DeleteSpace(ctx, adm, o.ID, w.ID, sp.ID) }, failWith: core.ErrNotFound},
		{method: "CreateCustomRole",
			change: func() (err error) {
				role, err = s.CreateCustomRole(ctx, adm, core.CustomRole{OrgID: o.ID, Name: "runner",
					Rules: []core.Rule{{Actions: []core.Action{core.ActionRun}, ResourceType: core.TypeSync}}})
				return err
			},
			failure: func() error { return second(s.CreateCustomRole(ctx, adm, core.CustomRole{OrgID: o.ID, Name: "x"})) }, failWith: core.ErrInvalid},
		{method: "UpdateCustomRole",
			change: func() error {
				return second(s.UpdateCustomRole(ctx, adm, o.ID, role.ID, func(x *core.CustomRole) error { x.Description = "runs syncs"; return nil }))
			},
			failure: func() error {
				return second(s.UpdateCustomRole(ctx, adm, o.ID, role.ID, func(x *core.CustomRole) error { x.Rules = nil; return nil }))
			}, failWith: core.ErrInvalid},
		{method: "CreateGrant",
			change: func() (err error) {
				grant, err = s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, Role: core.RoleEditor,
					EnvironmentIDs: []string{env.ID}})
				if err == nil {
					_, err = s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, CustomRoleID: role.ID})
				}
				return err
			},
			failure: func() error {
				return second(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, Role: core.RoleEditor}))
			}, failWith: core.ErrConflict},
		{method: "CreateToken",
			change: func() (err error) {
				tok, _, err = s.CreateToken(ctx, adm, o.ID, store.TokenAPI, "ci", "")
				return err
			},
			failure: func() error { _, _, err := s.CreateToken(ctx, adm, o.ID, store.TokenSCIM, "x", ""); return err }, failWith: core.ErrInvalid},
		{method: "CreateWebhook",
			change: func() (err error) {
				hook, _, err = s.CreateWebhook(ctx, adm, store.Webhook{OrgID: o.ID, URL: "https://hooks.example.com/"}, Box(t))
				return err
			},
			failure: func() error {
				_, _, err := s.CreateWebhook(ctx, adm, store.Webhook{OrgID: o.ID, URL: "not a url"}, Box(t))
				return err
			}, failWith: core.ErrInvalid},
		{method: "UpdateWebhook",
			change: func() error {
				return second(s.UpdateWebhook(ctx, adm, o.ID, hook.ID, func(w *store.Webhook) error { w.EventTypes = []string{"user.*"}; return nil }))
			},
			failure: func() error {
				return second(s.UpdateWebhook(ctx, adm, o.ID, hook.ID, func(w *store.Webhook) error { w.EventTypes = nil; return fnErr }))
			}, failWith: fnErr},
		{method: "RotateWebhookSecret",
			change:  func() error { return second(s.RotateWebhookSecret(ctx, adm, o.ID, hook.ID, Box(t), time.Hour)) },
			failure: func() error { return second(s.RotateWebhookSecret(ctx, adm, o.ID, "missing", Box(t), time.Hour)) }, failWith: core.ErrNotFound},
		{method: "RedeliverDeadLetter",
			change: func() error {
				// Dead-letter the webhook's next event first (delivery bookkeeping, not
				// an audited change), then redeliver it.
				l := store.Lease{Owner: "t", Now: time.Now(), TTL: time.Minute}
				claimed, err := s.ClaimWebhooks(ctx, l, 10)
				if err != nil || len(claimed) == 0 {
					return fmt.Errorf("claim: %v (%d claimed)", err, len(claimed))
				}
				w := claimed[0].Webhook
				if err := s.RecordAttempt(ctx, l, attempt(w, w.Cursor+1, 1, store.OutcomeDeadLettered, l.Now), time.Time{}); err != nil {
					return err
				}
				deadSeq = w.Cursor + 1
				return second(s.RedeliverDeadLetter(ctx, adm, o.ID, hook.ID, deadSeq))
			},
			failure: func() error { return second(s.RedeliverDeadLetter(ctx, adm, o.ID, hook.ID, deadSeq+1000)) }, failWith: core.ErrNotFound},
		{method: "DeleteWebhook",
			change:  func() error { return s.DeleteWebhook(ctx, adm, o.ID, hook.ID) },
			failure: func() error { return s.DeleteWebhook(ctx, adm, o.ID, hook.ID) }, failWith: core.ErrNotFound},
		{method: "RevokeToken",
			change:  func() error { return s.RevokeToken(ctx, adm, o.ID, tok.ID) },
			failure: func() error { return s.RevokeToken(ctx, adm, o.ID, "missing") }, failWith: core.ErrNotFound},
		{method: "CreateSignInLink",
			change: func() error {
				return s.CreateSignInLink(ctx, sys, store.SignInLink{TokenHash: "bg", Kind: store.SignInBreakGlass, OrgID: o.ID, UserID: admin.ID,
					CreatedAt: sessionAt, ExpiresAt: sessionAt.Add(time.Hour)})
			},
			failure: func() error { // u is no org admin
				return s.CreateSignInLink(ctx, sys, store.SignInLink{TokenHash: "bg2", Kind: store.SignInBreakGlass, OrgID: o.ID, UserID: u.ID,
					CreatedAt: sessionAt, ExpiresAt: sessionAt.Add(time.Hour)})
			}, failWith: core.ErrInvalid},
		{method: "CreateSession",
			change: func() error {
				return s.CreateSession(ctx, core.Actor{Kind: core.ActorSSO, ID: conn}, store.Session{IDHash: "h", OrgID: o.ID, UserID: u.ID,
					ConnectionID: conn, CreatedAt: sessionAt, ExpiresAt: sessionAt.Add(time.Hour), Idle: time.Hour}, nil)
			},
			failure: func() error {
				return s.CreateSession(ctx, sys, store.Session{IDHash: "h", OrgID: o.ID, UserID: u.ID,
					ConnectionID: conn, CreatedAt: sessionAt, ExpiresAt: sessionAt.Add(time.Hour), Idle: time.Hour}, nil)
			}, failWith: core.ErrConflict},
		{method: "RecordSSOEvent",
			change: func() error { return s.RecordSSOEvent(ctx, o.ID, sys, "sso.login_refused", "user", u.ID, nil) }},
		{method: "UpdateOrg",
			change: func() error {
				return second(s.UpdateOrg(ctx, adm, o.ID, func(x *core.Org) error { x.AccessChangesRequireApproval = true; return nil }))
			},
			failure: func() error {
				return second(s.UpdateOrg(ctx, adm, o.ID, func(x *core.Org) error { x.Name = " "; return nil }))
			},
			failWith: core.ErrInvalid},
		{method: "CreateProposal",
			change: func() (err error) {
				prop, err = s.CreateProposal(ctx, adm, changeProposal(o.ID, w.ID, env.ID, u, 1))
				return err
			},
			failure: func() error {
				return second(s.CreateProposal(ctx, adm, changeProposal(o.ID, "missing", "", u, 1)))
			}, failWith: core.ErrNotFound},
		{method: "ReviewProposal",
			change: func() error {
				return second(s.ReviewProposal(ctx, adm, o.ID, prop.ID, store.Review{Reviewer: core.Actor{Kind: core.ActorAdmin, ID: v.ID}, Verdict: store.Approve}))
			},
			failure: func() error {
				return second(s.ReviewProposal(ctx, adm, o.ID, prop.ID, store.Review{Reviewer: core.Actor{Kind: core.ActorAdmin, ID: admin.ID}, Verdict: store.Approve}))
			}, failWith: core.ErrConflict},
		{method: "EndProposal",
			change: func() error {
				return second(s.EndProposal(ctx, adm, o.ID, prop.ID, store.ProposalEnd{State: store.ProposalApplied, Reference: "deploy-1"}))
			},
			failure: func() error {
				return second(s.EndProposal(ctx, adm, o.ID, prop.ID, store.ProposalEnd{State: store.ProposalFailed}))
			}, failWith: core.ErrConflict},
		// Deletions last, in the order the rows depend on each other.
		{method: "DeleteGrant",
			change:  func() error { return s.DeleteGrant(ctx, adm, o.ID, grant.ID) },
			failure: func() error { return s.DeleteGrant(ctx, adm, o.ID, grant.ID) }, failWith: core.ErrNotFound},
		{method: "DeleteCustomRole",
			change:  func() error { return s.DeleteCustomRole(ctx, adm, o.ID, role.ID) },
			failure: func() error { return s.DeleteCustomRole(ctx, adm, o.ID, role.ID) }, failWith: core.ErrNotFound},
		{method: "DeleteResource",
			change:  func() error { return s.DeleteResource(ctx, adm, o.ID, res.ID) },
			failure: func() error { return s.DeleteResource(ctx, adm, o.ID, res.ID) }, failWith: core.ErrNotFound},
		{method: "DeleteWorkspace",
			change:  func() error { return s.DeleteWorkspace(ctx, adm, o.ID, w.ID) },
			failure: func() error { return s.DeleteWorkspace(ctx, adm, o.ID, w.ID) }, failWith: core.ErrNotFound},
		{method: "DeleteMapping",
			change:  func() error { return s.DeleteMapping(ctx, adm, o.ID, mapping.ID) },
			failure: func() error { return s.DeleteMapping(ctx, adm, o.ID, mapping.ID) }, failWith: core.ErrNotFound},
		{method: "SCIMDeleteGroup",
			change:  func() error { return s.SCIMDeleteGroup(ctx, scimDir(), o.ID, d.ID, sg.ID) },
			failure: func() error { return s.SCIMDeleteGroup(ctx, scimDir(), o.ID, d.ID, sg.ID) }, failWith: core.ErrNotFound},
		{method: "DeleteIdPGroup",
			change:  func() error { return s.DeleteIdPGroup(ctx, adm, o.ID, ig.ID) },
			failure: func() error { return s.DeleteIdPGroup(ctx, adm, o.ID, ig.ID) }, failWith: core.ErrNotFound},
		{method: "DeleteGroup",
			change:  func() error { return s.DeleteGroup(ctx, adm, o.ID, g2.ID) },
			failure: func() error { return s.DeleteGroup(ctx, adm, o.ID, g2.ID) }, failWith: core.ErrNotFound},
		{method: "SCIMDeleteUser",
			change:  func() error { return s.SCIMDeleteUser(ctx, scimDir(), o.ID, d.ID, su.ID) },
			failure: func() error { return s.SCIMDeleteUser(ctx, scimDir(), o.ID, d.ID, admin.ID) }, failWith: core.ErrNotFound}, // the local admin is not the directory's
		{method: "DeleteUser",
			change:  func() error { return s.DeleteUser(ctx, adm, o.ID, v.ID) },
			failure: func() error { return s.DeleteUser(ctx, adm, o.ID, admin.ID) }, failWith: core.ErrLastAdmin},
		{method: "DeleteSSOConnection",
			change:  func() error { return second(s.DeleteSSOConnection(ctx, adm, o.ID, conn)) },
			failure: func() error { return second(s.DeleteSSOConnection(ctx, adm, o.ID, conn)) }, failWith: core.ErrNotFound},
	}

	// Every method of the contract that takes an actor changes something: it must
	// have a case above.
	covered := map[string]bool{}
	for _, m := range steps {
		covered[m.method] = true
	}
	actorType := reflect.TypeFor[core.Actor]()
	ct := reflect.TypeFor[Contract]()
	for i := range ct.NumMethod() {
		m := ct.Method(i)
		for j := range m.Type.NumIn() {
			if m.Type.In(j) == actorType && !covered[m.Name] {
				t.Errorf("mutator %s has no case in everyMutatorMoves: does it move the org's generation?", m.Name)
			}
		}
	}

	for i, m := range steps {
		orgID := o.ID
		if m.org != nil {
			orgID = m.org()
		}
		before, bBefore := gen(t, s, orgID), gen(t, s, b.ID)
		if err := m.change(); err != nil {
			t.Fatalf("step %d, %s: %v", i, m.method, err)
		}
		if m.org != nil {
			orgID = m.org()
		}
		after := gen(t, s, orgID)
		if after <= before {
			t.Errorf("%s did not move the org's generation (%d → %d)", m.method, before, after)
		}
		if got := gen(t, s, b.ID); got != bBefore {
			t.Errorf("%s moved another org's generation (%d → %d)", m.method, bBefore, got)
		}
		for _, e := range must[[]core.AuditEvent](t)(s.Changes(ctx, orgID, before, 0)) {
			if e.Seq <= before || e.Seq > after || e.OrgID != orgID {
				t.Errorf("%s: change %+v outside (%d, %d]", m.method, e, before, after)
			}
		}
		if m.failure == nil {
			continue
		}
		orgID = o.ID
		failBefore := gen(t, s, orgID)
		err := m.failure()
		if !errors.Is(err, m.failWith) {
			t.Fatalf("%s: failure = %v, want %v", m.method, err, m.failWith)
		}
		if got := gen(t, s, orgID); got != failBefore {
			t.Errorf("a failed %s moved the generation (%d → %d)", m.method, failBefore, got)
		}
		if ch := must[[]core.AuditEvent](t)(s.Changes(ctx, orgID, failBefore, 0)); len(ch) != 0 {
			t.Errorf("a failed %s logged %+v", m.method, ch)
		}
	}
	// A failed operation of several steps moves nothing either.
	before := gen(t, s, o.ID)
	err := s.WithTx(ctx, func(tx store.Store) error {
		if _, err := tx.CreateGroup(ctx, adm, core.UserGroup{OrgID: o.ID, Name: "half"}); err != nil {
			return err
		}
		return fnErr
	})
	if !errors.Is(err, fnErr) || gen(t, s, o.ID) != before {
		t.Fatalf("failed operation: %v, generation %d → %d", err, before, gen(t, s, o.ID))
	}
}

// membershipEvents replays the change log the way its readers (the decision index,
// webhooks) do, keeping each group's members from the events alone, and checks the
// result against the store after every kind of membership change: the events name
// exactly the users whose membership changed, or say members_reload.
func membershipEvents(t *testing.T, s subject) {
	o, _ := newOrg(t, s, "acme")
	d := newDirectory(t, s, o.ID, "okta")
	dir := scimActor(d)
	var us []string
	ok(t, s.WithTx(ctx, func(tx store.Store) error {
		for i := range 1010 {
			u, err := tx.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: "u" + strconv.Itoa(i), Active: true, Source: core.SourceSCIM, DirectoryID: d.ID})
			if err != nil {
				return err
			}
			us = append(us, u.ID)
		}
		return nil
	}))
	g := newGroup(t, s, o.ID, "eng")
	ig := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "API"}))

	r := &memberReader{s: s, orgID: o.ID, members: map[string]map[string]bool{}}
	r.catchUp(t)
	check := func(what string, group string, isIdP bool, wantReload bool) {
		t.Helper()
		n := len(r.reloads)
		r.catchUp(t)
		if reloaded := len(r.reloads) > n; reloaded != wantReload {
			t.Fatalf("%s: members_reload = %v, want %v", what, reloaded, wantReload)
		}
		var want []string
		if isIdP {
			want = userIDs(allIdPMembers(t, s, o.ID, group))
		} else {
			for _, m := range must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, group, store.Page{})) {
				if m.Direct {
					want = append(want, m.User.ID)
				}
			}
		}
		if got := r.of(group); !sameSet(got, want) {
			t.Fatalf("%s: the log says %d members, the store %d", what, len(got), len(want))
		}
	}

	ok(t, s.AddGroupMember(ctx, adm, o.ID, g.ID, us[0]))
	ok(t, s.AddGroupMember(ctx, adm, o.ID, g.ID, us[1]))
	check("group.member.add", g.ID, false, false)
	ok(t, s.RemoveGroupMember(ctx, adm, o.ID, g.ID, us[0]))
	check("group.member.remove", g.ID, false, false)

	ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, ig.ID, us[:10], nil))
	// Present members and absent removals are not named: only real changes are.
	ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, ig.ID, us[5:12], append(slices.Clone(us[:3]), us[500])))
	e := lastEvent(t, s, o.ID)
	if !sameSet(eventIDs(e, "add_user_ids"), us[10:12]) || !sameSet(eventIDs(e, "remove_user_ids"), us[:3]) {
		t.Fatalf("idp_group.members.change = %+v", e.Details)
	}
	check("idp_group.members.change", ig.ID, true, false)
	ok(t, s.ReplaceIdPGroupMembers(ctx, sys, o.ID, ig.ID, us[8:20]))
	check("ReplaceIdPGroupMembers", ig.ID, true, false)
	// More than 1,000 ids (990 in, 12 out): members_reload.
	ok(t, s.ReplaceIdPGroupMembers(ctx, sys, o.ID, ig.ID, us[20:1010]))
	check("a large replacement", ig.ID, true, true)

	sg := must[store.SCIMGroup](t)(s.SCIMCreateGroup(ctx, dir, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "SCIM"}, us[:4]))
	check("SCIM create", sg.ID, true, false)
	patch := func(mc store.MemberChange) {
		t.Helper()
		must[store.SCIMGroup](t)(s.SCIMUpdateGroup(ctx, dir, o.ID, d.ID, sg.ID, nil, mc))
	}
	patch(store.MemberChange{Add: us[4:6]})
	check("SCIM PATCH add", sg.ID, true, false)
	patch(store.MemberChange{Remove: us[:2], Add: us[1:2]})
	check("SCIM PATCH remove-then-add", sg.ID, true, false)
	// A change that named members but changed none says so with empty lists: counts
	// alone are, to a reader, an event older than the contract (the decision index
	// then reads the whole group again).
	for _, mc := range []store.MemberChange{{Add: us[4:5]}, {Remove: us[900:901]}, {Remove: us[4:5], Add: us[4:5]}} {
		patch(mc)
		e = lastEvent(t, s, o.ID)
		_, hasA := e.Details["add_user_ids"]
		_, hasR := e.Details["remove_user_ids"]
		if !hasA || !hasR || len(eventIDs(e, "add_user_ids"))+len(eventIDs(e, "remove_user_ids")) > 0 || e.Details["members_reload"] != nil {
			t.Fatalf("a PATCH that changed no member (%+v): %+v", mc, e.Details)
		}
		check("SCIM PATCH changing nobody", sg.ID, true, false)
	}
	patch(store.MemberChange{Replace: true, Add: us[10:13]})
	check("SCIM PUT / replace", sg.ID, true, true)
	patch(store.MemberChange{Add: us})
	check("SCIM PATCH adding 1,007", sg.ID, true, true)
	// An attribute-only change names no member.
	must[store.SCIMGroup](t)(s.SCIMUpdateGroup(ctx, dir, o.ID, d.ID, sg.ID, func(x *store.SCIMGroup) error { x.DisplayName = "SCIM 2"; return nil }, store.MemberChange{}))
	e = lastEvent(t, s, o.ID)
	for _, k := range []string{"add_user_ids", "remove_user_ids", "members_reload"} {
		if _, has := e.Details[k]; has {
			t.Fatalf("an attribute-only update says %s: %+v", k, e.Details)
		}
	}
	check("SCIM attributes", sg.ID, true, false)
}

// memberReader keeps group members from the change log alone, as a reader of it
// would, re-reading a group only when an event says members_reload.
type memberReader struct {
	s       Contract
	orgID   string
	seq     int64
	members map[string]map[string]bool
	reloads []string
}

func (r *memberReader) catchUp(t *testing.T) {
	t.Helper()
	for {
		page := must[[]core.AuditEvent](t)(r.s.Changes(ctx, r.orgID, r.seq, 0))
		if len(page) == 0 {
			return
		}
		for _, e := range page {
			r.seq = e.Seq
			if e.TargetKind != "group" && e.TargetKind != "idp_group" {
				continue
			}
			set := r.members[e.TargetID]
			if set == nil {
				set = map[string]bool{}
				r.members[e.TargetID] = set
			}
			if e.Details["members_reload"] == true {
				r.reloads = append(r.reloads, e.TargetID)
				clear(set)
				for _, u := range allIdPMembers(t, r.s, r.orgID, e.TargetID) {
					set[u.ID] = true
				}
				continue
			}
			for _, id := range eventIDs(e, "add_user_ids") {
				set[id] = true
			}
			for _, id := range eventIDs(e, "remove_user_ids") {
				delete(set, id)
			}
		}
	}
}

func (r *memberReader) of(group string) []string {
	var out []string
	for id := range r.members[group] {
		out = append(out, id)
	}
	return out
}

// eventIDs reads a list of ids from an event's details.
func eventIDs(e core.AuditEvent, key string) []string {
	list, _ := e.Details[key].([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func lastEvent(t *testing.T, s Contract, orgID string) core.AuditEvent {
	t.Helper()
	es := must[[]core.AuditEvent](t)(s.ListAudit(ctx, orgID, store.AuditQuery{Page: store.Page{Limit: 1}}))
	if len(es) != 1 {
		t.Fatal("no audit event")
	}
	return es[0]
}

// allIdPMembers pages through an IdP group's members.
func allIdPMembers(t *testing.T, s Contract, orgID, groupID string) []core.User {
	t.Helper()
	var out []core.User
	after := ""
	for {
		page, err := s.IdPGroupMembers(ctx, orgID, groupID, store.Page{After: after})
		if err != nil {
			t.Fatalf("members of %s: %v", groupID, err)
		}
		out = append(out, page...)
		if len(page) < store.MaxLimit {
			return out
		}
		after = page[len(page)-1].ID
	}
}
