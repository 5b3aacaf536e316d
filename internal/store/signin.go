package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// SignInKind is what a single-use sign-in link is for.
type SignInKind string

// Sign-in link kinds.
const (
	// SignInBreakGlass: an operator's link for an active org admin (gatehouse
	// login-link), how an org gets in before it has an identity provider, or when
	// its identity provider is down.
	SignInBreakGlass SignInKind = "break_glass"
	// SignInInvitation: an invited person's first sign-in.
	SignInInvitation SignInKind = "invitation"
	// SignInSetup: the first-run link that creates the first organization; it
	// names no org or user.
	SignInSetup SignInKind = "setup"
)

// SignInLink is a single-use sign-in link. Only the SHA-256 of its secret is
// stored (TokenHash).
type SignInLink struct {
	TokenHash string     `json:"-"`
	Kind      SignInKind `json:"kind"`
	OrgID     string     `json:"org_id,omitempty"`
	UserID    string     `json:"user_id,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    time.Time  `json:"used_at,omitzero"` // zero while unused
}

// LinkHash is what the store keeps of a sign-in link's secret: its SHA-256, hex.
// Every edge that makes or takes a link hashes with it.
func LinkHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ErrLinkUsed is what taking an unknown, expired or already used link returns;
// it wraps core.ErrNotFound. The three are not told apart, to anyone.
var ErrLinkUsed = fmt.Errorf("this sign-in link has expired or was already used: %w", core.ErrNotFound)

// SignIns manages single-use sign-in links and the sessions they start.
type SignIns interface {
	// CreateSignInLink stores a link with its audit event (signin_link.create).
	// A break-glass link is only for an active org admin and an invitation only
	// for an active user of the org (core.ErrInvalid otherwise, saying why); an
	// unknown user is core.ErrNotFound. A setup link names no org and is not
	// audited (there is no org yet).
	CreateSignInLink(ctx context.Context, actor core.Actor, l SignInLink) error
	// RedeemSignInLink uses up a break-glass or invitation link and starts session
	// ss for the link's user (ss.OrgID and ss.UserID are taken from the link), in
	// one transaction with its audit event (signin.break_glass or
	// signin.invitation, with details). The link must be unused and unexpired at
	// ss.CreatedAt (ErrLinkUsed otherwise), its user active, and for break glass
	// still an org admin (core.ErrInvalid otherwise, and the link stays unused).
	RedeemSignInLink(ctx context.Context, tokenHash string, ss Session, details map[string]any) (SignInLink, error)
	// TakeSetupLink uses up an unused, unexpired setup link (ErrLinkUsed
	// otherwise). Call it inside WithTx with what the setup creates, so a failed
	// setup leaves the link usable.
	TakeSetupLink(ctx context.Context, tokenHash string, at time.Time) error
	// SetupLinkUsable reports whether a setup link is unused and unexpired at
	// `at` (ErrLinkUsed otherwise), without using it: the setup page asks before
	// it shows its form.
	SetupLinkUsable(ctx context.Context, tokenHash string, at time.Time) error
	// StartSetupSession stores the session of the person who just created the
	// organization on the setup page (ss names the org and user), with its audit
	// event, signin.setup; ss has no SSO connection.
	StartSetupSession(ctx context.Context, ss Session) error
}

var _ SignIns = (*SQL)(nil)

// CreateSignInLink implements SignIns.
func (s *SQL) CreateSignInLink(ctx context.Context, actor core.Actor, l SignInLink) error {
	if l.TokenHash == "" || !l.ExpiresAt.After(l.CreatedAt) {
		return core.Invalidf("a sign-in link needs a token hash and an expiry after its creation")
	}
	switch l.Kind {
	case SignInSetup:
		if l.OrgID != "" || l.UserID != "" {
			return core.Invalidf("a setup link names no organization or user")
		}
	case SignInBreakGlass, SignInInvitation:
		if l.OrgID == "" || l.UserID == "" {
			return core.Invalidf("a %s link needs an organization and a user", l.Kind)
		}
	default:
		return core.Invalidf("unknown sign-in link kind %q", l.Kind)
	}
	return s.inTx(ctx, func(t *tx) error {
		if l.Kind != SignInSetup {
			u, err := t.signInUser(ctx, l)
			if err != nil {
				return err
			}
			if err := t.signInAllowed(ctx, l, u); err != nil {
				return err
			}
		}
		if _, err := t.exec(ctx, `INSERT INTO signin_links (token_hash, kind, org_id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			l.TokenHash, string(l.Kind), nullIfEmpty(l.OrgID), nullIfEmpty(l.UserID), micros(l.CreatedAt), micros(l.ExpiresAt)); err != nil {
			return err
		}
		if l.Kind == SignInSetup {
			return nil
		}
		return t.audit(ctx, l.OrgID, actor, "signin_link.create", "user", l.UserID,
			map[string]any{"kind": string(l.Kind), "expires_at": l.ExpiresAt.UTC().Format(time.RFC3339)})
	})
}

