package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

var (
	ctx = context.Background()
	sys = core.Actor{Kind: core.ActorSystem, Name: "test"}
)

// env is one org with one directory, its SCIM token and the mounted handler.
type env struct {
	t     testing.TB
	s     *store.SQL
	mux   *http.ServeMux
	h     *Handler
	org   core.Org
	admin core.User
	dir   core.Directory
	token string
}

func newEnv(t testing.TB, newStore func(testing.TB) *store.SQL) *env {
	t.Helper()
	s := newStore(t)
	return newEnvOn(t, s, "acme", "okta")
}

// newEnvOn creates an org (slug) with a directory on an existing store.
func newEnvOn(t testing.TB, s *store.SQL, slug, dirName string) *env {
	t.Helper()
	org, admin, err := s.CreateOrg(ctx, sys, slug, "Org "+slug, "admin@"+slug+".example.com")
	if err != nil {
		t.Fatalf("create org: %v", err)
	}
	e := &env{t: t, s: s, org: org, admin: admin}
	e.addDirectory(dirName)
	return e
}

// addDirectory switches the env to a new directory of the same org.
func (e *env) addDirectory(name string) {
	e.t.Helper()
	d, err := e.s.EnsureDirectory(ctx, sys, e.org.ID, name)
	if err != nil {
		e.t.Fatalf("directory: %v", err)
	}
	_, secret, err := e.s.CreateToken(ctx, sys, e.org.ID, store.TokenSCIM, name+" token", d.ID)
	if err != nil {
		e.t.Fatalf("token: %v", err)
	}
	e.dir, e.token = d, secret
	e.h = &Handler{Store: e.s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e.mux = http.NewServeMux()
	e.h.Mount(e.mux)
}

// revokeTokens revokes every token of the org, as another instance would.
func (e *env) revokeTokens() {
	e.t.Helper()
	toks, err := e.s.ListTokens(ctx, e.org.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tk := range toks {
		if err := e.s.RevokeToken(ctx, sys, e.org.ID, tk.ID); err != nil {
			e.t.Fatal(err)
		}
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// do sends one request; hdr holds extra headers as "Name: value".
func (e *env) do(method, path, body string, hdr ...string) resp {
	e.t.Helper()
	out, err := e.send(method, path, body, hdr...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// doAsync is do for other goroutines: it reports a bad body as status -1.
func (e *env) doAsync(method, path, body string) resp {
	out, err := e.send(method, path, body)
	if err != nil {
		return resp{status: -1, body: []byte(err.Error())}
	}
	return out
}

func (e *env) send(method, path, body string, hdr ...string) (resp, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	if !strings.HasPrefix(path, "/scim/") {
		path = Prefix + path
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Authorization", "Bearer "+e.token)
	if body != "" {
		r.Header.Set("Content-Type", "application/scim+json")
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		if strings.TrimSpace(v) == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, strings.TrimSpace(v))
		}
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	out := resp{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
	if len(out.body) > 0 {
		if err := json.Unmarshal(out.body, &out.json); err != nil {
			return out, fmt.Errorf("%s %s: response is not a JSON object: %v\n%s", method, path, err, out.body)
		}
	}
	return out, nil
}

// must checks the status.
func (r resp) must(t testing.TB, status int) resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// get reads a dotted path from a JSON value: "members.0.value", "members.#" (length).
func get(v any, path string) any {
	if path == "" {
		return v
	}
	for _, p := range splitPath(path) {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			if p == "#" {
				return float64(len(x))
			}
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			if p == "#" && v == nil {
				return float64(0)
			}
			return nil
		}
	}
	return v
}

// splitPath splits on dots, except inside a URN key written as {urn:…}.
func splitPath(path string) []string {
	var out []string
	for path != "" {
		if strings.HasPrefix(path, "{") {
			end := strings.Index(path, "}")
			out = append(out, path[1:end])
			path = strings.TrimPrefix(path[end+1:], ".")
			continue
		}
		p, rest, _ := strings.Cut(path, ".")
		out = append(out, p)
		path = rest
	}
	return out
}

func (r resp) field(path string) any { return get(any(r.json), path) }

func (e *env) createUser(userName string, extra string) string {
	e.t.Helper()
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + userName + `","name":{"givenName":"G","familyName":"F"},"emails":[{"value":"` + userName + `","type":"work","primary":true}],"active":true` + extra + `}`
	r := e.do("POST", "/Users", body).must(e.t, 201)
	return r.field("id").(string)
}

func (e *env) createGroup(name string) string {
	e.t.Helper()
	r := e.do("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"`+name+`","members":[]}`).must(e.t, 201)
	return r.field("id").(string)
}

func eachBackend(t *testing.T, f func(t *testing.T, newStore func(testing.TB) *store.SQL)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f(t, b.New)
		})
	}
}

func newSQLite(t testing.TB) *store.SQL { return storetest.NewSQLite(t) }
