package ssotest

import (
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
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// IdPMetadata is the metadata of a real crewjam SAML identity provider whose
// signing certificate has the subject CN=<cn> and expires at notAfter.
func IdPMetadata(t testing.TB, cn string, notAfter time.Time) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"Test IdP"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	mdURL, _ := url.Parse("https://idp.example/" + cn + "/metadata")
	ssoURL, _ := url.Parse("https://idp.example/" + cn + "/sso")
	idp := &saml.IdentityProvider{Key: key, Certificate: cert, MetadataURL: *mdURL, SSOURL: *ssoURL}
	b, err := xml.Marshal(idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MetadataServer serves IdP metadata that a test may replace (a key rollover).
type MetadataServer struct {
	*httptest.Server
	mu   sync.Mutex
	md   []byte
	hits int
}

// Hits is how many requests the server has had.
func (m *MetadataServer) Hits() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits
}

// NewMetadataServer serves md at its URL until the test ends.
func NewMetadataServer(t testing.TB, md []byte) *MetadataServer {
	m := &MetadataServer{md: md}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.hits++
		if m.md == nil || r.URL.Path != "/" {
			http.Error(w, "gone", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(m.md)
	}))
	t.Cleanup(m.Close)
	return m
}

// Set replaces the metadata served at "/" (other paths answer 404); nil answers
// 404 there too.
func (m *MetadataServer) Set(md []byte) {
	m.mu.Lock()
	m.md = md
	m.mu.Unlock()
}

// OpenIDProvider serves a real zitadel OpenID provider on loopback http until
// the test ends, and returns its issuer: discovery and keys answer as a real
// provider's do.
func OpenIDProvider(t testing.TB) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	st := storage.NewStorageWithClients(storage.NewUserStore(issuer), map[string]*storage.Client{})
	provider, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte("k")), CodeMethodS256: true}, st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = provider
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}
