package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var auditTests = []test{
	{"Audit/List", func(t *testing.T, s subject) {
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		s.clock.set(now)
		o, _ := newOrg(t, s, "acme") // org.create, user.create, org_admin.add at 12:00
		now = now.Add(time.Hour)
		s.clock.set(now)
		scim := core.Actor{Kind: core.ActorSCIM, ID: "dir-1", Name: "okta"}
		u := must[core.User](t)(s.CreateUser(ctx, scim, core.User{OrgID: o.ID, UserName: "jane", Active: true, Source: core.SourceInvited}))
		now = now.Add(time.Hour)
		s.clock.set(now)
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, u.ID, func(x *core.User) error { x.Active = false; return nil }))
		newGroup(t, s, o.ID, "eng") // 14:00, by sys

		all := must[[]core.AuditEvent](t)(s.ListAudit(ctx, o.ID, store.AuditQuery{}))
		if len(all) != 6 {
			t.Fatalf("events = %d", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i-1].ID <= all[i].ID {
				t.Fatal("events are not newest first")
			}
		}
		if all[0].Action != "group.create" || all[5].Action != "org.create" {
			t.Fatalf("order: first %s, last %s", all[0].Action, all[5].Action)
		}
		e := all[2] // user.create by SCIM
		if e.Action != "user.create" || e.Actor != scim || e.TargetKind != "user" || e.TargetID != u.ID || e.OrgID != o.ID ||
			!e.At.Equal(time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)) || e.Details["user_name"] != "jane" {
			t.Fatalf("event = %+v", e)
		}
		q := func(q store.AuditQuery) []string {
			return ids(must[[]core.AuditEvent](t)(s.ListAudit(ctx, o.ID, q)), func(e core.AuditEvent) string { return e.Action })
		}
		if got := q(store.AuditQuery{Action: "user."}); !sameSet(got, []string{"user.deactivate", "user.create", "user.create"}) {
			t.Fatalf("user. = %v", got)
		}
		if got := q(store.AuditQuery{Action: "user.create"}); len(got) != 2 {
			t.Fatalf("user.create = %v", got)
		}
		// "_" in a prefix is literal.
		if got := q(store.AuditQuery{Action: "org_admin."}); len(got) != 1 {
			t.Fatalf("org_admin. = %v", got)
		}
		if got := q(store.AuditQuery{Action: "orgXadmin."}); len(got) != 0 {
			t.Fatalf("orgXadmin. = %v", got)
		}
		if got := q(store.AuditQuery{ActorID: "dir-1"}); len(got) != 1 {
			t.Fatalf("by actor = %v", got)
		}
		if got := q(store.AuditQuery{Since: time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC), Until: time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)}); len(got) != 1 || got[0] != "user.create" {
			t.Fatalf("13:00..14:00 = %v", got)
		}
		var paged []string
		after := ""
		for {
			page := must[[]core.AuditEvent](t)(s.ListAudit(ctx, o.ID, store.AuditQuery{Page: store.Page{After: after, Limit: 4}}))
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				paged = append(paged, e.ID)
			}
			after = page[len(page)-1].ID
		}
		if len(paged) != 6 || paged[0] != all[0].ID || paged[5] != all[5].ID {
			t.Fatalf("paged = %v", paged)
		}
		b, _ := newOrg(t, s, "b")
		for _, e := range must[[]core.AuditEvent](t)(s.ListAudit(ctx, b.ID, store.AuditQuery{})) {
			if e.OrgID != b.ID || e.TargetID == u.ID {
				t.Fatalf("b sees %+v", e)
			}
		}
	}},
}

