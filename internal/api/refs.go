package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
)

func (h *Handler) userRef(ctx context.Context, c *caller, ref string) (core.User, error) {
	u, err := decisions.ResolveUser(ctx, h.Store, c.OrgID, ref)
	return u, httpx.NotFound(err, "user", ref)
}

// selfOrAdmin lets a person read their own records and org admins read anyone's;
// another person's are "not found".
func (h *Handler) selfOrAdmin(ctx context.Context, c *caller, ref string) (core.User, error) {
	u, err := h.Decisions.User(ctx, *c, ref)
	return u, httpx.NotFound(err, "user", ref)
}

func (h *Handler) groupRef(ctx context.Context, c *caller, ref string) (core.UserGroup, error) {
	g, err := h.Store.GetGroup(ctx, c.OrgID, ref)
	return g, httpx.NotFound(err, "group", ref)
}

func (h *Handler) directoryRef(ctx context.Context, c *caller, ref string) (core.Directory, error) {
	d, err := h.Store.GetDirectory(ctx, c.OrgID, ref)
	return d, httpx.NotFound(err, "directory", ref)
}

// connectionRef resolves an SSO connection by id or by name (any case) among the
// org's connections; without h.SSO, ref is taken as an id (an unknown one fails on
// the foreign key as a 404).
func (h *Handler) connectionRef(ctx context.Context, c *caller, ref string) (string, error) {
	if h.SSO == nil {
		return ref, nil
	}
	conns, err := h.SSO.SSOConnections(ctx, c.OrgID)
	if err != nil {
		return "", err
	}
	for _, cn := range conns {
		if cn.ID == ref {
			return cn.ID, nil
		}
	}
	for _, cn := range conns {
		if strings.EqualFold(cn.Name, ref) {
			return cn.ID, nil
		}
	}
	return "", httpx.Failf(http.StatusNotFound, "connection %q not found", ref)
}

// workspaceRef resolves {workspace} (id or slug). A workspace the caller cannot see
// is "not found", as if it did not exist.
func (h *Handler) workspaceRef(ctx context.Context, c *caller, ref string) (core.Workspace, error) {
	ws, err := h.Decisions.Workspace(ctx, *c, ref)
	return ws, httpx.NotFound(err, "workspace", ref)
}

// manageAccess requires the workspace's manage_access: org admins and workspace Admins.
func (h *Handler) manageAccess(ctx context.Context, c *caller, ws core.Workspace) error {
	return h.require(ctx, c, decisions.InWorkspace(ws, core.Request{Action: core.ActionManageAccess}))
}
