package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMiddlewareLabelsByRoutePattern(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
		}
	})
	mux.Handle("GET /metrics", m.Handler())
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()

	for _, p := range []string{"/users/1", "/users/2", "/users/missing", "/nowhere"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	m.SCIM("okta", "User", "create", "ok")
	m.Login("entra", "saml", "replayed")
	m.Decision("allow", "allowed")
	m.RegisterDecisionIndex(func() IndexStats {
		return IndexStats{Orgs: 2, Bytes: 4096, BoundBytes: 1 << 20, Loads: 3, Reloads: 1, Applies: 7, Evictions: 1}
	})

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`gatehouse_http_requests_total{method="GET",route="GET /users/{id}",status="200"} 2`,
		`gatehouse_http_requests_total{method="GET",route="GET /users/{id}",status="404"} 1`,
		`gatehouse_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`gatehouse_http_request_duration_seconds_bucket{method="GET",route="GET /users/{id}",le="+Inf"} 3`,
		`gatehouse_scim_operations_total{directory="okta",operation="create",outcome="ok",resource="User"} 1`,
		`gatehouse_logins_total{connection="entra",outcome="replayed",protocol="saml"} 1`,
		`gatehouse_decisions_total{decision="allow",reason="allowed"} 1`,
		"gatehouse_decision_index_bytes 4096",
		"gatehouse_decision_index_bound_bytes 1.048576e+06",
		"gatehouse_decision_index_orgs 2",
		"gatehouse_decision_index_loads_total 3",
		"gatehouse_decision_index_applies_total 7",
		"gatehouse_decision_index_evictions_total 1",
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "/users/1") {
		t.Error("a raw path leaked into a label")
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.SCIM("d", "User", "create", "ok")
	m.Login("c", "oidc", "ok")
	m.Decision("deny", "no_grant")
	h := m.Middleware(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 404 {
		t.Fatalf("status %d", rec.Code)
	}
}
