package store

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type directoryRow struct {
	ID        string `db:"id"`
	OrgID     string `db:"org_id"`
	Name      string `db:"name"`
	CreatedAt int64  `db:"created_at"`
}

func (r directoryRow) directory() core.Directory {
	return core.Directory{ID: r.ID, OrgID: r.OrgID, Name: r.Name, CreatedAt: fromMicros(r.CreatedAt)}
}

const directoryCols = `id, org_id, name, created_at`

// EnsureDirectory returns the org's directory of that name, creating it if needed.
// Two callers racing to create it both get the same directory.
func (s *SQL) EnsureDirectory(ctx context.Context, actor core.Actor, orgID, name string) (core.Directory, error) {
	return s.addDirectory(ctx, actor, orgID, name, true)
}

// CreateDirectory creates a directory; a name the org already uses is
// core.ErrConflict (the unique constraint says so, not a read before the insert).
func (s *SQL) CreateDirectory(ctx context.Context, actor core.Actor, orgID, name string) (core.Directory, error) {
	return s.addDirectory(ctx, actor, orgID, name, false)
}

func (s *SQL) addDirectory(ctx context.Context, actor core.Actor, orgID, name string, ensure bool) (core.Directory, error) {
	if err := validName("directory name", name, 200); err != nil {
		return core.Directory{}, err
	}
	onConflict := ""
	if ensure {
		onConflict = " ON CONFLICT DO NOTHING"
	}
	var r directoryRow
	err := s.inTx(ctx, func(t *tx) error {
		id := t.s.NewID()
		res, err := t.exec(ctx, `INSERT INTO scim_directories (`+directoryCols+`) VALUES (?, ?, ?, ?)`+onConflict,
			id, orgID, name, t.s.now())
		if err != nil {
			return s.wrapf(err, "organization %q, directory %q", orgID, name)
		}
		if err := t.get(ctx, &r, `SELECT `+directoryCols+` FROM scim_directories WHERE org_id = ? AND name = ?`, orgID, name); err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return t.audit(ctx, orgID, actor, "directory.create", "directory", r.ID, map[string]any{"name": name})
	})
	if err != nil {
		return core.Directory{}, err
	}
	return r.directory(), nil
}

// GetDirectory finds a directory of the org by id or name.
func (s *SQL) GetDirectory(ctx context.Context, orgID, idOrName string) (core.Directory, error) {
	var r directoryRow
	err := s.read(ctx, func(t *tx) error {
		return orNotFound(t.get(ctx, &r, `SELECT `+directoryCols+` FROM scim_directories WHERE org_id = ? AND (id = ? OR name = ?)
			ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, orgID, idOrName, idOrName, idOrName), "directory", idOrName)
	})
	if err != nil {
		return core.Directory{}, err
	}
	return r.directory(), nil
}

// ListDirectories lists the org's directories, oldest first.
func (s *SQL) ListDirectories(ctx context.Context, orgID string) ([]core.Directory, error) {
	var rows []directoryRow
	if err := s.read(ctx, func(t *tx) error {
		return t.sel(ctx, &rows, `SELECT `+directoryCols+` FROM scim_directories WHERE org_id = ? ORDER BY id`, orgID)
	}); err != nil {
		return nil, err
	}
	out := make([]core.Directory, len(rows))
	for i, r := range rows {
		out[i] = r.directory()
	}
	return out, nil
}
