package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (h *Handler) listGrants(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	var gq store.GrantQuery
	if ref := q.Get("workspace"); ref != "" {
		ws, err := h.refs.Workspace(ctx, *c, ref)
		if err != nil {
			return err
		}
		gq.WorkspaceID = ws.ID
	}
	if ref := q.Get("group"); ref != "" {
		g, err := h.refs.Group(ctx, *c, ref)
		if err != nil {
			return err
		}
		gq.GroupID = g.ID
	}
	gs, err := h.Store.ListGrants(ctx, c.OrgID, gq)
	if err != nil {
		return err
	}
	return h.writeGrants(w, gs, p)
}

func (h *Handler) writeGrants(w http.ResponseWriter, gs []core.Grant, p store.Page) error {
	slices.SortFunc(gs, func(a, b core.Grant) int { return strings.Compare(a.ID, b.ID) })
	return writeList(w, pageOf(gs, p, func(g core.Grant) string { return g.ID }), p, func(g core.Grant) string { return g.ID })
}

func (h *Handler) listWorkspaceGrants(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ws, err := h.refs.Workspace(r.Context(), *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	gs, err := h.Store.ListGrants(r.Context(), c.OrgID, store.GrantQuery{WorkspaceID: ws.ID})
	if err != nil {
		return err
	}
	return h.writeGrants(w, gs, p)
}

// createGrant binds a user group to a role in a workspace: org admins and the
// workspace's Admins (manage_access) may.
func (h *Handler) createGrant(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Group        string   `json:"group"`
		Workspace    string   `json:"workspace"`
		Role         string   `json:"role"`
		Environments []string `json:"environments"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Group == "" || in.Workspace == "" || in.Role == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"group", "workspace" and "role" are required`)
	}
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, in.Workspace)
	if err != nil {
		return err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return err
	}
	g, err := h.refs.Group(ctx, *c, in.Group)
	if err != nil {
		return err
	}
	gr := core.Grant{OrgID: c.OrgID, UserGroupID: g.ID, WorkspaceID: ws.ID}
	if name, ok := core.BuiltinRole(in.Role); ok {
		gr.Role = name // "Draft Contributor" as the docs name it, or draft_contributor
	} else {
		cr, err := h.refs.Role(ctx, *c, in.Role)
		if err != nil {
			return httpx.Fail(http.StatusUnprocessableEntity, "role "+httpx.Quote(in.Role)+" is neither a pre-built role ("+strings.Join(core.BuiltinRoles, ", ")+") nor a custom role", err)
		}
		gr.CustomRoleID = cr.ID
	}
	for _, e := range in.Environments {
		env, err := httpx.Environment(ws, e)
		if err != nil {
			return err
		}
		if !slices.Contains(gr.EnvironmentIDs, env.ID) {
			gr.EnvironmentIDs = append(gr.EnvironmentIDs, env.ID)
		}
	}
	role := gr.Role
	if gr.CustomRoleID != "" {
		role = "custom role " + in.Role
	}
	title := "Grant " + g.Name + " " + role + " in " + ws.Slug
	if len(in.Environments) > 0 {
		title += " (" + strings.Join(in.Environments, ", ") + ")"
	}
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpGrantCreate, Grant: &gr}, title,
		func(err error) error {
			if errors.Is(err, core.ErrConflict) {
				return httpx.Fail(http.StatusConflict, "group "+g.Name+" already has that role in "+ws.Slug, err)
			}
			return err
		},
		func(res any) error { return writeJSON(w, http.StatusCreated, res) })
}

func (h *Handler) getGrant(w http.ResponseWriter, r *http.Request) error {
	gr, _, err := h.refs.Grant(r.Context(), *callerOf(r), r.PathValue("grant"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, gr)
}

func (h *Handler) deleteGrant(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ctx := r.Context()
	gr, ws, err := h.refs.Grant(ctx, *c, r.PathValue("grant"))
	if err != nil {
		return err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return err
	}
	title := "Remove the grant of " + gr.Role + gr.CustomRoleID + " in " + ws.Slug
	if g, err := h.Store.GetGroup(ctx, c.OrgID, gr.UserGroupID); err == nil {
		title = "Remove the grant of " + g.Name + " in " + ws.Slug
	}
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpGrantDelete, ID: gr.ID}, title, nil,
		func(any) error { return noContent(w) })
}