var accessTests = []test{
	{"Access/MembershipsThroughMappings", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		d2 := newDirectory(t, s, o.ID, "entra")
		conn := newConnection(t, s, o.ID, "okta-saml")
		u := newUser(t, s, o.ID, "jane")
		v := newUser(t, s, o.ID, "bob")
		eng, ops, sales, direct := newGroup(t, s, o.ID, "eng"), newGroup(t, s, o.ID, "ops"), newGroup(t, s, o.ID, "sales"), newGroup(t, s, o.ID, "direct")
		ig := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, ExternalID: "00g-eng", DisplayName: "Engineering"}))
		ig2 := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d2.ID, ExternalID: "00g-eng", DisplayName: "Engineering"}))
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, ig.ID, []string{u.ID}, nil))
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, ig2.ID, []string{v.ID}, nil))
		ok(t, s.AddGroupMember(ctx, adm, o.ID, direct.ID, u.ID))
		ok(t, s.AddGroupMember(ctx, adm, o.ID, eng.ID, u.ID))
		// One mapping per way of naming the group, plus one that names a group the IdP has
		// not sent, and one of another directory: only okta's mappings apply to okta's group.
		for _, m := range []core.Mapping{
			{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "engineering", UserGroupID: eng.ID}, // display name, any case
			{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "00g-eng", UserGroupID: ops.ID},     // external id
			{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: ig.ID, UserGroupID: sales.ID},       // Gatehouse id
			{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "Not Yet Sent", UserGroupID: direct.ID},
			{OrgID: o.ID, ConnectionID: conn, IdPGroup: "Engineering", UserGroupID: direct.ID},
		} {
			must[core.Mapping](t)(s.CreateMapping(ctx, adm, m))
		}
		ms := must[[]core.Membership](t)(s.UserMemberships(ctx, o.ID, u.ID))
		byName := map[string]core.Membership{}
		for _, m := range ms {
			byName[m.Group.Name] = m
		}
		if len(ms) != 4 {
			t.Fatalf("memberships = %+v", ms)
		}
		// eng: direct and through okta's Engineering.
		if m := byName["eng"]; len(m.Via) != 2 || m.Via[0].IdPGroup != nil || m.Via[1].IdPGroup.ID != ig.ID ||
			m.Via[1].Mapping.IdPGroup != "engineering" || m.Via[1].Source != "SCIM directory okta" {
			t.Fatalf("eng = %+v", m)
		}
		for _, name := range []string{"ops", "sales"} {
			if m := byName[name]; len(m.Via) != 1 || m.Via[0].IdPGroup == nil || m.Via[0].IdPGroup.ID != ig.ID {
				t.Fatalf("%s = %+v", name, m)
			}
		}
		if m := byName["direct"]; len(m.Via) != 1 || m.Via[0].IdPGroup != nil {
			t.Fatalf("direct = %+v", m)
		}
		// bob is in entra's Engineering: no mapping of entra, no group.
		if ms := must[[]core.Membership](t)(s.UserMemberships(ctx, o.ID, v.ID)); len(ms) != 0 {
			t.Fatalf("bob's memberships = %+v", ms)
		}
		members := must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, eng.ID, store.Page{}))
		if len(members) != 1 || !members[0].Direct || len(members[0].Via) != 1 || members[0].Via[0].IdPGroup.ID != ig.ID {
			t.Fatalf("eng members = %+v", members)
		}
		// An IdP change is seen at the next read: bob joins okta's group, jane leaves it.
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, ig.ID, []string{v.ID}, []string{u.ID}))
		members = must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, ops.ID, store.Page{}))
		if len(members) != 1 || members[0].User.ID != v.ID || members[0].Direct {
			t.Fatalf("ops members = %+v", members)
		}
		members = must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, eng.ID, store.Page{}))
		if len(members) != 2 || members[0].User.ID != u.ID || !members[0].Direct || len(members[0].Via) != 0 || members[1].Direct {
			t.Fatalf("eng members = %+v", members)
		}
		if p := must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, eng.ID, store.Page{After: u.ID, Limit: 1})); len(p) != 1 || p[0].User.ID != v.ID {
			t.Fatalf("page 2 = %+v", p)
		}
		// SSO groups go through the connection's mappings.
		ok(t, s.SetConnectionGroups(ctx, sys, o.ID, conn, u.ID, []string{"Engineering"}))
		if m := byNameOf(must[[]core.Membership](t)(s.UserMemberships(ctx, o.ID, u.ID)))["direct"]; len(m.Via) != 2 || m.Via[1].Source != "SSO connection okta-saml" {
			t.Fatalf("direct after SSO = %+v", m)
		}
		// Renaming the IdP group drops the display-name mapping; deleting a mapping ends its memberships.
		must[core.IdPGroup](t)(s.UpdateIdPGroup(ctx, sys, o.ID, ig.ID, func(g *core.IdPGroup) error { g.DisplayName = "Eng"; return nil }))
		if m := must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, eng.ID, store.Page{})); len(m) != 1 {
			t.Fatalf("eng members after rename = %+v", m)
		}
		mappings := must[[]core.Mapping](t)(s.ListMappings(ctx, o.ID, store.Page{}))
		ok(t, s.DeleteMapping(ctx, adm, o.ID, mappings[1].ID))
		if m := must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, ops.ID, store.Page{})); len(m) != 0 {
			t.Fatalf("ops members after mapping delete = %+v", m)
		}
	}},
	{"Access/Facts", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		u := newUser(t, s, o.ID, "jane")
		w := newWorkspace(t, s, o.ID, "marketing", "development", "production")
		other := newWorkspace(t, s, o.ID, "sales", "production")
		dev, prod := w.Environments[0], w.Environments[1]
		editors, viewers, unrelated := newGroup(t, s, o.ID, "editors"), newGroup(t, s, o.ID, "viewers"), newGroup(t, s, o.ID, "unrelated")
		ig := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Marketing"}))
		must[core.Mapping](t)(s.CreateMapping(ctx, adm, core.Mapping{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "Marketing", UserGroupID: editors.ID}))
		ok(t, s.AddGroupMember(ctx, adm, o.ID, viewers.ID, u.ID))
		cr := must[core.CustomRole](t)(s.CreateCustomRole(ctx, adm, core.CustomRole{OrgID: o.ID, Name: "runner",
			Rules: []core.Rule{{Actions: []core.Action{core.ActionRun}, ResourceType: core.TypeSync}}}))
		must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: editors.ID, WorkspaceID: w.ID, Role: core.RoleEditor, EnvironmentIDs: []string{dev.ID}}))
		must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: viewers.ID, WorkspaceID: w.ID, CustomRoleID: cr.ID}))
		must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: viewers.ID, WorkspaceID: other.ID, Role: core.RoleAdmin}))
		must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: unrelated.ID, WorkspaceID: w.ID, Role: core.RoleAdmin}))
		sp := must[core.Space](t)(s.CreateSpace(ctx, adm, o.ID, w.ID, "Finance"))
		sp2 := must[core.Space](t)(s.CreateSpace(ctx, adm, o.ID, w.ID, "HR"))
		ok(t, s.AssignSpace(ctx, adm, o.ID, w.ID, sp.ID, viewers.ID))
		ok(t, s.AssignSpace(ctx, adm, o.ID, w.ID, sp2.ID, unrelated.ID))
		src := must[core.Resource](t)(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeSource, ExternalID: "s-1", EnvironmentID: dev.ID, SpaceID: sp.ID}))

		f := must[*core.Facts](t)(s.Facts(ctx, o.ID, u.ID, "marketing"))
		if f.User.ID != u.ID || f.Workspace.ID != w.ID || len(f.Workspace.Environments) != 2 {
			t.Fatalf("facts user/workspace = %+v / %+v", f.User, f.Workspace)
		}
		if len(f.Memberships) != 1 || f.Memberships[0].Group.ID != viewers.ID {
			t.Fatalf("memberships before SCIM = %+v", f.Memberships)
		}
		if len(f.Grants) != 1 || f.Grants[0].CustomRoleID != cr.ID || len(f.CustomRoles) != 1 || len(f.CustomRoles[cr.ID].Rules) != 1 {
			t.Fatalf("grants = %+v, roles = %+v", f.Grants, f.CustomRoles)
		}
		if len(f.Spaces) != 2 || len(f.SpaceGroups) != 1 || f.SpaceGroups[sp.ID][0] != viewers.ID {
			t.Fatalf("spaces = %+v, space groups = %+v", f.Spaces, f.SpaceGroups)
		}
		// A grant narrowed to two environments lists them in promotion order; a space
		// assigned to two of the user's groups lists both.
		both := newGroup(t, s, o.ID, "both-envs")
		ok(t, s.AddGroupMember(ctx, adm, o.ID, both.ID, u.ID))
		must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: both.ID, WorkspaceID: w.ID, Role: core.RoleViewer,
			EnvironmentIDs: []string{prod.ID, dev.ID}}))
		ok(t, s.AssignSpace(ctx, adm, o.ID, w.ID, sp.ID, both.ID))
		f2 := must[*core.Facts](t)(s.Facts(ctx, o.ID, u.ID, w.ID))
		var narrowed []string
		for _, g := range f2.Grants {
			if g.UserGroupID == both.ID {
				narrowed = g.EnvironmentIDs
			}
		}
		if len(f2.Grants) != 2 || len(narrowed) != 2 || narrowed[0] != dev.ID || narrowed[1] != prod.ID {
			t.Fatalf("grants = %+v", f2.Grants)
		}
		if !sameSet(f2.SpaceGroups[sp.ID], []string{viewers.ID, both.ID}) || len(f2.SpaceGroups[sp2.ID]) != 0 {
			t.Fatalf("space groups = %+v", f2.SpaceGroups)
		}
		ok(t, s.DeleteGroup(ctx, adm, o.ID, both.ID))
		create := core.Request{Action: core.ActionCreate, ResourceType: core.TypeSource, Environment: "development"}
		if dec := core.Decide(f, create); dec.Effect != core.Deny {
			t.Fatalf("before SCIM: %+v", dec)
		}
		// SCIM adds jane to Marketing: the very next Facts sees the Editor grant.
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, ig.ID, []string{u.ID}, nil))
		f = must[*core.Facts](t)(s.Facts(ctx, o.ID, u.ID, w.ID))
		if len(f.Memberships) != 2 || len(f.Grants) != 2 {
			t.Fatalf("after SCIM: memberships %+v grants %+v", f.Memberships, f.Grants)
		}
		dec := core.Decide(f, create)
		if dec.Effect != core.Allow {
			t.Fatalf("after SCIM: %+v", dec)
		}
		kinds := ids(dec.Chain, func(s core.Step) string { return s.Kind })
		if len(kinds) < 5 || kinds[0] != "user" || kinds[1] != "idp_group" || kinds[2] != "mapping" || kinds[3] != "user_group" {
			t.Fatalf("chain = %+v", dec.Chain)
		}
		if dec := core.Decide(f, core.Request{Action: core.ActionCreate, ResourceType: core.TypeSource, Environment: prod.Name}); dec.Effect != core.Deny {
			t.Fatalf("production: %+v", dec)
		}
		// Visibility through the space assigned to viewers: the custom role may run syncs, not view sources.
		if dec := core.Decide(f, core.Request{Action: core.ActionEdit, Resource: &src}); dec.Effect != core.Deny || dec.Reason != core.ReasonRoleForbids {
			t.Fatalf("edit source: %+v", dec)
		}
		// Deactivated: denied.
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, u.ID, func(x *core.User) error { x.Active = false; return nil }))
		f = must[*core.Facts](t)(s.Facts(ctx, o.ID, u.ID, w.ID))
		if dec := core.Decide(f, create); dec.Effect != core.Deny || dec.Reason != core.ReasonUserInactive {
			t.Fatalf("inactive: %+v", dec)
		}
		// Other org: nothing.
		b, _ := newOrg(t, s, "b")
		wantErr(t, second(s.Facts(ctx, b.ID, u.ID, w.ID)), core.ErrNotFound)
		ub := newUser(t, s, b.ID, "x")
		wantErr(t, second(s.Facts(ctx, o.ID, ub.ID, w.ID)), core.ErrNotFound)
		wantErr(t, second(s.Facts(ctx, b.ID, ub.ID, w.ID)), core.ErrNotFound)
		wantErr(t, second(s.Facts(ctx, o.ID, u.ID, "missing")), core.ErrNotFound)
	}},
}

func byNameOf(ms []core.Membership) map[string]core.Membership {
	out := map[string]core.Membership{}
	for _, m := range ms {
		out[m.Group.Name] = m
	}
	return out
}
