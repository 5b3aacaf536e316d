package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

var tokenCommands = map[string]command{
	"create": {"create a SCIM or API bearer token and print its secret once", runTokenCreate},
}

// scimBasePath is where the SCIM service answers; an IdP is configured with it.
const scimBasePath = "/scim/v2"

func runTokenCreate(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("token create", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	orgSlug := fs.String("org", "", "the organization's slug or id (required)")
	kind := fs.String("kind", "", "scim (an IdP provisions a SCIM directory) or api (an application asks for decisions) (required)")
	name := fs.String("name", "", "the token's name; for scim also the SCIM directory it provisions, created if new (required)")
	externalURL := fs.String("external-url", "", "the server's public base URL, as given to serve: the SCIM base URL printed for --kind scim is built from it (required for scim)")
	var domains listFlag
	fs.Var(&domains, "domain", "scim: an email domain of the directory's users (repeatable or comma-separated; replaces the directory's list)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required([2]string{"org", *orgSlug}, [2]string{"kind", *kind}, [2]string{"name", *name}); err != nil {
		return err
	}
	k := store.TokenKind(*kind)
	if k != store.TokenSCIM && k != store.TokenAPI {
		return &usageError{msg: fmt.Sprintf("--kind %q: want scim or api", *kind)}
	}
	if k != store.TokenSCIM && len(domains) > 0 {
		return &usageError{msg: "--domain applies to --kind scim (a directory's email domains)"}
	}
	// Checked before anything is written: bad input changes nothing. An IdP needs
	// the absolute SCIM base URL; a bare path pasted into Okta or Entra fails there,
	// so a SCIM token needs the external URL, as sso add-* does.
	var scimBase string
	if k == store.TokenSCIM && *externalURL == "" {
		_, err := sso.ParseExternalURL("") // the message sso add-* gives
		return &usageError{msg: err.Error()}
	}
	if *externalURL != "" {
		pub, err := parseExternalURL(*externalURL)
		if err != nil {
			return err
		}
		scimBase = pub.String() + scimBasePath
	}
	return withStore(ctx, *dsn, func(st *store.SQL) error {
		org, err := st.GetOrg(ctx, *orgSlug)
		if err != nil {
			return friendly(err, fmt.Sprintf("organization %q does not exist", *orgSlug), "")
		}
		o := ops.New(st)
		var nt ops.NewToken
		if k == store.TokenSCIM {
			dt, err := o.ProvisionDirectory(ctx, cliActor, org.ID, *name, *name, domains...)
			if err != nil {
				return friendly(err, "", "")
			}
			fmt.Fprintf(stdout, "SCIM directory %q of organization %s (id %s)\n", dt.Directory.Name, org.Slug, dt.Directory.ID)
			if len(dt.Directory.Domains) > 0 {
				fmt.Fprintf(stdout, "Email domains: %s\n", strings.Join(dt.Directory.Domains, ", "))
			}
			fmt.Fprintf(stdout, "SCIM base URL: %s\n", scimBase)
			nt = dt.Token
		} else if nt, err = o.CreateAPIToken(ctx, cliActor, org.ID, *name); err != nil {
			return friendly(err, "", "")
		}
		tok, secret := nt.Token, nt.Secret
		fmt.Fprintf(stdout, "%s token %q created, id %s\n", strings.ToUpper(string(k)), tok.Name, tok.ID)
		fmt.Fprintln(stdout, "secret (shown only this once; send it as \"Authorization: Bearer <secret>\"):")
		fmt.Fprintln(stdout, secret)
		return nil
	})
}
