package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gatehouse-dev/gatehouse/migrations"
)

// migrationBackends opens an empty, unmigrated database per backend: SQLite always,
// PostgreSQL (in a schema of its own) when GATEHOUSE_TEST_POSTGRES is set.
func migrationBackends(t *testing.T) map[Dialect]*SQL {
	t.Helper()
	ctx := context.Background()
	out := map[Dialect]*SQL{}
	s, err := Open(ctx, "sqlite:"+t.TempDir()+"/m.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	out[SQLite] = s
	if pg := os.Getenv("GATEHOUSE_TEST_POSTGRES"); pg != "" && !testing.Short() {
		admin, err := Open(ctx, pg)
		if err != nil {
			t.Fatal(err)
		}
		schema := fmt.Sprintf("gh_mig_%d", time.Now().UnixNano())
		if _, err := admin.db.Exec(`CREATE SCHEMA ` + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); admin.Close() })
		p, err := Open(ctx, pg+"&search_path="+schema)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		out[Postgres] = p
	}
	return out
}

// TestUpgradeFromFirstMigration creates a database at the first migration, fills it
// as a release with only that migration would have, upgrades it to the latest, and
// checks that every row survived and the new schema works with it.
func TestUpgradeFromFirstMigration(t *testing.T) {
	ctx := context.Background()
	for d, s := range migrationBackends(t) {
		t.Run(string(d), func(t *testing.T) {
			applied, err := s.migrateFS(ctx, migrations.FS, "0001_core")
			if err != nil || len(applied) != 1 {
				t.Fatalf("migrate to 0001: %v %v", applied, err)
			}
			seed := []string{
				`INSERT INTO organizations (id, slug, name, created_at) VALUES ('o1', 'acme', 'Acme', 1)`,
				`INSERT INTO scim_directories (id, org_id, name, created_at) VALUES ('d1', 'o1', 'okta', 1)`,
				`INSERT INTO users (id, org_id, user_name, email, source, directory_id, created_at, updated_at) VALUES ('u1', 'o1', 'Ada@Acme.test', 'ada@acme.test', 'scim', 'd1', 1, 1)`,
				`INSERT INTO org_admins (org_id, user_id, created_at) VALUES ('o1', 'u1', 1)`,
				`INSERT INTO workspaces (id, org_id, slug, name, created_at) VALUES ('w1', 'o1', 'marketing', 'Marketing', 1)`,
				`INSERT INTO environments (id, workspace_id, name, position) VALUES ('e1', 'w1', 'development', 0)`,
				`INSERT INTO user_groups (id, org_id, name, created_at) VALUES ('g1', 'o1', 'Analysts', 1)`,
				`INSERT INTO idp_groups (id, org_id, directory_id, external_id, display_name, created_at, updated_at) VALUES ('i1', 'o1', 'd1', 'ext-1', 'Data', 1, 1)`,
				`INSERT INTO idp_group_members (org_id, idp_group_id, user_id, created_at) VALUES ('o1', 'i1', 'u1', 1)`,
				`INSERT INTO group_mappings (id, org_id, directory_id, idp_group, user_group_id, created_at) VALUES ('m1', 'o1', 'd1', 'Data', 'g1', 1)`,
				`INSERT INTO grants (id, org_id, user_group_id, workspace_id, builtin_role, created_at) VALUES ('gr1', 'o1', 'g1', 'w1', 'editor', 1)`,
				`INSERT INTO grant_environments (grant_id, workspace_id, environment_id) VALUES ('gr1', 'w1', 'e1')`,
				`INSERT INTO audit_events (id, org_id, at, actor_kind, action) VALUES ('a1', 'o1', 1, 'system', 'org.create')`,
			}
			for _, q := range seed {
				if _, err := s.db.ExecContext(ctx, q); err != nil {
					t.Fatalf("seed %q: %v", q, err)
				}
			}

			applied, err = s.Migrate(ctx)
			if err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			all, err := migrationsFor(migrations.FS, d)
			if err != nil {
				t.Fatal(err)
			}
			if len(applied) != len(all)-1 {
				t.Errorf("upgrade applied %v; want the %d migrations after 0001", applied, len(all)-1)
			}
			for table, want := range map[string]int{
				"organizations": 1, "users": 1, "org_admins": 1, "workspaces": 1, "environments": 1,
				"user_groups": 1, "idp_groups": 1, "idp_group_members": 1, "group_mappings": 1,
				"grants": 1, "grant_environments": 1, "audit_events": 1,
			} {
				var n int
				if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM `+table); err != nil {
					t.Fatalf("count %s: %v", table, err)
				}
				if n != want {
					t.Errorf("%s has %d rows after the upgrade; want %d", table, n, want)
				}
			}
			// A membership carries its user's display and directory (0022).
			var display, dir string
			if err := s.db.QueryRowContext(ctx, `SELECT member_display, member_directory_id FROM idp_group_members WHERE user_id = 'u1'`).Scan(&display, &dir); err != nil || display != "Ada@Acme.test" || dir != "d1" {
				t.Errorf("membership after the upgrade: display %q, directory %q, %v; want the userName and d1", display, dir, err)
			}
			// The upgraded schema still enforces the old rules on the old rows.
			if _, err := s.db.ExecContext(ctx, `INSERT INTO users (id, org_id, user_name, source, created_at, updated_at) VALUES ('u2', 'o1', 'ADA@acme.TEST', 'scim', 1, 1)`); err == nil {
				t.Error("a case-variant duplicate userName was accepted after the upgrade")
			}
			// And a second run is a no-op.
			if again, err := s.Migrate(ctx); err != nil || len(again) != 0 {
				t.Errorf("second migrate: %v %v; want nothing applied", again, err)
			}
		})
	}
}

// TestFailedMigrationLeavesNothing shows that a migration runs in one transaction:
// a file failing halfway applies none of its statements and is not recorded.
func TestFailedMigrationLeavesNothing(t *testing.T) {
	ctx := context.Background()
	fsys := fstest.MapFS{
		"0001_a.sql": {Data: []byte(`CREATE TABLE t1 (id TEXT PRIMARY KEY);`)},
		"0002_b.sql": {Data: []byte(`CREATE TABLE t2 (id TEXT PRIMARY KEY); INSERT INTO t1 (id) VALUES ('x'); INSERT INTO no_such_table VALUES (1);`)},
	}
	for d, s := range migrationBackends(t) {
		t.Run(string(d), func(t *testing.T) {
			applied, err := s.migrateFS(ctx, fsys, "")
			if err == nil {
				t.Fatal("a broken migration succeeded")
			}
			if len(applied) != 1 || applied[0] != "0001_a" {
				t.Fatalf("applied %v; want only 0001_a", applied)
			}
			var n int
			if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM t1`); err != nil || n != 0 {
				t.Errorf("t1 rows = %d (%v); the failed migration's insert must be rolled back", n, err)
			}
			if _, err := s.db.ExecContext(ctx, `SELECT 1 FROM t2`); err == nil {
				t.Error("t2 exists; the failed migration's CREATE must be rolled back")
			}
			if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM schema_migrations`); err != nil || n != 1 {
				t.Errorf("schema_migrations has %d rows (%v); want 1", n, err)
			}
		})
	}
}

// TestMigrationNames keeps the migration directory orderly: NNNN_name[.dialect].sql,
// one number per migration.
func TestMigrationNames(t *testing.T) {
	entries, err := migrations.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^(\d{4})_[a-z0-9_]+(\.(sqlite|postgres))?\.sql$`)
	names := map[string]string{}
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("migration %s: name must be NNNN_name.sql or NNNN_name.{sqlite,postgres}.sql", e.Name())
			continue
		}
		base := e.Name()[:len(e.Name())-len(m[2])-len(".sql")]
		if prev, ok := names[m[1]]; ok && prev != base {
			t.Errorf("migrations %s and %s share number %s", prev, base, m[1])
		}
		names[m[1]] = base
	}
}

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
		d := SQLite
		if !strings.HasPrefix(dsn, "sqlite:") {
			d = Postgres
		}
		ms, err := migrationsFor(migrations.FS, d)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, v := range applied {
			seen[v]++
		}
		for _, m := range ms {
			if seen[m.version] != 1 {
				t.Fatalf("%s: %s applied %d times by three instances, want once", d, m.version, seen[m.version])
			}
		}
		if len(applied) != len(ms) {
			t.Fatalf("%s: applied %v", d, applied)
		}
	}
}
