package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// ssoConnRow is one sso_connections row.
type ssoConnRow struct {
	ID        string  `db:"id"`
	OrgID     string  `db:"org_id"`
	Name      string  `db:"name"`
	Kind      string  `db:"kind"`
	Config    string  `db:"config"`
	JIT       bool    `db:"jit"`
	CreatedAt int64   `db:"created_at"`
	UpdatedAt int64   `db:"updated_at"`
	Version   int64   `db:"version"`
	Directory *string `db:"directory_id"`
}

const ssoConnCols = `id, org_id, name, kind, config, jit, created_at, updated_at, version, directory_id`

func (r ssoConnRow) conn(domains []string) (SSOConnection, error) {
	c := SSOConnection{
		ID: r.ID, OrgID: r.OrgID, Name: r.Name, Kind: SSOKind(r.Kind), JIT: r.JIT,
		Domains: domains, DirectoryID: str(r.Directory),
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version,
	}
	var legacy legacySSOConfig
	err := json.Unmarshal([]byte(r.Config), &legacy)
	switch {
	case err != nil:
	case c.Kind == KindSAML:
		c.SAML = new(SAMLConfig)
		err = json.Unmarshal([]byte(r.Config), c.SAML)
		if err == nil && legacy.Mapping == nil && legacy.GroupsAttribute != "" {
			c.SAML.Mapping.Groups = []string{legacy.GroupsAttribute}
		}
	case c.Kind == KindOIDC:
		c.OIDC = new(OIDCConfig)
		err = json.Unmarshal([]byte(r.Config), c.OIDC)
		if err == nil && legacy.Mapping == nil {
			if legacy.GroupsClaim != "" {
				c.OIDC.Mapping.Groups = []string{legacy.GroupsClaim}
			}
			// Before mappings, an OIDC login fell back to these claims when no
			// email was released (Entra); keep that for connections made then.
			c.OIDC.Mapping.Email = []string{"email", "preferred_username", "upn"}
		}
	default:
		err = fmt.Errorf("unknown kind %q", r.Kind)
	}
	if err != nil {
		return SSOConnection{}, fmt.Errorf("sso connection %s: read config: %w", r.ID, err)
	}
	return c, nil
}

// legacySSOConfig reads the settings configs had before mappings (migration
// 0011): a config without a "mapping" key was written then.
type legacySSOConfig struct {
	Mapping         *json.RawMessage `json:"mapping"`
	GroupsAttribute string           `json:"groups_attribute"`
	GroupsClaim     string           `json:"groups_claim"`
}

// maxClaimName bounds an attribute or claim name (Entra's claim URIs are ~70 bytes).
const maxClaimName = 512

