package httpx

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Refs resolves the references requests carry (an id, or a slug, name or email) to
// objects of the caller's org, for the API and the pages alike. What does not
// exist is a 404 naming what was asked for; so is a workspace (and what is in it)
// or another person's records that the caller may not see, as decided by the
// authorizer.
type Refs struct {
	Store     store.Store
	Decisions *decisions.Engine
	// SSO names the org's connections; without it a connection is named by id.
	SSO SSOSetup
}

// User is any user of the org, by id, email or user name (for org admins' routes).
func (x Refs) User(ctx context.Context, p decisions.Principal, ref string) (core.User, error) {
	if err := CheckRef("the user reference", ref); err != nil {
		return core.User{}, err
	}
	u, err := decisions.ResolveUser(ctx, x.Store, p.OrgID, ref)
	return u, NotFound(err, "user", ref)
}

// OwnUser is a user whose records p may read: a person themselves, anyone for an
// org admin; another person's are not found.
func (x Refs) OwnUser(ctx context.Context, p decisions.Principal, ref string) (core.User, error) {
	if err := CheckRef("the user reference", ref); err != nil {
		return core.User{}, err
	}
	u, err := x.Decisions.User(ctx, p, ref)
	return u, NotFound(err, "user", ref)
}

// Group is a user group by id or name.
func (x Refs) Group(ctx context.Context, p decisions.Principal, ref string) (core.UserGroup, error) {
	if err := CheckRef("the group reference", ref); err != nil {
		return core.UserGroup{}, err
	}
	g, err := x.Store.GetGroup(ctx, p.OrgID, ref)
	return g, NotFound(err, "group", ref)
}

// Directory is a SCIM directory by id or name.
func (x Refs) Directory(ctx context.Context, p decisions.Principal, ref string) (core.Directory, error) {
	if err := CheckRef("the directory reference", ref); err != nil {
		return core.Directory{}, err
	}
	d, err := x.Store.GetDirectory(ctx, p.OrgID, ref)
	return d, NotFound(err, "directory", ref)
}

// Role is a custom role by id or name.
func (x Refs) Role(ctx context.Context, p decisions.Principal, ref string) (core.CustomRole, error) {
	if err := CheckRef("the role reference", ref); err != nil {
		return core.CustomRole{}, err
	}
	cr, err := x.Store.GetCustomRole(ctx, p.OrgID, ref)
	return cr, NotFound(err, "role", ref)
}

// Connection is an SSO connection's id, by id or by name (any case). Without SSO,
// ref is taken as an id: an unknown one fails on the foreign key as a 404.
func (x Refs) Connection(ctx context.Context, p decisions.Principal, ref string) (string, error) {
	if err := CheckRef("the connection reference", ref); err != nil {
		return "", err
	}
	if x.SSO == nil {
		return ref, nil
	}
	conns, err := x.SSO.SSOConnections(ctx, p.OrgID)
	if err != nil {
		return "", err
	}
	for _, c := range conns {
		if c.ID == ref {
			return c.ID, nil
		}
	}
	for _, c := range conns {
		if strings.EqualFold(c.Name, ref) {
			return c.ID, nil
		}
	}
	return "", Failf(http.StatusNotFound, "connection %q not found", ref)
}

// Workspace is a workspace p can see, by id or slug.
func (x Refs) Workspace(ctx context.Context, p decisions.Principal, ref string) (core.Workspace, error) {
	if err := CheckRef("the workspace reference", ref); err != nil {
		return core.Workspace{}, err
	}
	ws, err := x.Decisions.Workspace(ctx, p, ref)
	return ws, NotFound(err, "workspace", ref)
}

// Space is a space of ws, by id or name.
func (x Refs) Space(ctx context.Context, p decisions.Principal, ws core.Workspace, ref string) (core.Space, error) {
	if err := CheckRef("the space reference", ref); err != nil {
		return core.Space{}, err
	}
	sp, err := x.Store.GetSpace(ctx, p.OrgID, ws.ID, ref)
	return sp, NotFound(err, "space", ref)
}

// Resource is a resource of ws: a Gatehouse id, or "type:external id".
func (x Refs) Resource(ctx context.Context, p decisions.Principal, ws core.Workspace, ref string) (core.Resource, error) {
	if err := CheckRef("the resource reference", ref); err != nil {
		return core.Resource{}, err
	}
	if t, ext, ok := strings.Cut(ref, ":"); ok && core.ResourceType(t).Valid() {
		res, err := x.Store.GetResourceByExternalID(ctx, p.OrgID, ws.ID, core.ResourceType(t), ext)
		return res, NotFound(err, "resource", ref)
	}
	res, err := x.Store.GetResource(ctx, p.OrgID, ref)
	if err == nil && res.WorkspaceID != ws.ID {
		err = core.ErrNotFound
	}
	return res, NotFound(err, "resource", ref)
}

// Grant is a grant in a workspace p can see, with that workspace.
func (x Refs) Grant(ctx context.Context, p decisions.Principal, id string) (core.Grant, core.Workspace, error) {
	if err := CheckRef("the grant reference", id); err != nil {
		return core.Grant{}, core.Workspace{}, err
	}
	gr, err := x.Store.GetGrant(ctx, p.OrgID, id)
	if err != nil {
		return gr, core.Workspace{}, NotFound(err, "grant", id)
	}
	ws, err := x.Store.GetWorkspace(ctx, p.OrgID, gr.WorkspaceID)
	if err != nil {
		return gr, ws, err
	}
	d, err := x.Decisions.Authorize(ctx, p, decisions.ViewWorkspace(ws))
	if err == nil {
		err = Refusal(d, "grant "+Quote(id)+" not found")
	}
	return gr, ws, err
}

// Environment is an environment of ws, by id or name (any case); an unknown one is
// a 422, since it names part of the request's content.
func Environment(ws core.Workspace, ref string) (core.Environment, error) {
	for _, e := range ws.Environments {
		if e.ID == ref || strings.EqualFold(e.Name, ref) {
			return e, nil
		}
	}
	return core.Environment{}, Failf(http.StatusUnprocessableEntity, "workspace %s has no environment %s", ws.Slug, Quote(ref))
}

// CheckRef refuses (400) a reference longer than core.MaxRef, naming field.
func CheckRef(field, ref string) error {
	if len(ref) > core.MaxRef {
		return Failf(http.StatusBadRequest, "%s is longer than %d bytes: it names nothing", field, core.MaxRef)
	}
	return nil
}

// CheckPath refuses (400) a request whose path values, the wildcards of its
// route's pattern ("GET /api/v1/users/{user}"), hold a reference longer than
// core.MaxRef.
func CheckPath(r *http.Request, pattern string) error {
	for rest := pattern; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "...")
		rest = rest[i+j+1:]
		if name == "$" {
			continue
		}
		if err := CheckRef("path value {"+name+"}", r.PathValue(name)); err != nil {
			return err
		}
	}
}
