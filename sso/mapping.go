package sso

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crewjam/saml"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Names in a SAML mapping that stand for the subject rather than an attribute.
const (
	// NameIDToken is the subject's NameID, whatever its format.
	NameIDToken = "NameID"
	// NameIDEmailToken is the subject's NameID when its format is emailAddress.
	NameIDEmailToken = "NameID:emailAddress"
)

// Group value forms (store.ClaimMapping.GroupValues).
const (
	GroupValuesAsSent      = ""
	GroupValuesLastSegment = "last-segment"
	GroupValuesCN          = "cn"
)

// Claim URIs that Microsoft's identity providers (and Auth0's SAML add-on) use.
const (
	claimEmail       = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	claimGivenName   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	claimSurname     = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
	claimName        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claimUPN         = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	claimDisplayName = "http://schemas.microsoft.com/identity/claims/displayname"
	claimEntraGroups = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	claimADFSGroup   = "http://schemas.xmlsoap.org/claims/Group"
	oidMail          = "urn:oid:0.9.2342.19200300.100.1.3"
	oidEmailAddress  = "urn:oid:1.2.840.113549.1.9.1" // PKCS #9, Keycloak's "X500 email"
	oidGivenName     = "urn:oid:2.5.4.42"
	oidSurname       = "urn:oid:2.5.4.4"
	oidDisplayName   = "urn:oid:2.16.840.1.113730.3.1.241"
	oidEPPN          = "urn:oid:1.3.6.1.4.1.5923.1.1.1.6"
)

// samlDefaults is what a SAML connection reads when its mapping leaves a field
// empty: Okta's usual attribute statements, Entra's claim URIs, X.500 OIDs.
var samlDefaults = store.ClaimMapping{
	Email:       []string{NameIDEmailToken, "email", "mail", "emailaddress", "Email", "EmailAddress", claimEmail, oidMail, oidEmailAddress, NameIDToken},
	GivenName:   []string{"givenName", "firstName", "given_name", "FirstName", claimGivenName, oidGivenName},
	FamilyName:  []string{"surname", "sn", "lastName", "familyName", "family_name", "LastName", claimSurname, oidSurname},
	DisplayName: []string{"displayName", claimDisplayName, oidDisplayName},
	Groups:      []string{"groups", claimEntraGroups},
}

// oidcDefaults is what an OIDC connection reads when its mapping leaves a field
// empty: the standard claims (OIDC Core §5.1) and a groups claim.
var oidcDefaults = store.ClaimMapping{
	Email:       []string{"email"},
	GivenName:   []string{"given_name"},
	FamilyName:  []string{"family_name"},
	DisplayName: []string{"name"},
	Groups:      []string{"groups"},
}

// oidcBaseScopes are always asked for.
var oidcBaseScopes = []string{"openid", "email", "profile"}

// upnSources hold a sign-in name (UPN, username) rather than a mailbox address.
// An email taken from one of them is accepted only in the connection's domains:
// nothing says the person receives mail there, and a personal account of another
// tenant can carry any suffix its admin likes.
var upnSources = []string{"upn", claimUPN, claimName, "preferred_username", "unique_name", oidEPPN}

// isUPNSource says whether an email source (mapping name) of a connection kind
// holds a sign-in name: for OIDC every claim but email (whose verification the
// email_verified claim states), for SAML the UPN-like attributes.
func isUPNSource(kind store.SSOKind, name string) bool {
	if kind == store.KindOIDC {
		return name != "email"
	}
	return slices.ContainsFunc(upnSources, func(s string) bool { return strings.EqualFold(s, name) })
}

// preset is the setup that fits one identity provider.
type preset struct {
	saml store.ClaimMapping
	oidc store.ClaimMapping
	// scopes are asked for beyond openid email profile.
	scopes []string
	// noUserInfo: the provider's userinfo endpoint adds nothing (or answers for
	// another audience), so it is not called.
	noUserInfo bool
	// hostedDomain: logins must carry an hd claim naming one of the connection's
	// hosted domains (Google Workspace).
	hostedDomain bool
	idp          string // the name people know it by, for messages
}

