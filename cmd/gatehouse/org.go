package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

var orgCommands = map[string]command{
	"create":    {"create an organization and its first org admin, and print the admin's sign-in link", runOrgCreate},
	"add-admin": {"make a user an org admin (creating them as a local user if new) and print their sign-in link: recovery", runOrgAddAdmin},
}

// defaultExternalURL is serve's address when neither --addr nor --external-url is
// given: where a sign-in link printed on the same machine leads.
const defaultExternalURL = "http://127.0.0.1:8080"

// Break-glass link lifetimes: short, since the link alone signs an org admin in.
const (
	defaultLinkTTL = 15 * time.Minute
	maxLinkTTL     = 24 * time.Hour
)

func runOrgCreate(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("org create", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	slug := fs.String("slug", "", "the organization's slug: lowercase letters, digits and dashes (required)")
	name := fs.String("name", "", "the organization's display name (required)")
	email := fs.String("admin-email", "", "email of the first org admin (required)")
	adminName := fs.String("admin-name", "", "the first org admin's name, as the pages show it")
	external := fs.String("external-url", defaultExternalURL, "URL browsers reach Gatehouse at (as given to serve), for the admin's sign-in link")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required([2]string{"slug", *slug}, [2]string{"name", *name}, [2]string{"admin-email", *email}); err != nil {
		return err
	}
	base, err := parseExternalURL(*external)
	if err != nil {
		return err
	}
	return withStore(ctx, *dsn, func(st *store.SQL) error {
		org, admin, err := st.CreateOrgWithAdmin(ctx, cliActor, store.NewOrg{Slug: *slug, Name: *name, AdminEmail: *email, AdminName: *adminName})
		if err != nil {
			return friendly(err, "", fmt.Sprintf("organization %q already exists", *slug))
		}
		fmt.Fprintf(stdout, "created organization %s (%s), id %s\n", org.Slug, org.Name, org.ID)
		fmt.Fprintf(stdout, "first org admin: %s, user id %s\n", admin.Email, admin.ID)
		return printLoginLink(ctx, stdout, st, base, org, admin, defaultLinkTTL)
	})
}

// runOrgAddAdmin makes a person an org admin and prints their break-glass link:
// how an operator gets an org back when its identity provider deprovisioned its
// last admin (a deactivated user cannot use a sign-in link).
func runOrgAddAdmin(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("org add-admin", stderr)
	lf := addLinkFlags(fs, "the new org admin's email; a local user is created if the org has none (required)",
		"how long the printed sign-in link works, at most 24h")
	name := fs.String("name", "", "the new user's name, as the pages show it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, err := lf.check()
	if err != nil {
		return err
	}
	return withStore(ctx, *lf.dsn, func(st *store.SQL) error {
		org, err := lf.orgOf(ctx, st)
		if err != nil {
			return err
		}
		u, created, err := ops.New(st).RecoverAdmin(ctx, cliActor, org.ID, *lf.email, *name)
		if err != nil {
			return friendly(err, "", "")
		}
		if created {
			fmt.Fprintf(stdout, "created local user %s, user id %s\n", u.Email, u.ID)
		}
		fmt.Fprintf(stdout, "%s is an org admin of %s\n", u.Email, org.Slug)
		return printLoginLink(ctx, stdout, st, base, org, u, *lf.ttl)
	})
}

// runLoginLink prints a break-glass sign-in link for an active org admin: how the
// first admin gets in before any identity provider is connected, and how an org
// gets back in when its identity provider is down.
func runLoginLink(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("login-link", stderr)
	lf := addLinkFlags(fs, "the org admin's email or user name (required)", "how long the link works, at most 24h; it works once")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, err := lf.check()
	if err != nil {
		return err
	}
	return withStore(ctx, *lf.dsn, func(st *store.SQL) error {
		org, err := lf.orgOf(ctx, st)
		if err != nil {
			return err
		}
		u, err := st.GetUserByEmail(ctx, org.ID, *lf.email)
		if errors.Is(err, core.ErrNotFound) {
			u, err = st.GetUserByUserName(ctx, org.ID, *lf.email)
		}
		if err != nil {
			return friendly(err, fmt.Sprintf("organization %s has no user %q", org.Slug, *lf.email), "")
		}
		return printLoginLink(ctx, stdout, st, base, org, u, *lf.ttl)
	})
}

// linkFlags are the flags of the commands that print a break-glass link for a
// person of an org (login-link, org add-admin).
type linkFlags struct {
	dsn, org, email, external *string
	ttl                       *time.Duration
}

func addLinkFlags(fs *flag.FlagSet, emailUsage, ttlUsage string) linkFlags {
	return linkFlags{
		dsn:      fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…"),
		org:      fs.String("org", "", "the organization's slug or id (required)"),
		email:    fs.String("email", "", emailUsage),
		ttl:      fs.Duration("ttl", defaultLinkTTL, ttlUsage),
		external: fs.String("external-url", defaultExternalURL, "URL browsers reach Gatehouse at (as given to serve)"),
	}
}

// check refuses missing flags and a lifetime out of range, and returns the
// external URL the link is made on.
func (lf linkFlags) check() (*url.URL, error) {
	if err := required([2]string{"org", *lf.org}, [2]string{"email", *lf.email}); err != nil {
		return nil, err
	}
	if *lf.ttl < time.Minute || *lf.ttl > maxLinkTTL {
		return nil, &usageError{msg: fmt.Sprintf("--ttl %s: want from 1m to 24h", *lf.ttl)}
	}
	return parseExternalURL(*lf.external)
}

// orgOf reads the organization --org names.
func (lf linkFlags) orgOf(ctx context.Context, st *store.SQL) (core.Org, error) {
	org, err := st.GetOrg(ctx, *lf.org)
	if err != nil {
		return org, friendly(err, fmt.Sprintf("organization %q does not exist", *lf.org), "")
	}
	return org, nil
}

// printLoginLink makes a break-glass link for u and prints it alone on the last
// line. The store refuses anyone but an active org admin, and audits the link.
func printLoginLink(ctx context.Context, stdout io.Writer, st *store.SQL, base *url.URL, org core.Org, u core.User, ttl time.Duration) error {
	secret, hash := sso.NewLinkToken()
	now := time.Now()
	l := store.SignInLink{TokenHash: hash, Kind: store.SignInBreakGlass, OrgID: org.ID, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := st.CreateSignInLink(ctx, cliActor, l); err != nil {
		return friendly(err, fmt.Sprintf("organization %s has no user %q", org.Slug, u.Email), "")
	}
	fmt.Fprintf(stdout, "single-use sign-in link for %s, org admin of %s, valid until %s (open it in a browser; it works once):\n",
		u.Email, org.Slug, l.ExpiresAt.UTC().Format(time.RFC3339))
	fmt.Fprintln(stdout, sso.SignInLinkURL(base, secret))
	return nil
}
