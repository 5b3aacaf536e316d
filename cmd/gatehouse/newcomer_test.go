package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/sso/ssotest"
)

// TestNewcomerPathInBrowser is issue 11's whole path, as a newcomer takes it from a
// fresh clone: the binary built as `make build` builds it, `./bin/gatehouse serve`
// run as the README says (its default SQLite database in the working directory,
// an external URL on loopback), the setup link read from the server's log, and
// then, in Debian's Chromium: the setup page creates the organization and signs its
// admin in, the next-steps page, a SCIM directory and its token, an OIDC connection
// against a real OpenID provider, a workspace with its environments, a user group,
// a mapping from the directory's IdP group onto it, a grant, a resource. Then the
// IdP provisions a user and a group over SCIM (Okta's bodies, real HTTP) and
// POST /api/v1/check, with an API token from the CLI, answers allow with the
// explanation through the mapping. Every page is kept under artifacts/screenshots
// as newcomer-NN-<page>.png. SQLite only: the README's run command is SQLite's.
func TestNewcomerPathInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and drives Chromium")
	}
	b := newNewcomerBrowser(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "gatehouse")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	// The test's OpenID provider runs on this machine: serve refuses loopback
	// IdPs unless told (--sso-allow-loopback), as for a local Keycloak.
	srv := startBinary(t, dir, "./bin/gatehouse", "serve", "--addr", "127.0.0.1:"+port, "--external-url", base, "--sso-allow-loopback")

	// The setup link, from the log line a person sees.
	setupURL := regexp.MustCompile(regexp.QuoteMeta(base) + `/setup\?token=[A-Za-z0-9_%\-]+`).FindString(srv.logs.String())
	if setupURL == "" {
		t.Fatalf("serve logged no setup link on %s:\n%s", base, srv.logs)
	}

	// 1. Setup: the organization and its first admin; signed in, next steps.
	b.run("setup page", chromedp.Navigate(setupURL), chromedp.WaitVisible(chromedp.CSS(`#setup`)))
	b.shot("01-setup")
	b.run("set up", chromedp.SendKeys(chromedp.CSS(`#setup input[name=name]`), "Acme Inc"),
		chromedp.SendKeys(chromedp.CSS(`#setup input[name=slug]`), "acme"),
		chromedp.SendKeys(chromedp.CSS(`#setup input[name=admin_name]`), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS(`#setup input[name=admin_email]`), "ada@acme.example"),
		chromedp.Click(chromedp.CSS(`#setup button[type=submit]`)))
	b.waitText("h1", "Next steps")
	b.must(b.text("header"), "ada@acme.example", "signed in as the first admin")
	b.must(b.text("#step-scim"), base+"/scim/v2", "the SCIM base URL to paste")
	b.shot("02-next-steps")

	// 2. SCIM: a directory and its token, shown once.
	b.run("SCIM page", chromedp.Click(chromedp.CSS(`#step-scim a[href="/admin/scim"]`)), chromedp.WaitVisible(chromedp.CSS(`#create-directory`)))
	b.shot("03-scim")
	b.run("create directory", chromedp.SendKeys(chromedp.CSS(`#create-directory input[name=name]`), "Okta"),
		chromedp.Click(chromedp.CSS(`#create-directory button`)))
	b.waitText("#new-token", "shown once")
	scimTok := strings.TrimSpace(b.text("#new-token code"))
	if scimTok == "" {
		t.Fatal("the SCIM page showed no token")
	}
	b.shot("04-scim-token")
	b.run("directory page", chromedp.Click(chromedp.CSS(`#directories a[href^="/admin/scim/"]`)), chromedp.WaitVisible(chromedp.CSS(`#paste`)))
	b.must(b.text("#paste"), base+"/scim/v2", "what to paste into Okta")
	b.shot("05-scim-directory")

	// 3. SSO: an OIDC connection against a real OpenID provider.
	issuer := ssotest.OpenIDProvider(t)
	b.run("SSO page", chromedp.Navigate(base+"/admin/sso"), chromedp.WaitVisible(chromedp.CSS(`#add-oidc`)))
	b.shot("06-sso")
	b.run("add OIDC page", chromedp.Click(chromedp.CSS(`#add-oidc`)), chromedp.WaitVisible(chromedp.CSS(`#add-connection`)))
	b.shot("07-sso-add-oidc")
	b.run("add OIDC", chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Okta OIDC"),
		chromedp.SendKeys(chromedp.CSS(`input[name=domains]`), "acme.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=issuer]`), issuer),
		chromedp.SendKeys(chromedp.CSS(`input[name=client_id]`), "0oa-gatehouse"),
		chromedp.SendKeys(chromedp.CSS(`input[name=client_secret]`), "client-secret-value"),
		chromedp.SetValue(chromedp.CSS(`select[name=preset]`), "okta"),
		chromedp.Click(chromedp.CSS(`#add-connection button[type=submit]`)))
	b.waitText("#paste", "Sign-in redirect URI")
	b.must(b.text("#paste"), base+"/sso/oidc/", "the redirect URI to paste")
	b.shot("08-sso-connection")

	// 4. A workspace with its promotion path.
	b.run("workspaces", chromedp.Navigate(base+"/admin/workspaces"), chromedp.WaitVisible(chromedp.CSS(`#create-workspace`)))
	b.shot("09-workspaces")
	b.run("create workspace", chromedp.SendKeys(chromedp.CSS(`#create-workspace input[name=slug]`), "analytics"),
		chromedp.SendKeys(chromedp.CSS(`#create-workspace input[name=name]`), "Analytics"),
		chromedp.SetValue(chromedp.CSS(`#create-workspace input[name=environments]`), "development, staging, production"),
		chromedp.Click(chromedp.CSS(`#create-workspace button`)))
	b.waitText(".flash", "workspace was created")
	b.run("workspace page", chromedp.Navigate(base+"/admin/workspaces/analytics"), chromedp.WaitVisible(chromedp.CSS(`#environments`)))
	envs := b.text("#environments")
	for _, e := range []string{"development", "staging", "production"} {
		b.must(envs, e, "the promotion path")
	}
	b.shot("10-workspace")

	// 5. A user group, and the mapping of the directory's IdP group onto it.
	b.run("groups", chromedp.Navigate(base+"/admin/groups"), chromedp.WaitVisible(chromedp.CSS(`#create-group`)))
	b.run("create group", chromedp.SendKeys(chromedp.CSS(`#create-group input[name=name]`), "engineers"),
		chromedp.Click(chromedp.CSS(`#create-group button`)))
	b.waitText("main", "engineers")
	b.shot("11-groups")
	b.run("mappings", chromedp.Navigate(base+"/admin/mappings"), chromedp.WaitVisible(chromedp.CSS(`#add-mapping`)))
	b.shot("12-mappings")
	b.selectText(`#add-mapping select[name=source]`, "SCIM Okta")
	b.selectText(`#add-mapping select[name=group]`, "engineers")
	b.run("add mapping", chromedp.SendKeys(chromedp.CSS(`#add-mapping input[name=idp_group]`), "Engineering"),
		chromedp.Click(chromedp.CSS(`#add-mapping button`)))
	b.waitText("#confirm", "")
	b.shot("13-mapping-preview")
	b.run("confirm mapping", chromedp.Click(chromedp.CSS(`#confirm button`)))
	b.waitText(".flash", "mapping was added")
	b.must(b.text("#mappings"), "Engineering", "the mappings table")
	b.shot("14-mapping-added")
	// The SSO connection's groups map too, from the same form.
	b.selectText(`#add-mapping select[name=source]`, "SSO Okta OIDC")
	b.selectText(`#add-mapping select[name=group]`, "engineers")
	b.run("add SSO mapping", chromedp.SendKeys(chromedp.CSS(`#add-mapping input[name=idp_group]`), "okta-engineering"),
		chromedp.Click(chromedp.CSS(`#add-mapping button`)))
	b.waitText("#confirm", "")
	b.run("confirm SSO mapping", chromedp.Click(chromedp.CSS(`#confirm button`)))
	b.waitText(".flash", "mapping was added")
	b.must(b.text("#mappings"), "SSO Okta OIDC", "the mappings table")
	b.shot("14b-mapping-sso")

	// 6. A grant: engineers are Editors in production.
	b.run("workspace again", chromedp.Navigate(base+"/admin/workspaces/analytics"), chromedp.WaitVisible(chromedp.CSS(`#add-grant`)))
	b.selectText(`#add-grant select[name=group]`, "engineers")
	b.run("grant", chromedp.SetValue(chromedp.CSS(`#add-grant select[name=role]`), "editor"),
		chromedp.Click(chromedp.CSS(`#add-grant input[value=production]`)),
		chromedp.Click(chromedp.CSS(`#add-grant button`)))
	b.waitText("#confirm", "")
	b.shot("15-grant-preview")
	b.run("confirm grant", chromedp.Click(chromedp.CSS(`#confirm button`)))
	b.waitText(".flash", "grant was made")
	b.must(b.text("#grants"), "engineers", "the grants table")
	b.shot("16-grant-made")

	// 7. A resource in production.
	b.run("resources", chromedp.Navigate(base+"/admin/workspaces/analytics/resources"), chromedp.WaitVisible(chromedp.CSS(`#register`)))
	b.run("register", chromedp.SetValue(chromedp.CSS(`#register select[name=type]`), "model"),
		chromedp.SendKeys(chromedp.CSS(`#register input[name=id]`), "m-churn"),
		chromedp.SendKeys(chromedp.CSS(`#register input[name=name]`), "Churn model"),
		chromedp.SetValue(chromedp.CSS(`#register select[name=environment]`), "production"),
		chromedp.Click(chromedp.CSS(`#register button`)))
	b.waitText(".flash", "registered")
	b.must(b.text("#resources"), "m-churn", "the resources table")
	b.shot("17-resources")

	// 8. The IdP provisions a person and a group, as Okta does.
	scim := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		return callJSON(t, method, base+path, scimTok, "application/scim+json", body, want)
	}
	user := scim("POST", "/scim/v2/Users", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    "grace@acme.example",
		"name":        map[string]string{"givenName": "Grace", "familyName": "Hopper"},
		"emails":      []map[string]any{{"primary": true, "value": "grace@acme.example", "type": "work"}},
		"displayName": "Grace Hopper", "locale": "en-US", "externalId": "00u1grace",
		"groups": []any{}, "password": "xK8-not-stored", "active": true,
	}, http.StatusCreated)
	uid, _ := user["id"].(string)
	group := scim("POST", "/scim/v2/Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "Engineering", "members": []any{},
	}, http.StatusCreated)
	gid, _ := group["id"].(string)

	// 9. The application asks, with an API token from the CLI (its default
	// database is the server's, in the same directory).
	out, err := runIn(dir, "./bin/gatehouse", "token", "create", "--org", "acme", "--kind", "api", "--name", "app")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	apiTok := lastLine(out)
	ask := map[string]any{"user": "grace@acme.example", "workspace": "analytics", "action": "edit",
		"resource": map[string]string{"type": "model", "id": "m-churn"}}
	if d := callJSON(t, "POST", base+"/api/v1/check", apiTok, "application/json", ask, http.StatusOK); d["decision"] != "deny" || d["reason"] != "no_grant" {
		t.Fatalf("before Okta pushes the group's members: %v; want deny no_grant", d)
	}
	// Okta pushes the group's members.
	callJSON(t, "PATCH", base+"/scim/v2/Groups/"+gid, scimTok, "application/scim+json", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "add", "path": "members",
			"value": []map[string]string{{"value": uid, "display": "grace@acme.example"}}}},
	}, http.StatusOK, http.StatusNoContent)
	d := callJSON(t, "POST", base+"/api/v1/check", apiTok, "application/json", ask, http.StatusOK)
	if d["decision"] != "allow" {
		t.Fatalf("check: %v; want allow", d)
	}
	steps, _ := d["explanation"].([]any)
	var kinds []string
	text := ""
	for _, s := range steps {
		m, _ := s.(map[string]any)
		k, _ := m["kind"].(string)
		kinds = append(kinds, k)
		raw, _ := json.Marshal(m)
		text += string(raw)
	}
	if got := strings.Join(kinds, ">"); !strings.Contains(got, "user>idp_group>mapping>user_group>grant>role") {
		t.Fatalf("explanation chain %s; want user>idp_group>mapping>user_group>grant>role…\n%v", got, d)
	}
	for _, want := range []string{"grace@acme.example", "Engineering", "engineers", "editor"} {
		if !strings.Contains(strings.ToLower(text), strings.ToLower(want)) {
			t.Errorf("the explanation does not name %q: %s", want, text)
		}
	}

	// The pages show the same: the person, and why.
	b.run("users", chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(chromedp.CSS(`main`)))
	b.waitText("main", "grace@acme.example")
	b.shot("18-users")
	b.run("user", chromedp.Navigate(base+"/admin/users/"+uid), chromedp.WaitVisible(chromedp.CSS(`main`)))
	b.waitText("main", "engineers")
	b.shot("19-user")

	// The setup link was single use, and a server started again on the same
	// database logs none.
	b.run("setup link again", chromedp.Navigate(setupURL), chromedp.WaitVisible(chromedp.CSS(`#closed`)))
	b.must(b.text("#closed"), "already used", "the used setup link")
	b.shot("20-setup-used")
	again := startBinary(t, dir, "./bin/gatehouse", "serve", "--addr", "127.0.0.1:0", "--external-url", base)
	if strings.Contains(again.logs.String(), "/setup?token=") {
		t.Errorf("a database with an organization got a setup link:\n%s", again.logs)
	}

	// Break glass: signed out, the admin gets back in with the CLI's sign-in link.
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	_, err = chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	b.run("signed out", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)))
	b.shot("21-sign-in")
	ctx, cancel = context.WithTimeout(b.ctx, 10*time.Second)
	links, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[href="/sso/login"]').length`))
	cancel()
	if err != nil || links != 0 {
		t.Errorf("the sign-in page links to itself %d times (%v)", links, err)
	}
	out, err = runIn(dir, "./bin/gatehouse", "login-link", "--org", "acme", "--email", "ada@acme.example", "--external-url", base)
	if err != nil {
		t.Fatalf("login-link: %v\n%s", err, out)
	}
	link := lastLine(out)
	if !strings.HasPrefix(link, base+"/") {
		t.Fatalf("login-link printed %q last; want a link on %s", link, base)
	}
	// The link shows a button (link previews must not use it up); the button signs in.
	b.run("sign-in link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`button[type=submit]`)))
	b.shot("22-sign-in-link")
	b.run("use the link", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	b.waitText("header", "ada@acme.example")
	b.shot("23-break-glass-signed-in")
}

// freePort is a loopback port free a moment ago: the external URL names it
// before serve starts.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

// binaryServer is a `gatehouse serve` process.
type binaryServer struct {
	logs   *syncBuffer
	exited chan struct{}
}

// startBinary starts the server command in dir and waits for its "listening" line.
func startBinary(t *testing.T, dir string, args ...string) *binaryServer {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &binaryServer{logs: &syncBuffer{}, exited: make(chan struct{})}
	listening := make(chan struct{})
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.logs.Write([]byte(sc.Text() + "\n"))
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "listening" {
				once.Do(func() { close(listening) })
			}
		}
		cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", s.logs)
		}
	})
	select {
	case <-listening:
		return s
	case <-s.exited:
		t.Fatalf("serve exited before listening:\n%s", s.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not listen within 30s:\n%s", s.logs)
	}
	return nil
}

