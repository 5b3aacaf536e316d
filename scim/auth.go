package scim

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// A read (GET) by a token seen lately authenticates inside its own statement: the
// handler keeps what never changes of a token (its id, org, directory and name) by
// the secret's hash, and the read's statement says whether the token is still live
// in the snapshot it answers from (store.TokenCheck). A revoked token is refused by
// its next request on every instance sharing the database, as when each request
// read the token first; only the extra statement is gone. Nothing reaches the
// client before the token is proven live (gate): a read that proves nothing (no
// row, an error, a discovery endpoint) authenticates the usual way first.
//
// A write by such a token does the same where the store proves the token in the
// change's own transaction (checkedWrites: store.SQL, on both engines): the change
// is kept only if the token is live in it, and fails, undone, if not, so nothing a
// revoked token asks is written; the gate then refuses it like an unknown token. A
// write that changed nothing (refused before the store, or failed before its audit
// event) proved nothing and authenticates before it answers. With a store that
// cannot, writes authenticate first, before they change anything.
//
// The map is used only while the token's last_used_at needs no update (it is
// written at most once a minute, by Authenticate), so the column moves as before.

// knownTokens maps a secret's hash to the token it authenticated.
type knownTokens struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]store.Token
}

// maxKnownTokens bounds the map; past it, it starts again empty.
const maxKnownTokens = 1024

// freshTokens is what a store tells about last_used_at (store.SQL does): the map is
// used only while Authenticate would not update it, so every update still happens.
// A store that cannot tell gets no map.
type freshTokens interface {
	TokenFresh(store.Token) bool
}

func (k *knownTokens) get(key [sha256.Size]byte) (store.Token, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.m[key]
	return t, ok
}

func (k *knownTokens) put(key [sha256.Size]byte, t store.Token) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) >= maxKnownTokens {
		k.m = map[[sha256.Size]byte]store.Token{}
	}
	k.m[key] = t
}

func (k *knownTokens) drop(key [sha256.Size]byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
}

// tenantOf is who a SCIM token acts for; ok is false for any other token.
func tenantOf(tok store.Token) (tenant, bool) {
	if tok.Kind != store.TokenSCIM || tok.DirectoryID == "" {
		return tenant{}, false
	}
	return tenant{orgID: tok.OrgID, directoryID: tok.DirectoryID,
		actor: core.Actor{Kind: core.ActorSCIM, ID: tok.DirectoryID, Name: tok.Name}}, true
}

// checkedWrites is what a store tells about its changes (store.SQL does): whether
// a change carrying a store.TokenCheck proves the token live in its transaction.
type checkedWrites interface {
	TokenCheckedWrites() bool
}

// knownReader returns the tenant of a GET (or, where the store checks tokens in
// its changes, of any request) whose token was authenticated lately, with the
// request to route (carrying the check) and the check; ok is false when the
// request must authenticate the usual way.
func (h *Handler) knownReader(r *http.Request) (_ tenant, _ *http.Request, _ *store.TokenCheck, key [sha256.Size]byte, ok bool) {
	if r.Method != http.MethodGet {
		if cw, can := h.Store.(checkedWrites); !can || !cw.TokenCheckedWrites() {
			return tenant{}, r, nil, key, false
		}
	}
	secret, found := bearer(r)
	if !found {
		return tenant{}, r, nil, key, false
	}
	key = sha256.Sum256([]byte(secret))
	fresh, can := h.Store.(freshTokens)
	if !can {
		return tenant{}, r, nil, key, false
	}
	tok, found := h.known.get(key)
	if !found || !fresh.TokenFresh(tok) {
		return tenant{}, r, nil, key, false
	}
	tn, _ := tenantOf(tok)
	ctx, check := store.WithTokenCheck(r.Context(), tok.ID)
	return tn, r.WithContext(ctx), check, key, true
}

// gate holds a known reader's response until its token is proven live: by the
// read's own statement, or else by authenticating now. A token found dead gets
// the refusal an unknown token gets, and nothing of the handler's response.
type gate struct {
	http.ResponseWriter
	h     *Handler
	r     *http.Request
	check *store.TokenCheck
	key   [sha256.Size]byte
	state int // gateOpen until proven; then gateLive or gateRefused
}

const (
	gateOpen = iota
	gateLive
	gateRefused
)

func (g *gate) prove() bool {
	if g.state != gateOpen {
		return g.state == gateLive
	}
	checked, live := g.check.Result()
	var err error
	switch {
	case checked && live:
	case checked:
		err = core.ErrNotFound
	default:
		_, err = g.h.authenticate(g.r) // refreshes the map, or drops the token
	}
	if err == nil {
		g.state = gateLive
		return true
	}
	g.state = gateRefused
	g.h.known.drop(g.key)
	hd := g.ResponseWriter.Header()
	hd.Del("ETag")
	hd.Del("Location")
	g.h.refuse(g.ResponseWriter, g.r, err)
	return false
}

func (g *gate) WriteHeader(code int) {
	if g.prove() {
		g.ResponseWriter.WriteHeader(code)
	}
}

func (g *gate) Write(b []byte) (int, error) {
	if g.prove() {
		return g.ResponseWriter.Write(b)
	}
	return len(b), nil
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (g *gate) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// refuse answers a request whose token did not authenticate.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, core.ErrUnavailable) {
		h.writeError(w, r, err) // the database is down: 503, not a misleading 401
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-scim"`)
	h.writeError(w, r, newError(http.StatusUnauthorized, "", "A valid SCIM bearer token is required in the Authorization header."))
}
