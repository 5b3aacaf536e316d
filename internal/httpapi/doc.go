// Package httpapi serves Gatehouse's JSON API under /api/v1 (the admin API and the
// access checks applications call) and its server-rendered admin pages.
//
// Every route is in one table (routes.go) and every handler has the shape
// func(w, r) error: one adapter renders errors as RFC 9457 problem+json with a
// client-safe detail and logs the cause with the request id. Callers authenticate
// with a bearer API token (which acts as an org admin of its org) or a browser
// session; every request is then authorized by the same decision code as access
// checks (core.Decide), and never sees another organization's data.
package httpapi
