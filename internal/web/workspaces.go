package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Workspaces' pages: the workspaces a person sees; a workspace with its
// environments (the promotion path, in order, with their approval rules), its
// spaces and the user groups that see them, and its grants. Org admins create and
// delete workspaces; org admins and the workspace's Admins (manage_access, as the
// authorizer decides) change the rest, exactly as over the API.

// require asks the authorizer about req and turns a refusal into the error the
// pages show: a 404 for what the person may not even know exists, else a 403
// with the decision's explanation.
func (h *Handler) require(ctx context.Context, c *caller, req decisions.Request) error {
	d, err := h.Decisions.Authorize(ctx, *c, req)
	if err != nil || d.Allowed() {
		return err
	}
	if d.Hide {
		return httpx.Refusal(d, "not found")
	}
	return &decisions.Refused{Decision: d}
}

// manageAccess requires the workspace's manage_access: org admins and the
// workspace's Admins.
func (h *Handler) manageAccess(ctx context.Context, c *caller, ws core.Workspace) error {
	return h.require(ctx, c, decisions.InWorkspace(ws, core.Request{Action: core.ActionManageAccess}))
}

// mayManage reports whether the person may manage the workspace's access (to show
// its forms; the handlers ask again).
func (h *Handler) mayManage(ctx context.Context, c *caller, ws core.Workspace) (bool, error) {
	d, err := h.Decisions.Authorize(ctx, *c, decisions.InWorkspace(ws, core.Request{Action: core.ActionManageAccess}))
	return d.Allowed(), err
}

// workspaceOf is the workspace of the path, which the person must see (else 404).
func (h *Handler) workspaceOf(r *http.Request, c *caller) (core.Workspace, error) {
	return h.refs.Workspace(r.Context(), *c, r.PathValue("workspace"))
}

// managedWorkspace is the workspace of the path when the person may manage it.
func (h *Handler) managedWorkspace(r *http.Request, c *caller) (core.Workspace, error) {
	ws, err := h.workspaceOf(r, c)
	if err != nil {
		return ws, err
	}
	return ws, h.manageAccess(r.Context(), c, ws)
}

func wsPath(ws core.Workspace) string { return "/admin/workspaces/" + url.PathEscape(ws.Slug) }

type workspaceRow struct {
	core.Workspace
	Manage bool
}

func (h *Handler) pageWorkspaces(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	wss, err := all(func(p store.Page) ([]core.Workspace, error) { return h.Store.ListWorkspaces(ctx, c.OrgID, p) }, func(w core.Workspace) string { return w.ID })
	if err != nil {
		return err
	}
	if wss, err = h.Decisions.VisibleWorkspaces(ctx, *c, wss); err != nil {
		return err
	}
	rows := make([]workspaceRow, len(wss))
	for i, ws := range wss {
		rows[i].Workspace = ws
		if rows[i].Manage, err = h.mayManage(ctx, c, ws); err != nil {
			return err
		}
	}
	pd.Title, pd.Nav, pd.Data = "Workspaces", "workspaces", struct {
		Rows []workspaceRow
		Form formState
	}{rows, fs}
	return h.render(w, status, "workspaces", pd)
}

