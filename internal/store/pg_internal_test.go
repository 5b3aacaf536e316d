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

// acmeOkta creates org acme, its admin its first user, and its directory okta.
func acmeOkta(t *testing.T, s *SQL) (core.Org, core.Directory) {
	t.Helper()
	ctx, sys := context.Background(), core.Actor{Kind: core.ActorSystem}
	o, _, err := s.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.example.com")
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.EnsureDirectory(ctx, sys, o.ID, "okta")
	if err != nil {
		t.Fatal(err)
	}
	return o, d
}

// analyzerStore opens a store on a fresh PostgreSQL schema whose analyzer starts
// at 20 inserted rows (analyzeFirst); it skips without GATEHOUSE_TEST_POSTGRES.
func analyzerStore(t *testing.T) *SQL {
	t.Helper()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES not set")
	}
	old := analyzeFirst
	analyzeFirst = 20
	t.Cleanup(func() { analyzeFirst = old })
	return openMigrated(t, pgSchema(t, dsn))
}

// createUsers creates the users u{from}…u{to-1}@acme.example.com of directory d,
// each with that address as primary email, one SCIM create at a time, and returns
// their ids.
func createUsers(t *testing.T, s *SQL, d core.Directory, from, to int) []string {
	t.Helper()
	dir := core.Actor{Kind: core.ActorSCIM, ID: d.ID, Name: d.Name}
	var ids []string
	for i := from; i < to; i++ {
		name := fmt.Sprintf("u%d@acme.example.com", i)
		u, err := s.SCIMCreateUser(context.Background(), dir, SCIMUser{User: core.User{OrgID: d.OrgID, UserName: name, Active: true, DirectoryID: d.ID},
			Emails: []SCIMEmail{{Value: name, Primary: true}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	return ids
}

// analyzedRows is the row count of table's last ANALYZE (pg_class.reltuples: 0 or
// -1 before the first).
func analyzedRows(t *testing.T, s *SQL, table string) (n int64) {
	t.Helper()
	if err := s.db.GetContext(context.Background(), &n, `SELECT reltuples::bigint FROM pg_class WHERE oid = $1::regclass`, table); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitAnalyzed waits up to 20 s for an ANALYZE of table to have counted want rows
// or more (the analyzer runs it in the background).
func waitAnalyzed(t *testing.T, s *SQL, table string, want int64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if analyzedRows(t, s, table) >= want {
			return
		}
	}
	t.Fatalf("%s analyzed at %d rows, want at least %d", table, analyzedRows(t, s, table), want)
}

// notAnalyzedYet fails when table was analyzed, after leaving a background
// ANALYZE that should not have started 200 ms to show.
func notAnalyzedYet(t *testing.T, s *SQL, table string) {
	t.Helper()
	time.Sleep(200 * time.Millisecond)
	if n := analyzedRows(t, s, table); n > 0 {
		t.Fatalf("%s analyzed (%d rows) before %d were inserted", table, n, analyzeFirst)
	}
}

// TestPostgresAnalyzesAsUsersGrow: the users the store inserts start an ANALYZE of
// the users tables at analyzeFirst and at every doubling (analyzer), so plans made
// generically (the key pool's, the foreign-key checks') read the key rather than
// every user of the org while an IdP's first sync fills the tables.
func TestPostgresAnalyzesAsUsersGrow(t *testing.T) {
	s := analyzerStore(t)
	_, d := acmeOkta(t, s)
	// The org's admin is the first user inserted; an ANALYZE started by an insert
	// sees the users committed before it.
	createUsers(t, s, d, 0, 18)
	notAnalyzedYet(t, s, "users")
	createUsers(t, s, d, 18, 19)
	waitAnalyzed(t, s, "users", 19)
	createUsers(t, s, d, 19, 39)
	waitAnalyzed(t, s, "users", 39)
}

// TestPostgresLookupPoolFollowsStatistics: a directory's userName eq lookup runs on
// the key pool (planned once) only while PostgreSQL holds statistics of users from
// keyPlanRows rows or more, or the table is small (analyzer.planOnce): never on a large
// table before its first ANALYZE, as after a restore. On either pool a token's lookup answers alike, a hit or a miss,
// and proves the token (live, then revoked).
func TestPostgresLookupPoolFollowsStatistics(t *testing.T) {
	s := analyzerStore(t)
	defer func(k float64, b, sl int64) {
		keyPlanRows, smallUsersBytes, smallSlack = k, b, sl
	}(keyPlanRows, smallUsersBytes, smallSlack)
	keyPlanRows, smallUsersBytes = 20, 0 // no table is small
	s.analyze.users.next.Store(1 << 40)  // no ANALYZE but the test's own
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem}
	o, d := acmeOkta(t, s)
	tok, _, err := s.CreateToken(ctx, sys, o.ID, TokenSCIM, "okta", d.ID)
	if err != nil {
		t.Fatal(err)
	}
	createUsers(t, s, d, 0, 30)
	lookups := func(keyPool, revoked bool) {
		t.Helper()
		s.analyze.lookup.stale()
		if got := s.analyze.planOnce(ctx); got != keyPool {
			t.Fatalf("lookups on the key pool: %v, want %v", got, keyPool)
		}
		for _, c := range []struct {
			name string
			want int
		}{{"U7@acme.example.com", 1}, {"nobody@acme.example.com", 0}} {
			cctx, check := WithTokenCheck(ctx, tok.ID)
			us, n, err := s.SCIMListUsers(cctx, o.ID, d.ID, SCIMQuery{Filter: &FilterCompare{Attr: AttrUserName, Op: OpEq, Value: c.name}, StartIndex: 1, Count: 100})
			if err != nil || n != c.want || len(us) != c.want || (c.want == 1 && us[0].UserName != "u7@acme.example.com") {
				t.Fatalf("key pool %v: lookup %s: %d users (total %d), %v", keyPool, c.name, len(us), n, err)
			}
			if checked, live := check.Result(); !checked || live == revoked {
				t.Fatalf("key pool %v: lookup %s: token checked %v live %v, revoked %v", keyPool, c.name, checked, live, revoked)
			}
		}
	}
	// Never analyzed (reltuples -1): planned for the values, unless the table is
	// small.
	lookups(false, false)
	smallUsersBytes, smallSlack = 1<<20, 5
	lookups(true, false)
	// A small table's reading holds until this store inserted smallSlack users.
	smallUsersBytes = 0
	createUsers(t, s, d, 30, 34)
	if !s.analyze.planOnce(ctx) {
		t.Fatal("the reading of a small table was dropped before smallSlack users were inserted")
	}
	createUsers(t, s, d, 34, 35)
	if s.analyze.planOnce(ctx) {
		t.Fatal("the reading of a small table was kept after smallSlack users were inserted")
	}
	lookups(false, false)
	if _, err := s.db.ExecContext(ctx, `ANALYZE users`); err != nil {
		t.Fatal(err)
	}
	// Statistics of 36 rows (the admin and 35 users): on the key pool. Enough runs
	// that PostgreSQL makes its generic plan (after five).
	for range 4 {
		lookups(true, false)
	}
	if err := s.RevokeToken(ctx, sys, o.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	lookups(true, true)
	keyPlanRows = 1000
	lookups(false, true)
}

// TestPostgresAnalyzesAsMembersGrow: IdP group memberships the store inserts start
// an ANALYZE of idp_group_members at analyzeFirst and at every doubling, so a
// large group's member pages are planned with statistics.
func TestPostgresAnalyzesAsMembersGrow(t *testing.T) {
	s := analyzerStore(t)
	ctx := context.Background()
	s.analyze.users.next.Store(1 << 40) // memberships only
	o, d := acmeOkta(t, s)
	dir := core.Actor{Kind: core.ActorSCIM, ID: d.ID, Name: "okta"}
	ids := createUsers(t, s, d, 0, 40)
	g, err := s.SCIMCreateGroup(ctx, dir, SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "eng"}, ids[:18])
	if err != nil {
		t.Fatal(err)
	}
	notAnalyzedYet(t, s, "idp_group_members")
	// One member at a time, as an IdP's one-member PATCH adds them.
	for _, id := range ids[18:21] {
		if _, err := s.SCIMUpdateGroup(ctx, dir, o.ID, d.ID, g.ID, nil, MemberChange{Add: []string{id}}); err != nil {
			t.Fatal(err)
		}
	}
	waitAnalyzed(t, s, "idp_group_members", 19)
}
