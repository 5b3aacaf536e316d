package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
)

func (h *Handler) listSpaces(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ws, err := h.refs.Workspace(r.Context(), *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	sps, err := h.Store.ListSpaces(r.Context(), c.OrgID, ws.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.Space]{Items: nonNil(sps)})
}

func (h *Handler) createSpace(w http.ResponseWriter, r *http.Request) error {
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
	sp, err := h.Store.CreateSpace(ctx, c.Actor, c.OrgID, ws.ID, strings.TrimSpace(in.Name))
	if errors.Is(err, core.ErrConflict) {
		return httpx.Fail(http.StatusConflict, "the workspace already has a space "+httpx.Quote(in.Name), err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, sp)
}

func (h *Handler) getSpace(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ws, err := h.refs.Workspace(r.Context(), *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	sp, err := h.refs.Space(r.Context(), *c, ws, r.PathValue("space"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sp)
}

// spaceChange resolves workspace and space and requires manage_access.
func (h *Handler) spaceChange(r *http.Request) (*caller, core.Workspace, core.Space, error) {
	c := callerOf(r)
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, r.PathValue("workspace"))
	if err != nil {
		return c, ws, core.Space{}, err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return c, ws, core.Space{}, err
	}
	sp, err := h.refs.Space(ctx, *c, ws, r.PathValue("space"))
	return c, ws, sp, err
}

func (h *Handler) deleteSpace(w http.ResponseWriter, r *http.Request) error {
	c, ws, sp, err := h.spaceChange(r)
	if err != nil {
		return err
	}
	if err := h.Store.DeleteSpace(r.Context(), c.Actor, c.OrgID, ws.ID, sp.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listSpaceGroups(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ws, err := h.refs.Workspace(r.Context(), *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	sp, err := h.refs.Space(r.Context(), *c, ws, r.PathValue("space"))
	if err != nil {
		return err
	}
	gs, err := h.Store.SpaceGroups(r.Context(), c.OrgID, ws.ID, sp.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.UserGroup]{Items: nonNil(gs)})
}

func (h *Handler) assignSpace(w http.ResponseWriter, r *http.Request) error {
	return h.spaceGroup(w, r, h.Store.AssignSpace)
}

func (h *Handler) unassignSpace(w http.ResponseWriter, r *http.Request) error {
	return h.spaceGroup(w, r, h.Store.UnassignSpace)
}

func (h *Handler) spaceGroup(w http.ResponseWriter, r *http.Request, change func(context.Context, core.Actor, string, string, string, string) error) error {
	c, ws, sp, err := h.spaceChange(r)
	if err != nil {
		return err
	}
	g, err := h.refs.Group(r.Context(), *c, r.PathValue("group"))
	if err != nil {
		return err
	}
	if err := change(r.Context(), c.Actor, c.OrgID, ws.ID, sp.ID, g.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
