package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestBackupWhileWriting backs up a SQLite database while another connection keeps
// writing, restores the copy, and checks that it is intact and holds a prefix of the
// writes: a consistent snapshot, not a torn file.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "live.db")
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, err := s.DB().ExecContext(ctx, `INSERT INTO organizations (id, slug, name, created_at) VALUES (?, ?, ?, 0)`,
				store.NewID(), fmt.Sprintf("org-%d", i), "Org")
			if err != nil {
				t.Errorf("insert: %v", err)
				return
			}
			written.Add(1)
		}
	}()
	for written.Load() < 200 {
	}

	// A second process's view: the backup opens its own store, as the CLI does.
	b, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if err := b.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	b.Close()
	close(stop)
	wg.Wait()

	if err := b.Backup(ctx, backup); err == nil {
		t.Error("backup over an existing file succeeded; want a refusal")
	}

	restored := "sqlite:" + filepath.Join(dir, "restored.db")
	if err := store.Restore(ctx, backup, restored); err != nil {
		t.Fatal(err)
	}
	if err := store.IntegrityCheck(ctx, filepath.Join(dir, "restored.db")); err != nil {
		t.Fatal(err)
	}
	r, err := store.Open(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int64
	if err := r.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM organizations`); err != nil {
		t.Fatal(err)
	}
	if n < 200 || n > written.Load() {
		t.Errorf("restored %d orgs; want between 200 and %d", n, written.Load())
	}
	// A snapshot holds a prefix of the writes: org-0 … org-(n-1), no gaps.
	var maxSlug int64
	if err := r.DB().GetContext(ctx, &maxSlug, `SELECT MAX(CAST(substr(slug, 5) AS INTEGER)) FROM organizations`); err != nil {
		t.Fatal(err)
	}
	if maxSlug != n-1 {
		t.Errorf("restored orgs are not a prefix: %d rows, highest org-%d", n, maxSlug)
	}
}

func TestRestoreRefusesABadBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.db")
	if err := writeFile(bad, "not a database"); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target.db")
	if err := writeFile(target, "keep me"); err != nil {
		t.Fatal(err)
	}
	if err := store.Restore(ctx, bad, "sqlite:"+target); err == nil {
		t.Fatal("restore of a non-database succeeded")
	}
	if got := readFile(t, target); got != "keep me" {
		t.Errorf("a failed restore changed the target: %q", got)
	}
	if err := store.Restore(ctx, bad, "postgres://x/y"); err == nil {
		t.Error("restore to PostgreSQL succeeded; want a pointer to pg_restore")
	}
}
