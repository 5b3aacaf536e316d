// Package store is Gatehouse's storage: the Store contract (one interface per
// aggregate) and its SQL implementation on SQLite (the embedded default) and
// PostgreSQL, through sqlx.
//
// Every change is one transaction that also appends its audit event. Uniqueness and
// referential integrity are the database's job (named constraints, composite foreign
// keys that keep rows inside their org and workspace); translate turns a violated
// constraint into a core sentinel error whose text names no table, constraint or
// SQLSTATE. Queries are written with ? placeholders and rebound per dialect. The
// conformance suite in storetest runs every behaviour on both backends.
//
// Files are named after what they store: the contract in store.go (one interface
// per aggregate) and the optional contracts beside it in scim.go, sso.go and
// ratelimit.go; one file per aggregate (orgs.go, users.go, groups.go, idpgroups.go,
// directories.go, workspaces.go, resources.go, mappings.go, roles.go, grants.go,
// tokens.go, sso_sql.go, audit.go, webhooks.go, proposals.go), each holding every
// path that reads or writes its tables, SCIM's and the batch set reads included;
// access.go the reads decisions make (Facts, FactsMany and the derived
// memberships); preview.go the bounded reads of an access change's preview
// (a sample of a group's members, where groups act); generations.go the per-org change
// counter; filter.go the SCIM Filter and its compilation to SQL; sql.go, helpers.go
// and batch.go (SQLite's group commit) the transaction machinery.
//
// Memberships through IdP groups are not stored: they are derived, whenever they
// are read, from IdP group members and the mapping rules, so an IdP's change shows
// in the very next decision.
//
// One write path per table. Whichever edge changes a table (the API, the pages, the
// CLI, SCIM, SSO logins) goes through the same transaction-level mutators: users
// through insertUser, lockUser + updateUser and deleteUser; IdP groups through
// insertIdPGroup, lockIdPGroup + updateIdPGroup, bumpIdPGroup (the version of a
// group whose members alone changed) and deleteIdPGroup; their members through
// addIdPMembers, removeIdPMembers and removeAllIdPMembers. The org's last active admin is kept by one rule,
// keepActiveAdmin, which deactivation, deletion and removal of the role all call, and
// every read-modify-write locks its row with the one forUpdate.
//
// The change log. Every change appends one audit event with the org's next Seq
// (Changes reads them in order; OrgGeneration is the last Seq). A reader that keeps
// derived state (the decision index, webhooks) learns from an event what changed
// without reading the whole object. For memberships this is a contract, written by
// membersChanged: group.member.add and group.member.remove (a user group's direct
// members), idp_group.members.change (the API) and idp_group.create and
// idp_group.update (SCIM, whose PATCH, PUT and create carry members) name the users
// whose membership in the target group changed in "add_user_ids" and
// "remove_user_ids" (all of them, up to 1,000), or say "members_reload": true (more
// than 1,000, or a replacement whose difference was not computed), and the reader
// then re-reads the group's members. user.idp_groups.set (an SSO login) changes only
// the memberships of its target user in the groups of its connection_id. Deletions
// (user.delete, group.delete, idp_group.delete, sso_connection.delete) take every
// membership of their target with them.
//
// Proposals (proposals.go) are change management's record: each transition is a
// conditional UPDATE on the proposal's state with its audit event (proposal.*), so
// racing reviewers give one outcome. A WithTx inside an operation is a savepoint:
// an access change's preview makes the change, measures it and takes it back.
//
// Concurrency. On PostgreSQL each change is a READ COMMITTED transaction: read-
// modify-write locks its row (forUpdate: FOR NO KEY UPDATE, which leaves foreign-key
// inserts free), org-wide invariants (the last active org admin) lock the org row, and a
// transaction aborted as a deadlock or serialization failure is run again a few
// times. The org's change counter is locked from its audit event to the commit, so
// the org's changes commit one after the other: the event is the change's last
// statement, one statement with the counter's bump, and a member change of a SCIM
// group locks the group only in that statement (bumpIdPGroup), after its member
// rows. Statements are planned for their values (plan_cache_mode=force_custom_plan):
// a generic plan picks an index by shape, which without statistics reads the whole
// directory. Statements by a unique key, whose plan is the same for every value (the
// lanes' changes; a token, user or group read by its key), run on a second pool that
// plans them once (SQL.gdb), its connections renewed every minute. SQLite has a single writer connection; changes that arrive while a commit
// is under way are committed together in the next transaction, each inside its own
// savepoint (group commit: a failing change undoes only itself, none is reported
// before the commit). Reads on a SQLite file use a separate pool of query_only
// connections, which WAL lets run beside the writer. SQLite pools keep prepared
// statements per query text.
package store
