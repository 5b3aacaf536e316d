package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

func okMount() server.Mounter {
	return mountFunc(func(mux *http.ServeMux) {
		for _, p := range []string{"GET /scim/v2/Users", "GET /api/v1/workspaces", "GET /sso/login", "GET /ui/"} {
			mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
		}
	})
}

// TestRateLimitsAnswerInEachProtocolsFormat: once over the limit, SCIM gets SCIM
// error JSON, the API problem+json and the login pages an HTML page, all 429 with
// Retry-After; other paths are not limited.
func TestRateLimitsAnswerInEachProtocolsFormat(t *testing.T) {
	db := openSQLite(t)
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	limits := &server.Limits{
		Limiter:      ratelimit.New(db, slog.New(slog.DiscardHandler), nil),
		SCIMPerToken: ratelimit.PerMinute(2), APIPerToken: ratelimit.PerMinute(2), PerIP: ratelimit.PerMinute(100), LoginPerIP: ratelimit.PerMinute(2),
	}
	base, _ := start(t, server.Config{Limits: limits}, db, io.Discard, okMount())

	for _, tc := range []struct {
		path, token, wantType string
		checkBody             func(body string) bool
	}{
		{"/scim/v2/Users", "ghs_a", "application/scim+json", func(b string) bool {
			var e struct {
				Schemas []string
				Status  string
				Detail  string
			}
			return json.Unmarshal([]byte(b), &e) == nil && e.Status == "429" && len(e.Schemas) == 1 &&
				e.Schemas[0] == "urn:ietf:params:scim:api:messages:2.0:Error" && e.Detail != ""
		}},
		{"/api/v1/workspaces", "gha_a", "application/problem+json", func(b string) bool {
			var p struct {
				Status int
				Title  string
			}
			return json.Unmarshal([]byte(b), &p) == nil && p.Status == 429 && p.Title != ""
		}},
		{"/sso/login", "", "text/html; charset=utf-8", func(b string) bool { return strings.Contains(b, "Too many sign-in attempts") }},
	} {
		t.Run(tc.path, func(t *testing.T) {
			hdr := []string{}
			if tc.token != "" {
				hdr = []string{"Authorization", "Bearer " + tc.token}
			}
			for i := 0; i < 2; i++ {
				if code, _, _ := get(t, base+tc.path, hdr...); code != 200 {
					t.Fatalf("request %d: %d", i+1, code)
				}
			}
			code, body, h := get(t, base+tc.path, hdr...)
			if code != http.StatusTooManyRequests || h.Get("Content-Type") != tc.wantType || h.Get("Retry-After") == "" || !tc.checkBody(body) {
				t.Fatalf("third request: %d %q Retry-After=%q body %s", code, h.Get("Content-Type"), h.Get("Retry-After"), body)
			}
		})
	}
	for i := 0; i < 5; i++ {
		if code, _, _ := get(t, base+"/ui/"); code != 200 {
			t.Fatalf("an unlimited path was limited: %d", code)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	db := openSQLite(t)
	m := metrics.New()
	m.RegisterDB("gatehouse", db.DB().DB)
	base, _ := start(t, server.Config{Metrics: m}, db, io.Discard, okMount())
	get(t, base+"/scim/v2/Users")
	code, body, _ := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`gatehouse_http_requests_total{method="GET",route="GET /scim/v2/Users",status="200"} 1`,
		`go_sql_open_connections{db_name="gatehouse"}`,
		`gatehouse_http_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestServesTLS serves HTTPS directly from a certificate and key file.
func TestServesTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	db := openSQLite(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan net.Addr, 1)
	srv := server.New(server.Config{Listener: ln, OnListen: func(a net.Addr) { ready <- a }, TLSCertFile: certFile, TLSKeyFile: keyFile},
		db, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	addr := <-ready
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr.String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("healthz over TLS: %d tls=%v", resp.StatusCode, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + addr.String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was served on the TLS port")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gatehouse.test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
