package storetest

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func newWorkspace(t *testing.T, s Contract, orgID, slug string, envs ...string) core.Workspace {
	t.Helper()
	w, err := s.CreateWorkspace(ctx, adm, orgID, slug, "Workspace "+slug, envs)
	if err != nil {
		t.Fatalf("create workspace %s: %v", slug, err)
	}
	return w
}

var workspaceTests = []test{
	{"Workspace/CRUD", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w := newWorkspace(t, s, o.ID, "marketing", "development", "staging", "production")
		if len(w.Environments) != 3 {
			t.Fatalf("environments = %+v", w.Environments)
		}
		for i, e := range w.Environments {
			if e.Position != i || e.WorkspaceID != w.ID || e.ID == "" {
				t.Fatalf("environment %d = %+v", i, e)
			}
		}
		for _, key := range []string{w.ID, "marketing"} {
			got := must[core.Workspace](t)(s.GetWorkspace(ctx, o.ID, key))
			if got.ID != w.ID || got.Slug != w.Slug || len(got.Environments) != 3 || got.Environments[2].Name != "production" {
				t.Fatalf("GetWorkspace(%s) = %+v", key, got)
			}
		}
		e := must[core.Environment](t)(s.AddEnvironment(ctx, adm, o.ID, w.ID, "sandbox"))
		if e.Position != 3 {
			t.Fatalf("appended environment = %+v", e)
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error { return second(s.AddEnvironment(ctx, adm, o.ID, w.ID, "staging")) })
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.AddEnvironment(ctx, adm, o.ID, w.ID, "Bad Name")) })
		r := must[core.Workspace](t)(s.RenameWorkspace(ctx, adm, o.ID, w.ID, "Marketing Team"))
		if r.Name != "Marketing Team" || r.Slug != "marketing" || r.Version != 3 || len(r.Environments) != 4 {
			t.Fatalf("renamed = %+v", r)
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.CreateWorkspace(ctx, adm, o.ID, "marketing", "again", nil))
		})
		for _, bad := range []struct {
			slug string
			envs []string
		}{{"Bad", nil}, {"", nil}, {"ok", []string{"dev", "dev"}}, {"ok", []string{""}}} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateWorkspace(ctx, adm, o.ID, bad.slug, "x", bad.envs)) })
		}
		w2 := newWorkspace(t, s, o.ID, "sales")
		if len(w2.Environments) != 0 {
			t.Fatalf("sales environments = %+v", w2.Environments)
		}
		ws := must[[]core.Workspace](t)(s.ListWorkspaces(ctx, o.ID, store.Page{}))
		if len(ws) != 2 || ws[0].ID != w.ID || len(ws[0].Environments) != 4 || ws[1].ID != w2.ID {
			t.Fatalf("workspaces = %+v", ws)
		}
		if ws := must[[]core.Workspace](t)(s.ListWorkspaces(ctx, o.ID, store.Page{After: w.ID})); len(ws) != 1 || ws[0].ID != w2.ID {
			t.Fatalf("page 2 = %+v", ws)
		}
		ok(t, s.DeleteWorkspace(ctx, adm, o.ID, w2.ID))
		wantErr(t, second(s.GetWorkspace(ctx, o.ID, w2.ID)), core.ErrNotFound)
		for _, a := range []string{"workspace.create", "environment.create", "workspace.rename", "workspace.delete"} {
			if len(audits(t, s, o.ID, a)) == 0 {
				t.Fatalf("no %s event", a)
			}
		}
		b, _ := newOrg(t, s, "b")
		wantErr(t, second(s.GetWorkspace(ctx, b.ID, w.ID)), core.ErrNotFound)
		wantErr(t, second(s.GetWorkspace(ctx, b.ID, "marketing")), core.ErrNotFound)
		wantErr(t, second(s.RenameWorkspace(ctx, adm, b.ID, w.ID, "x")), core.ErrNotFound)
		wantErr(t, s.DeleteWorkspace(ctx, adm, b.ID, w.ID), core.ErrNotFound)
		wantErr(t, second(s.AddEnvironment(ctx, adm, b.ID, w.ID, "x")), core.ErrNotFound)
		if ws := must[[]core.Workspace](t)(s.ListWorkspaces(ctx, b.ID, store.Page{})); len(ws) != 0 {
			t.Fatalf("b sees %+v", ws)
		}
		newWorkspace(t, s, b.ID, "marketing") // slugs are per org
	}},
	{"Workspace/Spaces", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w := newWorkspace(t, s, o.ID, "marketing", "production")
		sp := must[core.Space](t)(s.CreateSpace(ctx, adm, o.ID, w.ID, "Finance"))
		for _, key := range []string{sp.ID, "Finance"} {
			if got := must[core.Space](t)(s.GetSpace(ctx, o.ID, w.ID, key)); got != sp {
				t.Fatalf("GetSpace(%s) = %+v", key, got)
			}
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error { return second(s.CreateSpace(ctx, adm, o.ID, w.ID, "Finance")) })
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateSpace(ctx, adm, o.ID, w.ID, "")) })
		g := newGroup(t, s, o.ID, "finance-team")
		ok(t, s.AssignSpace(ctx, adm, o.ID, w.ID, sp.ID, g.ID))
		ok(t, s.AssignSpace(ctx, adm, o.ID, w.ID, sp.ID, g.ID))
		if n := len(audits(t, s, o.ID, "space.assign")); n != 1 {
			t.Fatalf("space.assign events = %d", n)
		}
		if gs := must[[]core.UserGroup](t)(s.SpaceGroups(ctx, o.ID, w.ID, sp.ID)); len(gs) != 1 || gs[0].ID != g.ID {
			t.Fatalf("space groups = %+v", gs)
		}
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return s.AssignSpace(ctx, adm, o.ID, w.ID, sp.ID, "missing") })
		// A space of another workspace is not found through this one.
		w2 := newWorkspace(t, s, o.ID, "sales")
		wantErr(t, second(s.GetSpace(ctx, o.ID, w2.ID, sp.ID)), core.ErrNotFound)
		wantErr(t, s.AssignSpace(ctx, adm, o.ID, w2.ID, sp.ID, g.ID), core.ErrNotFound)
		// A resource in the space blocks its deletion.
		r := must[core.Resource](t)(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeSource, ExternalID: "s-1", SpaceID: sp.ID}))
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return s.DeleteSpace(ctx, adm, o.ID, w.ID, sp.ID) })
		ok(t, s.DeleteResource(ctx, adm, o.ID, r.ID))
		ok(t, s.UnassignSpace(ctx, adm, o.ID, w.ID, sp.ID, g.ID))
		ok(t, s.UnassignSpace(ctx, adm, o.ID, w.ID, sp.ID, g.ID))
		if n := len(audits(t, s, o.ID, "space.unassign")); n != 1 {
			t.Fatalf("space.unassign events = %d", n)
		}
		if sps := must[[]core.Space](t)(s.ListSpaces(ctx, o.ID, w.ID)); len(sps) != 1 {
			t.Fatalf("spaces = %+v", sps)
		}
		b, _ := newOrg(t, s, "b")
		gb := newGroup(t, s, b.ID, "x")
		wantErr(t, second(s.GetSpace(ctx, b.ID, w.ID, sp.ID)), core.ErrNotFound)
		wantErr(t, second(s.ListSpaces(ctx, b.ID, w.ID)), core.ErrNotFound)
		wantErr(t, second(s.SpaceGroups(ctx, b.ID, w.ID, sp.ID)), core.ErrNotFound)
		wantErr(t, second(s.CreateSpace(ctx, adm, b.ID, w.ID, "y")), core.ErrNotFound)
		wantErr(t, s.AssignSpace(ctx, adm, b.ID, w.ID, sp.ID, gb.ID), core.ErrNotFound)
		wantErr(t, s.AssignSpace(ctx, adm, o.ID, w.ID, sp.ID, gb.ID), core.ErrNotFound) // another org's group
		wantErr(t, s.DeleteSpace(ctx, adm, b.ID, w.ID, sp.ID), core.ErrNotFound)
		ok(t, s.DeleteSpace(ctx, adm, o.ID, w.ID, sp.ID))
		wantErr(t, second(s.GetSpace(ctx, o.ID, w.ID, sp.ID)), core.ErrNotFound)
	}},
}

