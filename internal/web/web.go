package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

//go:embed templates/*.html templates/style.css
var files embed.FS

// Handler serves the admin pages. Its fields are its dependencies; set them, then
// call Mount once.
type Handler struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// Decisions is the authorizer, shared with the API (and its cache); without it,
	// one without a cache is built over Store.
	Decisions *decisions.Engine
	// Ops runs the shared operations; built over Store when nil.
	Ops *ops.Ops
	// Sessions authenticates browser sessions (the stack wires the sso package's);
	// without it nobody can sign in.
	Sessions httpx.Sessions
	// SignIn starts the session of the person who creates the first organization
	// on the setup page (the stack wires the sso package's); without it the setup
	// page is not served.
	SignIn httpx.SignIn
	// SSO lists SSO connections with their setup values; optional.
	SSO httpx.SSOSetup
	// ExternalURL is the server's public base URL, shown on the setup pages. When
	// it is https, cookies are Secure even if TLS ends at a proxy in front.
	ExternalURL string

	once sync.Once
	refs httpx.Refs
}

func (h *Handler) init() {
	h.once.Do(func() {
		if h.Logger == nil {
			h.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		if h.Now == nil {
			h.Now = time.Now
		}
		if h.Decisions == nil {
			h.Decisions = decisions.New(h.Store, nil)
		}
		if h.Ops == nil {
			h.Ops = &ops.Ops{Store: h.Store, Now: h.Now}
		}
		h.refs = httpx.Refs{Store: h.Store, Decisions: h.Decisions, SSO: h.SSO}
	})
}

// caller is the signed-in person.
type caller = decisions.Principal

// pageData is what every page template gets.
type pageData struct {
	Title, Nav string
	// Admin: the authorizer lets the person manage the org (decisions.ManageOrg),
	// so the org admins' pages and counts are shown.
	Admin        bool
	Who, OrgName string
	UserID       string
	CSRF         string
	Flash        *flash
	Data         any
}

type flash struct {
	Text  string
	Error bool
}

// flashes are the messages a redirect after a form may show, by code: a page
// never echoes text from its URL.
var flashes = map[string]string{
	"mapping-added":     "The mapping was added. Decisions use it from now on.",
	"mapping-removed":   "The mapping was removed. Decisions no longer use it.",
	"user-changed":      "The user was updated.",
	"group-created":     "The user group was created.",
	"token-revoked":     "The token was revoked; it no longer opens SCIM.",
	"api-token-revoked": "The API token was revoked; the API refuses it from now on.",
	"domain-verified":   "The domain is verified: it is this organization's, and no other can take it.",
	"domains-saved":     "The setting was saved. Routing and sign-in use it from their next request.",
	"sso-saved":         "The connection was saved. Logins use the change from their next request.",
	"sso-unchanged":     "Nothing was changed: the form holds the connection's settings as they are.",
	"sso-refreshed":     "The IdP metadata was fetched again; its signing certificates are listed below.",
	"sso-deleted":       "The connection was deleted with its email domains, sessions, IdP groups and mappings.",

	"webhook-saved":       "The webhook was saved.",
	"webhook-deleted":     "The webhook was deleted with its delivery log.",
	"redelivery-queued":   "The redelivery was queued; the deliverer makes the attempt within seconds.",
	"proposal-approved":   "You approved the proposal.",
	"proposal-rejected":   "You rejected the proposal.",
	"proposal-withdrawn":  "The proposal was withdrawn.",
	"access-held":         "This organization requires a second org admin's approval of access changes: the change is held as this proposal, and made when approved.",
	"approval-rule-saved": "The environment's approval rule was saved. Decisions use it from now on.",
	"org-approval-saved":  "The organization's approval setting was saved.",
}

const csrfCookie = "gatehouse_csrf"

// pageFunc renders a page, or handles a form, for a signed-in person.
type pageFunc func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error

type ctxKey int

const (
	pageKey ctxKey = iota // the page's *pageData, for the error page's header
	requestIDKey
)

// Mount registers the admin pages on mux. They need Sessions; bearer tokens do not
// open them.
func (h *Handler) Mount(mux *http.ServeMux) {
	h.init()
	css, _ := files.ReadFile("templates/style.css")
	mux.Handle("GET /admin/static/style.css", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setBrowserHeaders(w)
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(css)
	}))
	mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusSeeOther))
	// A person who opens the server's address lands on the admin pages (which send
	// them to sign in first), not on a bare 404.
	mux.Handle("GET /{$}", http.RedirectHandler("/admin/", http.StatusSeeOther))
	cop := http.NewCrossOriginProtection()
	h.mountSetup(mux, cop)
	for _, rt := range h.routes() {
		mux.Handle(rt.pattern, cop.Handler(h.browser(rt)))
	}
}

