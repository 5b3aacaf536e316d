package decisions

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Cache is the engine's Source and Tokens over the store: it keeps, per org, what
// decisions read: the facts of (user, workspace) pairs, the lookups of users,
// workspaces and resources by reference, and the answers to single checks. Every
// entry belongs to one generation of its org (store.Generations, bumped in the
// transaction of every change), and every use starts with one read of that counter:
// a change committed anywhere, by any instance, empties the org's entries before the
// next decision. Nothing is served from a generation older than the one just read.
//
// API tokens are cached the same way, so that a revoked token stops working at once.
type Cache struct {
	st    store.Store
	gen   store.Generations // nil: no caching, every use reads the store
	reads *genReader

	mu     sync.Mutex
	orgs   map[string]*orgCache
	tokens map[[32]byte]tokenEntry
}

var (
	_ Source = (*Cache)(nil)
	_ Tokens = (*Cache)(nil)
	_ View   = (*orgCache)(nil)
)

// maxEntries bounds each org's maps; past it the map starts over.
const maxEntries = 200_000

// maxAnswers bounds the memoized answers, which hold their JSON (about 1 KiB each).
const maxAnswers = 50_000

// orgCache is one org at one generation: the View the cache hands out.
type orgCache struct {
	st    store.Store
	orgID string
	gen   int64

	mu         sync.RWMutex
	facts      map[[2]string]*core.Facts // (user id, workspace id)
	users      map[string]lookup[core.User]
	workspaces map[string]lookup[core.Workspace]
	resources  map[resKey]lookup[core.Resource]
	// answers memoizes single checks: core.Decide is a pure function of the facts
	// and the question, and both belong to this generation.
	answers map[MemoKey]*Answer
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

// NewCache builds the cache over st. With gen nil nothing is cached: every use reads
// the store.
func NewCache(st store.Store, gen store.Generations) *Cache {
	c := &Cache{st: st, gen: gen, orgs: map[string]*orgCache{}, tokens: map[[32]byte]tokenEntry{}}
	if gen != nil {
		c.reads = newGenReader(gen)
	}
	return c
}

func (c *Cache) newOrgCache(orgID string, gen int64) *orgCache {
	return &orgCache{st: c.st, orgID: orgID, gen: gen, facts: map[[2]string]*core.Facts{}, users: map[string]lookup[core.User]{},
		workspaces: map[string]lookup[core.Workspace]{}, resources: map[resKey]lookup[core.Resource]{},
		answers: map[MemoKey]*Answer{}}
}

func (oc *orgCache) Memo(k MemoKey) *Answer {
	oc.mu.RLock()
	defer oc.mu.RUnlock()
	return oc.answers[k]
}

func (oc *orgCache) Remember(k MemoKey, a *Answer) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if len(oc.answers) > maxAnswers {
		clear(oc.answers)
	}
	oc.answers[k] = a
}

// generation reads the org's counter; -1 when caching is off.
func (c *Cache) generation(ctx context.Context, orgID string) (int64, error) {
	if c.gen == nil {
		return -1, nil
	}
	return c.reads.read(ctx, orgID)
}

