package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestBreakGlassSignIn: org create prints a single-use sign-in link for the new
// admin, alone on the last line; following it (with no SSO connection at all)
// makes a real session that opens the admin pages; it works once. login-link
// prints another, and refuses anyone but an active org admin with one line.
func TestBreakGlassSignIn(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			out := mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "ada@acme.example", "--admin-name", "Ada Lovelace")
			link := lastLine(out)
			if !strings.HasPrefix(link, "http://127.0.0.1:8080/sso/link?token=") {
				t.Fatalf("org create's last line is not a sign-in link:\n%s", out)
			}
			st := openTestStore(t, b.dsn)
			org, _ := st.GetOrg(ctx, "acme")
			admin, err := st.GetUserByEmail(ctx, org.ID, "ada@acme.example")
			if err != nil || admin.DisplayName != "Ada Lovelace" {
				t.Fatalf("admin = %+v, %v; want the name given with --admin-name", admin, err)
			}
			srv := startServe(t, "--db", b.dsn)
			onServer := func(link string) string {
				u, err := url.Parse(link)
				if err != nil {
					t.Fatal(err)
				}
				return srv.base + u.RequestURI()
			}
			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Jar: jar}
			follow := func(link string) (int, string) {
				t.Helper()
				// Opening the link only shows a button: link scanners must not use it up.
				resp, err := browser.Get(onServer(link))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(body), `name="token"`) {
					t.Fatalf("GET link: %d\n%s", resp.StatusCode, body)
				}
				tok, _ := url.Parse(link)
				resp, err = browser.PostForm(srv.base+"/sso/link", url.Values{"token": {tok.Query().Get("token")}})
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ = io.ReadAll(resp.Body)
				return resp.StatusCode, resp.Request.URL.Path + "\n" + string(body)
			}
			code, page := follow(link)
			if code != 200 || !strings.HasPrefix(page, "/admin/\n") || !strings.Contains(page, "Acme") {
				t.Fatalf("following the link: %d %s", code, page)
			}
			if es, _ := st.ListAudit(ctx, org.ID, store.AuditQuery{Action: "signin.break_glass"}); len(es) != 1 || es[0].TargetID != admin.ID {
				t.Fatalf("break-glass audit = %+v", es)
			}
			// Single use.
			jar2, _ := cookiejar.New(nil)
			browser.Jar = jar2
			if code, page := follow(link); code != http.StatusGone || !strings.Contains(page, "expired or was already used") {
				t.Fatalf("second use: %d %s", code, page)
			}

			// login-link: another link, for the admin only.
			out = mustRun(t, "login-link", "--db", b.dsn, "--org", "acme", "--email", "ADA@acme.example", "--ttl", "5m", "--external-url", srv.base)
			if !strings.Contains(out, "ada@acme.example") || !strings.HasPrefix(lastLine(out), srv.base+"/sso/link?token=") {
				t.Fatalf("login-link output:\n%s", out)
			}
			if code, page := follow(lastLine(out)); code != 200 || !strings.HasPrefix(page, "/admin/\n") {
				t.Fatalf("following login-link's link: %d %s", code, page)
			}
			member, err := st.CreateUser(ctx, cliActor, core.User{OrgID: org.ID, UserName: "bob@acme.example", Email: "bob@acme.example", Active: true, Source: core.SourceInvited})
			if err != nil {
				t.Fatal(err)
			}
			deputy, _ := st.CreateUser(ctx, cliActor, core.User{OrgID: org.ID, UserName: "cy@acme.example", Email: "cy@acme.example", Active: true, Source: core.SourceInvited})
			if err := st.AddOrgAdmin(ctx, cliActor, org.ID, deputy.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := st.UpdateUser(ctx, cliActor, org.ID, deputy.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"--org", "acme", "--email", member.Email}, "user bob@acme.example is not an org admin"},
				{[]string{"--org", "acme", "--email", deputy.Email}, "user cy@acme.example is deactivated"},
				{[]string{"--org", "acme", "--email", "nobody@acme.example"}, `organization acme has no user "nobody@acme.example"`},
				{[]string{"--org", "nope", "--email", member.Email}, `organization "nope" does not exist`},
				{[]string{"--org", "acme", "--email", "ada@acme.example", "--ttl", "48h"}, "--ttl 48h0m0s: want from 1m to 24h"},
				{[]string{"--org", "acme"}, "missing --email"},
			} {
				stdout, _, err := gatehouse(t, append([]string{"login-link", "--db", b.dsn}, tc.args...)...)
				wantErr(t, err, tc.want)
				if strings.Contains(oneLine(err), "\n") || stdout != "" {
					t.Errorf("%v: refused with output %q", tc.args, stdout)
				}
			}
			if es, _ := st.ListAudit(ctx, org.ID, store.AuditQuery{Action: "signin_link.create"}); len(es) != 2 {
				t.Errorf("%d links audited, want the two made", len(es))
			}
		})
	}
}

