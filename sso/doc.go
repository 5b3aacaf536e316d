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
//	GET  /sso/oidc/{connection}/login        authorization code request with state, nonce, PKCE S256
//	GET  /sso/oidc/{connection}/callback     code exchange and ID token check
//	GET  /sso/logout                         asks to confirm; POST /sso/logout ends the session
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
// Both end in the same step: the user is found by email (or userName) in the
// connection's org, or created just in time unless the connection forbids it; a
// deactivated user is refused; group claims are checked first (checkGroups, and
// the connectors' checks for Entra's groups overage indicator and non-string OIDC
// values), so a refused login (groups_overage, bad_groups_claim, too_many_groups)
// changes nothing; the groups asserted become the user's IdP groups of
// that connection (store.SetConnectionGroups replaces those of the last login), so
// mapped user groups follow; a session row is written with the login's audit event.
// Every refusal is logged with its reason, audited, and shown as a plain page.
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
