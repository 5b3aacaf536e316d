package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/sso"
)

// TestServeRefreshesSSOMetadata: a running serve fetches each SAML connection's
// metadata again by itself (its refresher is wired in), so a certificate the
// IdP published after `sso add-saml` is picked up without an admin.
func TestServeRefreshesSSOMetadata(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "gh.db")
	mustRun(t, "org", "create", "--db", dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.test")
	md1, md2 := testIdPMetadata(t), testIdPMetadata(t)
	var served atomic.Value
	served.Store(md1)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(served.Load().([]byte)) }))
	defer idp.Close()
	out := mustRun(t, "sso", "add-saml", "--db", dsn, "--secret-key", testSecretKey, "--org", "acme", "--name", "okta",
		"--metadata-url", idp.URL, "--external-url", "https://gh.example.com")
	id := idRe.FindStringSubmatch(out)[1]
	served.Store(md2) // the IdP publishes another certificate

	startServe(t, "--db", dsn, "--sso-refresh-interval", "1h", "--sso-allow-loopback") // the test IdP is on loopback
	s, err := openStore(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := sso.IdPCertificateFingerprints(string(md2))[0]
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := s.GetSSOConnection(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if fps := sso.IdPCertificateFingerprints(c.SAML.IdPMetadataXML); len(fps) == 1 && fps[0] == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not refresh the connection's metadata")
		}
		time.Sleep(100 * time.Millisecond)
	}
	r, err := s.GetSSORefresh(context.Background(), mustOrg(t, s).ID, id)
	if err != nil || r.LastSuccessAt.IsZero() || r.NextAt.Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("refresh state %+v %v: want a success and the next refresh in about an hour", r, err)
	}
}

// TestServeSSONetworkPolicy: serve's SSO network policy reaches the API and
// the refresher. Without --sso-allow-loopback, the API refuses a loopback
// metadata URL (422 naming the field and the flag) and the scheduled refresh
// of a loopback IdP the CLI added fails at WARN with the reason, keeping the
// last good metadata; the CLI, which may add it, says serve needs the flag.
func TestServeSSONetworkPolicy(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "gh.db")
	mustRun(t, "org", "create", "--db", dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "admin@acme.test")
	tok := lastLine(mustRun(t, "token", "create", "--db", dsn, "--org", "acme", "--kind", "api", "--name", "app"))
	md1, md2 := testIdPMetadata(t), testIdPMetadata(t)
	var served atomic.Value
	served.Store(md1)
	var hits atomic.Int64
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); w.Write(served.Load().([]byte)) }))
	defer idp.Close()
	out, errs, err := gatehouse(t, "sso", "add-saml", "--db", dsn, "--secret-key", testSecretKey, "--org", "acme", "--name", "okta",
		"--metadata-url", idp.URL, "--external-url", "https://gh.example.com")
	if err != nil {
		t.Fatalf("the CLI may add a loopback IdP: %v\n%s", err, errs)
	}
	if !strings.Contains(errs, "note: serve refuses this identity provider") || !strings.Contains(errs, "--sso-allow-loopback") {
		t.Errorf("the CLI does not say serve needs --sso-allow-loopback:\n%s", errs)
	}
	id := idRe.FindStringSubmatch(out)[1]
	served.Store(md2)
	fetched := hits.Load()

	srv := startServe(t, "--db", dsn, "--sso-refresh-interval", "1h")
	raw, _ := json.Marshal(map[string]any{"kind": "saml", "name": "Loop", "idp_metadata_url": idp.URL})
	req, _ := http.NewRequest("POST", srv.base+"/api/v1/sso/connections", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 422 || res.Header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(string(body), "idp_metadata_url: not allowed: 127.0.0.1, a loopback address") || !strings.Contains(string(body), "--sso-allow-loopback") {
		t.Errorf("API: %d %s, want 422 naming the field and the flag", res.StatusCode, body)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		var warned map[string]any
		for _, l := range logLines(t, srv.logs) {
			if l["msg"] == "sso: metadata refresh failed" {
				warned = l
			}
		}
		if warned != nil {
			if warned["level"] != "WARN" || !strings.Contains(fmt.Sprint(warned["error"]), "refused by the SSO network policy: 127.0.0.1, a loopback address") {
				t.Errorf("refresh failure logged as %v", warned)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refresh failure logged:\n%s", srv.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := hits.Load(); n != fetched {
		t.Errorf("serve reached the loopback IdP %d times", n-fetched)
	}
	s, err := openStore(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.GetSSOConnection(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if fps := sso.IdPCertificateFingerprints(c.SAML.IdPMetadataXML); len(fps) != 1 || fps[0] != sso.IdPCertificateFingerprints(string(md1))[0] {
		t.Error("the refused refresh changed the connection's metadata")
	}
}
