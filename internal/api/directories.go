package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (h *Handler) listDirectories(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ds, err := h.Store.ListDirectories(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.Directory]{Items: nonNil(ds)})
}

// createDirectory creates a SCIM directory and its first token.
func (h *Handler) createDirectory(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	dt, err := h.Ops.CreateDirectory(r.Context(), c.Actor, c.OrgID, in.Name)
	if errors.Is(err, core.ErrConflict) {
		return httpx.Fail(http.StatusConflict, "a directory named "+httpx.Quote(in.Name)+" already exists", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, dt)
}

func (h *Handler) getDirectory(w http.ResponseWriter, r *http.Request) error {
	d, err := h.refs.Directory(r.Context(), *callerOf(r), r.PathValue("directory"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// updateDirectory changes a directory's email domains ({"domains": [...]} replaces
// the list; [] clears it). A bad domain is a 422 and one another org or another
// directory uses a 409, both naming the field; then nothing changes.
func (h *Handler) updateDirectory(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Domains *[]string `json:"domains"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Domains == nil {
		return httpx.Failf(http.StatusUnprocessableEntity, `"domains" is required (a list of email domains; [] clears it)`)
	}
	d, err := h.refs.Directory(r.Context(), *c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	up, err := h.Ops.SetDirectoryDomains(r.Context(), c.Actor, c.OrgID, d.ID, *in.Domains)
	if errors.Is(err, core.ErrNotFound) {
		return httpx.NotFound(err, "directory", r.PathValue("directory"))
	}
	if err != nil {
		return ssoProblem(err)
	}
	return writeJSON(w, http.StatusOK, up)
}

func (h *Handler) tokensOf(ctx context.Context, orgID string, keep func(store.Token) bool) ([]store.Token, error) {
	ts, err := h.Store.ListTokens(ctx, orgID)
	if err != nil {
		return nil, err
	}
	ts = slices.DeleteFunc(ts, func(t store.Token) bool { return !keep(t) })
	slices.SortFunc(ts, func(a, b store.Token) int { return strings.Compare(a.ID, b.ID) })
	return nonNil(ts), nil
}

func (h *Handler) listDirectoryTokens(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	d, err := h.refs.Directory(r.Context(), *c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	ts, err := h.tokensOf(r.Context(), c.OrgID, func(t store.Token) bool { return t.DirectoryID == d.ID })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[store.Token]{Items: ts})
}

// createDirectoryToken rotates: it adds a token and leaves the old ones valid until
// they are revoked, so the IdP can be switched over without a gap.
func (h *Handler) createDirectoryToken(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Name string `json:"name"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	d, err := h.refs.Directory(r.Context(), *c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	nt, err := h.Ops.RotateDirectoryToken(r.Context(), c.Actor, d, in.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, nt)
}

func (h *Handler) revokeDirectoryToken(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	d, err := h.refs.Directory(r.Context(), *c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	return revoked(w, r, h.Ops.RevokeDirectoryToken(r.Context(), c.Actor, c.OrgID, d.ID, r.PathValue("token")))
}

// revoked answers a token revocation.
func revoked(w http.ResponseWriter, r *http.Request, err error) error {
	if err != nil {
		return httpx.NotFound(err, "token", r.PathValue("token"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
