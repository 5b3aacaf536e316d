package sso_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/crewjam/saml"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

func ptr[T any](v T) *T { return &v }

// Claim URIs as Microsoft's IdPs and Auth0 send them.
const (
	uriEmail       = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	uriGiven       = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	uriSurname     = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
	uriName        = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	uriUPN         = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	uriDisplayName = "http://schemas.microsoft.com/identity/claims/displayname"
	uriEntraGroups = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	uriADFSGroup   = "http://schemas.xmlsoap.org/claims/Group"
	persistent     = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	unspecified    = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
)

// oidAttr is an X.500 attribute as Keycloak sends it: an OID name and a
// friendly name.
func oidAttr(oid, friendly, value string) saml.Attribute {
	a := attr(oid, value)
	a.FriendlyName = friendly
	return a
}

// samlShape is an identity provider shaped like a real one, and the connection
// settings docs/sso.md gives for it.
type samlShape struct {
	name     string
	user     idpUser
	signing  string // what the IdP signs: "" both, "assertion", "response"
	encrypt  bool
	domains  []string
	settings sso.Settings
	// what Gatehouse must read
	email, given, family, display string
	groups                        []string
	nameIDFormat                  string
}

var samlShapes = []samlShape{
	{name: "okta", user: alice, settings: sso.Settings{Preset: ptr("okta")},
		email: "alice@acme.test", given: "Alice", family: "Liddell", display: "Alice Liddell", groups: []string{"eng", "ops"},
		nameIDFormat: string(saml.EmailAddressNameIDFormat)},
	{name: "okta-response-only-signature", user: alice, signing: "response", settings: sso.Settings{Preset: ptr("okta")},
		email: "alice@acme.test", given: "Alice", family: "Liddell", display: "Alice Liddell", groups: []string{"eng", "ops"},
		nameIDFormat: string(saml.EmailAddressNameIDFormat)},
	{name: "entra", signing: "assertion", settings: sso.Settings{Preset: ptr("entra")},
		user: idpUser{email: "alice@acme.test", groupsAttr: uriEntraGroups, groups: []string{"3f2a9c4e-1b7d-4e0a-9c51-0d6f2b8e7a11", "8b1e6d20-4c3f-4a9b-b2e7-5f0c9d1a3e44"},
			attrs: []saml.Attribute{attr(uriEmail, "alice@acme.test"), attr(uriGiven, "Alice"), attr(uriSurname, "Liddell"), attr(uriDisplayName, "Alice Liddell (Eng)"), attr(uriName, "alice@acme.test")}},
		email: "alice@acme.test", given: "Alice", family: "Liddell", display: "Alice Liddell (Eng)",
		groups: []string{"3f2a9c4e-1b7d-4e0a-9c51-0d6f2b8e7a11", "8b1e6d20-4c3f-4a9b-b2e7-5f0c9d1a3e44"}, nameIDFormat: string(saml.EmailAddressNameIDFormat)},
	// AD FS: a persistent opaque NameID, the address only in the upn claim, the
	// group claim URI, and the assertion encrypted and signed alone.
	{name: "adfs", signing: "assertion", encrypt: true, domains: []string{"acme.test"}, settings: sso.Settings{Preset: ptr("adfs")},
		user: idpUser{email: "alice@acme.test", nameID: "9TRHaNzEJlDpxJ1vFq0cS4mLn2Yw7tPz+Ub3kXoQe8A=", nameIDFormat: persistent,
			groupsAttr: uriADFSGroup, groups: []string{"Domain Users", "Engineering"},
			attrs: []saml.Attribute{attr(uriUPN, "alice@acme.test"), attr(uriGiven, "Alice"), attr(uriSurname, "Liddell")}},
		email: "alice@acme.test", given: "Alice", family: "Liddell", display: "Alice Liddell", groups: []string{"Domain Users", "Engineering"},
		nameIDFormat: persistent},
	// Google Workspace: NameID is the primary email; the admin names the
	// attributes in "Attribute mapping", here not the preset's names.
	{name: "google", signing: "assertion", domains: []string{"acme.test"},
		settings: sso.Settings{Preset: ptr("google"), GivenName: &[]string{"first_name"}, FamilyName: &[]string{"last_name"}, Groups: &[]string{"department_groups"}},
		user: idpUser{email: "alice@acme.test", nameID: "alice@acme.test", nameIDFormat: unspecified, groupsAttr: "department_groups", groups: []string{"eng@acme.test"},
			attrs: []saml.Attribute{attr("first_name", "Alice"), attr("last_name", "Liddell")}},
		email: "alice@acme.test", given: "Alice", family: "Liddell", display: "Alice Liddell", groups: []string{"eng@acme.test"}, nameIDFormat: unspecified},
	{name: "onelogin", settings: sso.Settings{Preset: ptr("onelogin")},
		user: idpUser{email: "alice@acme.test", nameID: "alice@acme.test", nameIDFormat: unspecified, groupsAttr: "memberOf", groups: []string{"Engineering", "Ops"},
			attrs: []saml.Attribute{attr("User.email", "alice@acme.test"), attr("User.FirstName", "Alice"), attr("User.LastName", "Liddell")}},
		email: "alice@acme.test", given: "Alice", family: "Liddell", display: "Alice Liddell", groups: []string{"Engineering", "Ops"}, nameIDFormat: unspecified},
	{name: "jumpcloud", settings: sso.Settings{Preset: ptr("jumpcloud")},
		user: idpUser{email: "alice@acme.test", groupsAttr: "memberOf", groups: []string{"Engineering"},
			attrs: []saml.Attribute{attr("email", "alice@acme.test"), attr("firstName", "Alice"), attr("lastName", "Liddell")}},
		email: "alice@acme.test", given: "Alice", family: "Liddell", display: "Alice Liddell", groups: []string{"Engineering"}, nameIDFormat: string(saml.EmailAddressNameIDFormat)},
	// Keycloak: X.500 OIDs (with friendly names), the username as NameID, full
	// group paths cut to their last segment.
	{name: "keycloak", settings: sso.Settings{Preset: ptr("keycloak"), GroupValues: ptr("last-segment")},
		user: idpUser{email: "alice@acme.test", nameID: "alice", nameIDFormat: unspecified, groupsAttr: "member", groups: []string{"/engineering", "/engineering/platform", "/ops/"},
			attrs: []saml.Attribute{oidAttr("urn:oid:1.2.840.113549.1.9.1", "email", "alice@acme.test"), oidAttr("urn:oid:2.5.4.42", "givenName", "Alice"), oidAttr("urn:oid:2.5.4.4", "surname", "Liddell")}},
		email: "alice@acme.test", given: "Alice", family: "Liddell", display: "Alice Liddell", groups: []string{"engineering", "platform", "ops"}, nameIDFormat: unspecified},
	{name: "keycloak-full-paths", settings: sso.Settings{Preset: ptr("keycloak")},
		user: idpUser{email: "alice@acme.test", nameID: "alice", nameIDFormat: unspecified, groupsAttr: "member", groups: []string{"/engineering", "/engineering/platform"},
			attrs: []saml.Attribute{oidAttr("urn:oid:1.2.840.113549.1.9.1", "email", "alice@acme.test")}},
		email: "alice@acme.test", display: "", groups: []string{"/engineering", "/engineering/platform"}, nameIDFormat: unspecified},
	// PingFederate: group DNs cut to their CN.
	{name: "ping", settings: sso.Settings{Preset: ptr("ping"), GroupValues: ptr("cn")},
		user: idpUser{email: "alice@acme.test", groupsAttr: "memberOf",
			groups: []string{"CN=Engineering,OU=Groups,DC=acme,DC=test", `CN=Smith\, Ops,OU=Groups,DC=acme,DC=test`, "cn=eng-ro+uid=x,ou=groups,dc=acme,dc=test", "CN=Engineering,OU=Other,DC=acme,DC=test"},
			attrs:  []saml.Attribute{attr("mail", "alice@acme.test"), attr("givenName", "Alice"), attr("sn", "Liddell")}},
		email: "alice@acme.test", given: "Alice", family: "Liddell", display: "Alice Liddell", groups: []string{"Engineering", "Smith, Ops", "eng-ro"},
		nameIDFormat: string(saml.EmailAddressNameIDFormat)},
	{name: "auth0", settings: sso.Settings{Preset: ptr("auth0")},
		user: idpUser{email: "alice@acme.test", nameID: "auth0|61f0c0ffee1234", nameIDFormat: unspecified, groupsAttr: uriADFSGroup, groups: []string{"admins"},
			attrs: []saml.Attribute{attr(uriEmail, "alice@acme.test"), attr(uriName, "Alice L."), attr(uriGiven, "Alice"), attr(uriSurname, "Liddell")}},
		email: "alice@acme.test", given: "Alice", family: "Liddell", display: "Alice L.", groups: []string{"admins"}, nameIDFormat: unspecified},
}

