// Package core is Gatehouse's governance domain: organizations, workspaces,
// environments, spaces, resources, users, IdP groups, group mappings, user groups,
// roles and grants, and the one function that decides what a user may do (Decide),
// with its explanation.
//
// Decide also states change management's rule: in an environment that requires
// approval, an allow of a change (create, edit, delete) is draft_only for
// everyone, because the change goes live only through an approved proposal.
//
// Core knows neither HTTP nor SQL. The store gathers the Facts a decision needs and
// enforces the model's invariants in its transactions; protocol edges (SCIM, SSO, the
// admin API) translate requests into store calls and decisions.
package core
