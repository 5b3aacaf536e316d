package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestSQLiteReaderPool: every connection of a SQLite file's reader pool is read-only
// and has readerCacheKiB of page cache; the writer keeps SQLite's default.
func TestSQLiteReaderPool(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.rdb == s.db {
		t.Fatal("a SQLite file has no reader pool of its own")
	}
	// Hold every connection of the pool at once, so each is asked.
	for i := range sqliteReaders {
		c, err := s.rdb.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var cache, readOnly int
		if err := c.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil || cache != -readerCacheKiB {
			t.Errorf("reader %d: cache_size %d (%v), want %d", i, cache, err, -readerCacheKiB)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA query_only`).Scan(&readOnly); err != nil || readOnly != 1 {
			t.Errorf("reader %d: query_only %d (%v), want 1", i, readOnly, err)
		}
	}
	var cache int
	if err := s.db.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil || cache != -2000 {
		t.Errorf("writer: cache_size %d (%v), want SQLite's default -2000", cache, err)
	}
}
