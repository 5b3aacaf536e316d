package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// The governance pages' refusal tests share these: people signed in for real
// (through the sso package's login), each with their browser's CSRF token, and a
// check that a refused form changed nothing.

// person is a signed-in browser without redirects followed.
type person struct {
	t     *testing.T
	base  string
	c     *http.Client
	csrf  string
	email string
}

// as signs email in and reads their CSRF token off an admin page.
func (s *site) as(t *testing.T, email string) *person {
	t.Helper()
	jar := signIn(t, s, email)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(s.srv.URL + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	p := &person{t: t, base: s.srv.URL, c: c, email: email}
	u, _ := url.Parse(s.srv.URL + "/admin/")
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "gatehouse_csrf" {
			p.csrf = ck.Value
		}
	}
	if p.csrf == "" {
		t.Fatalf("no CSRF cookie for %s", email)
	}
	return p
}

// get returns a page's status and body.
func (p *person) get(path string) (int, string) {
	p.t.Helper()
	res, err := p.c.Get(p.base + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// post sends a form with the person's CSRF token (unless noCSRF) and the extra
// headers; it returns the status, the body and where a redirect goes.
func (p *person) post(path string, form url.Values, noCSRF bool, hdr map[string]string) (int, string, string) {
	p.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if !noCSRF {
		f.Set("csrf", p.csrf)
	}
	req, _ := http.NewRequest("POST", p.base+path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get("Location")
}

// governed is a site with the people the refusal tests need: Ann (no admin
// anywhere, editor in marketing's development), Bob (Admin of workspace sales
// only: the wrong workspace's Admin for marketing) and Carol (Admin of
// marketing, no org admin).
type governed struct {
	*site
	admin, ann, bob, carol *person
}

func newGoverned(t *testing.T, s *site) *governed {
	t.Helper()
	bob, carol := s.User("bob"), s.User("carol")
	s.API("POST", "/api/v1/workspaces", map[string]any{"slug": "sales", "environments": []string{"development", "production"}}).Want(t, 201)
	for ws, u := range map[string]core.User{"sales": bob, "marketing": carol} {
		g := s.API("POST", "/api/v1/groups", map[string]any{"name": ws + "-admins"}).Want(t, 201)
		s.API("PUT", "/api/v1/groups/"+g.Str("id")+"/members/"+u.ID, nil).Want(t, 204)
		s.API("POST", "/api/v1/grants", map[string]any{"group": ws + "-admins", "workspace": ws, "role": "admin"}).Want(t, 201)
	}
	return &governed{site: s, admin: s.as(t, "admin@acme.test"), ann: s.as(t, "ann@acme.test"), bob: s.as(t, "bob@acme.test"), carol: s.as(t, "carol@acme.test")}
}

// refused posts form to path in every way that must be refused (no CSRF token,
// a cross-site request, and as each of outsiders) and checks that none was let
// through and that state() reads the same after as before.
func (g *governed) refused(t *testing.T, path string, form url.Values, state func() string, outsiders ...*person) {
	t.Helper()
	before := state()
	if st, _, _ := g.admin.post(path, form, true, nil); st != http.StatusForbidden {
		t.Errorf("POST %s without CSRF token: %d, want 403", path, st)
	}
	if st, _, _ := g.admin.post(path, form, false, map[string]string{"Sec-Fetch-Site": "cross-site"}); st != http.StatusForbidden {
		t.Errorf("cross-site POST %s: %d, want 403", path, st)
	}
	if st, _, _ := g.admin.post(path, form, false, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""}); st != http.StatusForbidden {
		t.Errorf("POST %s from another origin: %d, want 403", path, st)
	}
	for _, p := range outsiders {
		if st, _, _ := p.post(path, form, false, nil); st != http.StatusForbidden && st != http.StatusNotFound {
			t.Errorf("%s POST %s: %d, want 403 or 404", p.email, path, st)
		}
	}
	if after := state(); after != before {
		t.Errorf("a refused POST %s changed state:\nbefore %s\nafter  %s", path, before, after)
	}
}

// badInput posts form as p and wants a 4xx page that says msg, keeps what was
// typed (kept, if given) and changed nothing.
func (g *governed) badInput(t *testing.T, p *person, path string, form url.Values, status int, msg, kept string, state func() string) {
	t.Helper()
	before := state()
	st, body, _ := p.post(path, form, false, nil)
	if st != status || !strings.Contains(body, msg) {
		t.Errorf("bad input to %s: %d, want %d saying %q; body %.2000s", path, st, status, msg, body)
	}
	if kept != "" && !strings.Contains(body, `value="`+kept+`"`) {
		t.Errorf("bad input to %s: the form does not keep %q", path, kept)
	}
	if after := state(); after != before {
		t.Errorf("bad input to %s changed state:\nbefore %s\nafter  %s", path, before, after)
	}
}

// apiState reads API paths (with the org's token) into one string to compare.
func (g *governed) apiState(t *testing.T, paths ...string) func() string {
	return func() string {
		var b strings.Builder
		for _, p := range paths {
			b.WriteString(p + " " + string(g.API("GET", p, nil).Want(t, 200).Raw) + "\n")
		}
		return b.String()
	}
}

// postForm posts a form to u with c, hdr as name, value pairs, and returns the
// status and the body.
func postForm(t *testing.T, c *http.Client, u string, form url.Values, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}
