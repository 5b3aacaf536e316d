// Package scim is Gatehouse's SCIM 2.0 service (RFC 7643/7644), which Okta and
// Microsoft Entra ID use to provision users and groups into an organization.
//
// # Routes
//
// Handler.Mount serves everything under /scim/v2/:
//
//	GET    /ServiceProviderConfig, /Schemas[/{urn}], /ResourceTypes[/{name}]
//	GET    /Users, /Groups               list: filter, startIndex, count, attributes, excludedAttributes
//	POST   /Users/.search, /Groups/.search
//	POST   /Users, /Groups               create (201, Location, ETag); /Users may adopt (below)
//	GET    /Users/{id}, /Groups/{id}     read (ETag; If-None-Match → 304)
//	PUT    /Users/{id}, /Groups/{id}     replace (If-Match → 412 when stale)
//	PATCH  /Users/{id}, /Groups/{id}     users answer 200 + resource, groups 204
//	DELETE /Users/{id}, /Groups/{id}     204
//
// Every request needs "Authorization: Bearer <secret>" of a SCIM token
// (store.Authenticate); the token names one directory of one org, and every read and
// write is scoped to that directory: it sees only the users and groups it owns
// (store.SCIM). A request without a valid token is 401 in
// SCIM error JSON. Unknown query parameters, such as the ?aadOptscim062020 flag Entra
// admins append to the tenant URL, are ignored. Bodies may be application/scim+json or
// application/json and are capped (Handler.MaxBody, 413 beyond).
//
// # How elimity-com/scim is used, and why not its Server
//
// The attribute definitions (core User, enterprise extension, Group) come from
// github.com/elimity-com/scim/schema: /Schemas serves them, and the PATCH and
// normalization code reads types, multi-valuedness, mutability and caseExact from
// them. Errors are its errors.ScimError (status as a string, as Okta's SPEC test
// checks). Filters and PATCH paths are parsed with github.com/scim2/filter-parser/v2,
// the parser elimity uses. The request handling itself is ours, not elimity's
// Server, because the real IdP dialects fail its validation (Entra's "True"/"False"
// strings, path-less maps with dotted and URN keys, Okta's read-only id in a reconcile
// PATCH, "$ref": null, Entra's remove-members-by-value), its server offers no ETags,
// no If-Match/If-None-Match, no attributes/excludedAttributes on GET and no body cap,
// and turning its lenient mode on means flipping the library-wide global
// schema.SetAllowStringValues. This package flips no global.
//
// # Dialects
//
// Tolerant on input, strict on output:
//   - op is compared case-insensitively (Entra's Add/Replace/Remove).
//   - Booleans accept "True"/"False" strings (schema-aware: only boolean attributes),
//     also inside path filters such as roles[primary eq "True"].
//   - A path-less add/replace takes an object whose keys are paths: plain, dotted
//     ("name.givenName") or URN-qualified; read-only and unknown keys are skipped.
//   - attr[filter].sub works on add, replace and remove; add on a filter matching
//     nothing creates the entry the filter describes; replace on it is 400 noTarget.
//   - manager may be a bare id or an object.
//   - Group members: add [{"value":id}] (with or without "$ref": null); remove by
//     members[value eq "id"] (or-joined), or Entra's remove with path "members" and a
//     value list, which removes only those members; remove "members" without a value
//     removes all; replace sets the list. All member operations of one request fold
//     into one delta (store.MemberChange), whose cost is proportional to the members
//     it names. Members of type "Group" are refused (flat groups).
//   - Filters accept Entra's unquoted values (externalId eq jyoung) and its
//     emails[type eq "work"].value eq "x" form; parseFilter rewrites both.
//   - Okta's password on create is dropped, never stored; Entra's extra group schema
//     URN and meta in bodies are accepted and ignored.
//
// # Storage
//
// Users are core users (source scim, their directory set) and SCIM groups are core
// IdP groups of the directory, so group mappings turn them into user-group
// membership, and deactivation (active=false) or deletion acts on access at once. The
// whole user resource as sent is kept as JSON; the attributes filters run on are
// columns, and emails have their own table (store.SCIM). Filter text is parsed here
// (filter.go) into the store's typed expression, store.Filter, over a fixed set of
// attributes, which the store compiles to SQL with bind parameters only; what
// either cannot express is 400 invalidFilter. No request loads all users or all
// members of a group: lists page in SQL with an exact COUNT, and group members are
// streamed.
//
// # Adoption
//
// POST /Users of a userName the org already has (case-insensitively) adopts that
// user when they are local or a connection's and the userName's domain is one of
// the directory's (verified, when the org requires it): 201 with the existing id,
// the request's attributes applied as a create's, the directory the owner, audited
// user.adopted (store.SCIM.SCIMCreateUser, one transaction). This is how Okta links
// the admin made by org create. Any other taken userName, another directory's user
// or the directory's own, is the usual 409 uniqueness.
//
// Every error becomes SCIM error JSON in toSCIMError; an unexpected error is logged
// and answered with a generic 500.
package scim
