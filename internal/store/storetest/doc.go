// Package storetest holds the conformance suite of the store contract and gives tests
// a migrated store on every backend.
//
// RunTests and RunConcurrencyTests run every behaviour of Contract (store.Store and
// the SCIM, SSO, Batches, Generations and RateLimits contracts beside it) against a
// backend, in dex's shape: they take a NewStore, which opens a fresh, empty store
// whose clock the cases drive, and know nothing else of the backend. Besides each
// method's happy path and errors they check that nothing of one org is visible from
// another, that a failed change writes nothing, that every mutator of a table that
// decisions read moves the org's generation (and a failed one does not), and that the
// change log's membership events let a reader follow every group's members.
// internal/store's own tests run the suite on SQLite (file and :memory:) and
// PostgreSQL through WithClock.
//
// Other packages use NewSQLite, NewPostgres or Backends to get an isolated, migrated
// *store.SQL per test: a temporary SQLite file, or a fresh PostgreSQL schema (when
// GATEHOUSE_TEST_POSTGRES holds a DSN and the tests are not -short) dropped when the
// test ends.
package storetest
