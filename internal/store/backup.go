package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Backup writes a consistent copy of a SQLite database to path while the server
// runs. VACUUM INTO reads one snapshot (WAL readers never block the writer) and
// writes a compact, self-contained file. PostgreSQL is backed up with pg_dump.
func (s *SQL) Backup(ctx context.Context, path string) error {
	if s.dialect != SQLite {
		return errors.New("backup: only SQLite databases are backed up by gatehouse; use pg_dump for PostgreSQL")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// The copy holds what the database holds: it is created empty, readable by its
	// owner only, and VACUUM INTO (which accepts an empty file) fills it in place,
	// keeping the mode. O_EXCL refuses an existing file without a race.
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("backup: %s already exists; choose a new file", path)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		os.Remove(abs)
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return checkSQLiteFile(ctx, abs)
}

// checkSQLiteFile opens a SQLite file on its own and runs PRAGMA integrity_check.
func checkSQLiteFile(ctx context.Context, path string) error {
	db, err := sqlx.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var res []string
	if err := db.SelectContext(ctx, &res, `PRAGMA integrity_check`); err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if len(res) != 1 || res[0] != "ok" {
		return fmt.Errorf("check %s: integrity_check: %s", path, strings.Join(res, "; "))
	}
	var n int
	if err := db.GetContext(ctx, &n, `SELECT COUNT(*) FROM schema_migrations`); err != nil {
		return fmt.Errorf("check %s: not a Gatehouse database: %w", path, err)
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check on a SQLite database file.
func IntegrityCheck(ctx context.Context, path string) error { return checkSQLiteFile(ctx, path) }

// Restore replaces the SQLite database at dsn with the backup file from. The
// server must be stopped: the backup is checked first, copied beside the target and
// renamed over it, so a failure leaves the old database in place.
func Restore(ctx context.Context, from, dsn string) error {
	path, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok || path == "" || path == ":memory:" {
		return errors.New("restore: only SQLite files are restored by gatehouse; use pg_restore/psql for PostgreSQL")
	}
	if err := checkSQLiteFile(ctx, from); err != nil {
		return fmt.Errorf("restore: the backup is not usable: %w", err)
	}
	src, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp := path + ".restore-tmp"
	if err := os.WriteFile(tmp, src, 0o600); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// The old WAL belongs to the old database; left beside the new file it would be
	// replayed into it.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			os.Remove(tmp)
			return fmt.Errorf("restore: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}
