package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// testIdPMetadata is the metadata of a real crewjam IdP.
func testIdPMetadata(t *testing.T) []byte {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	u, _ := url.Parse("https://idp.example/metadata")
	sso, _ := url.Parse("https://idp.example/sso")
	idp := &saml.IdentityProvider{Key: key, Certificate: cert, MetadataURL: *u, SSOURL: *sso}
	b, err := xml.Marshal(idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cliEnv is a database with one org, and a runner for gatehouse commands.
func cliEnv(t *testing.T) (dsn string, dir string, runCLI func(args ...string) (string, error)) {
	t.Helper()
	dir = t.TempDir()
	dsn = "sqlite:" + filepath.Join(dir, "gh.db")
	s, err := openStore(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateOrg(context.Background(), core.Actor{Kind: core.ActorSystem}, "acme", "Acme", "admin@acme.test"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return dsn, dir, func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), &out, &errOut, args)
		return out.String(), err
	}
}

var idRe = regexp.MustCompile(`connection id: (\S+)`)

func TestSSOAddSAML(t *testing.T) {
	dsn, dir, cli := cliEnv(t)
	md := filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(md, testIdPMetadata(t), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cli("sso", "add-saml", "--db", dsn, "--org", "acme", "--name", "Okta", "--metadata-file", md,
		"--domain", "acme.test", "--allow-idp-initiated", "--external-url", "https://gh.example.com/")
	if err != nil {
		t.Fatalf("add-saml: %v", err)
	}
	t.Logf("gatehouse sso add-saml printed:\n%s", out)
	m := idRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no connection id in:\n%s", out)
	}
	id := m[1]
	for _, want := range []string{
		"https://gh.example.com/sso/saml/" + id + "/metadata",
		"https://gh.example.com/sso/saml/" + id + "/acs",
		"https://gh.example.com/sso/saml/" + id + "/login",
		"acme.test",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "gh.db.secret-key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret key file: %v %v", fi, err)
	}
	list, err := cli("sso", "list", "--db", dsn, "--org", "acme")
	if err != nil || !strings.Contains(list, id) || !strings.Contains(list, "saml") || !strings.Contains(list, "Okta") {
		t.Errorf("list: %v\n%s", err, list)
	}
	// The SP private key is stored sealed.
	raw, _ := os.ReadFile(filepath.Join(dir, "gh.db"))
	if bytes.Contains(raw, []byte("PRIVATE KEY")) {
		t.Error("the SP private key is in the database in the clear")
	}

	// From a metadata URL.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(testIdPMetadata(t)) }))
	defer srv.Close()
	if _, err := cli("sso", "add-saml", "--db", dsn, "--org", "acme", "--name", "Entra", "--metadata-url", srv.URL,
		"--groups-attribute", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "--no-jit", "--external-url", "https://gh.example.com"); err != nil {
		t.Errorf("add-saml from URL: %v", err)
	}
}

func TestSSOAddRefusesBadInput(t *testing.T) {
	dsn, dir, cli := cliEnv(t)
	md := filepath.Join(dir, "idp.xml")
	os.WriteFile(md, testIdPMetadata(t), 0o600)
	junk := filepath.Join(dir, "junk.xml")
	os.WriteFile(junk, []byte("<html>not metadata</html>"), 0o600)
	ext := "--external-url=https://gh.example.com"
	for name, args := range map[string][]string{
		"no subcommand":    {"sso"},
		"unknown sub":      {"sso", "add-ldap"},
		"no org":           {"sso", "add-saml", "--db", dsn, "--name", "x", "--metadata-file", md, ext},
		"unknown org":      {"sso", "add-saml", "--db", dsn, "--org", "nope", "--name", "x", "--metadata-file", md, ext},
		"both metadata":    {"sso", "add-saml", "--db", dsn, "--org", "acme", "--name", "x", "--metadata-file", md, "--metadata-url", "https://x", ext},
		"no metadata":      {"sso", "add-saml", "--db", dsn, "--org", "acme", "--name", "x", ext},
		"junk metadata":    {"sso", "add-saml", "--db", dsn, "--org", "acme", "--name", "x", "--metadata-file", junk, ext},
		"no external url":  {"sso", "add-saml", "--db", dsn, "--org", "acme", "--name", "x", "--metadata-file", md},
		"relative ext url": {"sso", "add-saml", "--db", dsn, "--org", "acme", "--name", "x", "--metadata-file", md, "--external-url", "gh.example.com"},
		"bad domain":       {"sso", "add-saml", "--db", dsn, "--org", "acme", "--name", "x", "--metadata-file", md, "--domain", "a b", ext},
		"oidc no issuer":   {"sso", "add-oidc", "--db", dsn, "--org", "acme", "--name", "y", "--client-id", "c", "--client-secret-file", md, ext},
		"oidc http issuer": {"sso", "add-oidc", "--db", dsn, "--org", "acme", "--name", "y", "--issuer", "http://idp.example", "--client-id", "c", "--client-secret-file", md, ext},
		"oidc no secret":   {"sso", "add-oidc", "--db", dsn, "--org", "acme", "--name", "y", "--issuer", "https://idp.example", "--client-id", "c", "--client-secret-file", filepath.Join(dir, "missing"), ext},
		"oidc unreachable": {"sso", "add-oidc", "--db", dsn, "--org", "acme", "--name", "y", "--issuer", "http://127.0.0.1:1", "--client-id", "c", "--client-secret-file", md, ext},
		"positional":       {"sso", "list", "--db", dsn, "--org", "acme", "extra"},
	} {
		_, err := cli(args...)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(oneLine(err), "\n") || len(oneLine(err)) > 300 {
			t.Errorf("%s: error is not one short line: %q", name, err)
		}
	}
	list, err := cli("sso", "list", "--db", dsn, "--org", "acme")
	if err != nil || strings.Count(strings.TrimSpace(list), "\n") != 0 {
		t.Errorf("refused commands left connections behind:\n%s", list)
	}
}

func TestSSOAddOIDC(t *testing.T) {
	dsn, dir, cli := cliEnv(t)
	// A real OpenID provider, for discovery.
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	st := storage.NewStorageWithClients(storage.NewUserStore(issuer), map[string]*storage.Client{})
	provider, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte("k")), CodeMethodS256: true}, st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = provider
	srv.Start()
	defer srv.Close()

	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("very-secret-value\n"), 0o600)
	out, err := cli("sso", "add-oidc", "--db", dsn, "--org", "acme", "--name", "Okta OIDC", "--issuer", issuer,
		"--client-id", "0oa123", "--client-secret-file", secretFile, "--domain", "acme.test", "--external-url", "https://gh.example.com")
	if err != nil {
		t.Fatalf("add-oidc: %v", err)
	}
	t.Logf("gatehouse sso add-oidc printed:\n%s", out)
	m := idRe.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "https://gh.example.com/sso/oidc/"+m[1]+"/callback") {
		t.Fatalf("output lacks the redirect URI:\n%s", out)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "gh.db"))
	wal, _ := os.ReadFile(filepath.Join(dir, "gh.db-wal"))
	if bytes.Contains(raw, []byte("very-secret-value")) || bytes.Contains(wal, []byte("very-secret-value")) {
		t.Error("the client secret is in the database in the clear")
	}
}
