package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

func (h *Handler) listMappings(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ms, err := h.Store.ListMappings(r.Context(), c.OrgID, p)
	if err != nil {
		return err
	}
	return writeList(w, ms, p, func(m core.Mapping) string { return m.ID })
}

type mappingInput struct {
	Directory  string `json:"directory"`
	Connection string `json:"connection"`
	IdPGroup   string `json:"idp_group"`
	Group      string `json:"group"`
}

// createMapping validates the rule when it is saved: exactly one source that exists,
// a user group that exists, and an IdP group named by id or display name.
func (h *Handler) createMapping(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in mappingInput
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	m := core.Mapping{OrgID: c.OrgID, IdPGroup: in.IdPGroup}
	switch {
	case (in.Directory == "") == (in.Connection == ""):
		return httpx.Failf(http.StatusUnprocessableEntity, `give exactly one of "directory" and "connection"`)
	case in.Directory != "":
		d, err := h.refs.Directory(ctx, *c, in.Directory)
		if err != nil {
			return err
		}
		m.DirectoryID = d.ID
	default:
		id, err := h.refs.Connection(ctx, *c, in.Connection)
		if err != nil {
			return err
		}
		m.ConnectionID = id
	}
	if strings.TrimSpace(m.IdPGroup) == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"idp_group" is required: the IdP group's id or display name`)
	}
	if in.Group == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"group" is required: the user group's id or name`)
	}
	g, err := h.refs.Group(ctx, *c, in.Group)
	if err != nil {
		return err
	}
	m.UserGroupID = g.ID
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpMappingCreate, Mapping: &m}, "Map IdP group "+m.IdPGroup+" onto "+g.Name,
		func(err error) error {
			if errors.Is(err, core.ErrConflict) {
				return httpx.Fail(http.StatusConflict, "this mapping already exists", err)
			}
			if errors.Is(err, core.ErrNotFound) {
				return httpx.Fail(http.StatusNotFound, "the directory or connection does not exist", err)
			}
			return err
		},
		func(res any) error { return writeJSON(w, http.StatusCreated, res) })
}

func (h *Handler) getMapping(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	m, err := h.Store.GetMapping(r.Context(), c.OrgID, r.PathValue("mapping"))
	if err != nil {
		return httpx.NotFound(err, "mapping", r.PathValue("mapping"))
	}
	return writeJSON(w, http.StatusOK, m)
}

func (h *Handler) deleteMapping(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ref := r.PathValue("mapping")
	m, err := h.Store.GetMapping(r.Context(), c.OrgID, ref)
	if err != nil {
		return httpx.NotFound(err, "mapping", ref)
	}
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpMappingDelete, ID: m.ID}, "Remove the mapping of IdP group "+m.IdPGroup,
		func(err error) error { return httpx.NotFound(err, "mapping", ref) },
		func(any) error { return noContent(w) })
}