// signInUser reads the user a link is for.
func (t *tx) signInUser(ctx context.Context, l SignInLink) (core.User, error) {
	var r userRow
	if err := t.get(ctx, &r, `SELECT `+userCols+` FROM users WHERE org_id = ? AND id = ?`, l.OrgID, l.UserID); err != nil {
		return core.User{}, orNotFound(err, "user", l.UserID)
	}
	return r.user(), nil
}

// signInAllowed says whether u may sign in with a link of l's kind: an active
// user, and for break glass an org admin.
func (t *tx) signInAllowed(ctx context.Context, l SignInLink, u core.User) error {
	if !u.Active {
		return core.Invalidf("user %s is deactivated", u.UserName)
	}
	if l.Kind != SignInBreakGlass {
		return nil
	}
	admin, err := t.isOrgAdmin(ctx, l.OrgID, l.UserID)
	if err != nil {
		return err
	}
	if !admin {
		return core.Invalidf("user %s is not an org admin: a break-glass sign-in is for active org admins only", u.UserName)
	}
	return nil
}

type signInRow struct {
	Kind      string  `db:"kind"`
	OrgID     *string `db:"org_id"`
	UserID    *string `db:"user_id"`
	CreatedAt int64   `db:"created_at"`
	ExpiresAt int64   `db:"expires_at"`
	UsedAt    *int64  `db:"used_at"`
}

func (r signInRow) link(hash string) SignInLink {
	l := SignInLink{TokenHash: hash, Kind: SignInKind(r.Kind), CreatedAt: fromMicros(r.CreatedAt), ExpiresAt: fromMicros(r.ExpiresAt),
		UsedAt: fromMicrosOrZero(r.UsedAt)}
	if r.OrgID != nil {
		l.OrgID = *r.OrgID
	}
	if r.UserID != nil {
		l.UserID = *r.UserID
	}
	return l
}

// takeLink marks an unused, unexpired link of one of kinds used at `at`; the
// condition in the UPDATE makes a second use find nothing, on every instance.
func (t *tx) takeLink(ctx context.Context, tokenHash string, at time.Time, setup bool) (SignInLink, error) {
	var r signInRow
	cond := `kind <> 'setup'`
	if setup {
		cond = `kind = 'setup'`
	}
	err := t.get(ctx, &r, `UPDATE signin_links SET used_at = ? WHERE token_hash = ? AND `+cond+` AND used_at IS NULL AND expires_at > ?
		RETURNING kind, org_id, user_id, created_at, expires_at, used_at`, micros(at), tokenHash, micros(at))
	if errors.Is(err, core.ErrNotFound) || errors.Is(err, sql.ErrNoRows) {
		return SignInLink{}, ErrLinkUsed
	}
	if err != nil {
		return SignInLink{}, err
	}
	return r.link(tokenHash), nil
}

