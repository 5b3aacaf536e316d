package decisions

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// AccessMatrix is a user's effective access: every workspace (a page of them) and
// environment, with the roles held there and the path to each.
type AccessMatrix struct {
	User       core.User         `json:"user"`
	Workspaces []WorkspaceAccess `json:"workspaces"`
	Next       string            `json:"next,omitempty"`
}

// WorkspaceAccess is the user's roles in each environment of one workspace.
type WorkspaceAccess struct {
	Workspace    WorkspaceRef        `json:"workspace"`
	Environments []EnvironmentAccess `json:"environments"`
}

// WorkspaceRef names a workspace.
type WorkspaceRef struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// EnvironmentAccess is the roles held in one environment.
type EnvironmentAccess struct {
	Environment string      `json:"environment"`
	Roles       []RoleGrant `json:"roles"`
}

// RoleGrant is one role a user holds, with where it came from.
type RoleGrant struct {
	Role    string   `json:"role"`
	Custom  bool     `json:"custom,omitempty"`
	GrantID string   `json:"grant_id"`
	Group   GroupRef `json:"group"`
	Via     []Via    `json:"via"`
}

// GroupRef names a user group.
type GroupRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Via is one path into a user group: direct, or an IdP group through a mapping.
type Via struct {
	Kind      string `json:"kind"` // direct, idp_group
	IdPGroup  string `json:"idp_group,omitempty"`
	Source    string `json:"source,omitempty"`
	MappingID string `json:"mapping_id,omitempty"`
}

func viaOf(vs []core.Via) []Via {
	out := []Via{}
	for _, v := range vs {
		if v.IdPGroup == nil {
			out = append(out, Via{Kind: "direct"})
			continue
		}
		vv := Via{Kind: "idp_group", IdPGroup: v.IdPGroup.DisplayName, Source: v.Source}
		if v.Mapping != nil {
			vv.MappingID = v.Mapping.ID
		}
		out = append(out, vv)
	}
	return out
}

// held is a role the user of some facts holds in an environment, through a grant to
// one of their groups.
type held struct {
	grant  *core.Grant
	member *core.Membership
	role   string // the pre-built role, or the custom role's name
	custom bool
}

// rolesIn lists the roles f's user holds in env: the one statement of "which roles
// does a user hold where" behind the access matrix and /me. A deactivated user
// holds none; a grant of a custom role deleted meanwhile gives none.
func rolesIn(f *core.Facts, env *core.Environment) []held {
	if !f.User.Active {
		return nil
	}
	var out []held
	for i := range f.Grants {
		g := &f.Grants[i]
		m := membership(f, g.UserGroupID)
		if m == nil || !core.CoversEnvironment(f.Workspace, *g, env) {
			continue
		}
		h := held{grant: g, member: m, role: g.Role}
		if g.CustomRoleID != "" {
			cr, ok := f.CustomRoles[g.CustomRoleID]
			if !ok {
				continue
			}
			h.role, h.custom = cr.Name, true
		}
		out = append(out, h)
	}
	return out
}

func membership(f *core.Facts, groupID string) *core.Membership {
	for i := range f.Memberships {
		if f.Memberships[i].Group.ID == groupID {
			return &f.Memberships[i]
		}
	}
	return nil
}

// matrixOf is a user's roles per environment of one workspace, from its facts.
func matrixOf(f *core.Facts) WorkspaceAccess {
	wa := WorkspaceAccess{Workspace: WorkspaceRef{f.Workspace.ID, f.Workspace.Slug, f.Workspace.Name}, Environments: []EnvironmentAccess{}}
	for i := range f.Workspace.Environments {
		env := &f.Workspace.Environments[i]
		ea := EnvironmentAccess{Environment: env.Name, Roles: []RoleGrant{}}
		for _, h := range rolesIn(f, env) {
			ea.Roles = append(ea.Roles, RoleGrant{Role: h.role, Custom: h.custom, GrantID: h.grant.ID,
				Group: GroupRef{h.member.Group.ID, h.member.Group.Name}, Via: viaOf(h.member.Via)})
		}
		wa.Environments = append(wa.Environments, ea)
	}
	return wa
}

// Access is u's access matrix over a page of the org's workspaces, as p may see it:
// an org admin sees every workspace; a person (who reads only their own matrix,
// ReadUser) sees the workspaces where they hold a role. The caller has checked
// ReadUser.
func (e *Engine) Access(ctx context.Context, p Principal, u core.User, pg store.Page) (AccessMatrix, error) {
	out := AccessMatrix{User: u, Workspaces: []WorkspaceAccess{}}
	wss, err := e.Store.ListWorkspaces(ctx, p.OrgID, pg)
	if err != nil {
		return out, err
	}
	if len(wss) == pg.Limit {
		out.Next = wss[len(wss)-1].ID // from the whole page, so paging goes on
	}
	v, err := e.view(ctx, p)
	if err != nil {
		return out, err
	}
	for _, ws := range wss {
		f, err := v.Facts(u.ID, ws.ID)
		if errors.Is(err, core.ErrNotFound) {
			// Listed after the view was taken: read the org's current change.
			if v, err = e.freshView(ctx, p); err == nil {
				f, err = v.Facts(u.ID, ws.ID)
			}
		}
		if errors.Is(err, core.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return out, err
		}
		if !sees(p, f) { // a person reads only their own matrix: f are theirs
			continue
		}
		out.Workspaces = append(out.Workspaces, matrixOf(f))
	}
	return out, nil
}
