package decisions

import (
	"context"
	"crypto/sha256"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// tokenCache authenticates API tokens, keeping each authenticated token while its
// org's change number stays where it was read: a revocation moves it, so a revoked
// token stops working at once, on every instance. Only tokens that authenticated
// are kept (a failed secret is never remembered), and at most maxTokens of them.
type tokenCache struct {
	st    store.Store
	reads *genReader // nil: nothing kept, every use reads the store

	mu     sync.Mutex
	tokens map[[32]byte]tokenEntry
}

var _ Tokens = (*tokenCache)(nil)

// maxTokens bounds the kept tokens (about 300 bytes each); past it the map starts
// over.
const maxTokens = 100_000

type tokenEntry struct {
	tok store.Token
	gen int64
}

func newTokenCache(st store.Store, reads *genReader) *tokenCache {
	return &tokenCache{st: st, reads: reads, tokens: map[[32]byte]tokenEntry{}}
}

// Token authenticates a secret, from memory while its org has not changed. It
// returns the org's generation it read (-1 when none), so that the request's
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
		g, err := c.reads.read(ctx, e.tok.OrgID)
		if err != nil {
			return store.Token{}, -1, err
		}
		if g == e.gen {
			return e.tok, g, nil
		}
	}
	// The token's org is unknown until Authenticate answers, so the counter is read
	// after a first Authenticate, and the token is authenticated again after that
	// read: a revocation committed before the read fails the second Authenticate,
	// and one committed after it moves the counter past g, so the entry is stale.
	tok, err := c.st.Authenticate(ctx, secret)
	if err != nil {
		if ok {
			c.mu.Lock()
			delete(c.tokens, key)
			c.mu.Unlock()
		}
		return store.Token{}, -1, err
	}
	g, err := c.reads.read(ctx, tok.OrgID)
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
	c.tokens[key] = tokenEntry{tok: tok, gen: g}
	c.mu.Unlock()
	return tok, g, nil
}
