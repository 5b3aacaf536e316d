package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

type dirTokens struct {
	Dir    core.Directory
	Tokens []store.Token
	Live   int
}

// scimSetup are the values to paste into an IdP's SCIM settings.
type scimSetup struct {
	BaseURL, EntraURL string
}

func (h *Handler) scimSetup() scimSetup {
	base := strings.TrimSuffix(h.ExternalURL, "/") + "/scim/v2"
	return scimSetup{BaseURL: base, EntraURL: base + "?aadOptscim062020"}
}

// directoryForm is the add-a-directory form, kept with what was typed and the
// message next to its field when it is refused.
type directoryForm struct {
	Name, Err string
}

// directoriesWithTokens lists the org's directories with their tokens.
func (h *Handler) directoriesWithTokens(r *http.Request, c *caller) ([]dirTokens, error) {
	ctx := r.Context()
	ds, err := h.Store.ListDirectories(ctx, c.OrgID)
	if err != nil {
		return nil, err
	}
	ts, err := h.Store.ListTokens(ctx, c.OrgID)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ts, func(a, b store.Token) int { return strings.Compare(a.ID, b.ID) })
	var dirs []dirTokens
	for _, d := range ds {
		dt := dirTokens{Dir: d, Tokens: []store.Token{}}
		for _, t := range ts {
			if t.DirectoryID == d.ID {
				dt.Tokens = append(dt.Tokens, t)
				if t.RevokedAt == nil {
					dt.Live++
				}
			}
		}
		dirs = append(dirs, dt)
	}
	return dirs, nil
}

func (h *Handler) scimPage(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, status int, secret string, form directoryForm) error {
	dirs, err := h.directoriesWithTokens(r, c)
	if err != nil {
		return err
	}
	pd.Title, pd.Nav = "SCIM", "scim"
	pd.Data = struct {
		scimSetup
		NewSecret   string
		Directories []dirTokens
		Form        directoryForm
	}{h.scimSetup(), secret, dirs, form}
	return h.render(w, status, "scim", pd)
}

func (h *Handler) pageSCIM(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	return h.scimPage(w, r, c, pd, http.StatusOK, "", directoryForm{})
}

// formCreateDirectory creates a directory and its first token, and shows the
// secret in this response only (never in a URL, never again). A missing or
// taken name is shown next to the field, with what was typed.
func (h *Handler) formCreateDirectory(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	name := strings.TrimSpace(r.PostFormValue("name"))
	form := directoryForm{Name: r.PostFormValue("name")}
	refuse := func(status int, msg string) error {
		form.Err = msg
		pd.Flash = &flash{Text: "Nothing was changed: see the message next to the field.", Error: true}
		return h.scimPage(w, r, c, pd, status, "", form)
	}
	if name == "" {
		return refuse(http.StatusUnprocessableEntity, "A directory needs a name.")
	}
	dt, err := h.Ops.CreateDirectory(ctx, c.Actor, c.OrgID, name)
	switch {
	case errors.Is(err, core.ErrConflict):
		return refuse(http.StatusConflict, "A directory named "+httpx.Quote(name)+" already exists: rotate its token below instead.")
	case errors.Is(err, core.ErrInvalid):
		_, msg := httpx.Status(err)
		return refuse(http.StatusUnprocessableEntity, upperFirst(msg))
	case err != nil:
		return err
	}
	pd.Flash = &flash{Text: "Directory " + name + " was created with its first token."}
	return h.scimPage(w, r, c, pd, http.StatusCreated, dt.Token.Secret, directoryForm{})
}

// domainsForm is a directory's email domains form, kept with what was typed and
// the message next to the field when it is refused.
type domainsForm struct {
	Domains, Err string
}

// pageDirectory shows one directory: what to paste into the IdP, its email
// domains and its tokens.
func (h *Handler) pageDirectory(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	return h.directoryPage(w, r, c, pd, http.StatusOK, nil)
}

