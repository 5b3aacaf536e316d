// Package ops holds the operations Gatehouse's edges share, each one function and
// one transaction (store.WithTx): the JSON API, the admin pages and the command
// line call the same function for the same change, so a rule and its steps are
// written once. An operation validates its input, runs its steps on the store the
// transaction is bound to, and returns core's sentinel errors (core.ErrInvalid
// with a message for people, core.ErrConflict, core.ErrNotFound, …), which each
// edge renders in its own format.
//
// Ops does not authorize: the edge asks the authorizer (package decisions) first.
// It does not resolve references either: edges turn a name or slug into an id.
//
// An edge's change goes here when it has more than one step, when a rule beyond
// the store's constraints applies, or when a second edge makes the same change;
// a lone store call with nothing to check may stay in its edge.
//
// Change management lives here (proposals.go, access.go). Propose, Review,
// Withdraw and Report move proposals; who may propose and who may review is
// core.Decide's answer about that person (the author's action, the reviewer's
// publish), read in the operation's own transaction and returned as a
// *decisions.Refused with its explanation when it does not allow. Every change to
// access (grants, mappings, memberships, custom roles, org admins) is an
// AccessChange: ChangeAccess makes it, or holds it as an access proposal when the
// org requires a second org admin (who approves it through Review, and then
// Gatehouse applies it in the approval's transaction); PreviewAccess makes it in
// a transaction, measures everyone's facts before and after, and rolls back.
package ops
