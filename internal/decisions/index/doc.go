// Package index is the decision index: each org's access graph held in memory,
// loaded once and then kept current from the org's change log, so that an access
// check gathers its core.Facts without a query.
//
// A View is one org's graph at one point of its change log: users (id, userName,
// email, active, org admin), user groups, direct memberships, IdP groups with
// their members, mappings resolved onto the IdP groups they match (store's rule:
// same directory or connection; by id, external id, or display name folded as the
// database's lower() folds), custom roles, workspaces with their environments,
// spaces and space assignments, grants with their environments, and resources by
// (workspace, type, application id). Ids are interned to dense integers; each
// user's memberships are sorted integer sets. Views are immutable and share what
// a change does not touch (persist.go), so readers never lock.
//
// Index.At(ctx, org, gen) returns a view holding at least the changes up to gen,
// the generation the caller just read. An org not loaded is loaded from all its
// rows, read in set reads that all see one state (store.SQL.ReadOrgAll). One
// behind reads the change-log events after its seq and, in the same read
// snapshot, the rows they name (store.OrgReader.Rows), and applies them (plan.go,
// apply.go). Rows are read in their final state, so a run of events is applied as
// one batch whatever their order. One caller per org applies; the others wait and
// share its view. An event the index does not know, or a log with a gap, makes it
// load the org afresh.
//
// View.FactsOf resolves a check's user and workspace references as the API does
// and returns their Facts. View.Facts equals store.Facts for the same state,
// except for what the index leaves out because it changes without changing a
// decision: timestamps, versions, descriptions, and a user's profile beyond
// userName and email. View.Version moves only when something the index holds
// changed, so a memo of answers keyed by it survives a display-name change, a
// token's use or a refused sign-in.
//
// Memory is bounded by Options.MaxBytes (after a load, and every so many
// catch-ups, orgs over an equal share of the bound are evicted first, then the
// least recently used) and Options.MaxIdle;
// View.SizeBytes estimates an org's share.
package index
