package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// listFlag is a repeatable string flag (--domain a.com --domain b.com), also
// accepting a comma-separated list (from GATEHOUSE_DOMAIN).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

const ssoUsage = `usage: gatehouse sso <add-saml|add-oidc|list> [flags]

  add-saml  --org SLUG --name NAME (--metadata-url URL | --metadata-file F) [--allow-idp-initiated]
            [--groups-attribute NAME] [--no-jit] [--domain example.com ...] [--external-url URL]
  add-oidc  --org SLUG --name NAME --issuer URL --client-id ID --client-secret-file F
            [--groups-claim groups] [--no-jit] [--domain example.com ...] [--external-url URL]
  list      --org SLUG

Every command takes --db DSN. Secrets are sealed with --secret-key (GATEHOUSE_SECRET_KEY),
or, with SQLite, a key file created next to the database (DB.secret-key, mode 0600).`

// runSSO manages SSO connections.
func runSSO(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, ssoUsage)
		return errors.New("sso: no subcommand given (add-saml, add-oidc, list)")
	}
	switch args[0] {
	case "add-saml":
		return runSSOAdd(ctx, stdout, stderr, store.KindSAML, args[1:])
	case "add-oidc":
		return runSSOAdd(ctx, stdout, stderr, store.KindOIDC, args[1:])
	case "list":
		return runSSOList(ctx, stdout, stderr, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, ssoUsage)
		return nil
	}
	fmt.Fprintln(stderr, ssoUsage)
	return fmt.Errorf("sso: unknown subcommand %q", args[0])
}

