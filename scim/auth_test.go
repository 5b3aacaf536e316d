package scim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestKnownReaderExact: a GET by a token the handler has seen answers exactly as
// a handler that never saw it (same status, headers and bytes), and once the token
// is revoked, by another instance sharing the database, its next request of every
// kind gets exactly an unknown token's 401 (no ETag, no Location, nothing of the
// resource), whether the read proved the token dead itself or proved nothing.
func TestKnownReaderExact(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		uid := e.createUser("ann@example.com", `,"externalId":"ext-ann"`)
		gid := e.createGroup("eng")
		e.do("PATCH", "/Groups/"+gid, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+uid+`"}]}]}`).must(t, 204)
		etagOf := e.do("GET", "/Users/"+uid, "").must(t, 200).header.Get("ETag")
		gets := []struct {
			path   string
			hdr    []string
			proves bool // the read's own statement proves the token live
		}{
			{"/Users/" + uid, nil, true},
			{"/Users/" + uid, []string{"If-None-Match: " + etagOf}, true},
			{"/Users/" + uid + "?attributes=userName", nil, true},
			{"/Users/nobody", nil, false},
			{"/Users?filter=" + url.QueryEscape(`userName eq "ANN@example.com"`), nil, true},
			{"/Users?filter=" + url.QueryEscape(`userName eq "nobody@example.com"`), nil, false},
			{"/Users?filter=" + url.QueryEscape(`userName zz "x"`), nil, false},
			{"/Users?startIndex=1&count=1", nil, true},
			{"/Users?count=0", nil, false},
			{"/Groups/" + gid, nil, true},
			{"/Groups/" + gid + "?excludedAttributes=members", nil, true},
			{"/Groups/nobody", nil, false},
			{"/Groups", nil, false},
			{"/ServiceProviderConfig", nil, false},
			{"/Nowhere", nil, false},
		}
		serve := func(h *Handler, path string, hdr []string, token string) *httptest.ResponseRecorder {
			r := httptest.NewRequest("GET", Prefix+path, nil)
			r.Header.Set("Authorization", "Bearer "+token)
			for _, kv := range hdr {
				k, v, _ := bytes.Cut([]byte(kv), []byte(": "))
				r.Header.Set(string(k), string(v))
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		fresh := func() *Handler { return &Handler{Store: e.s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))} }
		same := func(what string, got, want *httptest.ResponseRecorder) {
			t.Helper()
			if got.Code != want.Code || !reflect.DeepEqual(got.Header(), want.Header()) || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Fatalf("%s:\n got %d %v %s\nwant %d %v %s", what, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
			}
		}
		warm := fresh()
		counted := &countingAuth{SQL: e.s}
		warm.Store = counted
		serve(warm, "/Users/"+uid, nil, e.token) // the token is known from here on
		for _, g := range gets {
			for range 2 {
				before := counted.n.Load()
				same(g.path, serve(warm, g.path, g.hdr, e.token), serve(fresh(), g.path, g.hdr, e.token))
				if g.proves && counted.n.Load() != before {
					t.Errorf("%s: a known token's read authenticated on its own", g.path)
				}
			}
		}
		key := sha256.Sum256([]byte(e.token))
		tok, ok := warm.known.get(key)
		if !ok {
			t.Fatal("the warm handler does not know the token")
		}
		toks, err := e.s.ListTokens(ctx, e.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range toks {
			if err := e.s.RevokeToken(ctx, sys, e.org.ID, tk.ID); err != nil {
				t.Fatal(err)
			}
		}
		unknown := serve(fresh(), "/Users", nil, "ghs_unknown")
		if unknown.Code != http.StatusUnauthorized {
			t.Fatalf("unknown token: %d", unknown.Code)
		}
		for _, g := range gets {
			h := fresh() // an instance that saw the token before another revoked it
			h.known.put(key, tok)
			same("revoked "+g.path, serve(h, g.path, g.hdr, e.token), unknown)
			if _, ok := h.known.get(key); ok {
				t.Fatalf("revoked %s: the token is still known", g.path)
			}
		}
	})
}

// countingAuth counts Authenticate calls.
type countingAuth struct {
	*store.SQL
	n atomic.Int64
}

func (c *countingAuth) Authenticate(ctx context.Context, secret string) (store.Token, error) {
	c.n.Add(1)
	return c.SQL.Authenticate(ctx, secret)
}
