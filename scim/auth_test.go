package scim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
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
			{"/Users?filter=" + url.QueryEscape(`userName eq "nobody@example.com"`), nil, e.s.Dialect() == store.SQLite}, // tokenCheckRow
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
		e.revokeTokens()
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

// TestKnownWriterExact: where the store proves a token in the change's own
// transaction (SQLite), a write by a token the handler has seen does not
// authenticate on its own and answers as a handler that never saw the token
// would (the status; the bodies differ by ids and times); once another instance
// revoked the token, every write of an instance that still knew it gets exactly an
// unknown token's 401 and changes nothing: the org's change counter stands still
// and the resources read as before. (With a store that cannot prove a token in
// its changes, writes would authenticate first, every time.)
func TestKnownWriterExact(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		uid := e.createUser("ann@example.com", "")
		uid2 := e.createUser("bob@example.com", "")
		gid := e.createGroup("eng")
		gid2 := e.createGroup("ops")
		checked := e.s.TokenCheckedWrites()
		user := func(name string) string {
			return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `","active":true}`
		}
		member := func(id string) string {
			return `{"Operations":[{"op":"add","path":"members","value":[{"value":"` + id + `"}]}]}`
		}
		writes := []struct {
			method, path, body string
			status             int
		}{
			{"POST", "/Users", user("cy@example.com"), 201},
			{"POST", "/Users", user("ann@example.com"), 409},
			{"POST", "/Users", `{"userName":`, 400},
			{"PATCH", "/Users/" + uid, `{"Operations":[{"op":"replace","value":{"active":false}}]}`, 200},
			{"PUT", "/Users/" + uid, user("ann@example.com"), 200},
			{"PATCH", "/Users/nobody", `{"Operations":[{"op":"replace","value":{"active":false}}]}`, 404},
			{"PATCH", "/Groups/" + gid, member(uid), 204},
			{"PATCH", "/Groups/" + gid, `{"Operations":[{"op":"remove","path":"members[value eq \"` + uid + `\"]"}]}`, 204},
			{"POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"new"}`, 201},
			{"DELETE", "/Users/" + uid2, "", 204},
			{"DELETE", "/Groups/" + gid2, "", 204},
			{"DELETE", "/Users/" + uid2, "", 404},
		}
		serve := func(h *Handler, method, path, body, token string) *httptest.ResponseRecorder {
			r := httptest.NewRequest(method, Prefix+path, bytes.NewReader([]byte(body)))
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("Content-Type", "application/scim+json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		fresh := func() *Handler { return &Handler{Store: e.s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))} }
		warm := fresh()
		counted := &countingAuth{SQL: e.s}
		warm.Store = counted
		serve(warm, "GET", "/Users/"+uid, "", e.token) // the token is known from here on
		for _, wr := range writes {
			before := counted.n.Load()
			got := serve(warm, wr.method, wr.path, wr.body, e.token)
			if got.Code != wr.status {
				t.Fatalf("%s %s: %d %s, want %d", wr.method, wr.path, got.Code, got.Body, wr.status)
			}
			// A write that changed something proved the token itself; one that
			// changed nothing authenticated before it answered.
			authed := counted.n.Load() != before
			if wantAuth := !checked || wr.status >= 400; authed != wantAuth {
				t.Errorf("%s %s (%d): authenticated %v, want %v", wr.method, wr.path, wr.status, authed, wantAuth)
			}
		}

		// Revoked by another instance: every write of an instance that knew the
		// token is an unknown token's 401, and nothing changes.
		uid3 := e.createUser("dee@example.com", "")
		gid3 := e.createGroup("sre")
		key := sha256.Sum256([]byte(e.token))
		tok, ok := warm.known.get(key)
		if !ok {
			t.Fatal("the warm handler does not know the token")
		}
		e.revokeTokens()
		unknown := serve(fresh(), "POST", "/Users", user("eve@example.com"), "ghs_unknown")
		if unknown.Code != http.StatusUnauthorized {
			t.Fatalf("unknown token: %d", unknown.Code)
		}
		gen, err := e.s.OrgGeneration(ctx, e.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		revoked := []struct{ method, path, body string }{
			{"POST", "/Users", user("eve@example.com")},
			{"POST", "/Users", user("dee@example.com")},
			{"POST", "/Users", `{"userName":`},
			{"PATCH", "/Users/" + uid3, `{"Operations":[{"op":"replace","value":{"active":false}}]}`},
			{"PUT", "/Users/" + uid3, user("dee2@example.com")},
			{"PATCH", "/Groups/" + gid3, member(uid3)},
			{"POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"newer"}`},
			{"DELETE", "/Groups/" + gid3, ""},
			{"DELETE", "/Users/" + uid3, ""},
		}
		for _, wr := range revoked {
			h := fresh() // an instance that saw the token before another revoked it
			h.known.put(key, tok)
			got := serve(h, wr.method, wr.path, wr.body, e.token)
			if got.Code != unknown.Code || !reflect.DeepEqual(got.Header(), unknown.Header()) || !bytes.Equal(got.Body.Bytes(), unknown.Body.Bytes()) {
				t.Fatalf("revoked %s %s:\n got %d %v %s\nwant %d %v %s", wr.method, wr.path, got.Code, got.Header(), got.Body, unknown.Code, unknown.Header(), unknown.Body)
			}
			if _, ok := h.known.get(key); ok {
				t.Fatalf("revoked %s %s: the token is still known", wr.method, wr.path)
			}
			if g, err := e.s.OrgGeneration(ctx, e.org.ID); err != nil || g != gen {
				t.Fatalf("revoked %s %s: the org's counter moved from %d to %d (%v)", wr.method, wr.path, gen, g, err)
			}
		}
		u, err := e.s.SCIMGetUser(ctx, e.org.ID, e.dir.ID, uid3)
		if err != nil || !u.Active || u.UserName != "dee@example.com" {
			t.Fatalf("after the revoked writes: %+v, %v", u, err)
		}
		if _, err := e.s.SCIMGetGroup(ctx, e.org.ID, e.dir.ID, gid3); err != nil {
			t.Fatalf("after the revoked writes, the group: %v", err)
		}
		if _, err := e.s.GetUserByUserName(ctx, e.org.ID, "eve@example.com"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("a revoked token created a user: %v", err)
		}
	})
}
