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
// answers access checks, and never sees another organization's data; a refusal
// (403) carries the decision's reason and explanation. Changes go through the
// shared operations (package ops).
//
// Change management (proposals.go, access.go): proposals are opened, reviewed,
// withdrawn and reported on under /api/v1/proposals, a session acting as its
// person and an API token on behalf of the person it names. Every access change
// (grants, mappings, memberships, custom roles, org admins) takes ?dry_run=true
// and answers its diff instead of making it, and when the org requires a second
// org admin's approval it answers 202 with the proposal that holds it.
package api
