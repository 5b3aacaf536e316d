package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Resources' pages: a workspace's registered resources (those the person may
// view), registered, renamed, moved between spaces and environments and deleted
// from the pages under the same rules as over the API: create on the type where
// it is registered or moved to, edit on the resource to rename or move it, delete
// to delete it, all as core.Decide says (org admins: everything).

const resourcesPerPage = 100

func resourcesPath(ws core.Workspace) string { return wsPath(ws) + "/resources" }

// resourceRow is a resource with the names of its environment and space.
type resourceRow struct {
	core.Resource
	Env, Space string
}

func (h *Handler) resourceAllowed(ctx context.Context, c *caller, ws core.Workspace, a core.Action, res core.Resource) (decisions.Decision, error) {
	return h.Decisions.Authorize(ctx, *c, decisions.InWorkspace(ws, core.Request{Action: a, ResourceType: res.Type, Resource: &res}))
}

type resourcesPage struct {
	WS     core.Workspace
	Rows   []resourceRow
	Spaces []core.Space
	Types  []core.ResourceType
	F      struct{ Type, Environment, Space string }
	Next   string
	Form   formState
}

func (h *Handler) pageResources(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	ws, err := h.workspaceOf(r, c)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	data := resourcesPage{WS: ws, Types: core.ResourceTypes, Form: fs}
	data.F.Type, data.F.Environment, data.F.Space = q.Get("type"), q.Get("environment"), q.Get("space")
	rq := store.ResourceQuery{Page: store.Page{After: q.Get("after"), Limit: resourcesPerPage}, Type: core.ResourceType(data.F.Type)}
	if rq.Type != "" && !rq.Type.Valid() {
		return httpx.Failf(http.StatusBadRequest, "Unknown resource type %s.", httpx.Quote(data.F.Type))
	}
	if data.F.Environment != "" {
		env, err := httpx.Environment(ws, data.F.Environment)
		if err != nil {
			return err
		}
		rq.EnvironmentID = env.ID
	}
	if data.Spaces, err = h.Store.ListSpaces(ctx, c.OrgID, ws.ID); err != nil {
		return err
	}
	spaceName := map[string]string{}
	for _, sp := range data.Spaces {
		spaceName[sp.ID] = sp.Name
		if data.F.Space == sp.ID || data.F.Space == sp.Name {
			rq.SpaceID = sp.ID
		}
	}
	if data.F.Space != "" && rq.SpaceID == "" {
		return httpx.Failf(http.StatusNotFound, "space %s not found in workspace %s", httpx.Quote(data.F.Space), ws.Slug)
	}
	rs, err := h.Store.ListResources(ctx, c.OrgID, ws.ID, rq)
	if err != nil {
		return err
	}
	for _, res := range rs {
		d, err := h.resourceAllowed(ctx, c, ws, core.ActionView, res)
		if err != nil {
			return err
		}
		if d.Allowed() {
			data.Rows = append(data.Rows, resourceRow{Resource: res, Env: envName(ws, res.EnvironmentID), Space: spaceName[res.SpaceID]})
		}
	}
	if len(rs) == rq.Limit {
		v := url.Values{"after": {rs[len(rs)-1].ID}}
		for k, s := range map[string]string{"type": data.F.Type, "environment": data.F.Environment, "space": data.F.Space} {
			if s != "" {
				v.Set(k, s)
			}
		}
		data.Next = resourcesPath(ws) + "?" + v.Encode()
	}
	pd.Title, pd.Nav, pd.Data = "Resources of "+ws.Slug, "workspaces", data
	return h.render(w, status, "resources", pd)
}

func envName(ws core.Workspace, id string) string {
	for _, e := range ws.Environments {
		if e.ID == id {
			return e.Name
		}
	}
	return ""
}

// placement reads a form's environment and space (names or ids; "" for none)
// onto res, refusing unknown ones next to their field.
func (h *Handler) placement(ctx context.Context, c *caller, ws core.Workspace, form string, r *http.Request, res *core.Resource) error {
	res.EnvironmentID, res.SpaceID = "", ""
	if e := r.PostFormValue("environment"); e != "" {
		env, err := httpx.Environment(ws, e)
		if err != nil {
			return badField(form, "environment", "Workspace "+ws.Slug+" has no environment "+httpx.Quote(e)+".")
		}
		res.EnvironmentID = env.ID
	}
	if s := r.PostFormValue("space"); s != "" {
		sp, err := h.refs.Space(ctx, *c, ws, s)
		if err != nil {
			return badField(form, "space", "Workspace "+ws.Slug+" has no space "+httpx.Quote(s)+".")
		}
		res.SpaceID = sp.ID
	}
	return nil
}

func (h *Handler) formRegisterResource(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	ws, err := h.workspaceOf(r, c)
	if err != nil {
		return err
	}
	typ := core.ResourceType(r.PostFormValue("type"))
	if !typ.Valid() {
		return badField("register", "type", "Choose the resource's type.")
	}
	ext := strings.TrimSpace(r.PostFormValue("id"))
	if ext == "" {
		return badField("register", "id", "Give the application's own id of the resource.")
	}
	res := core.Resource{WorkspaceID: ws.ID, Type: typ, ExternalID: ext, Name: strings.TrimSpace(r.PostFormValue("name"))}
	if err := h.placement(ctx, c, ws, "register", r, &res); err != nil {
		return err
	}
	req := core.Request{Action: core.ActionCreate, ResourceType: res.Type, SpaceID: res.SpaceID, Environment: res.EnvironmentID}
	if err := h.require(ctx, c, decisions.InWorkspace(ws, req)); err != nil {
		return err
	}
	if _, err := h.Store.CreateResource(ctx, c.Actor, c.OrgID, res); err != nil {
		return onField(err, "register", "id", "A "+string(typ)+" with id "+httpx.Quote(ext)+" is already registered in "+ws.Slug+".")
	}
	return redirectDone(w, r, resourcesPath(ws), "resource-registered")
}

// resourceOf is the workspace and resource of the path, which the person must
// be able to view (else not found).
func (h *Handler) resourceOf(r *http.Request, c *caller) (core.Workspace, core.Resource, error) {
	ctx := r.Context()
	ws, err := h.workspaceOf(r, c)
	if err != nil {
		return ws, core.Resource{}, err
	}
	ref := r.PathValue("resource")
	res, err := h.refs.Resource(ctx, *c, ws, ref)
	if err != nil {
		return ws, res, err
	}
	d, err := h.resourceAllowed(ctx, c, ws, core.ActionView, res)
	if err == nil && !d.Allowed() {
		err = httpx.Failf(http.StatusNotFound, "resource %s not found", httpx.Quote(ref))
	}
	return ws, res, err
}

func (h *Handler) pageResource(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	ws, res, err := h.resourceOf(r, c)
	if err != nil {
		return err
	}
	sps, err := h.Store.ListSpaces(ctx, c.OrgID, ws.ID)
	if err != nil {
		return err
	}
	spaceName := ""
	for _, sp := range sps {
		if sp.ID == res.SpaceID {
			spaceName = sp.Name
		}
	}
	edit, err := h.resourceAllowed(ctx, c, ws, core.ActionEdit, res)
	if err != nil {
		return err
	}
	del, err := h.resourceAllowed(ctx, c, ws, core.ActionDelete, res)
	if err != nil {
		return err
	}
	pd.Title, pd.Nav, pd.Data = res.Name, "workspaces", struct {
		WS              core.Workspace
		R               resourceRow
		Spaces          []core.Space
		CanEdit, CanDel bool
		Edit            decisions.Decision
		Form            formState
	}{ws, resourceRow{res, envName(ws, res.EnvironmentID), spaceName}, sps, edit.Allowed(), del.Allowed(), edit, fs}
	if pd.Title == "" {
		pd.Title = string(res.Type) + " " + res.ExternalID
	}
	return h.render(w, status, "resource", pd)
}

// formUpdateResource renames or moves a resource: edit on it where it is, and
// create where it goes when it moves.
func (h *Handler) formUpdateResource(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	ws, res, err := h.resourceOf(r, c)
	if err != nil {
		return err
	}
	d, err := h.resourceAllowed(ctx, c, ws, core.ActionEdit, res)
	if err != nil {
		return err
	}
	if !d.Allowed() {
		return d.Err()
	}
	moved := res
	if err := h.placement(ctx, c, ws, "edit", r, &moved); err != nil {
		return err
	}
	if moved.SpaceID != res.SpaceID || moved.EnvironmentID != res.EnvironmentID {
		req := core.Request{Action: core.ActionCreate, ResourceType: res.Type, SpaceID: moved.SpaceID, Environment: moved.EnvironmentID}
		if err := h.require(ctx, c, decisions.InWorkspace(ws, req)); err != nil {
			return err
		}
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if _, err := h.Store.UpdateResource(ctx, c.Actor, c.OrgID, res.ID, func(x *core.Resource) error {
		x.Name, x.EnvironmentID, x.SpaceID = name, moved.EnvironmentID, moved.SpaceID
		return nil
	}); err != nil {
		return onField(err, "edit", "name", "")
	}
	return redirectDone(w, r, resourcesPath(ws)+"/"+url.PathEscape(res.ID), "resource-saved")
}

func (h *Handler) pageDeleteResource(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ws, res, err := h.resourceOf(r, c)
	if err != nil {
		return err
	}
	pd.Title, pd.Nav, pd.Data = "Delete "+string(res.Type)+" "+res.ExternalID, "workspaces", struct {
		WS core.Workspace
		R  resourceRow
	}{ws, resourceRow{Resource: res, Env: envName(ws, res.EnvironmentID)}}
	return h.render(w, status, "resource_delete", pd)
}

func (h *Handler) formDeleteResource(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	ws, res, err := h.resourceOf(r, c)
	if err != nil {
		return err
	}
	d, err := h.resourceAllowed(ctx, c, ws, core.ActionDelete, res)
	if err != nil {
		return err
	}
	if !d.Allowed() {
		return d.Err()
	}
	if err := h.Store.DeleteResource(ctx, c.Actor, c.OrgID, res.ID); err != nil {
		return err
	}
	return redirectDone(w, r, resourcesPath(ws), "resource-deleted")
}

func init() {
	for code, text := range map[string]string{
		"resource-registered": "The resource was registered.",
		"resource-saved":      "The resource was saved.",
		"resource-deleted":    "The resource was deleted. Checks about it now answer that it is not registered.",
	} {
		flashes[code] = text
	}
}
