package httpapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// decisionCache keeps, per org, what access checks read: the facts of (user,
// workspace) pairs and the lookups of users, workspaces and resources by reference.
// Every entry belongs to one generation of its org (store.Generations, bumped in the
// transaction of every change), and every use starts with one read of that counter:
// a change committed anywhere, by any instance, empties the org's entries before the
// next decision. Nothing is served from a generation older than the one just read.
//
// API tokens are cached the same way, so that a revoked token stops working at once.
type decisionCache struct {
	st    store.Store
	gen   store.Generations // nil: no caching, every use reads the store
	reads *genReader

	mu     sync.Mutex
	orgs   map[string]*orgCache
	tokens map[[32]byte]tokenEntry
}

// maxEntries bounds each org's maps; past it the map starts over.
const maxEntries = 200_000

// maxAnswers bounds the memoized answers, which hold their JSON (about 1 KiB each).
const maxAnswers = 50_000

type orgCache struct {
	gen int64

	mu         sync.RWMutex
	facts      map[[2]string]*core.Facts // (user id, workspace id)
	users      map[string]lookup[core.User]
	workspaces map[string]lookup[core.Workspace]
	resources  map[resKey]lookup[core.Resource]
	// answers memoizes single checks: core.Decide is a pure function of the facts
	// and the question, and both belong to this generation.
	answers map[checkKey]*answer
}

// checkKey is a question as asked (references unresolved).
type checkKey struct {
	user, workspace, environment, space string
	action                              core.Action
	resType                             core.ResourceType
	resID                               string
	hasResource                         bool
}

func keyOf(q checkRequest) checkKey {
	k := checkKey{user: q.User, workspace: q.Workspace, environment: q.Environment, space: q.Space, action: q.Action}
	if q.Resource != nil {
		k.hasResource, k.resType, k.resID = true, q.Resource.Type, q.Resource.ID
	}
	return k
}

// answer is a memoized decision with its JSON response body. userID is the id of
// the user asked about ("" when there is none), for the own-access-only rule.
type answer struct {
	d      core.Decision
	userID string
	body   []byte
}

type resKey struct {
	ws, typ, ext string
}

// lookup is a cached answer, including "not found" (err set).
type lookup[T any] struct {
	v   T
	err error
}

type tokenEntry struct {
	tok store.Token
	gen int64
}

func newDecisionCache(st store.Store, gen store.Generations) *decisionCache {
	c := &decisionCache{st: st, gen: gen, orgs: map[string]*orgCache{}, tokens: map[[32]byte]tokenEntry{}}
	if gen != nil {
		c.reads = newGenReader(gen)
	}
	return c
}

func newOrgCache(gen int64) *orgCache {
	return &orgCache{gen: gen, facts: map[[2]string]*core.Facts{}, users: map[string]lookup[core.User]{},
		workspaces: map[string]lookup[core.Workspace]{}, resources: map[resKey]lookup[core.Resource]{},
		answers: map[checkKey]*answer{}}
}

func (oc *orgCache) answer(k checkKey) *answer {
	oc.mu.RLock()
	defer oc.mu.RUnlock()
	return oc.answers[k]
}

func (oc *orgCache) putAnswer(k checkKey, a *answer) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if len(oc.answers) > maxAnswers {
		clear(oc.answers)
	}
	oc.answers[k] = a
}

// generation reads the org's counter; -1 when caching is off.
func (c *decisionCache) generation(ctx context.Context, orgID string) (int64, error) {
	if c.gen == nil {
		return -1, nil
	}
	return c.reads.read(ctx, orgID)
}