// setBrowserHeaders are the security headers of every page: no script at all, no
// framing, no sniffing, no referrer leaking ids to other sites.
func setBrowserHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
}

var templates = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	pages, _ := files.ReadDir("templates")
	for _, p := range pages {
		name := p.Name()
		if !strings.HasSuffix(name, ".html") || name == "layout.html" {
			continue
		}
		t := template.Must(template.New("layout.html").ParseFS(files, "templates/layout.html", "templates/"+name))
		out[strings.TrimSuffix(name, ".html")] = t
	}
	return out
}()

// browser is the adapter of every page: security headers, the session (or a
// redirect to sign in), CSRF on forms, what the route requires of the caller, and
// the one place errors become an error page.
func (h *Handler) browser(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setBrowserHeaders(w)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, httpx.RequestID("")))
		if err := httpx.CheckPath(r, rt.pattern); err != nil {
			h.renderError(w, r, err)
			return
		}
		p, _, err := httpx.SessionPrincipal(r, h.Sessions, h.Decisions)
		if err != nil {
			if errors.Is(err, decisions.ErrUnauthenticated) {
				http.Redirect(w, r, "/sso/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.renderError(w, r, err)
			return
		}
		c := &p
		admin, err := h.Decisions.Authorize(r.Context(), *c, decisions.ManageOrg())
		if err != nil {
			h.renderError(w, r, err)
			return
		}
		pd := &pageData{Admin: admin.Allowed(), Who: c.Actor.Name, UserID: c.UserID, CSRF: h.csrfToken(w, r)}
		if o, err := h.Store.GetOrg(r.Context(), c.OrgID); err == nil {
			pd.OrgName = o.Name
		}
		if t, ok := flashes[r.URL.Query().Get("done")]; ok {
			pd.Flash = &flash{Text: t}
		}
		if r.Method == http.MethodPost {
			if err := checkCSRF(r); err != nil {
				h.renderError(w, r, err)
				return
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), pageKey, pd))
		switch {
		case rt.requires == orgAdmin && !admin.Allowed():
			h.renderError(w, r, httpx.Forbidden("This page is for org admins."))
			return
		case rt.requires == member:
			d, err := h.Decisions.Authorize(r.Context(), *c, decisions.ReadOrg())
			if err == nil {
				err = d.Err()
			}
			if err != nil {
				h.renderError(w, r, err)
				return
			}
		}
		if err := rt.fn(w, r, c, pd); err != nil {
			h.renderError(w, r, err)
		}
	})
}

// csrfToken returns the browser's CSRF token, setting the cookie the first time.
// Forms echo it in a hidden field; checkCSRF compares the two (double submit), on
// top of http.CrossOriginProtection's Sec-Fetch-Site / Origin check.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/admin/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.secure(r)})
	return tok
}

// secure says whether cookies get the Secure flag: whenever browsers reach
// Gatehouse over https, which the external URL says when TLS ends at a proxy.
func (h *Handler) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(strings.ToLower(h.ExternalURL), "https://")
}

func checkCSRF(r *http.Request) error {
	c, err := r.Cookie(csrfCookie)
	form := r.PostFormValue("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		return httpx.Fail(http.StatusForbidden, "The form expired or did not come from this site. Go back, reload the page and try again.", nil)
	}
	return nil
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, pd *pageData) error {
	t := templates[name]
	if t == nil {
		return fmt.Errorf("no template %s", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", pd); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := httpx.Status(err)
	rid, _ := r.Context().Value(requestIDKey).(string)
	if status >= 500 {
		h.Logger.ErrorContext(r.Context(), "admin page failed", "request_id", rid, "path", r.URL.Path, "err", err)
		detail = "Something went wrong on our side (request " + rid + ")."
	}
	pd := &pageData{Title: http.StatusText(status), Data: detail}
	if page, ok := r.Context().Value(pageKey).(*pageData); ok {
		pd.Admin, pd.Who = page.Admin, page.Who
	}
	if rerr := h.render(w, status, "error", pd); rerr != nil {
		http.Error(w, http.StatusText(status), status)
	}
}

func redirectDone(w http.ResponseWriter, r *http.Request, path, code string) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	http.Redirect(w, r, path+sep+"done="+code, http.StatusSeeOther)
	return nil
}

// all pages through a store list to its end; admin pages show whole small sets.
func all[T any](list func(store.Page) ([]T, error), id func(T) string) ([]T, error) {
	var out []T
	p := store.Page{Limit: store.MaxLimit}
	for {
		items, err := list(p)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if len(items) < p.Limit {
			return out, nil
		}
		p.After = id(items[len(items)-1])
	}
}
