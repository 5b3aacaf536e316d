// Package httpx is what Gatehouse's two HTTP edges, the JSON API (internal/api)
// and the admin pages (internal/web), share without importing each other: errors
// that carry a status and a client-safe detail, with the one mapping of core's
// sentinels and the authorizer's refusals to HTTP statuses; request ids; and the
// seams internal/server/stack wires from the sso edge, browser sessions and the
// SSO setup values, so that neither edge imports sso.
package httpx
