package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Generations reads the per-org change counter that tx.audit bumps in the
// transaction of every change. Caches of derived data (the API's decision cache)
// compare it on every use: equal generations mean nothing of the org changed.
type Generations interface {
	// OrgGeneration returns the org's counter; 0 for an org that never changed.
	OrgGeneration(ctx context.Context, orgID string) (int64, error)
}

var _ Generations = (*SQL)(nil)

// OrgGeneration is one primary-key read, outside any transaction: it is on the hot
// path of every access check.
func (s *SQL) OrgGeneration(ctx context.Context, orgID string) (int64, error) {
	var g int64
	err := s.rdb.QueryRowContext(ctx, s.rdb.Rebind(`SELECT generation FROM org_generations WHERE org_id = ?`), orgID).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: read generation of org %s: %w", orgID, s.translate(err))
	}
	return g, nil
}

// bumpGeneration advances the org's counter inside the change's transaction.
func (t *tx) bumpGeneration(ctx context.Context, orgID string) error {
	_, err := t.exec(ctx, `INSERT INTO org_generations (org_id, generation) VALUES (?, 1)
		ON CONFLICT (org_id) DO UPDATE SET generation = org_generations.generation + 1`, orgID)
	return err
}
