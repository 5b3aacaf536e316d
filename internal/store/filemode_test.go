package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestSQLiteFilesPrivate: the SQLite database, its -wal and -shm files and a backup
// are readable by their owner only (issue 9, finding 7: the file was created 0644,
// readable by every local account, with every session hash and sealed secret in
// it). SQLite only; PostgreSQL's files are the database server's.
func TestSQLiteFilesPrivate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.db")
	s, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO organizations (id, slug, name, created_at) VALUES (?, 'acme', 'Acme', 0)`, store.NewID()); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if err := s.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm", backup} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			t.Errorf("%s has mode %v; want no access for group and others (0600)", filepath.Base(f), m)
		}
	}
	// A failed backup leaves no file behind, and an existing file is refused and
	// left alone.
	if err := s.Backup(ctx, filepath.Join(dir, "no-such-dir", "b.db")); err == nil {
		t.Error("backup into a missing directory succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "taken.db"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, filepath.Join(dir, "taken.db")); err == nil {
		t.Error("backup over an existing file succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "taken.db")); string(b) != "keep" {
		t.Errorf("a refused backup changed the existing file: %q", b)
	}
}
