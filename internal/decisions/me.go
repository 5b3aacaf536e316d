package decisions

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Me is the answer of GET /api/v1/me: who the signed-in person is and what they may
// do, derived from the same facts as the access checks.
type Me struct {
	User       core.User     `json:"user"`
	Org        core.Org      `json:"org"`
	Session    MeSession     `json:"session"`
	Groups     []MeGroup     `json:"groups"`
	Workspaces []MeWorkspace `json:"workspaces"`
}

// MeSession describes the current session.
type MeSession struct {
	ConnectionID string    `json:"connection_id"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// MeGroup is one user group of the user and how they came into it.
type MeGroup struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Direct bool    `json:"direct"`
	Via    []MeVia `json:"via,omitempty"`
}

// MeVia is one IdP group that makes the user a member, through a mapping.
type MeVia struct {
	IdPGroupID   string `json:"idp_group_id"`
	IdPGroup     string `json:"idp_group"`
	DirectoryID  string `json:"directory_id,omitempty"`
	ConnectionID string `json:"connection_id,omitempty"`
	MappingID    string `json:"mapping_id,omitempty"`
}

// MeWorkspace is the user's standing in one workspace.
type MeWorkspace struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
	// Role is the pre-built role the user holds at least in every environment (the
	// weakest of the environments' strongest roles), if every environment has one.
	Role         string          `json:"role,omitempty"`
	Environments []MeEnvironment `json:"environments"`
}

// MeEnvironment is the user's effective role in one environment.
type MeEnvironment struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Role is the strongest pre-built role granted here; Roles lists every role
	// granted here, custom roles by name.
	Role  string   `json:"role,omitempty"`
	Roles []string `json:"roles"`
	// Decisions answers the workspace-level actions here (view, manage_access).
	Decisions map[core.Action]core.Effect `json:"decisions"`
}

// Me describes the signed-in person p of session s, with the workspaces p may see.
func (e *Engine) Me(ctx context.Context, p Principal, s store.Session) (*Me, error) {
	u, err := e.Store.GetUser(ctx, p.OrgID, p.UserID)
	if err != nil {
		return nil, err
	}
	org, err := e.Store.GetOrg(ctx, p.OrgID)
	if err != nil {
		return nil, err
	}
	v, err := e.view(ctx, p)
	if err != nil {
		return nil, err
	}
	ms, err := v.Memberships(p.UserID)
	if err != nil {
		return nil, err
	}
	me := &Me{User: u, Org: org, Session: MeSession{ConnectionID: s.ConnectionID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt},
		Groups: []MeGroup{}, Workspaces: []MeWorkspace{}}
	for _, m := range ms {
		g := MeGroup{ID: m.Group.ID, Name: m.Group.Name}
		for _, v := range m.Via {
			if v.IdPGroup == nil {
				g.Direct = true
				continue
			}
			mv := MeVia{IdPGroupID: v.IdPGroup.ID, IdPGroup: v.IdPGroup.DisplayName,
				DirectoryID: v.IdPGroup.DirectoryID, ConnectionID: v.IdPGroup.ConnectionID}
			if v.Mapping != nil {
				mv.MappingID = v.Mapping.ID
			}
			g.Via = append(g.Via, mv)
		}
		me.Groups = append(me.Groups, g)
	}
	pg := store.Page{Limit: store.MaxLimit}
	for {
		wss, err := e.Store.ListWorkspaces(ctx, p.OrgID, pg)
		if err != nil {
			return nil, err
		}
		for _, ws := range wss {
			f, err := v.Facts(p.UserID, ws.ID)
			if errors.Is(err, core.ErrNotFound) {
				// Listed after the view was taken: read the org's current change.
				if v, err = e.freshView(ctx, p); err == nil {
					f, err = v.Facts(p.UserID, ws.ID)
				}
			}
			if errors.Is(err, core.ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return nil, err
			}
			if sees(p, f) {
				me.Workspaces = append(me.Workspaces, meWorkspace(f))
			}
		}
		if len(wss) < pg.Limit {
			return me, nil
		}
		pg.After = wss[len(wss)-1].ID
	}
}

func meWorkspace(f *core.Facts) MeWorkspace {
	ws := f.Workspace
	out := MeWorkspace{ID: ws.ID, Slug: ws.Slug, Name: ws.Name, Environments: []MeEnvironment{}}
	weakest, complete := -1, len(ws.Environments) > 0
	for i := range ws.Environments {
		env := &ws.Environments[i]
		e := MeEnvironment{ID: env.ID, Name: env.Name, Roles: []string{}, Decisions: map[core.Action]core.Effect{}}
		for _, h := range rolesIn(f, env) {
			if h.role != "" && !slices.Contains(e.Roles, h.role) {
				e.Roles = append(e.Roles, h.role)
			}
		}
		slices.Sort(e.Roles)
		e.Role = core.StrongestRole(e.Roles)
		for _, a := range []core.Action{core.ActionView, core.ActionManageAccess} {
			e.Decisions[a] = core.Decide(f, core.Request{Action: a, Environment: env.ID}).Effect
		}
		if rank := core.RoleRank(e.Role); rank < 0 {
			complete = false
		} else if rank > weakest {
			weakest = rank
		}
		out.Environments = append(out.Environments, e)
	}
	if complete && weakest >= 0 {
		out.Role = core.RoleOfRank(weakest)
	}
	return out
}
