package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// TestGenerationReaderRaw: on a SQLite file the reader reads on a connection of
// its own, below database/sql, and falls back to its prepared statement while that
// connection is busy. Either way every read sees every change committed before
// it, an org that never changed reads 0, and the kept connection holds no snapshot
// between reads: a full checkpoint right after a read is not blocked by it.
func TestGenerationReaderRaw(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	g, err := s.NewGenerationReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.raw == nil || g.WatchesContext() {
		t.Fatalf("a SQLite file's reader: raw connection %v, watches its context %v", g.raw != nil, g.WatchesContext())
	}
	if v, err := g.OrgGeneration(ctx, "no-such-org"); v != 0 || err != nil {
		t.Fatalf("an org that never changed: %d, %v", v, err)
	}
	sys := core.Actor{Kind: core.ActorSystem}
	o, _, err := s.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		busy := i%2 == 1
		if busy {
			g.rawMu.Lock() // a read under way on the raw connection: the statement reads
		}
		if _, err := s.CreateGroup(ctx, sys, core.UserGroup{OrgID: o.ID, Name: "g" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
		want, err := s.OrgGeneration(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.OrgGeneration(ctx, o.ID)
		if busy {
			g.rawMu.Unlock()
		}
		if err != nil || got != want {
			t.Fatalf("read %d (raw busy %v): %d, %v; want %d", i, busy, got, err, want)
		}
		var blocked, logFrames, done int
		if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&blocked, &logFrames, &done); err != nil || blocked != 0 {
			t.Fatalf("checkpoint after read %d: blocked %d, %v: a reader holds a snapshot", i, blocked, err)
		}
	}
	var mapped int64
	if err := g.raw.conn.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&mapped); err != nil || mapped != genMmapSize {
		t.Fatalf("the raw connection maps %d bytes of the file (%v), want %d", mapped, err, genMmapSize)
	}
	// The file shrinks under the map (VACUUM after deleting most of it): the
	// reader still reads the current value.
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE filler (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO filler SELECT randomblob(4096) FROM n`); err != nil {
		t.Fatal(err)
	}
	if _, err := g.OrgGeneration(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `DROP TABLE filler`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, sys, core.UserGroup{OrgID: o.ID, Name: "after-vacuum"}); err != nil {
		t.Fatal(err)
	}
	want, _ := s.OrgGeneration(ctx, o.ID)
	if got, err := g.OrgGeneration(ctx, o.ID); err != nil || got != want {
		t.Fatalf("after the file shrank: %d, %v; want %d", got, err, want)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.OrgGeneration(ctx, o.ID); err == nil {
		t.Fatal("a closed reader read")
	}
}

// TestGenerationReaderMemory: an in-memory database has one connection, which the
// reader must not keep.
func TestGenerationReaderMemory(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	g, err := s.NewGenerationReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.raw != nil {
		t.Fatal("the reader keeps the in-memory database's one connection")
	}
	if _, _, err := s.CreateOrg(ctx, core.Actor{Kind: core.ActorSystem}, "acme", "Acme", "admin@acme.test"); err != nil {
		t.Fatal(err)
	}
}
