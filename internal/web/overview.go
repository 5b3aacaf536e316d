package web

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (h *Handler) pageOverview(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	wss, err := all(func(p store.Page) ([]core.Workspace, error) { return h.Store.ListWorkspaces(ctx, c.OrgID, p) }, func(w core.Workspace) string { return w.ID })
	if err != nil {
		return err
	}
	visible, err := h.Decisions.VisibleWorkspaces(ctx, *c, wss)
	if err != nil {
		return err
	}
	data := struct {
		Users, Groups, Mappings, Directories int
		Workspaces                           []core.Workspace
		// ActiveAdmins counts the org's active admins, and DirectoryAdmins
		// those a SCIM directory owns: it may deprovision them, the last one too.
		ActiveAdmins, DirectoryAdmins int
		OrgSlug, BaseURL              string
	}{Workspaces: visible, BaseURL: strings.TrimSuffix(h.ExternalURL, "/")}
	if data.BaseURL == "" {
		data.BaseURL = "https://gatehouse.example.com"
	}
	if o, err := h.Store.GetOrg(ctx, c.OrgID); err == nil {
		data.OrgSlug = o.Slug
	}
	if pd.Admin {
		if data.Users, err = h.Store.CountUsers(ctx, c.OrgID); err != nil {
			return err
		}
		// Counts, not lists: an org may have 10,000 groups.
		if data.Groups, err = h.Store.CountGroups(ctx, c.OrgID); err != nil {
			return err
		}
		if data.Mappings, err = h.Store.CountMappings(ctx, c.OrgID); err != nil {
			return err
		}
		ds, err := h.Store.ListDirectories(ctx, c.OrgID)
		if err != nil {
			return err
		}
		data.Directories = len(ds)
		admins, err := h.Store.ListOrgAdmins(ctx, c.OrgID)
		if err != nil {
			return err
		}
		for _, a := range admins {
			if a.Active {
				data.ActiveAdmins++
				if a.Owner.Kind == core.OwnerDirectory {
					data.DirectoryAdmins++
				}
			}
		}
	}
	pd.Title, pd.Nav, pd.Data = "Overview", "overview", data
	return h.render(w, http.StatusOK, "overview", pd)
}
