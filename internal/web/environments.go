package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// An environment renamed, moved along the promotion path or deleted, by org admins
// and the workspace's Admins, through the same operation as the API.

// environmentOf is the managed workspace of the path and its environment.
func (h *Handler) environmentOf(r *http.Request, c *caller) (core.Workspace, core.Environment, error) {
	ws, err := h.managedWorkspace(r, c)
	if err != nil {
		return ws, core.Environment{}, err
	}
	ref := r.PathValue("environment")
	env, err := httpx.Environment(ws, ref)
	if err != nil {
		return ws, env, httpx.Failf(http.StatusNotFound, "environment %s not found in workspace %s", httpx.Quote(ref), ws.Slug)
	}
	return ws, env, nil
}

func (h *Handler) pageEnvironment(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	ws, env, err := h.environmentOf(r, c)
	if err != nil {
		return err
	}
	rs, err := h.Store.ListResources(ctx, c.OrgID, ws.ID, store.ResourceQuery{Page: store.Page{Limit: store.MaxLimit}, EnvironmentID: env.ID})
	if err != nil {
		return err
	}
	grants, err := h.grantRows(ctx, c, ws)
	if err != nil {
		return err
	}
	var limited []grantRow
	for _, g := range grants {
		if slices.Contains(g.EnvIDs, env.ID) {
			limited = append(limited, g)
		}
	}
	pd.Title, pd.Nav, pd.Data = "Environment "+env.Name+" of "+ws.Slug, "workspaces", struct {
		WS        core.Workspace
		Env       core.Environment
		Resources int
		Capped    bool
		Grants    []grantRow
		Form      formState
	}{ws, env, len(rs), len(rs) == store.MaxLimit, limited, fs}
	return h.render(w, status, "environment", pd)
}

func (h *Handler) formRenameEnvironment(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ws, env, err := h.environmentOf(r, c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return badField("rename", "name", "Name the environment, as in production.")
	}
	if _, err := h.Ops.UpdateEnvironment(r.Context(), c.Actor, c.OrgID, ws.ID, env.ID, ops.EnvironmentChange{Name: &name}); err != nil {
		return onField(err, "rename", "name", "The workspace already has an environment "+httpx.Quote(name)+".")
	}
	return redirectDone(w, r, wsPath(ws), "environment-renamed")
}

// formMoveEnvironment moves an environment one step along the promotion path, or
// to the position given.
func (h *Handler) formMoveEnvironment(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ws, env, err := h.environmentOf(r, c)
	if err != nil {
		return err
	}
	form := "approval-" + env.ID
	pos, err := strconv.Atoi(r.PostFormValue("position"))
	if err != nil || pos < 0 || pos >= len(ws.Environments) {
		return badField(form, "position", "There is no place "+httpx.Quote(r.PostFormValue("position"))+" on the promotion path.")
	}
	if _, err := h.Ops.UpdateEnvironment(r.Context(), c.Actor, c.OrgID, ws.ID, env.ID, ops.EnvironmentChange{Position: &pos}); err != nil {
		return onField(err, form, "position", "")
	}
	return redirectDone(w, r, wsPath(ws), "environment-moved")
}

func (h *Handler) formDeleteEnvironment(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ws, env, err := h.environmentOf(r, c)
	if err != nil {
		return err
	}
	if err := h.Ops.DeleteEnvironment(r.Context(), c.Actor, c.OrgID, ws.ID, env.ID); err != nil {
		return onField(err, "delete", "", "")
	}
	return redirectDone(w, r, wsPath(ws), "environment-deleted")
}

func init() {
	for code, text := range map[string]string{
		"environment-renamed": "The environment was renamed. Grants and resources keep it.",
		"environment-moved":   "The promotion path was changed.",
		"environment-deleted": "The environment was removed from the promotion path.",
	} {
		flashes[code] = text
	}
}
