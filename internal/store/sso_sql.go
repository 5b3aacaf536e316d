package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// ssoConnRow is one sso_connections row.
type ssoConnRow struct {
	ID        string `db:"id"`
	OrgID     string `db:"org_id"`
	Name      string `db:"name"`
	Kind      string `db:"kind"`
	Config    string `db:"config"`
	JIT       bool   `db:"jit"`
	CreatedAt int64  `db:"created_at"`
	UpdatedAt int64  `db:"updated_at"`
	Version   int64  `db:"version"`
}

const ssoConnCols = `id, org_id, name, kind, config, jit, created_at, updated_at, version`

func (r ssoConnRow) conn(domains []string) (SSOConnection, error) {
	c := SSOConnection{
		ID: r.ID, OrgID: r.OrgID, Name: r.Name, Kind: SSOKind(r.Kind), JIT: r.JIT,
		Domains:   domains,
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version,
	}
	var err error
	switch c.Kind {
	case KindSAML:
		c.SAML = new(SAMLConfig)
		err = json.Unmarshal([]byte(r.Config), c.SAML)
	case KindOIDC:
		c.OIDC = new(OIDCConfig)
		err = json.Unmarshal([]byte(r.Config), c.OIDC)
	default:
		err = fmt.Errorf("unknown kind %q", r.Kind)
	}
	if err != nil {
		return SSOConnection{}, fmt.Errorf("sso connection %s: read config: %w", r.ID, err)
	}
	return c, nil
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
		cfg = c.SAML
	case KindOIDC:
		if c.OIDC == nil || c.SAML != nil {
			return "", core.Invalidf("an OIDC connection needs an OIDC config only")
		}
		if c.OIDC.Issuer == "" || c.OIDC.ClientID == "" || c.OIDC.ClientSecretSealed == "" {
			return "", core.Invalidf("an OIDC connection needs an issuer, a client id and a client secret")
		}
		cfg = c.OIDC
	default:
		return "", core.Invalidf("unknown SSO connection kind %q (want saml or oidc)", c.Kind)
	}
	seen := map[string]bool{}
	var domains []string
	for _, d := range c.Domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || seen[d] {
			continue
		}
		if strings.ContainsAny(d, "@/ \\:") || !strings.Contains(d, ".") {
			return "", core.Invalidf("%q is not an email domain", d)
		}
		seen[d] = true
		domains = append(domains, d)
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
		if _, err := t.exec(ctx, `INSERT INTO sso_connection_domains (domain, org_id, connection_id, created_at) VALUES (?, ?, ?, ?)`,
			d, c.OrgID, c.ID, t.s.now()); err != nil {
			if errors.Is(t.s.translate(err), core.ErrConflict) {
				return fmt.Errorf("email domain %s is already routed to another SSO connection: %w", d, core.ErrConflict)
			}
			return err
		}
	}
	return nil
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
		if _, err := t.exec(ctx, `INSERT INTO sso_connections (id, org_id, name, kind, config, jit, created_at, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)`, c.ID, c.OrgID, c.Name, string(c.Kind), cfg, c.JIT, micros(now), micros(now)); err != nil {
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
		return t.audit(ctx, c.OrgID, actor, "sso_connection.create", "sso_connection", c.ID,
			map[string]any{"name": c.Name, "kind": c.Kind, "jit": c.JIT, "domains": c.Domains})
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
		now := t.s.Now()
		res, err := t.exec(ctx, `UPDATE sso_connections SET name = ?, config = ?, jit = ?, updated_at = ?, version = version + 1
			WHERE org_id = ? AND id = ? AND version = ?`, c.Name, cfg, c.JIT, micros(now), orgID, id, old.Version)
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
		return t.audit(ctx, orgID, actor, "sso_connection.update", "sso_connection", id,
			map[string]any{"name": c.Name, "jit": c.JIT, "domains": c.Domains, "version": c.Version})
	})
	if err != nil {
		return SSOConnection{}, err
	}
	return c, nil
}

