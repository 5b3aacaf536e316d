package web

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/httpx"
)

// pageSSO shows each SSO connection with the values to paste into the IdP.
func (h *Handler) pageSSO(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	var conns []httpx.SSOConnection
	if h.SSO != nil {
		var err error
		if conns, err = h.SSO.SSOConnections(r.Context(), c.OrgID); err != nil {
			return err
		}
	}
	pd.Title, pd.Nav = "SSO", "sso"
	pd.Data = struct{ Connections []httpx.SSOConnection }{conns}
	return h.render(w, http.StatusOK, "sso", pd)
}
