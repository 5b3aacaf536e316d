package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
)

func (h *Handler) listIdPGroups(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	source := ""
	switch {
	case q.Get("directory") != "" && q.Get("connection") != "":
		return httpx.Failf(http.StatusBadRequest, "filter by directory or by connection, not both")
	case q.Get("directory") != "":
		d, err := h.refs.Directory(ctx, *c, q.Get("directory"))
		if err != nil {
			return err
		}
		source = d.ID
	case q.Get("connection") != "":
		if source, err = h.refs.Connection(ctx, *c, q.Get("connection")); err != nil {
			return err
		}
	}
	gs, err := h.Store.ListIdPGroups(ctx, c.OrgID, source, p)
	if err != nil {
		return err
	}
	return writeList(w, gs, p, func(g core.IdPGroup) string { return g.ID })
}

func (h *Handler) getIdPGroup(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	g, err := h.Store.GetIdPGroup(r.Context(), c.OrgID, r.PathValue("idpgroup"))
	if err != nil {
		return httpx.NotFound(err, "IdP group", r.PathValue("idpgroup"))
	}
	return writeJSON(w, http.StatusOK, g)
}

func (h *Handler) listIdPGroupMembers(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	us, err := h.Store.IdPGroupMembers(r.Context(), c.OrgID, r.PathValue("idpgroup"), p)
	if err != nil {
		return httpx.NotFound(err, "IdP group", r.PathValue("idpgroup"))
	}
	return writeList(w, us, p, func(u core.User) string { return u.ID })
}