// validateMapping checks the shape of a mapping; which names make sense is the
// sso package's business.
func validateMapping(m *ClaimMapping) error {
	for _, l := range []*[]string{&m.Email, &m.UserName, &m.GivenName, &m.FamilyName, &m.DisplayName, &m.Groups} {
		var out []string
		for _, n := range *l {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if len(n) > maxClaimName || strings.ContainsFunc(n, unicode.IsControl) || !utf8.ValidString(n) {
				return core.Invalidf("%.40q is not an attribute or claim name", n)
			}
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		*l = out
	}
	switch m.GroupValues {
	case "", "last-segment", "cn":
	default:
		return core.Invalidf("group values %q: want last-segment, cn, or empty for as sent", m.GroupValues)
	}
	return nil
}

func validateSkew(s Seconds) error {
	if s < 0 || s.Duration() > MaxClockSkew {
		return core.Invalidf("a clock skew allowance of %s is outside 0 to %s", s.Duration(), MaxClockSkew)
	}
	return nil
}

// normalizeDomains lower-cases, trims and dedupes email domains, refusing
// anything that is not one.
func normalizeDomains(in []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, d := range in {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || seen[d] {
			continue
		}
		if strings.ContainsAny(d, "@/ \\:") || !strings.Contains(d, ".") || strings.ContainsFunc(d, unicode.IsControl) || !utf8.ValidString(d) {
			return nil, core.Invalidf("%q is not an email domain", d)
		}
		seen[d] = true
		out = append(out, d)
	}
	return out, nil
}

// validateSSOConnection checks a connection before it is written and returns its
// config as JSON and its domains normalized.
func validateSSOConnection(c *SSOConnection) (string, error) {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		return "", core.Invalidf("an SSO connection needs a name")
	}
	var cfg any
	switch c.Kind {
	case KindSAML:
		if c.SAML == nil || c.OIDC != nil {
			return "", core.Invalidf("a SAML connection needs a SAML config only")
		}
		if c.SAML.IdPMetadataXML == "" || c.SAML.SPKeySealed == "" || c.SAML.SPCertPEM == "" {
			return "", core.Invalidf("a SAML connection needs IdP metadata and an SP key and certificate")
		}
		if err := validateMapping(&c.SAML.Mapping); err != nil {
			return "", err
		}
		if err := validateSkew(c.SAML.ClockSkew); err != nil {
			return "", err
		}
		cfg = c.SAML
	case KindOIDC:
		if c.OIDC == nil || c.SAML != nil {
			return "", core.Invalidf("an OIDC connection needs an OIDC config only")
		}
		if c.OIDC.Issuer == "" || c.OIDC.ClientID == "" || c.OIDC.ClientSecretSealed == "" {
			return "", core.Invalidf("an OIDC connection needs an issuer, a client id and a client secret")
		}
		if err := validateMapping(&c.OIDC.Mapping); err != nil {
			return "", err
		}
		if err := validateSkew(c.OIDC.ClockSkew); err != nil {
			return "", err
		}
		hd, err := normalizeDomains(c.OIDC.HostedDomains)
		if err != nil {
			return "", err
		}
		c.OIDC.HostedDomains = hd
		for _, sc := range c.OIDC.Scopes {
			// RFC 6749 §3.3: scope tokens are printable ASCII without space, " or \.
			if sc == "" || strings.ContainsFunc(sc, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' || r == '\\' }) {
				return "", core.Invalidf("%.40q is not an OAuth scope", sc)
			}
		}
		cfg = c.OIDC
	default:
		return "", core.Invalidf("unknown SSO connection kind %q (want saml or oidc)", c.Kind)
	}
	domains, err := normalizeDomains(c.Domains)
	if err != nil {
		return "", err
	}
	c.Domains = domains
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (t *tx) ssoDomains(ctx context.Context, connID string) ([]string, error) {
	var ds []string
	err := t.sel(ctx, &ds, `SELECT domain FROM sso_connection_domains WHERE connection_id = ? ORDER BY domain`, connID)
	return ds, err
}

func (t *tx) setSSODomains(ctx context.Context, c SSOConnection) error {
	if _, err := t.exec(ctx, `DELETE FROM sso_connection_domains WHERE connection_id = ?`, c.ID); err != nil {
		return err
	}
	for _, d := range c.Domains {
		if err := t.claimOrgDomain(ctx, c.OrgID, d); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO sso_connection_domains (domain, org_id, connection_id, created_at) VALUES (?, ?, ?, ?)`,
			d, c.OrgID, c.ID, t.s.now()); err != nil {
			if errors.Is(t.s.translate(err), core.ErrConflict) {
				return fmt.Errorf("email domain %s is already routed to another SSO connection: %w", d, core.ErrConflict)
			}
			return err
		}
	}
	return t.releaseOrgDomains(ctx, c.OrgID)
}

func (t *tx) getSSOConnection(ctx context.Context, where string, args ...any) (SSOConnection, error) {
	var r ssoConnRow
	if err := t.get(ctx, &r, `SELECT `+ssoConnCols+` FROM sso_connections WHERE `+where, args...); err != nil {
		if errors.Is(t.s.translate(err), core.ErrNotFound) {
			return SSOConnection{}, fmt.Errorf("sso connection: %w", core.ErrNotFound)
		}
		return SSOConnection{}, err
	}
	ds, err := t.ssoDomains(ctx, r.ID)
	if err != nil {
		return SSOConnection{}, err
	}
	return r.conn(ds)
}

// CreateSSOConnection stores a new connection with its domains.
func (s *SQL) CreateSSOConnection(ctx context.Context, actor core.Actor, c SSOConnection) (SSOConnection, error) {
	cfg, err := validateSSOConnection(&c)
	if err != nil {
		return SSOConnection{}, err
	}
	now := s.Now()
	// The caller may choose the id: secrets in the config are sealed to it.
	if c.ID == "" {
		c.ID = s.NewID()
	}
	c.CreatedAt, c.UpdatedAt, c.Version = now.UTC().Truncate(time.Microsecond), now.UTC().Truncate(time.Microsecond), 1
	err = s.inTx(ctx, func(t *tx) error {
		if err := t.linkedDirectory(ctx, &c); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO sso_connections (id, org_id, name, kind, config, jit, created_at, updated_at, version, directory_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`, c.ID, c.OrgID, c.Name, string(c.Kind), cfg, c.JIT, micros(now), micros(now), nullStr(c.DirectoryID)); err != nil {
			if errors.Is(t.s.translate(err), core.ErrConflict) {
				return fmt.Errorf("an SSO connection named %q already exists: %w", c.Name, core.ErrConflict)
			}
			if errors.Is(t.s.translate(err), core.ErrNotFound) {
				return fmt.Errorf("organization %s: %w", c.OrgID, core.ErrNotFound)
			}
			return err
		}
		if err := t.setSSODomains(ctx, c); err != nil {
			return err
		}
		details := map[string]any{"name": c.Name, "kind": c.Kind, "jit": c.JIT, "domains": c.Domains}
		if c.Certificates != nil {
			if err := t.syncIdPCertificates(ctx, c.OrgID, c.ID, c.Certificates); err != nil {
				return err
			}
			details["certificates"] = fingerprints(c.Certificates)
		}
		return t.audit(ctx, c.OrgID, actor, "sso_connection.create", "sso_connection", c.ID, details)
	})
	if err != nil {
		return SSOConnection{}, err
	}
	return c, nil
}