// DeleteSSOConnection removes a connection; its domains, sessions, pending logins
// and connection IdP groups go with it (foreign keys cascade).
func (s *SQL) DeleteSSOConnection(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM sso_connections WHERE org_id = ? AND id = ?`, orgID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("sso connection %s: %w", id, core.ErrNotFound)
		}
		return t.audit(ctx, orgID, actor, "sso_connection.delete", "sso_connection", id, nil)
	})
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
		if _, err := t.exec(ctx, `INSERT INTO sso_sessions (id_hash, org_id, user_id, connection_id, created_at, last_seen_at, expires_at, idle_micros)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ss.IDHash, ss.OrgID, ss.UserID, ss.ConnectionID,
			micros(ss.CreatedAt), micros(ss.CreatedAt), micros(ss.ExpiresAt), ss.Idle.Microseconds()); err != nil {
			return err
		}
		return t.audit(ctx, ss.OrgID, actor, "sso.login", "user", ss.UserID, details)
	})
}

type sessionRow struct {
	IDHash       string `db:"id_hash"`
	OrgID        string `db:"org_id"`
	UserID       string `db:"user_id"`
	ConnectionID string `db:"connection_id"`
	CreatedAt    int64  `db:"created_at"`
	LastSeenAt   int64  `db:"last_seen_at"`
	ExpiresAt    int64  `db:"expires_at"`
	IdleMicros   int64  `db:"idle_micros"`
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
		return t.get(ctx, &r, `SELECT s.id_hash, s.org_id, s.user_id, s.connection_id, s.created_at, s.last_seen_at, s.expires_at, s.idle_micros
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
	return Session{
		IDHash: r.IDHash, OrgID: r.OrgID, UserID: r.UserID, ConnectionID: r.ConnectionID,
		CreatedAt: fromMicros(r.CreatedAt), LastSeenAt: fromMicros(r.LastSeenAt), ExpiresAt: fromMicros(r.ExpiresAt),
		Idle: time.Duration(r.IdleMicros) * time.Microsecond,
	}, nil
}

// DeleteSession ends a session.
func (s *SQL) DeleteSession(ctx context.Context, idHash string) error {
	return s.inTx(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `DELETE FROM sso_sessions WHERE id_hash = ?`, idHash)
		return err
	})
}

// SaveSAMLRequest records a pending AuthnRequest.
func (s *SQL) SaveSAMLRequest(ctx context.Context, r SAMLRequest) error {
	return s.inTx(ctx, func(t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO sso_saml_requests (relay_hash, request_id, connection_id, return_to, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, r.RelayHash, r.RequestID, r.ConnectionID, r.ReturnTo, t.s.now(), micros(r.ExpiresAt))
		return err
	})
}

// TakeSAMLRequest removes and returns a live pending request. DELETE … RETURNING
// makes taking it atomic: two responses racing for one request get it once.
func (s *SQL) TakeSAMLRequest(ctx context.Context, connectionID, relayHash string, now time.Time) (SAMLRequest, error) {
	var r struct {
		RequestID string `db:"request_id"`
		ReturnTo  string `db:"return_to"`
		ExpiresAt int64  `db:"expires_at"`
	}
	err := s.inTx(ctx, func(t *tx) error {
		return t.get(ctx, &r, `DELETE FROM sso_saml_requests WHERE relay_hash = ? AND connection_id = ?
			RETURNING request_id, return_to, expires_at`, relayHash, connectionID)
	})
	if err != nil {
		return SAMLRequest{}, err
	}
	if r.ExpiresAt <= micros(now) {
		return SAMLRequest{}, fmt.Errorf("saml request expired: %w", core.ErrNotFound)
	}
	return SAMLRequest{RelayHash: relayHash, RequestID: r.RequestID, ConnectionID: connectionID, ReturnTo: r.ReturnTo, ExpiresAt: fromMicros(r.ExpiresAt)}, nil
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
		} {
			if _, err := t.exec(ctx, q, now, now); err != nil {
				return err
			}
		}
		return nil
	})
}
