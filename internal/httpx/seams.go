package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"time"

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

// SignIn starts browser sessions for edges that sign a person in themselves (the
// first-run setup page). The sso package owns sessions; the stack wires its
// *sso.Handler. NewSession returns the cookie's value and the record to store.
type SignIn interface {
	NewSession(orgID, userID string) (sid string, ss store.Session)
	SetSessionCookie(w http.ResponseWriter, sid string)
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
	// SSOConnection is one connection of the org with its settings, the IdP's
	// certificates and the state of its metadata refresh; core.ErrNotFound when
	// the org has no such connection.
	SSOConnection(ctx context.Context, orgID, id string) (SSOConnection, error)
}

// SSOConnection is one connection's setup values and settings, as the API
// returns it and the admin pages show it. Secrets (the OIDC client secret, the
// SP private key) are never part of it.
type SSOConnection struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	EntityID string `json:"entity_id,omitempty"`    // SAML
	ACS      string `json:"acs_url,omitempty"`      // SAML
	Metadata string `json:"metadata_url,omitempty"` // SAML: the SP's metadata
	Login    string `json:"login_url,omitempty"`    // SAML: SP-initiated sign-on; OIDC: initiate login URI
	SLO      string `json:"slo_url,omitempty"`      // SAML
	Redirect string `json:"redirect_uri,omitempty"` // OIDC

	Domains []string `json:"domains"`
	JIT     bool     `json:"jit"`
	// DirectoryID is the SCIM directory the connection is linked to: it signs in
	// the users that directory owns.
	DirectoryID string `json:"directory_id,omitempty"`
	// SAML
	AllowIdPInitiated *bool  `json:"allow_idp_initiated,omitempty"`
	IdPMetadataURL    string `json:"idp_metadata_url,omitempty"`
	SingleLogout      *bool  `json:"single_logout,omitempty"`
	// OIDC
	Issuer        string   `json:"issuer,omitempty"`
	ClientID      string   `json:"client_id,omitempty"`
	ExtraScopes   []string `json:"extra_scopes,omitempty"`
	HostedDomains []string `json:"hosted_domains,omitempty"`
	UserInfo      *bool    `json:"userinfo,omitempty"`

	Preset           string             `json:"preset"`
	Mapping          store.ClaimMapping `json:"mapping"`
	ClockSkewSeconds int64              `json:"clock_skew_seconds"`
	// Settings are the login settings as admins read them, defaults filled in
	// and marked (what gatehouse sso list prints).
	Settings []SSOSetting `json:"settings"`
	// Certificates are the IdP's signing certificates (SAML) or keys (OIDC),
	// listed ones first, soonest to expire first.
	Certificates []store.IdPCertificate `json:"certificates,omitempty"`
	Refresh      *SSORefresh            `json:"refresh,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`
}

// SSOSetting is one login setting as admins read it.
type SSOSetting struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Default bool   `json:"default,omitempty"`
}

// SSORefresh is the state of a connection's scheduled metadata refresh.
type SSORefresh struct {
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	LastSuccessAt time.Time `json:"last_success_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	Failures      int       `json:"failures,omitempty"`
	NextAt        time.Time `json:"next_at,omitzero"`
}

// CertificateWarning is how long before an IdP certificate's expiry the pages
// warn about it.
const CertificateWarning = 30 * 24 * time.Hour

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
