package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
)

// TestScaleOutTwoInstances runs `gatehouse serve` twice, in-process but each with
// its own store pool, handlers and caches, on one PostgreSQL schema and one
// --secret-key, behind a test load balancer whose backend the test picks per
// request (their shared --external-url is the balancer's). It shows that the two
// behave as one: a SAML login started on A (AuthnRequest tracked in the database)
// completes with the ACS POST on B; the session cookie works on both; the same
// assertion posted again on B or on A is refused; a SCIM write on A is read on B
// at once, and B's decisions change at once; login rate limits add up across A and B.
func TestScaleOutTwoInstances(t *testing.T) {
	pg := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if pg == "" || testing.Short() {
		t.Skip("GATEHOUSE_TEST_POSTGRES not set: scale-out needs PostgreSQL")
	}
	dsn := pgSchemaDSN(t, pg)
	mustRun(t, "org", "create", "--db", dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.test")
	scimTok := lastLine(mustRun(t, "token", "create", "--db", dsn, "--org", "acme", "--kind", "scim", "--name", "okta", "--external-url", "http://127.0.0.1:8080"))
	apiTok := lastLine(mustRun(t, "token", "create", "--db", dsn, "--org", "acme", "--kind", "api", "--name", "app"))

	lb := newBalancer(t)
	idp := newTestSAMLIdP(t)
	idp.setUser("ivy@acme.test", []string{"Okta-Data"})
	mdFile := filepath.Join(t.TempDir(), "idp.xml")
	if err := os.WriteFile(mdFile, idp.metadata(t), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "sso", "add-saml", "--db", dsn, "--org", "acme", "--name", "okta-saml", "--metadata-file", mdFile,
		"--domain", "acme.test", "--external-url", lb.url, "--secret-key", testSecretKey)
	m := regexp.MustCompile(`connection id: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no connection id in:\n%s", out)
	}
	connID := m[1]

	// Login limit: 30 a minute per client address, counted in the database. The
	// balancer and the test reach the instances from loopback, which is trusted, so
	// X-Forwarded-For names the client.
	common := []string{"--db", dsn, "--external-url", lb.url, "--trusted-proxies", "127.0.0.0/8", "--rate-limit-login", "30"}
	a := startServe(t, common...)
	b := startServe(t, common...)
	lb.setBackends(a.base, b.base)

	t.Run("SAMLStartedOnAFinishedOnB", func(t *testing.T) {
		br := newTestBrowser(t)
		lb.use(0)
		p := br.get(lb.url + "/sso/saml/" + connID + "/login")
		if p.status != http.StatusOK || !strings.Contains(p.body, "SAMLResponse") {
			t.Fatalf("login on A: IdP answered %d at %s: %.400s", p.status, p.url, p.body)
		}
		action, form := p.form(t)
		if !strings.HasPrefix(action, lb.url+"/sso/saml/"+connID+"/acs") {
			t.Fatalf("IdP posts to %s; want the ACS behind the balancer", action)
		}
		lb.use(1)
		hitsB := lb.hits[1].Load()
		done := br.postNoFollow(action, form)
		if lb.hits[1].Load() == hitsB {
			t.Fatal("the ACS POST did not reach B")
		}
		if done.status != http.StatusSeeOther && done.status != http.StatusFound {
			t.Fatalf("ACS on B: %d %.400s", done.status, done.body)
		}
		for i, name := range []string{"A", "B"} {
			lb.use(i)
			code, me := br.me(lb.url)
			if code != http.StatusOK || me.User.Email != "ivy@acme.test" {
				t.Fatalf("/api/v1/me on %s after a login on B: %d %+v", name, code, me)
			}
		}
		// The same assertion again: refused by B, then by A (replay cache and the
		// consumed AuthnRequest are in the database).
		for i, name := range []string{"B", "A"} {
			lb.use(1 - i)
			again := br.postNoFollow(action, form)
			if again.status != http.StatusForbidden && again.status != http.StatusBadRequest {
				t.Fatalf("replayed assertion on %s: %d %.300s; want a refusal", name, again.status, again.body)
			}
		}
		// A brand-new browser replaying the captured POST is refused too.
		lb.use(0)
		if again := newTestBrowser(t).postNoFollow(action, form); again.status != http.StatusForbidden && again.status != http.StatusBadRequest {
			t.Fatalf("replayed assertion from another browser on A: %d", again.status)
		}

		// A login wholly through A: the session is good on B.
		onA := newTestBrowser(t)
		lb.use(0)
		p = onA.get(lb.url + "/sso/saml/" + connID + "/login")
		action, form = p.form(t)
		if done := onA.postNoFollow(action, form); done.status != http.StatusSeeOther && done.status != http.StatusFound {
			t.Fatalf("ACS on A: %d %.400s", done.status, done.body)
		}
		lb.use(1)
		hitsB = lb.hits[1].Load()
		if code, me := onA.me(lb.url); code != http.StatusOK || me.User.Email != "ivy@acme.test" || lb.hits[1].Load() == hitsB {
			t.Fatalf("/api/v1/me on B after a login on A: %d %+v", code, me)
		}
	})

	t.Run("SCIMWriteOnAReadOnB", func(t *testing.T) {
		scimA, scimB := client(t, a.base, scimTok), client(t, b.base, scimTok)
		apiA, apiB := client(t, a.base, apiTok), client(t, b.base, apiTok)
		u := scimA("POST", "/scim/v2/Users", map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": "ada@acme.test", "active": true,
			"emails": []map[string]any{{"value": "ada@acme.test", "primary": true}},
		}, 201)
		uid := u["id"].(string)
		if got := scimB("GET", "/scim/v2/Users/"+uid, nil, 200); got["userName"] != "ada@acme.test" {
			t.Fatalf("B reads %v", got)
		}
		g := scimA("POST", "/scim/v2/Groups", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Okta-Data",
		}, 201)
		gid := g["id"].(string)

		// The application side, through B: a grant to a group mapped from Okta-Data.
		apiB("POST", "/api/v1/workspaces", map[string]any{"slug": "marketing", "name": "Marketing", "environments": []string{"development"}}, 201)
		apiB("POST", "/api/v1/groups", map[string]any{"name": "Data Team"}, 201)
		apiB("POST", "/api/v1/grants", map[string]any{"group": "Data Team", "workspace": "marketing", "role": "editor"}, 201)
		apiB("POST", "/api/v1/mappings", map[string]any{"directory": "okta", "idp_group": "Okta-Data", "group": "Data Team"}, 201)
		check := func(call func(string, string, any, ...int) map[string]any) map[string]any {
			return call("POST", "/api/v1/check", map[string]any{
				"user": "ada@acme.test", "workspace": "marketing", "environment": "development",
				"action": "create", "resource": map[string]string{"type": "source", "id": "s-1"},
			}, 200)
		}
		// Warm both instances' caches with the deny.
		for _, c := range []func(string, string, any, ...int) map[string]any{apiA, apiB} {
			if d := check(c); d["decision"] != "deny" {
				t.Fatalf("before membership: %v", d)
			}
		}
		member := func(op string) {
			scimA("PATCH", "/scim/v2/Groups/"+gid, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []map[string]any{{"op": op, "path": "members", "value": []map[string]string{{"value": uid}}}},
			}, 200, 204)
		}
		members := func() int {
			got := scimB("GET", "/scim/v2/Groups/"+gid, nil, 200)
			ms, _ := got["members"].([]any)
			return len(ms)
		}
		member("add")
		if n := members(); n != 1 {
			t.Fatalf("B sees %d members after an add on A", n)
		}
		if d := check(apiB); d["decision"] != "allow" {
			t.Fatalf("B's decision right after the SCIM add on A: %v; want allow", d)
		}
		scimA("PATCH", "/scim/v2/Groups/"+gid, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "remove", "path": `members[value eq "` + uid + `"]`}},
		}, 200, 204)
		if n := members(); n != 0 {
			t.Fatalf("B sees %d members after a remove on A", n)
		}
		if d := check(apiB); d["decision"] != "deny" || d["reason"] != "no_grant" {
			t.Fatalf("B's decision right after the SCIM remove on A: %v; want deny no_grant", d)
		}
		member("add")
		if d := check(apiB); d["decision"] != "allow" {
			t.Fatalf("B's decision after re-adding on A: %v", d)
		}
		scimA("PATCH", "/scim/v2/Users/"+uid, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []map[string]any{{"op": "replace", "value": map[string]any{"active": false}}},
		}, 200, 204)
		if d := check(apiB); d["decision"] != "deny" || d["reason"] != "user_inactive" {
			t.Fatalf("B's decision right after deactivation on A: %v; want deny user_inactive", d)
		}
	})

	t.Run("LoginRateLimitShared", func(t *testing.T) {
		hit := func(base, ip string) int {
			req, _ := http.NewRequest("GET", base+"/sso/saml/"+connID+"/metadata", nil)
			req.Header.Set("X-Forwarded-For", ip)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		for i := 0; i < 15; i++ {
			for _, base := range []string{a.base, b.base} {
				if code := hit(base, "203.0.113.7"); code != 200 {
					t.Fatalf("hit %d on %s: %d, within the limit", i, base, code)
				}
			}
		}
		// 30 used, 15 on each: both now refuse, though each saw only 15.
		for _, base := range []string{a.base, b.base} {
			if code := hit(base, "203.0.113.7"); code != http.StatusTooManyRequests {
				t.Fatalf("31st login request on %s: %d; want 429 (counts shared)", base, code)
			}
		}
		if code := hit(b.base, "203.0.113.8"); code != 200 {
			t.Fatalf("another client: %d", code)
		}
	})
}

// balancer is a reverse proxy in front of the instances; the test picks the
// backend of the next requests, as a load balancer without stickiness may.
type balancer struct {
	url  string
	cur  atomic.Int32
	hits [2]atomic.Int64

	mu       sync.Mutex
	backends []string
}

func (lb *balancer) setBackends(urls ...string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.backends = urls
}

func newBalancer(t *testing.T) *balancer {
	lb := &balancer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := lb.cur.Load()
		lb.hits[i].Add(1)
		lb.mu.Lock()
		target, _ := url.Parse(lb.backends[i])
		lb.mu.Unlock()
		(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		}}).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	lb.url = srv.URL
	return lb
}

func (lb *balancer) use(i int) { lb.cur.Store(int32(i)) }

// client calls one instance with a bearer token and checks the status.
func client(t *testing.T, base, token string) func(method, path string, body any, want ...int) map[string]any {
	return func(method, path string, body any, want ...int) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if strings.HasPrefix(path, "/scim/") {
			req.Header.Set("Content-Type", "application/scim+json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		ok := false
		for _, s := range want {
			ok = ok || s == resp.StatusCode
		}
		if !ok {
			t.Fatalf("%s %s%s: %d %s; want %v", method, base, path, resp.StatusCode, raw, want)
		}
		out := map[string]any{}
		if len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("%s %s: not JSON: %s", method, path, raw)
			}
		}
		return out
	}
}

// testSAMLIdP is a real SAML IdP (crewjam/saml's IdentityProvider) on loopback whose
// browser session is the current user; it reads SP metadata from the SP's entity
// id, as an IdP admin who pasted the metadata URL.
type testSAMLIdP struct {
	idp *saml.IdentityProvider
	srv *httptest.Server

	mu     sync.Mutex
	email  string
	groups []string
}

func newTestSAMLIdP(t *testing.T) *testSAMLIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &testSAMLIdP{}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	base, _ := url.Parse(p.srv.URL)
	p.idp = &saml.IdentityProvider{
		Key: key, Signer: key, Certificate: cert, Logger: log.New(io.Discard, "", 0),
		MetadataURL: *base.JoinPath("metadata"), SSOURL: *base.JoinPath("sso"),
		SessionProvider: p, ServiceProviderProvider: p,
	}
	mux.HandleFunc("/metadata", p.idp.ServeMetadata)
	mux.HandleFunc("/sso", p.idp.ServeSSO)
	return p
}

func (p *testSAMLIdP) setUser(email string, groups []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.email, p.groups = email, groups
}

func (p *testSAMLIdP) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	var vals []saml.AttributeValue
	for _, g := range p.groups {
		vals = append(vals, saml.AttributeValue{Type: "xs:string", Value: g})
	}
	return &saml.Session{
		ID: "sess-" + p.email, CreateTime: time.Now(), ExpireTime: time.Now().Add(time.Hour), Index: "1",
		NameID: p.email, NameIDFormat: string(saml.EmailAddressNameIDFormat), UserEmail: p.email,
		CustomAttributes: []saml.Attribute{
			{Name: "email", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic", Values: []saml.AttributeValue{{Type: "xs:string", Value: p.email}}},
			{Name: "groups", Values: vals},
		},
	}
}

func (p *testSAMLIdP) GetServiceProvider(r *http.Request, spID string) (*saml.EntityDescriptor, error) {
	resp, err := http.Get(spID)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, os.ErrNotExist
	}
	raw, _ := io.ReadAll(resp.Body)
	md, err := samlsp.ParseMetadata(raw)
	if err != nil {
		return nil, err
	}
	// No assertion encryption, as most Okta and Entra apps are set up.
	for i := range md.SPSSODescriptors {
		kds := md.SPSSODescriptors[i].KeyDescriptors[:0]
		for _, kd := range md.SPSSODescriptors[i].KeyDescriptors {
			if kd.Use != "encryption" && kd.Use != "" {
				kds = append(kds, kd)
			}
		}
		md.SPSSODescriptors[i].KeyDescriptors = kds
	}
	return md, nil
}

func (p *testSAMLIdP) metadata(t *testing.T) []byte {
	t.Helper()
	resp, err := http.Get(p.srv.URL + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return raw
}

// testBrowser is an HTTP client with a cookie jar that follows redirects.
type testBrowser struct {
	t      *testing.T
	client *http.Client
}

func newTestBrowser(t *testing.T) *testBrowser {
	jar, _ := cookiejar.New(nil)
	return &testBrowser{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		return nil
	}}}
}

type testPage struct {
	status int
	url    *url.URL
	body   string
}

func (b *testBrowser) do(req *http.Request, follow bool) testPage {
	b.t.Helper()
	c := *b.client
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return testPage{status: resp.StatusCode, url: resp.Request.URL, body: string(raw)}
}

func (b *testBrowser) get(u string) testPage {
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req, true)
}

func (b *testBrowser) postNoFollow(u string, form url.Values) testPage {
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req, false)
}

type meUser struct {
	User struct {
		Email string `json:"email"`
	} `json:"user"`
}

func (b *testBrowser) me(base string) (int, meUser) {
	b.t.Helper()
	p := b.get(base + "/api/v1/me")
	var me meUser
	if p.status == http.StatusOK {
		if err := json.Unmarshal([]byte(p.body), &me); err != nil {
			b.t.Fatalf("decode /me: %v: %s", err, p.body)
		}
	}
	return p.status, me
}

var (
	formRe  = regexp.MustCompile(`(?is)<form[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>`)
	inputRe = regexp.MustCompile(`(?is)<input([^>]*)>`)
	attrRe  = regexp.MustCompile(`(?is)\b(name|value)="([^"]*)"`)
)

// form reads a page's first form: its absolute action and its fields.
func (p testPage) form(t *testing.T) (string, url.Values) {
	t.Helper()
	m := formRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form on %s: %.500s", p.url, p.body)
	}
	action, err := p.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
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
