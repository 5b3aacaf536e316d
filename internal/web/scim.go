package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

type dirTokens struct {
	Dir    core.Directory
	Tokens []store.Token
}

func (h *Handler) scimPage(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, status int, secret string) error {
	ctx := r.Context()
	ds, err := h.Store.ListDirectories(ctx, c.OrgID)
	if err != nil {
		return err
	}
	ts, err := h.Store.ListTokens(ctx, c.OrgID)
	if err != nil {
		return err
	}
	slices.SortFunc(ts, func(a, b store.Token) int { return strings.Compare(a.ID, b.ID) })
	var dirs []dirTokens
	for _, d := range ds {
		dt := dirTokens{Dir: d, Tokens: []store.Token{}}
		for _, t := range ts {
			if t.DirectoryID == d.ID {
				dt.Tokens = append(dt.Tokens, t)
			}
		}
		dirs = append(dirs, dt)
	}
	base := strings.TrimSuffix(h.ExternalURL, "/") + "/scim/v2"
	pd.Title, pd.Nav = "SCIM", "scim"
	pd.Data = struct {
		BaseURL, EntraURL, NewSecret string
		Directories                  []dirTokens
	}{base, base + "?aadOptscim062020", secret, dirs}
	return h.render(w, status, "scim", pd)
}

func (h *Handler) pageSCIM(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	return h.scimPage(w, r, c, pd, http.StatusOK, "")
}

// formCreateDirectory creates a directory and its first token, and shows the
// secret in this response only (never in a URL, never again).
func (h *Handler) formCreateDirectory(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, "A directory needs a name.")
	}
	dt, err := h.Ops.CreateDirectory(ctx, c.Actor, c.OrgID, name)
	if errors.Is(err, core.ErrConflict) {
		return httpx.Fail(http.StatusConflict, "A directory named "+httpx.Quote(name)+" already exists.", err)
	}
	if err != nil {
		return err
	}
	pd.Flash = &flash{Text: "Directory " + name + " was created."}
	return h.scimPage(w, r, c, pd, http.StatusCreated, dt.Token.Secret)
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
	return h.scimPage(w, r, c, pd, http.StatusCreated, nt.Secret)
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
	return redirectDone(w, r, "/admin/scim", "token-revoked")
}
