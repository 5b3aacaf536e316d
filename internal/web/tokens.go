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

// API tokens (issue 11): the org's tokens for the JSON API, which act as an org
// admin of the org. Modelled on the SCIM pages (scim.go): the secret is shown in
// the create response only, a revocation is confirmed first.

// tokenForm is the create-a-token form, kept with what was typed and the message
// next to its field when it is refused.
type tokenForm struct {
	Name, Err string
}

// apiTokens lists the org's API tokens, revoked ones included, oldest first.
func (h *Handler) apiTokens(r *http.Request, c *caller) ([]store.Token, error) {
	ts, err := h.Store.ListTokens(r.Context(), c.OrgID)
	if err != nil {
		return nil, err
	}
	ts = slices.DeleteFunc(ts, func(t store.Token) bool { return t.Kind != store.TokenAPI })
	slices.SortFunc(ts, func(a, b store.Token) int { return strings.Compare(a.ID, b.ID) })
	return ts, nil
}

func (h *Handler) apiBaseURL() string { return strings.TrimSuffix(h.ExternalURL, "/") + "/api/v1" }

func (h *Handler) tokensPage(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, status int, secret string, form tokenForm) error {
	ts, err := h.apiTokens(r, c)
	if err != nil {
		return err
	}
	pd.Title, pd.Nav = "API tokens", "tokens"
	pd.Data = struct {
		BaseURL   string
		NewSecret string
		Tokens    []store.Token
		Form      tokenForm
	}{h.apiBaseURL(), secret, ts, form}
	return h.render(w, status, "tokens", pd)
}

func (h *Handler) pageTokens(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	return h.tokensPage(w, r, c, pd, http.StatusOK, "", tokenForm{})
}

// formCreateToken creates an API token and shows its secret in this response
// only (never in a URL, never again). A missing or invalid name is shown next to
// the field, with what was typed.
func (h *Handler) formCreateToken(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	form := tokenForm{Name: r.PostFormValue("name")}
	refuse := func(status int, msg string) error {
		form.Err = msg
		pd.Flash = &flash{Text: "Nothing was changed: see the message next to the field.", Error: true}
		return h.tokensPage(w, r, c, pd, status, "", form)
	}
	if name == "" {
		return refuse(http.StatusUnprocessableEntity, "A token needs a name.")
	}
	nt, err := h.Ops.CreateAPIToken(r.Context(), c.Actor, c.OrgID, name)
	switch {
	case errors.Is(err, core.ErrConflict):
		return refuse(http.StatusConflict, "A token named "+httpx.Quote(name)+" already exists.")
	case errors.Is(err, core.ErrInvalid):
		_, msg := httpx.Status(err)
		return refuse(http.StatusUnprocessableEntity, upperFirst(msg))
	case err != nil:
		return err
	}
	pd.Flash = &flash{Text: "API token " + name + " was created."}
	return h.tokensPage(w, r, c, pd, http.StatusCreated, nt.Secret, tokenForm{})
}

// apiToken finds the path's API token of the org, revoked or not.
func (h *Handler) apiToken(r *http.Request, c *caller) (store.Token, error) {
	ts, err := h.apiTokens(r, c)
	if err != nil {
		return store.Token{}, err
	}
	for _, t := range ts {
		if t.ID == r.PathValue("token") {
			return t, nil
		}
	}
	return store.Token{}, httpx.Fail(http.StatusNotFound, "That token does not exist.", core.ErrNotFound)
}

// pageRevokeAPIToken asks to confirm a revocation, saying what it stops.
func (h *Handler) pageRevokeAPIToken(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	t, err := h.apiToken(r, c)
	if err != nil {
		return err
	}
	if t.RevokedAt != nil {
		return httpx.Fail(http.StatusNotFound, "That token is already revoked.", core.ErrNotFound)
	}
	pd.Title, pd.Nav = "Revoke token · API tokens", "tokens"
	pd.Data = struct{ Token store.Token }{t}
	return h.render(w, http.StatusOK, "token_revoke", pd)
}

func (h *Handler) formRevokeAPIToken(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	err := h.Ops.RevokeAPIToken(r.Context(), c.Actor, c.OrgID, r.PathValue("token"))
	if errors.Is(err, core.ErrNotFound) {
		return httpx.Fail(http.StatusNotFound, "That token does not exist.", err)
	}
	if err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/tokens", "api-token-revoked")
}
