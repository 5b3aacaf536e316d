package sso

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// oidcConnector is one OIDC connection's relying party: the provider found by
// discovery, the OAuth2 client, and the ID token verifier.
type oidcConnector struct {
	id       string
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	mapping  store.ClaimMapping // with the defaults filled in
	// hostedDomains, when set, are the Google Workspace domains an hd claim must name.
	hostedDomains []string
	userInfo      bool // call the userinfo endpoint for claims the ID token lacks
	client        *http.Client
	domains       []string // the connection's email domains, owned by the org
}

var _ RedirectConnector = (*oidcConnector)(nil)

func (c *oidcConnector) ConnectionID() string { return c.id }

// oidcRedirectURL is a connection's callback under the external URL.
func oidcRedirectURL(base *url.URL, connID string) url.URL {
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + "/sso/oidc/" + url.PathEscape(connID) + "/callback"
	u.RawQuery, u.Fragment = "", ""
	return u
}

// newOIDCConnector discovers the provider and builds the relying party. Discovery
// checks that the provider names itself with the configured issuer.
func newOIDCConnector(ctx context.Context, conn store.SSOConnection, base *url.URL, box *Box, client *http.Client, now func() time.Time) (*oidcConnector, error) {
	cfg := conn.OIDC
	if cfg == nil {
		return nil, errors.New("not an OIDC connection")
	}
	secret, err := box.Open(cfg.ClientSecretSealed, sealLabel(conn.ID, "client_secret"))
	if err != nil {
		return nil, fmt.Errorf("client secret: %w", err)
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := discover(dctx, client, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", cfg.Issuer, err)
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = oidcBaseScopes
	}
	redirect := oidcRedirectURL(base, conn.ID)
	// The clock-skew allowance accepts an ID token up to that long after its
	// expiry (go-oidc already allows 5 minutes on nbf, and checks no iat).
	skew := cfg.ClockSkew.Duration()
	return &oidcConnector{
		id:       conn.ID,
		provider: p,
		oauth: oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: string(secret),
			Endpoint: p.Endpoint(), RedirectURL: redirect.String(), Scopes: scopes,
		},
		// The verifier checks signature (provider JWKS), issuer, audience (our client
		// id) and expiry against the handler's clock.
		verifier:      p.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: func() time.Time { return now().Add(-skew) }}),
		mapping:       effective(store.KindOIDC, cfg.Mapping),
		hostedDomains: cfg.HostedDomains,
		userInfo:      !cfg.NoUserInfo && p.UserInfoEndpoint() != "",
		client:        client,
		domains:       conn.Domains,
	}, nil
}

// LoginURL is the authorization request: code flow with state, nonce and PKCE S256.
func (c *oidcConnector) LoginURL(_ context.Context, state, nonce, verifier string) (string, error) {
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if len(c.hostedDomains) == 1 {
		// Google's account chooser then offers only that Workspace's accounts. It is
		// a hint: the hd claim of the ID token is what is checked.
		opts = append(opts, oauth2.SetAuthURLParam("hd", c.hostedDomains[0]))
	}
	return c.oauth.AuthCodeURL(state, opts...), nil
}

