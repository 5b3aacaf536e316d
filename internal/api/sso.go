package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/httpx"
)

// listSSOConnections lists the org's SSO connections (owned by the sso package)
// with the values to paste into the IdP.
func (h *Handler) listSSOConnections(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	out := []httpx.SSOConnection{}
	if h.SSO != nil {
		conns, err := h.SSO.SSOConnections(r.Context(), c.OrgID)
		if err != nil {
			return err
		}
		out = append(out, conns...)
	}
	return writeJSON(w, http.StatusOK, list[httpx.SSOConnection]{Items: out})
}
