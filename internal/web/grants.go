package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Grants' forms, on the workspace's page: a user group gets a role in the
// workspace, in every environment or some. Granting and removing are access
// changes: previewed, then made (or proposed, where the org requires a second org
// admin's approval). Org admins and the workspace's Admins may.

func (h *Handler) grantRows(ctx context.Context, c *caller, ws core.Workspace) ([]grantRow, error) {
	grants, err := h.Store.ListGrants(ctx, c.OrgID, store.GrantQuery{WorkspaceID: ws.ID})
	if err != nil {
		return nil, err
	}
	var rows []grantRow
	for _, gr := range grants {
		row := grantRow{ID: gr.ID, GroupID: gr.UserGroupID, Role: gr.Role, Envs: envNames(ws, gr), EnvIDs: gr.EnvironmentIDs}
		if g, err := h.Store.GetGroup(ctx, c.OrgID, gr.UserGroupID); err == nil {
			row.Group = g.Name
		}
		if gr.CustomRoleID != "" {
			if cr, err := h.Store.GetCustomRole(ctx, c.OrgID, gr.CustomRoleID); err == nil {
				row.Role = cr.Name + " (custom)"
			}
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b grantRow) int { return strings.Compare(a.Group+a.Role, b.Group+b.Role) })
	return rows, nil
}

// formCreateGrant previews a grant, then (confirmed) makes or proposes it.
func (h *Handler) formCreateGrant(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	ws, err := h.managedWorkspace(r, c)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return badField("grant", "", "The form could not be read.")
	}
	ref := r.PostFormValue("group")
	if ref == "" {
		return badField("grant", "group", "Choose the user group that gets the role.")
	}
	g, err := h.refs.Group(ctx, *c, ref)
	if err != nil {
		return badField("grant", "group", "There is no user group "+httpx.Quote(ref)+".")
	}
	gr := core.Grant{OrgID: c.OrgID, UserGroupID: g.ID, WorkspaceID: ws.ID}
	role := strings.TrimSpace(r.PostFormValue("role"))
	switch {
	case role == "":
		return badField("grant", "role", "Choose a role.")
	case core.IsBuiltinRole(strings.ToLower(role)):
		gr.Role = strings.ToLower(role)
		role = gr.Role
	default:
		cr, err := h.refs.Role(ctx, *c, role)
		if err != nil {
			return badField("grant", "role", "Role "+httpx.Quote(role)+" is neither a pre-built role ("+strings.Join(core.BuiltinRoles, ", ")+") nor a custom role.")
		}
		gr.CustomRoleID, role = cr.ID, "custom role "+cr.Name
	}
	var envNames []string
	for _, e := range splitNames(strings.Join(r.PostForm["environments"], ",")) {
		env, err := httpx.Environment(ws, e)
		if err != nil {
			return badField("grant", "environments", "Workspace "+ws.Slug+" has no environment "+httpx.Quote(e)+".")
		}
		if !slices.Contains(gr.EnvironmentIDs, env.ID) {
			gr.EnvironmentIDs = append(gr.EnvironmentIDs, env.ID)
			envNames = append(envNames, env.Name)
		}
	}
	title := "Grant " + g.Name + " " + role + " in " + ws.Slug
	if len(envNames) > 0 {
		title += " (" + strings.Join(envNames, ", ") + ")"
	}
	fields := map[string]string{"group": g.ID, "role": r.PostFormValue("role")}
	// The preview re-posts the form: environments travel as one list.
	if len(gr.EnvironmentIDs) > 0 {
		fields["environments"] = strings.Join(gr.EnvironmentIDs, ",")
	}
	err = h.access(w, r, c, pd, accessForm{Title: title, Action: wsPath(ws) + "/grants", Fields: fields,
		Back: wsPath(ws), Done: wsPath(ws), Code: "grant-created"},
		ops.AccessChange{Op: ops.OpGrantCreate, Grant: &gr})
	return onField(err, "grant", "group", "Group "+g.Name+" already has that role in "+ws.Slug+".")
}

// formDeleteGrant previews the removal of a grant, then (confirmed) makes or
// proposes it.
func (h *Handler) formDeleteGrant(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	gr, ws, err := h.refs.Grant(ctx, *c, r.PathValue("grant"))
	if err != nil {
		return err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return err
	}
	title := "Remove the grant of " + gr.Role + " in " + ws.Slug
	if g, err := h.Store.GetGroup(ctx, c.OrgID, gr.UserGroupID); err == nil {
		role := gr.Role
		if cr, err := h.Store.GetCustomRole(ctx, c.OrgID, gr.CustomRoleID); gr.CustomRoleID != "" && err == nil {
			role = "custom role " + cr.Name
		}
		title = "Remove the grant of " + role + " " + envNames(ws, gr) + " to " + g.Name + " in " + ws.Slug
	}
	err = h.access(w, r, c, pd, accessForm{Title: title, Action: "/admin/grants/" + url.PathEscape(gr.ID) + "/delete",
		Back: wsPath(ws), Done: wsPath(ws), Code: "grant-removed"},
		ops.AccessChange{Op: ops.OpGrantDelete, ID: gr.ID})
	if errors.Is(err, core.ErrNotFound) {
		return httpx.NotFound(err, "grant", gr.ID)
	}
	return err
}
