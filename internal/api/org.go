package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
)

func (h *Handler) getOrg(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	o, err := h.Store.GetOrg(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, o)
}

func (h *Handler) listOrgAdmins(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	us, err := h.Store.ListOrgAdmins(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.User]{Items: nonNil(us)})
}

func (h *Handler) addOrgAdmin(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	u, err := h.refs.User(r.Context(), *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	if u, err = h.Ops.AddOrgAdmin(r.Context(), c.Actor, c.OrgID, u.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (h *Handler) removeOrgAdmin(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	u, err := h.refs.User(r.Context(), *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	if err := h.Store.RemoveOrgAdmin(r.Context(), c.Actor, c.OrgID, u.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// transferOrgAdmin makes "to" an org admin and removes "from" (the calling person
// by default), in one transaction.
func (h *Handler) transferOrgAdmin(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		To   string `json:"to"`
		From string `json:"from"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.From == "" {
		in.From = c.UserID
	}
	if in.To == "" || in.From == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"to" is required, and "from" too when an API token calls`)
	}
	ctx := r.Context()
	to, err := h.refs.User(ctx, *c, in.To)
	if err != nil {
		return err
	}
	from, err := h.refs.User(ctx, *c, in.From)
	if err != nil {
		return err
	}
	admins, err := h.Ops.TransferOrgAdmin(ctx, c.Actor, c.OrgID, from.ID, to.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.User]{Items: nonNil(admins)})
}
