// Package storetest gives tests a migrated store on every backend and holds the
// Store conformance suite.
//
// Other packages use NewSQLite, NewPostgres or Backends to get an isolated, migrated
// *store.SQL per test: a temporary SQLite file, or a fresh PostgreSQL schema (when
// GATEHOUSE_TEST_POSTGRES holds a DSN and the tests are not -short) dropped when the
// test ends. RunTests and RunConcurrencyTests run every Store behaviour against a
// backend; internal/store's own tests call them for SQLite (file and :memory:) and
// PostgreSQL.
package storetest
