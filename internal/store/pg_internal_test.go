package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/jmoiron/sqlx"
)

// pgSchema creates a fresh schema for an internal test and returns a DSN using it.
// (storetest.NewPostgres does the same for external tests; it cannot be imported here.)
func pgSchema(t testing.TB, dsn string) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "gh_" + hex.EncodeToString(b)
	db, err := sqlx.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sqlx.Open("pgx", dsn)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// TestPostgresPlansForValues: the main pool plans each statement for its values
// unless the DSN says otherwise (openPostgres), so a generic plan chosen without
// statistics cannot turn a filtered list into a walk of the directory; the key
// pool (SQL.gdb) plans once, unless the DSN says otherwise.
func TestPostgresPlansForValues(t *testing.T) {
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES not set")
	}
	ctx := context.Background()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, c := range []struct{ dsn, want, key string }{
		{dsn, "force_custom_plan", "auto"},
		{dsn + sep + "plan_cache_mode=auto", "auto", "auto"},
		{dsn + sep + "plan_cache_mode=force_custom_plan", "force_custom_plan", "force_custom_plan"},
	} {
		s, err := Open(ctx, c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		var got, key string
		if err := s.db.GetContext(ctx, &got, `SHOW plan_cache_mode`); err != nil {
			t.Fatal(err)
		}
		// The key pool (lanes, reads by a unique key) keeps PostgreSQL's default.
		if err := s.gdb.GetContext(ctx, &key, `SHOW plan_cache_mode`); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got != c.want || key != c.key {
			t.Errorf("plan_cache_mode = %q, key pool %q; want %q, %q", got, key, c.want, c.key)
		}
	}
}

// TestPostgresAnalyzesAsUsersGrow: the users the store inserts start an ANALYZE of
// the users tables at analyzeFirst and at every doubling (analyzer), so plans made
// generically (the key pool's, the foreign-key checks') read the key rather than
// every user of the org while an IdP's first sync fills the tables.
func TestPostgresAnalyzesAsUsersGrow(t *testing.T) {
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES not set")
	}
	defer func(n int64) { analyzeFirst = n }(analyzeFirst)
	analyzeFirst = 20
	ctx := context.Background()
	s := openMigrated(t, pgSchema(t, dsn))
	sys := core.Actor{Kind: core.ActorSystem}
	o, _, err := s.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.example.com")
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.EnsureDirectory(ctx, sys, o.ID, "okta")
	if err != nil {
		t.Fatal(err)
	}
	dir := core.Actor{Kind: core.ActorSCIM, ID: d.ID, Name: "okta"}
	analyzed := func() (n int64) {
		t.Helper()
		// reltuples is the row count of the table's last ANALYZE (0 or -1 before).
		if err := s.db.GetContext(ctx, &n, `SELECT reltuples::bigint FROM pg_class WHERE oid = 'users'::regclass`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	create := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			u := SCIMUser{User: core.User{OrgID: o.ID, UserName: fmt.Sprintf("u%d@acme.example.com", i), Active: true, DirectoryID: d.ID},
				Emails: []SCIMEmail{{Value: fmt.Sprintf("u%d@acme.example.com", i), Primary: true}}}
			if _, err := s.SCIMCreateUser(ctx, dir, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	wait := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if analyzed() >= want {
				return
			}
		}
		t.Fatalf("users analyzed at %d rows, want at least %d", analyzed(), want)
	}
	// The org's admin is the first user inserted; an ANALYZE started by an insert
	// sees the users committed before it.
	create(0, 18)
	time.Sleep(200 * time.Millisecond)
	if n := analyzed(); n > 0 {
		t.Fatalf("analyzed (%d rows) before %d users were inserted", n, analyzeFirst)
	}
	create(18, 19)
	wait(19)
	create(19, 39)
	wait(39)
}
