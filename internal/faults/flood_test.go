package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/xml"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestBadInputFlood sends SCIM, the API and the SSO endpoints random bytes, bodies
// over the 2 MiB limit, JSON nested 100,000 deep, invalid UTF-8, wrong JSON types,
// SQL metacharacters in filters, paths and names. Every answer is a 4xx in the
// protocol's format (never a 5xx, never a hang), nothing changes in the database,
// except the valid creates whose names merely contain SQL: those round-trip
// verbatim. The server is healthy afterwards.
func TestBadInputFlood(t *testing.T) {
	needBinary(t)
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		flood(t, "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		flood(t, storetest.PostgresDSN(t))
	})
}

// target is an endpoint that takes a body.
type target struct {
	method, path, token, ctype string
}

func flood(t *testing.T, dsn string) {
	scimTok, apiTok := setupOrg(t, dsn)
	dir := t.TempDir()
	md := filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(md, idpMetadata(t), 0o600); err != nil {
		t.Fatal(err)
	}
	out := cli(t, "sso", "add-saml", "--db", dsn, "--org", "acme", "--name", "okta-saml", "--metadata-file", md,
		"--domain", "acme.test", "--external-url", "http://gatehouse.test", "--secret-key", secretKey)
	m := regexp.MustCompile(`connection id: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no connection id in %s", out)
	}
	conn := m[1]
	srv := serve(t, dsn, "--rate-limit-login", "0")
	c := httpClient(8)
	// A redirect is an answer too (a login sent to its IdP): look at it, don't follow it.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	// A user and a group to aim PUT/PATCH at.
	r := do(c, "POST", srv.base+"/scim/v2/Users", scimTok, scimType, newUserBody("target@acme.test"))
	uid := idOf(r.body)
	r = do(c, "POST", srv.base+"/scim/v2/Groups", scimTok, scimType, jsonBody(map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "target"}))
	gid := idOf(r.body)
	if uid == "" || gid == "" {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	before := checkWhole(t, dsn)
	actionsBefore := auditActions(t, dsn)

	const api = "application/json"
	const form = "application/x-www-form-urlencoded"
	targets := []target{
		{"POST", "/scim/v2/Users", scimTok, scimType},
		{"POST", "/scim/v2/Groups", scimTok, scimType},
		{"PUT", "/scim/v2/Users/" + uid, scimTok, scimType},
		{"PATCH", "/scim/v2/Users/" + uid, scimTok, scimType},
		{"PUT", "/scim/v2/Groups/" + gid, scimTok, scimType},
		{"PATCH", "/scim/v2/Groups/" + gid, scimTok, scimType},
		{"POST", "/scim/v2/Users/.search", scimTok, scimType},
		{"POST", "/api/v1/check", apiTok, api},
		{"POST", "/api/v1/check/batch", apiTok, api},
		{"POST", "/api/v1/users", apiTok, api},
		{"PATCH", "/api/v1/users/" + uid, apiTok, api},
		{"POST", "/api/v1/groups", apiTok, api},
		{"POST", "/api/v1/workspaces", apiTok, api},
		{"POST", "/api/v1/mappings", apiTok, api},
		{"POST", "/sso/saml/" + conn + "/acs", "", form},
		{"POST", "/sso/login", "", form},
	}
	var sent, fours int
	statuses := map[int]int{}
	expect4xx := func(what string, tg target, r reply) {
		t.Helper()
		sent++
		statuses[r.status]++
		switch {
		case r.err != nil:
			t.Errorf("%s %s %s: %v after %s (a hang or a reset)", what, tg.method, tg.path, r.err, r.took)
		case r.status < 400 || r.status > 499:
			t.Errorf("%s %s %s: %d %.300s; want a 4xx", what, tg.method, tg.path, r.status, r.body)
		default:
			fours++
			switch {
			case r.status == http.StatusRequestHeaderFieldsTooLarge:
				// Go's server answers 431 itself, before any handler, in plain text.
			case strings.HasPrefix(tg.path, "/scim/") && !scimError(r.body, r.status):
				t.Errorf("%s %s %s: %d not in SCIM error JSON: %.300s", what, tg.method, tg.path, r.status, r.body)
			case strings.HasPrefix(tg.path, "/api/") && !json.Valid(r.body):
				t.Errorf("%s %s %s: %d not JSON: %.300s", what, tg.method, tg.path, r.status, r.body)
			}
		}
	}
	send := func(tg target, body []byte) reply {
		return do(c, tg.method, srv.base+tg.path, tg.token, tg.ctype, bytes.NewReader(body))
	}
	formOf := func(tg target, v string) []byte {
		if strings.HasSuffix(tg.path, "/acs") {
			return []byte(url.Values{"SAMLResponse": {v}, "RelayState": {v}}.Encode())
		}
		return []byte(url.Values{"email": {v}}.Encode())
	}

	rng := mrand.New(mrand.NewPCG(1, uint64(time.Now().UnixNano())))
	n := size(floodN, 40, 2000)
	huge := append(append([]byte(`{"userName":"`), bytes.Repeat([]byte("a"), 3<<20)...), `"}`...)
	deepArr := append(bytes.Repeat([]byte("["), 100_000), bytes.Repeat([]byte("]"), 100_000)...)
	deepObj := append(bytes.Repeat([]byte(`{"a":`), 100_000), bytes.Repeat([]byte("}"), 100_000)...)
	badUTF8 := []string{
		"{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"\xff\xfe@acme.test\"}",
		"{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"bad \xc3\x28\"}",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"nul\u0000@acme.test","displayName":"x\u0000"}`,
		"{\"name\":\"\xed\xa0\x80\",\"slug\":\"x\xffy\",\"email\":\"a\xff@acme.test\",\"user\":\"\xff\",\"workspace\":\"\xff\",\"action\":\"\xff\",\"resource\":{\"type\":\"\xff\",\"id\":\"\xff\"}}",
	}
	wrongTypes := []string{`null`, `[]`, `"x"`, `1e999`, `{}`, `{"userName":{"a":1}}`, `{"userName":[1]}`, `{"schemas":"x","displayName":[1]}`,
		`{"Operations":"x"}`, `{"Operations":[{"op":"add","path":"members","value":"x"}]}`, `{"checks":[1,2]}`,
		`{"user":{},"workspace":[],"action":null}`, `{"slug":"` + strings.Repeat("x", 10_000) + `"}`}
	for _, tg := range targets {
		isForm := tg.ctype == form
		for i := 0; i < n; i++ {
			b := make([]byte, rng.IntN(4096))
			for k := range b {
				b[k] = byte(rng.UintN(256))
			}
			if isForm && i%2 == 1 {
				b = formOf(tg, string(b)) // random bytes inside valid form encoding
			}
			expect4xx("random bytes", tg, send(tg, b))
		}
		if isForm {
			expect4xx("huge body", tg, send(tg, formOf(tg, string(huge))))
			expect4xx("invalid UTF-8", tg, send(tg, formOf(tg, "\xff\xfe\xed\xa0\x80")))
			expect4xx("SQL", tg, send(tg, formOf(tg, `x' OR 1=1 --@evil' OR '1'='1.test`)))
			expect4xx("deep", tg, send(tg, formOf(tg, string(deepObj))))
			continue
		}
		if r := send(tg, huge); r.status != 413 {
			t.Errorf("%s %s with 3 MiB: %d; want 413", tg.method, tg.path, r.status)
		} else {
			expect4xx("huge body", tg, r)
		}
		expect4xx("nested arrays", tg, send(tg, deepArr))
		expect4xx("nested objects", tg, send(tg, deepObj))
		for _, s := range badUTF8 {
			expect4xx("invalid text", tg, send(tg, []byte(s)))
		}
		for _, s := range wrongTypes {
			switch {
			case strings.HasSuffix(tg.path, "/.search") && strings.HasPrefix(s, "{") || s == "null":
				// A search ignores attributes it does not know (RFC 7644 §3.4.3 lists
				// its own), so {} and {"x":…} are searches for everything.
				continue
			case tg.method == "PATCH" && strings.HasPrefix(tg.path, "/api/") && s == "{}":
				continue // an empty PATCH changes nothing, rightly 200
			}
			expect4xx("wrong types "+s, tg, send(tg, []byte(s)))
		}
		if strings.HasSuffix(tg.path, "/.search") {
			for _, s := range []string{`{"filter":5}`, `{"filter":"x' OR 1=1 --"}`, `{"filter":"userName eq \"x\" OR 1=1"}`, `{"count":"x"}`, `{"startIndex":{}}`} {
				expect4xx("bad search "+s, tg, send(tg, []byte(s)))
			}
		}
	}

	// SQL metacharacters in filters: a well-formed filter is a question with no
	// answer (200, nothing found); a broken one is invalidFilter (400).
	scimList := target{"GET", "/scim/v2/Users", scimTok, ""}
	for _, f := range []string{
		`userName eq "x' OR 1=1 --"`, `userName eq "x\"; DROP TABLE users; --"`, `userName sw "%"`, `userName co "_"`,
		`displayName eq "' UNION SELECT id FROM users --"`, `emails.value eq "a@b.c' OR 'a'='a"`,
	} {
		for _, p := range []string{"/scim/v2/Users", "/scim/v2/Groups"} {
			q := strings.Replace(f, "userName", map[string]string{"/scim/v2/Users": "userName", "/scim/v2/Groups": "displayName"}[p], 1)
			r := do(c, "GET", srv.base+p+"?filter="+url.QueryEscape(q), scimTok, "", nil)
			var lr struct {
				Total int `json:"totalResults"`
			}
			json.Unmarshal(r.body, &lr)
			if r.status == 200 && lr.Total != 0 {
				t.Errorf("filter %s on %s matched %d: SQL in a filter must match nothing", q, p, lr.Total)
			} else if r.status != 200 {
				expect4xx("filter "+q, target{"GET", p, "", ""}, r)
			}
		}
	}
	for _, f := range []string{`userName eq "x" OR 1=1 --`, `userName eq x' OR '1'='1`, `userName eq "x"; DROP TABLE users; --"`,
		"userName eq \"\xff\"", "userName eq \"\x00\"", `userName eq "` + strings.Repeat("a", 100_000) + `"`, strings.Repeat("(", 10_000) + `userName eq "x"` + strings.Repeat(")", 10_000),
		`userName pr and ` + strings.Repeat(`not (userName pr) and `, 2_000) + `userName pr`} {
		expect4xx("bad filter", scimList, do(c, "GET", srv.base+"/scim/v2/Users?filter="+url.QueryEscape(f), scimTok, "", nil))
	}
	for _, q := range []string{`x' OR 1=1 --`, `%`, `_`, `'; DROP TABLE users; --`} {
		r := do(c, "GET", srv.base+"/api/v1/users?q="+url.QueryEscape(q), apiTok, "", nil)
		if r.status != 200 || strings.Contains(string(r.body), "target@acme.test") {
			t.Errorf("API search %q: %d %.300s; want 200 and nothing found", q, r.status, r.body)
		}
	}
	// SQL and junk in paths.
	for _, p := range []string{
		"/scim/v2/Users/" + url.PathEscape(`x' OR '1'='1`), "/scim/v2/Groups/" + url.PathEscape(`1; DROP TABLE idp_groups; --`),
		"/scim/v2/Users/%FF%FE", "/scim/v2/" + url.PathEscape(`Users' --`),
		"/api/v1/users/" + url.PathEscape(`x' OR 1=1 --`), "/api/v1/groups/" + url.PathEscape(`'; DROP TABLE user_groups; --`),
		"/api/v1/workspaces/%FF", "/sso/saml/" + url.PathEscape(`' OR 1=1 --`) + "/metadata", "/sso/saml/%FF/login",
		"/sso/oidc/" + url.PathEscape(`x'--`) + "/callback?state=" + url.QueryEscape(`' OR 1=1 --`) + "&code=%FF",
	} {
		tok := scimTok
		if strings.HasPrefix(p, "/api/") {
			tok = apiTok
		}
		expect4xx("SQL in path", target{"GET", p, "", ""}, do(c, "GET", srv.base+p, tok, "", nil))
	}
	// Bad tokens.
	for _, tok := range []string{"x' OR 1=1 --", "\xff", strings.Repeat("a", 10_000), ""} {
		expect4xx("bad token", target{"GET", "/scim/v2/Users", "", ""}, do(c, "GET", srv.base+"/scim/v2/Users", tok, "", nil))
		expect4xx("bad token", target{"GET", "/api/v1/users", "", ""}, do(c, "GET", srv.base+"/api/v1/users", tok, "", nil))
	}

	// Nothing changed.
	after := checkWhole(t, dsn)
	refused := after.refusals - before.refusals
	after.refusals = before.refusals // the flood's own record
	if after != before {
		t.Fatalf("the flood changed the database: before %+v, after %+v; audit actions before %v, after %v", before, after, actionsBefore, auditActions(t, dsn))
	}

	// Valid creates whose names contain SQL: they round-trip verbatim.
	sqlUser := `o'brien"; DROP TABLE users; --@acme.test`
	r = do(c, "POST", srv.base+"/scim/v2/Users", scimTok, scimType, newUserBody(sqlUser))
	if r.status != 201 {
		t.Fatalf("create %q: %d %s", sqlUser, r.status, r.body)
	}
	var got struct {
		UserName    string `json:"userName"`
		DisplayName string `json:"displayName"`
		Name        string `json:"name"`
	}
	json.Unmarshal(do(c, "GET", srv.base+"/scim/v2/Users/"+idOf(r.body), scimTok, "", nil).body, &got)
	if got.UserName != sqlUser {
		t.Errorf("userName round-trip: %q; want %q", got.UserName, sqlUser)
	}
	if findUser(t, c, srv.base, scimTok, strings.ReplaceAll(sqlUser, `"`, `\"`)) != 1 {
		t.Errorf("filter on %q did not find it", sqlUser)
	}
	sqlGroup := `Robert'); DROP TABLE idp_groups;--`
	r = do(c, "POST", srv.base+"/scim/v2/Groups", scimTok, scimType, jsonBody(map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": sqlGroup}))
	if r.status != 201 {
		t.Fatalf("create group %q: %d %s", sqlGroup, r.status, r.body)
	}
	json.Unmarshal(do(c, "GET", srv.base+"/scim/v2/Groups/"+idOf(r.body), scimTok, "", nil).body, &got)
	if got.DisplayName != sqlGroup {
		t.Errorf("group displayName round-trip: %q; want %q", got.DisplayName, sqlGroup)
	}
	apiGroup := `x' OR 1=1; DROP TABLE user_groups; --`
	r = do(c, "POST", srv.base+"/api/v1/groups", apiTok, api, jsonBody(map[string]any{"name": apiGroup}))
	if r.status != 201 {
		t.Fatalf("create API group %q: %d %s", apiGroup, r.status, r.body)
	}
	json.Unmarshal(do(c, "GET", srv.base+"/api/v1/groups/"+url.PathEscape(apiGroup), apiTok, "", nil).body, &got)
	if got.Name != apiGroup {
		t.Errorf("API group round-trip by name: %q; want %q", got.Name, apiGroup)
	}
	final := checkWhole(t, dsn)
	want := before
	want.users++
	want.idpGroups++
	want.groups++
	want.audit += 3
	want.refusals += refused
	if final != want {
		t.Errorf("after three valid creates: %+v; want %+v (tables intact)", final, want)
	}

	for _, p := range []string{"/healthz", "/readyz"} {
		if r := do(c, "GET", srv.base+p, "", "", nil); r.status != 200 {
			t.Errorf("%s after the flood: %d", p, r.status)
		}
	}
	if r := do(c, "POST", srv.base+"/scim/v2/Users", scimTok, scimType, newUserBody("after@acme.test")); r.status != 201 {
		t.Errorf("a valid create after the flood: %d %s", r.status, r.body)
	}
	srv.stop(t)
	t.Logf("%d bad requests, %d answered 4xx (statuses %v); %d refused sign-ins audited, nothing else changed", sent, fours, statuses, refused)
}

// idpMetadata is the metadata of a real crewjam/saml IdP.
func idpMetadata(t *testing.T) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	mdURL, _ := url.Parse("https://idp.example/metadata")
	ssoURL, _ := url.Parse("https://idp.example/sso")
	idp := &saml.IdentityProvider{Key: key, Certificate: cert, MetadataURL: *mdURL, SSOURL: *ssoURL}
	raw, err := xml.Marshal(idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// auditActions counts audit events by action and outcome detail, to say what changed.
func auditActions(t *testing.T, dsn string) map[string]int {
	t.Helper()
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rows []struct {
		Action  string `db:"action"`
		Details string `db:"details"`
	}
	if err := s.DB().SelectContext(context.Background(), &rows, `SELECT action, details FROM audit_events`); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Action+" "+r.Details[:min(len(r.Details), 80)]]++
	}
	return out
}
