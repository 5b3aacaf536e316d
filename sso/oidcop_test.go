package sso_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// opUsers is the test OpenID provider's directory. It implements zitadel's example
// storage.UserStore; groups are kept beside it and released in a groups claim.
type opUsers struct {
	mu     sync.Mutex
	users  map[string]*storage.User
	groups map[string][]string       // user id → groups
	claims map[string]map[string]any // user id → further ID token claims, set after groups
}

func (u *opUsers) GetUserByID(id string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.users[id]
}

func (u *opUsers) GetUserByUsername(name string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.users {
		if x.Username == name {
			return x
		}
	}
	return nil
}

func (u *opUsers) ExampleClientID() string { return "service" }

func (u *opUsers) set(id, email string, verified bool, groups []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.users[id] = &storage.User{ID: id, Username: email, Password: "pw-" + id, FirstName: "Bob", LastName: "Builder",
		Email: email, EmailVerified: verified, PreferredLanguage: language.English}
	u.groups[id] = groups
}

func (u *opUsers) groupsOf(id string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.groups[id]
}

// setClaims makes the OP put these claims in the user's ID tokens (after the
// groups claim, so they may replace it with values of any JSON type).
func (u *opUsers) setClaims(id string, claims map[string]any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.claims == nil {
		u.claims = map[string]map[string]any{}
	}
	u.claims[id] = claims
}

func (u *opUsers) claimsOf(id string) map[string]any {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.claims[id]
}

// setUser adds a user with a user name that may differ from the email (Entra's
// UPN in preferred_username); an empty email releases none.
func (u *opUsers) setUser(id, userName, email string, groups []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.users[id] = &storage.User{ID: id, Username: userName, Password: "pw-" + id, FirstName: "Bob", LastName: "Builder",
		Email: email, EmailVerified: email != "", PreferredLanguage: language.English}
	u.groups[id] = groups
}

// opStorage is zitadel's example in-memory OP storage, plus a groups claim and the
// knobs that make the OP misbehave for attack tests.
type opStorage struct {
	*storage.Storage
	users *opUsers

	mu            sync.Mutex
	forceNonce    string        // when set, every auth request carries this nonce
	tokenLifetime time.Duration // when set, ID tokens live this long (negative: already expired)
	otherAudience bool          // ID tokens are issued for another client
	// groupsIn is where groups are released: "" in the ID token, "userinfo"
	// only at the userinfo endpoint (some Okta setups), "none".
	groupsIn string
	// groupsScope releases groups only to a login that asked for the groups
	// scope (Okta).
	groupsScope bool
	// profileInIDToken puts the email and profile claims in the ID token too
	// (Entra, Google), not only at the userinfo endpoint.
	profileInIDToken bool
	userinfoFails    bool     // the userinfo endpoint fails
	lastScopes       []string // of the last authorization request
	// signWith and published, when set, are the key ID tokens are signed with
	// and the keys the JWKS lists (key rotation).
	signWith  *opKey
	published []*opKey
}

// opKey is an RSA signing key of the test OP.
type opKey struct {
	id  string
	key *rsa.PrivateKey
}

func newOPKey(t *testing.T, id string) *opKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	fatalIf(t, err, "op key")
	return &opKey{id: id, key: k}
}

func (k *opKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *opKey) Key() any                                    { return k.key }
func (k *opKey) ID() string                                  { return k.id }

// opPublicKey is an opKey as the JWKS lists it.
type opPublicKey struct{ *opKey }

func (k opPublicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k opPublicKey) Use() string                        { return "sig" }
func (k opPublicKey) Key() any                           { return &k.key.PublicKey }

func (s *opStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	k := s.signWith
	s.mu.Unlock()
	if k == nil {
		return s.Storage.SigningKey(ctx)
	}
	return k, nil
}

