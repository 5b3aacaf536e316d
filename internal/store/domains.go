package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// orgDomainRow is an org_domains row.
type orgDomainRow struct {
	Domain        string `db:"domain"`
	OrgID         string `db:"org_id"`
	VerifiedAt    *int64 `db:"verified_at"`
	VerifiedBy    string `db:"verified_by"`
	VerifiedActor string `db:"verified_actor"`
}

const orgDomainCols = `domain, org_id, verified_at, verified_by, verified_actor`

// view is the row as orgID sees it: its own domain in full, another org's as a
// state only.
func (r orgDomainRow) view(orgID, secret string) core.OrgDomain {
	d := core.OrgDomain{Domain: r.Domain, Token: domainToken(secret, r.Domain), UsedBy: []core.Owner{}}
	switch {
	case r.OrgID == "":
		d.Status = core.DomainUnclaimed
	case r.OrgID != orgID && r.VerifiedAt != nil:
		d.Status = core.DomainOtherOrgVerified
	case r.OrgID != orgID:
		d.Status = core.DomainOtherOrg
	case r.VerifiedAt != nil:
		at := fromMicros(*r.VerifiedAt)
		d.Status, d.Verified, d.VerifiedAt, d.VerifiedBy, d.VerifiedActor = core.DomainVerified, true, &at, r.VerifiedBy, r.VerifiedActor
	default:
		d.Status = core.DomainUnverified
	}
	return d
}

// domainToken is what an org publishes to prove a domain: an HMAC of the domain
// under the org's random domain_secret, so it needs no row per domain, stays the
// same for as long as the org exists, and tells nothing about another org's.
func domainToken(secret, domain string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("gatehouse domain verification\x00" + domain))
	return hex.EncodeToString(m.Sum(nil)[:20])
}

// oneDomain normalizes a single email domain as a connection's are, and keeps its
// DNS record name (the challenge label and the domain) within DNS's 253 bytes.
func oneDomain(domain string) (string, error) {
	ds, err := normalizeDomains([]string{domain})
	if err != nil {
		return "", err
	}
	if len(ds) != 1 {
		return "", core.Invalidf("give an email domain, such as example.com")
	}
	d := strings.TrimSuffix(ds[0], ".")
	if len(d) > 200 || strings.HasPrefix(d, ".") || strings.Contains(d, "..") {
		return "", core.Invalidf("%q is not an email domain", ds[0])
	}
	for _, label := range strings.Split(d, ".") {
		if len(label) > 63 {
			return "", core.Invalidf("%q is not an email domain", ds[0])
		}
	}
	return d, nil
}

func (t *tx) domainSecret(ctx context.Context, orgID string) (string, error) {
	var secret string
	err := t.get(ctx, &secret, `SELECT domain_secret FROM organizations WHERE id = ?`, orgID)
	return secret, orNotFound(err, "organization", orgID)
}

// usedBy fills in the org's connections and directories that use each domain.
func (t *tx) usedBy(ctx context.Context, orgID string, ds []core.OrgDomain) error {
	var rows []struct {
		Domain string `db:"domain"`
		Kind   string `db:"kind"`
		ID     string `db:"id"`
		Name   string `db:"name"`
	}
	if err := t.sel(ctx, &rows, `SELECT d.domain, 'connection' AS kind, c.id, c.name FROM sso_connection_domains d
			JOIN sso_connections c ON c.id = d.connection_id WHERE d.org_id = ?
		UNION ALL SELECT d.domain, 'directory' AS kind, s.id, s.name FROM scim_directory_domains d
			JOIN scim_directories s ON s.org_id = d.org_id AND s.id = d.directory_id WHERE d.org_id = ?
		ORDER BY 1, 2, 4`, orgID, orgID); err != nil {
		return err
	}
	for i := range ds {
		for _, r := range rows {
			if r.Domain == ds[i].Domain {
				ds[i].UsedBy = append(ds[i].UsedBy, core.Owner{Kind: core.OwnerKind(r.Kind), ID: r.ID, Name: r.Name})
			}
		}
	}
	return nil
}

