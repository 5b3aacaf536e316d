package sso

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Me is the answer of GET /api/v1/me: who the session's user is and what they may
// do, derived from the same facts the decision API uses.
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

// builtinRank orders pre-built roles from strongest to weakest.
var builtinRank = []string{core.RoleAdmin, core.RoleEditor, core.RoleDraftContributor, core.RoleViewer}

func strongest(roles []string) string {
	for _, r := range builtinRank {
		if slices.Contains(roles, r) {
			return r
		}
	}
	return ""
}

type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serveMe answers GET /api/v1/me for a session cookie.
func (h *Handler) serveMe(w http.ResponseWriter, r *http.Request) {
	s, err := h.Session(r)
	if errors.Is(err, core.ErrNotFound) {
		writeJSON(w, http.StatusUnauthorized, apiError{"unauthenticated", "sign in first: no live session"})
		return
	}
	if err == nil {
		var me *Me
		if me, err = h.me(r, s); err == nil {
			writeJSON(w, http.StatusOK, me)
			return
		}
	}
	h.logger().Error("sso: /api/v1/me", "error", err.Error())
	writeJSON(w, http.StatusInternalServerError, apiError{"internal", "internal error"})
}

func (h *Handler) me(r *http.Request, s store.Session) (*Me, error) {
	ctx := r.Context()
	u, err := h.Store.GetUser(ctx, s.OrgID, s.UserID)
	if err != nil {
		return nil, err
	}
	org, err := h.Store.GetOrg(ctx, s.OrgID)
	if err != nil {
		return nil, err
	}
	ms, err := h.Store.UserMemberships(ctx, s.OrgID, s.UserID)
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
	page := store.Page{Limit: store.MaxLimit}
	for {
		wss, err := h.Store.ListWorkspaces(ctx, s.OrgID, page)
		if err != nil {
			return nil, err
		}
		for _, ws := range wss {
			mw, err := h.meWorkspace(r, s, ws)
			if err != nil {
				return nil, err
			}
			me.Workspaces = append(me.Workspaces, mw)
		}
		if len(wss) < page.Limit {
			break
		}
		page.After = wss[len(wss)-1].ID
	}
	return me, nil
}

func (h *Handler) meWorkspace(r *http.Request, s store.Session, ws core.Workspace) (MeWorkspace, error) {
	f, err := h.Store.Facts(r.Context(), s.OrgID, s.UserID, ws.ID)
	if err != nil {
		return MeWorkspace{}, err
	}
	out := MeWorkspace{ID: ws.ID, Slug: ws.Slug, Name: ws.Name, Environments: []MeEnvironment{}}
	weakest, complete := -1, len(f.Workspace.Environments) > 0
	for _, env := range f.Workspace.Environments {
		e := MeEnvironment{ID: env.ID, Name: env.Name, Roles: []string{}, Decisions: map[core.Action]core.Effect{}}
		for _, g := range f.Grants {
			if len(g.EnvironmentIDs) > 0 && !slices.Contains(g.EnvironmentIDs, env.ID) {
				continue
			}
			name := g.Role
			if g.CustomRoleID != "" {
				name = f.CustomRoles[g.CustomRoleID].Name
			}
			if name != "" && !slices.Contains(e.Roles, name) {
				e.Roles = append(e.Roles, name)
			}
		}
		slices.Sort(e.Roles)
		e.Role = strongest(e.Roles)
		for _, a := range []core.Action{core.ActionView, core.ActionManageAccess} {
			e.Decisions[a] = core.Decide(f, core.Request{Action: a, Environment: env.ID}).Effect
		}
		if rank := slices.Index(builtinRank, e.Role); rank < 0 {
			complete = false
		} else if rank > weakest {
			weakest = rank
		}
		out.Environments = append(out.Environments, e)
	}
	if complete && weakest >= 0 {
		out.Role = builtinRank[weakest]
	}
	return out, nil
}
