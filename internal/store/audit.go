package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type auditRow struct {
	ID         string `db:"id"`
	OrgID      string `db:"org_id"`
	Seq        *int64 `db:"seq"`
	At         int64  `db:"at"`
	ActorKind  string `db:"actor_kind"`
	ActorID    string `db:"actor_id"`
	ActorName  string `db:"actor_name"`
	Action     string `db:"action"`
	TargetKind string `db:"target_kind"`
	TargetID   string `db:"target_id"`
	Details    string `db:"details"`
}

// ListAudit lists the org's audit events newest first. Action is an exact action or,
// ending in ".", a prefix; Since is inclusive, Until exclusive.
func (s *SQL) ListAudit(ctx context.Context, orgID string, q AuditQuery) ([]core.AuditEvent, error) {
	query := `SELECT ` + auditCols + ` FROM audit_events WHERE org_id = ?`
	args := []any{orgID}
	if q.After != "" {
		query += ` AND id < ?`
		args = append(args, q.After)
	}
	if q.ActorID != "" {
		query += ` AND actor_id = ?`
		args = append(args, q.ActorID)
	}
	switch {
	case strings.HasSuffix(q.Action, "."):
		// substr, not LIKE: action names hold "_", a LIKE wildcard.
		query += ` AND substr(action, 1, ?) = ?`
		args = append(args, len(q.Action), q.Action)
	case q.Action != "":
		query += ` AND action = ?`
		args = append(args, q.Action)
	}
	if !q.Since.IsZero() {
		query += ` AND at >= ?`
		args = append(args, micros(q.Since))
	}
	if !q.Until.IsZero() {
		query += ` AND at < ?`
		args = append(args, micros(q.Until))
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, q.limit())
	var rows []auditRow
	if err := s.read(ctx, func(t *tx) error { return t.sel(ctx, &rows, query, args...) }); err != nil {
		return nil, err
	}
	return auditEvents(rows)
}

const auditCols = `id, org_id, seq, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, details`

// Changes implements Audit: one range read of audit_events_org_seq_key.
func (s *SQL) Changes(ctx context.Context, orgID string, after int64, limit int) ([]core.AuditEvent, error) {
	var rows []auditRow
	err := s.sel1(ctx, &rows, `SELECT `+auditCols+` FROM audit_events WHERE org_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		orgID, after, Page{Limit: limit}.limit())
	if err != nil {
		return nil, fmt.Errorf("store: changes of org %s: %w", orgID, err)
	}
	return auditEvents(rows)
}

func auditEvents(rows []auditRow) ([]core.AuditEvent, error) {
	out := make([]core.AuditEvent, len(rows))
	for i, r := range rows {
		e := core.AuditEvent{ID: r.ID, OrgID: r.OrgID, At: fromMicros(r.At),
			Actor:  core.Actor{Kind: core.ActorKind(r.ActorKind), ID: r.ActorID, Name: r.ActorName},
			Action: r.Action, TargetKind: r.TargetKind, TargetID: r.TargetID}
		if r.Seq != nil {
			e.Seq = *r.Seq
		}
		if r.Details != "" && r.Details != "{}" {
			if err := json.Unmarshal([]byte(r.Details), &e.Details); err != nil {
				return nil, err
			}
		}
		out[i] = e
	}
	return out, nil
}
