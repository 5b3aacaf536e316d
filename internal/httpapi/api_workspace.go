package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// workspaceRef resolves {workspace} (id or slug). A workspace the caller cannot see
// is "not found", as if it did not exist.
func (h *Handler) workspaceRef(ctx context.Context, c *caller, ref string) (core.Workspace, error) {
	ws, err := h.Store.GetWorkspace(ctx, c.OrgID, ref)
	if err != nil {
		return ws, notFound(err, "workspace", ref)
	}
	d, err := h.engine.Authorize(ctx, *c, decisions.ViewWorkspace(ws))
	if err == nil {
		err = refusal(d, "workspace "+quote(ref)+" not found")
	}
	if err != nil {
		return core.Workspace{}, err
	}
	return ws, nil
}

// manageAccess requires the workspace's manage_access: org admins and workspace Admins.
func (h *Handler) manageAccess(ctx context.Context, c *caller, ws core.Workspace) error {
	return h.require(ctx, c, decisions.InWorkspace(ws, core.Request{Action: core.ActionManageAccess}))
}

// ---- workspaces and environments ----

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
	if out.Items, err = h.engine.VisibleWorkspaces(ctx, *c, wss); err != nil {
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
		return failf(http.StatusUnprocessableEntity, `"slug" is required`)
	}
	if in.Name == "" {
		in.Name = in.Slug
	}
	if len(in.Environments) == 0 {
		return failf(http.StatusUnprocessableEntity, `"environments" needs at least one name, in promotion order`)
	}
	ws, err := h.Store.CreateWorkspace(r.Context(), c.Actor, c.OrgID, in.Slug, in.Name, in.Environments)
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "a workspace with slug "+quote(in.Slug)+" already exists", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, ws)
}

func (h *Handler) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := h.workspaceRef(r.Context(), callerOf(r), r.PathValue("workspace"))
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
	ws, err := h.workspaceRef(ctx, c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	ws, err = h.Store.RenameWorkspace(ctx, c.Actor, c.OrgID, ws.ID, strings.TrimSpace(in.Name))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ws)
}

func (h *Handler) deleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ws, err := h.workspaceRef(r.Context(), c, r.PathValue("workspace"))
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
	ws, err := h.workspaceRef(ctx, c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	env, err := h.Store.AddEnvironment(ctx, c.Actor, c.OrgID, ws.ID, strings.TrimSpace(in.Name))
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "the workspace already has an environment "+quote(in.Name), err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, env)
}

// ---- spaces ----

func (h *Handler) spaceRef(ctx context.Context, c *caller, ws core.Workspace, ref string) (core.Space, error) {
	sp, err := h.Store.GetSpace(ctx, c.OrgID, ws.ID, ref)
	return sp, notFound(err, "space", ref)
}

func (h *Handler) listSpaces(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ws, err := h.workspaceRef(r.Context(), c, r.PathValue("workspace"))
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
	ws, err := h.workspaceRef(ctx, c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	sp, err := h.Store.CreateSpace(ctx, c.Actor, c.OrgID, ws.ID, strings.TrimSpace(in.Name))
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "the workspace already has a space "+quote(in.Name), err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, sp)
}

