// Package api serves Gatehouse's JSON API under /api/v1: the admin API, the access
// checks applications call (POST /api/v1/check and its batch) and GET /api/v1/me.
//
// Every route is a row of one table (routes.go) that says what it requires of the
// caller: nothing, a person's browser session, any member of the org, or an org
// admin. Each resource's handlers live in a file of its own (users.go, groups.go,
// workspaces.go, grants.go, …); openapi.go documents every route, and
// TestOpenAPICoversEveryRoute fails when the table and the document disagree.
//
// Handlers have the shape func(w, r) error: one adapter renders errors as RFC 9457
// problem+json with a client-safe detail (httpx.Status) and logs the cause with the
// request id. Callers authenticate with a bearer API token (which acts as an org
// admin of its org) or a browser session (httpx.Sessions, wired by the stack). Every
// request is authorized by the one authorizer (decisions.Engine), the same that
// answers access checks, and never sees another organization's data. Changes go
// through the shared operations (package ops).
package api
