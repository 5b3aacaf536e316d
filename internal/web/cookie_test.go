package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// TestCSRFCookieSecureBehindProxy: the admin pages' CSRF cookie is Secure whenever
// the external URL is https, also when TLS ends at a proxy and the request reaches
// Gatehouse over plain http (issue 9, finding 7: it was Secure only when the
// request itself came over TLS). A plain-http external URL keeps it usable there.
func TestCSRFCookieSecureBehindProxy(t *testing.T) {
	e := apitest.NewEnv(t, storetest.Backend{Name: "sqlite", New: storetest.NewSQLite})
	for _, tc := range []struct {
		external   string
		wantSecure bool
	}{
		{"https://gatehouse.example.com", true},
		{"HTTPS://gatehouse.example.com/", true},
		{"http://127.0.0.1:8080", false},
	} {
		t.Run(tc.external, func(t *testing.T) {
			mux := http.NewServeMux()
			(&web.Handler{Store: e.St, Decisions: e.H.Decisions, Logger: apitest.Logger(t), Sessions: e.Sess, ExternalURL: tc.external}).Mount(mux)
			srv := httptest.NewServer(mux) // plain http: the proxy's side of TLS
			t.Cleanup(srv.Close)
			req, _ := http.NewRequest("GET", srv.URL+"/admin/", nil)
			e.Session(e.Admin)(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET /admin/: %d", res.StatusCode)
			}
			var csrf *http.Cookie
			for _, c := range res.Cookies() {
				if c.Name == "gatehouse_csrf" {
					csrf = c
				}
			}
			if csrf == nil {
				t.Fatal("no CSRF cookie set")
			}
			if csrf.Secure != tc.wantSecure || !csrf.HttpOnly || csrf.SameSite != http.SameSiteStrictMode {
				t.Errorf("CSRF cookie %+v: want Secure=%v, HttpOnly, SameSite=Strict", csrf, tc.wantSecure)
			}
		})
	}
}
