// Package decisions is Gatehouse's one authorizer and its decision engine. Every
// edge that decides asks it: the JSON API for each route, the admin pages, /me,
// /users/{id}/access and the access checks applications send (POST /api/v1/check
// and its batch).
//
// Engine.Authorize answers a Principal (an API token, which acts as an org admin,
// or a signed-in person) and a Request: reading the org, managing it (org admins
// only), reading a user's records or asking about their access (a person: their
// own only), seeing a workspace (where they hold a role; org admins see all), and
// any action inside a workspace, which core.Decide answers from the person's facts.
// Those are the only places the rules are written; core.Decide remains the one
// statement of the workspace rules.
//
// The engine reads an org's state through a Source at one generation of the org
// (store.Generations, moved by every change). Cache is today's Source: it keeps
// facts, lookups and answers per org and generation and forgets them when the
// generation moves; the decision index (package decisions/index) will take its
// place behind the same interface.
//
// Differ (diff.go) compares a user's facts before and after an access change:
// the roles gained and lost per environment (as the access matrix lists them)
// and the decisions on registered resources that flip (as /check answers them),
// the AccessDiff an access change's preview answers.
package decisions
