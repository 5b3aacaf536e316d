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
// Every decision reads the org through the decision index (package
// decisions/index), the one source of the facts decisions are made from: the
// engine reads the org's last change number (store.Generations; an API token's
// authentication reads it once for its request), the index applies the changes it
// has not applied yet, and the question is answered from that view, by
// core.Decide. A change committed by any instance before that read is in the
// very next decision of every instance; a change no decision reads (a display
// name, a token's use) moves the change number but nothing the index holds. No
// answer and no failed lookup is kept: an unknown reference costs a map miss and
// nothing else, and the index's memory is bounded for the whole process
// (index.Options, serve's --decision-memory).
//
// Operations that decide inside their own transaction (a proposal's author and
// reviewers, an access change's preview) read the store in that transaction: they
// decide about a state not yet committed.
//
// Differ (diff.go) compares a user's facts before and after an access change:
// the roles gained and lost per environment (as the access matrix lists them)
// and the decisions on registered resources that flip (as /check answers them),
// the AccessDiff an access change's preview answers.
package decisions
