package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type directoryRow struct {
	ID        string `db:"id"`
	OrgID     string `db:"org_id"`
	Name      string `db:"name"`
	CreatedAt int64  `db:"created_at"`
}

func (r directoryRow) directory(domains []string) core.Directory {
	if domains == nil {
		domains = []string{}
	}
	return core.Directory{ID: r.ID, OrgID: r.OrgID, Name: r.Name, Domains: domains, CreatedAt: fromMicros(r.CreatedAt)}
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
	var domains []string
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
			domains, err = t.directoryDomains(ctx, orgID, r.ID)
			return err
		}
		return t.audit(ctx, orgID, actor, "directory.create", "directory", r.ID, map[string]any{"name": name})
	})
	if err != nil {
		return core.Directory{}, err
	}
	return r.directory(domains), nil
}

// GetDirectory finds a directory of the org by id or name.
func (s *SQL) GetDirectory(ctx context.Context, orgID, idOrName string) (core.Directory, error) {
	var r directoryRow
	var domains []string
	err := s.read(ctx, func(t *tx) error {
		if err := orNotFound(t.get(ctx, &r, `SELECT `+directoryCols+` FROM scim_directories WHERE org_id = ? AND (id = ? OR name = ?)
			ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, orgID, idOrName, idOrName, idOrName), "directory", idOrName); err != nil {
			return err
		}
		var err error
		domains, err = t.directoryDomains(ctx, orgID, r.ID)
		return err
	})
	if err != nil {
		return core.Directory{}, err
	}
	return r.directory(domains), nil
}

// ListDirectories lists the org's directories, oldest first.
func (s *SQL) ListDirectories(ctx context.Context, orgID string) ([]core.Directory, error) {
	var rows []directoryRow
	var doms []struct {
		Domain      string `db:"domain"`
		DirectoryID string `db:"directory_id"`
	}
	if err := s.read(ctx, func(t *tx) error {
		if err := t.sel(ctx, &rows, `SELECT `+directoryCols+` FROM scim_directories WHERE org_id = ? ORDER BY id`, orgID); err != nil {
			return err
		}
		return t.sel(ctx, &doms, `SELECT domain, directory_id FROM scim_directory_domains WHERE org_id = ? ORDER BY domain`, orgID)
	}); err != nil {
		return nil, err
	}
	byDir := map[string][]string{}
	for _, d := range doms {
		byDir[d.DirectoryID] = append(byDir[d.DirectoryID], d.Domain)
	}
	out := make([]core.Directory, len(rows))
	for i, r := range rows {
		out[i] = r.directory(byDir[r.ID])
	}
	return out, nil
}

func (t *tx) directoryDomains(ctx context.Context, orgID, directoryID string) ([]string, error) {
	var ds []string
	err := t.sel(ctx, &ds, `SELECT domain FROM scim_directory_domains WHERE org_id = ? AND directory_id = ? ORDER BY domain`, orgID, directoryID)
	return ds, err
}

// SetDirectoryDomains replaces the email domains of the org's directory (by id or
// name), in one transaction with its audit event (directory.update), through the
// same checks and org claim as a connection's domains: each is normalized
// (normalizeDomains) or the whole change is core.ErrInvalid; a domain another org
// uses, or another directory of the org, is core.ErrConflict, decided by the
// database keys. Domains no longer used by anything are released.
func (s *SQL) SetDirectoryDomains(ctx context.Context, actor core.Actor, orgID, idOrName string, domains []string) (core.Directory, error) {
	ds, err := normalizeDomains(domains)
	if err != nil {
		return core.Directory{}, err
	}
	slices.Sort(ds) // as they are read back
	var r directoryRow
	err = s.inTx(ctx, func(t *tx) error {
		if err := orNotFound(t.get(ctx, &r, `SELECT `+directoryCols+` FROM scim_directories WHERE org_id = ? AND (id = ? OR name = ?)
			ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, orgID, idOrName, idOrName, idOrName), "directory", idOrName); err != nil {
			return err
		}
		old, err := t.directoryDomains(ctx, orgID, r.ID)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM scim_directory_domains WHERE org_id = ? AND directory_id = ?`, orgID, r.ID); err != nil {
			return err
		}
		for _, d := range ds {
			if err := t.claimOrgDomain(ctx, orgID, d); err != nil {
				return err
			}
			if _, err := t.exec(ctx, `INSERT INTO scim_directory_domains (domain, org_id, directory_id, created_at) VALUES (?, ?, ?, ?)`,
				d, orgID, r.ID, t.s.now()); err != nil {
				if errors.Is(t.s.translate(err), core.ErrConflict) {
					return fmt.Errorf("email domain %s is already used by another SCIM directory: %w", d, core.ErrConflict)
				}
				return err
			}
		}
		if err := t.releaseOrgDomains(ctx, orgID); err != nil {
			return err
		}
		if old == nil {
			old = []string{}
		}
		return t.audit(ctx, orgID, actor, "directory.update", "directory", r.ID, map[string]any{
			"name": r.Name, "domains": nonNilStrings(ds), "previous_domains": old})
	})
	if err != nil {
		return core.Directory{}, err
	}
	return r.directory(ds), nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
