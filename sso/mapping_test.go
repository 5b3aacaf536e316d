package sso

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestGroupValueForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		form string
		in   []string
		want []string
	}{
		{"", []string{" eng ", "eng", "", "/a/b"}, []string{"eng", "/a/b"}},
		{GroupValuesLastSegment, []string{"/engineering", "/engineering/platform", "/ops/", "plain", "/", "a//b"}, []string{"engineering", "platform", "ops", "plain", "/", "b"}},
		{GroupValuesCN, []string{
			"CN=Engineering,OU=Groups,DC=acme,DC=com",
			"cn = Ops , ou=x",
			`CN=Smith\, John,OU=People`,
			`CN=R\26D,OU=x`,         // hex escape: &
			"CN=eng-ro+UID=7,OU=x",  // multi-valued RDN: the CN part
			"OU=Groups,DC=acme",     // not a CN first: as sent
			"Domain Users",          // not a DN: as sent
			"CN=Engineering,OU=Old", // same CN: one group
		}, []string{"Engineering", "Ops", "Smith, John", "R&D", "eng-ro", "OU=Groups,DC=acme", "Domain Users"}},
	} {
		if got := normalizeGroups(tc.form, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%q: normalizeGroups(%q) = %q, want %q", tc.form, tc.in, got, tc.want)
		}
	}
}

func TestSettingsApply(t *testing.T) {
	t.Parallel()
	oidcConn := func(domains ...string) store.SSOConnection {
		return store.SSOConnection{Kind: store.KindOIDC, Domains: domains, OIDC: &store.OIDCConfig{Issuer: "https://idp", ClientID: "c"}}
	}
	samlConn := func(domains ...string) store.SSOConnection {
		return store.SSOConnection{Kind: store.KindSAML, Domains: domains, SAML: &store.SAMLConfig{}}
	}
	// Every preset applies to both kinds, with domains.
	for _, name := range Presets() {
		for _, c := range []store.SSOConnection{oidcConn("acme.test"), samlConn("acme.test")} {
			if err := (Settings{Preset: &name}).Apply(&c); err != nil {
				t.Errorf("preset %s on %s: %v", name, c.Kind, err)
			}
		}
	}
	c := oidcConn("acme.test")
	if err := (Settings{Preset: ptr("okta")}).Apply(&c); err != nil || !slices.Equal(c.OIDC.Scopes, []string{"openid", "email", "profile", "groups"}) || c.OIDC.Mapping.Preset != "okta" {
		t.Errorf("okta: %v %+v", err, c.OIDC)
	}
	// Explicit settings override the preset; a later preset replaces the mapping.
	if err := (Settings{Preset: ptr("entra"), Groups: &[]string{"roles"}, ExtraScopes: &[]string{"offline_access"}, UserInfo: ptr(true)}).Apply(&c); err != nil {
		t.Fatal(err)
	}
	m := c.OIDC.Mapping
	if !slices.Equal(m.Groups, []string{"roles"}) || !slices.Equal(m.Email, []string{"email", "preferred_username"}) || c.OIDC.NoUserInfo ||
		!slices.Equal(c.OIDC.Scopes, []string{"openid", "email", "profile", "offline_access"}) {
		t.Errorf("entra with overrides: %+v scopes %v userinfo off %v", m, c.OIDC.Scopes, c.OIDC.NoUserInfo)
	}
	if err := (Settings{Preset: ptr("")}).Apply(&c); err != nil || c.OIDC.Mapping.Preset != "" || len(c.OIDC.Mapping.Groups) != 0 || c.OIDC.Scopes != nil {
		t.Errorf("clearing the preset: %v %+v", err, c.OIDC)
	}
	// Google takes the email domains as Workspace domains, and needs one.
	g := oidcConn("acme.test")
	if err := (Settings{Preset: ptr("google")}).Apply(&g); err != nil || !slices.Equal(g.OIDC.HostedDomains, []string{"acme.test"}) {
		t.Errorf("google: %v %v", err, g.OIDC.HostedDomains)
	}
	g = oidcConn()
	if err := (Settings{Preset: ptr("google")}).Apply(&g); err == nil || !strings.Contains(err.Error(), "--hosted-domain") {
		t.Errorf("google without any domain: %v", err)
	}
	for name, tc := range map[string]struct {
		c   store.SSOConnection
		s   Settings
		msg string
	}{
		"unknown preset":            {oidcConn(), Settings{Preset: ptr("salesforce")}, "unknown preset"},
		"upn without domains":       {oidcConn(), Settings{Email: &[]string{"upn"}}, "--domain"},
		"saml upn without domains":  {samlConn(), Settings{Email: &[]string{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"}}, "--domain"},
		"scopes on saml":            {samlConn(), Settings{ExtraScopes: &[]string{"groups"}}, "OIDC"},
		"single logout on oidc":     {oidcConn(), Settings{SingleLogout: ptr(false)}, "SAML"},
		"bad group values":          {samlConn(), Settings{GroupValues: ptr("first")}, "group values"},
		"skew beyond bound":         {samlConn(), Settings{ClockSkew: ptr(6 * time.Minute)}, "5m"},
		"nothing set":               {oidcConn(), Settings{}, ""},
		"email claim that is email": {oidcConn(), Settings{Email: &[]string{"email"}}, ""},
	} {
		err := tc.s.Apply(&tc.c)
		if (tc.msg == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.msg)) {
			t.Errorf("%s: %v, want error containing %q", name, err, tc.msg)
		}
	}
	// A connection whose domains are cleared later is refused by CheckConnection.
	e := oidcConn("acme.test")
	if err := (Settings{Preset: ptr("entra")}).Apply(&e); err != nil {
		t.Fatal(err)
	}
	e.Domains = nil
	if err := CheckConnection(e); err == nil {
		t.Error("entra without domains passed CheckConnection")
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	c := store.SSOConnection{Kind: store.KindSAML, Domains: []string{"acme.test"}, SAML: &store.SAMLConfig{}}
	if err := (Settings{Preset: ptr("adfs"), GroupValues: ptr("cn"), ClockSkew: ptr(2 * time.Minute)}).Apply(&c); err != nil {
		t.Fatal(err)
	}
	got := map[string]Setting{}
	for _, s := range Describe(c) {
		got[s.Name] = s
	}
	for name, want := range map[string]Setting{
		"preset":               {Value: "adfs"},
		"email":                {Value: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress, http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"},
		"display name":         {Value: "displayName, http://schemas.microsoft.com/identity/claims/displayname, urn:oid:2.16.840.1.113730.3.1.241", Default: true},
		"user name":            {Value: "the email", Default: true},
		"group values":         {Value: "CN of a distinguished name (CN=Eng,OU=Groups,... -> Eng)"},
		"single logout":        {Value: "when the IdP's metadata offers it", Default: true},
		"clock skew allowance": {Value: "2m0s"},
	} {
		if g := got[name]; g.Value != want.Value || g.Default != want.Default {
			t.Errorf("%s = %+v, want %+v", name, g, want)
		}
	}
	d := Describe(store.SSOConnection{Kind: store.KindSAML, SAML: &store.SAMLConfig{}})
	if d[1].Name != "email" || !strings.HasPrefix(d[1].Value, "NameID (emailAddress format), email") || !d[1].Default {
		t.Errorf("default SAML email: %+v", d[1])
	}
}

func ptr[T any](v T) *T { return &v }
