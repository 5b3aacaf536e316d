package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
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
            [--no-jit] [--domain example.com ...] [--external-url URL] [login settings]
  add-oidc  --org SLUG --name NAME --issuer URL --client-id ID --client-secret-file F
            [--no-jit] [--domain example.com ...] [--external-url URL] [login settings]
  update    --org SLUG --connection ID_OR_NAME [--name NAME] [--domain example.com ... (replaces the list;
            --domain= clears it)] [--jit=true|false] [--directory NAME (--directory= unlinks)] [login settings]
            SAML: [--allow-idp-initiated=true|false] [--metadata-url URL | --metadata-file F | --refresh-metadata]
  delete    --org SLUG --connection ID_OR_NAME
  list      --org SLUG [--external-url URL]

login settings (add and update):
  --preset okta|entra|adfs|google|onelogin|jumpcloud|keycloak|ping|auth0   fills the mapping (and OIDC
            scopes) for that IdP; the flags below override it; --preset= clears it
  SAML: --email-attribute, --username-attribute, --given-name-attribute, --family-name-attribute,
        --display-name-attribute, --groups-attribute NAME[,NAME...] (tried in order; "NameID" is the
        subject; empty: the defaults)   --single-logout=true|false
  OIDC: --email-claim, --username-claim, --given-name-claim, --family-name-claim, --display-name-claim,
        --groups-claim NAME[,NAME...]   --scope S (beyond openid email profile; repeatable)
        --hosted-domain D (Google: require hd; repeatable)   --userinfo=true|false
  both: --group-values as-sent|last-segment|cn   --clock-skew 2m (at most 5m)

