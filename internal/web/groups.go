package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (h *Handler) pageGroups(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	p := store.Page{After: r.URL.Query().Get("after"), Limit: 100}
	gs, err := h.Store.ListGroups(r.Context(), c.OrgID, p)
	if err != nil {
		return err
	}
	data := struct {
		Groups []core.UserGroup
		Next   string
		Form   formState
	}{Groups: gs, Form: fs}
	if len(gs) == p.Limit {
		data.Next = "/admin/groups?after=" + url.QueryEscape(gs[len(gs)-1].ID)
	}
	pd.Title, pd.Nav, pd.Data = "User groups", "groups", data
	return h.render(w, status, "groups", pd)
}

func (h *Handler) formCreateGroup(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return badField("create", "name", "A group needs a name.")
	}
	_, err := h.Ops.CreateGroup(r.Context(), c.Actor, c.OrgID, name, r.PostFormValue("description"))
	if errors.Is(err, core.ErrConflict) {
		return &formErr{form: "create", field: "name", msg: "A group named " + httpx.Quote(name) + " already exists.", status: http.StatusConflict}
	}
	if err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/groups", "group-created")
}

func (h *Handler) pageGroup(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	g, err := h.refs.Group(ctx, *c, r.PathValue("group"))
	if err != nil {
		return err
	}
	p := store.Page{After: r.URL.Query().Get("after"), Limit: 100}
	members, err := h.Store.GroupMembers(ctx, c.OrgID, g.ID, p)
	if err != nil {
		return err
	}
	grants, err := h.Store.ListGrants(ctx, c.OrgID, store.GrantQuery{GroupID: g.ID})
	if err != nil {
		return err
	}
	ms, err := all(func(p store.Page) ([]core.Mapping, error) { return h.Store.ListMappings(ctx, c.OrgID, p) }, func(m core.Mapping) string { return m.ID })
	if err != nil {
		return err
	}
	ds, err := h.Store.ListDirectories(ctx, c.OrgID)
	if err != nil {
		return err
	}
	dirName := map[string]string{}
	for _, d := range ds {
		dirName[d.ID] = "SCIM " + d.Name
	}
	type mrow struct{ IdPGroup, Source string }
	type grow struct{ Workspace, Envs, Role string }
	var mrows []mrow
	for _, m := range ms {
		if m.UserGroupID == g.ID {
			src := dirName[m.DirectoryID]
			if src == "" {
				src = "SSO " + m.ConnectionID
			}
			mrows = append(mrows, mrow{m.IdPGroup, src})
		}
	}
	var grows []grow
	for _, gr := range grants {
		ws, err := h.Store.GetWorkspace(ctx, c.OrgID, gr.WorkspaceID)
		if err != nil {
			return err
		}
		role := gr.Role
		if gr.CustomRoleID != "" {
			if cr, err := h.Store.GetCustomRole(ctx, c.OrgID, gr.CustomRoleID); err == nil {
				role = cr.Name + " (custom)"
			}
		}
		grows = append(grows, grow{ws.Slug, envNames(ws, gr), role})
	}
	data := struct {
		Group    core.UserGroup
		Mappings []mrow
		Grants   []grow
		Members  []store.Member
		Next     string
		Form     formState
	}{Group: g, Mappings: mrows, Grants: grows, Members: members, Form: fs}
	if len(members) == p.Limit {
		data.Next = "/admin/groups/" + url.PathEscape(g.ID) + "?after=" + url.QueryEscape(members[len(members)-1].User.ID)
	}
	pd.Title, pd.Nav, pd.Data = g.Name, "groups", data
	return h.render(w, status, "group", pd)
}
