package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Generations reads the per-org change counter that tx.audit bumps in the
// transaction of every change. Readers of derived data (the decision index)
// compare it on every use: equal generations mean nothing of the org changed.
type Generations interface {
	// OrgGeneration returns the org's counter; 0 for an org that never changed.
	OrgGeneration(ctx context.Context, orgID string) (int64, error)
}

var (
	_ Generations = (*SQL)(nil)
	_ Generations = (*GenerationReader)(nil)
)

const generationQuery = `SELECT generation FROM org_generations WHERE org_id = ?`

// OrgGeneration is one primary-key read on the reader pool, outside any
// transaction. GenerationReader does the same with a prepared statement.
func (s *SQL) OrgGeneration(ctx context.Context, orgID string) (int64, error) {
	return scanGeneration(s.rdb.QueryRowContext(ctx, s.rdb.Rebind(generationQuery), orgID), orgID)
}

// generation is OrgGeneration through the reader pool's statement cache.
func (s *SQL) generation(ctx context.Context, orgID string) (int64, error) {
	var g int64
	err := s.readOne(ctx, &g, generationQuery, orgID)
	if isNotFound(err) {
		return 0, nil
	}
	return g, err
}

// GenerationReader reads generations through a prepared statement: it is on the hot
// path of every access check, where parsing the SQL each time costs as much as the
// read itself. On a SQLite file it also keeps one reader connection of its own
// and reads on it below database/sql (rawGen), falling back to the statement
// while that connection is busy.
type GenerationReader struct {
	stmt *sql.Stmt
	// uncancelled reads ignore the caller's deadline (SQLite; see OrgGeneration).
	uncancelled bool
	// raw reads on a connection of its own (SQLite files); nil without one, or
	// once a read on it failed. rawMu is held while a read uses it.
	rawMu  sync.Mutex
	raw    *rawGen
	hasRaw bool // raw was set at creation: reads try rawMu
}

// NewGenerationReader prepares the read on the store's reader pool; Close it
// before the store.
func (s *SQL) NewGenerationReader(ctx context.Context) (*GenerationReader, error) {
	stmt, err := s.rdb.PrepareContext(ctx, s.rdb.Rebind(generationQuery))
	if err != nil {
		return nil, fmt.Errorf("store: prepare generation read: %w", s.translate(err))
	}
	g := &GenerationReader{stmt: stmt, uncancelled: s.dialect == SQLite}
	if s.dialect == SQLite && s.rdb != s.db {
		// Only with a reader pool of its own (a file): an in-memory database has
		// the one connection, which nothing may keep.
		r, err := newRawGen(ctx, s.rdb.DB)
		if err != nil {
			stmt.Close()
			return nil, fmt.Errorf("store: prepare generation read: %w", s.translate(err))
		}
		g.raw, g.hasRaw = r, true
	}
	return g, nil
}

// OrgGeneration returns the org's counter; 0 for an org that never changed.
//
// On SQLite the read does not watch ctx: a context that can be cancelled costs
// two goroutines per read (database/sql's and the driver's watchers), nearly
// half of this read's cost on the hot path, while it buys nothing here: the one-row
// read waits at most busy_timeout for a lock, and cancellation cannot interrupt
// the file I/O it would otherwise wait on. Across a network (PostgreSQL) the
// deadline stays, so an outage fails the read instead of hanging it.
func (g *GenerationReader) OrgGeneration(ctx context.Context, orgID string) (int64, error) {
	if g.hasRaw && g.rawMu.TryLock() { // else busy: the prepared statement reads
		if r := g.raw; r != nil {
			v, err := r.read(orgID)
			if r.broken {
				g.raw = nil // its connection is gone; the statement reads from now on
			}
			g.rawMu.Unlock()
			if err != nil {
				return 0, fmt.Errorf("store: read generation of org %s: %w", orgID, translate(err))
			}
			return v, nil
		}
		g.rawMu.Unlock()
	}
	if g.uncancelled && ctx.Done() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	return scanGeneration(g.stmt.QueryRowContext(ctx, orgID), orgID)
}

// WatchesContext reports whether OrgGeneration heeds its context's deadline and
// cancellation: false on SQLite (see OrgGeneration), so that a caller need not
// arm a timer the read would ignore.
func (g *GenerationReader) WatchesContext() bool { return !g.uncancelled }

