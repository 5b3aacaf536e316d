package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

// Email domains (issue 9): the org's domains with the DNS TXT record that proves
// each, a Verify button that looks it up (ops.VerifyDomain, the API's path), a
// form that shows the record for a domain the org does not hold yet (to take it
// over from an org that never proved it), and the require-verified setting.

// domainsData is the Domains page: the list, the domain looked up with ?domain=
// (Other), and a refusal shown next to the domain it is about.
type domainsData struct {
	Rows     []domainRow // the org's domains, then the one looked up if it is not among them
	Query    string
	ErrFor   string // the domain a refusal is about
	Err      string
	Required bool
	Other    *ops.DomainView
}

// domainRow is one row of the table, with its refusal if it has one.
type domainRow struct {
	D         ops.DomainView
	Err, CSRF string
}

func (h *Handler) domainsPage(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, status int, d domainsData) error {
	ctx := r.Context()
	ds, err := h.Ops.ListDomains(ctx, c.OrgID)
	if err != nil {
		return err
	}
	org, err := h.Store.GetOrg(ctx, c.OrgID)
	if err != nil {
		return err
	}
	d.Required = org.RequireVerifiedDomains
	if d.Other == nil && d.Query != "" && d.Err == "" {
		v, err := h.Ops.GetDomain(ctx, c.OrgID, d.Query)
		var fe *ops.FieldError
		switch {
		case errors.As(err, &fe):
			d.ErrFor, d.Err, status = d.Query, upperFirst(fe.Msg), http.StatusUnprocessableEntity
		case err != nil:
			return err
		default:
			d.Other = &v
		}
	}
	if d.Other != nil {
		for _, x := range ds {
			if x.Domain == d.Other.Domain {
				d.Other = nil // listed already
				break
			}
		}
	}
	if d.Other != nil {
		ds = append(ds, *d.Other)
	}
	for _, x := range ds {
		row := domainRow{D: x, CSRF: pd.CSRF}
		if x.Domain == d.ErrFor {
			row.Err, d.Err = d.Err, ""
		}
		d.Rows = append(d.Rows, row)
	}
	pd.Title, pd.Nav = "Email domains", "domains"
	pd.Data = d
	return h.render(w, status, "domains", pd)
}

func (h *Handler) pageDomains(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	return h.domainsPage(w, r, c, pd, http.StatusOK, domainsData{Query: strings.TrimSpace(r.URL.Query().Get("domain"))})
}

// formVerifyDomain looks the domain's record up; a refusal (no record, a wrong
// one, a failed lookup, another org's verified domain) is shown next to that
// domain with what to publish, and nothing changes.
func (h *Handler) formVerifyDomain(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	domain := r.PathValue("domain")
	v, err := h.Ops.VerifyDomain(r.Context(), c.Actor, c.OrgID, domain)
	if err != nil {
		status, msg := http.StatusUnprocessableEntity, ""
		var fe *ops.FieldError
		if errors.As(err, &fe) {
			msg = fe.Msg
		} else if _, m, ok := ops.ConflictField(err); ok {
			status, msg = http.StatusConflict, m
		} else {
			return err
		}
		pd.Flash = &flash{Text: "Nothing was changed: see the message next to the domain.", Error: true}
		d := domainsData{ErrFor: strings.ToLower(strings.TrimSpace(domain)), Err: upperFirst(msg)}
		if other, gerr := h.Ops.GetDomain(r.Context(), c.OrgID, domain); gerr == nil {
			d.Other, d.ErrFor = &other, other.Domain
		}
		return h.domainsPage(w, r, c, pd, status, d)
	}
	return redirectDone(w, r, "/admin/domains?verified="+url.QueryEscape(v.Domain), "domain-verified")
}

// formDomainSettings turns require_verified_domains on or off.
func (h *Handler) formDomainSettings(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	on := r.PostFormValue("require_verified_domains") == "on"
	if _, err := h.Ops.SetRequireVerifiedDomains(r.Context(), c.Actor, c.OrgID, on); err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/domains", "domains-saved")
}