// org returns the org's entries valid at generation g (just read from the store).
func (c *decisionCache) org(orgID string, g int64) *orgCache {
	if g < 0 {
		return newOrgCache(g) // caching off: a throwaway
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	oc := c.orgs[orgID]
	switch {
	case oc == nil || oc.gen < g:
		oc = newOrgCache(g)
		c.orgs[orgID] = oc
	case oc.gen > g:
		// A slower reader saw an older generation: serve it from a throwaway rather
		// than mix generations or evict the newer entries.
		return newOrgCache(g)
	}
	return oc
}

// token authenticates a secret, from the cache while its org has not changed. It
// returns the org's generation it read (-1 when none), so that the request's
// decisions need no second read.
func (c *decisionCache) token(ctx context.Context, secret string) (store.Token, int64, error) {
	key := sha256.Sum256([]byte(secret))
	c.mu.Lock()
	e, ok := c.tokens[key]
	c.mu.Unlock()
	if ok {
		g, err := c.generation(ctx, e.tok.OrgID)
		if err != nil {
			return store.Token{}, -1, err
		}
		if g >= 0 && g == e.gen {
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
	if c.gen == nil {
		return tok, -1, nil
	}
	g, err := c.generation(ctx, tok.OrgID)
	if err != nil {
		return store.Token{}, -1, err
	}
	again, err := c.st.Authenticate(ctx, secret)
	if err != nil {
		return store.Token{}, -1, err
	}
	tok = again
	c.mu.Lock()
	if len(c.tokens) > maxEntries {
		clear(c.tokens)
	}
	c.tokens[key] = tokenEntry{tok: tok, gen: g}
	c.mu.Unlock()
	return tok, g, nil
}

// snapshot is the org's cache at its current generation. known is a generation the
// request already read (authenticating its token), or -1.
func (c *decisionCache) snapshot(ctx context.Context, orgID string, known int64) (*orgCache, error) {
	if known >= 0 && c.gen != nil {
		return c.org(orgID, known), nil
	}
	g, err := c.generation(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return c.org(orgID, g), nil
}

// facts returns the facts for (user, workspace), read through the cache.
func (c *decisionCache) facts(ctx context.Context, orgID, userID, wsID string, known int64) (*core.Facts, error) {
	oc, err := c.snapshot(ctx, orgID, known)
	if err != nil {
		return nil, err
	}
	return oc.getFacts(ctx, c.st, orgID, userID, wsID)
}

func (oc *orgCache) getFacts(ctx context.Context, st store.Store, orgID, userID, wsID string) (*core.Facts, error) {
	k := [2]string{userID, wsID}
	oc.mu.RLock()
	f := oc.facts[k]
	oc.mu.RUnlock()
	if f != nil {
		return f, nil
	}
	f, err := st.Facts(ctx, orgID, userID, wsID)
	if err != nil {
		return nil, err
	}
	oc.mu.Lock()
	if len(oc.facts) > maxEntries {
		clear(oc.facts)
	}
	oc.facts[k] = f
	oc.mu.Unlock()
	return f, nil
}

// user resolves a user by id, email or userName.
func (oc *orgCache) user(ctx context.Context, st store.Store, orgID, ref string) (core.User, error) {
	oc.mu.RLock()
	l, ok := oc.users[ref]
	oc.mu.RUnlock()
	if ok {
		return l.v, l.err
	}
	u, err := resolveUser(ctx, st, orgID, ref)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return u, err // do not cache a failure of the database
	}
	oc.mu.Lock()
	if len(oc.users) > maxEntries {
		clear(oc.users)
	}
	oc.users[ref] = lookup[core.User]{u, err}
	oc.mu.Unlock()
	return u, err
}

func (oc *orgCache) workspace(ctx context.Context, st store.Store, orgID, ref string) (core.Workspace, error) {
	oc.mu.RLock()
	l, ok := oc.workspaces[ref]
	oc.mu.RUnlock()
	if ok {
		return l.v, l.err
	}
	ws, err := st.GetWorkspace(ctx, orgID, ref)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return ws, err
	}
	oc.mu.Lock()
	if len(oc.workspaces) > maxEntries {
		clear(oc.workspaces)
	}
	oc.workspaces[ref] = lookup[core.Workspace]{ws, err}
	oc.mu.Unlock()
	return ws, err
}

func (oc *orgCache) resource(ctx context.Context, st store.Store, orgID, wsID string, t core.ResourceType, ext string) (core.Resource, error) {
	k := resKey{wsID, string(t), ext}
	oc.mu.RLock()
	l, ok := oc.resources[k]
	oc.mu.RUnlock()
	if ok {
		return l.v, l.err
	}
	res, err := st.GetResourceByExternalID(ctx, orgID, wsID, t, ext)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return res, err
	}
	oc.mu.Lock()
	if len(oc.resources) > maxEntries {
		clear(oc.resources)
	}
	oc.resources[k] = lookup[core.Resource]{res, err}
	oc.mu.Unlock()
	return res, err
}

// resolveUser finds a user by id, then email (when ref has an @), then userName.
func resolveUser(ctx context.Context, st store.Store, orgID, ref string) (core.User, error) {
	u, err := st.GetUser(ctx, orgID, ref)
	if !errors.Is(err, core.ErrNotFound) {
		return u, err
	}
	if strings.Contains(ref, "@") {
		u, err = st.GetUserByEmail(ctx, orgID, ref)
		if !errors.Is(err, core.ErrNotFound) {
			return u, err
		}
	}
	return st.GetUserByUserName(ctx, orgID, ref)
}

// has* and put* let a batch fill the cache from set reads. Entries are only ever
// added to the orgCache of the generation read before those reads.

func (oc *orgCache) hasUser(ref string) bool {
	oc.mu.RLock()
	defer oc.mu.RUnlock()
	_, ok := oc.users[ref]
	return ok
}

func (oc *orgCache) putUser(ref string, u core.User, err error) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if len(oc.users) > maxEntries {
		clear(oc.users)
	}
	oc.users[ref] = lookup[core.User]{u, err}
}

func (oc *orgCache) hasWorkspace(ref string) bool {
	oc.mu.RLock()
	defer oc.mu.RUnlock()
	_, ok := oc.workspaces[ref]
	return ok
}

func (oc *orgCache) putWorkspace(ref string, ws core.Workspace, err error) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if len(oc.workspaces) > maxEntries {
		clear(oc.workspaces)
	}
	oc.workspaces[ref] = lookup[core.Workspace]{ws, err}
}

func (oc *orgCache) hasFacts(userID, wsID string) bool {
	oc.mu.RLock()
	defer oc.mu.RUnlock()
	return oc.facts[[2]string{userID, wsID}] != nil
}

func (oc *orgCache) putFacts(userID, wsID string, f *core.Facts) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if len(oc.facts) > maxEntries {
		clear(oc.facts)
	}
	oc.facts[[2]string{userID, wsID}] = f
}

func (oc *orgCache) hasResource(wsID string, t core.ResourceType, ext string) bool {
	oc.mu.RLock()
	defer oc.mu.RUnlock()
	_, ok := oc.resources[resKey{wsID, string(t), ext}]
	return ok
}

func (oc *orgCache) putResource(wsID string, t core.ResourceType, ext string, r core.Resource, err error) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if len(oc.resources) > maxEntries {
		clear(oc.resources)
	}
	oc.resources[resKey{wsID, string(t), ext}] = lookup[core.Resource]{r, err}
}
