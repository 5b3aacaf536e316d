package web

import (
	"net/http"

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
	}{Workspaces: visible}
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
	}
	pd.Title, pd.Nav, pd.Data = "Overview", "overview", data
	return h.render(w, http.StatusOK, "overview", pd)
}
