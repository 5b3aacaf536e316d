package core

import "testing"

func TestRoleStrength(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		roles []string
		want  string
	}{
		{nil, ""},
		{[]string{"Sync Operator"}, ""},
		{[]string{RoleViewer, RoleDraftContributor}, RoleDraftContributor},
		{[]string{RoleViewer, "Sync Operator", RoleEditor}, RoleEditor},
		{[]string{RoleEditor, RoleAdmin, RoleViewer}, RoleAdmin},
	} {
		if got := StrongestRole(c.roles); got != c.want {
			t.Errorf("StrongestRole(%v) = %q, want %q", c.roles, got, c.want)
		}
	}
	for rank, role := range []string{RoleAdmin, RoleEditor, RoleDraftContributor, RoleViewer} {
		if RoleRank(role) != rank || RoleOfRank(rank) != role {
			t.Errorf("%s: rank %d, want %d", role, RoleRank(role), rank)
		}
	}
	if RoleRank("Sync Operator") != -1 {
		t.Error("a custom role has a pre-built rank")
	}
}

func TestCoversEnvironment(t *testing.T) {
	t.Parallel()
	ws := Workspace{ID: "w", Environments: []Environment{{ID: "dev", Name: "development"}, {ID: "prod", Name: "production"}}}
	dev, prod := &ws.Environments[0], &ws.Environments[1]
	for _, c := range []struct {
		name string
		envs []string
		env  *Environment
		want bool
	}{
		{"every environment, asked about one", nil, prod, true},
		{"every environment, asked about the workspace", nil, nil, true},
		{"narrowed, asked about its environment", []string{"dev"}, dev, true},
		{"narrowed, asked about another", []string{"dev"}, prod, false},
		{"narrowed, asked about the workspace", []string{"dev"}, nil, false},
		{"narrowed to all, asked about the workspace", []string{"dev", "prod"}, nil, true},
	} {
		if got := CoversEnvironment(ws, Grant{EnvironmentIDs: c.envs}, c.env); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestBuiltinRoleByDisplayName(t *testing.T) {
	for ref, want := range map[string]string{
		"draft_contributor": RoleDraftContributor, "Draft Contributor": RoleDraftContributor,
		"draft-contributor": RoleDraftContributor, " ADMIN ": RoleAdmin, "Viewer": RoleViewer,
		"Draft  Contributor": RoleDraftContributor, "Drafts": "", "": "", "s1-editor": "",
	} {
		got, ok := BuiltinRole(ref)
		if got != want || ok != (want != "") {
			t.Errorf("BuiltinRole(%q) = %q, %v; want %q", ref, got, ok, want)
		}
		if ok && RoleDisplayName(got) == got {
			t.Errorf("RoleDisplayName(%q) has no display name", got)
		}
	}
}

func TestMaySignIn(t *testing.T) {
	c := SignInConnection{ID: "c1", DirectoryID: "d1", Domains: []string{"acme.test"}}
	for _, tc := range []struct {
		owner         Owner
		domain        string
		ok, adopt     bool
		reason        string
		connDirectory string
	}{
		{Owner{Kind: OwnerConnection, ID: "c1"}, "other.test", true, false, "", "d1"},
		{Owner{Kind: OwnerConnection, ID: "c2"}, "acme.test", false, false, RefuseOwnedByConnection, "d1"},
		{Owner{Kind: OwnerDirectory, ID: "d1"}, "other.test", true, false, "", "d1"},
		{Owner{Kind: OwnerDirectory, ID: "d2"}, "acme.test", false, false, RefuseOwnedByDirectory, "d1"},
		{Owner{Kind: OwnerDirectory, ID: "d1"}, "acme.test", false, false, RefuseOwnedByDirectory, ""},
		{Owner{Kind: OwnerLocal}, "ACME.test", true, true, "", "d1"},
		{Owner{Kind: OwnerLocal}, "other.test", false, false, RefuseLocalOutside, "d1"},
	} {
		cc := c
		cc.DirectoryID = tc.connDirectory
		ok, adopt, reason := MaySignIn(tc.owner, cc, tc.domain)
		if ok != tc.ok || adopt != tc.adopt || reason != tc.reason {
			t.Errorf("%+v via %+v (%s): %v %v %q", tc.owner, cc, tc.domain, ok, adopt, reason)
		}
	}
	if !MayAdopt(Owner{Kind: OwnerLocal}, OwnerConnection) || MayAdopt(Owner{Kind: OwnerConnection, ID: "c"}, OwnerConnection) ||
		!MayAdopt(Owner{Kind: OwnerConnection, ID: "c"}, OwnerDirectory) || MayAdopt(Owner{Kind: OwnerDirectory, ID: "d"}, OwnerDirectory) {
		t.Error("MayAdopt")
	}
}