var resourceTests = []test{
	{"Resource/CRUD", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w := newWorkspace(t, s, o.ID, "marketing", "development", "production")
		dev, prod := w.Environments[0], w.Environments[1]
		sp := must[core.Space](t)(s.CreateSpace(ctx, adm, o.ID, w.ID, "Finance"))
		r := must[core.Resource](t)(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeSource,
			ExternalID: "s-42", Name: "Salesforce", EnvironmentID: dev.ID, SpaceID: sp.ID}))
		if r.ID == "" || r.Version != 1 {
			t.Fatalf("resource = %+v", r)
		}
		if got := must[core.Resource](t)(s.GetResource(ctx, o.ID, r.ID)); got != r {
			t.Fatalf("get = %+v, want %+v", got, r)
		}
		if got := must[core.Resource](t)(s.GetResourceByExternalID(ctx, o.ID, w.ID, core.TypeSource, "s-42")); got != r {
			t.Fatalf("by external id = %+v", got)
		}
		wantErr(t, second(s.GetResourceByExternalID(ctx, o.ID, w.ID, core.TypeModel, "s-42")), core.ErrNotFound)
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeSource, ExternalID: "s-42"}))
		})
		must[core.Resource](t)(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeModel, ExternalID: "s-42"}))
		for _, bad := range []core.Resource{
			{WorkspaceID: w.ID, Type: "table", ExternalID: "x"},
			{WorkspaceID: w.ID, Type: core.TypeSource, ExternalID: ""},
		} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateResource(ctx, adm, o.ID, bad)) })
		}
		// Environments and spaces of another workspace are refused.
		w2 := newWorkspace(t, s, o.ID, "sales", "production")
		sp2 := must[core.Space](t)(s.CreateSpace(ctx, adm, o.ID, w2.ID, "Other"))
		unchanged(t, s, o.ID, core.ErrNotFound, func() error {
			return second(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeSync, ExternalID: "x", EnvironmentID: w2.Environments[0].ID}))
		})
		unchanged(t, s, o.ID, core.ErrNotFound, func() error {
			return second(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeSync, ExternalID: "x", SpaceID: sp2.ID}))
		})
		up := must[core.Resource](t)(s.UpdateResource(ctx, adm, o.ID, r.ID, func(x *core.Resource) error {
			x.Name, x.EnvironmentID, x.SpaceID = "SFDC", prod.ID, ""
			return nil
		}))
		if up.Name != "SFDC" || up.EnvironmentID != prod.ID || up.SpaceID != "" || up.Version != 2 {
			t.Fatalf("updated = %+v", up)
		}
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.UpdateResource(ctx, adm, o.ID, r.ID, func(x *core.Resource) error { x.Type = core.TypeModel; return nil }))
		})
		unchanged(t, s, o.ID, core.ErrNotFound, func() error {
			return second(s.UpdateResource(ctx, adm, o.ID, r.ID, func(x *core.Resource) error { x.SpaceID = sp2.ID; return nil }))
		})
		list := func(q store.ResourceQuery) int {
			return len(must[[]core.Resource](t)(s.ListResources(ctx, o.ID, w.ID, q)))
		}
		if list(store.ResourceQuery{}) != 2 || list(store.ResourceQuery{Type: core.TypeModel}) != 1 ||
			list(store.ResourceQuery{EnvironmentID: prod.ID}) != 1 || list(store.ResourceQuery{SpaceID: sp.ID}) != 0 ||
			list(store.ResourceQuery{Page: store.Page{Limit: 1}}) != 1 {
			t.Fatal("resource filters are wrong")
		}
		b, _ := newOrg(t, s, "b")
		wantErr(t, second(s.GetResource(ctx, b.ID, r.ID)), core.ErrNotFound)
		wantErr(t, second(s.GetResourceByExternalID(ctx, b.ID, w.ID, core.TypeSource, "s-42")), core.ErrNotFound)
		wantErr(t, second(s.UpdateResource(ctx, adm, b.ID, r.ID, func(*core.Resource) error { return nil })), core.ErrNotFound)
		wantErr(t, s.DeleteResource(ctx, adm, b.ID, r.ID), core.ErrNotFound)
		wantErr(t, second(s.ListResources(ctx, b.ID, w.ID, store.ResourceQuery{})), core.ErrNotFound)
		wantErr(t, second(s.CreateResource(ctx, adm, b.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeSource, ExternalID: "y"})), core.ErrNotFound)
		ok(t, s.DeleteResource(ctx, adm, o.ID, r.ID))
		wantErr(t, second(s.GetResource(ctx, o.ID, r.ID)), core.ErrNotFound)
		for _, a := range []string{"resource.create", "resource.update", "resource.delete"} {
			if len(audits(t, s, o.ID, a)) == 0 {
				t.Fatalf("no %s event", a)
			}
		}
	}},
}

