package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

// listDomains lists the org's email domains: state, who uses each, and the DNS
// record that proves it.
func (h *Handler) listDomains(w http.ResponseWriter, r *http.Request) error {
	ds, err := h.Ops.ListDomains(r.Context(), callerOf(r).OrgID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[ops.DomainView]{Items: nonNil(ds)})
}

// getDomain shows any domain as the org sees it, with the record that would
// prove it: how an org proves a domain it does not hold yet.
func (h *Handler) getDomain(w http.ResponseWriter, r *http.Request) error {
	d, err := h.Ops.GetDomain(r.Context(), callerOf(r).OrgID, r.PathValue("domain"))
	if err != nil {
		return ssoProblem(err)
	}
	return writeJSON(w, http.StatusOK, d)
}

// verifyDomain looks the domain's record up in DNS and, when it is there, makes
// the domain the org's, verified.
func (h *Handler) verifyDomain(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	d, err := h.Ops.VerifyDomain(r.Context(), c.Actor, c.OrgID, r.PathValue("domain"))
	if err != nil {
		return ssoProblem(err)
	}
	return writeJSON(w, http.StatusOK, d)
}
