package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
)

// caller is who makes a request: an API token of an org (acting as an org admin of
// that org) or a person with a browser session.
type caller = decisions.Principal

func callerOf(r *http.Request) *caller {
	c, _ := r.Context().Value(callerKey).(*caller)
	if c == nil {
		panic("httpapi: handler reached without a caller; the route must not be public")
	}
	return c
}

var errUnauthenticated = fail(http.StatusUnauthorized, decisions.ErrUnauthenticated.Error(), nil)

// authenticate finds the caller. A bearer header must hold a live API token; SCIM
// tokens open SCIM only. Without one, a browser session is tried.
func (h *Handler) authenticate(r *http.Request) (*caller, error) {
	var (
		p   decisions.Principal
		err error
	)
	if authz := r.Header.Get("Authorization"); authz != "" {
		scheme, secret, ok := strings.Cut(authz, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			return nil, errUnauthenticated
		}
		p, err = h.engine.TokenPrincipal(r.Context(), strings.TrimSpace(secret))
	} else {
		if h.SessionAuth == nil {
			return nil, errUnauthenticated
		}
		orgID, userID, serr := h.SessionAuth.Authenticate(r)
		if errors.Is(serr, core.ErrUnavailable) {
			return nil, serr // 503: the session may well be live
		}
		if serr != nil || orgID == "" || userID == "" {
			return nil, errUnauthenticated
		}
		p, err = h.engine.SessionPrincipal(r.Context(), orgID, userID)
	}
	switch {
	case errors.Is(err, decisions.ErrUnauthenticated):
		return nil, errUnauthenticated
	case errors.Is(err, decisions.ErrSCIMToken), errors.Is(err, decisions.ErrDeactivated):
		return nil, fail(http.StatusUnauthorized, err.Error(), nil)
	case err != nil:
		return nil, err
	}
	return &p, nil
}

// require asks the authorizer and turns a refusal into its answer: 403 with the
// reason, or 404 where the caller may not learn that the object exists.
func (h *Handler) require(ctx context.Context, c *caller, req decisions.Request) error {
	d, err := h.engine.Authorize(ctx, *c, req)
	if err != nil {
		return err
	}
	return refusal(d, "not found")
}

// refusal is nil for an allowed decision, else the 404 (with notFound as its
// detail) or 403 it is answered with.
func refusal(d decisions.Decision, notFound string) error {
	switch {
	case d.Allowed():
		return nil
	case d.Hide:
		return fail(http.StatusNotFound, notFound, nil)
	}
	return forbidden(d.Message)
}
