package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/jmoiron/sqlx"
)

// slugRE is the shape of org and workspace slugs: they appear in URLs and CLI flags.
var slugRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$|^[a-z0-9]$`)

// validSlug checks a slug: lowercase letters, digits and dashes, 1 to 63 characters,
// not starting or ending with a dash.
func validSlug(kind, slug string) error {
	if !slugRE.MatchString(slug) {
		return core.Invalidf("%s slug %q is not valid: use 1 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit", kind, slug)
	}
	return nil
}

// validName checks a human name: not blank, at most max characters.
func validName(kind, name string, max int) error {
	if strings.TrimSpace(name) == "" {
		return core.Invalidf("%s must not be empty", kind)
	}
	if utf8.RuneCountInString(name) > max {
		return core.Invalidf("%s is longer than %d characters", kind, max)
	}
	return nil
}

// limit returns the page size to use: Limit, or MaxLimit when it is unset or too big.
func (p Page) limit() int {
	if p.Limit <= 0 || p.Limit > MaxLimit {
		return MaxLimit
	}
	return p.Limit
}

// notFound names what was not found, wrapping core.ErrNotFound.
func notFound(kind, id string) error {
	return fmt.Errorf("%s %q: %w", kind, id, core.ErrNotFound)
}

// orNotFound turns sql.ErrNoRows into a named not-found error.
func orNotFound(err error, kind, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(kind, id)
	}
	return err
}

// wrapf adds context to a translated error: "user name \"x\": already exists".
func (s *SQL) wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, s.translate(err))...)
}

// forUpdate is the one row lock of the store, appended to the SELECT of a
// read-modify-write (and of lockOrg). SQLite has one writer, so nothing to lock;
// PostgreSQL takes a row lock that still lets foreign keys reference the row
// (inserting a member key-share-locks its group and user). In a join, of names the
// tables whose rows are locked.
func (t *tx) forUpdate(of ...string) string {
	if t.s.dialect != Postgres {
		return ""
	}
	if len(of) > 0 {
		return " FOR NO KEY UPDATE OF " + strings.Join(of, ", ")
	}
	return " FOR NO KEY UPDATE"
}

// execIn runs a statement with IN (?) lists, expanded by sqlx.In, and returns the
// rows it affected. Its text varies with the lists' lengths, so it is not prepared.
func (t *tx) execIn(ctx context.Context, query string, args ...any) (int64, error) {
	q, a, err := sqlx.In(query, args...)
	if err != nil {
		return 0, err
	}
	res, err := t.execRaw(ctx, q, a...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// inIDs is the condition that col is one of ids, as one parameter (and the
// parameter): `col IN (SELECT value FROM json_each(?))` on SQLite, the list a JSON
// array; `col = ANY(?)` on PostgreSQL, a text[]. The statement's text then does not
// vary with the list's length, unlike an IN (?) list expanded by sqlx.In, so it is
// prepared once (tx.stmt) instead of parsed and planned on every run, and does not
// crowd the statement caches with one entry per length.
func (s *SQL) inIDs(col string, ids []string) (string, any, error) {
	if s.dialect == Postgres {
		return col + ` = ANY(?)`, ids, nil
	}
	b, err := jsonMarshal(ids)
	return col + ` IN (SELECT value FROM json_each(?))`, string(b), err
}

// selIn runs a query with one IN (?) list, expanded by sqlx.In. An empty list selects nothing.
func (t *tx) selIn(ctx context.Context, dest any, query string, args ...any) error {
	q, a, err := sqlx.In(query, args...)
	if err != nil {
		return err
	}
	return t.sel(ctx, dest, q, a...)
}

// nullStr stores an empty string as NULL (optional references and external ids).
func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// dedupe returns ids without blanks and repeats, in first-seen order.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// chunks splits ids so that no statement exceeds the drivers' parameter limits.
func chunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// likeEscape escapes LIKE wildcards so a search string matches literally (ESCAPE '\').
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func isNotFound(err error) bool { return errors.Is(err, core.ErrNotFound) }

// readOne runs one single-row query outside a transaction: the hot lookups (a user by
// userName, a token by hash) need no snapshot across statements. On SQLite the
// statement is prepared once per reader connection and kept.
func (s *SQL) readOne(ctx context.Context, dest any, query string, args ...any) error {
	if s.bound != nil {
		return s.translate(s.bound.get(ctx, dest, query, args...))
	}
	if s.rstmts == nil {
		return s.translate(s.rdb.GetContext(ctx, dest, s.rdb.Rebind(query), args...))
	}
	ctx = context.WithoutCancel(ctx) // see sqliteRead
	st, err := s.rstmts.get(ctx, query)
	if err != nil || st == nil {
		return s.translate(s.rdb.GetContext(ctx, dest, s.rdb.Rebind(query), args...))
	}
	return s.translate(st.GetContext(ctx, dest, args...))
}

// sqliteRead: on SQLite, readOne and sel1 do not watch their context. A context
// that can be cancelled (every request's) costs two goroutines per statement,
// database/sql's watcher and the driver's, as much as an indexed read itself (a
// SCIM lookup is two: the token and the user), while it buys nothing here: a
// read of the reader pool never waits for the writer in WAL mode, and one
// statement over one directory ends on its own. Across a network (PostgreSQL)
// the deadline stays, so an outage fails the read instead of hanging it.
//
// get1 and sel1 run one read statement outside a transaction (readOne's rule): a
// lone SELECT is consistent by itself, and on SQLite the BEGIN/COMMIT pair around it
// cost as much as the indexed lookup. On SQLite the statement comes from the
// reader pool's statement cache (bounded; filter texts of one shape share one entry).
func (s *SQL) get1(ctx context.Context, dest any, query string, args ...any) error {
	return s.readOne(ctx, dest, query, args...)
}

// getKey is get1 for a statement by a unique key (a token by its hash, a user or a
// group by id): on PostgreSQL it runs on the key pool (SQL.gdb), where a statement
// run often is planned once.
func (s *SQL) getKey(ctx context.Context, dest any, query string, args ...any) error {
	if s.gdb == nil || s.bound != nil {
		return s.get1(ctx, dest, query, args...)
	}
	return s.translate(s.gdb.GetContext(ctx, dest, s.gdb.Rebind(query), args...))
}

func (s *SQL) sel1(ctx context.Context, dest any, query string, args ...any) error {
	rows, err := s.readRows(ctx, false, query, args...)
	if err != nil {
		return s.translate(err)
	}
	defer rows.Close()
	return s.translate(sqlx.StructScan(rows, dest))
}

// scanKey is getKey for a caller that names the places of the row's columns, in
// order: a statement by a unique key (a group, a user to update) without sqlx's
// reflection over a struct.
func (s *SQL) scanKey(ctx context.Context, dest []any, query string, args ...any) error {
	rows, err := s.readRows(ctx, true, query, args...)
	if err != nil {
		return s.translate(err)
	}
	defer rows.Close()
	return s.translate(scanRow(rows, dest))
}

// scanRow scans the first row of rows into dest, in column order; no row is
// sql.ErrNoRows.
func scanRow(rows rowScanner, dest []any) error {
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	return rows.Scan(dest...)
}

// rows1 is sel1 for a caller that scans the rows itself: scan is called once per
// row. A long page (a group's members, thousands of rows) then skips sqlx's
// reflection, an eighth of a streamed group's cost.
func (s *SQL) rows1(ctx context.Context, scan func(*sql.Rows) error, query string, args ...any) error {
	rows, err := s.readRows(ctx, false, query, args...)
	return s.scanRows(rows, err, scan)
}

// readRows runs the read statement of sel1, rows1 and scanKey (readOne's rule):
// inside the bound transaction; else on PostgreSQL's key pool when key (getKey's
// pool), or on the reader pool, through SQLite's statement cache.
func (s *SQL) readRows(ctx context.Context, key bool, query string, args ...any) (*sql.Rows, error) {
	switch {
	case s.bound != nil:
		return s.bound.query(ctx, query, args...)
	case key && s.gdb != nil:
		return s.gdb.QueryContext(ctx, s.gdb.Rebind(query), args...)
	case s.rstmts != nil:
		ctx = context.WithoutCancel(ctx) // see sqliteRead
		if st, err := s.rstmts.get(ctx, query); err == nil && st != nil {
			return st.QueryContext(ctx, args...)
		}
	}
	return s.rdb.QueryContext(ctx, s.rdb.Rebind(query), args...)
}

// scanRows calls scan for each row of a query's outcome, and closes the rows.
func (s *SQL) scanRows(rows *sql.Rows, err error, scan func(*sql.Rows) error) error {
	if err != nil {
		return s.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.translate(err)
		}
	}
	return s.translate(rows.Err())
}

// stmtCache keeps prepared statements of a SQLite pool by query text; database/sql
// prepares each on a connection the first time it runs there and keeps it.
type stmtCache struct {
	db *sqlx.DB
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// maxStmts bounds a cache. The store's query texts are fixed but for IN lists,
// whose text varies with the list's length.
const maxStmts = 1024

func newStmtCache(db *sqlx.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sqlx.Stmt{}} }

func (c *stmtCache) lookup(query string) *sqlx.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// get returns the cached statement of query, preparing it if needed. The caller
// must hold no connection of the pool.
func (c *stmtCache) get(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st := c.lookup(query); st != nil {
		return st, nil
	}
	st, err := c.db.PreparexContext(ctx, c.db.Rebind(query))
	if err != nil {
		return nil, err
	}
	return c.keep(query, st), nil
}

// keep stores st unless another caller stored query first, and returns the cached one.
func (c *stmtCache) keep(query string, st *sqlx.Stmt) *sqlx.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[query]; ok || len(c.m) >= maxStmts || c.m == nil {
		st.Close()
		return old
	}
	c.m[query] = st
	return st
}

// learn prepares query texts a finished transaction met for the first time. A
// failure only means the next transaction prepares it again.
func (c *stmtCache) learn(ctx context.Context, queries []string) {
	for _, q := range queries {
		if c.lookup(q) != nil {
			continue
		}
		if st, err := c.db.PreparexContext(ctx, c.db.Rebind(q)); err == nil {
			c.keep(q, st)
		}
	}
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}