Every command takes --db DSN. Secrets are sealed with --secret-key (GATEHOUSE_SECRET_KEY),
or, with SQLite, a key file created next to the database (DB.secret-key, mode 0600).
update takes its changes from the command line only, never from GATEHOUSE_* variables.`

// mappingFlags name the mapping flags: the SAML attribute and OIDC claim flag
// of each field.
var mappingFlags = []struct{ field, saml, oidc string }{
	{"email", "email-attribute", "email-claim"},
	{"user name", "username-attribute", "username-claim"},
	{"given name", "given-name-attribute", "given-name-claim"},
	{"family name", "family-name-attribute", "family-name-claim"},
	{"display name", "display-name-attribute", "display-name-claim"},
	{"groups", "groups-attribute", "groups-claim"},
}

// loginFlags are the login settings flags of add-saml, add-oidc and update.
type loginFlags struct {
	preset        *string
	names         map[string]*listFlag // flag name → names given
	groupValues   *string
	scopes        listFlag
	hostedDomains listFlag
	userInfo      *bool
	singleLogout  *bool
	clockSkew     *time.Duration
}

// samlOnly and oidcOnly are the login settings flags of one kind.
var (
	samlOnly = []string{"single-logout"}
	oidcOnly = []string{"scope", "hosted-domain", "userinfo"}
)

// addLoginFlags registers the login settings flags of the given kinds.
func addLoginFlags(fs *flag.FlagSet, kinds ...store.SSOKind) *loginFlags {
	lf := &loginFlags{names: map[string]*listFlag{}}
	lf.preset = fs.String("preset", "", "identity provider whose defaults fill the mapping: "+strings.Join(sso.Presets(), ", "))
	for _, k := range kinds {
		for _, m := range mappingFlags {
			l := new(listFlag)
			if k == store.KindSAML {
				lf.names[m.saml] = l
				fs.Var(l, m.saml, "SAML attribute(s) holding the "+m.field+", tried in order (empty: the defaults)")
			} else {
				lf.names[m.oidc] = l
				fs.Var(l, m.oidc, "OIDC claim(s) holding the "+m.field+", tried in order (empty: the defaults)")
			}
		}
		if k == store.KindSAML {
			lf.singleLogout = fs.Bool("single-logout", true, "SAML: single logout when the IdP's metadata offers it")
		} else {
			fs.Var(&lf.scopes, "scope", "OIDC: scope to ask for beyond openid email profile (repeatable; okta needs groups)")
			fs.Var(&lf.hostedDomains, "hosted-domain", "OIDC: Google Workspace domain the hd claim must name (repeatable)")
			lf.userInfo = fs.Bool("userinfo", true, "OIDC: read claims the ID token lacks from the userinfo endpoint")
		}
	}
	lf.groupValues = fs.String("group-values", "", "group values as-sent, last-segment (Keycloak paths) or cn (LDAP DNs)")
	lf.clockSkew = fs.Duration("clock-skew", 0, "how far the IdP's clock may be off (at most 5m)")
	return lf
}

// settings turns the flags given into ops.SSOSettings for a connection of kind,
// and says how many were given. Flags of the other kind are refused.
func (lf *loginFlags) settings(given map[string]bool, kind store.SSOKind) (ops.SSOSettings, int, error) {
	var st ops.SSOSettings
	n := 0
	wrong := samlOnly
	if kind == store.KindSAML {
		wrong = oidcOnly
	}
	for _, f := range wrong {
		if given[f] {
			return st, 0, fmt.Errorf("--%s does not apply to %s connections", f, strings.ToUpper(string(kind)))
		}
	}
	if given["preset"] {
		st.Preset, n = lf.preset, n+1
	}
	fields := []**[]string{&st.Email, &st.UserName, &st.GivenName, &st.FamilyName, &st.DisplayName, &st.Groups}
	for i, m := range mappingFlags {
		name, other := m.oidc, m.saml
		if kind == store.KindSAML {
			name, other = m.saml, m.oidc
		}
		if given[other] {
			return st, 0, fmt.Errorf("--%s does not apply to %s connections (use --%s)", other, strings.ToUpper(string(kind)), name)
		}
		if given[name] {
			v := []string(*lf.names[name])
			*fields[i], n = &v, n+1
		}
	}
	if given["group-values"] {
		st.GroupValues, n = lf.groupValues, n+1
	}
	if given["clock-skew"] {
		st.ClockSkew, n = lf.clockSkew, n+1
	}
	if given["scope"] {
		v := []string(lf.scopes)
		st.ExtraScopes, n = &v, n+1
	}
	if given["hosted-domain"] {
		v := []string(lf.hostedDomains)
		st.HostedDomains, n = &v, n+1
	}
	if given["userinfo"] {
		st.UserInfo, n = lf.userInfo, n+1
	}
	if given["single-logout"] {
		st.SingleLogout, n = lf.singleLogout, n+1
	}
	return st, n, nil
}

// setFlags are the flags given on the command line or filled from the
// environment (parseFlags fills without marking them).
func setFlags(fs *flag.FlagSet) map[string]bool {
	given := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Value.String() != f.DefValue {
			given[f.Name] = true
		}
	})
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return given
}

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
		mdURL, mdFile                *string
		allowIdP                     *bool
		issuer, clientID, secretFile *string
	)
	if kind == store.KindSAML {
		mdURL = fs.String("metadata-url", "", "IdP metadata URL (Okta: Sign On tab; Entra: App Federation Metadata Url); serve refreshes it on a schedule")
		mdFile = fs.String("metadata-file", "", "IdP metadata XML file")
		allowIdP = fs.Bool("allow-idp-initiated", false, "accept logins started from the IdP's dashboard")
	} else {
		issuer = fs.String("issuer", "", "OpenID issuer URL")
		clientID = fs.String("client-id", "", "client id of the app registered at the IdP")
		secretFile = fs.String("client-secret-file", "", "file holding the client secret")
	}
	lf := addLoginFlags(fs, kind)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	settings, _, err := lf.settings(setFlags(fs), kind)
	if err != nil {
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
	jit := !*noJIT
	in := ops.SSOChange{Name: name, Domains: (*[]string)(&domains), JIT: &jit, SSOSettings: settings}
	if kind == store.KindSAML {
		in.AllowIdPInitiated = allowIdP
		if *mdFile != "" {
			in.MetadataXML = idpMetadata
		} else {
			in.MetadataURL = mdURL
		}
	} else {
		in.Issuer, in.ClientID, in.ClientSecret = issuer, clientID, &secret
	}
	o := &ops.Ops{Store: s, SSOSecrets: box, SSONetwork: cliNetwork}
	setup, err := o.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem, Name: "cli"}, org.ID, kind, in)
	if err != nil {
		return err
	}
	if kind == store.KindSAML {
		warnServeNetwork(ctx, stderr, *mdURL)
	} else {
		warnServeNetwork(ctx, stderr, *issuer)
	}
	conn := setup.SSOConnection
	fmt.Fprintf(stdout, "created %s connection %q for org %s\nconnection id: %s\n", strings.ToUpper(string(kind)), conn.Name, org.Slug, conn.ID)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nPaste into your identity provider:")
	printEndpoints(w, base, conn)
	fmt.Fprintln(w, "\nLogin settings (change with gatehouse sso update):")
	printSettings(w, conn)
	if len(conn.Certificates) > 0 {
		fmt.Fprintln(w, "\nIdP signing certificates (compare with the IdP's admin page):")
		printCertificates(w, conn.Certificates, time.Now())
	}
	return w.Flush()
}

// cliNetwork is the network policy of the CLI's fetches from identity
// providers. The operator who runs it can read the database and the secret
// key already, so the server-side request forgery the serve policy stops is
// no threat here: IdPs on loopback and private networks may be named.
// Link-local addresses (cloud metadata) stay refused: no IdP lives there.
var cliNetwork = sso.Network{AllowLoopback: true, AllowPrivate: true}

// warnServeNetwork tells the operator when serve, with its default policy,
// would refuse the IdP the CLI just reached: logins and metadata refreshes
// would then fail until serve is started with the flag the reason names.
func warnServeNetwork(ctx context.Context, stderr io.Writer, idpURL string) {
	if idpURL == "" {
		return
	}
	if err := (sso.Network{}).CheckURL(ctx, idpURL); err != nil {
		fmt.Fprintf(stderr, "note: serve refuses this identity provider unless allowed (%v); logins and metadata refreshes through it need that flag on serve\n", err)
	}
}

// printEndpoints writes the values an IdP admin pastes.
func printEndpoints(w io.Writer, base *url.URL, c store.SSOConnection) {
	if c.Kind == store.KindSAML {
		ep := sso.SAMLEndpointsFor(base, c.ID)
		fmt.Fprintf(w, "  SP entity ID (Okta: Audience URI; Entra: Identifier)\t%s\n", ep.EntityID)
		fmt.Fprintf(w, "  ACS URL (Okta: Single sign-on URL; Entra: Reply URL)\t%s\n", ep.ACS)
		fmt.Fprintf(w, "  SP metadata URL\t%s\n", ep.MetadataURL)
		fmt.Fprintf(w, "  Sign-on URL (SP-initiated login; Entra: Sign on URL)\t%s\n", ep.LoginURL)
		fmt.Fprintf(w, "  Single logout URL (Okta: Single Logout URL; Entra: Logout URL)\t%s\n", ep.SLO)
	} else {
		fmt.Fprintf(w, "  Redirect URI (Okta: Sign-in redirect URI; Entra: Web redirect URI)\t%s\n", sso.OIDCRedirectURI(base, c.ID))
		fmt.Fprintf(w, "  Initiate login URI\t%s/sso/oidc/%s/login\n", base.String(), c.ID)
	}
	if len(c.Domains) > 0 {
		fmt.Fprintf(w, "  Email domains routed here by %s/sso/login\t%s\n", base.String(), strings.Join(c.Domains, ", "))
	}
}

// printSettings writes a connection's login settings, defaults marked.
func printSettings(w io.Writer, c store.SSOConnection) {
	for _, st := range sso.Describe(c) {
		v := st.Value
		if st.Default {
			v += "  (default)"
		}
		fmt.Fprintf(w, "  %s\t%s\n", st.Name, v)
	}
}

// printCertificates writes IdP certificates with their state and expiry.
func printCertificates(w io.Writer, certs []store.IdPCertificate, now time.Time) {
	for _, c := range certs {
		state := "trusted"
		if !c.RetiredAt.IsZero() {
			state = "retired " + c.RetiredAt.Format(time.DateOnly)
		}
		expiry := "no expiry given"
		if !c.NotAfter.IsZero() {
			expiry = "valid until " + c.NotAfter.Format(time.DateOnly)
			if c.ExpiresWithin(now, sso.DefaultCertificateWarning) {
				expiry += fmt.Sprintf("  WARNING: expires in %d days", max(0, int(c.NotAfter.Sub(now).Hours()/24)))
			}
		}
		id := c.Fingerprint
		if c.KeyID != "" {
			id = "kid " + c.KeyID + "  " + id
		}
		fmt.Fprintf(w, "  %s\t%s, %s\n", id, state, expiry)
	}
}

func runSSOList(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("sso list", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	orgSlug := fs.String("org", "", "organization slug or id")
	external := fs.String("external-url", "", "URL browsers and IdPs reach Gatehouse at, to print the URLs to paste (optional)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *orgSlug == "" {
		return errors.New("--org is required")
	}
	var base *url.URL
	if *external != "" {
		var err error
		if base, err = sso.ParseExternalURL(*external); err != nil {
			return err
		}
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
	if err := w.Flush(); err != nil {
		return err
	}
	now := time.Now()
	for _, c := range conns {
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(w, "\n%s %q (%s):\n", strings.ToUpper(string(c.Kind)), c.Name, c.ID)
		if base != nil {
			printEndpoints(w, base, c)
		}
		printSettings(w, c)
		certs, err := s.ListIdPCertificates(ctx, org.ID, c.ID)
		if err != nil {
			return err
		}
		if len(certs) > 0 {
			fmt.Fprintln(w, "  IdP certificates / keys:")
			printCertificates(w, certs, now)
		}
		if r, err := s.GetSSORefresh(ctx, org.ID, c.ID); err == nil && !r.LastAttemptAt.IsZero() {
			last := "ok"
			if r.LastError != "" {
				last = fmt.Sprintf("failed %d time(s): %s", r.Failures, r.LastError)
			}
			fmt.Fprintf(w, "  metadata refresh\tlast %s (%s), next %s\n", r.LastAttemptAt.Local().Format(time.DateTime), last, r.NextAt.Local().Format(time.DateTime))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
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
	directory := fs.String("directory", "", "link a SCIM directory (id or name): the connection signs in the users it owns; --directory= unlinks")
	allowIdP := fs.Bool("allow-idp-initiated", false, "SAML: accept logins started from the IdP's dashboard")
	mdURL := fs.String("metadata-url", "", "SAML: fetch new IdP metadata (signing certificates) from this URL")
	mdFile := fs.String("metadata-file", "", "SAML: read new IdP metadata from this file")
	refresh := fs.Bool("refresh-metadata", false, "SAML: fetch the IdP metadata again from the URL it was last fetched from")
	lf := addLoginFlags(fs, store.KindSAML, store.KindOIDC)
	given, err := parseCommandLine(fs, args, "db", "org")
	if err != nil {
		return err
	}
	if *orgSlug == "" || *connRef == "" {
		return errors.New("--org and --connection are required")
	}
	changes := 0
	for f := range given {
		if f != "db" && f != "org" && f != "connection" {
			changes++
		}
	}
	if changes == 0 {
		return errors.New("nothing to change: give at least one of --name, --domain, --jit, --directory, --allow-idp-initiated, --metadata-url, --metadata-file, --refresh-metadata, or a login setting (see gatehouse sso -h)")
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
	for _, f := range []string{"allow-idp-initiated", "metadata-url", "metadata-file", "refresh-metadata"} {
		if given[f] && conn.Kind != store.KindSAML {
			return fmt.Errorf("--%s applies to SAML connections; %q is %s", f, conn.Name, strings.ToUpper(string(conn.Kind)))
		}
	}
	settings, nSettings, err := lf.settings(given, conn.Kind)
	if err != nil {
		return fmt.Errorf("%w; %q is %s", err, conn.Name, strings.ToUpper(string(conn.Kind)))
	}
	in := ops.SSOChange{SSOSettings: settings, RefreshMetadata: given["refresh-metadata"] && *refresh}
	if given["name"] {
		in.Name = name
	}
	if given["domain"] {
		d := append([]string{}, domains...)
		in.Domains = &d
	}
	if given["jit"] {
		in.JIT = jit
	}
	if given["directory"] {
		in.Directory = directory
	}
	if given["allow-idp-initiated"] {
		in.AllowIdPInitiated = allowIdP
	}
	switch {
	case given["metadata-file"]:
		if in.MetadataXML, err = os.ReadFile(*mdFile); err != nil {
			return fmt.Errorf("read metadata: %w", err)
		}
		if len(in.MetadataXML) == 0 {
			return fmt.Errorf("metadata file %s is empty", *mdFile)
		}
	case given["metadata-url"]:
		in.MetadataURL = mdURL
	}
	if nSettings == 0 && in.Name == nil && in.Domains == nil && in.JIT == nil && in.Directory == nil && in.AllowIdPInitiated == nil &&
		in.MetadataXML == nil && in.MetadataURL == nil && !in.RefreshMetadata {
		return errors.New("nothing to change")
	}
	before := conn
	var oldFP []string
	if conn.SAML != nil {
		oldFP = sso.IdPCertificateFingerprints(conn.SAML.IdPMetadataXML)
	}
	o := &ops.Ops{Store: s, SSONetwork: cliNetwork}
	setup, err := o.UpdateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem, Name: "cli"}, org.ID, conn.ID, in)
	if err != nil {
		return err
	}
	if given["metadata-url"] {
		warnServeNetwork(ctx, stderr, *mdURL)
	}
	up := setup.SSOConnection
	metadata := setup.MetadataChanged
	fmt.Fprintf(stdout, "updated %s connection %q (%s) of org %s, now version %d\n", strings.ToUpper(string(up.Kind)), up.Name, up.ID, org.Slug, up.Version)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	show := func(what string, from, to any) {
		if fmt.Sprint(from) != fmt.Sprint(to) {
			fmt.Fprintf(w, "  %s\t%v\t->  %v\n", what, from, to)
		} else {
			fmt.Fprintf(w, "  %s\t%v\t(unchanged)\n", what, to)
		}
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
	if given["directory"] {
		show("linked directory", dirName(ctx, s, org.ID, before.DirectoryID), dirName(ctx, s, org.ID, up.DirectoryID))
	}
	if up.SAML != nil {
		if given["allow-idp-initiated"] {
			show("IdP-initiated login", before.SAML.AllowIdPInitiated, up.SAML.AllowIdPInitiated)
		}
		if metadata {
			newFP := sso.IdPCertificateFingerprints(up.SAML.IdPMetadataXML)
			show("IdP signing certificates (SHA-256)", strings.Join(oldFP, " "), strings.Join(newFP, " "))
		}
	}
	if nSettings > 0 {
		was := map[string]string{}
		for _, st := range sso.Describe(before) {
			was[st.Name] = st.Value
		}
		for _, st := range sso.Describe(up) {
			show(st.Name, was[st.Name], st.Value)
		}
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
	d, err := (&ops.Ops{Store: s}).DeleteSSOConnection(ctx, core.Actor{Kind: core.ActorSystem, Name: "cli"}, org.ID, conn.ID)
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
	fmt.Fprintf(w, "  users it created (now local users)\t%d\n", d.Users)
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "User groups that came only through this connection's IdP groups no longer apply; users themselves are kept (an org admin may hand local users to a directory).")
	return nil
}

// dirName names a linked directory for the CLI's output: its name, or "none".
func dirName(ctx context.Context, s *store.SQL, orgID, id string) string {
	if id == "" {
		return "none"
	}
	if d, err := s.GetDirectory(ctx, orgID, id); err == nil {
		return d.Name
	}
	return id
}