// org returns the org's entries valid at generation g (just read from the store).
func (c *Cache) org(orgID string, g int64) *orgCache {
	if g < 0 {
		return c.newOrgCache(orgID, g) // caching off: a throwaway
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	oc := c.orgs[orgID]
	switch {
	case oc == nil || oc.gen < g:
		oc = c.newOrgCache(orgID, g)
		c.orgs[orgID] = oc
	case oc.gen > g:
		// A slower reader saw an older generation: serve it from a throwaway rather
		// than mix generations or evict the newer entries.
		return c.newOrgCache(orgID, g)
	}
	return oc
}

// Token authenticates a secret, from the cache while its org has not changed. It
// returns the org's generation it read (-1 when none), so that the request's
// decisions need no second read.
func (c *Cache) Token(ctx context.Context, secret string) (store.Token, int64, error) {
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

// View is the org's cache at its current generation. known is a generation the
// request already read (authenticating its token), or -1.
func (c *Cache) View(ctx context.Context, orgID string, known int64) (View, error) {
	if known >= 0 && c.gen != nil {
		return c.org(orgID, known), nil
	}
	g, err := c.generation(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return c.org(orgID, g), nil
}

func (oc *orgCache) Facts(ctx context.Context, userID, wsID string) (*core.Facts, error) {
	k := [2]string{userID, wsID}
	oc.mu.RLock()
	f := oc.facts[k]
	oc.mu.RUnlock()
	if f != nil {
		return f, nil
	}
	f, err := oc.st.Facts(ctx, oc.orgID, userID, wsID)
	if err != nil {
		return nil, err
	}
	oc.putFacts(userID, wsID, f)
	return f, nil
}

// get is a kept lookup of k in m.
func get[K comparable, T any](oc *orgCache, m map[K]lookup[T], k K) (lookup[T], bool) {
	oc.mu.RLock()
	defer oc.mu.RUnlock()
	l, ok := m[k]
	return l, ok
}

// keep keeps the answer of a lookup, "not found" included, and returns its error; a
// failure of the database is not kept. (No closures here: lookups are the hot path.)
func keep[K comparable, T any](oc *orgCache, m map[K]lookup[T], k K, v T, err error) error {
	if err == nil || errors.Is(err, core.ErrNotFound) {
		put(oc, m, k, v, err)
	}
	return err
}

func put[K comparable, T any](oc *orgCache, m map[K]lookup[T], k K, v T, err error) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if len(m) > maxEntries {
		clear(m)
	}
	m[k] = lookup[T]{v, err}
}

func has[K comparable, T any](oc *orgCache, m map[K]lookup[T], k K) bool {
	_, ok := get(oc, m, k)
	return ok
}

// User resolves a user by id, email or userName (ResolveUser).
func (oc *orgCache) User(ctx context.Context, ref string) (core.User, error) {
	if l, ok := get(oc, oc.users, ref); ok {
		return l.v, l.err
	}
	u, err := ResolveUser(ctx, oc.st, oc.orgID, ref)
	return u, keep(oc, oc.users, ref, u, err)
}

// Workspace resolves a workspace by id or slug.
func (oc *orgCache) Workspace(ctx context.Context, ref string) (core.Workspace, error) {
	if l, ok := get(oc, oc.workspaces, ref); ok {
		return l.v, l.err
	}
	ws, err := oc.st.GetWorkspace(ctx, oc.orgID, ref)
	return ws, keep(oc, oc.workspaces, ref, ws, err)
}

// Resource finds a resource by the application's id.
func (oc *orgCache) Resource(ctx context.Context, wsID string, t core.ResourceType, ext string) (core.Resource, error) {
	k := resKey{wsID, string(t), ext}
	if l, ok := get(oc, oc.resources, k); ok {
		return l.v, l.err
	}
	res, err := oc.st.GetResourceByExternalID(ctx, oc.orgID, wsID, t, ext)
	return res, keep(oc, oc.resources, k, res, err)
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

// Prefetch fills the org's cache with what a batch will read, so that answering
// it is in-memory work: with a store that reads in sets (store.Batches), a few
// set-based queries for all questions; otherwise the facts of each pair, gathered
// by a few workers in parallel. Entries are only ever added to the orgCache of the
// generation read before those reads. Errors are left for the answers to meet and
// report.
func (oc *orgCache) Prefetch(ctx context.Context, p Principal, qs []Question) {
	if b, ok := oc.st.(store.Batches); ok {
		oc.prefetchSets(ctx, p, b, qs)
		return
	}
	type pair struct{ user, ws string }
	seen := map[pair]bool{}
	work := make(chan pair)
	var wg sync.WaitGroup
	for range prefetchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range work {
				u, err := oc.User(ctx, q.user)
				if err != nil || !p.mayAskAbout(u.ID) {
					continue
				}
				ws, err := oc.Workspace(ctx, q.ws)
				if err != nil {
					continue
				}
				_, _ = oc.Facts(ctx, u.ID, ws.ID)
			}
		}()
	}
	for _, q := range qs {
		if pr := (pair{q.User, q.Workspace}); !seen[pr] {
			seen[pr] = true
			work <- pr
		}
	}
	close(work)
	wg.Wait()
}

// fillRefs looks up, in one set read, the references not yet in m, and keeps each
// answer, "not found" included. It reports false when the read failed.
func fillRefs[T any](oc *orgCache, m map[string]lookup[T], refs []string, kind string, read func([]string) (map[string]T, error)) bool {
	var missing []string
	for _, ref := range refs {
		if !has(oc, m, ref) {
			missing = append(missing, ref)
		}
	}
	if len(missing) == 0 {
		return true
	}
	found, err := read(missing)
	if err != nil {
		return false
	}
	for _, ref := range missing {
		if v, ok := found[ref]; ok {
			put(oc, m, ref, v, nil)
		} else {
			var zero T
			put(oc, m, ref, zero, fmt.Errorf("%s %q: %w", kind, ref, core.ErrNotFound))
		}
	}
	return true
}

// prefetchWorkers gathers facts in parallel when the store has no set reads.
const prefetchWorkers = 4

func (oc *orgCache) prefetchSets(ctx context.Context, p Principal, b store.Batches, qs []Question) {
	users := make([]string, len(qs))
	wss := make([]string, len(qs))
	for i, q := range qs {
		users[i], wss[i] = q.User, q.Workspace
	}
	if !fillRefs(oc, oc.users, users, "user", func(refs []string) (map[string]core.User, error) { return b.UsersByRef(ctx, oc.orgID, refs) }) ||
		!fillRefs(oc, oc.workspaces, wss, "workspace", func(refs []string) (map[string]core.Workspace, error) {
			return b.WorkspacesByRef(ctx, oc.orgID, refs)
		}) {
		return
	}
	var keys []store.FactsKey
	var resKeys []store.ResourceKey
	seen := map[store.FactsKey]bool{}
	for _, q := range qs {
		u, err := oc.User(ctx, q.User)
		if err != nil {
			continue
		}
		ws, err := oc.Workspace(ctx, q.Workspace)
		if err != nil {
			continue
		}
		if k := (store.FactsKey{UserID: u.ID, WorkspaceID: ws.ID}); !seen[k] && !oc.hasFacts(u.ID, ws.ID) {
			seen[k] = true
			keys = append(keys, k)
		}
		if q.Resource != nil && q.Resource.ID != "" && !has(oc, oc.resources, resKey{ws.ID, string(q.Resource.Type), q.Resource.ID}) {
			resKeys = append(resKeys, store.ResourceKey{WorkspaceID: ws.ID, Type: q.Resource.Type, ExternalID: q.Resource.ID})
		}
	}
	if len(keys) > 0 {
		facts, err := b.FactsMany(ctx, oc.orgID, keys)
		if err != nil {
			return
		}
		for k, f := range facts {
			oc.putFacts(k.UserID, k.WorkspaceID, f)
		}
	}
	if len(resKeys) > 0 {
		res, err := b.ResourcesByExternalID(ctx, oc.orgID, resKeys)
		if err != nil {
			return
		}
		for _, k := range resKeys {
			key := resKey{k.WorkspaceID, string(k.Type), k.ExternalID}
			if r, ok := res[k]; ok {
				put(oc, oc.resources, key, r, nil)
			} else {
				put(oc, oc.resources, key, core.Resource{}, fmt.Errorf("resource %s %q: %w", k.Type, k.ExternalID, core.ErrNotFound))
			}
		}
	}
}
