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

// TestPostgresPlansForValues: the pool plans each statement for its values unless
// the DSN says otherwise (openPostgres), so a generic plan chosen without
// statistics cannot turn a userName lookup into a walk of the directory.
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
	for _, c := range []struct{ dsn, want string }{
		{dsn, "force_custom_plan"},
		{dsn + sep + "plan_cache_mode=auto", "auto"},
	} {
		s, err := Open(ctx, c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := s.db.GetContext(ctx, &got, `SHOW plan_cache_mode`); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got != c.want {
			t.Errorf("plan_cache_mode = %q, want %q", got, c.want)
		}
	}
}
