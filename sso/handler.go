package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Store is what the SSO handler needs from storage: the SSO tables and the few
// core operations a login performs. *store.SQL implements it.
type Store interface {
	store.SSO
	GetOrg(ctx context.Context, idOrSlug string) (core.Org, error)
	GetUser(ctx context.Context, orgID, id string) (core.User, error)
	GetUserByUserName(ctx context.Context, orgID, userName string) (core.User, error)
	GetUserByEmail(ctx context.Context, orgID, email string) (core.User, error)
	CreateUser(ctx context.Context, actor core.Actor, u core.User) (core.User, error)
	AdoptUser(ctx context.Context, actor core.Actor, orgID, id string, to core.Owner, address string) (core.User, error)
	SetConnectionGroups(ctx context.Context, actor core.Actor, orgID, connectionID, userID string, claimValues []string) error
	SetConnectionGroupsFromDirectory(ctx context.Context, actor core.Actor, orgID, connectionID, userID string) (store.DirectoryGroups, error)
	GetDirectory(ctx context.Context, orgID, idOrName string) (core.Directory, error)
	TrustedDomains(ctx context.Context, orgID string, domains []string) ([]string, error)
	RedeemSignInLink(ctx context.Context, tokenHash string, ss store.Session, details map[string]any) (store.SignInLink, error)
}

// Defaults for the zero values of Handler's settings.
const (
	DefaultSessionIdle     = 8 * time.Hour
	DefaultSessionLifetime = 24 * time.Hour
	DefaultCookieName      = "gatehouse_session"
	loginTTL               = 10 * time.Minute
	maxPOSTBytes           = 1 << 20
)

// Handler serves the SSO endpoints. Build it with its dependencies and call Mount
// once. Its Session method authenticates a request's browser session; the stack
// hands the handler to the API and the admin pages for that (httpx.Sessions).
type Handler struct {
	Store  Store
	Logger *slog.Logger
	// Now is the clock of every check (assertion and token times, sessions).
	Now func() time.Time
	// ExternalURL is where browsers and IdPs reach Gatehouse (scheme, host, optional
	// path prefix); every URL given to an IdP is built from it.
	ExternalURL *url.URL
	// Box opens connection secrets.
	Box *Box
	// Network is the policy of the calls to identity providers (discovery,
	// JWKS, token, userinfo); the zero value reaches public addresses only.
	Network Network
	// Metrics, when set, counts logins by connection and outcome.
	Metrics *metrics.Metrics

	// Connectors, when set, builds the connector of a connection instead of the
	// built-in SAML and OIDC ones: tests of other packages use ssotest.Connector to
	// log in without an identity provider or a browser.
	Connectors func(ctx context.Context, conn store.SSOConnection) (Connector, error)

	SessionIdle     time.Duration // idle timeout; DefaultSessionIdle when zero
	SessionLifetime time.Duration // absolute timeout; DefaultSessionLifetime when zero
	CookieName      string        // DefaultCookieName when empty

	mu        sync.Mutex
	cache     map[string]cachedConnector // connection id → connector of one version
	lastPrune time.Time
}

// pruneEvery is how often a login start also deletes expired login state. Doing it
// inline keeps Gatehouse free of background jobs; the work is a few indexed deletes.
const pruneEvery = 10 * time.Minute

// maybePrune deletes expired sessions, pending logins and replay records, at most
// once per pruneEvery per instance.
func (h *Handler) maybePrune(ctx context.Context) {
	now := h.now()
	h.mu.Lock()
	due := now.Sub(h.lastPrune) >= pruneEvery
	if due {
		h.lastPrune = now
	}
	h.mu.Unlock()
	if due {
		if err := h.Store.PruneSSO(ctx, now); err != nil {
			h.logger().Warn("sso: prune expired login state", "error", err.Error())
		}
	}
}

type cachedConnector struct {
	version int64
	c       Connector
}

