package api

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (h *Handler) listAPITokens(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ts, err := h.tokensOf(r.Context(), c.OrgID, func(t store.Token) bool { return t.Kind == store.TokenAPI })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[store.Token]{Items: ts})
}

func (h *Handler) createAPIToken(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	nt, err := h.Ops.CreateAPIToken(r.Context(), c.Actor, c.OrgID, in.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, nt)
}

func (h *Handler) revokeAPIToken(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	return revoked(w, r, h.Ops.RevokeAPIToken(r.Context(), c.Actor, c.OrgID, r.PathValue("token")))
}