func (h *Handler) getSpace(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ws, err := h.workspaceRef(r.Context(), c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	sp, err := h.spaceRef(r.Context(), c, ws, r.PathValue("space"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sp)
}

// spaceChange resolves workspace and space and requires manage_access.
func (h *Handler) spaceChange(r *http.Request) (*caller, core.Workspace, core.Space, error) {
	c := callerOf(r)
	ctx := r.Context()
	ws, err := h.workspaceRef(ctx, c, r.PathValue("workspace"))
	if err != nil {
		return c, ws, core.Space{}, err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return c, ws, core.Space{}, err
	}
	sp, err := h.spaceRef(ctx, c, ws, r.PathValue("space"))
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
	ws, err := h.workspaceRef(r.Context(), c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	sp, err := h.spaceRef(r.Context(), c, ws, r.PathValue("space"))
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
	g, err := h.groupRef(r.Context(), c, r.PathValue("group"))
	if err != nil {
		return err
	}
	if err := change(r.Context(), c.Actor, c.OrgID, ws.ID, sp.ID, g.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- resources ----

// resourceRef resolves {resource}: a Gatehouse id, or "type:external id".
func (h *Handler) resourceRef(ctx context.Context, c *caller, ws core.Workspace, ref string) (core.Resource, error) {
	if t, ext, ok := strings.Cut(ref, ":"); ok && core.ResourceType(t).Valid() {
		res, err := h.Store.GetResourceByExternalID(ctx, c.OrgID, ws.ID, core.ResourceType(t), ext)
		return res, notFound(err, "resource", ref)
	}
	res, err := h.Store.GetResource(ctx, c.OrgID, ref)
	if err == nil && res.WorkspaceID != ws.ID {
		err = core.ErrNotFound
	}
	return res, notFound(err, "resource", ref)
}

// resourceAllowed asks the authorizer about an action on an existing resource.
func (h *Handler) resourceAllowed(ctx context.Context, c *caller, ws core.Workspace, a core.Action, res core.Resource) (decisions.Decision, error) {
	return h.engine.Authorize(ctx, *c, decisions.InWorkspace(ws, core.Request{Action: a, ResourceType: res.Type, Resource: &res}))
}

func (h *Handler) listResources(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ws, err := h.workspaceRef(ctx, c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rq := store.ResourceQuery{Page: p, Type: core.ResourceType(q.Get("type"))}
	if rq.Type != "" && !rq.Type.Valid() {
		return failf(http.StatusBadRequest, "type must be one of %v", core.ResourceTypes)
	}
	if e := q.Get("environment"); e != "" {
		env, err := environmentOf(ws, e)
		if err != nil {
			return err
		}
		rq.EnvironmentID = env.ID
	}
	if s := q.Get("space"); s != "" {
		sp, err := h.spaceRef(ctx, c, ws, s)
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

func environmentOf(ws core.Workspace, ref string) (core.Environment, error) {
	for _, e := range ws.Environments {
		if e.ID == ref || strings.EqualFold(e.Name, ref) {
			return e, nil
		}
	}
	return core.Environment{}, failf(http.StatusUnprocessableEntity, "workspace %s has no environment %s", ws.Slug, quote(ref))
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
			env, err := environmentOf(ws, *in.Environment)
			if err != nil {
				return err
			}
			res.EnvironmentID = env.ID
		}
	}
	if in.Space != nil {
		res.SpaceID = ""
		if *in.Space != "" {
			sp, err := h.spaceRef(ctx, c, ws, *in.Space)
			if err != nil {
				return fail(http.StatusUnprocessableEntity, "space "+quote(*in.Space)+" not found in workspace "+ws.Slug, err)
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
	ws, err := h.workspaceRef(ctx, c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	if in.Type == nil || !core.ResourceType(*in.Type).Valid() {
		return failf(http.StatusUnprocessableEntity, `"type" must be one of %v`, core.ResourceTypes)
	}
	if in.ID == nil || strings.TrimSpace(*in.ID) == "" {
		return failf(http.StatusUnprocessableEntity, `"id" (the application's own id) is required`)
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
		return fail(http.StatusConflict, "a "+string(*in.Type)+" with id "+quote(*in.ID)+" is already registered in "+ws.Slug, err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, res)
}

func (h *Handler) getResource(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ctx := r.Context()
	ws, err := h.workspaceRef(ctx, c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	res, err := h.resourceRef(ctx, c, ws, r.PathValue("resource"))
	if err != nil {
		return err
	}
	d, err := h.resourceAllowed(ctx, c, ws, core.ActionView, res)
	if err != nil {
		return err
	}
	if d.Effect != core.Allow {
		return failf(http.StatusNotFound, "resource %s not found", quote(r.PathValue("resource")))
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
		return failf(http.StatusUnprocessableEntity, "a resource's type and id cannot change; delete it and register a new one")
	}
	ctx := r.Context()
	ws, err := h.workspaceRef(ctx, c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	res, err := h.resourceRef(ctx, c, ws, r.PathValue("resource"))
	if err != nil {
		return err
	}
	d, err := h.resourceAllowed(ctx, c, ws, core.ActionEdit, res)
	if err != nil {
		return err
	}
	if d.Effect != core.Allow {
		return forbidden(d.Message)
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
	ws, err := h.workspaceRef(ctx, c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	res, err := h.resourceRef(ctx, c, ws, r.PathValue("resource"))
	if err != nil {
		return err
	}
	d, err := h.resourceAllowed(ctx, c, ws, core.ActionDelete, res)
	if err != nil {
		return err
	}
	if d.Effect != core.Allow {
		return forbidden(d.Message)
	}
	if err := h.Store.DeleteResource(ctx, c.Actor, c.OrgID, res.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- grants ----

func (h *Handler) listGrants(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	var gq store.GrantQuery
	if ref := q.Get("workspace"); ref != "" {
		ws, err := h.workspaceRef(ctx, c, ref)
		if err != nil {
			return err
		}
		gq.WorkspaceID = ws.ID
	}
	if ref := q.Get("group"); ref != "" {
		g, err := h.groupRef(ctx, c, ref)
		if err != nil {
			return err
		}
		gq.GroupID = g.ID
	}
	gs, err := h.Store.ListGrants(ctx, c.OrgID, gq)
	if err != nil {
		return err
	}
	return h.writeGrants(w, gs, p)
}

func (h *Handler) writeGrants(w http.ResponseWriter, gs []core.Grant, p store.Page) error {
	slices.SortFunc(gs, func(a, b core.Grant) int { return strings.Compare(a.ID, b.ID) })
	return writeList(w, pageOf(gs, p, func(g core.Grant) string { return g.ID }), p, func(g core.Grant) string { return g.ID })
}

func (h *Handler) listWorkspaceGrants(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ws, err := h.workspaceRef(r.Context(), c, r.PathValue("workspace"))
	if err != nil {
		return err
	}
	gs, err := h.Store.ListGrants(r.Context(), c.OrgID, store.GrantQuery{WorkspaceID: ws.ID})
	if err != nil {
		return err
	}
	return h.writeGrants(w, gs, p)
}

// createGrant binds a user group to a role in a workspace: org admins and the
// workspace's Admins (manage_access) may.
func (h *Handler) createGrant(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Group        string   `json:"group"`
		Workspace    string   `json:"workspace"`
		Role         string   `json:"role"`
		Environments []string `json:"environments"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Group == "" || in.Workspace == "" || in.Role == "" {
		return failf(http.StatusUnprocessableEntity, `"group", "workspace" and "role" are required`)
	}
	ctx := r.Context()
	ws, err := h.workspaceRef(ctx, c, in.Workspace)
	if err != nil {
		return err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return err
	}
	g, err := h.groupRef(ctx, c, in.Group)
	if err != nil {
		return err
	}
	gr := core.Grant{OrgID: c.OrgID, UserGroupID: g.ID, WorkspaceID: ws.ID}
	if core.IsBuiltinRole(strings.ToLower(in.Role)) {
		gr.Role = strings.ToLower(in.Role)
	} else {
		cr, err := h.roleRef(ctx, c, in.Role)
		if err != nil {
			return fail(http.StatusUnprocessableEntity, "role "+quote(in.Role)+" is neither a pre-built role ("+strings.Join(core.BuiltinRoles, ", ")+") nor a custom role", err)
		}
		gr.CustomRoleID = cr.ID
	}
	for _, e := range in.Environments {
		env, err := environmentOf(ws, e)
		if err != nil {
			return err
		}
		if !slices.Contains(gr.EnvironmentIDs, env.ID) {
			gr.EnvironmentIDs = append(gr.EnvironmentIDs, env.ID)
		}
	}
	gr, err = h.Store.CreateGrant(ctx, c.Actor, gr)
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "group "+g.Name+" already has that role in "+ws.Slug, err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, gr)
}

// grantRef finds a grant the caller can see (org admin, or view on its workspace).
func (h *Handler) grantRef(ctx context.Context, c *caller, id string) (core.Grant, core.Workspace, error) {
	gr, err := h.Store.GetGrant(ctx, c.OrgID, id)
	if err != nil {
		return gr, core.Workspace{}, notFound(err, "grant", id)
	}
	ws, err := h.Store.GetWorkspace(ctx, c.OrgID, gr.WorkspaceID)
	if err != nil {
		return gr, ws, err
	}
	d, err := h.engine.Authorize(ctx, *c, decisions.ViewWorkspace(ws))
	if err == nil {
		err = refusal(d, "grant "+quote(id)+" not found")
	}
	return gr, ws, err
}

func (h *Handler) getGrant(w http.ResponseWriter, r *http.Request) error {
	gr, _, err := h.grantRef(r.Context(), callerOf(r), r.PathValue("grant"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, gr)
}

func (h *Handler) deleteGrant(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ctx := r.Context()
	gr, ws, err := h.grantRef(ctx, c, r.PathValue("grant"))
	if err != nil {
		return err
	}
	if err := h.manageAccess(ctx, c, ws); err != nil {
		return err
	}
	if err := h.Store.DeleteGrant(ctx, c.Actor, c.OrgID, gr.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