// splitNames splits a list typed as "development, staging, production" (commas
// or new lines) into its names.
func splitNames(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (h *Handler) formCreateWorkspace(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	slug := strings.TrimSpace(r.PostFormValue("slug"))
	name := strings.TrimSpace(r.PostFormValue("name"))
	envs := splitNames(r.PostFormValue("environments"))
	switch {
	case slug == "":
		return badField("create", "slug", "A workspace needs a slug: lower-case letters, digits and dashes, as in marketing.")
	case len(envs) == 0:
		return badField("create", "environments", "Name at least one environment, in promotion order: development, production.")
	}
	if name == "" {
		name = slug
	}
	ws, err := h.Store.CreateWorkspace(r.Context(), c.Actor, c.OrgID, slug, name, envs)
	if err != nil {
		field := "slug"
		if strings.Contains(err.Error(), "environment") {
			field = "environments"
		}
		return onField(err, "create", field, "A workspace with slug "+httpx.Quote(slug)+" already exists.")
	}
	return redirectDone(w, r, wsPath(ws), "workspace-created")
}

// spaceRow is a space with the user groups that see it.
type spaceRow struct {
	core.Space
	Groups    []core.UserGroup
	Resources int
}

// grantRow is a grant as the workspace page lists it.
type grantRow struct {
	ID, GroupID, Group, Role, Envs string
	EnvIDs                         []string // the environments it is limited to; none: every one
}

type workspacePage struct {
	WS              core.Workspace
	Manage, Admin   bool
	Spaces          []spaceRow
	Grants          []grantRow
	Groups          []core.UserGroup
	Roles           []roleOption
	Resources       int
	ResourcesCapped bool
	Max             int
	Form            formState
	// Moves are, for each environment in order, the positions its ↑ and ↓
	// buttons move it to (-1: none).
	Moves []struct{ Up, Down int }
}

// roleOption is a role a grant form offers: a pre-built role by name, a custom
// role by id.
type roleOption struct{ Value, Label string }

func (h *Handler) roleOptions(ctx context.Context, orgID string) ([]roleOption, error) {
	var out []roleOption
	for _, r := range core.BuiltinRoles {
		out = append(out, roleOption{r, r})
	}
	crs, err := h.Store.ListCustomRoles(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, cr := range crs {
		out = append(out, roleOption{cr.ID, cr.Name + " (custom)"})
	}
	return out, nil
}

func (h *Handler) pageWorkspace(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	ws, err := h.workspaceOf(r, c)
	if err != nil {
		return err
	}
	data := workspacePage{WS: ws, Admin: pd.Admin, Max: core.MaxApprovals, Form: fs}
	for i := range ws.Environments {
		m := struct{ Up, Down int }{i - 1, i + 1}
		if i+1 == len(ws.Environments) {
			m.Down = -1
		}
		data.Moves = append(data.Moves, m)
	}
	if data.Manage, err = h.mayManage(ctx, c, ws); err != nil {
		return err
	}
	sps, err := h.Store.ListSpaces(ctx, c.OrgID, ws.ID)
	if err != nil {
		return err
	}
	for _, sp := range sps {
		gs, err := h.Store.SpaceGroups(ctx, c.OrgID, ws.ID, sp.ID)
		if err != nil {
			return err
		}
		rs, err := h.Store.ListResources(ctx, c.OrgID, ws.ID, store.ResourceQuery{Page: store.Page{Limit: store.MaxLimit}, SpaceID: sp.ID})
		if err != nil {
			return err
		}
		data.Spaces = append(data.Spaces, spaceRow{Space: sp, Groups: gs, Resources: len(rs)})
	}
	rs, err := h.Store.ListResources(ctx, c.OrgID, ws.ID, store.ResourceQuery{Page: store.Page{Limit: store.MaxLimit}})
	if err != nil {
		return err
	}
	data.Resources, data.ResourcesCapped = len(rs), len(rs) == store.MaxLimit
	if data.Grants, err = h.grantRows(ctx, c, ws); err != nil {
		return err
	}
	if data.Manage {
		if data.Groups, err = all(func(p store.Page) ([]core.UserGroup, error) { return h.Store.ListGroups(ctx, c.OrgID, p) }, func(g core.UserGroup) string { return g.ID }); err != nil {
			return err
		}
		if data.Roles, err = h.roleOptions(ctx, c.OrgID); err != nil {
			return err
		}
	}
	pd.Title, pd.Nav, pd.Data = ws.Name, "workspaces", data
	return h.render(w, status, "workspace", pd)
}

func (h *Handler) formRenameWorkspace(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ws, err := h.managedWorkspace(r, c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return badField("rename", "name", "A workspace needs a name.")
	}
	if _, err := h.Store.RenameWorkspace(r.Context(), c.Actor, c.OrgID, ws.ID, name); err != nil {
		return onField(err, "rename", "name", "")
	}
	return redirectDone(w, r, wsPath(ws), "workspace-renamed")
}

func (h *Handler) formAddEnvironment(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ws, err := h.managedWorkspace(r, c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return badField("environment", "name", "Name the environment, as in production.")
	}
	if _, err := h.Store.AddEnvironment(r.Context(), c.Actor, c.OrgID, ws.ID, name); err != nil {
		return onField(err, "environment", "name", "The workspace already has an environment "+httpx.Quote(name)+".")
	}
	return redirectDone(w, r, wsPath(ws), "environment-added")
}

// formWorkspaceApproval saves an environment's approval rule from the workspace's
// page: its Admins may, like org admins.
func (h *Handler) formWorkspaceApproval(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ws, err := h.managedWorkspace(r, c)
	if err != nil {
		return err
	}
	ref := r.PathValue("environment")
	env, err := httpx.Environment(ws, ref)
	if err != nil {
		return httpx.Failf(http.StatusNotFound, "environment %s not found in workspace %s", httpx.Quote(ref), ws.Slug)
	}
	form := "approval-" + env.ID
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("approvals_required")))
	if err != nil || n < 1 || n > core.MaxApprovals {
		return badField(form, "approvals_required", "Approvals required is a number from 1 to "+strconv.Itoa(core.MaxApprovals)+".")
	}
	require := r.PostFormValue("requires_approval") == "on"
	if _, err := h.Ops.UpdateEnvironment(r.Context(), c.Actor, c.OrgID, ws.ID, env.ID, ops.EnvironmentChange{RequiresApproval: &require, ApprovalsRequired: &n}); err != nil {
		return onField(err, form, "approvals_required", "")
	}
	return redirectDone(w, r, wsPath(ws), "approval-rule-saved")
}

