package sso_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

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

// opStorage is zitadel's example in-memory OP storage, plus a groups claim and the
// knobs that make the OP misbehave for attack tests.
type opStorage struct {
	*storage.Storage
	users *opUsers

	mu            sync.Mutex
	forceNonce    string        // when set, every auth request carries this nonce
	tokenLifetime time.Duration // when set, ID tokens live this long (negative: already expired)
	otherAudience bool          // ID tokens are issued for another client
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
	s.mu.Unlock()
	return s.Storage.CreateAuthRequest(ctx, req, userID)
}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	if gs := s.users.groupsOf(req.GetSubject()); gs != nil {
		ui.AppendClaims("groups", gs)
	}
	for k, v := range s.users.claimsOf(req.GetSubject()) {
		ui.AppendClaims(k, v)
	}
	return nil
}

type lifetimeClient struct {
	op.Client
	d time.Duration
}

func (c lifetimeClient) IDTokenLifetime() time.Duration { return c.d }

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	s.mu.Lock()
	d := s.tokenLifetime
	s.mu.Unlock()
	if err != nil || d == 0 {
		return c, err
	}
	return lifetimeClient{Client: c, d: d}, nil
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
}

// oidcSetup starts an OP whose client redirects to a connection of g, and creates
// that connection (discovery runs against the OP).
func (g *gatehouse) addOIDC(t *testing.T, o oidcOpts) (*oidcOP, store.SSOConnection) {
	t.Helper()
	id := store.NewID()
	op := newOIDCOP(t, sso.OIDCRedirectURI(g.url, id))
	cfg, err := sso.NewOIDCConfig(ctx, nil, g.box, id, op.issuer(), "gatehouse", "s3cret")
	fatalIf(t, err, "oidc config")
	c, err := g.st.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem}, store.SSOConnection{
		ID: id, OrgID: g.org.ID, Name: fmt.Sprintf("oidc-%s", id[len(id)-6:]), Kind: store.KindOIDC, JIT: !o.noJIT, OIDC: cfg, Domains: o.domains,
	})
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
