package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
// read itself.
type GenerationReader struct {
	stmt *sql.Stmt
	// uncancelled reads ignore the caller's deadline (SQLite; see OrgGeneration).
	uncancelled bool
}

// NewGenerationReader prepares the read on the store's reader pool; Close it
// before the store.
func (s *SQL) NewGenerationReader(ctx context.Context) (*GenerationReader, error) {
	stmt, err := s.rdb.PrepareContext(ctx, s.rdb.Rebind(generationQuery))
	if err != nil {
		return nil, fmt.Errorf("store: prepare generation read: %w", s.translate(err))
	}
	return &GenerationReader{stmt: stmt, uncancelled: s.dialect == SQLite}, nil
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
	if g.uncancelled && ctx.Done() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	return scanGeneration(g.stmt.QueryRowContext(ctx, orgID), orgID)
}

// WatchesContext reports whether OrgGeneration heeds its context's deadline and
// cancellation: false on SQLite (see OrgGeneration), so that a caller need not
// arm a timer the read would ignore.
func (g *GenerationReader) WatchesContext() bool { return !g.uncancelled }

// Close releases the prepared statement.
func (g *GenerationReader) Close() error { return g.stmt.Close() }

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

// nextSeq advances the org's counter inside the change's transaction and returns
// the new value: the seq of the change's audit event. On PostgreSQL the upsert
// locks the counter's row until commit, so the org's changes commit in seq order.
const nextSeqSQL = `INSERT INTO org_generations (org_id, generation) VALUES (?, 1)
	ON CONFLICT (org_id) DO UPDATE SET generation = org_generations.generation + 1
	RETURNING generation`

func (t *tx) nextSeq(ctx context.Context, orgID string) (int64, error) {
	var seq int64
	err := t.get(ctx, &seq, nextSeqSQL, orgID)
	return seq, err
}