// HandleCallback exchanges the code (sending the PKCE verifier) and checks the ID
// token, including its nonce.
func (c *oidcConnector) HandleCallback(ctx context.Context, r *http.Request, nonce, verifier string) (Identity, error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return Identity{}, refusal("idp_error", "The identity provider did not sign you in.",
			fmt.Errorf("provider answered error=%q description=%q", e, q.Get("error_description")))
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, refusal("oidc_no_code", "The identity provider's answer was incomplete.", errors.New("callback without code"))
	}
	ctx = oidc.ClientContext(ctx, c.client)
	tok, err := c.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Identity{}, refusal("oidc_code_exchange", "The identity provider's answer could not be accepted.", fmt.Errorf("code exchange: %w", err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, refusal("oidc_no_id_token", "The identity provider's answer could not be accepted.", errors.New("token response without id_token"))
	}
	idt, err := c.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, refusal("oidc_invalid_id_token", "The identity provider's answer could not be accepted.", fmt.Errorf("id token: %w", err))
	}
	// go-oidc checked that our client id is an audience. OIDC Core §3.1.3.7 also
	// says to reject a token carrying audiences the client does not trust: Okta and
	// Entra issue ID tokens to one audience, so any other one is refused.
	for _, aud := range idt.Audience {
		if aud != c.oauth.ClientID {
			return Identity{}, refusal("oidc_invalid_id_token", "The identity provider's answer could not be accepted.",
				fmt.Errorf("id token carries an untrusted audience %q besides the expected audience %q", aud, c.oauth.ClientID))
		}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, refusal("oidc_nonce_mismatch", "The identity provider's answer could not be accepted.", errors.New("id token nonce does not match the login's nonce"))
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, refusal("oidc_invalid_id_token", "The identity provider's answer could not be accepted.", fmt.Errorf("at_hash: %w", err))
		}
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, refusal("oidc_invalid_id_token", "The identity provider's answer could not be accepted.", err)
	}
	// Google: hd is checked in the ID token, where Google vouches for it.
	if err := c.checkHostedDomain(idt.Subject, claims); err != nil {
		return Identity{}, err
	}
	// Entra's groups overage: the groups come from the linked directory (or the
	// login is refused), never from userinfo, which Entra does not put them in.
	overage := c.overage(claims)
	missing := c.missingClaims(claims)
	if overage != "" {
		missing = slices.DeleteFunc(missing, func(m string) bool { return m == "groups" })
	}
	if c.userInfo && len(missing) > 0 {
		if err := c.mergeUserInfo(ctx, tok, idt.Subject, claims, missing); err != nil {
			return Identity{}, err
		}
	}
	return c.identity(idt.Subject, claims, overage)
}

// missingClaims names the parts of an identity the ID token lacks: "email",
// "groups", "profile".
func (c *oidcConnector) missingClaims(claims map[string]any) []string {
	has := func(names []string) bool {
		return slices.ContainsFunc(names, func(n string) bool { _, ok := claims[n]; return ok })
	}
	var out []string
	if !has(c.mapping.Email) {
		out = append(out, "email")
	}
	if !has(c.mapping.Groups) {
		out = append(out, "groups")
	}
	if !has(c.mapping.GivenName) || !has(c.mapping.FamilyName) {
		out = append(out, "profile")
	}
	return out
}

