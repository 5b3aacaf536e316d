// Package migrations holds Gatehouse's versioned SQL migrations, embedded in the binary.
//
// Files are named NNNN_name.sql and applied in order, each in its own transaction, and
// recorded in the schema_migrations table. One text serves SQLite and PostgreSQL; a
// file named NNNN_name.postgres.sql or NNNN_name.sqlite.sql replaces NNNN_name.sql on
// that dialect only, where the two cannot share a statement. Migrations only move
// forward: a released file is never edited, a change is a new file.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
