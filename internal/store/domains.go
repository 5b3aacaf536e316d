package store

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// claimOrgDomain records that the org uses an email domain (for a connection or a
// directory). A domain belongs to one org: org_domains is keyed by the domain, so
// a domain another org uses is core.ErrConflict, decided by the key, not by a read
// before the insert.
func (t *tx) claimOrgDomain(ctx context.Context, orgID, domain string) error {
	if _, err := t.exec(ctx, `INSERT INTO org_domains (domain, org_id, created_at) VALUES (?, ?, ?) ON CONFLICT (domain) DO NOTHING`,
		domain, orgID, t.s.now()); err != nil {
		return t.s.wrapf(err, "email domain %q", domain)
	}
	var owner string
	if err := t.get(ctx, &owner, `SELECT org_id FROM org_domains WHERE domain = ?`, domain); err != nil {
		return err
	}
	if owner != orgID {
		return fmt.Errorf("email domain %s belongs to another organization: %w", domain, core.ErrConflict)
	}
	return nil
}

// releaseOrgDomains forgets the org's unverified domains that no connection or
// directory uses any more, so that another org may claim them. A verified domain
// stays the org's until an operator removes it.
func (t *tx) releaseOrgDomains(ctx context.Context, orgID string) error {
	_, err := t.exec(ctx, `DELETE FROM org_domains WHERE org_id = ? AND verified_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM sso_connection_domains c WHERE c.domain = org_domains.domain)
		AND NOT EXISTS (SELECT 1 FROM scim_directory_domains d WHERE d.domain = org_domains.domain)`, orgID)
	return err
}