func (h *Handler) directoryPage(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, status int, form *domainsForm) error {
	d, err := h.refs.Directory(r.Context(), *c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	dirs, err := h.directoriesWithTokens(r, c)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(dirs, func(dt dirTokens) bool { return dt.Dir.ID == d.ID })
	if i < 0 {
		return httpx.NotFound(core.ErrNotFound, "directory", r.PathValue("directory"))
	}
	if form == nil {
		form = &domainsForm{Domains: strings.Join(dirs[i].Dir.Domains, ", ")}
	}
	pd.Title, pd.Nav = "Directory "+d.Name+" · SCIM", "scim"
	pd.Data = struct {
		scimSetup
		Directory dirTokens
		Form      domainsForm
	}{h.scimSetup(), dirs[i], *form}
	return h.render(w, status, "scim_directory", pd)
}

// formDirectoryDomains replaces a directory's email domains (comma- or
// space-separated; empty clears them) through the operation the API and the
// CLI use. A bad or taken domain is shown next to the field with what was
// typed, and nothing changes.
func (h *Handler) formDirectoryDomains(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	d, err := h.refs.Directory(r.Context(), *c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	typed := r.PostFormValue("domains")
	up, err := h.Ops.SetDirectoryDomains(r.Context(), c.Actor, c.OrgID, d.ID, splitList(typed))
	if err != nil {
		form := &domainsForm{Domains: typed}
		status := http.StatusUnprocessableEntity
		var fe *ops.FieldError
		if _, msg, ok := ops.ConflictField(err); ok {
			form.Err, status = upperFirst(msg)+".", http.StatusConflict
		} else if errors.As(err, &fe) {
			form.Err = upperFirst(fe.Msg) + "."
		} else {
			return err
		}
		pd.Flash = &flash{Text: "Nothing was changed: see the message next to the field.", Error: true}
		return h.directoryPage(w, r, c, pd, status, form)
	}
	text := "The email domains of " + up.Name + " were cleared."
	if len(up.Domains) > 0 {
		text = "The email domains of " + up.Name + " are now " + strings.Join(up.Domains, ", ") + "."
	}
	pd.Flash = &flash{Text: text}
	return h.directoryPage(w, r, c, pd, http.StatusOK, nil)
}

func (h *Handler) formRotateToken(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	d, err := h.refs.Directory(r.Context(), *c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	nt, err := h.Ops.RotateDirectoryToken(r.Context(), c.Actor, d, "")
	if err != nil {
		return err
	}
	pd.Flash = &flash{Text: "A new token was added to " + d.Name + "."}
	return h.scimPage(w, r, c, pd, http.StatusCreated, nt.Secret, directoryForm{})
}

// directoryToken finds the path's live token of the path's directory.
func (h *Handler) directoryToken(r *http.Request, c *caller) (core.Directory, store.Token, error) {
	d, err := h.refs.Directory(r.Context(), *c, r.PathValue("directory"))
	if err != nil {
		return d, store.Token{}, err
	}
	ts, err := h.Store.ListTokens(r.Context(), c.OrgID)
	if err != nil {
		return d, store.Token{}, err
	}
	for _, t := range ts {
		if t.ID == r.PathValue("token") && t.Kind == store.TokenSCIM && t.DirectoryID == d.ID {
			return d, t, nil
		}
	}
	return d, store.Token{}, httpx.Fail(http.StatusNotFound, "That token does not exist.", core.ErrNotFound)
}

// pageRevokeToken asks to confirm a revocation, saying what it stops.
func (h *Handler) pageRevokeToken(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	d, t, err := h.directoryToken(r, c)
	if err != nil {
		return err
	}
	live := 0
	ts, err := h.Store.ListTokens(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	for _, o := range ts {
		if o.DirectoryID == d.ID && o.RevokedAt == nil && o.ID != t.ID {
			live++
		}
	}
	pd.Title, pd.Nav = "Revoke token · SCIM", "scim"
	pd.Data = struct {
		Dir       core.Directory
		Token     store.Token
		OtherLive int
	}{d, t, live}
	return h.render(w, http.StatusOK, "scim_revoke", pd)
}

func (h *Handler) formRevokeToken(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	d, err := h.refs.Directory(ctx, *c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	err = h.Ops.RevokeDirectoryToken(ctx, c.Actor, c.OrgID, d.ID, r.PathValue("token"))
	if errors.Is(err, core.ErrNotFound) {
		return httpx.Fail(http.StatusNotFound, "That token does not exist.", err)
	}
	if err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/scim/"+url.PathEscape(d.ID), "token-revoked")
}
