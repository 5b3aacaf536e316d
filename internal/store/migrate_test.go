package store

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
)

func TestMigrationsForDialect(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"0001_core.sql":             {Data: []byte("core")},
		"0002_x.sql":                {Data: []byte("x both")},
		"0002_x.postgres.sql":       {Data: []byte("x pg")},
		"0003_y.sqlite.sql":         {Data: []byte("y sqlite")},
		"0003_y.sql":                {Data: []byte("y both")},
		"README.md":                 {Data: []byte("not a migration")},
		"0004_only_pg.postgres.sql": {Data: []byte("pg only")},
	}
	for d, want := range map[Dialect][]string{
		SQLite:   {"core", "x both", "y sqlite"},
		Postgres: {"core", "x pg", "y both", "pg only"},
	} {
		ms, err := migrationsFor(fsys, d)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.sql)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", d, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", d, got, want)
			}
		}
	}
}

// TestMigrateTwice: a second Migrate (a restart, a second instance) applies nothing;
// concurrent ones (several instances starting at once) apply each migration once.
func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	dsns := []string{"sqlite:" + filepath.Join(t.TempDir(), "m.db")}
	if dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES"); dsn != "" && !testing.Short() {
		dsns = append(dsns, pgSchema(t, dsn))
	}
	for _, dsn := range dsns {
		ctx := context.Background()
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			applied []string
		)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(ctx, dsn)
				if err != nil {
					t.Error(err)
					return
				}
				defer s.Close()
				vs, err := s.Migrate(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				applied = append(applied, vs...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(applied) != 1 || applied[0] != "0001_core" {
			t.Fatalf("applied %v, want 0001_core once", applied)
		}
	}
}
