package ops

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/domains"
)

// DomainView is an email domain as the org sees it, with the DNS record that
// proves it is the org's.
type DomainView struct {
	core.OrgDomain
	Record domains.Record `json:"record"`
}

func domainView(d core.OrgDomain) DomainView {
	return DomainView{OrgDomain: d, Record: domains.RecordFor(d.Domain, d.Token)}
}

// ListDomains lists the org's email domains, each with its state, who uses it
// and the record that proves it.
func (o *Ops) ListDomains(ctx context.Context, orgID string) ([]DomainView, error) {
	ds, err := o.Store.ListOrgDomains(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]DomainView, len(ds))
	for i, d := range ds {
		out[i] = domainView(d)
	}
	return out, nil
}

// GetDomain is any email domain as the org sees it, with the record the org
// would publish to prove it: how an org proves a domain another org holds
// unverified. A malformed domain is a *FieldError on "domain".
func (o *Ops) GetDomain(ctx context.Context, orgID, domain string) (DomainView, error) {
	d, err := o.Store.GetOrgDomain(ctx, orgID, domain)
	if err != nil {
		return DomainView{}, domainErr(err)
	}
	return domainView(d), nil
}

// VerifyDomain looks up the domain's verification record (o.DNS) and, when it is
// there, records the domain as the org's, verified by DNS (audited
// domain.verified), taking it over from another org that holds it unverified. A
// missing or wrong record, or a failed lookup, is a *FieldError on "domain" that
// says what to publish; a domain another org verified is a conflict on "domain".
// Either way nothing changes. A domain already verified is returned as it is.
func (o *Ops) VerifyDomain(ctx context.Context, actor core.Actor, orgID, domain string) (DomainView, error) {
	d, err := o.GetDomain(ctx, orgID, domain)
	if err != nil || d.Verified {
		return d, err
	}
	if d.Status == core.DomainOtherOrgVerified {
		return DomainView{}, otherOrgVerified(d.Domain)
	}
	checker := o.DNS
	if checker == nil {
		checker = &domains.Checker{}
	}
	if err := checker.Check(ctx, d.Domain, d.Token); err != nil {
		var rf *domains.Refusal
		if errors.As(err, &rf) {
			return DomainView{}, &FieldError{Field: "domain", Msg: rf.Error()}
		}
		return DomainView{}, err
	}
	return o.markVerified(ctx, actor, orgID, d.Domain, core.VerifiedByDNS)
}

// VerifyDomainByOperator records the domain as the org's on the word of whoever
// runs the server (the CLI on a single-company server), without a DNS lookup;
// audited as domain.verified by "operator". Otherwise as VerifyDomain.
func (o *Ops) VerifyDomainByOperator(ctx context.Context, actor core.Actor, orgID, domain string) (DomainView, error) {
	return o.markVerified(ctx, actor, orgID, domain, core.VerifiedByOperator)
}

func (o *Ops) markVerified(ctx context.Context, actor core.Actor, orgID, domain, by string) (DomainView, error) {
	d, err := o.Store.VerifyOrgDomain(ctx, actor, orgID, domain, by)
	if err != nil {
		return DomainView{}, domainErr(err)
	}
	return domainView(d), nil
}

// SetRequireVerifiedDomains turns the org's rule on or off: routing and trust by
// email domain use only verified domains. Audited as org.update.
func (o *Ops) SetRequireVerifiedDomains(ctx context.Context, actor core.Actor, orgID string, on bool) (core.Org, error) {
	return o.Store.UpdateOrg(ctx, actor, orgID, func(org *core.Org) error { org.RequireVerifiedDomains = on; return nil })
}

func otherOrgVerified(domain string) error {
	return &conflictError{field: "domain", msg: "email domain " + domain + " is verified by another organization", err: core.ErrConflict}
}

// domainErr names the field a store refusal of a domain is about.
func domainErr(err error) error { return domainFieldErr("domain", err) }