// Mount registers the routes on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	if h.ExternalURL != nil && !h.secure() {
		h.logger().Warn("sso: the external URL is plain http, so SP-initiated SAML logins cannot be bound to the browser "+
			"(the binding cookie needs SameSite=None; Secure, which browsers accept only over https) and are open to login CSRF; "+
			"serve Gatehouse over https in production", "external_url", h.ExternalURL.String())
	}
	mux.Handle("GET /sso/login", h.browser(h.serveLoginForm))
	mux.Handle("POST /sso/login", h.browser(h.serveLoginEmail))
	mux.Handle("GET /sso/logout", h.browser(h.serveLogoutForm))
	mux.Handle("POST /sso/logout", h.browser(h.serveLogout))
	mux.Handle("GET /sso/saml/{connection}/metadata", http.HandlerFunc(h.serveSAMLMetadata))
	mux.Handle("GET /sso/saml/{connection}/login", h.browser(h.serveSAMLLogin))
	mux.Handle("POST /sso/saml/{connection}/acs", h.browser(h.serveSAMLACS))
	mux.Handle("GET /sso/saml/{connection}/slo", h.browser(h.serveSAMLSLO))
	mux.Handle("POST /sso/saml/{connection}/slo", h.browser(h.serveSAMLSLO))
	mux.Handle("GET /sso/oidc/{connection}/login", h.browser(h.serveOIDCLogin))
	mux.Handle("GET /sso/oidc/{connection}/callback", h.browser(h.serveOIDCCallback))
	mux.Handle("GET /sso/link", h.browser(h.serveLinkForm))
	// A cross-site form must not sign a browser in with someone else's link
	// (login CSRF): the POST is same-origin only.
	mux.Handle("POST /sso/link", http.NewCrossOriginProtection().Handler(h.browser(h.serveLink)))
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Handler) idle() time.Duration {
	if h.SessionIdle > 0 {
		return h.SessionIdle
	}
	return DefaultSessionIdle
}

func (h *Handler) lifetime() time.Duration {
	if h.SessionLifetime > 0 {
		return h.SessionLifetime
	}
	return DefaultSessionLifetime
}

func (h *Handler) cookieName() string {
	if h.CookieName != "" {
		return h.CookieName
	}
	return DefaultCookieName
}

// secure says whether cookies get the Secure flag: whenever Gatehouse is reached
// over HTTPS.
func (h *Handler) secure() bool { return h.ExternalURL != nil && h.ExternalURL.Scheme == "https" }

// loginError is a refused login: a reason code for logs and audit, a message safe
// for the person, and the cause, which is only logged.
type loginError struct {
	reason string
	public string
	status int
	cause  error
	// subject, when known, is the IdP's id of the person refused, for the audit.
	subject string
	// title heads the page; "Sign-in failed" when empty.
	title string
}

func (e *loginError) Error() string { return e.reason + ": " + e.cause.Error() }
func (e *loginError) Unwrap() error { return e.cause }

func refusal(reason, public string, cause error) error {
	return &loginError{reason: reason, public: public, status: http.StatusForbidden, cause: cause}
}

// browserHandler is a browser route: it returns an error, which becomes a plain page.
type browserHandler func(w http.ResponseWriter, r *http.Request) error