// TestSAMLShapes logs in through the real crewjam IdP shaped like each
// mainstream IdP, with the connection set up as docs/sso.md says (preset and
// overrides, applied as the CLI applies its flags), and checks what Gatehouse
// read: the email, names, groups, and the subject kept for single logout.
func TestSAMLShapes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		for _, sh := range samlShapes {
			t.Run(sh.name, func(t *testing.T) {
				// A store each: an email domain is routed to one connection only.
				g := newGatehouse(t, newStore(t))
				idp := newSAMLIdP(t)
				idp.signing, idp.encrypt = sh.signing, sh.encrypt
				idp.setUser(sh.user)
				conn := g.addSAML(idp, sh.name, samlOpts{domains: sh.domains, settings: sh.settings})
				b := newBrowser(t)
				form := b.samlStart(g, conn, "/api/v1/me")
				checkSigned(t, form, sh.signing, sh.encrypt)
				mustLogin(t, g, b.submit(form, nil))
				_, me := b.me(g)
				u := me.User
				if u.Email != sh.email || u.GivenName != sh.given || u.FamilyName != sh.family || u.DisplayName != sh.display {
					t.Errorf("user email %q given %q family %q display %q; want %q %q %q %q", u.Email, u.GivenName, u.FamilyName, u.DisplayName,
						sh.email, sh.given, sh.family, sh.display)
				}
				if got := connGroups(t, g, conn); !slices.Equal(got, sorted(sh.groups)) {
					t.Errorf("IdP groups %q, want %q", got, sorted(sh.groups))
				}
				var subj struct {
					NameID string `db:"saml_name_id"`
					Format string `db:"saml_name_id_format"`
					Index  string `db:"saml_session_index"`
				}
				fatalIf(t, g.st.DB().GetContext(ctx, &subj, g.st.DB().Rebind(`SELECT saml_name_id, saml_name_id_format, saml_session_index FROM sso_sessions WHERE connection_id = ?`), conn.ID), "session")
				wantNameID := sh.user.nameID
				if wantNameID == "" {
					wantNameID = sh.user.email
				}
				if subj.NameID != wantNameID || subj.Format != sh.nameIDFormat || subj.Index != "1" {
					t.Errorf("session subject %+v, want NameID %q format %q index 1", subj, wantNameID, sh.nameIDFormat)
				}
			})
		}
	})
}