var mappingTests = []test{
	{"Mapping/CRUD", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		conn := newConnection(t, s, o.ID, "entra-saml")
		g := newGroup(t, s, o.ID, "eng")
		m := must[core.Mapping](t)(s.CreateMapping(ctx, adm, core.Mapping{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "Engineering", UserGroupID: g.ID}))
		if got := must[core.Mapping](t)(s.GetMapping(ctx, o.ID, m.ID)); got != m {
			t.Fatalf("get = %+v", got)
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.CreateMapping(ctx, adm, core.Mapping{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "ENGINEERING", UserGroupID: g.ID}))
		})
		m2 := must[core.Mapping](t)(s.CreateMapping(ctx, adm, core.Mapping{OrgID: o.ID, ConnectionID: conn, IdPGroup: "Engineering", UserGroupID: g.ID}))
		for _, bad := range []core.Mapping{
			{OrgID: o.ID, IdPGroup: "x", UserGroupID: g.ID},
			{OrgID: o.ID, DirectoryID: d.ID, ConnectionID: conn, IdPGroup: "x", UserGroupID: g.ID},
			{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "", UserGroupID: g.ID},
			{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "x"},
		} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateMapping(ctx, adm, bad)) })
		}
		for _, bad := range []core.Mapping{
			{OrgID: o.ID, DirectoryID: "missing", IdPGroup: "x", UserGroupID: g.ID},
			{OrgID: o.ID, ConnectionID: "missing", IdPGroup: "x", UserGroupID: g.ID},
			{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "x", UserGroupID: "missing"},
		} {
			unchanged(t, s, o.ID, core.ErrNotFound, func() error { return second(s.CreateMapping(ctx, adm, bad)) })
		}
		if ms := must[[]core.Mapping](t)(s.ListMappings(ctx, o.ID, store.Page{})); len(ms) != 2 || ms[0].ID != m.ID || ms[1].ID != m2.ID {
			t.Fatalf("mappings = %+v", ms)
		}
		if n := must[int](t)(s.CountMappings(ctx, o.ID)); n != 2 {
			t.Fatalf("CountMappings = %d, want 2", n)
		}
		b, _ := newOrg(t, s, "b")
		gb := newGroup(t, s, b.ID, "x")
		wantErr(t, second(s.GetMapping(ctx, b.ID, m.ID)), core.ErrNotFound)
		wantErr(t, s.DeleteMapping(ctx, adm, b.ID, m.ID), core.ErrNotFound)
		if ms := must[[]core.Mapping](t)(s.ListMappings(ctx, b.ID, store.Page{})); len(ms) != 0 {
			t.Fatalf("b sees %+v", ms)
		}
		if n := must[int](t)(s.CountMappings(ctx, b.ID)); n != 0 {
			t.Fatalf("b counts %d mappings", n)
		}
		// Neither a's directory onto b's group nor b's directory onto a's group.
		wantErr(t, second(s.CreateMapping(ctx, adm, core.Mapping{OrgID: b.ID, DirectoryID: d.ID, IdPGroup: "x", UserGroupID: gb.ID})), core.ErrNotFound)
		wantErr(t, second(s.CreateMapping(ctx, adm, core.Mapping{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "x", UserGroupID: gb.ID})), core.ErrNotFound)
		ok(t, s.DeleteMapping(ctx, adm, o.ID, m.ID))
		wantErr(t, second(s.GetMapping(ctx, o.ID, m.ID)), core.ErrNotFound)
		if len(audits(t, s, o.ID, "mapping.create")) != 2 || len(audits(t, s, o.ID, "mapping.delete")) != 1 {
			t.Fatal("mapping audit events missing")
		}
	}},
}