func (s *opStorage) KeySet(ctx context.Context) ([]op.Key, error) {
	s.mu.Lock()
	keys := s.published
	s.mu.Unlock()
	if keys == nil {
		return s.Storage.KeySet(ctx)
	}
	out := make([]op.Key, 0, len(keys))
	for _, k := range keys {
		out = append(out, opPublicKey{k})
	}
	return out, nil
}

// setKeys makes the OP sign with one key and publish others.
func (s *opStorage) setKeys(signWith *opKey, published ...*opKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signWith, s.published = signWith, published
}

// set changes the OP's behaviour under its lock.
func (s *opStorage) set(fn func(s *opStorage)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

// releasesGroups says whether groups go to a place ("" the ID token,
// "userinfo") for a login with these scopes.
func (s *opStorage) releasesGroups(place string, scopes []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.groupsIn == place && (!s.groupsScope || slices.Contains(scopes, "groups"))
}

// otherAudience is an auth request whose tokens are for another client.
type otherAudience struct{ op.AuthRequest }

func (otherAudience) GetAudience() []string { return []string{"someone-else"} }

func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.Storage.AuthRequestByCode(ctx, code)
	s.mu.Lock()
	other := s.otherAudience
	s.mu.Unlock()
	if err != nil || !other {
		return r, err
	}
	return otherAudience{r}, nil
}

func (s *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	s.mu.Lock()
	if s.forceNonce != "" {
		req.Nonce = s.forceNonce
	}
	s.lastScopes = slices.Clone(req.Scopes)
	s.mu.Unlock()
	return s.Storage.CreateAuthRequest(ctx, req, userID)
}

func (s *opStorage) scopesAsked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastScopes
}

// SetUserinfoFromRequest fills the ID token's claims.
func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	if gs := s.users.groupsOf(req.GetSubject()); gs != nil && s.releasesGroups("", scopes) {
		ui.AppendClaims("groups", gs)
	}
	for k, v := range s.users.claimsOf(req.GetSubject()) {
		ui.AppendClaims(k, v)
	}
	return nil
}

// SetUserinfoFromToken answers the userinfo endpoint.
func (s *opStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	s.mu.Lock()
	fails := s.userinfoFails
	s.mu.Unlock()
	if fails {
		return errors.New("userinfo is down")
	}
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	if gs := s.users.groupsOf(ui.Subject); gs != nil && s.releasesGroups("userinfo", s.scopesAsked()) {
		ui.AppendClaims("groups", gs)
	}
	return nil
}

// tweakedClient is the registered client with the OP's knobs applied.
type tweakedClient struct {
	op.Client
	lifetime         time.Duration
	profileInIDToken bool
}

func (c tweakedClient) IDTokenLifetime() time.Duration {
	if c.lifetime != 0 {
		return c.lifetime
	}
	return c.Client.IDTokenLifetime()
}

// IsScopeAllowed lets the client ask for the groups scope (Okta's).
func (c tweakedClient) IsScopeAllowed(scope string) bool {
	return scope == "groups" || c.Client.IsScopeAllowed(scope)
}

func (c tweakedClient) IDTokenUserinfoClaimsAssertion() bool {
	return c.profileInIDToken || c.Client.IDTokenUserinfoClaimsAssertion()
}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return c, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return tweakedClient{Client: c, lifetime: s.tokenLifetime, profileInIDToken: s.profileInIDToken}, nil
}

// oidcOP is a real OpenID provider (zitadel/oidc's op package) on loopback, with a
// username/password login page.
type oidcOP struct {
	srv       *httptest.Server
	users     *opUsers
	st        *opStorage
	mu        sync.Mutex
	badIssuer bool // the token endpoint issues ID tokens as another issuer
}

var loginPage = template.Must(template.New("login").Parse(`<html><body><form method="post" action="/login/username">
<input type="hidden" name="id" value="{{.}}"><input name="username"><input type="password" name="password"><button>Log in</button></form></body></html>`))

