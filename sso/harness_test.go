package sso_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso"
)

var ctx = context.Background()

// forEachBackend runs fn as a parallel subtest on every store backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, newStore func(testing.TB) *store.SQL)) {
	t.Helper()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.New)
		})
	}
}

// clock is a test clock: real time plus an offset tests move.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// logBuffer collects the handler's log lines, to check refusal reasons.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// gatehouse is a Gatehouse under test: a store, an org, and the SSO handler served
// on loopback.
type gatehouse struct {
	t     *testing.T
	st    *store.SQL
	org   core.Org
	h     *sso.Handler
	srv   *httptest.Server
	url   *url.URL
	box   *sso.Box
	clock *clock
	logs  *logBuffer
}

func newGatehouse(t *testing.T, st *store.SQL) *gatehouse {
	t.Helper()
	return newGatehouseIn(t, st, 0)
}

// newGatehouseIn serves a new org (acme, acme-1, …) of a shared store.
func newGatehouseIn(t *testing.T, st *store.SQL, n int) *gatehouse {
	t.Helper()
	return newGatehouseWith(t, st, n, false)
}

// newGatehouseTLS serves Gatehouse over https with an https external URL, as in
// production; browsers for it come from g.browser.
func newGatehouseTLS(t *testing.T, st *store.SQL) *gatehouse {
	t.Helper()
	return newGatehouseWith(t, st, 0, true)
}

func newGatehouseWith(t *testing.T, st *store.SQL, n int, useTLS bool) *gatehouse {
	t.Helper()
	slug := "acme"
	if n > 0 {
		slug = fmt.Sprintf("acme-%d", n)
	}
	org, _, err := st.CreateOrg(ctx, core.Actor{Kind: core.ActorSystem}, slug, "Acme", "admin@"+slug+".example")
	if err != nil {
		t.Fatalf("create org: %v", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := sso.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	u, _ := url.Parse(scheme + "://" + srv.Listener.Addr().String())
	g := &gatehouse{t: t, st: st, org: org, srv: srv, url: u, box: box, clock: &clock{}, logs: &logBuffer{}}
	g.h = &sso.Handler{
		Store: st, Logger: slog.New(slog.NewTextHandler(g.logs, nil)), Now: g.clock.Now,
		ExternalURL: u, Box: box, SessionIdle: 30 * time.Minute, SessionLifetime: 8 * time.Hour,
		Network: sso.Network{AllowLoopback: true}, // the IdPs are loopback test servers
	}
	mux := http.NewServeMux()
	g.h.Mount(mux)
	mountAPI(mux, st, g.h)
	srv.Config.Handler = mux
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return g
}

// client is an HTTP client that trusts g's test certificate (and reaches plain
// http servers too): browsers and IdPs talking to a TLS Gatehouse use it.
func (g *gatehouse) client() *http.Client {
	if g.url.Scheme == "https" {
		return g.srv.Client()
	}
	return http.DefaultClient
}

// browser is a new browser for g (trusting its certificate when it is https).
func (g *gatehouse) browser(t *testing.T) *browser {
	b := newBrowser(t)
	b.client.Transport = g.client().Transport
	return b
}

// browser is a real HTTP client with a cookie jar that follows redirects and
// submits auto-posting forms, as a browser does.
type browser struct {
	t      *testing.T
	client *http.Client // its Transport may be replaced (g.browser)
	// stopAt, when set, stops following redirects to a URL path with this suffix,
	// so a test can look at (and tamper with) that request.
	stopAt atomic.Value
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t}
	b.stopAt.Store("")
	b.client = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if s := b.stopAt.Load().(string); s != "" && strings.HasSuffix(req.URL.Path, s) {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	return b
}

// page is a fetched page.
type page struct {
	status   int
	url      *url.URL
	body     string
	location string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, url: resp.Request.URL, body: string(body), location: resp.Header.Get("Location"), header: resp.Header}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	formRe  = regexp.MustCompile(`(?is)<form[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>`)
	inputRe = regexp.MustCompile(`(?is)<input([^>]*)>`)
	attrRe  = regexp.MustCompile(`(?is)\b(name|value|type)="([^"]*)"`)
)

// form reads the first form of a page: its absolute action and its fields.
func (p page) form(t *testing.T) (string, url.Values) {
	t.Helper()
	m := formRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form on %s (status %d): %.500s", p.url, p.status, p.body)
	}
	action, err := p.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatalf("form action: %v", err)
	}
	vals := url.Values{}
	for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(in[1], -1) {
			attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2])
		}
		if attrs["name"] != "" {
			vals.Set(attrs["name"], attrs["value"])
		}
	}
	return action.String(), vals
}

// submit posts the page's first form, with fields overridden by set.
func (b *browser) submit(p page, set map[string]string) page {
	b.t.Helper()
	action, vals := p.form(b.t)
	for k, v := range set {
		vals.Set(k, v)
	}
	return b.post(action, vals)
}

// me fetches /api/v1/me with the browser's session.
func (b *browser) me(g *gatehouse) (int, decisions.Me) {
	b.t.Helper()
	p := b.get(g.url.String() + "/api/v1/me")
	var me decisions.Me
	if p.status == http.StatusOK {
		if err := json.Unmarshal([]byte(p.body), &me); err != nil {
			b.t.Fatalf("decode /me: %v: %s", err, p.body)
		}
	}
	return p.status, me
}

// wantRefused checks a login ended on the plain error page, with no internals.
func wantRefused(t *testing.T, g *gatehouse, p page, reason string) {
	t.Helper()
	if p.status != http.StatusForbidden && p.status != http.StatusBadRequest && p.status != http.StatusBadGateway {
		t.Fatalf("status %d, want a refusal; body: %.300s", p.status, p.body)
	}
	if !strings.Contains(p.body, "Sign-in failed") {
		t.Errorf("refusal page does not say the sign-in failed: %.300s", p.body)
	}
	for _, leak := range []string{"goroutine", ".go:", "signature", "x509", "sql", "panic"} {
		if strings.Contains(strings.ToLower(p.body), leak) {
			t.Errorf("refusal page leaks %q: %.500s", leak, p.body)
		}
	}
	if reason != "" && !strings.Contains(g.logs.String(), "reason="+reason) {
		t.Errorf("log has no refusal with reason=%s:\n%s", reason, g.logs.String())
	}
}

// audits lists audit events of an action.
func (g *gatehouse) audits(action string) []core.AuditEvent {
	g.t.Helper()
	es, err := g.st.ListAudit(ctx, g.org.ID, store.AuditQuery{Action: action})
	if err != nil {
		g.t.Fatalf("list audit: %v", err)
	}
	return es
}

func (g *gatehouse) userByEmail(email string) (core.User, error) {
	return g.st.GetUserByEmail(ctx, g.org.ID, email)
}

// selfSigned makes an RSA key and a certificate for an IdP.
func selfSigned(t *testing.T, cn string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour * 365),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert
}

func fatalIf(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// mountAPI serves the JSON API next to the sso handler, as the server does: its
// GET /api/v1/me is where logins land and what they show, and the sso handler
// authenticates its sessions.
func mountAPI(mux *http.ServeMux, st *store.SQL, h *sso.Handler) {
	(&api.Handler{Store: st, Sessions: h}).Mount(mux)
}

// newServer serves h on loopback and returns its URL.
func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
