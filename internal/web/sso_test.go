package web_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/sso/ssotest"
)

// TestSSOPagesInBrowser drives the SSO connection pages in headless Chromium:
// an org admin adds a SAML connection by metadata URL (the page shows what to
// paste into Okta and Entra, and warns that the IdP's certificate expires within
// 30 days), refuses a bad metadata URL keeping what was typed, adds a SAML
// connection by uploading the metadata file and an OIDC connection by issuer
// and client, edits the first (name, preset, group values), refreshes its
// metadata after the IdP rolled its key (the warning goes), and deletes it after
// a confirmation that says what goes with it. Screenshots of every page.
func TestSSOPagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL
	md := ssotest.NewMetadataServer(t, ssotest.IdPMetadata(t, "okta-expiring", time.Now().Add(12*24*time.Hour)))
	issuer := ssotest.OpenIDProvider(t)

	run("sign in", chromedp.Navigate(base+"/admin/sso"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#connections`)))
	must(text("#connections"), "Okta OIDC", "the connection list")
	shot("sso-01-list")

	// Add SAML by metadata URL; first with a URL that answers 404: refused, what
	// was typed kept, the message next to the field.
	run("open add SAML", chromedp.Click(chromedp.CSS(`#add-saml`)), chromedp.WaitVisible(chromedp.CSS(`#add-connection`)))
	shot("sso-02-add-saml")
	run("add SAML, bad URL", chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Okta SAML"),
		chromedp.SendKeys(chromedp.CSS(`input[name=domains]`), "okta.acme.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=idp_metadata_url]`), md.URL+"/missing"),
		chromedp.SetValue(chromedp.CSS(`select[name=preset]`), "okta"),
		chromedp.Click(chromedp.CSS(`#add-connection button[type=submit]`)))
	waitText(".field-error", "404")
	must(text("main .flash"), "Nothing was changed", "refusal flash")
	if typed := b.value(`input[name=name]`); typed != "Okta SAML" {
		t.Fatalf("the refused form lost the name: %q", typed)
	}
	shot("sso-03-add-saml-refused")
	run("add SAML", chromedp.SetValue(chromedp.CSS(`input[name=idp_metadata_url]`), md.URL),
		chromedp.Click(chromedp.CSS(`#add-connection button[type=submit]`)))
	waitText("#paste", "Okta: Single sign-on URL")
	paste := text("#paste")
	for _, want := range []string{base + "/sso/saml/", "/acs", "/metadata", "Entra ID: Reply URL", "/slo"} {
		must(paste, want, "values to paste")
	}
	must(text("#certificates"), "CN=okta-expiring", "certificate subject")
	must(text("#certificates .cert-warning"), "expires in 1", "certificate warning")
	must(text("#settings"), "okta", "settings")
	shot("sso-04-saml-created")
	id := s.connectionID(t, "Okta SAML")
	run("list with a warning", chromedp.Navigate(base+"/admin/sso"), chromedp.WaitVisible(chromedp.CSS(`#connections`)))
	must(text("#connections .cert-warning"), "expires in 1", "the list warns too")
	shot("sso-04b-list-warning")
	run("back", chromedp.Navigate(base+"/admin/sso/"+id), chromedp.WaitVisible(chromedp.CSS(`#edit-connection`)))

	// Edit: rename, another preset, group values; the settings follow.
	okta, err := s.St.GetDirectory(context.Background(), s.Org.ID, "okta")
	if err != nil {
		t.Fatal(err)
	}
	run("edit", chromedp.SetValue(chromedp.CSS(`#edit-connection input[name=name]`), "Okta (SAML)"),
		chromedp.SetValue(chromedp.CSS(`#edit-connection select[name=directory]`), okta.ID),
		chromedp.SetValue(chromedp.CSS(`#edit-connection select[name=preset]`), "keycloak"),
		chromedp.SetValue(chromedp.CSS(`#edit-connection select[name=group_values]`), "last-segment"),
		chromedp.Click(chromedp.CSS(`#edit-connection button[type=submit]`)))
	waitText("main .flash", "The connection was saved")
	must(text("h1"), "Okta (SAML)", "renamed")
	settings := text("#settings")
	must(settings, "keycloak", "preset")
	must(settings, "last path segment", "group values")
	if c, _ := s.St.GetSSOConnection(context.Background(), id); c.DirectoryID != okta.ID {
		t.Errorf("the connection is not linked to the directory chosen: %q", c.DirectoryID)
	}
	shot("sso-05-saml-edited")

	// The IdP rolls its key; refresh: the new certificate, the warning gone.
	md.Set(ssotest.IdPMetadata(t, "okta-2028", time.Now().Add(500*24*time.Hour)))
	run("refresh", chromedp.Click(chromedp.CSS(`#refresh button`)))
	waitText("main .flash", "fetched again")
	certs := text("#certificates")
	must(certs, "CN=okta-2028", "new certificate")
	must(certs, "retired", "old certificate retired")
	if strings.Contains(certs, "expires in") {
		t.Errorf("the warning stayed after the rollover: %s", certs)
	}
	shot("sso-06-saml-refreshed")

	// Add SAML by uploading the metadata file.
	file := filepath.Join(t.TempDir(), "entra.xml")
	if err := os.WriteFile(file, ssotest.IdPMetadata(t, "entra-app", time.Now().Add(3*365*24*time.Hour)), 0o600); err != nil {
		t.Fatal(err)
	}
	run("add SAML by file", chromedp.Navigate(base+"/admin/sso/add-saml"), chromedp.WaitVisible(chromedp.CSS(`#add-connection`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Entra SAML"),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=idp_metadata_file]`), []string{file}),
		chromedp.SetValue(chromedp.CSS(`select[name=preset]`), "entra"),
		chromedp.SendKeys(chromedp.CSS(`input[name=domains]`), "entra.acme.example"),
		chromedp.Click(chromedp.CSS(`#add-connection button[type=submit]`)))
	waitText("#certificates", "CN=entra-app")
	must(text("#certificates"), "metadata file", "file-based connection says how to rotate")
	shot("sso-07-saml-uploaded")

	// Add OIDC by issuer and client.
	run("add OIDC", chromedp.Navigate(base+"/admin/sso/add-oidc"), chromedp.WaitVisible(chromedp.CSS(`#add-connection`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Okta OIDC 2"),
		chromedp.SendKeys(chromedp.CSS(`input[name=issuer]`), issuer),
		chromedp.SendKeys(chromedp.CSS(`input[name=client_id]`), "0oa-client"),
		chromedp.SendKeys(chromedp.CSS(`input[name=client_secret]`), "s3cret-value"),
		chromedp.SetValue(chromedp.CSS(`select[name=preset]`), "okta"),
		chromedp.Click(chromedp.CSS(`#add-connection button[type=submit]`)))
	waitText("#paste", "Sign-in redirect URI")
	must(text("#paste"), "/callback", "redirect URI")
	must(text("#paste"), "openid email profile groups", "okta preset asks for groups")
	if html := b.html("main"); strings.Contains(html, "s3cret-value") {
		t.Error("the page shows the client secret")
	}
	shot("sso-08-oidc-created")
	oidc := s.connectionID(t, "Okta OIDC 2")
	before, err := s.St.GetSSOConnection(context.Background(), oidc)
	if err != nil {
		t.Fatal(err)
	}
	run("edit OIDC", chromedp.SendKeys(chromedp.CSS(`#edit-connection input[name=client_secret]`), "rotated-secret"),
		chromedp.SetValue(chromedp.CSS(`#edit-connection input[name=extra_scopes]`), "groups offline_access"),
		chromedp.Click(chromedp.CSS(`#edit-connection input[name=userinfo]`)),
		chromedp.Click(chromedp.CSS(`#edit-connection button[type=submit]`)))
	waitText("main .flash", "The connection was saved")
	must(text("#settings"), "openid email profile groups offline_access", "scopes")
	must(text("#settings"), "never", "userinfo off")
	after, _ := s.St.GetSSOConnection(context.Background(), oidc)
	if after.OIDC.ClientSecretSealed == before.OIDC.ClientSecretSealed || after.OIDC.ClientID != "0oa-client" {
		t.Error("the new client secret was not sealed, or the client id changed")
	}
	shot("sso-08b-oidc-edited")

	// Delete the first after a confirmation that says what goes.
	run("list", chromedp.Navigate(base+"/admin/sso"), chromedp.WaitVisible(chromedp.CSS(`#connections`)))
	must(text("#connections"), "Entra SAML", "list")
	shot("sso-09-list")
	run("open delete", chromedp.Navigate(base+"/admin/sso/"+id), chromedp.WaitVisible(chromedp.CSS(`#delete-link`)),
		chromedp.Click(chromedp.CSS(`#delete-link`)), chromedp.WaitVisible(chromedp.CSS(`#delete-preview`)))
	preview := text("#delete-preview")
	for _, want := range []string{"okta.acme.example", "signed out", "group mapping", "Users themselves are kept"} {
		must(preview, want, "delete confirmation")
	}
	shot("sso-10-delete-confirm")
	run("delete", chromedp.Click(chromedp.CSS(`#confirm-delete button`)))
	waitText("main .flash", "was deleted")
	if strings.Contains(text("#connections"), "Okta (SAML)") {
		t.Error("the deleted connection is still listed")
	}
	shot("sso-11-deleted")
	s.siteAPI(t, "GET", "/api/v1/sso/connections/"+id, nil).Want(t, 404)
}

// siteAPI calls the site's own API (its operations can make SSO
// connections) with the org's API token.
func (s *site) siteAPI(t *testing.T, method, path string, body any) apitest.Resp {
	t.Helper()
	return apitest.Call(t, s.srv.URL, method, path, body, apitest.WithToken(s.Token))
}

// connectionID is the id of the site's connection of that name.
func (s *site) connectionID(t *testing.T, name string) string {
	t.Helper()
	for _, c := range s.siteAPI(t, "GET", "/api/v1/sso/connections", nil).Want(t, 200).Items() {
		if c["name"] == name {
			return c["id"].(string)
		}
	}
	t.Fatalf("no connection %q", name)
	return ""
}

// TestSSOPagesAreGuarded: the SSO pages and forms refuse non-admins, forms
// without the CSRF token and cross-site posts; bad input answers 422 with the
// message next to the field and what was typed, and changes nothing.
func TestSSOPagesAreGuarded(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	base := s.srv.URL
	md := ssotest.NewMetadataServer(t, ssotest.IdPMetadata(t, "idp", time.Now().Add(365*24*time.Hour)))
	created := s.siteAPI(t, "POST", "/api/v1/sso/connections", map[string]any{"kind": "saml", "name": "Okta SAML", "idp_metadata_url": md.URL,
		"domains": []string{"okta.acme.example"}}).Want(t, 201)
	id := created.Str("id")
	admin, csrf := formClient(t, s, "admin@acme.test")
	post := func(c *http.Client, path string, form url.Values, hdr ...string) (int, string) {
		t.Helper()
		return postForm(t, c, base+path, form, hdr...)
	}
	state := func() string {
		return string(s.siteAPI(t, "GET", "/api/v1/sso/connections", nil).Want(t, 200).Raw)
	}
	before, audits := state(), auditCount(t, s)
	unchanged := func(what string) {
		t.Helper()
		if state() != before || auditCount(t, s) != audits {
			t.Fatalf("%s changed the connections or wrote to the audit log", what)
		}
	}
	add := url.Values{"name": {"New"}, "idp_metadata_url": {md.URL}, "jit": {"on"}}
	edit := url.Values{"name": {"Renamed"}, "domains": {"okta.acme.example"}}
	for _, c := range []struct {
		name, path string
		form       url.Values
		hdr        []string
	}{
		{"add without CSRF", "/admin/sso/add-saml", add, nil},
		{"edit without CSRF", "/admin/sso/" + id, edit, nil},
		{"delete with a wrong CSRF", "/admin/sso/" + id + "/delete", url.Values{"csrf": {"wrong" + csrf[5:]}}, nil},
		{"refresh without CSRF", "/admin/sso/" + id + "/refresh", url.Values{}, nil},
		{"cross-site add", "/admin/sso/add-saml", withCSRF(add, csrf), []string{"Sec-Fetch-Site", "cross-site"}},
		{"cross-site delete", "/admin/sso/" + id + "/delete", withCSRF(url.Values{}, csrf), []string{"Sec-Fetch-Site", "cross-site"}},
		{"cross-origin edit", "/admin/sso/" + id, withCSRF(edit, csrf), []string{"Origin", "https://evil.example"}},
	} {
		if code, _ := post(admin, c.path, c.form, c.hdr...); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", c.name, code)
		}
		unchanged(c.name)
	}

	// Bad input: 422, the message next to the field, what was typed kept.
	for _, c := range []struct {
		name, path string
		form       url.Values
		want       []string
	}{
		{"no name", "/admin/sso/add-saml", url.Values{"idp_metadata_url": {md.URL}, "domains": {"typed.example"}}, []string{"needs a name", `value="typed.example"`}},
		{"metadata 404", "/admin/sso/add-saml", url.Values{"name": {"Typed Name"}, "idp_metadata_url": {md.URL + "/missing"}}, []string{"404", `value="Typed Name"`}},
		{"no metadata", "/admin/sso/add-saml", url.Values{"name": {"x"}}, []string{"metadata URL or its metadata XML"}},
		{"name taken", "/admin/sso/add-saml", url.Values{"name": {"Okta SAML"}, "idp_metadata_url": {md.URL}}, []string{"already exists"}},
		{"domain taken", "/admin/sso/add-saml", url.Values{"name": {"y"}, "idp_metadata_url": {md.URL}, "domains": {"acme.test"}}, []string{"already routed"}},
		{"skew", "/admin/sso/add-saml", url.Values{"name": {"y"}, "idp_metadata_url": {md.URL}, "clock_skew_seconds": {"900"}}, []string{"from 0 to 300", `value="900"`}},
		{"OIDC without discovery", "/admin/sso/add-oidc", url.Values{"name": {"o"}, "issuer": {md.URL}, "client_id": {"c"}, "client_secret": {"s"}}, []string{"discovery", "Type the secret again"}},
		{"OIDC no secret", "/admin/sso/add-oidc", url.Values{"name": {"o"}, "issuer": {"https://idp.example"}, "client_id": {"c"}}, []string{"client secret"}},
		{"edit: empty name", "/admin/sso/" + id, url.Values{"name": {""}, "domains": {"okta.acme.example"}}, []string{"needs a name"}},
		{"edit: bad domain", "/admin/sso/" + id, url.Values{"name": {"Okta SAML"}, "domains": {"not_a_domain!"}}, []string{"not an email domain", `value="not_a_domain!"`}},
		{"edit: google on SAML without hd is fine, entra UPN without domains is not", "/admin/sso/" + id,
			url.Values{"name": {"Okta SAML"}, "domains": {""}, "mapping_email": {"upn"}}, []string{"sign-in name"}},
		{"edit: a directory of no org", "/admin/sso/" + id, url.Values{"name": {"Okta SAML"}, "domains": {"okta.acme.example"}, "jit": {"on"}, "single_logout": {"on"}, "clock_skew_seconds": {"0"}, "directory": {"nope"}}, []string{"No directory", "nope"}},
		{"refresh from a file-less URL gone", "/admin/sso/" + id + "/refresh", url.Values{}, nil},
	} {
		if c.want == nil {
			md.Set(nil)
		}
		code, body := post(admin, c.path, withCSRF(c.form, csrf))
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, "Nothing was changed") || !strings.Contains(body, "field-error") {
			t.Errorf("%s: %d, want 422 with a field message", c.name, code)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) && !strings.Contains(body, strings.ReplaceAll(w, `"`, "&#34;")) {
				t.Errorf("%s: the page lacks %q", c.name, w)
			}
		}
		unchanged(c.name)
	}
	for path, want := range map[string]int{"/admin/sso/nope": 404, "/admin/sso/nope/delete": 404} {
		res, err := admin.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}

	// Ann is no org admin: every page and form is refused.
	ann, annCSRF := formClient(t, s, "ann@acme.test")
	audits = auditCount(t, s) // her sign-in is audited
	for _, path := range []string{"/admin/sso", "/admin/sso/add-saml", "/admin/sso/add-oidc", "/admin/sso/" + id, "/admin/sso/" + id + "/delete"} {
		res, err := ann.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("ann GET %s: %d, want 403", path, res.StatusCode)
		}
	}
	for _, path := range []string{"/admin/sso/add-saml", "/admin/sso/add-oidc", "/admin/sso/" + id, "/admin/sso/" + id + "/delete", "/admin/sso/" + id + "/refresh"} {
		if code, _ := post(ann, path, withCSRF(add, annCSRF)); code != http.StatusForbidden {
			t.Errorf("ann POST %s: %d, want 403", path, code)
		}
	}
	unchanged("ann")

	// A multipart upload of metadata that is not metadata: refused at the field.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", csrf)
	mw.WriteField("name", "Uploaded")
	fw, _ := mw.CreateFormFile("idp_metadata_file", "idp.xml")
	fw.Write([]byte("<html>not metadata</html>"))
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/admin/sso/add-saml", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 422 || !strings.Contains(string(body), "field-error") || !strings.Contains(string(body), "IdP metadata") {
		t.Errorf("bad upload: %d", res.StatusCode)
	}
	unchanged("bad upload")

	// The admin's good forms go through.
	md.Set(ssotest.IdPMetadata(t, "idp2", time.Now().Add(365*24*time.Hour)))
	if code, _ := post(admin, "/admin/sso/"+id, withCSRF(url.Values{"name": {"Okta SAML"}, "domains": {"okta.acme.example, b.acme.example"}, "jit": {"on"}, "single_logout": {"on"}, "clock_skew_seconds": {"0"}}, csrf)); code != http.StatusSeeOther {
		t.Fatalf("edit: %d", code)
	}
	got := s.siteAPI(t, "GET", "/api/v1/sso/connections/"+id, nil).Want(t, 200)
	if len(got.Body["domains"].([]any)) != 2 || got.Body["version"] != float64(2) {
		t.Errorf("after the edit: %s", got.Raw)
	}
	if code, _ := post(admin, "/admin/sso/"+id+"/delete", withCSRF(url.Values{}, csrf)); code != http.StatusSeeOther {
		t.Fatalf("delete: %d", code)
	}
	s.siteAPI(t, "GET", "/api/v1/sso/connections/"+id, nil).Want(t, 404)
}

// value is the value of the input sel.
func (b *browser) value(sel string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// html is the outer HTML of sel.
func (b *browser) html(sel string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}