// deleteWorkspacePage is what deleting a workspace removes, shown before it is
// confirmed.
type deleteWorkspacePage struct {
	WS                       core.Workspace
	Spaces, Grants, Proposal int
	Resources                int
	ResourcesCapped          bool
	Form                     formState
}

func (h *Handler) pageDeleteWorkspace(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	ws, err := h.workspaceOf(r, c)
	if err != nil {
		return err
	}
	data := deleteWorkspacePage{WS: ws, Form: fs}
	sps, err := h.Store.ListSpaces(ctx, c.OrgID, ws.ID)
	if err != nil {
		return err
	}
	data.Spaces = len(sps)
	rs, err := h.Store.ListResources(ctx, c.OrgID, ws.ID, store.ResourceQuery{Page: store.Page{Limit: store.MaxLimit}})
	if err != nil {
		return err
	}
	data.Resources, data.ResourcesCapped = len(rs), len(rs) == store.MaxLimit
	gs, err := h.Store.ListGrants(ctx, c.OrgID, store.GrantQuery{WorkspaceID: ws.ID})
	if err != nil {
		return err
	}
	data.Grants = len(gs)
	pd.Title, pd.Nav, pd.Data = "Delete workspace "+ws.Slug, "workspaces", data
	return h.render(w, status, "workspace_delete", pd)
}

// formDeleteWorkspace deletes a workspace once its slug is typed again.
func (h *Handler) formDeleteWorkspace(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ws, err := h.workspaceOf(r, c)
	if err != nil {
		return err
	}
	if strings.TrimSpace(r.PostFormValue("confirm_slug")) != ws.Slug {
		return badField("delete", "confirm_slug", "Type the workspace's slug, "+ws.Slug+", to confirm.")
	}
	if err := h.Store.DeleteWorkspace(r.Context(), c.Actor, c.OrgID, ws.ID); err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/workspaces", "workspace-deleted")
}

func (h *Handler) formCreateSpace(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ws, err := h.managedWorkspace(r, c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return badField("space", "name", "Name the space.")
	}
	if _, err := h.Store.CreateSpace(r.Context(), c.Actor, c.OrgID, ws.ID, name); err != nil {
		return onField(err, "space", "name", "The workspace already has a space "+httpx.Quote(name)+".")
	}
	return redirectDone(w, r, wsPath(ws), "space-created")
}

// spaceOf is the managed workspace of the path and its space.
func (h *Handler) spaceOf(r *http.Request, c *caller) (core.Workspace, core.Space, error) {
	ws, err := h.managedWorkspace(r, c)
	if err != nil {
		return ws, core.Space{}, err
	}
	sp, err := h.refs.Space(r.Context(), *c, ws, r.PathValue("space"))
	return ws, sp, err
}

