package ssotest_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso"
	"github.com/gatehouse-dev/gatehouse/sso/ssotest"
)

// TestLoginWithoutIdP logs in through the real flow with the test connector, and
// checks the cookie flags Gatehouse sets when it is reached over HTTPS.
func TestLoginWithoutIdP(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewSQLite(t)
	org, _, err := st.CreateOrg(ctx, core.Actor{Kind: core.ActorSystem}, "acme", "Acme", "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := st.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem}, ssotest.Connection(org.ID, "test", "acme.test"))
	if err != nil {
		t.Fatal(err)
	}
	c := ssotest.New(sso.Identity{Subject: "s1", Email: "ivy@acme.test", EmailVerified: true, Groups: []string{"eng"}})
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, _ := sso.NewBox(key)
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	h := &sso.Handler{Store: st, ExternalURL: base, Box: box, Connectors: ssotest.Connectors(c)}
	mux := http.NewServeMux()
	h.Mount(mux)
	// The JSON API, where the login lands (GET /api/v1/me), with h's sessions.
	(&api.Handler{Store: st, Sessions: h}).Mount(mux)
	srv.Config.Handler = mux

	client := srv.Client()
	client.Jar, _ = cookiejar.New(nil)
	var setCookies []string
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		setCookies = append(setCookies, req.Response.Header.Values("Set-Cookie")...)
		return nil
	}
	resp, err := client.Get(srv.URL + "/sso/oidc/" + conn.ID + "/login?return_to=/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/api/v1/me" {
		t.Fatalf("login ended at %s with %d", resp.Request.URL, resp.StatusCode)
	}
	var session string
	for _, sc := range setCookies {
		if strings.HasPrefix(sc, sso.DefaultCookieName+"=") && !strings.Contains(sc, "Max-Age=0") {
			session = sc
		}
	}
	for _, flag := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(session, flag) {
			t.Errorf("session cookie %q lacks %s", session, flag)
		}
	}
	u, err := st.GetUserByEmail(ctx, org.ID, "ivy@acme.test")
	if err != nil || u.Source != core.SourceSSO {
		t.Fatalf("JIT user: %+v %v", u, err)
	}
}
