package store

import (
	"context"
	"net/mail"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type orgRow struct {
	ID              string `db:"id"`
	Slug            string `db:"slug"`
	Name            string `db:"name"`
	AccessApprovals bool   `db:"access_changes_require_approval"`
	RequireVerified bool   `db:"require_verified_domains"`
	CreatedAt       int64  `db:"created_at"`
	Version         int64  `db:"version"`
}

func (r orgRow) org() core.Org {
	return core.Org{ID: r.ID, Slug: r.Slug, Name: r.Name, AccessChangesRequireApproval: r.AccessApprovals,
		RequireVerifiedDomains: r.RequireVerified, CreatedAt: fromMicros(r.CreatedAt), Version: r.Version}
}

const orgCols = `id, slug, name, access_changes_require_approval, require_verified_domains, created_at, version`

// CreateOrg creates an org, its first user (invited, userName = email) and makes that
// user its org admin, in one transaction.
func (s *SQL) CreateOrg(ctx context.Context, actor core.Actor, slug, name, adminEmail string) (core.Org, core.User, error) {
	return s.CreateOrgWithAdmin(ctx, actor, NewOrg{Slug: slug, Name: name, AdminEmail: adminEmail})
}

// CreateOrgWithAdmin creates an org and its first org admin, an invited user
// with that email and display name, in one transaction.
func (s *SQL) CreateOrgWithAdmin(ctx context.Context, actor core.Actor, n NewOrg) (core.Org, core.User, error) {
	slug, name, adminEmail := n.Slug, n.Name, n.AdminEmail
	adminName := strings.TrimSpace(n.AdminName)
	if adminName != "" {
		if err := validName("admin name", adminName, 200); err != nil {
			return core.Org{}, core.User{}, err
		}
	}
	if err := validSlug("organization", slug); err != nil {
		return core.Org{}, core.User{}, err
	}
	if err := validName("organization name", name, 200); err != nil {
		return core.Org{}, core.User{}, err
	}
	adminEmail = strings.TrimSpace(adminEmail)
	if a, err := mail.ParseAddress(adminEmail); err != nil || a.Address != adminEmail {
		return core.Org{}, core.User{}, core.Invalidf("admin email %q is not a valid email address", adminEmail)
	}
	now := s.now()
	o := orgRow{ID: s.NewID(), Slug: slug, Name: name, CreatedAt: now, Version: 1}
	u := core.User{
		ID: s.NewID(), OrgID: o.ID, UserName: adminEmail, Email: adminEmail, DisplayName: adminName, Active: true,
		Source: core.SourceInvited, CreatedAt: fromMicros(now), UpdatedAt: fromMicros(now), Version: 1,
		Owner: core.Owner{Kind: core.OwnerLocal},
	}
	err := s.inTx(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO organizations (`+orgCols+`, domain_secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			o.ID, o.Slug, o.Name, o.AccessApprovals, o.RequireVerified, o.CreatedAt, o.Version, newSecret("")); err != nil {
			return s.wrapf(err, "organization slug %q", slug)
		}
		if err := t.insertUser(ctx, SCIMUser{User: u}); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO org_admins (org_id, user_id, created_at) VALUES (?, ?, ?)`, o.ID, u.ID, now); err != nil {
			return err
		}
		if err := t.audit(ctx, o.ID, actor, "org.create", "org", o.ID, map[string]any{"slug": slug, "name": name}); err != nil {
			return err
		}
		if err := t.audit(ctx, o.ID, actor, "user.create", "user", u.ID, userDetails(u)); err != nil {
			return err
		}
		return t.audit(ctx, o.ID, actor, "org_admin.add", "user", u.ID, map[string]any{"user_name": u.UserName})
	})
	if err != nil {
		return core.Org{}, core.User{}, err
	}
	return o.org(), u, nil
}

// GetOrg finds an org by id or slug; an id match wins over a slug match.
func (s *SQL) GetOrg(ctx context.Context, idOrSlug string) (core.Org, error) {
	var r orgRow
	err := s.read(ctx, func(t *tx) error {
		return orNotFound(t.get(ctx, &r, `SELECT `+orgCols+` FROM organizations WHERE id = ? OR slug = ?
			ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, idOrSlug, idOrSlug, idOrSlug), "organization", idOrSlug)
	})
	if err != nil {
		return core.Org{}, err
	}
	return r.org(), nil
}

// UpdateOrg reads the org, lets fn change its name and settings, and writes it
// back, bumping its version, in one transaction with its audit event (org.update,
// naming what changed). A change that changes nothing writes nothing.
func (s *SQL) UpdateOrg(ctx context.Context, actor core.Actor, id string, fn func(*core.Org) error) (core.Org, error) {
	var out core.Org
	err := s.inTx(ctx, func(t *tx) error {
		var r orgRow
		if err := t.get(ctx, &r, `SELECT `+orgCols+` FROM organizations WHERE id = ?`+t.forUpdate(), id); err != nil {
			return orNotFound(err, "organization", id)
		}
		old := r.org()
		o := old
		if err := fn(&o); err != nil {
			return err
		}
		if err := validName("organization name", o.Name, 200); err != nil {
			return err
		}
		details := map[string]any{}
		if o.Name != old.Name {
			details["name"], details["old_name"] = o.Name, old.Name
		}
		if o.AccessChangesRequireApproval != old.AccessChangesRequireApproval {
			details["access_changes_require_approval"] = o.AccessChangesRequireApproval
		}
		if o.RequireVerifiedDomains != old.RequireVerifiedDomains {
			details["require_verified_domains"] = o.RequireVerifiedDomains
		}
		if len(details) == 0 {
			out = old
			return nil
		}
		o.Version = old.Version + 1
		if _, err := t.exec(ctx, `UPDATE organizations SET name = ?, access_changes_require_approval = ?, require_verified_domains = ?, version = ? WHERE id = ?`,
			o.Name, o.AccessChangesRequireApproval, o.RequireVerifiedDomains, o.Version, id); err != nil {
			return err
		}
		out = core.Org{ID: old.ID, Slug: old.Slug, Name: o.Name, AccessChangesRequireApproval: o.AccessChangesRequireApproval,
			RequireVerifiedDomains: o.RequireVerifiedDomains, CreatedAt: old.CreatedAt, Version: o.Version}
		return t.audit(ctx, id, actor, "org.update", "org", id, details)
	})
	return out, err
}