var roleTests = []test{
	{"CustomRole/CRUD", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		rules := []core.Rule{
			{Actions: []core.Action{core.ActionView}, ResourceType: core.AnyType},
			{Actions: []core.Action{core.ActionEdit, core.ActionRun}, ResourceType: core.TypeSource, ResourceID: "s-42"},
		}
		r := must[core.CustomRole](t)(s.CreateCustomRole(ctx, adm, core.CustomRole{OrgID: o.ID, Name: "Source Owner", Rules: rules}))
		for _, key := range []string{r.ID, "source owner"} {
			got := must[core.CustomRole](t)(s.GetCustomRole(ctx, o.ID, key))
			if got.ID != r.ID || len(got.Rules) != 2 || got.Rules[1].ResourceID != "s-42" || got.Rules[1].Actions[1] != core.ActionRun {
				t.Fatalf("GetCustomRole(%s) = %+v", key, got)
			}
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.CreateCustomRole(ctx, adm, core.CustomRole{OrgID: o.ID, Name: "SOURCE OWNER", Rules: rules}))
		})
		for _, bad := range []core.CustomRole{
			{OrgID: o.ID, Name: "Editor", Rules: rules},
			{OrgID: o.ID, Name: "", Rules: rules},
			{OrgID: o.ID, Name: "x"},
			{OrgID: o.ID, Name: "x", Rules: []core.Rule{{Actions: []core.Action{"fly"}, ResourceType: core.TypeSource}}},
			{OrgID: o.ID, Name: "x", Rules: []core.Rule{{Actions: []core.Action{core.ActionView}, ResourceType: "table"}}},
			{OrgID: o.ID, Name: "x", Rules: []core.Rule{{Actions: []core.Action{core.ActionView}, ResourceType: core.AnyType, ResourceID: "r"}}},
		} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateCustomRole(ctx, adm, bad)) })
		}
		up := must[core.CustomRole](t)(s.UpdateCustomRole(ctx, adm, o.ID, r.ID, func(x *core.CustomRole) error {
			x.Rules = x.Rules[:1]
			x.Description = "view only now"
			return nil
		}))
		if up.Version != 2 || len(up.Rules) != 1 || up.Description != "view only now" {
			t.Fatalf("updated = %+v", up)
		}
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.UpdateCustomRole(ctx, adm, o.ID, r.ID, func(x *core.CustomRole) error { x.Rules = nil; return nil }))
		})
		if rs := must[[]core.CustomRole](t)(s.ListCustomRoles(ctx, o.ID)); len(rs) != 1 || len(rs[0].Rules) != 1 {
			t.Fatalf("roles = %+v", rs)
		}
		b, _ := newOrg(t, s, "b")
		wantErr(t, second(s.GetCustomRole(ctx, b.ID, r.ID)), core.ErrNotFound)
		wantErr(t, second(s.GetCustomRole(ctx, b.ID, "source owner")), core.ErrNotFound)
		wantErr(t, second(s.UpdateCustomRole(ctx, adm, b.ID, r.ID, func(*core.CustomRole) error { return nil })), core.ErrNotFound)
		wantErr(t, s.DeleteCustomRole(ctx, adm, b.ID, r.ID), core.ErrNotFound)
		if rs := must[[]core.CustomRole](t)(s.ListCustomRoles(ctx, b.ID)); len(rs) != 0 {
			t.Fatalf("b sees %+v", rs)
		}
		ok(t, s.DeleteCustomRole(ctx, adm, o.ID, r.ID))
		wantErr(t, second(s.GetCustomRole(ctx, o.ID, r.ID)), core.ErrNotFound)
		for _, a := range []string{"custom_role.create", "custom_role.update", "custom_role.delete"} {
			if len(audits(t, s, o.ID, a)) != 1 {
				t.Fatalf("want one %s event", a)
			}
		}
	}},
}