func runIn(dir string, args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String() + errOut.String(), err
}

// callJSON sends body as JSON with a bearer token and wants one of the statuses.
func callJSON(t *testing.T, method, url, token, ctype string, body any, want ...int) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	ok := false
	for _, w := range want {
		ok = ok || resp.StatusCode == w
	}
	if !ok {
		t.Fatalf("%s %s: %d %s; want %v", method, url, resp.StatusCode, got, want)
	}
	out := map[string]any{}
	if len(got) > 0 {
		if err := json.Unmarshal(got, &out); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, url, got)
		}
	}
	return out
}

// newcomerBrowser is a headless Chromium with the page tests' steps (see
// internal/web's browser tests): screenshots go to artifacts/screenshots as
// newcomer-NN-<page>.png.
type newcomerBrowser struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

func newNewcomerBrowser(t *testing.T) *newcomerBrowser {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium binary found in CI")
		}
		t.Skip("no chromium binary found (apt-get install -y chromium): the browser tests need one")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	root, _ := os.Getwd()
	for ; root != "/"; root = filepath.Dir(root) {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
	}
	shots := filepath.Join(root, "artifacts", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return &newcomerBrowser{t: t, ctx: bctx, shots: shots}
}

func (b *newcomerBrowser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *newcomerBrowser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, "newcomer-"+name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *newcomerBrowser) text(sel string) string {
	b.t.Helper()
	return b.waitText(sel, "")
}

// waitText waits until sel's text holds want: after a form posts, the old page
// may still be there for a moment.
func (b *newcomerBrowser) waitText(sel, want string) string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil && strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			url, _ := chromedp.Run(b.ctx, chromedp.Location())
			body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
			b.t.Fatalf("%s never showed %q (last %q, %v) on %s:\n%s", sel, want, got, err, url, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *newcomerBrowser) must(got, want, where string) {
	b.t.Helper()
	if !strings.Contains(got, want) {
		b.t.Fatalf("%s: %q does not contain %q", where, got, want)
	}
}

// selectText chooses the option of the select sel whose label holds label.
func (b *newcomerBrowser) selectText(sel, label string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const s = document.querySelector(%q); if (!s) return "no select";
		for (const o of s.options) { if (o.textContent.includes(%q)) { s.value = o.value; return ""; } }
		return "no option: " + Array.from(s.options).map(o => o.textContent).join(", "); })()`, sel, label)
	b.waitText(sel, label)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil || msg != "" {
		b.t.Fatalf("choose %q in %s: %v %s", label, sel, err, msg)
	}
}
