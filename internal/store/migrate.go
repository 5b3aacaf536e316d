package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/gatehouse-dev/gatehouse/migrations"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// migration is one numbered file, chosen for the dialect.
type migration struct {
	version string // "0001_core"
	sql     string
}

// migrationsFor lists the embedded migrations for a dialect, in order. A file
// NNNN_name.DIALECT.sql replaces NNNN_name.sql on that dialect.
func migrationsFor(fsys fs.FS, d Dialect) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	chosen := map[string]string{} // version → file
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		base := strings.TrimSuffix(name, ".sql")
		version, dialect, hasDialect := strings.Cut(base, ".")
		switch {
		case !hasDialect:
			if _, ok := chosen[version]; !ok {
				chosen[version] = name
			}
		case Dialect(dialect) == d:
			chosen[version] = name
		}
	}
	var out []migration
	for version, file := range chosen {
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate applies every embedded migration not yet applied, each in its own
// transaction, and returns the versions it applied. Concurrent callers (several
// instances starting at once) are serialized: on PostgreSQL by an advisory lock.
func (s *SQL) Migrate(ctx context.Context) ([]string, error) {
	return s.migrateFS(ctx, migrations.FS, "")
}

// migrateFS applies migrations from fsys up to and including upTo ("" for all).
func (s *SQL) migrateFS(ctx context.Context, fsys fs.FS, upTo string) ([]string, error) {
	ms, err := migrationsFor(fsys, s.dialect)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if s.dialect == Postgres {
		const lockKey = 7_245_310_991 // any constant shared by every Gatehouse instance
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey) //nolint:errcheck
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT   NOT NULL PRIMARY KEY,
		applied_at BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var applied []string
	for _, m := range ms {
		if upTo != "" && m.version > upTo {
			break
		}
		t, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.version, err)
		}
		var n int
		if err := t.GetContext(ctx, &n, t.Rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version); err != nil {
			t.Rollback() //nolint:errcheck
			return applied, fmt.Errorf("migrate %s: %w", m.version, err)
		}
		if n > 0 {
			t.Rollback() //nolint:errcheck
			continue
		}
		if _, err := t.ExecContext(ctx, m.sql); err != nil {
			t.Rollback() //nolint:errcheck
			return applied, fmt.Errorf("migrate %s: %w", m.version, err)
		}
		if _, err := t.ExecContext(ctx, t.Rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), m.version, s.now()); err != nil {
			t.Rollback() //nolint:errcheck
			return applied, fmt.Errorf("migrate %s: record: %w", m.version, err)
		}
		if err := t.Commit(); err != nil {
			return applied, fmt.Errorf("migrate %s: commit: %w", m.version, err)
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}
