// Package secrets seals the secrets Gatehouse must be able to read back (OIDC client
// secrets, SAML SP private keys, webhook signing secrets) with AES-256-GCM under the
// server's secret key, and loads that key.
//
// Secrets that are only ever compared (bearer tokens, session ids) are hashed by the
// store instead; a sealed secret is for one the server itself must use, such as a
// webhook secret it signs deliveries with. Every sealed value carries a label (an
// object's id and field) as additional data, so it cannot be copied to another
// object or field and still open.
package secrets