// GetSSOConnection finds a connection by id.
func (s *SQL) GetSSOConnection(ctx context.Context, id string) (c SSOConnection, err error) {
	err = s.read(ctx, func(t *tx) error {
		c, err = t.getSSOConnection(ctx, `id = ?`, id)
		return err
	})
	return c, err
}

// ListSSOConnections lists an org's connections, oldest first.
func (s *SQL) ListSSOConnections(ctx context.Context, orgID string) ([]SSOConnection, error) {
	var out []SSOConnection
	err := s.read(ctx, func(t *tx) error {
		var rows []ssoConnRow
		if err := t.sel(ctx, &rows, `SELECT `+ssoConnCols+` FROM sso_connections WHERE org_id = ? ORDER BY id`, orgID); err != nil {
			return err
		}
		for _, r := range rows {
			ds, err := t.ssoDomains(ctx, r.ID)
			if err != nil {
				return err
			}
			c, err := r.conn(ds)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// UpdateSSOConnection changes a connection through fn, bumping its version.
func (s *SQL) UpdateSSOConnection(ctx context.Context, actor core.Actor, orgID, id string, fn func(*SSOConnection) error) (SSOConnection, error) {
	var c SSOConnection
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.getSSOConnection(ctx, `org_id = ? AND id = ?`, orgID, id)
		if err != nil {
			return err
		}
		c = old
		if err := fn(&c); err != nil {
			return err
		}
		// Identity fields are not fn's to change.
		c.ID, c.OrgID, c.Kind, c.CreatedAt = old.ID, old.OrgID, old.Kind, old.CreatedAt
		cfg, err := validateSSOConnection(&c)
		if err != nil {
			return err
		}
		if err := t.linkedDirectory(ctx, &c); err != nil {
			return err
		}
		now := t.s.Now()
		res, err := t.exec(ctx, `UPDATE sso_connections SET name = ?, config = ?, jit = ?, directory_id = ?, updated_at = ?, version = version + 1
			WHERE org_id = ? AND id = ? AND version = ?`, c.Name, cfg, c.JIT, nullStr(c.DirectoryID), micros(now), orgID, id, old.Version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("sso connection %s changed meanwhile: %w", id, core.ErrVersion)
		}
		c.UpdatedAt, c.Version = now.UTC().Truncate(time.Microsecond), old.Version+1
		if err := t.setSSODomains(ctx, c); err != nil {
			return err
		}
		details := map[string]any{"name": c.Name, "jit": c.JIT, "domains": c.Domains, "version": c.Version}
		if c.DirectoryID != old.DirectoryID {
			details["directory_id"] = c.DirectoryID
		}
		if c.Certificates != nil {
			if err := t.syncIdPCertificates(ctx, orgID, id, c.Certificates); err != nil {
				return err
			}
			details["certificates"] = fingerprints(c.Certificates)
		}
		return t.audit(ctx, orgID, actor, "sso_connection.update", "sso_connection", id, details)
	})
	if err != nil {
		return SSOConnection{}, err
	}
	return c, nil
}

// DeleteSSOConnection removes a connection and everything that hangs off it. The
// dependent rows are deleted explicitly, in the same transaction, so the counts
// returned are exactly what went; the foreign keys' cascades still catch rows a
// concurrent login adds meanwhile.
func (s *SQL) DeleteSSOConnection(ctx context.Context, actor core.Actor, orgID, id string) (SSODeletion, error) {
	var d SSODeletion
	err := s.inTx(ctx, func(t *tx) error {
		c, err := t.getSSOConnection(ctx, `org_id = ? AND id = ?`, orgID, id)
		if err != nil {
			return err
		}
		d = SSODeletion{Connection: c}
		steps := []struct {
			n     *int
			query string
		}{
			{&d.Sessions, `DELETE FROM sso_sessions WHERE org_id = ? AND connection_id = ?`},
			{&d.IdPGroupMembers, `DELETE FROM idp_group_members WHERE org_id = ? AND idp_group_id IN (SELECT id FROM idp_groups WHERE connection_id = ?)`},
			{&d.IdPGroups, `DELETE FROM idp_groups WHERE org_id = ? AND connection_id = ?`},
			{&d.Mappings, `DELETE FROM group_mappings WHERE org_id = ? AND connection_id = ?`},
			{&d.Domains, `DELETE FROM sso_connection_domains WHERE org_id = ? AND connection_id = ?`},
		}
		for _, st := range steps {
			res, err := t.exec(ctx, st.query, orgID, id)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			*st.n = int(n)
		}
		// The users the connection created stay, as local users: nobody outside
		// Gatehouse owns them any more (an org admin may transfer them).
		res, err := t.exec(ctx, `UPDATE users SET source = 'invited', connection_id = NULL, version = version + 1, updated_at = ?
			WHERE org_id = ? AND connection_id = ?`, t.s.now(), orgID, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		d.Users = int(n)
		if err := t.releaseOrgDomains(ctx, orgID); err != nil {
			return err
		}
		res, err = t.exec(ctx, `DELETE FROM sso_connections WHERE org_id = ? AND id = ?`, orgID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sso connection %s: %w", id, core.ErrNotFound)
		}
		return t.audit(ctx, orgID, actor, "sso_connection.delete", "sso_connection", id, map[string]any{
			"name": c.Name, "kind": c.Kind, "domains": c.Domains, "sessions": d.Sessions, "idp_groups": d.IdPGroups,
			"idp_group_members": d.IdPGroupMembers, "group_mappings": d.Mappings, "users_made_local": d.Users,
		})
	})
	if err != nil {
		return SSODeletion{}, err
	}
	return d, nil
}

// SSOConnectionForDomain finds the connection a domain is routed to.
func (s *SQL) SSOConnectionForDomain(ctx context.Context, domain string) (c SSOConnection, err error) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	err = s.read(ctx, func(t *tx) error {
		c, err = t.getSSOConnection(ctx, `id = (SELECT connection_id FROM sso_connection_domains WHERE domain = ?)`, domain)
		return err
	})
	return c, err
}

// CreateSession stores a session and its login audit event in one transaction.
func (s *SQL) CreateSession(ctx context.Context, actor core.Actor, ss Session, details map[string]any) error {
	if ss.IDHash == "" || ss.Idle <= 0 || !ss.ExpiresAt.After(ss.CreatedAt) {
		return core.Invalidf("a session needs an id hash, an idle timeout and an expiry after its creation")
	}
	return s.inTx(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO sso_sessions (id_hash, org_id, user_id, connection_id, created_at, last_seen_at, expires_at, idle_micros,
			saml_name_id, saml_name_id_format, saml_name_qualifier, saml_sp_name_qualifier, saml_session_index)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ss.IDHash, ss.OrgID, ss.UserID, nullIfEmpty(ss.ConnectionID),
			micros(ss.CreatedAt), micros(ss.CreatedAt), micros(ss.ExpiresAt), ss.Idle.Microseconds(),
			ss.SAML.NameID, ss.SAML.Format, ss.SAML.NameQualifier, ss.SAML.SPNameQualifier, ss.SAML.SessionIndex); err != nil {
			return err
		}
		return t.audit(ctx, ss.OrgID, actor, "sso.login", "user", ss.UserID, details)
	})
}

