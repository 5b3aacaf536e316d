package decisions

import (
	"context"
	"crypto/sha256"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/decisions/index"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// tokenCache authenticates API tokens, keeping each authenticated token while the
// decision index says no token of its org changed: a token is good at a view of
// the org (current as of the change number read for the request) whose
// TokensSeq is the one it was authenticated at. A revocation moves that, so a
// revoked token stops working at once, on every instance; nothing else does, so
// an org whose IdP keeps changing people does not make its tokens authenticate
// again. Only tokens that authenticated are kept (a failed secret is never
// remembered), and at most maxTokens of them.
type tokenCache struct {
	st    store.Store
	reads *genReader   // nil: nothing kept, every use reads the store
	ix    *index.Index // with reads

	mu     sync.Mutex
	tokens map[[32]byte]tokenEntry
}

var _ Tokens = (*tokenCache)(nil)

// maxTokens bounds the kept tokens (about 300 bytes each); past it the map starts
// over.
const maxTokens = 100_000

type tokenEntry struct {
	tok    store.Token
	tokSeq int64 // the org's TokensSeq when it was authenticated
}

func newTokenCache(st store.Store, reads *genReader, ix *index.Index) *tokenCache {
	if ix == nil {
		reads = nil
	}
	return &tokenCache{st: st, reads: reads, ix: ix, tokens: map[[32]byte]tokenEntry{}}
}

// current reads the org's change number and returns it with the org's view at it.
func (c *tokenCache) current(ctx context.Context, orgID string) (int64, *index.View, error) {
	g, err := c.reads.read(ctx, orgID)
	if err != nil {
		return -1, nil, err
	}
	v, err := c.ix.At(ctx, orgID, g)
	return g, v, err
}

// Token authenticates a secret, from memory while no token of its org changed. It
// returns the org's change number it read (-1 when none), so that the request's
// decisions need no second read.
func (c *tokenCache) Token(ctx context.Context, secret string) (store.Token, int64, error) {
	if c.reads == nil {
		tok, err := c.st.Authenticate(ctx, secret)
		return tok, -1, err
	}
	key := sha256.Sum256([]byte(secret))
	c.mu.Lock()
	e, ok := c.tokens[key]
	c.mu.Unlock()
	if ok {
		g, v, err := c.current(ctx, e.tok.OrgID)
		if err != nil {
			return store.Token{}, -1, err
		}
		if v.TokensSeq() == e.tokSeq {
			return e.tok, g, nil
		}
	}
	// The token's org is unknown until Authenticate answers, so the org is read
	// after a first Authenticate, and the token is authenticated again after that
	// read: a revocation committed before the view's snapshot fails the second
	// Authenticate, and one committed after it moves TokensSeq past the one kept.
	tok, err := c.st.Authenticate(ctx, secret)
	if err != nil {
		if ok {
			c.mu.Lock()
			delete(c.tokens, key)
			c.mu.Unlock()
		}
		return store.Token{}, -1, err
	}
	g, v, err := c.current(ctx, tok.OrgID)
	if err != nil {
		return store.Token{}, -1, err
	}
	if tok, err = c.st.Authenticate(ctx, secret); err != nil {
		return store.Token{}, -1, err
	}
	c.mu.Lock()
	if len(c.tokens) >= maxTokens {
		clear(c.tokens)
	}
	c.tokens[key] = tokenEntry{tok: tok, tokSeq: v.TokensSeq()}
	c.mu.Unlock()
	return tok, g, nil
}
