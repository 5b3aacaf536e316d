package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// caller is who makes a request: an API token of an org (acting as an org admin of
// that org) or a person with a browser session.
type caller struct {
	OrgID   string
	UserID  string // empty for an API token
	TokenID string // empty for a session
	Admin   bool   // org admin (API tokens always are)
	Actor   core.Actor
	// gen is the org's generation read while authenticating, or -1: every decision
	// of the request uses the state at that generation or later.
	gen int64
}

func callerOf(r *http.Request) *caller {
	c, _ := r.Context().Value(callerKey).(*caller)
	if c == nil {
		panic("httpapi: handler reached without a caller; the route must not be public")
	}
	return c
}

var errUnauthenticated = fail(http.StatusUnauthorized, "authenticate with an API token (Authorization: Bearer …) or a session", nil)

// authenticate finds the caller. A bearer header must hold a live API token; SCIM
// tokens open SCIM only. Without one, a browser session is tried.
func (h *Handler) authenticate(r *http.Request) (*caller, error) {
	if authz := r.Header.Get("Authorization"); authz != "" {
		scheme, secret, ok := strings.Cut(authz, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			return nil, errUnauthenticated
		}
		tok, gen, err := h.cache.token(r.Context(), strings.TrimSpace(secret))
		if errors.Is(err, core.ErrNotFound) {
			return nil, errUnauthenticated
		}
		if err != nil {
			return nil, fmt.Errorf("authenticate token: %w", err)
		}
		if tok.Kind != store.TokenAPI {
			return nil, fail(http.StatusUnauthorized, "this token opens SCIM only; use an API token", nil)
		}
		return &caller{OrgID: tok.OrgID, TokenID: tok.ID, Admin: true, gen: gen,
			Actor: core.Actor{Kind: core.ActorAPI, ID: tok.ID, Name: tok.Name}}, nil
	}
	if h.SessionAuth == nil {
		return nil, errUnauthenticated
	}
	orgID, userID, err := h.SessionAuth.Authenticate(r)
	if errors.Is(err, core.ErrUnavailable) {
		return nil, err // 503: the session may well be live
	}
	if err != nil || orgID == "" || userID == "" {
		return nil, errUnauthenticated
	}
	ctx := r.Context()
	u, err := h.Store.GetUser(ctx, orgID, userID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if !u.Active {
		return nil, fail(http.StatusUnauthorized, "your account is deactivated", nil)
	}
	admin, err := h.Store.IsOrgAdmin(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	return &caller{OrgID: orgID, UserID: userID, Admin: admin, gen: -1,
		Actor: core.Actor{Kind: core.ActorAdmin, ID: userID, Name: u.Label()}}, nil
}

// decideFor answers whether the caller may do req in the workspace. Org admins may
// do everything in every workspace of their org; anyone else gets what core.Decide
// says, through the same facts (and cache) as POST /api/v1/check.
func (h *Handler) decideFor(ctx context.Context, c *caller, ws core.Workspace, req core.Request) (core.Decision, error) {
	if c.Admin {
		return core.Decision{Effect: core.Allow, Reason: core.ReasonAllowed, Message: "org admins manage every workspace of their org"}, nil
	}
	f, err := h.cache.facts(ctx, c.OrgID, c.UserID, ws.ID, c.gen)
	if err != nil {
		return core.Decision{}, err
	}
	return core.Decide(f, req), nil
}

// require is decideFor that turns anything but allow into a 403 with the reason.
func (h *Handler) require(ctx context.Context, c *caller, ws core.Workspace, req core.Request) error {
	d, err := h.decideFor(ctx, c, ws, req)
	if err != nil {
		return err
	}
	if d.Effect != core.Allow {
		return forbidden(d.Message)
	}
	return nil
}

// mayView reports whether the caller can see the workspace at all.
func (h *Handler) mayView(ctx context.Context, c *caller, ws core.Workspace) (bool, error) {
	d, err := h.decideFor(ctx, c, ws, core.Request{Action: core.ActionView})
	if err != nil {
		return false, err
	}
	return d.Effect == core.Allow, nil
}
