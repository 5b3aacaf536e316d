package sso

import (
	"context"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Identity is what a connector learned about the person who logged in, normalized
// across protocols and identity providers.
type Identity struct {
	// Subject is the IdP's stable id of the person (SAML NameID, OIDC sub).
	Subject       string
	Email         string
	EmailVerified bool
	// EmailFromUPN says the email was read from a sign-in name (a UPN,
	// preferred_username) the admin mapped as the email: it is accepted only in
	// the connection's domains.
	EmailFromUPN bool
	// EmailSource names the attribute or claim the email came from.
	EmailSource string
	UserName    string // empty: the email
	GivenName   string
	FamilyName  string
	DisplayName string // empty: given and family name
	// Groups are the values of the connection's groups attributes or claims, in
	// the form the connection asks for (as sent, last path segment, or CN).
	Groups []string
	// GroupsOverage, when set, says the IdP sent a pointer to the groups instead
	// of the groups (Entra's groups overage indicator) and how: Groups is then
	// empty, and the login takes the groups from the SCIM directory the connection
	// is linked to, or is refused.
	GroupsOverage string
	// SAML is the assertion's subject and SessionIndex (SAML logins only), kept
	// with the session for single logout.
	SAML store.SAMLSubject
}

// Connector is one SSO connection able to log people in. It is a marker; what a
// connector can do is said by the capability interfaces below.
type Connector interface {
	// ConnectionID is the id of the connection the connector serves.
	ConnectionID() string
}

// RedirectConnector logs in through a browser redirect and a callback (OIDC).
type RedirectConnector interface {
	Connector
	// LoginURL is where to send the browser, carrying state, nonce and the PKCE
	// challenge of verifier.
	LoginURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// HandleCallback checks the callback request (code exchange, ID token) against
	// the nonce and verifier of the login it answers.
	HandleCallback(ctx context.Context, r *http.Request, nonce, verifier string) (Identity, error)
}

// SAMLConnector logs in through a SAML AuthnRequest and an HTTP-POST response.
type SAMLConnector interface {
	Connector
	// AuthnRequest returns the HTTP-Redirect URL of a new AuthnRequest and its id.
	AuthnRequest(relayState string) (redirectURL, requestID string, err error)
	// HandlePOST checks a posted SAMLResponse. inResponseTo holds the id of the
	// request it must answer; empty means unsolicited (IdP-initiated), accepted only
	// when the connection allows it.
	HandlePOST(ctx context.Context, r *http.Request, inResponseTo []string) (Identity, error)
}