// presets fill a connection's mapping for each mainstream identity provider;
// docs/sso.md says what to set at the IdP so that these names are what it sends.
var presets = map[string]preset{
	"okta": {idp: "Okta",
		saml:   store.ClaimMapping{Email: []string{NameIDEmailToken, "email"}, GivenName: []string{"firstName"}, FamilyName: []string{"lastName"}, DisplayName: []string{"displayName"}, Groups: []string{"groups"}},
		oidc:   store.ClaimMapping{Email: []string{"email"}, Groups: []string{"groups"}},
		scopes: []string{"groups"}, // Okta releases the groups claim only to clients asking for this scope
	},
	"entra": {idp: "Microsoft Entra ID",
		saml: store.ClaimMapping{Email: []string{NameIDEmailToken, claimEmail}, GivenName: []string{claimGivenName}, FamilyName: []string{claimSurname},
			DisplayName: []string{claimDisplayName}, Groups: []string{claimEntraGroups}},
		// No email claim unless the user has a mailbox and the optional claim is
		// added: the UPN in preferred_username, only in the connection's domains.
		oidc:       store.ClaimMapping{Email: []string{"email", "preferred_username"}, Groups: []string{"groups"}},
		noUserInfo: true, // Graph's userinfo has another sub (pairwise per audience) and no groups
	},
	"adfs": {idp: "AD FS",
		saml: store.ClaimMapping{Email: []string{claimEmail, claimUPN}, GivenName: []string{claimGivenName}, FamilyName: []string{claimSurname},
			Groups: []string{claimADFSGroup}},
		oidc:       store.ClaimMapping{Email: []string{"email", "upn"}, Groups: []string{"group"}},
		scopes:     []string{"allatclaims"}, // AD FS puts the relying party's issued claims in the ID token only with this scope
		noUserInfo: true,                    // AD FS userinfo returns only sub
	},
	"google": {idp: "Google Workspace",
		saml:         store.ClaimMapping{Email: []string{NameIDToken}, GivenName: []string{"firstName"}, FamilyName: []string{"lastName"}, Groups: []string{"groups"}},
		oidc:         store.ClaimMapping{Email: []string{"email"}},
		noUserInfo:   true, // Google releases no groups; the ID token has the profile
		hostedDomain: true,
	},
	"onelogin": {idp: "OneLogin",
		saml: store.ClaimMapping{Email: []string{"User.email", NameIDToken}, GivenName: []string{"User.FirstName"}, FamilyName: []string{"User.LastName"}, Groups: []string{"memberOf"}},
		oidc: store.ClaimMapping{Email: []string{"email"}, Groups: []string{"groups"}},
	},
	"jumpcloud": {idp: "JumpCloud",
		saml: store.ClaimMapping{Email: []string{"email", NameIDToken}, GivenName: []string{"firstName"}, FamilyName: []string{"lastName"}, Groups: []string{"memberOf"}},
		oidc: store.ClaimMapping{Email: []string{"email"}, Groups: []string{"groups", "memberOf"}},
	},
	"keycloak": {idp: "Keycloak",
		saml: store.ClaimMapping{Email: []string{oidEmailAddress, "email"}, GivenName: []string{oidGivenName, "givenName"}, FamilyName: []string{oidSurname, "surname"},
			Groups: []string{"member", "groups"}},
		oidc: store.ClaimMapping{Email: []string{"email"}, Groups: []string{"groups"}},
	},
	"ping": {idp: "PingFederate / PingOne",
		saml: store.ClaimMapping{Email: []string{"mail", "email", NameIDToken}, GivenName: []string{"givenName"}, FamilyName: []string{"sn"}, Groups: []string{"memberOf"}},
		oidc: store.ClaimMapping{Email: []string{"email"}, Groups: []string{"memberOf", "groups"}},
	},
	"auth0": {idp: "Auth0",
		saml: store.ClaimMapping{Email: []string{claimEmail}, GivenName: []string{claimGivenName}, FamilyName: []string{claimSurname},
			DisplayName: []string{claimName}, Groups: []string{claimADFSGroup}},
		oidc: store.ClaimMapping{Email: []string{"email"}, Groups: []string{"groups"}},
	},
}