// mergeUserInfo adds the userinfo endpoint's claims the ID token lacks (Okta's
// org server gives groups and profile there only). Userinfo must be about the
// same subject (OIDC Core §5.3.2). When the email or the groups were missing, a
// failed call refuses the login: going on would sign the person in without their
// groups (the ones they have would be removed) or without an address.
func (c *oidcConnector) mergeUserInfo(ctx context.Context, tok *oauth2.Token, sub string, claims map[string]any, missing []string) error {
	ui, err := c.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err == nil && ui.Subject != sub {
		err = fmt.Errorf("userinfo is about subject %q, the ID token about %q", ui.Subject, sub)
	}
	uc := map[string]any{}
	if err == nil {
		err = ui.Claims(&uc)
	}
	if err != nil {
		if slices.Contains(missing, "email") || slices.Contains(missing, "groups") {
			return &loginError{reason: "oidc_userinfo_failed", status: http.StatusBadGateway, subject: sub,
				cause:  fmt.Errorf("userinfo for the missing %s: %w", strings.Join(missing, ", "), err),
				public: "Your identity provider did not give Gatehouse your email address or groups. Please try again; if it keeps failing, ask your administrator. Your access in Gatehouse was left unchanged."}
		}
		return nil // only names were missing: go on without them
	}
	for k, v := range uc {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// checkHostedDomain requires Google's hd claim to name one of the connection's
// Workspace domains: a consumer Google account has none, even when its verified
// address is in the domain (a former employee's, say).
func (c *oidcConnector) checkHostedDomain(sub string, claims map[string]any) error {
	if len(c.hostedDomains) == 0 {
		return nil
	}
	want := strings.Join(c.hostedDomains, ", ")
	hd, _ := claims["hd"].(string)
	if hd == "" {
		return &loginError{reason: "hosted_domain_missing", status: http.StatusForbidden, subject: sub,
			cause: fmt.Errorf("ID token has no hd claim; the connection requires one of %s", want),
			public: fmt.Sprintf("This sign-in is only for accounts of your organization's Google Workspace (%s). "+
				"You signed in with an account that is not part of it, such as a personal Google account. Sign out of Google and sign in with your work account.", want)}
	}
	if !containsFold(c.hostedDomains, hd) {
		return &loginError{reason: "hosted_domain_mismatch", status: http.StatusForbidden, subject: sub,
			cause: fmt.Errorf("ID token hd %q is not one of %s", hd, want),
			public: fmt.Sprintf("This sign-in is only for accounts of your organization's Google Workspace (%s); "+
				"you signed in with an account of another one. Sign in with your work account.", want)}
	}
	return nil
}

// identity reads the identity out of the claims; overage is the ID token's
// groups overage indicator (c.overage), read before userinfo was merged in.
func (c *oidcConnector) identity(sub string, claims map[string]any, overage string) (Identity, error) {
	str := func(k string) string { s, _ := claims[k].(string); return strings.TrimSpace(s) }
	first := func(names []string) string {
		for _, n := range names {
			if v := str(n); v != "" {
				return v
			}
		}
		return ""
	}
	m := c.mapping
	id := Identity{Subject: sub, UserName: first(m.UserName), GivenName: first(m.GivenName), FamilyName: first(m.FamilyName), DisplayName: first(m.DisplayName)}
	for _, n := range m.Email {
		v := str(n)
		if v == "" || (n != "email" && !strings.Contains(v, "@")) {
			continue // a sign-in name that is not an address
		}
		id.Email, id.EmailSource = v, n
		break
	}
	id.EmailFromUPN = id.Email != "" && isUPNSource(store.KindOIDC, id.EmailSource)
	at := strings.LastIndexByte(id.Email, '@')
	inDomains := at >= 0 && containsFold(c.domains, id.Email[at+1:])
	switch v := claims["email_verified"].(type) {
	case bool:
		id.EmailVerified = v
	case string: // some providers send "true"
		id.EmailVerified = strings.EqualFold(v, "true")
	default:
		// No claim (Entra sends none; some providers omit a false one): the email
		// counts as verified only in a domain the org has routed to this connection.
		id.EmailVerified = inDomains
	}
	if id.EmailFromUPN {
		// A sign-in name the admin mapped as the email: email_verified is about
		// the email claim, not this one; only the connection's domains count.
		id.EmailVerified = inDomains
	}
	if overage != "" {
		// The groups are missing, not empty: completeLogin takes them from the
		// linked directory or refuses the login.
		id.GroupsOverage = overage
		return id, nil
	}
	// A groups claim is an array of strings (or one string). Anything else is
	// refused rather than skipped: dropping values we cannot read would silently
	// drop the user's groups, the very failure the overage check prevents.
	var groups []string
	for _, name := range m.Groups {
		switch g := claims[name].(type) {
		case nil:
			// No claim: the user is in no group the IdP releases to this app.
		case []any:
			for i, x := range g {
				s, ok := x.(string)
				if !ok {
					return Identity{}, badGroupsClaim(sub, fmt.Errorf("claim %q element %d is a JSON %s, not a string", name, i, jsonKind(x)))
				}
				groups = append(groups, s)
			}
		case string:
			groups = append(groups, g)
		default:
			return Identity{}, badGroupsClaim(sub, fmt.Errorf("claim %q is a JSON %s, not an array of strings", name, jsonKind(g)))
		}
	}
	id.Groups = normalizeGroups(m.GroupValues, groups)
	return id, nil
}

// overage says how an ID token points elsewhere for its groups instead of
// carrying them, or "" when it does not: Entra's distributed-claims overage
// (_claim_names naming the groups claim, with _claim_sources pointing at
// Microsoft Graph) and its implicit flow's hasgroups: true.
func (c *oidcConnector) overage(claims map[string]any) string {
	if names, ok := claims["_claim_names"].(map[string]any); ok {
		for _, gc := range c.mapping.Groups {
			if _, ok := names[gc]; ok {
				return fmt.Sprintf("ID token names claim %q in _claim_names (distributed claim) instead of carrying it", gc)
			}
		}
	}
	if hg, _ := claims["hasgroups"].(bool); hg && slices.Contains(c.mapping.Groups, "groups") {
		if _, present := claims["groups"]; !present {
			return "ID token says hasgroups=true instead of carrying the groups"
		}
	}
	return ""
}

// jsonKind names the JSON type of a decoded value, for log lines.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