// ListOrgDomains lists the org's email domains (those its connections and
// directories use, and those it verified), in name order.
func (s *SQL) ListOrgDomains(ctx context.Context, orgID string) ([]core.OrgDomain, error) {
	var out []core.OrgDomain
	err := s.read(ctx, func(t *tx) error {
		secret, err := t.domainSecret(ctx, orgID)
		if err != nil {
			return err
		}
		var rows []orgDomainRow
		if err := t.sel(ctx, &rows, `SELECT `+orgDomainCols+` FROM org_domains WHERE org_id = ? ORDER BY domain`, orgID); err != nil {
			return err
		}
		out = make([]core.OrgDomain, len(rows))
		for i, r := range rows {
			out[i] = r.view(orgID, secret)
		}
		return t.usedBy(ctx, orgID, out)
	})
	return out, err
}

// GetOrgDomain is any email domain as the org sees it: its own in full, another
// org's or nobody's as a state, each with the token the org would publish to
// prove it. A malformed domain is core.ErrInvalid.
func (s *SQL) GetOrgDomain(ctx context.Context, orgID, domain string) (core.OrgDomain, error) {
	d, err := oneDomain(domain)
	if err != nil {
		return core.OrgDomain{}, err
	}
	var out core.OrgDomain
	err = s.read(ctx, func(t *tx) error {
		out, err = t.orgDomain(ctx, orgID, d, "")
		return err
	})
	return out, err
}

func (t *tx) orgDomain(ctx context.Context, orgID, domain, lock string) (core.OrgDomain, error) {
	secret, err := t.domainSecret(ctx, orgID)
	if err != nil {
		return core.OrgDomain{}, err
	}
	r := orgDomainRow{Domain: domain}
	if err := t.get(ctx, &r, `SELECT `+orgDomainCols+` FROM org_domains WHERE domain = ?`+lock, domain); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return core.OrgDomain{}, err
	}
	out := []core.OrgDomain{r.view(orgID, secret)}
	if out[0].Status != core.DomainVerified && out[0].Status != core.DomainUnverified {
		return out[0], nil
	}
	err = t.usedBy(ctx, orgID, out)
	return out[0], err
}

// VerifyOrgDomain records that the org proved the domain (how: core.VerifiedByDNS
// after the caller found its record, or core.VerifiedByOperator), in one
// transaction with its audit event (domain.verified). A domain nobody holds
// becomes the org's. One another org holds without proof is taken over: that
// org's connections and directories stop using it, audited there as domain.lost,
// because an unproved claim must not block the org that owns the domain. One
// another org verified is core.ErrConflict and nothing changes. Verifying a
// verified domain again changes nothing.
func (s *SQL) VerifyOrgDomain(ctx context.Context, actor core.Actor, orgID, domain, by string) (core.OrgDomain, error) {
	d, err := oneDomain(domain)
	if err != nil {
		return core.OrgDomain{}, err
	}
	if by != core.VerifiedByDNS && by != core.VerifiedByOperator {
		return core.OrgDomain{}, core.Invalidf("unknown way of verifying a domain %q", by)
	}
	var out core.OrgDomain
	err = s.inTx(ctx, func(t *tx) error {
		now := t.s.now()
		if _, err := t.exec(ctx, `INSERT INTO org_domains (domain, org_id, created_at) VALUES (?, ?, ?) ON CONFLICT (domain) DO NOTHING`,
			d, orgID, now); err != nil {
			return t.s.wrapf(err, "organization %s", orgID)
		}
		// The row is locked for the whole change: a concurrent claim of it
		// (claimOrgDomain's foreign keys) waits, and then sees the new owner.
		lock := ""
		if t.s.dialect == Postgres {
			lock = " FOR UPDATE"
		}
		cur, err := t.orgDomain(ctx, orgID, d, lock)
		if err != nil {
			return err
		}
		switch cur.Status {
		case core.DomainVerified:
			out = cur
			return nil
		case core.DomainOtherOrgVerified:
			return fmt.Errorf("email domain %s is verified by another organization: %w", d, core.ErrConflict)
		case core.DomainOtherOrg:
			if err := t.takeOverDomain(ctx, orgID, d); err != nil {
				return err
			}
		}
		if _, err := t.exec(ctx, `UPDATE org_domains SET verified_at = ?, verified_by = ?, verified_actor = ? WHERE domain = ? AND org_id = ?`,
			now, by, actorLabel(actor), d, orgID); err != nil {
			return err
		}
		if out, err = t.orgDomain(ctx, orgID, d, ""); err != nil {
			return err
		}
		details := map[string]any{"domain": d, "verified_by": by}
		if cur.Status == core.DomainOtherOrg {
			details["taken_over"] = true
		}
		return t.audit(ctx, orgID, actor, "domain.verified", "domain", d, details)
	})
	return out, err
}

