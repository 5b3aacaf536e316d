package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

func init() {
	// modernc's driver is named "sqlite"; sqlx knows "sqlite3". Tell it the bind style.
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

// Dialect names the SQL backend.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// SQL is the Store on SQLite or PostgreSQL.
type SQL struct {
	db *sqlx.DB // the writer: on SQLite one connection, on PostgreSQL the pool
	// rdb serves read-only views. On a SQLite file it is a separate pool of
	// query_only connections (WAL lets readers run beside the one writer); elsewhere
	// it is db.
	rdb *sqlx.DB
	// gdb is PostgreSQL's second pool, whose sessions keep PostgreSQL's default
	// plan_cache_mode (auto: a prepared statement run often is planned once,
	// generically), where db and rdb plan every run for its values
	// (openPostgres). It serves statements by a unique key, which have one right
	// plan whatever the values: the lanes' changes (batcher: a row by its key, a
	// group's members by theirs, the change log) and the reads of a token by its
	// hash and of a user or a group by id (getKey), and a directory's userName eq
	// lookup when a generic plan of it is safe (analyzer.planOnce). Planning was
	// most of their cost in PostgreSQL, 0.1–0.7 ms of each statement, and in a
	// lane every statement runs after the one before. A generic plan is made from
	// the table's size when it is made: one made while a table was empty may read
	// a whole index for a key, and is kept until the table's next ANALYZE
	// (autovacuum's, after 10% of it changed, or the store's own, analyzer). The
	// pool's connections are therefore replaced every minute (gdbLifetime), so
	// such a plan lasts a minute at most even without autovacuum. nil elsewhere.
	gdb     *sqlx.DB
	dialect Dialect
	batch   *batcher // SQLite's group commit; nil on PostgreSQL
	// lanes are PostgreSQL's group commits, for changes of a known org (inOrgTx,
	// lane); nil on SQLite.
	lanes []*batcher
	ckpt  *checkpointer // a SQLite file's background checkpoints; nil otherwise
	// analyze runs ANALYZE of the users tables and of IdP group memberships as
	// this store fills them, and says when the userName eq lookup may be planned
	// once (planOnce) (PostgreSQL; nil on SQLite).
	analyze *analyzer
	// Prepared statements of the SQLite pools, by query text (nil on PostgreSQL,
	// whose driver caches its own). rstmts is wstmts when the pools are one.
	wstmts, rstmts *stmtCache
	// counts keeps list totals by org generation (listPage).
	counts *countCache
	// Now and NewID are injectable for tests; they default to time.Now and UUIDv7.
	Now   func() time.Time
	NewID func() string
	// bound is set on the Store that WithTx hands its function: every method then
	// runs inside that one transaction, each change in a savepoint of its own.
	bound *tx
}

var _ Store = (*SQL)(nil)

// Open connects to a DSN: "sqlite:PATH" (or "sqlite::memory:") or "postgres://…".
// It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*SQL, error) {
	var (
		db, rdb, gdb *sqlx.DB
		dialect      Dialect
		err          error
	)
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		dialect = SQLite
		db, err = openSQLite(strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		dialect = Postgres
		db, gdb, err = openPostgresPools(dsn)
	default:
		return nil, fmt.Errorf("unsupported database DSN %q: want sqlite:PATH or postgres://…", redactDSN(dsn))
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dialect, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pingWriter(pctx, db, dialect); err != nil {
		db.Close()
		if gdb != nil {
			gdb.Close()
		}
		return nil, fmt.Errorf("connect to %s database %s: %w", dialect, redactDSN(dsn), err)
	}
	rdb = db
	var ckdb *sqlx.DB
	if path := strings.TrimPrefix(dsn, "sqlite:"); dialect == SQLite && path != ":memory:" {
		// Opened after the writer's ping, so the file exists and is in WAL mode.
		rdb, err = openSQLiteReader(path)
		if err == nil {
			err = rdb.PingContext(pctx)
		}
		if err == nil {
			ckdb, err = openSQLiteCheckpointer(path)
		}
		if err != nil {
			db.Close()
			if rdb != nil {
				rdb.Close()
			}
			return nil, fmt.Errorf("open sqlite readers for %s: %w", path, err)
		}
	}
	s := &SQL{db: db, rdb: rdb, gdb: gdb, dialect: dialect, counts: &countCache{m: map[string]countAt{}}, Now: time.Now, NewID: NewID}
	if dialect == Postgres {
		for range pgLanes {
			s.lanes = append(s.lanes, &batcher{s: s, max: pgMaxBatch})
		}
		s.analyze = newAnalyzer(db)
	}
	if ckdb != nil {
		s.ckpt = newCheckpointer(ckdb)
	}
	if dialect == SQLite {
		s.batch = &batcher{s: s, max: maxBatch}
		s.wstmts = newStmtCache(db)
		s.rstmts = s.wstmts
		if rdb != db {
			s.rstmts = newStmtCache(rdb)
		}
	}
	return s, nil
}

// openPostgresPools opens PostgreSQL's two pools, the main one (SQL.db, which is
// also rdb) and the key pool (SQL.gdb): up to 64 connections to the server
// together.
func openPostgresPools(dsn string) (db, gdb *sqlx.DB, err error) {
	if db, err = openPostgres(dsn, "force_custom_plan"); err != nil {
		return nil, nil, err
	}
	if gdb, err = openPostgres(dsn, "auto"); err != nil {
		db.Close()
		return nil, nil, err
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	// A lane holds one connection, two while a batch commits beside the next one;
	// the key reads need about as many as the requests in flight.
	gdb.SetMaxOpenConns(32)
	gdb.SetMaxIdleConns(24)
	gdb.SetConnMaxLifetime(gdbLifetime)
	return db, gdb, nil
}

// gdbLifetime bounds how long a connection of the key pool, and the generic plans
// it made, lives.
const gdbLifetime = time.Minute

// openPostgres opens a pool with plan_cache_mode set to mode unless the DSN sets
// it. The main pool runs force_custom_plan: pgx prepares every statement, and after five runs PostgreSQL may plan
// one generically, for any parameter values: a filter then picks its index by the
// statement's shape rather than by the value's selectivity. Without statistics
// (before the table's first ANALYZE, as right after an IdP's first sync, or with
// autovacuum off) the generic plan of a userName eq lookup walks every user of the
// directory (670 ms at 100,000 users) where the custom plan reads one index entry.
// Planning each run costs 0.1–0.7 ms; the statements stay prepared. The key pool
// (SQL.gdb) runs auto, for statements that have one right plan.
func openPostgres(dsn, mode string) (*sqlx.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if _, ok := cfg.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.RuntimeParams["plan_cache_mode"] = mode
	}
	return sqlx.NewDb(stdlib.OpenDB(*cfg), "pgx"), nil
}

// pingWriter connects the writer pool. On SQLite it tries again while the file is
// busy: a connection's journal_mode(WAL) on a new file takes an exclusive lock, and
// SQLite refuses it at once, without waiting out busy_timeout, while another
// connection to the file holds a lock, as when several instances start on one file
// together (one of three did about one time in ten).
func pingWriter(ctx context.Context, db *sqlx.DB, dialect Dialect) error {
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if dialect != SQLite || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sqliteReaders is the size of the SQLite reader pool: enough for the SCIM load of
// one instance, few enough that each keeps its page cache warm.
const sqliteReaders = 8

// readerCacheKiB is the page cache of each reader connection (PRAGMA cache_size),
// twice SQLite's default of 2 MiB. The driver's SQLite is built with
// SQLITE_ENABLE_MEMORY_MANAGEMENT, so the connections' caches are one pool, and a
// busy reader borrows the pages of idle ones only while the pool has room: on a
// fresh server a GET of a 10,000-member group took 30 ms, and once every cache had
// filled (after one gatehouse-bench scim run) 90 ms, nearly one read of the file per
// member, its users' index and table pages no longer fitting. At 4 MiB it took 33 ms,
// and server RSS at 100,000 users stayed at 115 MB.
const readerCacheKiB = 4096

// openSQLiteReader opens the read-only pool on a SQLite file. query_only makes any
// write through it fail, so a read path that wrote by mistake is caught at once.
func openSQLiteReader(path string) (*sqlx.DB, error) {
	q := url.Values{}
	for _, p := range []string{"foreign_keys(1)", "busy_timeout(10000)", "query_only(1)", "cache_size(-" + strconv.Itoa(readerCacheKiB) + ")"} {
		q.Add("_pragma", p)
	}
	db, err := sqlx.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(sqliteReaders)
	db.SetMaxIdleConns(sqliteReaders)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}

func openSQLite(path string) (*sqlx.DB, error) {
	if path == "" {
		return nil, errors.New("sqlite DSN needs a path: sqlite:gatehouse.db")
	}
	if path != ":memory:" {
		if err := createPrivate(path); err != nil {
			return nil, err
		}
	}
	// Pragmas are set per connection through the DSN so every pooled connection has them.
	//
	// wal_autocheckpoint: the commit that takes the log past this many pages copies
	// what the checkpointer (checkpoint.go) has not yet copied into the database and
	// syncs both files (two fsyncs) while the single writer, and every change queued
	// behind it, waits. SQLite's default of 1,000 pages did that about once per
	// hundred created users; at 4,000 the fsyncs come a quarter as often. 4,000
	// frames (16 MB of log) still fit the first hash table of the log's index, so a
	// reader's lookup of a page in the log costs what it did.
	q := url.Values{}
	for _, p := range []string{"foreign_keys(1)", "busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "temp_store(MEMORY)", "wal_autocheckpoint(4000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // writers queue on BEGIN instead of failing on upgrade
	dsn := "file:" + path + "?" + q.Encode()
	if path == ":memory:" {
		// One shared in-memory database for the pool's single connection.
		dsn = "file::memory:?" + q.Encode()
	}
	db, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// SQLite has one writer; a single connection serializes writers without
	// SQLITE_BUSY storms and keeps :memory: one database.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// createPrivate creates a missing database file readable by its owner only (0600):
// it holds every user, session hash and sealed secret of the server. SQLite would
// create it 0644, and gives the -wal and -shm files it makes beside a database the
// database file's own mode, so they are 0600 too. An existing file keeps its mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, os.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("create sqlite database %s: %w", path, err)
	}
	return f.Close()
}

// redactDSN hides a password in a DSN so it never reaches a log or an error.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Dialect reports the backend.
func (s *SQL) Dialect() Dialect { return s.dialect }

// DB exposes the connection pool for tools (backup, metrics); the edges never use it.
func (s *SQL) DB() *sqlx.DB { return s.db }

// Ping checks that the database answers.
func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close releases the connections.
func (s *SQL) Close() error {
	s.analyze.close()
	err := s.ckpt.close()
	if s.rstmts != nil && s.rstmts != s.wstmts {
		err = errors.Join(err, s.rstmts.close())
	}
	if s.wstmts != nil {
		err = errors.Join(err, s.wstmts.close())
	}
	err = errors.Join(err, s.db.Close())
	if s.gdb != nil {
		err = errors.Join(err, s.gdb.Close())
	}
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// NewID returns a new UUIDv7: unique, and ordered by creation time.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// newSecret returns a random secret with a readable prefix.
func newSecret(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + hex.EncodeToString(b)
}

// micros and fromMicros convert times to the schema's Unix-microsecond BIGINTs.
func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func (s *SQL) now() int64 { return micros(s.Now()) }

// tx is a transaction with the store's helpers. Queries use ? placeholders and are
// rebound for the dialect.
type tx struct {
	*sqlx.Tx
	s *SQL
	// prepared holds the statements this transaction has used, by query text, on
	// SQLite, where parsing is a good part of a small statement's cost: each is the
	// pool's cached statement bound to the transaction or, the first time a query
	// text is seen, one prepared in the transaction and then learned by the cache
	// once the transaction is over (preparing on the pool meanwhile could wait for
	// a connection this very transaction holds). Nil on PostgreSQL.
	prepared map[string]*sqlx.Stmt
	cache    *stmtCache
	missed   []string
	// uncancelable: statements ignore their context's cancellation. A group-commit
	// transaction carries several callers' changes, and an interrupted SQLite write
	// rolls back the whole transaction, not just the caller's part (on PostgreSQL,
	// pgx closes the connection of an interrupted statement).
	uncancelable bool
	// deferred, when set (a batch, for a change of a known org), collects the
	// audit events of the transaction's changes instead of writing them: the batch
	// numbers and writes them all when its changes are done (writeAudit), so the
	// org's counter is locked only from then to the commit, and an event costs the
	// SQLite writer a row of a statement rather than a statement.
	deferred *[]auditEvent
	// conn is the connection of a batch's transaction on PostgreSQL, through which
	// pipeline sends statements without waiting for each answer.
	conn *sqlx.Conn
}

// ctx is the context a statement runs under.
func (t *tx) ctx(ctx context.Context) context.Context {
	if t.uncancelable {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (s *SQL) newTx(t *sqlx.Tx, cache *stmtCache) *tx {
	x := &tx{Tx: t, s: s, cache: cache}
	if cache != nil {
		x.prepared = map[string]*sqlx.Stmt{}
	}
	return x
}

// done hands the query texts first seen by the finished transaction to the cache.
func (t *tx) done(ctx context.Context) {
	if t.cache != nil {
		t.cache.learn(context.WithoutCancel(ctx), t.missed)
	}
}

// exec, get and sel run a fixed query text, prepared once per transaction. Queries
// whose text varies with their arguments (IN lists, multi-row VALUES) use the *Raw
// forms.
func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.ctx(ctx)
	st, err := t.stmt(ctx, query)
	if err != nil || st == nil {
		return t.execRaw(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (t *tx) get(ctx context.Context, dest any, query string, args ...any) error {
	ctx = t.ctx(ctx)
	st, err := t.stmt(ctx, query)
	if err != nil || st == nil {
		return t.GetContext(ctx, dest, t.Rebind(query), args...)
	}
	return st.GetContext(ctx, dest, args...)
}

func (t *tx) sel(ctx context.Context, dest any, query string, args ...any) error {
	ctx = t.ctx(ctx)
	st, err := t.stmt(ctx, query)
	if err != nil || st == nil {
		return t.selRaw(ctx, dest, query, args...)
	}
	return st.SelectContext(ctx, dest, args...)
}

// query runs a query in the transaction, prepared when the transaction prepares.
func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.ctx(ctx)
	if st, err := t.stmt(ctx, query); err == nil && st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.QueryContext(ctx, t.Rebind(query), args...)
}

// scanOne runs a query of one row and scans its columns into dest, in order:
// without sqlx's reflection over a struct (scanKey, in a transaction). No row is
// sql.ErrNoRows.
func (t *tx) scanOne(ctx context.Context, dest []any, query string, args ...any) error {
	return t.rows(ctx, func(rows rowScanner) error { return scanRow(rows, dest) }, query, args...)
}

// rows runs a query and hands its rows to scan.
func (t *tx) rows(ctx context.Context, scan func(rowScanner) error, query string, args ...any) error {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := scan(rows); err != nil {
		return err
	}
	return rows.Close()
}

func (t *tx) execRaw(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.ExecContext(t.ctx(ctx), t.Rebind(query), args...)
}

func (t *tx) selRaw(ctx context.Context, dest any, query string, args ...any) error {
	return t.SelectContext(t.ctx(ctx), dest, t.Rebind(query), args...)
}

// stmt returns query prepared for this transaction (closed with it), or nil when the
// transaction does not prepare. A failure to prepare falls back to the plain path,
// which reports the error.
func (t *tx) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if t.prepared == nil {
		return nil, nil
	}
	if st, ok := t.prepared[query]; ok {
		return st, nil
	}
	var st *sqlx.Stmt
	if shared := t.cache.lookup(query); shared != nil {
		st = t.StmtxContext(ctx, shared)
	} else {
		var err error
		if st, err = t.PreparexContext(ctx, t.Rebind(query)); err != nil {
			return nil, err
		}
		t.missed = append(t.missed, query)
	}
	t.prepared[query] = st
	return st, nil
}

// audit appends an audit event inside the transaction.
func (t *tx) audit(ctx context.Context, orgID string, actor core.Actor, action, targetKind, targetID string, details map[string]any) error {
	d := "{}"
	if len(details) > 0 {
		b, err := jsonMarshal(details)
		if err != nil {
			return err
		}
		d = string(b)
	}
	// Every change audits, so this is where the org's change log grows: the event
	// takes the next number of the org's counter, which caches compare to learn
	// that the org changed.
	id, at := t.s.NewID(), t.s.now()
	check := tokenCheckOf(ctx)
	if t.deferred != nil {
		// The batch proves the token live when it writes the events (writeAudit).
		*t.deferred = append(*t.deferred, auditEvent{orgID: orgID, id: id, at: at, actor: actor, action: action, targetKind: targetKind, targetID: targetID, details: d, check: check})
		return nil
	}
	var query string
	var args []any
	if t.s.dialect == Postgres {
		// One statement: the counter's row lock, which holds back the org's next
		// change until this one commits, is then held for this round trip and the
		// COMMIT only.
		query, args = pgAuditInsert, []any{orgID, id, orgID, at, string(actor.Kind), actor.ID, actor.Name, action, targetKind, targetID, d}
		if check != nil {
			query = pgAuditInsertChecked
		}
	} else {
		// SQLite: the event takes the counter's next number, and the trigger
		// audit_events_seq (0020) moves the counter to it, in this one statement.
		query, args = sqliteAuditInsert, []any{id, orgID, orgID, at, string(actor.Kind), actor.ID, actor.Name, action, targetKind, targetID, d}
		if check != nil {
			query = sqliteAuditInsertChecked
		}
	}
	if check == nil {
		_, err := t.exec(ctx, query, args...)
		return err
	}
	// A change by a token the edge did not authenticate first (TokenCheckedWrites)
	// is kept only if the token is live in this transaction: the event is written
	// only then, and without it the change fails and is undone.
	res, err := t.exec(ctx, query, append(args, check.id)...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	check.saw(n)
	if n != 1 {
		return errTokenNotLive
	}
	return nil
}

// errTokenNotLive fails a change whose TokenCheck found the token revoked or gone.
var errTokenNotLive = fmt.Errorf("token: %w", core.ErrNotFound)

// TokenCheckedWrites reports whether a change whose context carries a TokenCheck
// proves the token live in its own transaction, and fails, changing nothing, when
// it is not: true, as every change's audit event is written only while the token
// is live (tx.audit; in a batch, writeAudit). The check's Result
// then tells, as for a read; a change that wrote nothing (failed before its event,
// or changed nothing) proves nothing.
func (s *SQL) TokenCheckedWrites() bool { return true }

// pgAuditInsert writes an audit event with the org's next number (nextSeqSQL).
const pgAuditInsert = `WITH s AS (` + nextSeqSQL + `) ` + auditInsert + ` VALUES (?, ?, (SELECT generation FROM s), ?, ?, ?, ?, ?, ?, ?, ?)`

// pgAuditInsertChecked is pgAuditInsert that writes the event only if the token
// (the last argument) is live. A dead token's change fails, so the counter it moved
// goes back with it.
const pgAuditInsertChecked = `WITH s AS (` + nextSeqSQL + `) ` + auditInsert + ` SELECT ?, ?, (SELECT generation FROM s), ?::bigint, ?, ?, ?, ?, ?, ?, ?
	WHERE EXISTS (SELECT 1 FROM api_tokens WHERE id = ? AND revoked_at IS NULL)`

// sqliteAuditInsert writes an audit event numbered by the org's counter; the
// trigger audit_events_seq advances the counter to the event's seq.
const sqliteAuditInsert = auditInsert + ` VALUES (?, ?, COALESCE((SELECT generation FROM org_generations WHERE org_id = ?), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?)`

// sqliteAuditInsertChecked is sqliteAuditInsert that writes the event only if the
// token (the last argument) is live: neither revoked nor deleted.
const sqliteAuditInsertChecked = auditInsert + ` SELECT ?, ?, COALESCE((SELECT generation FROM org_generations WHERE org_id = ?), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?
	WHERE EXISTS (SELECT 1 FROM api_tokens WHERE id = ? AND revoked_at IS NULL)`

// auditEvent is an audit event of a batch (tx.deferred), written with its number
// when the batch ends (writeAudit).
type auditEvent struct {
	orgID, id                             string
	at                                    int64
	actor                                 core.Actor
	action, targetKind, targetID, details string
	check                                 *TokenCheck // the change's, if any
}

// writeAudit numbers and writes the events of a batch's changes, in their order,
// with one statement per org, in org id order: each advances the org's counter by
// its events at once, and holds its row lock until the batch commits. Taking the
// counters last, after every row lock of the batch, and in one order, means two
// batches never wait for each other's counters in a cycle.
//
// The same statement proves live the tokens of the events' TokenChecks: when one is
// revoked or gone, it writes nothing and returns it among dead, and the batch must
// be undone (finish).
func (t *tx) writeAudit(ctx context.Context, events []auditEvent) (dead []string, err error) {
	if t.s.dialect == SQLite {
		return t.writeAuditSQLite(ctx, events)
	}
	byOrg := map[string][]auditEvent{}
	var orgs []string
	for _, e := range events {
		if _, ok := byOrg[e.orgID]; !ok {
			orgs = append(orgs, e.orgID)
		}
		byOrg[e.orgID] = append(byOrg[e.orgID], e)
	}
	slices.Sort(orgs)
	for _, org := range orgs {
		es := byOrg[org]
		cols := make([][]string, 8) // the eight text columns, in writeAuditSQL's array order
		ats := make([]int64, len(es))
		for i, e := range es {
			ats[i] = e.at
			for j, v := range []string{e.id, string(e.actor.Kind), e.actor.ID, e.actor.Name, e.action, e.targetKind, e.targetID, e.details} {
				cols[j] = append(cols[j], v)
			}
		}
		if err := t.sel(ctx, &dead, writeAuditSQL, org, int64(len(es)), cols[0], ats, cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], checkedTokens(es)); err != nil {
			return nil, err
		}
		if len(dead) > 0 {
			return dead, nil
		}
	}
	return nil, nil
}

// writeAuditSQLite is writeAudit on SQLite, whose single writer holds every
// counter already: one statement finds the dead tokens; then each org's counter is
// read, and its events are inserted with the numbers that follow, several rows per
// statement, and the trigger audit_events_seq moves the counter to the last. A few
// statements per batch instead of one per change: the statement's round through
// database/sql and the driver, and the token's lookup, were a third of what an
// event cost the writer.
func (t *tx) writeAuditSQLite(ctx context.Context, events []auditEvent) (dead []string, err error) {
	if tokens := checkedTokens(events); len(tokens) > 0 {
		b, err := jsonMarshal(tokens)
		if err != nil {
			return nil, err
		}
		if err := t.sel(ctx, &dead, `SELECT value FROM json_each(?) WHERE NOT EXISTS (SELECT 1 FROM api_tokens a WHERE a.id = value AND a.revoked_at IS NULL)`, string(b)); err != nil || len(dead) > 0 {
			return dead, err
		}
	}
	// Events in org id order, each org's in their own: as on PostgreSQL.
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b auditEvent) int { return strings.Compare(a.orgID, b.orgID) })
	for len(sorted) > 0 {
		org := sorted[0].orgID
		n := 1
		for n < len(sorted) && sorted[n].orgID == org {
			n++
		}
		var seq int64
		if err := t.get(ctx, &seq, `SELECT COALESCE((SELECT generation FROM org_generations WHERE org_id = ?), 0)`, org); err != nil {
			return nil, err
		}
		for es := sorted[:n]; len(es) > 0; {
			// Rows by powers of two, at most auditRowsMax: a few statement texts,
			// each prepared once.
			k := auditRowsMax
			for k > len(es) {
				k /= 2
			}
			args := make([]any, 0, k*11)
			for _, e := range es[:k] {
				seq++
				args = append(args, e.id, org, seq, e.at, string(e.actor.Kind), e.actor.ID, e.actor.Name, e.action, e.targetKind, e.targetID, e.details)
			}
			if _, err := t.exec(ctx, auditRowsSQL(k), args...); err != nil {
				return nil, err
			}
			es = es[k:]
		}
		sorted = sorted[n:]
	}
	return nil, nil
}

// auditRowsMax is the most events one statement of writeAuditSQLite inserts.
const auditRowsMax = 32

// auditRowsSQL is the insert of n audit events, n a power of two up to auditRowsMax.
var auditRowsSQL = func() func(n int) string {
	texts := map[int]string{}
	for n := 1; n <= auditRowsMax; n *= 2 {
		texts[n] = auditInsert + ` VALUES ` + strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), `, n), `, `)
	}
	return func(n int) string { return texts[n] }
}()

// checkedTokens lists, once each, the tokens the events' TokenChecks name (never
// nil: writeAuditSQL takes it as an array).
func checkedTokens(events []auditEvent) []string {
	tokens := []string{}
	for _, e := range events {
		if e.check != nil && !slices.Contains(tokens, e.check.id) {
			tokens = append(tokens, e.check.id)
		}
	}
	return tokens
}

// writeAuditSQL advances an org's counter ($1) by $2 and inserts the events given
// as arrays, numbered in array order, if every token of $12 is live; it returns
// those that are not, and then writes nothing.
const writeAuditSQL = `WITH dead AS (SELECT tok FROM unnest($12::text[]) AS tok
		WHERE NOT EXISTS (SELECT 1 FROM api_tokens a WHERE a.id = tok AND a.revoked_at IS NULL)),
	s AS (INSERT INTO org_generations (org_id, generation) SELECT $1, $2::bigint WHERE NOT EXISTS (SELECT 1 FROM dead)
		ON CONFLICT (org_id) DO UPDATE SET generation = org_generations.generation + EXCLUDED.generation
		RETURNING generation),
	e AS (` + auditInsert + ` SELECT e.id, $1, s.generation - $2::bigint + e.n, e.at, e.actor_kind, e.actor_id, e.actor_name, e.action, e.target_kind, e.target_id, e.details
	FROM s, unnest($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
		WITH ORDINALITY AS e(id, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, details, n))
	SELECT tok FROM dead`

const auditInsert = `INSERT INTO audit_events (id, org_id, seq, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, details)`

// WithTx runs fn in one transaction, with a Store bound to it: every method fn calls
// on that Store reads and writes inside the transaction, and the whole operation
// commits when fn returns nil or changes nothing when it returns an error. Each
// change runs in a savepoint of its own, so a change that fails (and whose error fn
// handles) leaves nothing half done. This is how an operation of several steps (a
// directory with its first token, an admin transfer) is one transaction.
//
// Called on a Store that is already bound (an operation inside an operation), it
// runs fn in a savepoint of the same transaction: fn's changes are undone when it
// returns an error, and the outer operation goes on. That is how a change is tried
// and taken back within one transaction (an access change's preview).
//
// fn may run more than once (a retried PostgreSQL transaction) and, on SQLite, on
// another goroutine: it must only call the Store it is given and touch its own
// locals. It must not use the Store after returning.
func (s *SQL) WithTx(ctx context.Context, fn func(Store) error) error {
	if s.bound != nil {
		return s.bound.savepoint(ctx, func(*tx) error { return fn(s) })
	}
	return s.inTx(ctx, func(t *tx) error {
		b := *s
		b.bound = t
		return fn(&b)
	})
}

// savepoint runs fn inside the bound transaction, undoing only fn's own writes when
// it fails.
func (t *tx) savepoint(ctx context.Context, fn func(*tx) error) (err error) {
	if _, err := t.execRaw(ctx, `SAVEPOINT op`); err != nil {
		return t.s.translate(err)
	}
	if t.deferred != nil {
		kept := len(*t.deferred)
		defer func() { // the events of an undone step go with it (a panic undoes the whole change: step)
			if err != nil {
				*t.deferred = (*t.deferred)[:kept]
			}
		}()
	}
	if err := fn(t); err != nil {
		if _, uerr := t.execRaw(ctx, `ROLLBACK TO SAVEPOINT op`); uerr != nil {
			return fmt.Errorf("store: undo a failed step: %w", errors.Join(t.s.translate(err), uerr))
		}
		if _, uerr := t.execRaw(ctx, `RELEASE SAVEPOINT op`); uerr != nil {
			return fmt.Errorf("store: release a failed step: %w", errors.Join(t.s.translate(err), uerr))
		}
		return t.s.translate(err)
	}
	_, err = t.execRaw(ctx, `RELEASE SAVEPOINT op`)
	return t.s.translate(err)
}

// maxAttempts bounds how often inTx runs a transaction that PostgreSQL aborted
// as a serialization failure or deadlock.
const maxAttempts = 5

// inTx runs fn in one transaction, committing when fn returns nil. Errors come back
// translated to core sentinels. A transaction aborted for a deadlock or a
// serialization failure (ErrRetry) is run again, from the start, a few times: fn must
// therefore only touch the database and its own locals.
func (s *SQL) inTx(ctx context.Context, fn func(*tx) error) error {
	return s.inOrgTx(ctx, "", fn)
}

// inOrgTx is inTx for a change of the org orgID. On PostgreSQL such a change runs in
// its org's lane (batcher): with the other changes of the org's lane that arrive
// while a commit is under way, in one transaction, each in a savepoint. A change of
// no known org ("") runs in a transaction of its own. fn may run on another
// goroutine and, when it fails, in a transaction that goes on with other changes
// (rolled back to its savepoint): it must leave nothing behind but its statements.
func (s *SQL) inOrgTx(ctx context.Context, orgID string, fn func(*tx) error) error {
	return s.inOrgTxAs(ctx, orgID, shape{}, fn)
}

// shape says more of a change than its function, for a batch to run it with the
// changes beside it: a SCIM member change of a group (members: memberRun), or a
// change that is one statement when nothing is in its way (stmt: pipeline on
// PostgreSQL, oneStmt.then on SQLite, in a transaction of its own and WithTx).
type shape struct {
	members *memberReq
	stmt    *oneStmt
}

// stmtFirst is the change as it runs outside a pipeline: its statement first, when
// it has one, and fn only when that returns no row (oneStmt.then).
func (sh shape) stmtFirst(fn func(*tx) error) func(*tx) error {
	if sh.stmt == nil {
		return fn
	}
	return sh.stmt.then(fn)
}

// inOrgTxAs is inOrgTx for a change of the shape sh.
func (s *SQL) inOrgTxAs(ctx context.Context, orgID string, sh shape, fn func(*tx) error) error {
	if s.bound != nil {
		return s.bound.savepoint(ctx, sh.stmtFirst(fn))
	}
	if s.batch != nil {
		return s.batch.run(ctx, orgID, fn, sh)
	}
	once := func(ctx context.Context, fn func(*tx) error) error { return s.inTxOnce(ctx, sh.stmtFirst(fn)) }
	if orgID != "" && s.lanes != nil {
		lane := s.lane(orgID)
		once = func(ctx context.Context, fn func(*tx) error) error { return lane.run(ctx, orgID, fn, sh) }
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = once(ctx, fn)
		if !errors.Is(err, ErrRetry) || attempt == maxAttempts {
			return err
		}
		// Back off a little, more each time, with jitter so the contenders spread out.
		d := time.Duration(attempt) * time.Duration(1+randInt(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}

func (s *SQL) inTxOnce(ctx context.Context, fn func(*tx) error) error {
	t, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return s.translate(err)
	}
	defer func() {
		// A panicking fn (a caller's update closure) must not leave the connection
		// inside an open transaction.
		if p := recover(); p != nil {
			_ = t.Rollback()
			panic(p)
		}
	}()
	if err := fn(s.newTx(t, nil)); err != nil {
		_ = t.Rollback()
		return s.translate(err)
	}
	return s.translate(t.Commit())
}

// randInt returns a random int in [0, n) for retry jitter.
func randInt(n int) int {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return int(b[0]) % n
}

// read runs fn in a read-only view with one snapshot for all its statements: on a
// SQLite file, a transaction of the reader pool (beside the writer); on PostgreSQL a
// READ ONLY REPEATABLE READ transaction (which never fails to serialize), so that
// Facts or a member list never mixes states from before and after a change.
func (s *SQL) read(ctx context.Context, fn func(*tx) error) error {
	if s.bound != nil {
		return s.translate(fn(s.bound)) // reads see the operation's own changes
	}
	opts := &sql.TxOptions{}
	if s.dialect == Postgres {
		opts = &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	t, err := s.rdb.BeginTxx(ctx, opts)
	if err != nil {
		return s.translate(err)
	}
	x := s.newTx(t, s.rstmts)
	defer func() {
		_ = t.Rollback() // read-only: nothing to keep
		x.done(ctx)
	}()
	return s.translate(fn(x))
}

// lockOrg serializes changes that check an org-wide invariant (the last org admin).
// SQLite already has a single writer; PostgreSQL locks the org row. FOR NO KEY UPDATE
// does not conflict with the key-share locks that inserting a user takes on its org,
// so provisioning goes on while an admin change is checked.
func (t *tx) lockOrg(ctx context.Context, orgID string) error {
	if t.s.dialect != Postgres {
		return nil
	}
	var id string
	err := t.get(ctx, &id, `SELECT id FROM organizations WHERE id = ?`+t.forUpdate(), orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("organization %s: %w", orgID, core.ErrNotFound)
	}
	return err
}

// translate turns driver errors into core sentinels, in this one place per dialect.
// Errors already wrapping a sentinel pass unchanged; sql.ErrNoRows is not found.
func (s *SQL) translate(err error) error { return translate(err) }

// translate is SQL.translate for code without a store at hand (prepared statements).
func translate(err error) error {
	if err == nil {
		return nil
	}
	for _, sentinel := range []error{core.ErrNotFound, core.ErrConflict, core.ErrVersion, core.ErrInvalid, core.ErrLastAdmin, core.ErrUnavailable} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w", core.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &dbError{sentinel: core.ErrConflict, cause: err}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return &dbError{sentinel: core.ErrNotFound, cause: err}
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL, sqlite3.SQLITE_CONSTRAINT_TRIGGER:
			// CONSTRAINT_TRIGGER: the rules SQLite cannot add to an existing table
			// are triggers that RAISE(ABORT) (users_owner_check, 0016).
			return &dbError{sentinel: core.ErrInvalid, cause: err}
		}
		switch se.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
			return &dbError{sentinel: core.ErrUnavailable, cause: err}
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return &dbError{sentinel: core.ErrConflict, cause: err}
		case "23503":
			return &dbError{sentinel: core.ErrNotFound, cause: err}
		case "23514", "23502", "22001", "22P02", "22021": // 22021: a NUL or invalid UTF-8 in text
			return &dbError{sentinel: core.ErrInvalid, cause: err}
		case "40001", "40P01":
			return &dbError{sentinel: ErrRetry, cause: err}
		case "57P01", "57P02", "57P03", "53300", "53000":
			// Shutting down, crashed, starting up, too many connections, out of resources.
			return &dbError{sentinel: core.ErrUnavailable, cause: err}
		}
		if strings.HasPrefix(pe.Code, "08") { // connection exception
			return &dbError{sentinel: core.ErrUnavailable, cause: err}
		}
		return err
	}
	if isConnectionError(err) {
		return &dbError{sentinel: core.ErrUnavailable, cause: err}
	}
	return err
}

// isConnectionError reports whether err means the database could not be reached or
// the connection broke: the request may be retried once the database is back.
func isConnectionError(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, pgconn.ErrConnClosed), pgconn.SafeToRetry(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return pgconn.Timeout(err)
}

// ErrRetry is a serialization failure or deadlock: the transaction may be retried.
// inTx retries it; once the retries run out the caller sees it as core.ErrUnavailable.
var ErrRetry = fmt.Errorf("transaction conflict, retry: %w", core.ErrUnavailable)

// dbError is a constraint violation: it matches its sentinel with errors.Is and keeps
// the driver's text for logs only (Error names the sentinel alone, so no SQL or
// constraint detail reaches a client by accident).
type dbError struct {
	sentinel error
	cause    error
}

func (e *dbError) Error() string { return e.sentinel.Error() }
func (e *dbError) Unwrap() error { return e.sentinel }

// Cause is the driver's error, for logs.
func (e *dbError) Cause() error { return e.cause }