type sessionRow struct {
	IDHash          string `db:"id_hash"`
	OrgID           string `db:"org_id"`
	UserID          string `db:"user_id"`
	ConnectionID    string `db:"connection_id"`
	CreatedAt       int64  `db:"created_at"`
	LastSeenAt      int64  `db:"last_seen_at"`
	ExpiresAt       int64  `db:"expires_at"`
	IdleMicros      int64  `db:"idle_micros"`
	NameID          string `db:"saml_name_id"`
	NameIDFormat    string `db:"saml_name_id_format"`
	NameQualifier   string `db:"saml_name_qualifier"`
	SPNameQualifier string `db:"saml_sp_name_qualifier"`
	SessionIndex    string `db:"saml_session_index"`
}

// sessionCols reads a session; a session made by a sign-in link has no connection
// (NULL), read as "".
const sessionCols = `id_hash, org_id, user_id, COALESCE(connection_id, '') AS connection_id, created_at, last_seen_at, expires_at, idle_micros,
	saml_name_id, saml_name_id_format, saml_name_qualifier, saml_sp_name_qualifier, saml_session_index`

func (r sessionRow) session() Session {
	return Session{
		IDHash: r.IDHash, OrgID: r.OrgID, UserID: r.UserID, ConnectionID: r.ConnectionID,
		CreatedAt: fromMicros(r.CreatedAt), LastSeenAt: fromMicros(r.LastSeenAt), ExpiresAt: fromMicros(r.ExpiresAt),
		Idle: time.Duration(r.IdleMicros) * time.Microsecond,
		SAML: SAMLSubject{NameID: r.NameID, Format: r.NameIDFormat, NameQualifier: r.NameQualifier,
			SPNameQualifier: r.SPNameQualifier, SessionIndex: r.SessionIndex},
	}
}

