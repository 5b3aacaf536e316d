package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

type mappingRow struct {
	MappingID, IdPGroup, Source string
	GroupID, Group              string
	Workspace, Envs, Role       string
	First                       bool // first row of its mapping: carries the remove button
}

// source is a SCIM directory or an SSO connection that IdP groups come from. Ref
// names it in the add form: "directory:ID" or "connection:ID".
type source struct{ ID, Name, Ref string }

const mappingRowsPerPage = 100

func (h *Handler) pageMappings(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	q := r.URL.Query()
	type filters struct{ Directory, Group, Workspace, Role string }
	f := filters{q.Get("directory"), q.Get("group"), q.Get("workspace"), q.Get("role")}
	ms, err := all(func(p store.Page) ([]core.Mapping, error) { return h.Store.ListMappings(ctx, c.OrgID, p) }, func(m core.Mapping) string { return m.ID })
	if err != nil {
		return err
	}
	gs, err := all(func(p store.Page) ([]core.UserGroup, error) { return h.Store.ListGroups(ctx, c.OrgID, p) }, func(g core.UserGroup) string { return g.ID })
	if err != nil {
		return err
	}
	wss, err := all(func(p store.Page) ([]core.Workspace, error) { return h.Store.ListWorkspaces(ctx, c.OrgID, p) }, func(w core.Workspace) string { return w.ID })
	if err != nil {
		return err
	}
	ds, err := h.Store.ListDirectories(ctx, c.OrgID)
	if err != nil {
		return err
	}
	grants, err := h.Store.ListGrants(ctx, c.OrgID, store.GrantQuery{})
	if err != nil {
		return err
	}
	crs, err := h.Store.ListCustomRoles(ctx, c.OrgID)
	if err != nil {
		return err
	}
	sources := []source{}
	srcName := map[string]string{}
	for _, d := range ds {
		sources = append(sources, source{d.ID, "SCIM " + d.Name, "directory:" + d.ID})
		srcName[d.ID] = "SCIM " + d.Name
	}
	if h.SSO != nil {
		conns, err := h.SSO.SSOConnections(ctx, c.OrgID)
		if err != nil {
			return err
		}
		for _, cn := range conns {
			sources = append(sources, source{cn.ID, "SSO " + cn.Name, "connection:" + cn.ID})
			srcName[cn.ID] = "SSO " + cn.Name
		}
	}
	groupName := map[string]string{}
	for _, g := range gs {
		groupName[g.ID] = g.Name
	}
	wsByID := map[string]core.Workspace{}
	for _, ws := range wss {
		wsByID[ws.ID] = ws
	}
	roleName := map[string]string{}
	roles := slices.Clone(core.BuiltinRoles)
	for _, cr := range crs {
		roleName[cr.ID] = cr.Name
		roles = append(roles, cr.Name)
	}
	grantsOf := map[string][]core.Grant{}
	for _, g := range grants {
		grantsOf[g.UserGroupID] = append(grantsOf[g.UserGroupID], g)
	}
	var rows []mappingRow
	for _, m := range ms {
		src := m.DirectoryID + m.ConnectionID
		if (f.Directory != "" && src != f.Directory) || (f.Group != "" && m.UserGroupID != f.Group) {
			continue
		}
		name := srcName[src]
		if name == "" {
			name = "SSO " + src
		}
		base := mappingRow{MappingID: m.ID, IdPGroup: m.IdPGroup, Source: name, GroupID: m.UserGroupID, Group: groupName[m.UserGroupID]}
		first := true
		matched := false
		for _, g := range grantsOf[m.UserGroupID] {
			role := g.Role
			if g.CustomRoleID != "" {
				role = roleName[g.CustomRoleID]
			}
			if (f.Workspace != "" && g.WorkspaceID != f.Workspace) || (f.Role != "" && role != f.Role) {
				continue
			}
			ws := wsByID[g.WorkspaceID]
			row := base
			row.Workspace, row.Envs, row.Role, row.First = ws.Slug, envNames(ws, g), role, first
			first, matched = false, true
			rows = append(rows, row)
		}
		if !matched && f.Workspace == "" && f.Role == "" {
			base.First, base.Role = true, "—"
			rows = append(rows, base)
		}
	}
	// Paging by row offset: the table joins three lists, so there is no single id.
	off := 0
	fmt.Sscan(q.Get("offset"), &off)
	off = max(0, min(off, len(rows)))
	end := min(len(rows), off+mappingRowsPerPage)
	link := func(o int) string {
		v := url.Values{}
		for k, s := range map[string]string{"directory": f.Directory, "group": f.Group, "workspace": f.Workspace, "role": f.Role} {
			if s != "" {
				v.Set(k, s)
			}
		}
		v.Set("offset", fmt.Sprint(o))
		return "/admin/mappings?" + v.Encode()
	}
	data := struct {
		F           filters
		Rows        []mappingRow
		Sources     []source
		Directories []core.Directory
		Groups      []core.UserGroup
		Workspaces  []core.Workspace
		Roles       []string
		Prev, Next  string
		Form        formState
	}{F: f, Rows: rows[off:end], Sources: sources, Directories: ds, Groups: gs, Workspaces: wss, Roles: roles, Form: fs}
	if off > 0 {
		data.Prev = link(max(0, off-mappingRowsPerPage))
	}
	if end < len(rows) {
		data.Next = link(end)
	}
	pd.Title, pd.Nav, pd.Data = "Mappings", "mappings", data
	return h.render(w, status, "mappings", pd)
}