var grantTests = []test{
	{"Grant/CRUD", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w := newWorkspace(t, s, o.ID, "marketing", "development", "staging", "production")
		w2 := newWorkspace(t, s, o.ID, "sales", "production")
		g := newGroup(t, s, o.ID, "eng")
		cr := must[core.CustomRole](t)(s.CreateCustomRole(ctx, adm, core.CustomRole{OrgID: o.ID, Name: "viewer-plus",
			Rules: []core.Rule{{Actions: []core.Action{core.ActionView}, ResourceType: core.AnyType}}}))
		editorDev := must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID,
			Role: core.RoleEditor, EnvironmentIDs: []string{w.Environments[1].ID, w.Environments[0].ID}}))
		viewer := must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, Role: core.RoleViewer}))
		custom := must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w2.ID, CustomRoleID: cr.ID}))
		got := must[core.Grant](t)(s.GetGrant(ctx, o.ID, editorDev.ID))
		// Environments come back in promotion order.
		if got.Role != core.RoleEditor || strings.Join(got.EnvironmentIDs, ",") != w.Environments[0].ID+","+w.Environments[1].ID {
			t.Fatalf("grant = %+v", got)
		}
		if got := must[core.Grant](t)(s.GetGrant(ctx, o.ID, custom.ID)); got.CustomRoleID != cr.ID || got.Role != "" || len(got.EnvironmentIDs) != 0 {
			t.Fatalf("custom grant = %+v", got)
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, Role: core.RoleViewer}))
		})
		for _, bad := range []core.Grant{
			{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID},
			{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, Role: "owner"},
			{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, Role: core.RoleAdmin, CustomRoleID: cr.ID},
			{OrgID: o.ID, WorkspaceID: w.ID, Role: core.RoleAdmin},
		} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateGrant(ctx, adm, bad)) })
		}
		for _, bad := range []core.Grant{
			{OrgID: o.ID, UserGroupID: "missing", WorkspaceID: w.ID, Role: core.RoleAdmin},
			{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: "missing", Role: core.RoleAdmin},
			{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, CustomRoleID: "missing"},
			// An environment of another workspace: nothing crosses a workspace boundary.
			{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, Role: core.RoleAdmin, EnvironmentIDs: []string{w2.Environments[0].ID}},
		} {
			unchanged(t, s, o.ID, core.ErrNotFound, func() error { return second(s.CreateGrant(ctx, adm, bad)) })
		}
		list := func(q store.GrantQuery) []string {
			return ids(must[[]core.Grant](t)(s.ListGrants(ctx, o.ID, q)), func(g core.Grant) string { return g.ID })
		}
		if l := list(store.GrantQuery{}); len(l) != 3 {
			t.Fatalf("grants = %v", l)
		}
		if l := list(store.GrantQuery{WorkspaceID: w.ID}); !sameSet(l, []string{editorDev.ID, viewer.ID}) {
			t.Fatalf("grants in marketing = %v", l)
		}
		if l := list(store.GrantQuery{GroupID: "other"}); len(l) != 0 {
			t.Fatalf("grants of other = %v", l)
		}
		b, _ := newOrg(t, s, "b")
		gb := newGroup(t, s, b.ID, "eng")
		wantErr(t, second(s.GetGrant(ctx, b.ID, viewer.ID)), core.ErrNotFound)
		wantErr(t, s.DeleteGrant(ctx, adm, b.ID, viewer.ID), core.ErrNotFound)
		if gs := must[[]core.Grant](t)(s.ListGrants(ctx, b.ID, store.GrantQuery{})); len(gs) != 0 {
			t.Fatalf("b sees %+v", gs)
		}
		// b's group into a's workspace, a's role into b: refused.
		wantErr(t, second(s.CreateGrant(ctx, adm, core.Grant{OrgID: b.ID, UserGroupID: gb.ID, WorkspaceID: w.ID, Role: core.RoleAdmin})), core.ErrNotFound)
		wantErr(t, second(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: gb.ID, WorkspaceID: w.ID, Role: core.RoleAdmin})), core.ErrNotFound)
		wb := newWorkspace(t, s, b.ID, "x")
		wantErr(t, second(s.CreateGrant(ctx, adm, core.Grant{OrgID: b.ID, UserGroupID: gb.ID, WorkspaceID: wb.ID, CustomRoleID: cr.ID})), core.ErrNotFound)
		ok(t, s.DeleteGrant(ctx, adm, o.ID, viewer.ID))
		wantErr(t, second(s.GetGrant(ctx, o.ID, viewer.ID)), core.ErrNotFound)
		// Deleting the custom role takes its grants with it; so does the workspace.
		ok(t, s.DeleteCustomRole(ctx, adm, o.ID, cr.ID))
		wantErr(t, second(s.GetGrant(ctx, o.ID, custom.ID)), core.ErrNotFound)
		ok(t, s.DeleteWorkspace(ctx, adm, o.ID, w.ID))
		if l := list(store.GrantQuery{}); len(l) != 0 {
			t.Fatalf("grants after deletes = %v", l)
		}
		if len(audits(t, s, o.ID, "grant.create")) != 3 || len(audits(t, s, o.ID, "grant.delete")) != 1 {
			t.Fatal("grant audit events missing")
		}
	}},
}