// touchEvery limits how often a session's last use is written: idle timeouts are
// minutes long, so a write per minute is precise enough and spares the database.
const touchEvery = time.Minute

// LookupSession returns the live session of an id hash. The user's active flag is
// read in the same query, so a deactivated user's sessions stop at once.
func (s *SQL) LookupSession(ctx context.Context, idHash string, at time.Time) (Session, error) {
	var r sessionRow
	now := micros(at)
	err := s.read(ctx, func(t *tx) error {
		return t.get(ctx, &r, `SELECT s.id_hash, s.org_id, s.user_id, COALESCE(s.connection_id, '') AS connection_id, s.created_at, s.last_seen_at, s.expires_at, s.idle_micros,
			s.saml_name_id, s.saml_name_id_format, s.saml_name_qualifier, s.saml_sp_name_qualifier, s.saml_session_index
			FROM sso_sessions s JOIN users u ON u.org_id = s.org_id AND u.id = s.user_id
			WHERE s.id_hash = ? AND u.active = TRUE AND s.expires_at > ? AND s.last_seen_at + s.idle_micros > ?`, idHash, now, now)
	})
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return Session{}, fmt.Errorf("session: %w", core.ErrNotFound)
		}
		return Session{}, err
	}
	if now-r.LastSeenAt >= touchEvery.Microseconds() {
		if err := s.inTx(ctx, func(t *tx) error {
			_, err := t.exec(ctx, `UPDATE sso_sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?`, now, idHash, now)
			return err
		}); err != nil {
			return Session{}, err
		}
		r.LastSeenAt = now
	}
	return r.session(), nil
}

// DeleteSession ends a session.
func (s *SQL) DeleteSession(ctx context.Context, idHash string) error {
	return s.inTx(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `DELETE FROM sso_sessions WHERE id_hash = ?`, idHash)
		return err
	})
}

// EndSession ends a session and audits the logout in one transaction.
func (s *SQL) EndSession(ctx context.Context, idHash string, details map[string]any) (Session, error) {
	var r sessionRow
	err := s.inTx(ctx, func(t *tx) error {
		if err := t.get(ctx, &r, `DELETE FROM sso_sessions WHERE id_hash = ? RETURNING `+sessionCols, idHash); err != nil {
			return err
		}
		return t.audit(ctx, r.OrgID, core.Actor{Kind: core.ActorSSO, ID: r.ConnectionID}, "sso.logout", "user", r.UserID, details)
	})
	if errors.Is(err, core.ErrNotFound) {
		return Session{}, fmt.Errorf("session: %w", core.ErrNotFound)
	}
	if err != nil {
		return Session{}, err
	}
	return r.session(), nil
}

// EndSAMLSessions ends the sessions of one IdP session, auditing each.
func (s *SQL) EndSAMLSessions(ctx context.Context, connectionID, nameID string, sessionIndexes []string, details map[string]any) (int, error) {
	if nameID == "" {
		return 0, core.Invalidf("a logout needs the NameID of the sessions to end")
	}
	var n int
	err := s.inTx(ctx, func(t *tx) error {
		var rows []sessionRow
		q, args := `DELETE FROM sso_sessions WHERE connection_id = ? AND saml_name_id = ?`, []any{connectionID, nameID}
		if len(sessionIndexes) > 0 {
			q += ` AND saml_session_index IN (?)`
			args = append(args, sessionIndexes)
		}
		q, a, err := sqlx.In(q+` RETURNING `+sessionCols, args...)
		if err != nil {
			return err
		}
		if err := t.selRaw(ctx, &rows, q, a...); err != nil {
			return err
		}
		for _, r := range rows {
			if err := t.audit(ctx, r.OrgID, core.Actor{Kind: core.ActorSSO, ID: r.ConnectionID}, "sso.logout", "user", r.UserID, details); err != nil {
				return err
			}
		}
		n = len(rows)
		return nil
	})
	return n, err
}

// SaveSAMLRequest records a pending AuthnRequest or LogoutRequest.
func (s *SQL) SaveSAMLRequest(ctx context.Context, r SAMLRequest) error {
	purpose := r.Purpose
	if purpose == "" {
		purpose = SAMLLogin
	}
	return s.inTx(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO sso_saml_requests (relay_hash, request_id, connection_id, return_to, created_at, expires_at, binding_hash, purpose)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.RelayHash, r.RequestID, r.ConnectionID, r.ReturnTo, t.s.now(), micros(r.ExpiresAt), r.BindingHash, purpose)
		return err
	})
}

