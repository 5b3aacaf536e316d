package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/domains"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var domainCommands = map[string]command{
	"list":             {"list an organization's email domains, their state and the DNS record that proves each", runDomainList},
	"verify":           {"verify an email domain by its DNS TXT record, or on the operator's word (--operator)", runDomainVerify},
	"require-verified": {"make routing and trust by email domain use only verified domains (--on), or any of the org's (--off)", runDomainRequire},
}

// domainOrg opens the store and finds the org of --org for fn.
func domainOrg(ctx context.Context, dsn, orgRef string, fn func(*store.SQL, core.Org) error) error {
	return withStore(ctx, dsn, func(st *store.SQL) error {
		org, err := st.GetOrg(ctx, orgRef)
		if err != nil {
			return friendly(err, fmt.Sprintf("organization %q does not exist", orgRef), "")
		}
		return fn(st, org)
	})
}

func runDomainList(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("domain list", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	orgRef := fs.String("org", "", "the organization's slug or id (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required([2]string{"org", *orgRef}); err != nil {
		return err
	}
	return domainOrg(ctx, *dsn, *orgRef, func(st *store.SQL, org core.Org) error {
		ds, err := ops.New(st).ListDomains(ctx, org.ID)
		if err != nil {
			return err
		}
		rule := "off: routing and sign-in trust any of the org's domains"
		if org.RequireVerifiedDomains {
			rule = "on: routing and sign-in trust verified domains only"
		}
		fmt.Fprintf(stdout, "email domains of organization %s (require verified domains %s)\n", org.Slug, rule)
		if len(ds) == 0 {
			fmt.Fprintln(stdout, "none yet: set them on an SSO connection or SCIM directory, or verify one with gatehouse domain verify")
		}
		for _, d := range ds {
			state := d.Status
			if d.Verified {
				state += " by " + d.VerifiedBy + " (" + d.VerifiedActor + ", " + d.VerifiedAt.Format("2006-01-02 15:04 MST") + ")"
			}
			fmt.Fprintf(stdout, "%s  %s  used by: %s\n", d.Domain, state, usedBy(d.UsedBy))
			if !d.Verified {
				fmt.Fprintf(stdout, "  to verify, publish: %s %s %q\n", d.Record.Name, d.Record.Type, d.Record.Value)
			}
		}
		return nil
	})
}

func usedBy(us []core.Owner) string {
	if len(us) == 0 {
		return "nothing"
	}
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = string(u.Kind) + " " + u.Name
	}
	return strings.Join(out, ", ")
}

// runDomainVerify verifies a domain through the operation the API and the pages
// use: by DNS, or, with --operator, on the word of whoever runs the server.
func runDomainVerify(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("domain verify", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	orgRef := fs.String("org", "", "the organization's slug or id (required)")
	domain := fs.String("domain", "", "the email domain, e.g. acme.com (required)")
	operator := fs.Bool("operator", false, "mark it verified on your word, without a DNS lookup (a single-company server); audited as verified by operator")
	resolver := fs.String("dns-resolver", "", "DNS server (host:port) to ask for the TXT record (default: the system's resolver)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required([2]string{"org", *orgRef}, [2]string{"domain", *domain}); err != nil {
		return err
	}
	if *operator && *resolver != "" {
		return &usageError{msg: "--operator looks nothing up: drop --dns-resolver"}
	}
	o := &ops.Ops{}
	if *resolver != "" {
		if _, _, err := net.SplitHostPort(*resolver); err != nil {
			return &usageError{msg: fmt.Sprintf("--dns-resolver %q: want host:port, e.g. 10.0.0.2:53", *resolver)}
		}
		o.DNS = &domains.Checker{Resolver: domains.NewResolver(*resolver)}
	}
	return domainOrg(ctx, *dsn, *orgRef, func(st *store.SQL, org core.Org) error {
		o.Store = st
		var d ops.DomainView
		var err error
		if *operator {
			d, err = o.VerifyDomainByOperator(ctx, cliActor, org.ID, *domain)
		} else {
			d, err = o.VerifyDomain(ctx, cliActor, org.ID, *domain)
		}
		if err != nil {
			return flagRefusal("domain", err)
		}
		fmt.Fprintf(stdout, "email domain %s is verified for organization %s (by %s, %s)\n", d.Domain, org.Slug, d.VerifiedBy, d.VerifiedActor)
		return nil
	})
}

func runDomainRequire(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("domain require-verified", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	orgRef := fs.String("org", "", "the organization's slug or id (required)")
	on := fs.Bool("on", false, "routing and sign-in trust the org's verified domains only")
	off := fs.Bool("off", false, "routing and sign-in trust any of the org's domains (the default)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required([2]string{"org", *orgRef}); err != nil {
		return err
	}
	if *on == *off {
		return &usageError{msg: "give --on or --off"}
	}
	return domainOrg(ctx, *dsn, *orgRef, func(st *store.SQL, org core.Org) error {
		up, err := ops.New(st).SetRequireVerifiedDomains(ctx, cliActor, org.ID, *on)
		if err != nil {
			return err
		}
		if up.RequireVerifiedDomains {
			fmt.Fprintf(stdout, "organization %s now requires verified domains: routing by email and sign-in by domain use verified domains only\n", org.Slug)
			if ds, err := st.ListOrgDomains(ctx, org.ID); err == nil {
				for _, d := range ds {
					if !d.Verified && len(d.UsedBy) > 0 {
						fmt.Fprintf(stdout, "not verified, so no longer used for routing or sign-in: %s (used by %s)\n", d.Domain, usedBy(d.UsedBy))
					}
				}
			}
			return nil
		}
		fmt.Fprintf(stdout, "organization %s no longer requires verified domains\n", org.Slug)
		return nil
	})
}
