package sso

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// oidcConnector is one OIDC connection's relying party: the provider found by
// discovery, the OAuth2 client, and the ID token verifier.
type oidcConnector struct {
	id          string
	provider    *oidc.Provider
	oauth       oauth2.Config
	verifier    *oidc.IDTokenVerifier
	groupsClaim string
	client      *http.Client
	domains     []string // the connection's email domains, owned by the org
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
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, client), 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", cfg.Issuer, err)
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	redirect := oidcRedirectURL(base, conn.ID)
	gc := cfg.GroupsClaim
	if gc == "" {
		gc = "groups"
	}
	return &oidcConnector{
		id:       conn.ID,
		provider: p,
		oauth: oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: string(secret),
			Endpoint: p.Endpoint(), RedirectURL: redirect.String(), Scopes: scopes,
		},
		// The verifier checks signature (provider JWKS), issuer, audience (our client
		// id) and expiry against the handler's clock.
		verifier:    p.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: now}),
		groupsClaim: gc,
		client:      client,
		domains:     conn.Domains,
	}, nil
}

// LoginURL is the authorization request: code flow with state, nonce and PKCE S256.
func (c *oidcConnector) LoginURL(_ context.Context, state, nonce, verifier string) (string, error) {
	return c.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
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
	id := c.identity(idt.Subject, claims)
	if id.Email == "" {
		// Some providers put profile claims in userinfo only (Okta's org server
		// without the email scope in the ID token). Userinfo must be about the same
		// subject (OIDC Core §5.3.2).
		ui, err := c.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err == nil && ui.Subject == idt.Subject {
			uc := map[string]any{}
			if ui.Claims(&uc) == nil {
				for k, v := range uc {
					if _, ok := claims[k]; !ok {
						claims[k] = v
					}
				}
				groups := id.Groups
				id = c.identity(idt.Subject, claims)
				if len(groups) > 0 {
					id.Groups = groups
				}
			}
		}
	}
	return id, nil
}

func (c *oidcConnector) identity(sub string, claims map[string]any) Identity {
	str := func(k string) string { s, _ := claims[k].(string); return strings.TrimSpace(s) }
	id := Identity{Subject: sub, Email: str("email"), GivenName: str("given_name"), FamilyName: str("family_name")}
	if id.Email == "" {
		// Entra: the UPN, when no email is released.
		for _, k := range []string{"preferred_username", "upn"} {
			if v := str(k); strings.Contains(v, "@") {
				id.Email = v
				break
			}
		}
	}
	switch v := claims["email_verified"].(type) {
	case bool:
		id.EmailVerified = v
	case string: // some providers send "true"
		id.EmailVerified = strings.EqualFold(v, "true")
	default:
		// No claim (Entra sends none; some providers omit a false one): the email
		// counts as verified only in a domain the org has routed to this connection.
		if at := strings.LastIndexByte(id.Email, '@'); at >= 0 {
			id.EmailVerified = containsFold(c.domains, id.Email[at+1:])
		}
	}
	switch g := claims[c.groupsClaim].(type) {
	case []any:
		seen := map[string]bool{}
		for _, x := range g {
			if s, ok := x.(string); ok && s != "" && !seen[s] {
				seen[s] = true
				id.Groups = append(id.Groups, s)
			}
		}
	case string:
		if g != "" {
			id.Groups = []string{g}
		}
	}
	return id
}