// TakeSAMLRequest removes and returns a live pending request. DELETE … RETURNING
// makes taking it atomic: two responses racing for one request get it once.
func (s *SQL) TakeSAMLRequest(ctx context.Context, connectionID, purpose, relayHash string, now time.Time) (SAMLRequest, error) {
	var r struct {
		RequestID   string `db:"request_id"`
		ReturnTo    string `db:"return_to"`
		ExpiresAt   int64  `db:"expires_at"`
		BindingHash string `db:"binding_hash"`
	}
	err := s.inTx(ctx, func(t *tx) error {
		return t.get(ctx, &r, `DELETE FROM sso_saml_requests WHERE relay_hash = ? AND connection_id = ? AND purpose = ?
			RETURNING request_id, return_to, expires_at, binding_hash`, relayHash, connectionID, purpose)
	})
	if err != nil {
		return SAMLRequest{}, err
	}
	if r.ExpiresAt <= micros(now) {
		return SAMLRequest{}, fmt.Errorf("saml request expired: %w", core.ErrNotFound)
	}
	return SAMLRequest{Purpose: purpose, RelayHash: relayHash, RequestID: r.RequestID, ConnectionID: connectionID, ReturnTo: r.ReturnTo,
		ExpiresAt: fromMicros(r.ExpiresAt), BindingHash: r.BindingHash}, nil
}

