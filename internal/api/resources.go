package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// resourceAllowed asks the authorizer about an action on an existing resource.
func (h *Handler) resourceAllowed(ctx context.Context, c *caller, ws core.Workspace, a core.Action, res core.Resource) (decisions.Decision, error) {
	return h.Decisions.Authorize(ctx, *c, decisions.InWorkspace(ws, core.Request{Action: a, ResourceType: res.Type, Resource: &res}))
}

func (h *Handler) listResources(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rq := store.ResourceQuery{Page: p, Type: core.ResourceType(q.Get("type"))}
	if rq.Type != "" && !rq.Type.Valid() {
		return httpx.Failf(http.StatusBadRequest, "type must be one of %v", core.ResourceTypes)
	}
	if e := q.Get("environment"); e != "" {
		env, err := httpx.Environment(ws, e)
		if err != nil {
			return err
		}
		rq.EnvironmentID = env.ID
	}
	if s := q.Get("space"); s != "" {
		sp, err := h.refs.Space(ctx, *c, ws, s)
		if err != nil {
			return err
		}
		rq.SpaceID = sp.ID
	}
	rs, err := h.Store.ListResources(ctx, c.OrgID, ws.ID, rq)
	if err != nil {
		return err
	}
	out := list[core.Resource]{Items: []core.Resource{}}
	if len(rs) == p.Limit {
		out.Next = rs[len(rs)-1].ID
	}
	for _, res := range rs {
		d, err := h.resourceAllowed(ctx, c, ws, core.ActionView, res)
		if err != nil {
			return err
		}
		if d.Effect == core.Allow {
			out.Items = append(out.Items, res)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

type resourceInput struct {
	Type        *string `json:"type"`
	ID          *string `json:"id"`
	Name        *string `json:"name"`
	Environment *string `json:"environment"`
	Space       *string `json:"space"`
}

// placement resolves environment and space names of the input onto res.
func (h *Handler) placement(ctx context.Context, c *caller, ws core.Workspace, in resourceInput, res *core.Resource) error {
	if in.Environment != nil {
		res.EnvironmentID = ""
		if *in.Environment != "" {
			env, err := httpx.Environment(ws, *in.Environment)
			if err != nil {
				return err
			}
			res.EnvironmentID = env.ID
		}
	}
	if in.Space != nil {
		res.SpaceID = ""
		if *in.Space != "" {
			sp, err := h.refs.Space(ctx, *c, ws, *in.Space)
			if err != nil {
				return httpx.Fail(http.StatusUnprocessableEntity, "space "+httpx.Quote(*in.Space)+" not found in workspace "+ws.Slug, err)
			}
			res.SpaceID = sp.ID
		}
	}
	return nil
}

// createResource registers an application's object. The caller needs create on its
// type (in its environment and space): what core.Decide says.
func (h *Handler) createResource(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in resourceInput
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	if in.Type == nil || !core.ResourceType(*in.Type).Valid() {
		return httpx.Failf(http.StatusUnprocessableEntity, `"type" must be one of %v`, core.ResourceTypes)
	}
	if in.ID == nil || strings.TrimSpace(*in.ID) == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"id" (the application's own id) is required`)
	}
	res := core.Resource{WorkspaceID: ws.ID, Type: core.ResourceType(*in.Type), ExternalID: strings.TrimSpace(*in.ID)}
	if in.Name != nil {
		res.Name = *in.Name
	}
	if err := h.placement(ctx, c, ws, in, &res); err != nil {
		return err
	}
	req := core.Request{Action: core.ActionCreate, ResourceType: res.Type, SpaceID: res.SpaceID, Environment: res.EnvironmentID}
	if err := h.require(ctx, c, decisions.InWorkspace(ws, req)); err != nil {
		return err
	}
	res, err = h.Store.CreateResource(ctx, c.Actor, c.OrgID, res)
	if errors.Is(err, core.ErrConflict) {
		return httpx.Fail(http.StatusConflict, "a "+string(*in.Type)+" with id "+httpx.Quote(*in.ID)+" is already registered in "+ws.Slug, err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, res)
}

func (h *Handler) getResource(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	res, err := h.refs.Resource(ctx, *c, ws, r.PathValue("resource"))
	if err != nil {
		return err
	}
	d, err := h.resourceAllowed(ctx, c, ws, core.ActionView, res)
	if err != nil {
		return err
	}
	if d.Effect != core.Allow {
		return httpx.Failf(http.StatusNotFound, "resource %s not found", httpx.Quote(r.PathValue("resource")))
	}
	return writeJSON(w, http.StatusOK, res)
}

// updateResource renames or moves a resource; it takes edit on the resource where
// it is, and, when it moves, create where it goes.
func (h *Handler) updateResource(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in resourceInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Type != nil || in.ID != nil {
		return httpx.Failf(http.StatusUnprocessableEntity, "a resource's type and id cannot change; delete it and register a new one")
	}
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	res, err := h.refs.Resource(ctx, *c, ws, r.PathValue("resource"))
	if err != nil {
		return err
	}
	d, err := h.resourceAllowed(ctx, c, ws, core.ActionEdit, res)
	if err != nil {
		return err
	}
	if d.Effect != core.Allow {
		return d.Err() // 403 with the decision's explanation
	}
	moved := res
	if err := h.placement(ctx, c, ws, in, &moved); err != nil {
		return err
	}
	if moved.SpaceID != res.SpaceID || moved.EnvironmentID != res.EnvironmentID {
		req := core.Request{Action: core.ActionCreate, ResourceType: res.Type, SpaceID: moved.SpaceID, Environment: moved.EnvironmentID}
		if err := h.require(ctx, c, decisions.InWorkspace(ws, req)); err != nil {
			return err
		}
	}
	res, err = h.Store.UpdateResource(ctx, c.Actor, c.OrgID, res.ID, func(x *core.Resource) error {
		if in.Name != nil {
			x.Name = *in.Name
		}
		x.EnvironmentID, x.SpaceID = moved.EnvironmentID, moved.SpaceID
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (h *Handler) deleteResource(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	res, err := h.refs.Resource(ctx, *c, ws, r.PathValue("resource"))
	if err != nil {
		return err
	}
	d, err := h.resourceAllowed(ctx, c, ws, core.ActionDelete, res)
	if err != nil {
		return err
	}
	if d.Effect != core.Allow {
		return d.Err() // 403 with the decision's explanation
	}
	if err := h.Store.DeleteResource(ctx, c.Actor, c.OrgID, res.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
