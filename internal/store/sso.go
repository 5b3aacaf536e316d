package store

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// SSOKind is the protocol of an SSO connection.
type SSOKind string

// SSO connection kinds.
const (
	KindSAML SSOKind = "saml"
	KindOIDC SSOKind = "oidc"
)

// SAMLConfig is the per-connection configuration of a SAML 2.0 connection.
// Secret fields hold ciphertext sealed by the application (sso.Box); the store
// never sees a private key in the clear.
type SAMLConfig struct {
	// IdPMetadataXML is the identity provider's metadata as fetched or read at setup.
	IdPMetadataXML string `json:"idp_metadata_xml"`
	// IdPMetadataURL is where the metadata came from, if from a URL (for refreshes).
	IdPMetadataURL string `json:"idp_metadata_url,omitempty"`
	// AllowIdPInitiated accepts unsolicited responses (off by default).
	AllowIdPInitiated bool `json:"allow_idp_initiated,omitempty"`
	// GroupsAttribute names the attribute holding group names; empty means the
	// defaults (groups, and Entra's claims/groups URI).
	GroupsAttribute string `json:"groups_attribute,omitempty"`
	// SPKeySealed is the SP's PKCS#8 private key, sealed. SPCertPEM is its certificate.
	SPKeySealed string `json:"sp_key_sealed"`
	SPCertPEM   string `json:"sp_cert_pem"`
}

// OIDCConfig is the per-connection configuration of an OpenID Connect connection.
type OIDCConfig struct {
	Issuer             string   `json:"issuer"`
	ClientID           string   `json:"client_id"`
	ClientSecretSealed string   `json:"client_secret_sealed"`
	GroupsClaim        string   `json:"groups_claim,omitempty"` // default "groups"
	Scopes             []string `json:"scopes,omitempty"`       // default openid email profile
}

// SSOConnection is one SAML or OIDC connection of an org. Exactly one of SAML and
// OIDC is set, matching Kind.
type SSOConnection struct {
	ID      string      `json:"id"`
	OrgID   string      `json:"org_id"`
	Name    string      `json:"name"`
	Kind    SSOKind     `json:"kind"`
	JIT     bool        `json:"jit"`
	SAML    *SAMLConfig `json:"saml,omitempty"`
	OIDC    *OIDCConfig `json:"oidc,omitempty"`
	Domains []string    `json:"domains,omitempty"` // lower-case email domains routed here

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`
}

// Session is a browser session made by an SSO login. Only the SHA-256 of its id
// is stored.
type Session struct {
	IDHash       string
	OrgID        string
	UserID       string
	ConnectionID string
	CreatedAt    time.Time
	LastSeenAt   time.Time
	ExpiresAt    time.Time // absolute timeout
	Idle         time.Duration
}

// SAMLRequest is a pending SP-initiated AuthnRequest.
type SAMLRequest struct {
	RelayHash    string
	RequestID    string
	ConnectionID string
	ReturnTo     string
	ExpiresAt    time.Time
}

// OIDCState is an OIDC login in flight.
type OIDCState struct {
	StateHash    string
	ConnectionID string
	Nonce        string
	PKCEVerifier string
	ReturnTo     string
	ExpiresAt    time.Time
}

// SSO is the storage of SSO connections and of login state. It is separate from
// Store so the core contract stays protocol-free; *SQL implements both. Expiry
// checks take the caller's clock (now), so the SSO handler's injected clock rules
// sessions and login state alike.
type SSO interface {
	// CreateSSOConnection stores a new connection with its domains; an empty ID
	// gets a new one. A domain
	// already routed to another connection is core.ErrConflict.
	CreateSSOConnection(ctx context.Context, actor core.Actor, c SSOConnection) (SSOConnection, error)
	// GetSSOConnection finds a connection by its id alone: the id is the public
	// handle in the connection's URLs.
	GetSSOConnection(ctx context.Context, id string) (SSOConnection, error)
	ListSSOConnections(ctx context.Context, orgID string) ([]SSOConnection, error)
	// UpdateSSOConnection lets fn change a connection's name, JIT, config and
	// domains in one transaction, bumping its version.
	UpdateSSOConnection(ctx context.Context, actor core.Actor, orgID, id string, fn func(*SSOConnection) error) (SSOConnection, error)
	DeleteSSOConnection(ctx context.Context, actor core.Actor, orgID, id string) error
	// SSOConnectionForDomain finds the connection an email domain is routed to.
	SSOConnectionForDomain(ctx context.Context, domain string) (SSOConnection, error)

	// CreateSession stores a session and writes the login's audit event in the
	// same transaction.
	CreateSession(ctx context.Context, actor core.Actor, s Session, details map[string]any) error
	// LookupSession returns the live session of an id hash and records its use.
	// A session past either timeout, or of an inactive user, is core.ErrNotFound.
	LookupSession(ctx context.Context, idHash string, now time.Time) (Session, error)
	// DeleteSession ends a session (logout); an unknown hash is not an error.
	DeleteSession(ctx context.Context, idHash string) error

	// SaveSAMLRequest records a pending AuthnRequest.
	SaveSAMLRequest(ctx context.Context, r SAMLRequest) error
	// TakeSAMLRequest removes and returns the live pending request of a
	// connection's RelayState hash; missing or expired is core.ErrNotFound.
	TakeSAMLRequest(ctx context.Context, connectionID, relayHash string, now time.Time) (SAMLRequest, error)
	// ConsumeAssertion records an assertion id as used until expiresAt. A second
	// use is core.ErrConflict, decided by the primary key, so it is atomic
	// across instances.
	ConsumeAssertion(ctx context.Context, connectionID, assertionID string, expiresAt time.Time) error

	// SaveOIDCState records an OIDC login in flight.
	SaveOIDCState(ctx context.Context, s OIDCState) error
	// TakeOIDCState removes and returns the live state of a connection's state
	// hash; missing or expired is core.ErrNotFound.
	TakeOIDCState(ctx context.Context, connectionID, stateHash string, now time.Time) (OIDCState, error)

	// RecordSSOEvent appends an audit event for something SSO did that changed
	// nothing else: a refused login, a logout.
	RecordSSOEvent(ctx context.Context, orgID string, actor core.Actor, action, targetKind, targetID string, details map[string]any) error
	// PruneSSO deletes expired sessions, requests, states and replay records.
	PruneSSO(ctx context.Context, now time.Time) error
}

var _ SSO = (*SQL)(nil)