func envNames(ws core.Workspace, g core.Grant) string {
	if len(g.EnvironmentIDs) == 0 {
		return "(every environment)"
	}
	var names []string
	for _, e := range ws.Environments {
		if slices.Contains(g.EnvironmentIDs, e.ID) {
			names = append(names, e.Name)
		}
	}
	return "(" + strings.Join(names, ", ") + ")"
}

// formAddMapping previews the new mapping of an IdP group of a SCIM directory or
// an SSO connection, then (confirmed) makes it, or proposes it when the org
// requires a second org admin's approval.
func (h *Handler) formAddMapping(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	m := core.Mapping{OrgID: c.OrgID}
	// The source: "directory:ID" or "connection:ID" from the form's list, or a
	// directory or connection by name or id in fields of their own.
	kind, ref, _ := strings.Cut(r.PostFormValue("source"), ":")
	switch {
	case r.PostFormValue("source") == "" && r.PostFormValue("directory") != "":
		kind, ref = "directory", r.PostFormValue("directory")
	case r.PostFormValue("source") == "" && r.PostFormValue("connection") != "":
		kind, ref = "connection", r.PostFormValue("connection")
	}
	var srcName string
	switch kind {
	case "directory":
		d, err := h.refs.Directory(ctx, *c, ref)
		if err != nil {
			return badField("mapping", "source", "There is no SCIM directory "+httpx.Quote(ref)+".")
		}
		m.DirectoryID, srcName = d.ID, "SCIM "+d.Name
	case "connection":
		id, err := h.refs.Connection(ctx, *c, ref)
		if err != nil {
			return badField("mapping", "source", "There is no SSO connection "+httpx.Quote(ref)+".")
		}
		m.ConnectionID, srcName = id, "SSO connection"
		if h.SSO != nil {
			if conns, err := h.SSO.SSOConnections(ctx, c.OrgID); err == nil {
				for _, cn := range conns {
					if cn.ID == id {
						srcName = "SSO " + cn.Name
					}
				}
			}
		}
	default:
		return badField("mapping", "source", "Choose the SCIM directory or SSO connection the IdP group comes from.")
	}
	idp := strings.TrimSpace(r.PostFormValue("idp_group"))
	if idp == "" {
		return badField("mapping", "idp_group", "Name the IdP group by its display name or id.")
	}
	gref := r.PostFormValue("group")
	if gref == "" {
		return badField("mapping", "group", "Choose the user group its members join.")
	}
	g, err := h.refs.Group(ctx, *c, gref)
	if err != nil {
		return badField("mapping", "group", "There is no user group "+httpx.Quote(gref)+".")
	}
	m.IdPGroup, m.UserGroupID = idp, g.ID
	srcRef := "directory:" + m.DirectoryID
	if m.ConnectionID != "" {
		srcRef = "connection:" + m.ConnectionID
	}
	err = h.access(w, r, c, pd, accessForm{Title: "Map IdP group " + idp + " (" + srcName + ") onto " + g.Name, Action: "/admin/mappings",
		Fields: map[string]string{"source": srcRef, "group": g.ID, "idp_group": idp}, Back: "/admin/mappings", Done: "/admin/mappings", Code: "mapping-added"},
		ops.AccessChange{Op: ops.OpMappingCreate, Mapping: &m})
	if errors.Is(err, core.ErrNotFound) {
		return badField("mapping", "source", "The directory or connection no longer exists.")
	}
	return onField(err, "mapping", "idp_group", "That mapping already exists.")
}

// formDeleteMapping previews the removal, then (confirmed) makes or proposes it.
func (h *Handler) formDeleteMapping(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ref := r.PathValue("mapping")
	m, err := h.Store.GetMapping(r.Context(), c.OrgID, ref)
	if err != nil {
		return httpx.NotFound(err, "mapping", ref)
	}
	g, err := h.Store.GetGroup(r.Context(), c.OrgID, m.UserGroupID)
	if err != nil {
		return err
	}
	err = h.access(w, r, c, pd, accessForm{Title: "Remove the mapping of IdP group " + m.IdPGroup + " onto " + g.Name,
		Action: "/admin/mappings/" + url.PathEscape(m.ID) + "/delete", Back: "/admin/mappings", Done: "/admin/mappings", Code: "mapping-removed"},
		ops.AccessChange{Op: ops.OpMappingDelete, ID: m.ID})
	return httpx.NotFound(err, "mapping", ref)
}