// takeOverDomain moves a domain another org holds without proof to orgID: the
// other org's connections and directories stop using it (their versions move,
// so a stale edit is refused), and that org's audit log says so without naming
// who took it.
func (t *tx) takeOverDomain(ctx context.Context, orgID, domain string) error {
	var from string
	if err := t.get(ctx, &from, `SELECT org_id FROM org_domains WHERE domain = ?`, domain); err != nil {
		return err
	}
	held := []core.OrgDomain{{Domain: domain}}
	if err := t.usedBy(ctx, from, held); err != nil {
		return err
	}
	var conns, dirs []string
	for _, u := range held[0].UsedBy {
		if u.Kind == core.OwnerConnection {
			conns = append(conns, u.Name)
			if _, err := t.exec(ctx, `UPDATE sso_connections SET version = version + 1, updated_at = ? WHERE org_id = ? AND id = ?`,
				t.s.now(), from, u.ID); err != nil {
				return err
			}
		} else {
			dirs = append(dirs, u.Name)
		}
	}
	if _, err := t.exec(ctx, `DELETE FROM sso_connection_domains WHERE domain = ?`, domain); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM scim_directory_domains WHERE domain = ?`, domain); err != nil {
		return err
	}
	res, err := t.exec(ctx, `UPDATE org_domains SET org_id = ?, created_at = ? WHERE domain = ? AND org_id = ? AND verified_at IS NULL`,
		orgID, t.s.now(), domain, from)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return fmt.Errorf("email domain %s was verified by another organization meanwhile: %w", domain, core.ErrConflict)
	}
	return t.audit(ctx, from, core.Actor{Kind: core.ActorSystem, Name: "domain verification"}, "domain.lost", "domain", domain,
		map[string]any{"domain": domain, "connections": nonNilStrings(conns), "directories": nonNilStrings(dirs),
			"reason": "another organization proved the domain is theirs; this organization had not verified it"})
}

// actorLabel names an actor for a record: a person's name, a token's, the CLI's.
func actorLabel(a core.Actor) string {
	if a.Name != "" {
		return a.Name
	}
	return string(a.Kind) + ":" + a.ID
}

// trustedDomain is the one condition under which an org trusts one of its domains
// (org_domains d, joined with its organizations o) for routing, sign-in and
// adoption: always, or only once verified when the org requires verified domains
// (core.Org.RequireVerifiedDomains).
const trustedDomain = `(d.verified_at IS NOT NULL OR NOT o.require_verified_domains)`

// TrustedDomains returns, of the given domains, those the org trusts for routing
// and sign-in: its own, and when it requires verified domains
// (core.Org.RequireVerifiedDomains) only its verified ones. In name order.
func (s *SQL) TrustedDomains(ctx context.Context, orgID string, domains []string) ([]string, error) {
	ds := make([]string, 0, len(domains))
	for _, d := range domains {
		ds = append(ds, strings.ToLower(strings.TrimSpace(d)))
	}
	if len(ds) == 0 {
		return []string{}, nil
	}
	out := []string{}
	err := s.read(ctx, func(t *tx) error {
		return t.selIn(ctx, &out, `SELECT d.domain FROM org_domains d JOIN organizations o ON o.id = d.org_id
			WHERE d.org_id = ? AND d.domain IN (?) AND `+trustedDomain+`
			ORDER BY d.domain`, orgID, ds)
	})
	slices.Sort(out)
	return out, err
}
