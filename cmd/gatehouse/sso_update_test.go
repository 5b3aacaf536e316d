package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

var runCLI = func(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), &out, &errOut, args)
	return out.String(), err
}

// TestSSOUpdateDelete drives sso update and sso delete on every backend and
// checks the database after each, including that refused updates change nothing.
func TestSSOUpdateDelete(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			key := make([]byte, 32)
			rand.Read(key)
			sk := "--secret-key=" + hex.EncodeToString(key)
			s, err := openStore(ctx, b.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			org, _, err := s.CreateOrg(ctx, core.Actor{Kind: core.ActorSystem}, "acme", "Acme", "admin@acme.test")
			if err != nil {
				t.Fatal(err)
			}
			write := func(name string, b []byte) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			md1, md2, md3 := testIdPMetadata(t), testIdPMetadata(t), testIdPMetadata(t)
			out, err := runCLI("sso", "add-saml", "--db", b.dsn, sk, "--org", "acme", "--name", "Okta", "--metadata-file", write("md1.xml", md1),
				"--domain", "acme.test", "--external-url", "https://gh.example.com")
			if err != nil {
				t.Fatalf("add-saml: %v", err)
			}
			id := idRe.FindStringSubmatch(out)[1]
			get := func() store.SSOConnection {
				t.Helper()
				c, err := s.GetSSOConnection(ctx, id)
				if err != nil {
					t.Fatalf("get connection: %v", err)
				}
				return c
			}
			orig := get()

			// Settings, by name.
			out, err = runCLI("sso", "update", "--db", b.dsn, "--org", "acme", "--connection", "okta",
				"--domain", "a.test", "--domain", "B.test", "--jit=false", "--allow-idp-initiated=true", "--groups-attribute", "memberOf")
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			t.Logf("sso update printed:\n%s", out)
			c := get()
			if strings.Join(c.Domains, ",") != "a.test,b.test" || c.JIT || !c.SAML.AllowIdPInitiated || !slices.Equal(c.SAML.Mapping.Groups, []string{"memberOf"}) || c.Version != orig.Version+1 {
				t.Errorf("after update: domains %v jit %v idp %v attr %q version %d", c.Domains, c.JIT, c.SAML.AllowIdPInitiated, c.SAML.Mapping.Groups, c.Version)
			}
			if c.SAML.IdPMetadataXML != orig.SAML.IdPMetadataXML || c.SAML.SPKeySealed != orig.SAML.SPKeySealed {
				t.Error("a settings update changed the metadata or the SP key")
			}
			for _, want := range []string{"[acme.test]", "[a.test, b.test]", "memberOf", "version 2"} {
				if !strings.Contains(out, want) {
					t.Errorf("update output lacks %q:\n%s", want, out)
				}
			}

			// Rotated IdP certificate, by id, from a file.
			oldFP := sso.IdPCertificateFingerprints(string(md1))
			newFP := sso.IdPCertificateFingerprints(string(md2))
			out, err = runCLI("sso", "update", "--db", b.dsn, "--org", "acme", "--connection", id, "--metadata-file", write("md2.xml", md2))
			if err != nil {
				t.Fatalf("update metadata: %v", err)
			}
			t.Logf("sso update --metadata-file printed:\n%s", out)
			if c = get(); c.SAML.IdPMetadataXML != string(md2) || c.SAML.SPKeySealed != orig.SAML.SPKeySealed {
				t.Error("metadata not replaced, or the SP key changed")
			}
			if !strings.Contains(out, oldFP[0]) || !strings.Contains(out, newFP[0]) {
				t.Errorf("output does not show the certificate change %s -> %s:\n%s", oldFP[0], newFP[0], out)
			}

			// From a URL, then refreshed from the stored URL.
			var serveMD atomic.Value
			serveMD.Store(md3)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(serveMD.Load().([]byte)) }))
			defer srv.Close()
			if _, err := runCLI("sso", "update", "--db", b.dsn, "--org", "acme", "--connection", id, "--metadata-url", srv.URL); err != nil {
				t.Fatalf("update from URL: %v", err)
			}
			if c = get(); c.SAML.IdPMetadataXML != string(md3) || c.SAML.IdPMetadataURL != srv.URL {
				t.Errorf("metadata from URL: url %q", c.SAML.IdPMetadataURL)
			}
			serveMD.Store(md1)
			if _, err := runCLI("sso", "update", "--db", b.dsn, "--org", "acme", "--connection", id, "--refresh-metadata"); err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if c = get(); c.SAML.IdPMetadataXML != string(md1) {
				t.Error("--refresh-metadata did not fetch the metadata again")
			}

			// An OIDC connection (made in the store: update needs no discovery).
			sealed := "sealed"
			oc, err := s.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem}, store.SSOConnection{OrgID: org.ID, Name: "Entra OIDC", Kind: store.KindOIDC, JIT: true,
				OIDC: &store.OIDCConfig{Issuer: "https://login.example/v2.0", ClientID: "c", ClientSecretSealed: sealed}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := runCLI("sso", "update", "--db", b.dsn, "--org", "acme", "--connection", "Entra OIDC", "--groups-claim", "roles"); err != nil {
				t.Fatalf("update oidc: %v", err)
			}
			if got, _ := s.GetSSOConnection(ctx, oc.ID); !slices.Equal(got.OIDC.Mapping.Groups, []string{"roles"}) || got.OIDC.ClientSecretSealed != sealed {
				t.Errorf("oidc after update: %+v", got.OIDC)
			}

			// Refused updates change nothing.
			junk := write("junk.xml", []byte("<html>not metadata</html>"))
			before := get()
			for name, args := range map[string][]string{
				"nothing to change":  {"--connection", id},
				"no connection":      {"--jit=false"},
				"unknown connection": {"--connection", "nope", "--jit=false"},
				"junk metadata":      {"--connection", id, "--jit=true", "--metadata-file", junk},
				"two metadata":       {"--connection", id, "--metadata-file", junk, "--metadata-url", srv.URL},
				"oidc flag on saml":  {"--connection", id, "--groups-claim", "groups"},
				"saml flag on oidc":  {"--connection", oc.ID, "--allow-idp-initiated=true"},
				"bad domain":         {"--connection", id, "--domain", "a b"},
				"taken domain":       {"--connection", oc.ID, "--domain", "a.test"},
				"taken name":         {"--connection", oc.ID, "--name", "Okta"},
				"empty name":         {"--connection", id, "--name", " "},
				"positional":         {"--connection", id, "--jit=false", "extra"},
			} {
				_, err := runCLI(append([]string{"sso", "update", "--db", b.dsn, "--org", "acme"}, args...)...)
				if err == nil {
					t.Errorf("%s: accepted", name)
				} else if len(oneLine(err)) > 400 {
					t.Errorf("%s: error is long: %q", name, err)
				}
			}
			if after := get(); after.Version != before.Version {
				t.Errorf("refused updates changed the connection (version %d -> %d)", before.Version, after.Version)
			}
			// GATEHOUSE_* variables never turn into changes.
			t.Setenv("GATEHOUSE_DOMAIN", "env.test")
			t.Setenv("GATEHOUSE_JIT", "true")
			if _, err := runCLI("sso", "update", "--db", b.dsn, "--org", "acme", "--connection", id, "--groups-attribute="); err != nil {
				t.Fatalf("update: %v", err)
			}
			if c = get(); strings.Join(c.Domains, ",") != "a.test,b.test" || c.JIT || len(c.SAML.Mapping.Groups) != 0 {
				t.Errorf("environment leaked into update: domains %v jit %v attr %q", c.Domains, c.JIT, c.SAML.Mapping.Groups)
			}

			// Delete: sessions, IdP groups with their members, and mappings go; users stay.
			u, err := s.CreateUser(ctx, core.Actor{Kind: core.ActorSystem}, core.User{OrgID: org.ID, UserName: "ann@a.test", Email: "ann@a.test", Active: true, Source: core.SourceInvited})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetConnectionGroups(ctx, core.Actor{Kind: core.ActorSSO}, org.ID, id, u.ID, []string{"eng", "ops"}); err != nil {
				t.Fatal(err)
			}
			ug, err := s.CreateGroup(ctx, core.Actor{Kind: core.ActorSystem}, core.UserGroup{OrgID: org.ID, Name: "Engineers"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateMapping(ctx, core.Actor{Kind: core.ActorSystem}, core.Mapping{OrgID: org.ID, ConnectionID: id, IdPGroup: "eng", UserGroupID: ug.ID}); err != nil {
				t.Fatal(err)
			}
			now := s.Now()
			if err := s.CreateSession(ctx, core.Actor{Kind: core.ActorSSO}, store.Session{IDHash: "h-" + b.name, OrgID: org.ID, UserID: u.ID, ConnectionID: id,
				CreatedAt: now, ExpiresAt: now.Add(3600e9), Idle: 600e9}, nil); err != nil {
				t.Fatal(err)
			}
			if ms, _ := s.UserMemberships(ctx, org.ID, u.ID); len(ms) != 1 {
				t.Fatalf("user has %d memberships before delete, want 1", len(ms))
			}
			if _, err := runCLI("sso", "delete", "--db", b.dsn, "--org", "acme", "--connection", "nope"); err == nil {
				t.Error("delete of an unknown connection accepted")
			}
			out, err = runCLI("sso", "delete", "--db", b.dsn, "--org", "acme", "--connection", "Okta")
			if err != nil {
				t.Fatalf("delete: %v", err)
			}
			t.Logf("sso delete printed:\n%s", out)
			for _, re := range []string{`email domains\s+2 \(a.test, b.test\)`, `sessions \(signed out\)\s+1\n`, `IdP groups\s+2\n`, `IdP group memberships\s+2\n`, `group mappings\s+1\n`, `users it created \(now local users\)\s+0\n`} {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("delete output does not match %s:\n%s", re, out)
				}
			}
			if _, err := s.GetSSOConnection(ctx, id); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("connection after delete: %v", err)
			}
			if _, err := s.LookupSession(ctx, "h-"+b.name, s.Now()); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("session after delete: %v", err)
			}
			if _, err := s.GetUser(ctx, org.ID, u.ID); err != nil {
				t.Errorf("user after delete: %v", err)
			}
			if ms, _ := s.UserMemberships(ctx, org.ID, u.ID); len(ms) != 0 {
				t.Errorf("user still has %d memberships through the deleted connection", len(ms))
			}
			if _, err := s.SSOConnectionForDomain(ctx, "a.test"); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("domain still routed: %v", err)
			}
			es, err := s.ListAudit(ctx, org.ID, store.AuditQuery{Action: "sso_connection.delete"})
			if err != nil || len(es) != 1 || es[0].Details["sessions"] == nil {
				t.Errorf("delete audit: %v %+v", err, es)
			}
			list, _ := runCLI("sso", "list", "--db", b.dsn, "--org", "acme")
			if strings.Contains(list, id) || !strings.Contains(list, oc.ID) {
				t.Errorf("list after delete:\n%s", list)
			}
		})
	}
}