func runSSOAdd(ctx context.Context, stdout, stderr io.Writer, kind store.SSOKind, args []string) error {
	fs := newFlags("sso add-"+string(kind), stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	orgSlug := fs.String("org", "", "organization slug or id")
	name := fs.String("name", "", "connection name, unique in the org")
	external := fs.String("external-url", "", "URL browsers and IdPs reach Gatehouse at (as given to serve)")
	secretKey := fs.String("secret-key", "", "32-byte key sealing connection secrets (hex or base64)")
	noJIT := fs.Bool("no-jit", false, "refuse people without a Gatehouse account instead of creating them at first login")
	var domains listFlag
	fs.Var(&domains, "domain", "email domain routed to this connection by /sso/login (repeatable)")
	var (
		mdURL, mdFile, groupsAttr    *string
		allowIdP                     *bool
		issuer, clientID, secretFile *string
		groupsClaim                  *string
	)
	if kind == store.KindSAML {
		mdURL = fs.String("metadata-url", "", "IdP metadata URL (Okta: Sign On tab; Entra: App Federation Metadata Url)")
		mdFile = fs.String("metadata-file", "", "IdP metadata XML file")
		allowIdP = fs.Bool("allow-idp-initiated", false, "accept logins started from the IdP's dashboard")
		groupsAttr = fs.String("groups-attribute", "", "attribute holding group names (default: groups and Entra's claims/groups)")
	} else {
		issuer = fs.String("issuer", "", "OpenID issuer URL")
		clientID = fs.String("client-id", "", "client id of the app registered at the IdP")
		secretFile = fs.String("client-secret-file", "", "file holding the client secret")
		groupsClaim = fs.String("groups-claim", "groups", "ID token claim holding group names")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *orgSlug == "" || strings.TrimSpace(*name) == "" {
		return errors.New("--org and --name are required")
	}
	base, err := sso.ParseExternalURL(*external)
	if err != nil {
		return err
	}
	// Read every input before touching the database: bad input changes nothing.
	var idpMetadata []byte
	var secret string
	if kind == store.KindSAML {
		if (*mdURL == "") == (*mdFile == "") {
			return errors.New("give exactly one of --metadata-url and --metadata-file")
		}
		if *mdFile != "" {
			if idpMetadata, err = os.ReadFile(*mdFile); err != nil {
				return fmt.Errorf("read metadata: %w", err)
			}
		} else if idpMetadata, err = fetchMetadata(ctx, *mdURL); err != nil {
			return err
		}
	} else {
		if *issuer == "" || *clientID == "" || *secretFile == "" {
			return errors.New("--issuer, --client-id and --client-secret-file are required")
		}
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("read client secret: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	key, err := sso.LoadSecretKey(*secretKey, *dsn)
	if err != nil {
		return err
	}
	box, err := sso.NewBox(key)
	if err != nil {
		return err
	}
	s, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	org, err := s.GetOrg(ctx, *orgSlug)
	if err != nil {
		return fmt.Errorf("organization %q: %w", *orgSlug, err)
	}
	conn := store.SSOConnection{ID: store.NewID(), OrgID: org.ID, Name: *name, Kind: kind, JIT: !*noJIT, Domains: domains}
	if kind == store.KindSAML {
		if conn.SAML, err = sso.NewSAMLConfig(box, conn.ID, idpMetadata, *mdURL); err != nil {
			return err
		}
		conn.SAML.AllowIdPInitiated = *allowIdP
		conn.SAML.GroupsAttribute = strings.TrimSpace(*groupsAttr)
	} else {
		if conn.OIDC, err = sso.NewOIDCConfig(ctx, nil, box, conn.ID, *issuer, *clientID, secret, strings.TrimSpace(*groupsClaim)); err != nil {
			return err
		}
	}
	conn, err = s.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem, Name: "cli"}, conn)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s connection %q for org %s\nconnection id: %s\n", strings.ToUpper(string(kind)), conn.Name, org.Slug, conn.ID)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	if kind == store.KindSAML {
		ep := sso.SAMLEndpointsFor(base, conn.ID)
		fmt.Fprintln(w, "\nPaste into your identity provider:")
		fmt.Fprintf(w, "  SP entity ID (Okta: Audience URI; Entra: Identifier)\t%s\n", ep.EntityID)
		fmt.Fprintf(w, "  ACS URL (Okta: Single sign-on URL; Entra: Reply URL)\t%s\n", ep.ACS)
		fmt.Fprintf(w, "  SP metadata URL\t%s\n", ep.MetadataURL)
		fmt.Fprintf(w, "  Sign-on URL (SP-initiated login; Entra: Sign on URL)\t%s\n", ep.LoginURL)
	} else {
		fmt.Fprintln(w, "\nPaste into your identity provider:")
		fmt.Fprintf(w, "  Redirect URI (Okta: Sign-in redirect URI; Entra: Web redirect URI)\t%s\n", sso.OIDCRedirectURI(base, conn.ID))
		fmt.Fprintf(w, "  Initiate login URI\t%s/sso/oidc/%s/login\n", base.String(), conn.ID)
	}
	if len(conn.Domains) > 0 {
		fmt.Fprintf(w, "  Email domains routed here by %s/sso/login\t%s\n", base.String(), strings.Join(conn.Domains, ", "))
	}
	return w.Flush()
}

// fetchMetadata downloads IdP metadata, with a timeout and a size limit.
func fetchMetadata(ctx context.Context, u string) ([]byte, error) {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return nil, fmt.Errorf("metadata URL %q must be http(s)", u)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("metadata URL: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch metadata: %s answered %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 5<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch metadata: %w", err)
	}
	return b, nil
}

func runSSOList(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("sso list", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	orgSlug := fs.String("org", "", "organization slug or id")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *orgSlug == "" {
		return errors.New("--org is required")
	}
	s, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	org, err := s.GetOrg(ctx, *orgSlug)
	if err != nil {
		return fmt.Errorf("organization %q: %w", *orgSlug, err)
	}
	conns, err := s.ListSSOConnections(ctx, org.ID)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKIND\tNAME\tJIT\tIDP-INITIATED\tDOMAINS")
	for _, c := range conns {
		idp := "-"
		if c.SAML != nil {
			idp = fmt.Sprint(c.SAML.AllowIdPInitiated)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\n", c.ID, c.Kind, c.Name, c.JIT, idp, strings.Join(c.Domains, ","))
	}
	return w.Flush()
}
