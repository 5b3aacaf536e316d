package web

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// A user group renamed, or deleted behind a page that says what deleting it
// removes (its mappings, grants, direct memberships and the spaces it sees), as
// the API's PATCH and DELETE /api/v1/groups/{group} do.

func (h *Handler) formUpdateGroup(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	g, err := h.refs.Group(r.Context(), *c, r.PathValue("group"))
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return badField("edit", "name", "A group needs a name.")
	}
	desc := strings.TrimSpace(r.PostFormValue("description"))
	if _, err := h.Store.UpdateGroup(r.Context(), c.Actor, c.OrgID, g.ID, func(x *core.UserGroup) error {
		x.Name, x.Description = name, desc
		return nil
	}); err != nil {
		return onField(err, "edit", "name", "A group named "+httpx.Quote(name)+" already exists.")
	}
	return redirectDone(w, r, groupPath(g.ID), "group-saved")
}

func (h *Handler) pageDeleteGroup(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	g, err := h.refs.Group(ctx, *c, r.PathValue("group"))
	if err != nil {
		return err
	}
	ms, err := all(func(p store.Page) ([]core.Mapping, error) { return h.Store.ListMappings(ctx, c.OrgID, p) }, func(m core.Mapping) string { return m.ID })
	if err != nil {
		return err
	}
	var mappings []string
	for _, m := range ms {
		if m.UserGroupID == g.ID {
			mappings = append(mappings, m.IdPGroup)
		}
	}
	grants, err := h.Store.ListGrants(ctx, c.OrgID, store.GrantQuery{GroupID: g.ID})
	if err != nil {
		return err
	}
	var grantRows []string
	for _, gr := range grants {
		ws, err := h.Store.GetWorkspace(ctx, c.OrgID, gr.WorkspaceID)
		if err != nil {
			return err
		}
		role := gr.Role
		if cr, err := h.Store.GetCustomRole(ctx, c.OrgID, gr.CustomRoleID); gr.CustomRoleID != "" && err == nil {
			role = cr.Name + " (custom)"
		}
		grantRows = append(grantRows, role+" in "+ws.Slug+" "+envNames(ws, gr))
	}
	members, err := all(func(p store.Page) ([]store.Member, error) { return h.Store.GroupMembers(ctx, c.OrgID, g.ID, p) }, func(m store.Member) string { return m.User.ID })
	if err != nil {
		return err
	}
	direct := 0
	for _, m := range members {
		if m.Direct {
			direct++
		}
	}
	pd.Title, pd.Nav, pd.Data = "Delete group "+g.Name, "groups", struct {
		Group            core.UserGroup
		Mappings, Grants []string
		Members, Direct  int
	}{g, mappings, grantRows, len(members), direct}
	return h.render(w, status, "group_delete", pd)
}

func (h *Handler) formDeleteGroup(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	g, err := h.refs.Group(r.Context(), *c, r.PathValue("group"))
	if err != nil {
		return err
	}
	if err := h.Store.DeleteGroup(r.Context(), c.Actor, c.OrgID, g.ID); err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/groups", "group-deleted")
}

func init() {
	for code, text := range map[string]string{
		"group-saved":   "The user group was saved.",
		"group-deleted": "The user group was deleted with its mappings, grants and direct memberships.",
	} {
		flashes[code] = text
	}
}
