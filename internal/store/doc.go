// Package store is Gatehouse's storage: the Store contract (one interface per
// aggregate) and its SQL implementation on SQLite (the embedded default) and
// PostgreSQL, through sqlx.
//
// Every change is one transaction that also appends its audit event. Uniqueness and
// referential integrity are the database's job (named constraints, composite foreign
// keys that keep rows inside their org and workspace); translate turns a violated
// constraint into a core sentinel error. Queries are written with ? placeholders and
// rebound per dialect. The conformance suite in storetest runs every behaviour on both
// backends.
package store
