package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// caller is who makes a request: an API token of an org (acting as an org admin of
// that org) or a person with a browser session.
type caller = decisions.Principal

func callerOf(r *http.Request) *caller {
	rq := requestOf(r.Context())
	if rq == nil || !rq.hasCaller {
		panic("api: handler reached without a caller; the route must not be public")
	}
	return &rq.caller
}

// sessionOf is the browser session of a request to a route that requires one.
func sessionOf(r *http.Request) store.Session {
	if rq := requestOf(r.Context()); rq != nil && rq.session != nil {
		return *rq.session
	}
	return store.Session{}
}

// authenticate finds the caller. A bearer header must hold a live API token; SCIM
// tokens open SCIM only. Without one, a browser session is tried.
func (h *Handler) authenticate(r *http.Request) (caller, error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		p, _, err := httpx.SessionPrincipal(r, h.Sessions, h.Decisions)
		return p, err
	}
	scheme, secret, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return caller{}, decisions.ErrUnauthenticated
	}
	return h.Decisions.TokenPrincipal(r.Context(), strings.TrimSpace(secret))
}

// require asks the authorizer and turns a refusal into its answer: 403 with the
// reason and the decision's explanation (the problem's extension members), or 404
// where the caller may not learn that the object exists.
func (h *Handler) require(ctx context.Context, c *caller, req decisions.Request) error {
	d, err := h.Decisions.Authorize(ctx, *c, req)
	if err != nil || d.Allowed() {
		return err
	}
	if d.Hide {
		return httpx.Refusal(d, "not found")
	}
	return &decisions.Refused{Decision: d}
}

// manageAccess requires the workspace's manage_access: org admins and workspace Admins.
func (h *Handler) manageAccess(ctx context.Context, c *caller, ws core.Workspace) error {
	return h.require(ctx, c, decisions.InWorkspace(ws, core.Request{Action: core.ActionManageAccess}))
}