// Close releases the prepared statement and the connection kept, waiting for a
// read under way on it.
func (g *GenerationReader) Close() error {
	g.rawMu.Lock()
	if g.raw != nil {
		g.raw.close()
		g.raw = nil
	}
	g.rawMu.Unlock()
	return g.stmt.Close()
}

// rawGen is the generation read on one SQLite reader connection taken out of the
// pool, through the driver's own prepared statement: database/sql's layer (the
// pool, its statement and Rows bookkeeping, argument conversion) cost a third of
// the read and half its allocations. Each read is a statement of its own in
// autocommit mode, reset before the connection is used again, so it holds no
// snapshot between reads: every read sees every change committed before it.
type rawGen struct {
	conn *sql.Conn
	stmt driver.Stmt
	args []driver.NamedValue
	dest []driver.Value
	v    int64
	err  error
	// broken: a read failed in a way that may have left its statement unreset;
	// the connection was then discarded (see step).
	broken bool
	run    func(any) error // r.step, bound once
}

// genMmapSize bounds the map of the generation read's connection.
const genMmapSize = 1 << 30

func newRawGen(ctx context.Context, db *sql.DB) (*rawGen, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	// The read maps the database file (on this connection only): the pages it
	// reads then come from memory, with no pread, whenever the connection's page
	// cache was reset (a new snapshot).
	if _, err := conn.ExecContext(ctx, `PRAGMA mmap_size=`+strconv.Itoa(genMmapSize)); err != nil {
		conn.Close()
		return nil, err
	}
	r := &rawGen{conn: conn, args: make([]driver.NamedValue, 1), dest: make([]driver.Value, 1)}
	r.run = r.step
	err = conn.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("driver connection %T cannot prepare", dc)
		}
		st, err := p.PrepareContext(ctx, generationQuery)
		if err != nil {
			return err
		}
		if _, ok := st.(driver.StmtQueryContext); !ok {
			st.Close()
			return fmt.Errorf("driver statement %T cannot query", st)
		}
		r.stmt = st
		return nil
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return r, nil
}

func (r *rawGen) read(orgID string) (int64, error) {
	r.args[0] = driver.NamedValue{Ordinal: 1, Value: orgID}
	r.v, r.err = 0, nil
	if err := r.conn.Raw(r.run); err != nil && r.err == nil {
		r.broken, r.err = true, err
	}
	if r.broken {
		r.conn.Close()
	}
	return r.v, r.err
}

// step runs the query on the driver connection: a missing row is generation 0, as
// for scanGeneration.
func (r *rawGen) step(any) error {
	rows, err := r.stmt.(driver.StmtQueryContext).QueryContext(context.Background(), r.args)
	if err != nil {
		r.err = err
		return nil
	}
	switch err := rows.Next(r.dest); {
	case errors.Is(err, io.EOF):
	case err != nil:
		r.err = err
	default:
		v, ok := r.dest[0].(int64)
		if !ok {
			r.err = fmt.Errorf("generation is %T, not an integer", r.dest[0])
		}
		r.v = v
	}
	r.dest[0] = nil
	if err := rows.Close(); err != nil {
		// The statement may still hold its read transaction, and the connection
		// the snapshot with it: finalize the statement and have database/sql
		// discard the connection rather than pool it.
		r.broken = true
		if r.err == nil {
			r.err = err
		}
		r.stmt.Close()
		return driver.ErrBadConn
	}
	return nil
}

// close closes the statement and gives the connection back to the pool (which
// closes it when the store closes).
func (r *rawGen) close() {
	_ = r.conn.Raw(func(any) error { return r.stmt.Close() })
	r.conn.Close()
}

func scanGeneration(row *sql.Row, orgID string) (int64, error) {
	var g int64
	err := row.Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: read generation of org %s: %w", orgID, translate(err))
	}
	return g, nil
}

// nextSeqSQL advances the org's counter inside the change's transaction and
// returns the new value: the seq of the change's audit event (PostgreSQL's
// tx.audit; SQLite numbers the event in its insert, sqliteAuditInsert). The upsert
// locks the counter's row until commit, so the org's changes commit in seq order.
const nextSeqSQL = `INSERT INTO org_generations (org_id, generation) VALUES (?, 1)
	ON CONFLICT (org_id) DO UPDATE SET generation = org_generations.generation + 1
	RETURNING generation`
