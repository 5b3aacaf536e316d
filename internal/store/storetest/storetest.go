package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/jmoiron/sqlx"
)

// PostgresEnv names the environment variable holding a PostgreSQL DSN for tests.
const PostgresEnv = "GATEHOUSE_TEST_POSTGRES"

// Backend is a way to get a fresh, migrated store for one test.
type Backend struct {
	Name string
	New  func(testing.TB) *store.SQL
}

// Backends lists SQLite, and PostgreSQL when GATEHOUSE_TEST_POSTGRES is set (its New
// skips the test under -short).
func Backends() []Backend {
	bs := []Backend{{Name: "sqlite", New: NewSQLite}}
	if os.Getenv(PostgresEnv) != "" {
		bs = append(bs, Backend{Name: "postgres", New: NewPostgres})
	}
	return bs
}

// NewSQLite returns a migrated store on a new SQLite file in t's temporary directory.
func NewSQLite(t testing.TB) *store.SQL {
	t.Helper()
	return open(t, "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"))
}

// NewSQLiteMemory returns a migrated store on a private in-memory SQLite database.
func NewSQLiteMemory(t testing.TB) *store.SQL {
	t.Helper()
	return open(t, "sqlite::memory:")
}

// NewPostgres returns a migrated store in a new schema gh_<random> of the database
// named by GATEHOUSE_TEST_POSTGRES, dropped when the test ends. Several test
// processes share that database, so nothing else is touched. It skips the test when
// the variable is unset or under -short.
func NewPostgres(t testing.TB) *store.SQL {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		t.Skip(PostgresEnv + " is not set")
	}
	if testing.Short() {
		t.Skip("PostgreSQL tests are skipped under -short")
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "gh_" + hex.EncodeToString(b)
	admin, err := sqlx.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer admin.Close()
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		db, err := sqlx.Open("pgx", dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	// Registered after the schema's cleanup, so the store closes before the drop.
	return open(t, dsn+sep+"search_path="+url.QueryEscape(schema))
}

func open(t testing.TB, dsn string) *store.SQL {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}