// TestOrgAddAdminRecovers: when the identity provider deprovisioned an org's
// last admin (here straight in SQL), login-link refuses them, and org add-admin
// gets the org back: it creates a local user as org admin and prints their
// sign-in link, which opens the admin pages. It also promotes an existing
// member, and refuses deactivated users and bad emails with one line, writing
// nothing. SQLite and PostgreSQL.
func TestOrgAddAdminRecovers(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "ada@acme.example")
			st := openTestStore(t, b.dsn)
			org, _ := st.GetOrg(ctx, "acme")
			ada, _ := st.GetUserByEmail(ctx, org.ID, "ada@acme.example")
			if _, err := st.DB().ExecContext(ctx, st.DB().Rebind(`UPDATE users SET active = ? WHERE id = ?`), false, ada.ID); err != nil {
				t.Fatal(err)
			}
			_, _, err := gatehouse(t, "login-link", "--db", b.dsn, "--org", "acme", "--email", "ada@acme.example")
			wantErr(t, err, "user ada@acme.example is deactivated")

			srv := startServe(t, "--db", b.dsn)
			out := mustRun(t, "org", "add-admin", "--db", b.dsn, "--org", "acme", "--email", "rescue@acme.example", "--name", "Rescue", "--external-url", srv.base)
			if !strings.Contains(out, "created local user rescue@acme.example") || !strings.Contains(out, "rescue@acme.example is an org admin of acme") {
				t.Fatalf("add-admin output:\n%s", out)
			}
			jar, _ := cookiejar.New(nil)
			link, _ := url.Parse(lastLine(out))
			resp, err := (&http.Client{Jar: jar}).PostForm(srv.base+"/sso/link", url.Values{"token": {link.Query().Get("token")}})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Request.URL.Path != "/admin/" || !strings.Contains(string(body), "rescue@acme.example") {
				t.Fatalf("the rescue link: %d %s", resp.StatusCode, resp.Request.URL.Path)
			}
			rescue, _ := st.GetUserByEmail(ctx, org.ID, "rescue@acme.example")
			if ok, _ := st.IsOrgAdmin(ctx, org.ID, rescue.ID); !ok || rescue.Source != core.SourceInvited || rescue.DisplayName != "Rescue" {
				t.Fatalf("rescue = %+v, admin %v", rescue, ok)
			}

			// An existing member is promoted, not created again.
			bob, _ := st.CreateUser(ctx, cliActor, core.User{OrgID: org.ID, UserName: "bob@acme.example", Email: "bob@acme.example", Active: true, Source: core.SourceInvited})
			out = mustRun(t, "org", "add-admin", "--db", b.dsn, "--org", "acme", "--email", "bob@acme.example")
			if strings.Contains(out, "created local user") || !strings.Contains(out, "bob@acme.example is an org admin of acme") {
				t.Fatalf("promoting bob:\n%s", out)
			}
			if ok, _ := st.IsOrgAdmin(ctx, org.ID, bob.ID); !ok {
				t.Fatal("bob is not an org admin")
			}
			before, _ := st.ListAudit(ctx, org.ID, store.AuditQuery{})
			for _, tc := range []struct{ email, want string }{
				{"ada@acme.example", "user ada@acme.example is deactivated"},
				{"not-an-email", `email "not-an-email" is not a valid email address`},
			} {
				stdout, _, err := gatehouse(t, "org", "add-admin", "--db", b.dsn, "--org", "acme", "--email", tc.email)
				wantErr(t, err, tc.want)
				if stdout != "" {
					t.Errorf("%s: refused with output %q", tc.email, stdout)
				}
			}
			if after, _ := st.ListAudit(ctx, org.ID, store.AuditQuery{}); len(after) != len(before) {
				t.Errorf("refused add-admin wrote %d audit events", len(after)-len(before))
			}
		})
	}
}