// Presets lists the preset names, sorted.
func Presets() []string {
	out := make([]string, 0, len(presets))
	for n := range presets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Settings are an admin's choices for a connection, as the CLI's flags give
// them (and, later, the API). A nil field leaves the connection's value as it
// is. Preset is applied first and replaces the whole mapping with the preset's;
// the explicit fields then override it.
type Settings struct {
	Preset *string
	// Mapping: attribute (SAML) or claim (OIDC) names, tried in order.
	Email, UserName, GivenName, FamilyName, DisplayName, Groups *[]string
	GroupValues                                                 *string
	// ExtraScopes (OIDC) are asked for beyond openid email profile.
	ExtraScopes *[]string
	// HostedDomains (OIDC) require Google's hd claim to name one of them.
	HostedDomains *[]string
	// UserInfo (OIDC) allows calling the userinfo endpoint for claims the ID
	// token lacks.
	UserInfo *bool
	// SingleLogout (SAML) allows single logout when the IdP's metadata offers it.
	SingleLogout *bool
	ClockSkew    *time.Duration
}

// Apply makes the settings the connection's, then checks the whole connection
// (CheckConnection): an error leaves c partly changed, so apply to a copy, or
// inside the store's update function, which then writes nothing.
func (s Settings) Apply(c *store.SSOConnection) error {
	var m *store.ClaimMapping
	switch {
	case c.Kind == store.KindSAML && c.SAML != nil:
		m = &c.SAML.Mapping
	case c.Kind == store.KindOIDC && c.OIDC != nil:
		m = &c.OIDC.Mapping
	default:
		return errors.New("the connection has no configuration of its kind")
	}
	saml := c.Kind == store.KindSAML
	only := func(given bool, flag string, wantSAML bool) error {
		if given && saml != wantSAML {
			kind := "OIDC"
			if wantSAML {
				kind = "SAML"
			}
			return fmt.Errorf("%s applies to %s connections only", flag, kind)
		}
		return nil
	}
	if err := errors.Join(
		only(s.ExtraScopes != nil, "scopes", false),
		only(s.HostedDomains != nil, "hosted domains", false),
		only(s.UserInfo != nil, "the userinfo setting", false),
		only(s.SingleLogout != nil, "single logout", true),
	); err != nil {
		return err
	}
	if s.Preset != nil {
		name := strings.ToLower(strings.TrimSpace(*s.Preset))
		p, ok := presets[name]
		switch {
		case name == "":
			*m = store.ClaimMapping{}
			if !saml {
				c.OIDC.Scopes, c.OIDC.NoUserInfo = nil, false
			}
		case !ok:
			return fmt.Errorf("unknown preset %q (want one of %s)", *s.Preset, strings.Join(Presets(), ", "))
		case saml:
			*m = cloneMapping(p.saml)
			m.Preset = name
		default:
			*m = cloneMapping(p.oidc)
			m.Preset = name
			c.OIDC.Scopes = scopesWith(p.scopes)
			c.OIDC.NoUserInfo = p.noUserInfo
			if p.hostedDomain && len(c.OIDC.HostedDomains) == 0 && s.HostedDomains == nil {
				// Google Workspace domains are usually the email domains.
				c.OIDC.HostedDomains = slices.Clone(c.Domains)
			}
		}
	}
	for _, f := range []struct {
		from *[]string
		to   *[]string
	}{{s.Email, &m.Email}, {s.UserName, &m.UserName}, {s.GivenName, &m.GivenName}, {s.FamilyName, &m.FamilyName},
		{s.DisplayName, &m.DisplayName}, {s.Groups, &m.Groups}} {
		if f.from != nil {
			*f.to = cleanNames(*f.from)
		}
	}
	if s.GroupValues != nil {
		gv := strings.ToLower(strings.TrimSpace(*s.GroupValues))
		if gv == "as-sent" {
			gv = GroupValuesAsSent
		}
		m.GroupValues = gv
	}
	if !saml {
		if s.ExtraScopes != nil {
			c.OIDC.Scopes = scopesWith(cleanNames(*s.ExtraScopes))
		}
		if s.HostedDomains != nil {
			c.OIDC.HostedDomains = cleanNames(*s.HostedDomains)
		}
		if s.UserInfo != nil {
			c.OIDC.NoUserInfo = !*s.UserInfo
		}
	} else if s.SingleLogout != nil {
		c.SAML.NoSingleLogout = !*s.SingleLogout
	}
	if s.ClockSkew != nil {
		if *s.ClockSkew < 0 || *s.ClockSkew > store.MaxClockSkew || *s.ClockSkew%time.Second != 0 {
			return fmt.Errorf("clock skew %s: give whole seconds from 0s to %s", *s.ClockSkew, store.MaxClockSkew)
		}
		if saml {
			c.SAML.ClockSkew = store.Seconds(*s.ClockSkew / time.Second)
		} else {
			c.OIDC.ClockSkew = store.Seconds(*s.ClockSkew / time.Second)
		}
	}
	return CheckConnection(*c)
}

// CheckConnection checks what the store cannot: that the connection's mapping
// and options make sense together. It returns every problem at once.
func CheckConnection(c store.SSOConnection) error {
	var errs []error
	var m store.ClaimMapping
	switch {
	case c.Kind == store.KindSAML && c.SAML != nil:
		m = c.SAML.Mapping
	case c.Kind == store.KindOIDC && c.OIDC != nil:
		m = c.OIDC.Mapping
		if len(c.OIDC.Scopes) > 0 && !slices.Contains(c.OIDC.Scopes, "openid") {
			errs = append(errs, errors.New("the scopes must include openid"))
		}
		if m.Preset == "google" && len(c.OIDC.HostedDomains) == 0 {
			errs = append(errs, errors.New("the google preset needs your Google Workspace domain: give --hosted-domain (or --domain)"))
		}
	default:
		return errors.New("the connection has no configuration of its kind")
	}
	switch m.GroupValues {
	case GroupValuesAsSent, GroupValuesLastSegment, GroupValuesCN:
	default:
		errs = append(errs, fmt.Errorf("group values %q: want as-sent, last-segment or cn", m.GroupValues))
	}
	if len(c.Domains) == 0 {
		for _, n := range effective(c.Kind, m).Email {
			if isUPNSource(c.Kind, n) {
				errs = append(errs, fmt.Errorf("the email is read from %q, which holds a sign-in name rather than a verified address: "+
					"give the connection's email domains (--domain) so that only addresses in them are taken from it", n))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// effective fills the empty fields of a mapping with the protocol's defaults.
func effective(kind store.SSOKind, m store.ClaimMapping) store.ClaimMapping {
	d := oidcDefaults
	if kind == store.KindSAML {
		d = samlDefaults
	}
	out := m
	for _, f := range []struct{ to, def *[]string }{{&out.Email, &d.Email}, {&out.UserName, &d.UserName}, {&out.GivenName, &d.GivenName},
		{&out.FamilyName, &d.FamilyName}, {&out.DisplayName, &d.DisplayName}, {&out.Groups, &d.Groups}} {
		if len(*f.to) == 0 {
			*f.to = *f.def
		}
	}
	return out
}

func cloneMapping(m store.ClaimMapping) store.ClaimMapping {
	out := m
	for _, l := range []*[]string{&out.Email, &out.UserName, &out.GivenName, &out.FamilyName, &out.DisplayName, &out.Groups} {
		*l = slices.Clone(*l)
	}
	return out
}

// cleanNames trims names and drops blanks and repeats.
func cleanNames(in []string) []string {
	var out []string
	for _, n := range in {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// scopesWith is the base scopes plus extra; nil when there is nothing extra, so
// the stored connection says "the default".
func scopesWith(extra []string) []string {
	if len(extra) == 0 {
		return nil
	}
	out := slices.Clone(oidcBaseScopes)
	for _, s := range extra {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Setting is one line of a connection's setup as admins see it.
type Setting struct {
	Name  string
	Value string
	// Default says the value is the protocol's default, not set for the connection.
	Default bool
}

// Describe lists a connection's settings that shape logins, with the defaults
// filled in and marked, for `gatehouse sso list` and the setup values of
// `sso add-*` (the admin pages show the same).
func Describe(c store.SSOConnection) []Setting {
	var m store.ClaimMapping
	var out []Setting
	add := func(name string, v []string, def []string) {
		if len(v) == 0 {
			out = append(out, Setting{Name: name, Value: describeNames(def), Default: true})
			return
		}
		out = append(out, Setting{Name: name, Value: describeNames(v)})
	}
	var d store.ClaimMapping
	var skew store.Seconds
	switch {
	case c.SAML != nil:
		m, d, skew = c.SAML.Mapping, samlDefaults, c.SAML.ClockSkew
	case c.OIDC != nil:
		m, d, skew = c.OIDC.Mapping, oidcDefaults, c.OIDC.ClockSkew
	default:
		return nil
	}
	preset := m.Preset
	if preset == "" {
		preset = "(none)"
	}
	out = append(out, Setting{Name: "preset", Value: preset})
	add("email", m.Email, d.Email)
	if len(m.UserName) == 0 {
		out = append(out, Setting{Name: "user name", Value: "the email", Default: true})
	} else {
		add("user name", m.UserName, nil)
	}
	add("given name", m.GivenName, d.GivenName)
	add("family name", m.FamilyName, d.FamilyName)
	add("display name", m.DisplayName, d.DisplayName)
	add("groups", m.Groups, d.Groups)
	gv := m.GroupValues
	switch gv {
	case GroupValuesAsSent:
		gv = "as sent"
	case GroupValuesLastSegment:
		gv = "last path segment (/eng/platform -> platform)"
	case GroupValuesCN:
		gv = "CN of a distinguished name (CN=Eng,OU=Groups,... -> Eng)"
	}
	out = append(out, Setting{Name: "group values", Value: gv, Default: m.GroupValues == ""})
	if c.OIDC != nil {
		scopes := c.OIDC.Scopes
		out = append(out, Setting{Name: "scopes", Value: strings.Join(orDefault(scopes, oidcBaseScopes), " "), Default: len(scopes) == 0})
		hd := "not required"
		if len(c.OIDC.HostedDomains) > 0 {
			hd = strings.Join(c.OIDC.HostedDomains, ", ")
		}
		out = append(out, Setting{Name: "hosted domain (hd)", Value: hd, Default: len(c.OIDC.HostedDomains) == 0})
		ui := "when the ID token lacks the email, groups or names"
		if c.OIDC.NoUserInfo {
			ui = "never"
		}
		out = append(out, Setting{Name: "userinfo", Value: ui, Default: !c.OIDC.NoUserInfo})
	}
	if c.SAML != nil {
		slo := "when the IdP's metadata offers it"
		if c.SAML.NoSingleLogout {
			slo = "off"
		}
		out = append(out, Setting{Name: "single logout", Value: slo, Default: !c.SAML.NoSingleLogout})
	}
	out = append(out, Setting{Name: "clock skew allowance", Value: skew.Duration().String(), Default: skew == 0})
	return out
}

func orDefault(v, def []string) []string {
	if len(v) == 0 {
		return def
	}
	return v
}

func describeNames(ns []string) string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		switch n {
		case NameIDEmailToken:
			n = "NameID (emailAddress format)"
		case NameIDToken:
			n = "NameID"
		}
		out = append(out, n)
	}
	return strings.Join(out, ", ")
}

// normalizeGroups takes group values in the connection's chosen form, dropping
// blanks and repeats.
func normalizeGroups(form string, values []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		switch form {
		case GroupValuesLastSegment:
			v = lastSegment(v)
		case GroupValuesCN:
			v = dnCN(v)
		}
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// lastSegment is the last part of a slash-separated path (Keycloak's
// "/engineering/platform" is "platform"); a value without a slash is as sent.
func lastSegment(v string) string {
	t := strings.TrimRight(v, "/")
	if i := strings.LastIndexByte(t, '/'); i >= 0 {
		t = t[i+1:]
	}
	if t == "" {
		return v
	}
	return t
}

// dnCN is the value of the first RDN of an LDAP distinguished name when that
// RDN is a CN ("CN=Engineering,OU=Groups,DC=acme,DC=com" is "Engineering"),
// with RFC 4514 escapes undone. Anything else is returned as sent: a value that
// is not a DN names the group as well as it can.
func dnCN(v string) string {
	eq := strings.IndexByte(v, '=')
	if eq < 0 || !strings.EqualFold(strings.TrimSpace(v[:eq]), "cn") {
		return v
	}
	var b strings.Builder
	rest := v[eq+1:]
	for i := 0; i < len(rest); i++ {
		ch := rest[i]
		switch {
		case ch == '\\' && i+1 < len(rest):
			if i+2 < len(rest) && isHex(rest[i+1]) && isHex(rest[i+2]) {
				b.WriteByte(unhex(rest[i+1])<<4 | unhex(rest[i+2]))
				i += 2
			} else {
				b.WriteByte(rest[i+1])
				i++
			}
		case ch == ',' || ch == '+' || ch == ';':
			return strings.TrimSpace(b.String())
		default:
			b.WriteByte(ch)
		}
	}
	return strings.TrimSpace(b.String())
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// samlValues are an assertion's attribute values by attribute name and by
// friendly name, with the subject's NameID under the mapping tokens.
type samlValues map[string][]string

func newSAMLValues(a *saml.Assertion) samlValues {
	vals := samlValues{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			var vs []string
			for _, v := range at.Values {
				if s := strings.TrimSpace(v.Value); s != "" {
					vs = append(vs, s)
				}
			}
			for _, name := range []string{at.Name, at.FriendlyName} {
				if name != "" {
					vals[name] = append(vals[name], vs...)
				}
			}
		}
	}
	if a.Subject != nil && a.Subject.NameID != nil {
		if v := strings.TrimSpace(a.Subject.NameID.Value); v != "" {
			vals[NameIDToken] = []string{v}
			if a.Subject.NameID.Format == string(saml.EmailAddressNameIDFormat) {
				vals[NameIDEmailToken] = []string{v}
			}
		}
	}
	return vals
}

// first returns the first value of the first name present, and that name.
func (v samlValues) first(names []string) (string, string) {
	for _, n := range names {
		if vs := v[n]; len(vs) > 0 {
			return vs[0], n
		}
	}
	return "", ""
}

// ExtraScopes are the scopes of a connection beyond openid email profile (what
// an admin gives): the inverse of the stored list's defaults.
func ExtraScopes(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if !slices.Contains(oidcBaseScopes, s) {
			out = append(out, s)
		}
	}
	return out
}
