package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Sessions authenticates a request's browser session. The sso package owns
// sessions; the stack wires its *sso.Handler, which has this method. It returns
// core.ErrNotFound (or any error) when the request carries no live session, and
// core.ErrUnavailable when the database cannot say.
type Sessions interface {
	Session(r *http.Request) (store.Session, error)
}

// SessionPrincipal authenticates the request's browser session (never a bearer
// token) and returns the person's principal with the session.
func SessionPrincipal(r *http.Request, s Sessions, e *decisions.Engine) (decisions.Principal, store.Session, error) {
	if s == nil {
		return decisions.Principal{}, store.Session{}, decisions.ErrUnauthenticated
	}
	ss, err := s.Session(r)
	if errors.Is(err, core.ErrUnavailable) {
		return decisions.Principal{}, ss, err // 503: the session may well be live
	}
	if err != nil || ss.OrgID == "" || ss.UserID == "" {
		return decisions.Principal{}, ss, decisions.ErrUnauthenticated
	}
	p, err := e.SessionPrincipal(r.Context(), ss.OrgID, ss.UserID)
	return p, ss, err
}

// SSOSetup lists an org's SSO connections with the values an IdP admin pastes into
// Okta or Entra. The sso package owns connections and their URLs; the stack wires
// it. Optional: without it no connection is listed.
type SSOSetup interface {
	SSOConnections(ctx context.Context, orgID string) ([]SSOConnection, error)
}

// SSOConnection is one connection's setup values.
type SSOConnection struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	EntityID string `json:"entity_id,omitempty"`    // SAML
	ACS      string `json:"acs_url,omitempty"`      // SAML
	Metadata string `json:"metadata_url,omitempty"` // SAML
	Login    string `json:"login_url,omitempty"`    // SAML
	Redirect string `json:"redirect_uri,omitempty"` // OIDC
}

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// RequestID is a request id for a response: the caller's X-Request-Id when it is a
// short printable value, else a new random one.
func RequestID(given string) string {
	if safeRequestID.MatchString(given) {
		return given
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