func (h *Handler) pageDeleteSpace(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	ws, sp, err := h.spaceOf(r, c)
	if err != nil {
		return err
	}
	gs, err := h.Store.SpaceGroups(ctx, c.OrgID, ws.ID, sp.ID)
	if err != nil {
		return err
	}
	rs, err := h.Store.ListResources(ctx, c.OrgID, ws.ID, store.ResourceQuery{Page: store.Page{Limit: store.MaxLimit}, SpaceID: sp.ID})
	if err != nil {
		return err
	}
	pd.Title, pd.Nav, pd.Data = "Delete space "+sp.Name, "workspaces", struct {
		WS        core.Workspace
		Space     core.Space
		Groups    []core.UserGroup
		Resources []core.Resource
		Form      formState
	}{ws, sp, gs, rs, fs}
	return h.render(w, status, "space_delete", pd)
}

func (h *Handler) formDeleteSpace(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ws, sp, err := h.spaceOf(r, c)
	if err != nil {
		return err
	}
	if err := h.Store.DeleteSpace(r.Context(), c.Actor, c.OrgID, ws.ID, sp.ID); err != nil {
		return onField(err, "delete", "", "")
	}
	return redirectDone(w, r, wsPath(ws), "space-deleted")
}

// formSpaceGroup lets a user group see a space (assign) or stop seeing it.
func (h *Handler) formSpaceGroup(assign bool) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
		ws, sp, err := h.spaceOf(r, c)
		if err != nil {
			return err
		}
		form := "space-" + sp.ID
		ref := r.PostFormValue("group")
		if ref == "" {
			return badField(form, "group", "Choose a user group.")
		}
		g, err := h.refs.Group(r.Context(), *c, ref)
		if err != nil {
			return badField(form, "group", "There is no user group "+httpx.Quote(ref)+".")
		}
		change, code := h.Store.AssignSpace, "space-assigned"
		if !assign {
			change, code = h.Store.UnassignSpace, "space-unassigned"
			if r.PostFormValue("confirm") != "yes" {
				// Ask first, saying what its members stop seeing.
				rs, err := h.Store.ListResources(r.Context(), c.OrgID, ws.ID, store.ResourceQuery{Page: store.Page{Limit: store.MaxLimit}, SpaceID: sp.ID})
				if err != nil {
					return err
				}
				pd.Title, pd.Nav = "Stop letting "+g.Name+" see space "+sp.Name+"?", "workspaces"
				pd.Data = confirmPage{Title: pd.Title, Button: "Stop letting it see the space", Back: wsPath(ws),
					Action: wsPath(ws) + "/spaces/" + url.PathEscape(sp.ID) + "/unassign", Fields: map[string]string{"group": g.ID},
					Text: "The members of " + g.Name + " stop seeing space " + sp.Name + " of " + ws.Slug + " and the " + strconv.Itoa(len(rs)) +
						" resource(s) in it, unless another of their groups sees it or they are Admins of the workspace."}
				return h.render(w, http.StatusOK, "confirm", pd)
			}
		}
		if err := change(r.Context(), c.Actor, c.OrgID, ws.ID, sp.ID, g.ID); err != nil {
			return onField(err, form, "group", "")
		}
		return redirectDone(w, r, wsPath(ws), code)
	}
}

func init() {
	for code, text := range map[string]string{
		"workspace-created": "The workspace was created.",
		"workspace-renamed": "The workspace was renamed.",
		"workspace-deleted": "The workspace was deleted with its environments, spaces, resources and grants.",
		"environment-added": "The environment was added at the end of the promotion path.",
		"space-created":     "The space was created.",
		"space-deleted":     "The space was deleted.",
		"space-assigned":    "The user group now sees the space.",
		"space-unassigned":  "The user group no longer sees the space.",
		"grant-created":     "The grant was made. Decisions use it from now on.",
		"grant-removed":     "The grant was removed. Decisions no longer use it.",
	} {
		flashes[code] = text
	}
}

// confirmPage asks to confirm a destructive form, saying what it removes; the
// form posts again with confirm=yes.
type confirmPage struct {
	Title, Text, Button, Action, Back string
	Fields                            map[string]string
}
