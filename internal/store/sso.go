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

// MaxClockSkew bounds a connection's clock-skew allowance: beyond a few minutes a
// captured assertion or ID token stays usable for too long.
const MaxClockSkew = 5 * time.Minute

// ClaimMapping names the SAML attributes or OIDC claims that hold a person's
// details. Each list is tried in order and the first one present wins; for
// Groups every name listed is read. An empty list means the protocol's defaults
// (package sso says which). "NameID" in a SAML list stands for the subject's
// NameID.
type ClaimMapping struct {
	// Preset is the identity provider whose defaults filled the mapping (okta,
	// entra, adfs, ...), shown to admins; explicit settings override it.
	Preset      string   `json:"preset,omitempty"`
	Email       []string `json:"email,omitempty"`
	UserName    []string `json:"user_name,omitempty"`
	GivenName   []string `json:"given_name,omitempty"`
	FamilyName  []string `json:"family_name,omitempty"`
	DisplayName []string `json:"display_name,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	// GroupValues says how group values are taken: "" as sent, "last-segment"
	// (the part after the last "/", for Keycloak's full group paths) or "cn"
	// (the CN of an LDAP distinguished name).
	GroupValues string `json:"group_values,omitempty"`
}

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
	// Mapping names the attributes holding the email, names and groups.
	Mapping ClaimMapping `json:"mapping"`
	// NoSingleLogout turns single logout off even when the IdP's metadata offers it.
	NoSingleLogout bool `json:"no_single_logout,omitempty"`
	// ClockSkew is how far the IdP's clock may be off, on top of the built-in
	// allowance; at most MaxClockSkew.
	ClockSkew Seconds `json:"clock_skew_seconds,omitempty"`
	// SPKeySealed is the SP's PKCS#8 private key, sealed. SPCertPEM is its certificate.
	SPKeySealed string `json:"sp_key_sealed"`
	SPCertPEM   string `json:"sp_cert_pem"`
}

// OIDCConfig is the per-connection configuration of an OpenID Connect connection.
type OIDCConfig struct {
	Issuer             string `json:"issuer"`
	ClientID           string `json:"client_id"`
	ClientSecretSealed string `json:"client_secret_sealed"`
	// Scopes are asked for at login; empty means openid email profile.
	Scopes []string `json:"scopes,omitempty"`
	// Mapping names the claims holding the email, names and groups.
	Mapping ClaimMapping `json:"mapping"`
	// HostedDomains, when set, require an hd claim (Google Workspace) naming one
	// of them: a consumer account is refused even with an address in the domain.
	HostedDomains []string `json:"hosted_domains,omitempty"`
	// NoUserInfo never calls the userinfo endpoint (Entra's answers for another
	// audience and carries no groups).
	NoUserInfo bool `json:"no_userinfo,omitempty"`
	// ClockSkew is how long after its expiry an ID token is still accepted; at
	// most MaxClockSkew.
	ClockSkew Seconds `json:"clock_skew_seconds,omitempty"`
}

// Seconds is a duration stored as whole seconds.
type Seconds int64

// Duration is s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) * time.Second }

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
	// DirectoryID links the connection to a SCIM directory of its org (the usual
	// Okta SCIM + Okta SAML pair): it signs in the users that directory owns.
	DirectoryID string `json:"directory_id,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`

	// Certificates, when set on a create or an update, are the signing
	// certificates or keys the IdP now publishes: they are recorded (see
	// ListIdPCertificates) in the same transaction, and recorded ones no longer
	// listed are marked retired. Reads leave it nil, and nil changes nothing.
	Certificates []IdPCertificate `json:"-"`
}

// IdPCertificate kinds.
const (
	CertSAMLSigning = "saml_signing" // an X.509 signing certificate in SAML metadata
	CertOIDCKey     = "oidc_key"     // a key in an OpenID provider's JWKS
)

// IdPCertificate is a signing certificate (SAML) or key (OIDC) an identity
// provider has published for a connection.
type IdPCertificate struct {
	ConnectionID string `json:"connection_id"`
	// Fingerprint is the SHA-256 of the certificate (as IdP admin pages show it,
	// colon-separated hex) or, for a JWK without a certificate, its RFC 7638
	// thumbprint.
	Fingerprint string    `json:"fingerprint"`
	Kind        string    `json:"kind"`
	KeyID       string    `json:"key_id,omitempty"` // JWK kid
	Subject     string    `json:"subject,omitempty"`
	NotBefore   time.Time `json:"not_before,omitzero"` // zero when unknown
	NotAfter    time.Time `json:"not_after,omitzero"`  // zero when unknown (a bare JWK)
	FirstSeenAt time.Time `json:"first_seen_at"`
	LastSeenAt  time.Time `json:"last_seen_at"`
	// RetiredAt is when the IdP stopped listing it; zero while it is listed.
	RetiredAt time.Time `json:"retired_at,omitzero"`
}

// ExpiresWithin says whether a listed certificate expires before now+d (or has
// expired): what the admin pages warn about.
func (c IdPCertificate) ExpiresWithin(now time.Time, d time.Duration) bool {
	return c.RetiredAt.IsZero() && !c.NotAfter.IsZero() && c.NotAfter.Before(now.Add(d))
}

