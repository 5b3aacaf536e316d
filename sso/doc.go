// Package sso logs employees in to Gatehouse through their company's identity
// provider, with SAML 2.0 (github.com/crewjam/saml) or OpenID Connect
// (github.com/coreos/go-oidc/v3 and golang.org/x/oauth2), and keeps their browser
// sessions.
//
// # Routes
//
// Handler.Mount registers:
//
//	GET  /sso/login                          email form; POST routes the email's domain to its connection
//	GET  /sso/saml/{connection}/metadata     SP metadata for the IdP admin
//	GET  /sso/saml/{connection}/login        SP-initiated login: HTTP-Redirect AuthnRequest
//	POST /sso/saml/{connection}/acs          HTTP-POST response (SP- or, if allowed, IdP-initiated)
//	GET|POST /sso/saml/{connection}/slo      single logout: the IdP's LogoutRequest, or its LogoutResponse to ours
//	GET  /sso/oidc/{connection}/login        authorization code request with state, nonce, PKCE S256
//	GET  /sso/oidc/{connection}/callback     code exchange and ID token check
//	GET  /sso/logout                         asks to confirm; POST /sso/logout ends the session (then SAML single logout)
//
// Handler.Session authenticates a request's session for the other edges: the stack
// hands the handler to the JSON API (whose GET /api/v1/me shows the session's user,
// groups and roles) and to the admin pages.
//
// # State machine of a login
//
// SAML SP-initiated: /login stores (hash of RelayState → AuthnRequest id, return_to,
// hash of a browser-binding value) in SQL, sets the binding value in a cookie named
// after the RelayState and scoped to the ACS (SameSite=None; Secure over https), and
// redirects to the IdP. The IdP posts to /acs; the RelayState's row is taken
// (deleted) atomically, so its request id is the only InResponseTo accepted, once.
// Over https the binding cookie must match, or the response is refused
// (saml_browser_mismatch): an attacker cannot finish their own login in a victim's
// browser. Over plain http browsers drop SameSite=None cookies without Secure, so a
// missing cookie is accepted there and Mount warns at startup. crewjam's ParseResponse checks the signature (response or assertion, by a
// key in the IdP metadata), issuer, destination, recipient, audience, time window
// and InResponseTo against the handler's clock; each assertion id is recorded in
// SQL (primary key) and a second use is refused. IdP-initiated: a response with no
// tracked RelayState is accepted only when the connection allows it, and then only
// if it carries no InResponseTo; its RelayState, if a local path, is the landing page.
//
// OIDC: /login stores (hash of state → nonce, PKCE verifier, return_to) in SQL and
// puts the state in a cookie scoped to the connection's path, which binds the login
// to the browser. /callback requires the state to match the cookie, takes the row
// (once), exchanges the code with the verifier, and verifies the ID token (signature
// by the provider's JWKS, issuer, audience, expiry) and its nonce.
//
// What a login reads is the connection's mapping (store.ClaimMapping: the
// attributes or claims holding the email, user name, names and groups, each
// tried in order, with protocol defaults; Settings.Apply fills it from a preset
// such as okta, entra or adfs, and CheckConnection keeps it coherent). Group
// values may be cut to a path's last segment or a DN's CN. An email read from a
// sign-in name (upn, preferred_username) is accepted only in the connection's
// domains. OIDC connections ask for extra scopes (Okta's groups), read userinfo
// when the ID token lacks the email, groups or names (refusing if it then
// fails, so groups are never dropped), and may require Google's hd claim.
//
// Both end in the same step: the user is found by email (or userName) in the
// connection's org, or created just in time unless the connection forbids it; a
// deactivated user is refused; group claims are checked first (checkGroups, and
// the connectors' checks for non-string OIDC values), so a refused login
// (bad_groups_claim, too_many_groups) changes nothing; the groups asserted become
// the user's IdP groups of that connection (store.SetConnectionGroups replaces
// those of the last login), so mapped user groups follow; a session row is written
// with the login's audit event, which says where the groups came from.
//
// Entra's groups overage (a pointer to Microsoft Graph instead of the groups) is
// marked on the Identity (GroupsOverage), never read as "no groups". Through a
// connection linked to a SCIM directory, a user that directory owns signs in with
// the groups the directory provisioned for them
// (store.SetConnectionGroupsFromDirectory, one transaction); anyone else is
// refused (groups_overage_not_provisioned) before a user is created or adopted,
// and without a linked directory the login is refused (groups_overage) with a page
// that prints the command linking one.
// Every refusal is logged with its reason, audited, and shown as a plain page.
//
// # Single logout
//
// A SAML session keeps the assertion's NameID and SessionIndex. POST
// /sso/logout ends the Gatehouse session, then (when the IdP's metadata offers
// single logout) sends a signed LogoutRequest over HTTP-Redirect, or HTTP-POST,
// whose id waits in sso_saml_requests (purpose logout) for the IdP's
// LogoutResponse at /slo. An IdP's LogoutRequest at /slo (signature, issuer,
// destination, time and replay checked) ends the connection's sessions of that
// NameID (and SessionIndex) and is answered with a signed LogoutResponse.
// AuthnRequests are signed when the IdP's metadata asks (WantAuthnRequestsSigned).
// A per-connection clock-skew allowance (at most 5 minutes) re-checks a response
// refused only for its time with the clock moved by the allowance.
//
// # Lifecycle
//
// Refresher (started by serve) fetches each connection's IdP metadata (SAML) or
// discovery document and JWKS (OIDC) on a schedule, claiming each connection in
// SQL so one instance does it; when what the IdP publishes changed it updates
// the connection (new version), so every instance rebuilds its connector. The
// certificates and keys are recorded with their expiry
// (store.ListIdPCertificates), retired when no longer listed: the trust follows
// the metadata, with no grace period.
//
// Every request to an identity provider (metadata, discovery, JWKS, token,
// userinfo; from setup, logins and the Refresher) is made by a client whose
// dialer applies the Network policy (internal/netpolicy) after resolution and
// on every redirect: org admins set these URLs, and must not make the server
// reach its own network. The zero Network reaches public addresses only.
//
// # Sessions
//
// The cookie holds 32 random bytes; the database stores only their SHA-256. The
// lookup joins the user and requires users.active, so deactivation by SCIM or an
// admin ends every session at once, on every instance sharing the database. Idle
// and absolute timeouts are checked in the same query.
//
// Connectors (one per connection: a crewjam ServiceProvider or a go-oidc provider)
// are built on first use and cached by connection version, so a changed connection
// (gatehouse sso update, e.g. RefreshSAMLMetadata after an IdP key rotation) is
// rebuilt on the next request, on every instance. Handler.Connectors replaces them in tests
// (package ssotest logs in without an identity provider or a browser).
//
// Expired sessions, pending requests, OIDC states and replay records are deleted
// inline, at most every ten minutes per instance, when a login starts. Connection secrets (OIDC client secret, SAML SP
// private key) are sealed with AES-256-GCM by Box under the server's secret key.
package sso
