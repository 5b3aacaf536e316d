package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

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
