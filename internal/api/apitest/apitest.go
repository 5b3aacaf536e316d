package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// Env is one API instance over a real store, with an org and its API token.
type Env struct {
	T     *testing.T
	St    *store.SQL
	H     *api.Handler
	Srv   *httptest.Server
	Org   core.Org
	Admin core.User
	Token string
	Sess  *FakeSessions
}

// FakeSessions stands in for the sso package's sessions (it owns them): a cookie
// value names a user. Only the session seam is replaced; everything behind it (the
// user, their org-admin flag, their grants) is read from the real store.
type FakeSessions struct{ users map[string][2]string }

// Session implements httpx.Sessions.
func (f *FakeSessions) Session(r *http.Request) (store.Session, error) {
	c, err := r.Cookie("test_session")
	if err != nil {
		return store.Session{}, core.ErrNotFound
	}
	u, ok := f.users[c.Value]
	if !ok {
		return store.Session{}, core.ErrNotFound
	}
	return store.Session{OrgID: u[0], UserID: u[1]}, nil
}

// Logger discards the handlers' logs, or shows them when GATEHOUSE_TEST_LOG is set.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("GATEHOUSE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// NewHandler is an API handler on st with the decision index, as serve builds it.
func NewHandler(t testing.TB, st *store.SQL, sess *FakeSessions) *api.Handler {
	gr, err := st.NewGenerationReader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gr.Close() })
	h := &api.Handler{Store: st, Decisions: decisions.New(st, gr), Logger: Logger(t)}
	if sess != nil {
		h.Sessions = sess
	}
	return h
}

// NewInstance serves an API handler on st: several instances on one store model
// several servers behind a load balancer.
func NewInstance(t testing.TB, st *store.SQL, sess *FakeSessions) (*api.Handler, *httptest.Server) {
	h := NewHandler(t, st, sess)
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return h, srv
}

// NewEnv makes an org (acme, admin@acme.test) with an API token on a new store of
// backend b, and serves the API on it.
func NewEnv(t *testing.T, b storetest.Backend) *Env {
	t.Helper()
	st := b.New(t)
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
	org, admin, err := st.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := st.CreateToken(ctx, sys, org.ID, store.TokenAPI, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	sess := &FakeSessions{users: map[string][2]string{}}
	h, srv := NewInstance(t, st, sess)
	return &Env{T: t, St: st, H: h, Srv: srv, Org: org, Admin: admin, Token: secret, Sess: sess}
}

// Resp is a decoded response.
type Resp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Str reads a string at a path of object keys.
func (r Resp) Str(path ...string) string {
	var v any = r.Body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// Items is a list response's items.
func (r Resp) Items() []map[string]any {
	var out []map[string]any
	for _, it := range r.Body["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// Want fails unless the response has the status.
func (r Resp) Want(t testing.TB, status int) Resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// ReqOpt changes a request before it is sent.
type ReqOpt func(*http.Request)

// WithSession sends the test session cookie naming a user (see Env.Session).
func WithSession(id string) ReqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "test_session", Value: id}) }
}

// WithToken sends a bearer token.
func WithToken(tok string) ReqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// WithContentType sets the Content-Type.
func WithContentType(ct string) ReqOpt {
	return func(r *http.Request) { r.Header.Set("Content-Type", ct) }
}

// Call sends a request to base; body is JSON-encoded unless it is a string.
func Call(t testing.TB, base, method, path string, body any, opts ...ReqOpt) Resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := Resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(raw) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return out
}

// API calls the env's instance with its API token.
func (e *Env) API(method, path string, body any, opts ...ReqOpt) Resp {
	e.T.Helper()
	return Call(e.T, e.Srv.URL, method, path, body, append([]ReqOpt{WithToken(e.Token)}, opts...)...)
}

// Session makes a signed-in person of the org for requests with WithSession(id).
func (e *Env) Session(u core.User) ReqOpt {
	e.Sess.users[u.ID] = [2]string{u.OrgID, u.ID}
	return WithSession(u.ID)
}

// User creates an active invited user name@acme.test.
func (e *Env) User(name string) core.User {
	e.T.Helper()
	u, err := e.St.CreateUser(context.Background(), core.Actor{Kind: core.ActorSystem}, core.User{
		OrgID: e.Org.ID, UserName: name + "@acme.test", Email: name + "@acme.test", DisplayName: name, Active: true, Source: core.SourceInvited})
	if err != nil {
		e.T.Fatal(err)
	}
	return u
}

// ForEachBackend runs fn as a parallel subtest on every store backend.
func ForEachBackend(t *testing.T, fn func(t *testing.T, b storetest.Backend)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// ChainKinds lists the kinds of an explanation's steps.
func ChainKinds(d map[string]any) []string {
	var out []string
	for _, s := range d["explanation"].([]any) {
		out = append(out, s.(map[string]any)["kind"].(string))
	}
	return out
}