// SSORefresh is the state of a connection's scheduled metadata refresh.
type SSORefresh struct {
	ConnectionID  string
	NextAt        time.Time
	LastAttemptAt time.Time // zero: never tried
	LastSuccessAt time.Time // zero: never succeeded
	LastError     string    // of the last attempt; empty when it succeeded
	Failures      int       // attempts failed in a row
	// Digest summarizes what the IdP published at the last success (its keys and
	// endpoints), to tell a change from a repeat.
	Digest string
}

// SSORefreshResult is what one refresh attempt found.
type SSORefreshResult struct {
	At     time.Time
	NextAt time.Time
	Err    string // empty on success
	Digest string // on success
	// Certificates, on success, are what the IdP lists now (see
	// SSOConnection.Certificates); nil leaves the records alone.
	Certificates []IdPCertificate
}

// SSODeletion is what deleting a connection removed.
type SSODeletion struct {
	Connection      SSOConnection // as it was
	Domains         int
	Sessions        int
	IdPGroups       int
	IdPGroupMembers int // users' memberships in those IdP groups
	Mappings        int // group mappings of the connection
	Users           int // users the connection owned, now local
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
	// SAML is the IdP session a SAML login came from, for single logout; zero
	// for OIDC.
	SAML SAMLSubject
}

// SAMLSubject is the subject of a SAML assertion as single logout names it: the
// NameID with its qualifiers, and the IdP's SessionIndex.
type SAMLSubject struct {
	NameID          string
	Format          string
	NameQualifier   string
	SPNameQualifier string
	SessionIndex    string
}

// Purposes of a pending SP-initiated SAML message.
const (
	SAMLLogin  = "login"  // an AuthnRequest, answered at the ACS
	SAMLLogout = "logout" // a LogoutRequest, answered at the SLO endpoint
)

// SAMLRequest is a pending SP-initiated AuthnRequest or LogoutRequest.
type SAMLRequest struct {
	// Purpose is SAMLLogin (the default when empty) or SAMLLogout.
	Purpose      string
	RelayHash    string
	RequestID    string
	ConnectionID string
	ReturnTo     string
	ExpiresAt    time.Time
	// BindingHash is the SHA-256 of the browser-binding cookie set when the login
	// started; the ACS compares it with the cookie the response arrives with.
	BindingHash string
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
	// DeleteSSOConnection removes a connection with its domains, sessions,
	// pending logins, replay records, IdP groups (and their memberships) and group
	// mappings, and reports what went.
	DeleteSSOConnection(ctx context.Context, actor core.Actor, orgID, id string) (SSODeletion, error)
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
	// EndSession ends a live or expired session and writes its logout audit event
	// (sso.logout, with details) in the same transaction, returning the session
	// as it was; an unknown hash is core.ErrNotFound.
	EndSession(ctx context.Context, idHash string, details map[string]any) (Session, error)
	// EndSAMLSessions ends a connection's sessions that came from the IdP session
	// a LogoutRequest names: the NameID and, when sessionIndexes is not empty, one
	// of those SessionIndexes. Each ended session audits sso.logout in the same
	// transaction. It returns how many ended; none is not an error.
	EndSAMLSessions(ctx context.Context, connectionID, nameID string, sessionIndexes []string, details map[string]any) (int, error)

	// SaveSAMLRequest records a pending AuthnRequest.
	SaveSAMLRequest(ctx context.Context, r SAMLRequest) error
	// TakeSAMLRequest removes and returns the live pending request of a
	// connection's RelayState hash with that purpose (SAMLLogin or SAMLLogout);
	// missing, expired or of the other purpose is core.ErrNotFound.
	TakeSAMLRequest(ctx context.Context, connectionID, purpose, relayHash string, now time.Time) (SAMLRequest, error)
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
	// PruneSSO deletes expired sessions, requests, states, replay records and
	// sign-in links.
	PruneSSO(ctx context.Context, now time.Time) error

	// ListIdPCertificates lists the certificates and keys an org's identity
	// providers published (connectionID "" for every connection of the org):
	// listed ones first, soonest to expire first, then retired ones, newest
	// first. The admin pages show them and warn before expiry (ExpiresWithin).
	ListIdPCertificates(ctx context.Context, orgID, connectionID string) ([]IdPCertificate, error)
	// ClaimSSORefreshes takes the connections whose scheduled refresh is due at
	// now, moving their next refresh to now+lease so no other instance takes
	// them meanwhile; each is claimed by one caller. Connections never refreshed
	// are due at once.
	ClaimSSORefreshes(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]SSOConnection, error)
	// RecordSSORefresh stores the outcome of a refresh attempt and its next time.
	RecordSSORefresh(ctx context.Context, connectionID string, r SSORefreshResult) error
	// GetSSORefresh returns a connection's refresh state, or core.ErrNotFound
	// when it was never scheduled.
	GetSSORefresh(ctx context.Context, orgID, connectionID string) (SSORefresh, error)
}

var _ SSO = (*SQL)(nil)
