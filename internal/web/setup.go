package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// First run. On a database without any organization, serve logs a single-use
// setup link (/setup?token=…, 24 hours; see ops.IssueSetupLink). Its page asks for
// the organization and its first org admin, creates both and signs that person in
// (ops.SetUp: one transaction with the link's use and the session), then lands on
// the next-steps page, /admin/welcome. Nobody is signed in yet, so these two
// routes are outside the session adapter: the link's secret, posted back with the
// form, is what authorizes them, and http.CrossOriginProtection refuses a
// cross-site POST.

// maxSetupToken bounds the secret in a setup link; ours are 43 characters.
const maxSetupToken = 200

// setupForm is the setup page's data.
type setupForm struct {
	Token  string
	Form   formState
	Closed string // why the link cannot be used; the form is not shown
}

// mountSetup registers the first-run routes, when sessions can be started.
func (h *Handler) mountSetup(mux *http.ServeMux, cop *http.CrossOriginProtection) {
	if h.SignIn == nil {
		return
	}
	mux.Handle("GET /setup", http.HandlerFunc(h.pageSetup))
	mux.Handle("POST /setup", cop.Handler(http.HandlerFunc(h.formSetup)))
}

const setupClosed = "This setup link has expired or was already used. If the database still has no organization, restart gatehouse serve: it logs a new link. Otherwise ask an org admin to invite you, or ask whoever runs Gatehouse for a sign-in link (gatehouse login-link)."

func (h *Handler) renderSetup(w http.ResponseWriter, status int, d setupForm) {
	setBrowserHeaders(w)
	if err := h.render(w, status, "setup", &pageData{Title: "Set up Gatehouse", Data: d}); err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	}
}

func (h *Handler) pageSetup(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if tok == "" || len(tok) > maxSetupToken {
		h.renderSetup(w, http.StatusNotFound, setupForm{Closed: setupClosed})
		return
	}
	if err := h.Store.SetupLinkUsable(r.Context(), store.LinkHash(tok), h.Now()); err != nil {
		h.setupFailed(w, r, err)
		return
	}
	h.renderSetup(w, http.StatusOK, setupForm{Token: tok})
}

func (h *Handler) setupFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, core.ErrNotFound) {
		h.renderSetup(w, http.StatusGone, setupForm{Closed: setupClosed})
		return
	}
	h.Logger.ErrorContext(r.Context(), "setup page failed", "err", err)
	setBrowserHeaders(w)
	http.Error(w, "Something went wrong on our side. Please try again.", http.StatusInternalServerError)
}

func (h *Handler) formSetup(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		setBrowserHeaders(w)
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	tok := f.Get("token")
	if tok == "" || len(tok) > maxSetupToken {
		h.renderSetup(w, http.StatusNotFound, setupForm{Closed: setupClosed})
		return
	}
	in := ops.Setup{Name: strings.TrimSpace(f.Get("name")), Slug: strings.TrimSpace(f.Get("slug")),
		AdminName: strings.TrimSpace(f.Get("admin_name")), AdminEmail: strings.TrimSpace(f.Get("admin_email"))}
	refuse := func(status int, field, msg string) {
		h.renderSetup(w, status, setupForm{Token: tok, Form: formState{Form: "setup", Values: f, Errors: map[string]string{field: msg}}})
	}
	for _, req := range []struct{ field, value, msg string }{
		{"name", in.Name, "Give the organization a name."},
		{"slug", in.Slug, "Give the organization a slug, e.g. acme."},
		{"admin_email", in.AdminEmail, "Give the first org admin's email address."},
	} {
		if req.value == "" {
			refuse(http.StatusUnprocessableEntity, req.field, req.msg)
			return
		}
	}
	sid, ss := h.SignIn.NewSession("", "")
	org, admin, err := h.Ops.SetUp(r.Context(), store.LinkHash(tok), in, ss)
	switch {
	case errors.Is(err, core.ErrNotFound):
		h.setupFailed(w, r, err)
		return
	case errors.Is(err, core.ErrConflict):
		refuse(http.StatusConflict, "slug", "An organization with this slug already exists: choose another.")
		return
	case errors.Is(err, core.ErrInvalid):
		_, msg := httpx.Status(err)
		refuse(http.StatusUnprocessableEntity, setupField(msg), msg)
		return
	case err != nil:
		h.setupFailed(w, r, err)
		return
	}
	h.Logger.InfoContext(r.Context(), "first organization created on the setup page", "org", org.Slug, "admin", admin.ID)
	h.SignIn.SetSessionCookie(w, sid)
	http.Redirect(w, r, "/admin/welcome", http.StatusSeeOther)
}

// setupField is the field a store refusal of the setup is about, from its
// message (the store names what it refused).
func setupField(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "slug"):
		return "slug"
	case strings.Contains(m, "admin email"):
		return "admin_email"
	case strings.Contains(m, "admin name"):
		return "admin_name"
	}
	return "name"
}

// welcome is the next-steps page's data: what to paste where.
type welcome struct {
	Base, SCIMBase, EntraURL string
	OrgSlug, Email           string
}

// pageWelcome is the next steps after the first run (and for any org admin who
// wants them again): connect SSO, connect SCIM, create a workspace.
func (h *Handler) pageWelcome(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	base := strings.TrimSuffix(h.ExternalURL, "/")
	d := welcome{Base: base, SCIMBase: base + "/scim/v2", EntraURL: base + "/scim/v2?aadOptscim062020"}
	if o, err := h.Store.GetOrg(r.Context(), c.OrgID); err == nil {
		d.OrgSlug = o.Slug
	}
	if u, err := h.Store.GetUser(r.Context(), c.OrgID, c.UserID); err == nil {
		d.Email = u.Email
	}
	pd.Title, pd.Nav, pd.Data = "Next steps", "overview", d
	return h.render(w, http.StatusOK, "welcome", pd)
}
