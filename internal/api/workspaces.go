package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

func (h *Handler) listWorkspaces(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	wss, err := h.Store.ListWorkspaces(ctx, c.OrgID, p)
	if err != nil {
		return err
	}
	out := list[core.Workspace]{}
	if len(wss) == p.Limit {
		out.Next = wss[len(wss)-1].ID // from the unfiltered page, so paging goes on
	}
	if out.Items, err = h.Decisions.VisibleWorkspaces(ctx, *c, wss); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Slug         string   `json:"slug"`
		Name         string   `json:"name"`
		Environments []string `json:"environments"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	in.Slug = strings.TrimSpace(in.Slug)
	if in.Slug == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"slug" is required`)
	}
	if in.Name == "" {
		in.Name = in.Slug
	}
	if len(in.Environments) == 0 {
		return httpx.Failf(http.StatusUnprocessableEntity, `"environments" needs at least one name, in promotion order`)
	}
	ws, err := h.Store.CreateWorkspace(r.Context(), c.Actor, c.OrgID, in.Slug, in.Name, in.Environments)
	if errors.Is(err, core.ErrConflict) {
		return httpx.Fail(http.StatusConflict, "a workspace with slug "+httpx.Quote(in.Slug)+" already exists", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, ws)
}

func (h *Handler) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := h.refs.Workspace(r.Context(), *callerOf(r), r.PathValue("workspace"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ws)
}

func (h *Handler) renameWorkspace(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	ws, err = h.Store.RenameWorkspace(ctx, c.Actor, c.OrgID, ws.ID, strings.TrimSpace(in.Name))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ws)
}

func (h *Handler) deleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ws, err := h.refs.Workspace(r.Context(), *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	if err := h.Store.DeleteWorkspace(r.Context(), c.Actor, c.OrgID, ws.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) addEnvironment(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	env, err := h.Store.AddEnvironment(ctx, c.Actor, c.OrgID, ws.ID, strings.TrimSpace(in.Name))
	if errors.Is(err, core.ErrConflict) {
		return httpx.Fail(http.StatusConflict, "the workspace already has an environment "+httpx.Quote(in.Name), err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, env)
}

// updateEnvironment renames an environment, moves it along the promotion path
// (position, 0 first) and sets its approval rule: with requires_approval every
// change there (create, edit, delete) is draft_only for everyone and goes through
// a proposal; approvals_required is how many approvals a proposal there needs.
// All of it in one transaction. Org admins and the workspace's Admins
// (manage_access) may.
func (h *Handler) updateEnvironment(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Name              *string `json:"name"`
		Position          *int    `json:"position"`
		RequiresApproval  *bool   `json:"requires_approval"`
		ApprovalsRequired *int    `json:"approvals_required"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	ws, env, err := h.environmentChange(r)
	if err != nil {
		return err
	}
	if in.Name == nil && in.Position == nil && in.RequiresApproval == nil && in.ApprovalsRequired == nil {
		return httpx.Failf(http.StatusUnprocessableEntity, `give "name", "position", "requires_approval" or "approvals_required"`)
	}
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		in.Name = &name
	}
	env, err = h.Ops.UpdateEnvironment(ctx, c.Actor, c.OrgID, ws.ID, env.ID, ops.EnvironmentChange{
		Name: in.Name, Position: in.Position, RequiresApproval: in.RequiresApproval, ApprovalsRequired: in.ApprovalsRequired})
	if errors.Is(err, core.ErrConflict) {
		return httpx.Fail(http.StatusConflict, "the workspace already has an environment "+httpx.Quote(*in.Name), err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, env)
}

// environmentChange resolves the workspace and environment of the path and
// requires manage_access.
func (h *Handler) environmentChange(r *http.Request) (core.Workspace, core.Environment, error) {
	c := callerOf(r)
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, r.PathValue("workspace"))
	if err != nil {
		return ws, core.Environment{}, err
	}
	ref := r.PathValue("environment")
	env, err := httpx.Environment(ws, ref)
	if err != nil {
		return ws, env, httpx.Failf(http.StatusNotFound, "environment %s not found in workspace %s", httpx.Quote(ref), ws.Slug)
	}
	return ws, env, h.manageAccess(ctx, c, ws)
}

// deleteEnvironment removes an environment from the promotion path; refused (422)
// while resources, grants or open proposals name it.
func (h *Handler) deleteEnvironment(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ws, env, err := h.environmentChange(r)
	if err != nil {
		return err
	}
	if err := h.Ops.DeleteEnvironment(r.Context(), c.Actor, c.OrgID, ws.ID, env.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
