package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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

	startServe(t, "--db", dsn, "--sso-refresh-interval", "1h")
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