// RedeemSignInLink implements SignIns.
func (s *SQL) RedeemSignInLink(ctx context.Context, tokenHash string, ss Session, details map[string]any) (SignInLink, error) {
	if ss.IDHash == "" || ss.Idle <= 0 || !ss.ExpiresAt.After(ss.CreatedAt) {
		return SignInLink{}, core.Invalidf("a session needs an id hash, an idle timeout and an expiry after its creation")
	}
	var l SignInLink
	err := s.inTx(ctx, func(t *tx) error {
		var err error
		if l, err = t.takeLink(ctx, tokenHash, ss.CreatedAt, false); err != nil {
			return err
		}
		u, err := t.signInUser(ctx, l)
		if err != nil {
			return err
		}
		if err := t.signInAllowed(ctx, l, u); err != nil {
			return err
		}
		ss.OrgID, ss.UserID = l.OrgID, l.UserID
		d := map[string]any{"link_created_at": l.CreatedAt.UTC().Format(time.RFC3339)}
		for k, v := range details {
			d[k] = v
		}
		return t.startLinkSession(ctx, l.Kind, u, ss, d)
	})
	if err != nil {
		return SignInLink{}, err
	}
	return l, nil
}

// startLinkSession stores a session of no SSO connection for u and audits the
// sign-in as signin.<kind>, by the person themselves.
func (t *tx) startLinkSession(ctx context.Context, kind SignInKind, u core.User, ss Session, details map[string]any) error {
	if _, err := t.exec(ctx, `INSERT INTO sso_sessions (id_hash, org_id, user_id, connection_id, created_at, last_seen_at, expires_at, idle_micros)
		VALUES (?, ?, ?, NULL, ?, ?, ?, ?)`, ss.IDHash, ss.OrgID, ss.UserID,
		micros(ss.CreatedAt), micros(ss.CreatedAt), micros(ss.ExpiresAt), ss.Idle.Microseconds()); err != nil {
		return err
	}
	d := map[string]any{"user_name": u.UserName}
	for k, v := range details {
		d[k] = v
	}
	actor := core.Actor{Kind: core.ActorAdmin, ID: u.ID, Name: u.UserName}
	return t.audit(ctx, ss.OrgID, actor, "signin."+string(kind), "user", u.ID, d)
}

// StartSetupSession implements SignIns.
func (s *SQL) StartSetupSession(ctx context.Context, ss Session) error {
	if ss.IDHash == "" || ss.OrgID == "" || ss.UserID == "" || ss.Idle <= 0 || !ss.ExpiresAt.After(ss.CreatedAt) {
		return core.Invalidf("a session needs an id hash, an org, a user, an idle timeout and an expiry after its creation")
	}
	return s.inTx(ctx, func(t *tx) error {
		u, err := t.signInUser(ctx, SignInLink{OrgID: ss.OrgID, UserID: ss.UserID})
		if err != nil {
			return err
		}
		return t.startLinkSession(ctx, SignInSetup, u, ss, nil)
	})
}

// SetupLinkUsable implements SignIns.
func (s *SQL) SetupLinkUsable(ctx context.Context, tokenHash string, at time.Time) error {
	var n int
	err := s.read(ctx, func(t *tx) error {
		return t.get(ctx, &n, `SELECT COUNT(*) FROM signin_links WHERE token_hash = ? AND kind = 'setup' AND used_at IS NULL AND expires_at > ?`,
			tokenHash, micros(at))
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLinkUsed
	}
	return nil
}

// TakeSetupLink implements SignIns.
func (s *SQL) TakeSetupLink(ctx context.Context, tokenHash string, at time.Time) error {
	return s.inTx(ctx, func(t *tx) error {
		_, err := t.takeLink(ctx, tokenHash, at, true)
		return err
	})
}

// nullIfEmpty stores "" as NULL, for optional references.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