// ConsumeAssertion records an assertion id; a second use is core.ErrConflict.
func (s *SQL) ConsumeAssertion(ctx context.Context, connectionID, assertionID string, expiresAt time.Time) error {
	if assertionID == "" {
		return core.Invalidf("an assertion without an id cannot be checked for replay")
	}
	return s.inTx(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO sso_saml_assertions (connection_id, assertion_id, expires_at) VALUES (?, ?, ?)`,
			connectionID, assertionID, micros(expiresAt))
		if err != nil && errors.Is(t.s.translate(err), core.ErrConflict) {
			return fmt.Errorf("assertion %s was already used: %w", assertionID, core.ErrConflict)
		}
		return err
	})
}

// SaveOIDCState records an OIDC login in flight.
func (s *SQL) SaveOIDCState(ctx context.Context, st OIDCState) error {
	return s.inTx(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO sso_oidc_states (state_hash, connection_id, nonce, pkce_verifier, return_to, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, st.StateHash, st.ConnectionID, st.Nonce, st.PKCEVerifier, st.ReturnTo, t.s.now(), micros(st.ExpiresAt))
		return err
	})
}

// TakeOIDCState removes and returns a live state, atomically.
func (s *SQL) TakeOIDCState(ctx context.Context, connectionID, stateHash string, now time.Time) (OIDCState, error) {
	var r struct {
		Nonce     string `db:"nonce"`
		Verifier  string `db:"pkce_verifier"`
		ReturnTo  string `db:"return_to"`
		ExpiresAt int64  `db:"expires_at"`
	}
	err := s.inTx(ctx, func(t *tx) error {
		return t.get(ctx, &r, `DELETE FROM sso_oidc_states WHERE state_hash = ? AND connection_id = ?
			RETURNING nonce, pkce_verifier, return_to, expires_at`, stateHash, connectionID)
	})
	if err != nil {
		return OIDCState{}, err
	}
	if r.ExpiresAt <= micros(now) {
		return OIDCState{}, fmt.Errorf("oidc state expired: %w", core.ErrNotFound)
	}
	return OIDCState{StateHash: stateHash, ConnectionID: connectionID, Nonce: r.Nonce, PKCEVerifier: r.Verifier,
		ReturnTo: r.ReturnTo, ExpiresAt: fromMicros(r.ExpiresAt)}, nil
}

// RecordSSOEvent appends one audit event.
func (s *SQL) RecordSSOEvent(ctx context.Context, orgID string, actor core.Actor, action, targetKind, targetID string, details map[string]any) error {
	return s.inTx(ctx, func(t *tx) error {
		return t.audit(ctx, orgID, actor, action, targetKind, targetID, details)
	})
}

// PruneSSO deletes expired login state.
func (s *SQL) PruneSSO(ctx context.Context, at time.Time) error {
	now := micros(at)
	return s.inTx(ctx, func(t *tx) error {
		for _, q := range []string{
			`DELETE FROM sso_sessions WHERE expires_at <= ? OR last_seen_at + idle_micros <= ?`,
			`DELETE FROM sso_saml_requests WHERE expires_at <= ? OR expires_at <= ?`,
			`DELETE FROM sso_saml_assertions WHERE expires_at <= ? OR expires_at <= ?`,
			`DELETE FROM sso_oidc_states WHERE expires_at <= ? OR expires_at <= ?`,
			// Expired sign-in links, used or not: nothing can take them any more
			// (their use is in the audit log).
			`DELETE FROM signin_links WHERE expires_at <= ? OR expires_at <= ?`,
		} {
			if _, err := t.exec(ctx, q, now, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// fingerprints lists the fingerprints of certificates, for audit details.
func fingerprints(cs []IdPCertificate) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Fingerprint)
	}
	return out
}

// microsOrNil stores a zero time as NULL (unknown).
func microsOrNil(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := micros(t)
	return &v
}

func fromMicrosOrZero(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMicros(*v)
}

// syncIdPCertificates records the certificates an IdP lists now: new ones are
// added, listed ones marked seen (and un-retired), and recorded ones no longer
// listed marked retired.
func (t *tx) syncIdPCertificates(ctx context.Context, orgID, connID string, certs []IdPCertificate) error {
	now := t.s.now()
	listed := make([]string, 0, len(certs))
	for _, c := range certs {
		if c.Fingerprint == "" || (c.Kind != CertSAMLSigning && c.Kind != CertOIDCKey) {
			return core.Invalidf("an IdP certificate needs a fingerprint and a kind (%s or %s)", CertSAMLSigning, CertOIDCKey)
		}
		if slices.Contains(listed, c.Fingerprint) {
			continue
		}
		listed = append(listed, c.Fingerprint)
		if _, err := t.exec(ctx, `INSERT INTO sso_idp_certificates (connection_id, org_id, fingerprint, kind, key_id, subject, not_before, not_after, first_seen_at, last_seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (connection_id, fingerprint) DO UPDATE SET last_seen_at = excluded.last_seen_at, retired_at = NULL, key_id = excluded.key_id`,
			connID, orgID, c.Fingerprint, c.Kind, c.KeyID, c.Subject, microsOrNil(c.NotBefore), microsOrNil(c.NotAfter), now, now); err != nil {
			return err
		}
	}
	q, args := `UPDATE sso_idp_certificates SET retired_at = ? WHERE connection_id = ? AND retired_at IS NULL`, []any{now, connID}
	if len(listed) > 0 {
		q += ` AND fingerprint NOT IN (?)`
		args = append(args, listed)
	}
	_, err := t.execIn(ctx, q, args...)
	return err
}

type idpCertRow struct {
	ConnectionID string `db:"connection_id"`
	Fingerprint  string `db:"fingerprint"`
	Kind         string `db:"kind"`
	KeyID        string `db:"key_id"`
	Subject      string `db:"subject"`
	NotBefore    *int64 `db:"not_before"`
	NotAfter     *int64 `db:"not_after"`
	FirstSeenAt  int64  `db:"first_seen_at"`
	LastSeenAt   int64  `db:"last_seen_at"`
	RetiredAt    *int64 `db:"retired_at"`
}

// ListIdPCertificates lists an org's IdP certificates: listed ones soonest to
// expire first (unknown expiry last), then retired ones, most recently retired first.
func (s *SQL) ListIdPCertificates(ctx context.Context, orgID, connectionID string) ([]IdPCertificate, error) {
	var rows []idpCertRow
	err := s.read(ctx, func(t *tx) error {
		return t.sel(ctx, &rows, `SELECT connection_id, fingerprint, kind, key_id, subject, not_before, not_after, first_seen_at, last_seen_at, retired_at
			FROM sso_idp_certificates WHERE org_id = ? AND (? = '' OR connection_id = ?)
			ORDER BY CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, CASE WHEN not_after IS NULL THEN 1 ELSE 0 END,
				not_after, retired_at DESC, connection_id, fingerprint`, orgID, connectionID, connectionID)
	})
	if err != nil {
		return nil, err
	}
	out := make([]IdPCertificate, 0, len(rows))
	for _, r := range rows {
		out = append(out, IdPCertificate{
			ConnectionID: r.ConnectionID, Fingerprint: r.Fingerprint, Kind: r.Kind, KeyID: r.KeyID, Subject: r.Subject,
			NotBefore: fromMicrosOrZero(r.NotBefore), NotAfter: fromMicrosOrZero(r.NotAfter),
			FirstSeenAt: fromMicros(r.FirstSeenAt), LastSeenAt: fromMicros(r.LastSeenAt), RetiredAt: fromMicrosOrZero(r.RetiredAt),
		})
	}
	return out, nil
}

// ClaimSSORefreshes takes the due connections, atomically per connection.
func (s *SQL) ClaimSSORefreshes(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]SSOConnection, error) {
	if limit <= 0 {
		limit = 100
	}
	var ids []string
	err := s.inTx(ctx, func(t *tx) error {
		// Connections never scheduled are due at once.
		if _, err := t.exec(ctx, `INSERT INTO sso_refresh (connection_id, org_id, next_at)
			SELECT c.id, c.org_id, 0 FROM sso_connections c
			WHERE NOT EXISTS (SELECT 1 FROM sso_refresh r WHERE r.connection_id = c.id)
			ON CONFLICT (connection_id) DO NOTHING`); err != nil {
			return err
		}
		// The UPDATE decides the claim: a row another instance moved meanwhile no
		// longer matches next_at <= now.
		return t.sel(ctx, &ids, `UPDATE sso_refresh SET next_at = ?
			WHERE connection_id IN (SELECT connection_id FROM sso_refresh WHERE next_at <= ? ORDER BY next_at LIMIT ?) AND next_at <= ?
			RETURNING connection_id`, micros(now.Add(lease)), micros(now), limit, micros(now))
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	var out []SSOConnection
	for _, id := range ids {
		c, err := s.GetSSOConnection(ctx, id)
		if errors.Is(err, core.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// RecordSSORefresh stores a refresh attempt's outcome.
func (s *SQL) RecordSSORefresh(ctx context.Context, connectionID string, r SSORefreshResult) error {
	return s.inTx(ctx, func(t *tx) error {
		var orgID string
		if err := t.get(ctx, &orgID, `SELECT org_id FROM sso_connections WHERE id = ?`, connectionID); err != nil {
			return err
		}
		var err error
		if r.Err == "" {
			_, err = t.exec(ctx, `INSERT INTO sso_refresh (connection_id, org_id, next_at, last_attempt_at, last_success_at, last_error, failures, digest)
				VALUES (?, ?, ?, ?, ?, '', 0, ?)
				ON CONFLICT (connection_id) DO UPDATE SET next_at = excluded.next_at, last_attempt_at = excluded.last_attempt_at,
					last_success_at = excluded.last_success_at, last_error = '', failures = 0, digest = excluded.digest`,
				connectionID, orgID, micros(r.NextAt), micros(r.At), micros(r.At), r.Digest)
		} else {
			_, err = t.exec(ctx, `INSERT INTO sso_refresh (connection_id, org_id, next_at, last_attempt_at, last_error, failures)
				VALUES (?, ?, ?, ?, ?, 1)
				ON CONFLICT (connection_id) DO UPDATE SET next_at = excluded.next_at, last_attempt_at = excluded.last_attempt_at,
					last_error = excluded.last_error, failures = sso_refresh.failures + 1`,
				connectionID, orgID, micros(r.NextAt), micros(r.At), r.Err)
		}
		if err != nil {
			return err
		}
		if r.Err == "" && r.Certificates != nil {
			return t.syncIdPCertificates(ctx, orgID, connectionID, r.Certificates)
		}
		return nil
	})
}

// GetSSORefresh returns a connection's refresh state.
func (s *SQL) GetSSORefresh(ctx context.Context, orgID, connectionID string) (SSORefresh, error) {
	var r struct {
		NextAt        int64  `db:"next_at"`
		LastAttemptAt *int64 `db:"last_attempt_at"`
		LastSuccessAt *int64 `db:"last_success_at"`
		LastError     string `db:"last_error"`
		Failures      int    `db:"failures"`
		Digest        string `db:"digest"`
	}
	err := s.read(ctx, func(t *tx) error {
		return t.get(ctx, &r, `SELECT next_at, last_attempt_at, last_success_at, last_error, failures, digest
			FROM sso_refresh WHERE org_id = ? AND connection_id = ?`, orgID, connectionID)
	})
	if errors.Is(err, core.ErrNotFound) {
		return SSORefresh{}, fmt.Errorf("sso refresh of %s: %w", connectionID, core.ErrNotFound)
	}
	if err != nil {
		return SSORefresh{}, err
	}
	return SSORefresh{ConnectionID: connectionID, NextAt: fromMicros(r.NextAt), LastAttemptAt: fromMicrosOrZero(r.LastAttemptAt),
		LastSuccessAt: fromMicrosOrZero(r.LastSuccessAt), LastError: r.LastError, Failures: r.Failures, Digest: r.Digest}, nil
}

// linkedDirectory resolves the directory a connection is linked to (by id or name)
// to its id, in the connection's org: a directory of another org or none at all is
// core.ErrInvalid.
func (t *tx) linkedDirectory(ctx context.Context, c *SSOConnection) error {
	c.DirectoryID = strings.TrimSpace(c.DirectoryID)
	if c.DirectoryID == "" {
		return nil
	}
	var id string
	err := t.get(ctx, &id, `SELECT id FROM scim_directories WHERE org_id = ? AND (id = ? OR name = ?)
		ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, c.OrgID, c.DirectoryID, c.DirectoryID, c.DirectoryID)
	if errors.Is(t.s.translate(err), core.ErrNotFound) {
		return core.Invalidf("no directory %q in this organization", c.DirectoryID)
	}
	if err != nil {
		return err
	}
	c.DirectoryID = id
	return nil
}
