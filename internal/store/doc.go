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
// Memberships through IdP groups are not stored: they are derived, whenever they
// are read, from IdP group members and the mapping rules, so an IdP's change shows
// in the very next decision.
//
// Concurrency. On PostgreSQL each change is a READ COMMITTED transaction: read-
// modify-write locks its row (FOR NO KEY UPDATE, which leaves foreign-key inserts
// free), org-wide invariants (the last active org admin) lock the org row, and a
// transaction aborted as a deadlock or serialization failure is run again a few
// times. SQLite has a single writer connection; changes that arrive while a commit
// is under way are committed together in the next transaction, each inside its own
// savepoint (group commit: a failing change undoes only itself, none is reported
// before the commit). Reads on a SQLite file use a separate pool of query_only
// connections, which WAL lets run beside the writer. SQLite pools keep prepared
// statements per query text.
package store