func newOIDCOP(t *testing.T, redirectURI string) *oidcOP {
	t.Helper()
	users := &opUsers{users: map[string]*storage.User{}, groups: map[string][]string{}}
	clients := map[string]*storage.Client{"gatehouse": storage.WebClient("gatehouse", "s3cret", redirectURI)}
	o := &oidcOP{users: users}
	o.st = &opStorage{Storage: storage.NewStorageWithClients(users, clients), users: users}
	o.srv = httptest.NewUnstartedServer(nil)
	issuer := "http://" + o.srv.Listener.Addr().String()
	cfg := &op.Config{CryptoKey: sha256.Sum256([]byte("test")), CodeMethodS256: true, AuthMethodPost: true,
		SupportedScopes: []string{"openid", "profile", "email", "groups"}}
	issuerFn := func(bool) (op.IssuerFromRequest, error) {
		return func(r *http.Request) string {
			o.mu.Lock()
			bad := o.badIssuer
			o.mu.Unlock()
			if bad && strings.HasSuffix(r.URL.Path, "/oauth/token") {
				return "http://evil-issuer.example"
			}
			return issuer
		}, nil
	}
	provider, err := op.NewProvider(cfg, o.st, issuerFn, op.WithAllowInsecure())
	fatalIf(t, err, "new OP")
	callback := op.AuthCallbackURL(provider)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/username", func(w http.ResponseWriter, r *http.Request) {
		_ = loginPage.Execute(w, r.URL.Query().Get("authRequestID"))
	})
	mux.Handle("POST /login/username", op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id := r.PostForm.Get("id")
		if err := o.st.CheckUsernamePassword(r.PostForm.Get("username"), r.PostForm.Get("password"), id); err != nil {
			http.Error(w, "wrong username or password", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	}))
	mux.Handle("/", provider)
	o.srv.Config.Handler = mux
	o.srv.Start()
	t.Cleanup(o.srv.Close)
	return o
}

func (o *oidcOP) issuer() string { return o.srv.URL }

func (o *oidcOP) setBadIssuer(v bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.badIssuer = v
}

type oidcOpts struct {
	noJIT   bool
	domains []string
	// settings are applied as the CLI applies its flags (sso.Settings.Apply).
	settings sso.Settings
}

// oidcSetup starts an OP whose client redirects to a connection of g, and creates
// that connection (discovery runs against the OP).
func (g *gatehouse) addOIDC(t *testing.T, o oidcOpts) (*oidcOP, store.SSOConnection) {
	t.Helper()
	id := store.NewID()
	op := newOIDCOP(t, sso.OIDCRedirectURI(g.url, id))
	cfg, err := sso.NewOIDCConfig(ctx, g.h.Network, g.box, id, op.issuer(), "gatehouse", "s3cret")
	fatalIf(t, err, "oidc config")
	conn := store.SSOConnection{ID: id, OrgID: g.org.ID, Name: fmt.Sprintf("oidc-%s", id[len(id)-6:]), Kind: store.KindOIDC, JIT: !o.noJIT, OIDC: cfg, Domains: o.domains}
	fatalIf(t, o.settings.Apply(&conn), "settings")
	c, err := g.st.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem}, conn)
	fatalIf(t, err, "create oidc connection")
	return op, c
}

// oidcStart opens the connection's login in the browser and returns the OP's
// login page.
func (b *browser) oidcStart(g *gatehouse, conn store.SSOConnection, returnTo string) page {
	b.t.Helper()
	p := b.get(g.url.String() + "/sso/oidc/" + conn.ID + "/login?return_to=" + url.QueryEscape(returnTo))
	if p.status != http.StatusOK || !strings.Contains(p.body, "password") {
		b.t.Fatalf("OP login page: %d at %s: %.300s", p.status, p.url, p.body)
	}
	return p
}

// oidcLogin logs in at the OP's login page as the user of that email.
func (b *browser) oidcLogin(p page, email, password string) page {
	b.t.Helper()
	action, vals := p.form(b.t)
	vals.Set("username", email)
	vals.Set("password", password)
	return b.post(action, vals)
}