// checkSigned checks that the IdP's response has the shape the test wants:
// which of the response and the assertion carry a signature, and whether the
// assertion is encrypted.
func checkSigned(t *testing.T, form page, signing string, encrypted bool) {
	t.Helper()
	_, vals := form.form(t)
	root := decodeResponse(t, vals).Root()
	responseSigned := root.SelectElement("Signature") != nil
	if enc := root.SelectElement("EncryptedAssertion") != nil; enc != encrypted {
		t.Fatalf("assertion encrypted: %v, want %v", enc, encrypted)
	}
	if encrypted {
		if responseSigned != (signing != "assertion") {
			t.Fatalf("response signed: %v, for signing %q", responseSigned, signing)
		}
		return
	}
	assertionSigned := root.SelectElement("Assertion").SelectElement("Signature") != nil
	want := map[string][2]bool{"": {true, true}, "assertion": {false, true}, "response": {true, false}}[signing]
	if responseSigned != want[0] || assertionSigned != want[1] {
		t.Fatalf("response signed %v, assertion signed %v; want %v for signing %q", responseSigned, assertionSigned, want, signing)
	}
}

// connGroups are the display names of a connection's IdP groups, sorted.
func connGroups(t *testing.T, g *gatehouse, conn store.SSOConnection) []string {
	t.Helper()
	gs, err := g.st.ListIdPGroups(ctx, g.org.ID, conn.ID, store.Page{})
	fatalIf(t, err, "idp groups")
	var names []string
	for _, x := range gs {
		names = append(names, x.DisplayName)
	}
	slices.Sort(names)
	return names
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestSAMLEmailSources: the AD FS shape's address is in upn only. Without a
// mapping saying so it is not used (the opaque NameID is no address); mapped,
// it is taken only in the connection's domains; a connection cannot even be
// set up to read it without domains.
func TestSAMLEmailSources(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		adfs := samlShapes[3]
		if adfs.name != "adfs" {
			t.Fatal("samlShapes[3] is not the AD FS shape")
		}
		for _, tc := range []struct {
			name     string
			upn      string
			settings sso.Settings
			reason   string
			pageSays string
		}{
			{name: "defaults-ignore-upn", upn: "alice@acme.test", reason: "no_email", pageSays: "did not send an email address"},
			{name: "upn-outside-domains", upn: "alice@corp.local", settings: sso.Settings{Preset: ptr("adfs")}, reason: "email_source_outside_domains", pageSays: "sign-in name"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				g := newGatehouse(t, newStore(t))
				idp := newSAMLIdP(t)
				idp.signing, idp.encrypt = "assertion", true
				u := adfs.user
				u.attrs = []saml.Attribute{attr(uriUPN, tc.upn), attr(uriGiven, "Alice")}
				idp.setUser(u)
				conn := g.addSAML(idp, "adfs", samlOpts{domains: []string{"acme.test"}, settings: tc.settings})
				b := newBrowser(t)
				p := b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
				wantRefused(t, g, p, tc.reason)
				if !strings.Contains(p.body, tc.pageSays) {
					t.Errorf("page does not say %q: %.400s", tc.pageSays, p.body)
				}
				es := g.audits("sso.login_refused")
				if len(es) != 1 || es[0].Details["reason"] != tc.reason {
					t.Errorf("audit %+v, want one sso.login_refused with reason %s", es, tc.reason)
				}
				if _, err := g.userByEmail("alice@corp.local"); err == nil {
					t.Error("a user was created")
				}
			})
		}
		// The configuration itself is refused without domains.
		c := store.SSOConnection{Kind: store.KindSAML, SAML: &store.SAMLConfig{}}
		err := sso.Settings{Preset: ptr("adfs")}.Apply(&c)
		if err == nil || !strings.Contains(err.Error(), "--domain") {
			t.Errorf("adfs preset without domains: %v", err)
		}
	})
}
