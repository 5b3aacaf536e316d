package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// Secret prefixes say what a token opens, so a leaked one is recognizable
// (secret scanners) and a SCIM token pasted as an API token fails fast.
const (
	prefixSCIM = "ghs_"
	prefixAPI  = "gha_"
)

// lastUsedEvery is how stale last_used_at may get: a SCIM burst of thousands of
// requests writes it once, not once per request.
const lastUsedEvery = time.Minute

type tokenRow struct {
	ID          string  `db:"id"`
	OrgID       string  `db:"org_id"`
	Kind        string  `db:"kind"`
	Name        string  `db:"name"`
	Hash        string  `db:"hash"`
	DirectoryID *string `db:"directory_id"`
	CreatedAt   int64   `db:"created_at"`
	LastUsedAt  *int64  `db:"last_used_at"`
	RevokedAt   *int64  `db:"revoked_at"`
}

const tokenCols = `id, org_id, kind, name, hash, directory_id, created_at, last_used_at, revoked_at`

func (r tokenRow) token() Token {
	t := Token{ID: r.ID, OrgID: r.OrgID, Kind: TokenKind(r.Kind), Name: r.Name, DirectoryID: str(r.DirectoryID),
		CreatedAt: fromMicros(r.CreatedAt)}
	if r.LastUsedAt != nil {
		v := fromMicros(*r.LastUsedAt)
		t.LastUsedAt = &v
	}
	if r.RevokedAt != nil {
		v := fromMicros(*r.RevokedAt)
		t.RevokedAt = &v
	}
	return t
}

// hashSecret is what is stored of a secret. Secrets are 256 random bits, so a plain
// SHA-256 is enough: there is nothing to brute-force.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CreateToken stores a new token and returns it with its secret, shown only now.
func (s *SQL) CreateToken(ctx context.Context, actor core.Actor, orgID string, kind TokenKind, name, directoryID string) (Token, string, error) {
	var prefix string
	switch kind {
	case TokenSCIM:
		if directoryID == "" {
			return Token{}, "", core.Invalidf("a SCIM token needs a directory")
		}
		prefix = prefixSCIM
	case TokenAPI:
		if directoryID != "" {
			return Token{}, "", core.Invalidf("an API token does not belong to a directory")
		}
		prefix = prefixAPI
	default:
		return Token{}, "", core.Invalidf("token kind %q is not one of scim, api", kind)
	}
	if strings.TrimSpace(name) == "" {
		name = string(kind) + " token"
	}
	if err := validName("token name", name, 200); err != nil {
		return Token{}, "", err
	}
	secret := newSecret(prefix)
	r := tokenRow{ID: s.NewID(), OrgID: orgID, Kind: string(kind), Name: name, Hash: hashSecret(secret),
		DirectoryID: nullStr(directoryID), CreatedAt: s.now()}
	err := s.inTx(ctx, func(t *tx) error {
		if err := t.orgExists(ctx, orgID); err != nil {
			return err
		}
		if directoryID != "" {
			var n int
			if err := t.get(ctx, &n, `SELECT COUNT(*) FROM scim_directories WHERE org_id = ? AND id = ?`, orgID, directoryID); err != nil {
				return err
			}
			if n == 0 {
				return notFound("directory", directoryID)
			}
		}
		if _, err := t.exec(ctx, `INSERT INTO api_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.OrgID, r.Kind, r.Name, r.Hash, r.DirectoryID, r.CreatedAt, r.LastUsedAt, r.RevokedAt); err != nil {
			return s.wrapf(err, "token")
		}
		d := map[string]any{"kind": r.Kind, "name": name}
		if directoryID != "" {
			d["directory_id"] = directoryID
		}
		return t.audit(ctx, orgID, actor, "token.create", "token", r.ID, d)
	})
	if err != nil {
		return Token{}, "", err
	}
	return r.token(), secret, nil
}

// Authenticate finds the live token of a secret and records its use at most once a
// minute. Unknown, malformed and revoked secrets are all core.ErrNotFound.
func (s *SQL) Authenticate(ctx context.Context, secret string) (Token, error) {
	if !strings.HasPrefix(secret, prefixSCIM) && !strings.HasPrefix(secret, prefixAPI) {
		return Token{}, notFoundToken()
	}
	h := hashSecret(secret)
	var r tokenRow
	err := s.getKey(ctx, &r, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`, h)
	if err != nil || subtle.ConstantTimeCompare([]byte(r.Hash), []byte(h)) != 1 || r.RevokedAt != nil {
		if err != nil && !isNotFound(err) {
			return Token{}, err
		}
		return Token{}, notFoundToken()
	}
	now := s.now()
	if r.LastUsedAt == nil || now-*r.LastUsedAt >= lastUsedEvery.Microseconds() {
		// Conditional, so concurrent requests write it once; a failure here must not
		// fail the request it authenticates.
		_ = s.inTx(ctx, func(t *tx) error {
			_, err := t.exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`,
				now, r.ID, now-lastUsedEvery.Microseconds())
			return err
		})
		r.LastUsedAt = &now
	}
	return r.token(), nil
}

func notFoundToken() error { return notFound("token", "(secret not shown)") }

// ListTokens lists the org's tokens, revoked ones included, oldest first.
func (s *SQL) ListTokens(ctx context.Context, orgID string) ([]Token, error) {
	var rows []tokenRow
	if err := s.read(ctx, func(t *tx) error {
		return t.sel(ctx, &rows, `SELECT `+tokenCols+` FROM api_tokens WHERE org_id = ? ORDER BY id`, orgID)
	}); err != nil {
		return nil, err
	}
	out := make([]Token, len(rows))
	for i, r := range rows {
		out[i] = r.token()
	}
	return out, nil
}

// RevokeToken revokes a token for good; revoking it again is a no-op.
func (s *SQL) RevokeToken(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		var r tokenRow
		if err := t.get(ctx, &r, `SELECT `+tokenCols+` FROM api_tokens WHERE org_id = ? AND id = ?`+t.forUpdate(), orgID, id); err != nil {
			return orNotFound(err, "token", id)
		}
		if r.RevokedAt != nil {
			return nil
		}
		if _, err := t.exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ?`, t.s.now(), id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "token.revoke", "token", id, map[string]any{"kind": r.Kind, "name": r.Name})
	})
}
