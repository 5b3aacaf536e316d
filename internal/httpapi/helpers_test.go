package httpapi

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

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// env is one API instance over a real store, with an org and its API token.
type env struct {
	t     *testing.T
	st    *store.SQL
	h     *Handler
	srv   *httptest.Server
	org   core.Org
	admin core.User
	token string
	sess  *fakeSessions
}

// fakeSessions stands in for the sso package's sessions (it owns them): a cookie
// value names a user. Only the SessionAuth seam is replaced; everything behind it
// (the user, their org-admin flag, their grants) is read from the real store.
type fakeSessions struct{ users map[string][2]string }

func (f *fakeSessions) Authenticate(r *http.Request) (string, string, error) {
	c, err := r.Cookie("test_session")
	if err != nil {
		return "", "", core.ErrNotFound
	}
	u, ok := f.users[c.Value]
	if !ok {
		return "", "", core.ErrNotFound
	}
	return u[0], u[1], nil
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("GATEHOUSE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newInstance serves a Handler on st: several instances on one store model several
// servers behind a load balancer.
func newInstance(t *testing.T, st *store.SQL, sess *fakeSessions) (*Handler, *httptest.Server) {
	gr, err := st.NewGenerationReader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gr.Close() })
	h := &Handler{Store: st, Generations: gr, Logger: testLogger(t), SessionAuth: sess, ExternalURL: "https://gatehouse.example.com"}
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return h, srv
}

func newEnv(t *testing.T, b storetest.Backend) *env {
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
	sess := &fakeSessions{users: map[string][2]string{}}
	h, srv := newInstance(t, st, sess)
	return &env{t: t, st: st, h: h, srv: srv, org: org, admin: admin, token: secret, sess: sess}
}

// resp is a decoded response.
type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r resp) str(path ...string) string {
	var v any = r.body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (r resp) items() []map[string]any {
	var out []map[string]any
	for _, it := range r.body["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

type reqOpt func(*http.Request)

func withSession(id string) reqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "test_session", Value: id}) }
}

func withToken(tok string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func withContentType(ct string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Content-Type", ct) }
}

// call sends a request to base; body is JSON-encoded unless it is a string.
func call(t *testing.T, base, method, path string, body any, opts ...reqOpt) resp {
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
	out := resp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return out
}

// api calls the env's instance with its API token.
func (e *env) api(method, path string, body any, opts ...reqOpt) resp {
	e.t.Helper()
	return call(e.t, e.srv.URL, method, path, body, append([]reqOpt{withToken(e.token)}, opts...)...)
}

// want fails unless the response has the status.
func (r resp) want(t *testing.T, status int) resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// session makes a signed-in person of the org for requests with withSession(id).
func (e *env) session(u core.User) reqOpt {
	e.sess.users[u.ID] = [2]string{u.OrgID, u.ID}
	return withSession(u.ID)
}

func (e *env) user(name string) core.User {
	e.t.Helper()
	u, err := e.st.CreateUser(context.Background(), core.Actor{Kind: core.ActorSystem}, core.User{
		OrgID: e.org.ID, UserName: name + "@acme.test", Email: name + "@acme.test", DisplayName: name, Active: true, Source: core.SourceInvited})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b storetest.Backend)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// chainKinds lists the kinds of an explanation's steps.
func chainKinds(d map[string]any) []string {
	var out []string
	for _, s := range d["explanation"].([]any) {
		out = append(out, s.(map[string]any)["kind"].(string))
	}
	return out
}
