package main

import (
	"context"
	"errors"
	"flag"
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

const ssoUsage = `usage: gatehouse sso <add-saml|add-oidc|update|delete|list> [flags]

  add-saml  --org SLUG --name NAME (--metadata-url URL | --metadata-file F) [--allow-idp-initiated]
            [--groups-attribute NAME] [--no-jit] [--domain example.com ...] [--external-url URL]
  add-oidc  --org SLUG --name NAME --issuer URL --client-id ID --client-secret-file F
            [--groups-claim groups] [--no-jit] [--domain example.com ...] [--external-url URL]
  update    --org SLUG --connection ID_OR_NAME [--name NAME] [--domain example.com ... (replaces the list;
            --domain= clears it)] [--jit=true|false]
            SAML: [--allow-idp-initiated=true|false] [--groups-attribute NAME]
                  [--metadata-url URL | --metadata-file F | --refresh-metadata]
            OIDC: [--groups-claim NAME]
  delete    --org SLUG --connection ID_OR_NAME
  list      --org SLUG

Every command takes --db DSN. Secrets are sealed with --secret-key (GATEHOUSE_SECRET_KEY),
or, with SQLite, a key file created next to the database (DB.secret-key, mode 0600).
update takes its changes from the command line only, never from GATEHOUSE_* variables.`

// runSSO manages SSO connections.
func runSSO(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, ssoUsage)
		return errors.New("sso: no subcommand given (add-saml, add-oidc, update, delete, list)")
	}
	switch args[0] {
	case "add-saml":
		return runSSOAdd(ctx, stdout, stderr, store.KindSAML, args[1:])
	case "add-oidc":
		return runSSOAdd(ctx, stdout, stderr, store.KindOIDC, args[1:])
	case "update":
		return runSSOUpdate(ctx, stdout, stderr, args[1:])
	case "delete":
		return runSSODelete(ctx, stdout, stderr, args[1:])
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
	org, err := findOrg(ctx, s, *orgSlug)
	if err != nil {
		return err
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
	org, err := findOrg(ctx, s, *orgSlug)
	if err != nil {
		return err
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

// findConnection resolves --org and --connection for the commands that change a
// connection.
func findConnection(ctx context.Context, s *store.SQL, orgSlug, idOrName string) (core.Org, store.SSOConnection, error) {
	org, err := findOrg(ctx, s, orgSlug)
	if err != nil {
		return core.Org{}, store.SSOConnection{}, err
	}
	c, err := findOrgConnection(ctx, s, org, idOrName)
	return org, c, err
}

// findOrg looks an org up by its slug (or id) for the sso commands.
func findOrg(ctx context.Context, s *store.SQL, slug string) (core.Org, error) {
	org, err := s.GetOrg(ctx, slug)
	if err != nil {
		return core.Org{}, fmt.Errorf("organization %q: %w", slug, err)
	}
	return org, nil
}

// findOrgConnection resolves --connection: a connection id, or else a connection
// name (exact, then case-insensitive) in the org.
func findOrgConnection(ctx context.Context, s *store.SQL, org core.Org, idOrName string) (store.SSOConnection, error) {
	conns, err := s.ListSSOConnections(ctx, org.ID)
	if err != nil {
		return store.SSOConnection{}, err
	}
	for _, c := range conns {
		if c.ID == idOrName {
			return c, nil
		}
	}
	for _, c := range conns {
		if c.Name == idOrName {
			return c, nil
		}
	}
	var folded []store.SSOConnection
	for _, c := range conns {
		if strings.EqualFold(c.Name, idOrName) {
			folded = append(folded, c)
		}
	}
	switch len(folded) {
	case 1:
		return folded[0], nil
	case 0:
		return store.SSOConnection{}, fmt.Errorf("org %s has no SSO connection with id or name %q (see gatehouse sso list): %w", org.Slug, idOrName, core.ErrNotFound)
	}
	return store.SSOConnection{}, fmt.Errorf("several connections of org %s are named %q in different case: give the id", org.Slug, idOrName)
}

// parseCommandLine parses args like parseFlags, but fills only the flags named in
// fromEnv from GATEHOUSE_* variables, and returns the flags given on the command
// line: update must change only what the operator typed.
func parseCommandLine(fs *flag.FlagSet, args []string, fromEnv ...string) (map[string]bool, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, name := range fromEnv {
		if given[name] {
			continue
		}
		key := "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if err := fs.Set(name, v); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	return given, nil
}

func runSSOUpdate(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("sso update", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	orgSlug := fs.String("org", "", "organization slug or id")
	connRef := fs.String("connection", "", "connection id or name")
	name := fs.String("name", "", "new connection name")
	var domains listFlag
	fs.Var(&domains, "domain", "email domain routed to this connection (repeatable; replaces the list; --domain= clears it)")
	jit := fs.Bool("jit", true, "create people without a Gatehouse account at first login")
	allowIdP := fs.Bool("allow-idp-initiated", false, "SAML: accept logins started from the IdP's dashboard")
	groupsAttr := fs.String("groups-attribute", "", "SAML: attribute holding group names (empty: groups and Entra's claims/groups)")
	groupsClaim := fs.String("groups-claim", "", "OIDC: ID token claim holding group names (empty: groups)")
	mdURL := fs.String("metadata-url", "", "SAML: fetch new IdP metadata (signing certificates) from this URL")
	mdFile := fs.String("metadata-file", "", "SAML: read new IdP metadata from this file")
	refresh := fs.Bool("refresh-metadata", false, "SAML: fetch the IdP metadata again from the URL it was last fetched from")
	given, err := parseCommandLine(fs, args, "db", "org")
	if err != nil {
		return err
	}
	if *orgSlug == "" || *connRef == "" {
		return errors.New("--org and --connection are required")
	}
	changes := 0
	for _, f := range []string{"name", "domain", "jit", "allow-idp-initiated", "groups-attribute", "groups-claim", "metadata-url", "metadata-file", "refresh-metadata"} {
		if given[f] {
			changes++
		}
	}
	if changes == 0 {
		return errors.New("nothing to change: give at least one of --name, --domain, --jit, --allow-idp-initiated, --groups-attribute, --groups-claim, --metadata-url, --metadata-file, --refresh-metadata")
	}
	metadataSources := 0
	for _, f := range []string{"metadata-url", "metadata-file", "refresh-metadata"} {
		if given[f] {
			metadataSources++
		}
	}
	if metadataSources > 1 {
		return errors.New("give at most one of --metadata-url, --metadata-file and --refresh-metadata")
	}
	if given["name"] && strings.TrimSpace(*name) == "" {
		return errors.New("--name must not be empty")
	}
	s, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	org, conn, err := findConnection(ctx, s, *orgSlug, *connRef)
	if err != nil {
		return err
	}
	for _, f := range []string{"allow-idp-initiated", "groups-attribute", "metadata-url", "metadata-file", "refresh-metadata"} {
		if given[f] && conn.Kind != store.KindSAML {
			return fmt.Errorf("--%s applies to SAML connections; %q is %s", f, conn.Name, strings.ToUpper(string(conn.Kind)))
		}
	}
	if given["groups-claim"] && conn.Kind != store.KindOIDC {
		return fmt.Errorf("--groups-claim applies to OIDC connections; %q is SAML (use --groups-attribute)", conn.Name)
	}
	// Fetch and check new metadata before the transaction: bad input changes nothing.
	var metadata []byte
	var metadataFrom string
	switch {
	case given["metadata-file"]:
		if metadata, err = os.ReadFile(*mdFile); err != nil {
			return fmt.Errorf("read metadata: %w", err)
		}
	case given["metadata-url"]:
		if metadata, err = fetchMetadata(ctx, *mdURL); err != nil {
			return err
		}
		metadataFrom = *mdURL
	case given["refresh-metadata"] && *refresh:
		if conn.SAML.IdPMetadataURL == "" {
			return fmt.Errorf("connection %q was set up from a metadata file: give --metadata-url or --metadata-file", conn.Name)
		}
		if metadata, err = fetchMetadata(ctx, conn.SAML.IdPMetadataURL); err != nil {
			return err
		}
	}
	if metadata != nil {
		check := *conn.SAML
		if err := sso.RefreshSAMLMetadata(&check, metadata, metadataFrom); err != nil {
			return err
		}
	}
	before := conn
	var oldFP []string
	if conn.SAML != nil {
		oldFP = sso.IdPCertificateFingerprints(conn.SAML.IdPMetadataXML)
	}
	up, err := s.UpdateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem, Name: "cli"}, org.ID, conn.ID, func(c *store.SSOConnection) error {
		if given["name"] {
			c.Name = strings.TrimSpace(*name)
		}
		if given["domain"] {
			c.Domains = append([]string{}, domains...)
		}
		if given["jit"] {
			c.JIT = *jit
		}
		if c.SAML != nil {
			if given["allow-idp-initiated"] {
				c.SAML.AllowIdPInitiated = *allowIdP
			}
			if given["groups-attribute"] {
				c.SAML.GroupsAttribute = strings.TrimSpace(*groupsAttr)
			}
			if metadata != nil {
				if err := sso.RefreshSAMLMetadata(c.SAML, metadata, metadataFrom); err != nil {
					return err
				}
			}
		}
		if c.OIDC != nil && given["groups-claim"] {
			c.OIDC.GroupsClaim = strings.TrimSpace(*groupsClaim)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "updated %s connection %q (%s) of org %s, now version %d\n", strings.ToUpper(string(up.Kind)), up.Name, up.ID, org.Slug, up.Version)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	show := func(what string, from, to any) {
		if fmt.Sprint(from) != fmt.Sprint(to) {
			fmt.Fprintf(w, "  %s\t%v\t->  %v\n", what, from, to)
		} else {
			fmt.Fprintf(w, "  %s\t%v\t(unchanged)\n", what, to)
		}
	}
	orDefault := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	if given["name"] {
		show("name", before.Name, up.Name)
	}
	if given["domain"] {
		show("domains", "["+strings.Join(before.Domains, ", ")+"]", "["+strings.Join(up.Domains, ", ")+"]")
	}
	if given["jit"] {
		show("just-in-time creation", before.JIT, up.JIT)
	}
	if up.SAML != nil {
		if given["allow-idp-initiated"] {
			show("IdP-initiated login", before.SAML.AllowIdPInitiated, up.SAML.AllowIdPInitiated)
		}
		if given["groups-attribute"] {
			show("groups attribute", orDefault(before.SAML.GroupsAttribute, "(default)"), orDefault(up.SAML.GroupsAttribute, "(default)"))
		}
		if metadata != nil {
			newFP := sso.IdPCertificateFingerprints(up.SAML.IdPMetadataXML)
			show("IdP signing certificates (SHA-256)", strings.Join(oldFP, " "), strings.Join(newFP, " "))
		}
	}
	if up.OIDC != nil && given["groups-claim"] {
		show("groups claim", orDefault(before.OIDC.GroupsClaim, "groups"), orDefault(up.OIDC.GroupsClaim, "groups"))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Running servers use the change at their next request to this connection.")
	return nil
}

func runSSODelete(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("sso delete", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	orgSlug := fs.String("org", "", "organization slug or id")
	connRef := fs.String("connection", "", "connection id or name")
	if _, err := parseCommandLine(fs, args, "db", "org"); err != nil {
		return err
	}
	if *orgSlug == "" || *connRef == "" {
		return errors.New("--org and --connection are required")
	}
	s, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	org, conn, err := findConnection(ctx, s, *orgSlug, *connRef)
	if err != nil {
		return err
	}
	d, err := s.DeleteSSOConnection(ctx, core.Actor{Kind: core.ActorSystem, Name: "cli"}, org.ID, conn.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %s connection %q (%s) of org %s, and with it:\n", strings.ToUpper(string(conn.Kind)), d.Connection.Name, conn.ID, org.Slug)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	domains := ""
	if len(d.Connection.Domains) > 0 {
		domains = " (" + strings.Join(d.Connection.Domains, ", ") + ")"
	}
	fmt.Fprintf(w, "  email domains\t%d%s\n", d.Domains, domains)
	fmt.Fprintf(w, "  sessions (signed out)\t%d\n", d.Sessions)
	fmt.Fprintf(w, "  IdP groups\t%d\n", d.IdPGroups)
	fmt.Fprintf(w, "  IdP group memberships\t%d\n", d.IdPGroupMembers)
	fmt.Fprintf(w, "  group mappings\t%d\n", d.Mappings)
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "User groups that came only through this connection's IdP groups no longer apply; users themselves are kept.")
	return nil
}
