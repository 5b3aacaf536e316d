package store

import (
	"context"
	"time"
)

// TokenCheck carries a token that a SCIM read proves live in its own statement: the
// read's row says whether the token is still unrevoked in the very snapshot the
// read answers from, so an edge that knows the token's identity already (it is
// immutable) needs no statement of its own to authenticate a read. A read that
// returns no row proves nothing (Result's checked is false): the edge then
// authenticates the usual way before it answers.
//
// Only SCIMGetUser, SCIMListUsers (the page, not a count alone) and SCIMGetGroup
// check; each sets the result when its statement returns a row. Every change
// checks too (TokenCheckedWrites): its audit event is written only while the token
// is live, and a change whose token is not fails, undone. (On PostgreSQL a batch
// writes its events last, and proves their tokens in that statement: writeAudit.)
// On PostgreSQL a userName eq lookup (scimUserByName) sets it always: its
// statement returns the token's row with or without a user.
type TokenCheck struct {
	id      string
	checked bool
	live    bool
}

type tokenCheckKey struct{}

// WithTokenCheck returns ctx carrying a check of the token tokenID.
func WithTokenCheck(ctx context.Context, tokenID string) (context.Context, *TokenCheck) {
	c := &TokenCheck{id: tokenID}
	return context.WithValue(ctx, tokenCheckKey{}, c), c
}

// Result reports whether a read checked the token and, if so, whether it was live:
// neither revoked nor deleted.
func (c *TokenCheck) Result() (checked, live bool) { return c.checked, c.live }

// tokenCheckOf is the check ctx carries, or nil.
func tokenCheckOf(ctx context.Context) *TokenCheck {
	c, _ := ctx.Value(tokenCheckKey{}).(*TokenCheck)
	return c
}

// tokenLiveCol is the column that proves a token live: 1 for a live token, 0
// otherwise. Uncorrelated, it is computed once per statement (SQLite runs it once,
// PostgreSQL as an InitPlan), in the statement's snapshot.
const tokenLiveCol = `, (SELECT COUNT(*) FROM api_tokens WHERE id = ? AND revoked_at IS NULL) AS token_live`

// liveCol returns the column and argument that check c's token, or nothing for no check.
func (c *TokenCheck) liveCol() (string, []any) {
	if c == nil {
		return "", nil
	}
	return tokenLiveCol, []any{c.id}
}

// saw records the token_live column of a read's first row.
//
// A change's event may record it from the writer's goroutine (a batch runs its
// changes there): the caller reads Result once its store call has returned.
func (c *TokenCheck) saw(live int64) {
	if c != nil {
		c.checked, c.live = true, live == 1
	}
}

// TokenFresh reports whether Authenticate would still leave tok's last_used_at as it
// is, with ten seconds to spare, by the store's clock: while it does, an edge may
// skip Authenticate (proving the token live with a TokenCheck) and the column moves
// as it would have.
func (s *SQL) TokenFresh(tok Token) bool {
	return tok.LastUsedAt != nil && s.now()-micros(*tok.LastUsedAt) < (lastUsedEvery-10*time.Second).Microseconds()
}