// ListOrgs lists every org, oldest first.
func (s *SQL) ListOrgs(ctx context.Context) ([]core.Org, error) {
	var rows []orgRow
	if err := s.read(ctx, func(t *tx) error {
		return t.sel(ctx, &rows, `SELECT `+orgCols+` FROM organizations ORDER BY id`)
	}); err != nil {
		return nil, err
	}
	out := make([]core.Org, len(rows))
	for i, r := range rows {
		out[i] = r.org()
	}
	return out, nil
}

// AddOrgAdmin makes an active user of the org an org admin; adding an admin again is
// a no-op. An org admin must be active: a deactivated user is core.ErrInvalid, read in
// the same transaction as the change, whichever edge asks.
func (s *SQL) AddOrgAdmin(ctx context.Context, actor core.Actor, orgID, userID string) error {
	return s.inTx(ctx, func(t *tx) error {
		u, err := t.getUser(ctx, orgID, userID, false)
		if err != nil {
			return err
		}
		if !u.Active {
			return core.Invalidf("user %s is deactivated; reactivate them first", u.Label())
		}
		res, err := t.exec(ctx, `INSERT INTO org_admins (org_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			orgID, userID, t.s.now())
		if err != nil {
			return s.wrapf(err, "user %q", userID)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return t.audit(ctx, orgID, actor, "org_admin.add", "user", userID, map[string]any{"user_name": u.UserName})
	})
}

// RemoveOrgAdmin takes org admin away from a user, unless they are the last active one.
// Removing a user who is not an admin is a no-op.
func (s *SQL) RemoveOrgAdmin(ctx context.Context, actor core.Actor, orgID, userID string) error {
	return s.inTx(ctx, func(t *tx) error {
		u, err := t.getUser(ctx, orgID, userID, false)
		if err != nil {
			return err
		}
		if u.Active {
			if err := t.keepActiveAdmin(ctx, orgID, userID); err != nil {
				return err
			}
		}
		res, err := t.exec(ctx, `DELETE FROM org_admins WHERE org_id = ? AND user_id = ?`, orgID, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // not an admin
		}
		return t.audit(ctx, orgID, actor, "org_admin.remove", "user", userID, map[string]any{"user_name": u.UserName})
	})
}

// keepActiveAdmin is the one last-admin rule, which every path that can take an
// active org admin away (deactivation, deletion, removal of the role; the API, SCIM,
// the CLI) calls: userID, an active user, is about to stop being an active org admin,
// and if they are one the org must keep another, else core.ErrLastAdmin. The org row
// is locked before counting (lockOrg), so two such changes cannot both pass on a
// stale count.
func (t *tx) keepActiveAdmin(ctx context.Context, orgID, userID string) error {
	admin, err := t.isOrgAdmin(ctx, orgID, userID)
	if err != nil || !admin {
		return err
	}
	if err := t.lockOrg(ctx, orgID); err != nil {
		return err
	}
	var n int
	if err := t.get(ctx, &n, `SELECT COUNT(*) FROM org_admins a JOIN users u ON u.org_id = a.org_id AND u.id = a.user_id
		WHERE a.org_id = ? AND a.user_id <> ? AND u.active = TRUE`, orgID, userID); err != nil {
		return err
	}
	if n == 0 {
		return core.ErrLastAdmin
	}
	return nil
}

func (t *tx) isOrgAdmin(ctx context.Context, orgID, userID string) (bool, error) {
	var n int
	err := t.get(ctx, &n, `SELECT COUNT(*) FROM org_admins WHERE org_id = ? AND user_id = ?`, orgID, userID)
	return n > 0, err
}

// ListOrgAdmins lists the org's admins, active or not, in creation order.
func (s *SQL) ListOrgAdmins(ctx context.Context, orgID string) ([]core.User, error) {
	var rows []userRow
	if err := s.read(ctx, func(t *tx) error {
		if err := t.orgExists(ctx, orgID); err != nil {
			return err
		}
		return t.sel(ctx, &rows, `SELECT `+userColsU+` FROM org_admins a JOIN users u ON u.id = a.user_id
			WHERE a.org_id = ? ORDER BY u.id`, orgID)
	}); err != nil {
		return nil, err
	}
	return usersOf(rows), nil
}

// IsOrgAdmin reports whether the user is an org admin (active or not) of the org.
func (s *SQL) IsOrgAdmin(ctx context.Context, orgID, userID string) (bool, error) {
	var admin bool
	err := s.read(ctx, func(t *tx) error {
		var err error
		admin, err = t.isOrgAdmin(ctx, orgID, userID)
		return err
	})
	return admin, err
}

func (t *tx) orgExists(ctx context.Context, orgID string) error {
	var n int
	if err := t.get(ctx, &n, `SELECT COUNT(*) FROM organizations WHERE id = ?`, orgID); err != nil {
		return err
	}
	if n == 0 {
		return notFound("organization", orgID)
	}
	return nil
}