// browser adds the headers every SSO page needs and renders errors as a plain page
// that shows no internals.
func (h *Handler) browser(fn browserHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		// form-action allows other origins because /sso/login's POST redirects on to
		// the IdP, and browsers apply form-action to that redirect chain.
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxPOSTBytes)
		}
		err := fn(w, r)
		if err == nil {
			return
		}
		var le *loginError
		switch {
		case errors.As(err, &le):
		case errors.Is(err, core.ErrUnavailable):
			w.Header().Set("Retry-After", "5")
			le = &loginError{reason: "unavailable", public: "Sign-in is briefly unavailable. Please try again in a moment.", status: http.StatusServiceUnavailable, cause: err}
		default:
			le = &loginError{reason: "internal_error", public: "Something went wrong on our side. Please try again.", status: http.StatusInternalServerError, cause: err}
		}
		lvl := slog.LevelWarn
		if le.status >= 500 {
			lvl = slog.LevelError
		}
		title, msg := le.title, "sso: logout refused"
		if title == "" {
			title, msg = "Sign-in failed", "sso: login refused"
		}
		h.logger().Log(r.Context(), lvl, msg, "reason", le.reason, "path", r.URL.Path, "error", le.cause.Error())
		writePage(w, le.status, title, le.public, "")
	})
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · Gatehouse</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}input,button{font-size:1rem;padding:.4rem}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Message}}</p>
{{if .Form}}<form method="post" action="{{.Action}}"><label>Work email <input type="email" name="email" autocomplete="email" required autofocus></label>
<input type="hidden" name="return_to" value="{{.ReturnTo}}"> <button type="submit">Continue</button></form>{{end}}
{{if .Logout}}<form method="post" action="{{.Action}}"><input type="hidden" name="return_to" value="{{.ReturnTo}}"><button type="submit">Sign out</button></form>{{end}}
{{if .Token}}<form method="post" action="{{.Action}}"><input type="hidden" name="token" value="{{.Token}}"><button type="submit" id="continue">Sign in</button></form>{{end}}
{{if .Hint}}<p>{{.Hint}}</p>{{end}}
{{if not .Form}}<p><a href="/sso/login">Sign in</a></p>{{end}}</body></html>`))

type page struct {
	Title, Message   string
	Form, Logout     bool
	Action, ReturnTo string
	// Token, when set, is a sign-in link's secret: the page shows the button that
	// uses the link.
	Token string
	// Hint is a second paragraph, under the form.
	Hint string
}

func writePage(w http.ResponseWriter, status int, title, msg, returnTo string) {
	renderPage(w, status, page{Title: title, Message: msg, ReturnTo: returnTo})
}

func renderPage(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, p)
}

// localPath returns s if it is a path on this site, and "/" otherwise: no scheme,
// no host, no "//" or backslash tricks that browsers read as another host.
func localPath(s string) string {
	if s == "" || len(s) > 2048 || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\") {
		return "/"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return s
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is what the database keeps of a session id, RelayState or OIDC state.
func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// connection loads a connection of the given kind for a route.
func (h *Handler) connection(r *http.Request, kind store.SSOKind) (store.SSOConnection, error) {
	id := r.PathValue("connection")
	c, err := h.Store.GetSSOConnection(r.Context(), id)
	if err != nil || c.Kind != kind {
		if err == nil || errors.Is(err, core.ErrNotFound) {
			return store.SSOConnection{}, &loginError{reason: "unknown_connection", public: "This sign-in link is not valid.", status: http.StatusNotFound,
				cause: fmt.Errorf("no %s connection %q", kind, id)}
		}
		return store.SSOConnection{}, fmt.Errorf("load connection %s: %w", id, err)
	}
	return c, nil
}

// connector returns the cached connector of a connection, rebuilding it when the
// connection's version changed (on any instance: the version comes from the row).
func (h *Handler) connector(ctx context.Context, conn store.SSOConnection) (Connector, error) {
	h.mu.Lock()
	if cc, ok := h.cache[conn.ID]; ok && cc.version == conn.Version {
		h.mu.Unlock()
		return cc.c, nil
	}
	h.mu.Unlock()
	if h.ExternalURL == nil || h.Box == nil {
		return nil, errors.New("sso handler needs ExternalURL and Box")
	}
	var (
		c   Connector
		err error
	)
	switch {
	case h.Connectors != nil:
		c, err = h.Connectors(ctx, conn)
	case conn.Kind == store.KindSAML:
		c, err = newSAMLConnector(conn, h.ExternalURL, h.Box, h.Store, h.now)
	case conn.Kind == store.KindOIDC:
		c, err = newOIDCConnector(ctx, conn, h.ExternalURL, h.Box, h.Network.Client(15*time.Second), h.now)
	default:
		err = fmt.Errorf("unknown kind %q", conn.Kind)
	}
	if err != nil {
		return nil, &loginError{reason: "connection_unavailable", public: "Sign-in through this identity provider is not available right now.",
			status: http.StatusBadGateway, cause: fmt.Errorf("connection %s: %w", conn.ID, err)}
	}
	h.mu.Lock()
	if h.cache == nil {
		h.cache = map[string]cachedConnector{}
	}
	if old, ok := h.cache[conn.ID]; !ok || old.version <= conn.Version {
		h.cache[conn.ID] = cachedConnector{version: conn.Version, c: c}
	}
	h.mu.Unlock()
	return c, nil
}

var _ Store = (*store.SQL)(nil)
