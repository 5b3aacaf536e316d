package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The CLI is tested in-process through run, on SQLite always and on PostgreSQL when
// GATEHOUSE_TEST_POSTGRES is set (each test in a schema of its own).

type backend struct{ name, dsn string }

// backends returns a fresh, empty database per backend for one test.
func backends(t *testing.T) []backend {
	t.Helper()
	out := []backend{{"sqlite", "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")}}
	if pg := os.Getenv("GATEHOUSE_TEST_POSTGRES"); pg != "" && !testing.Short() {
		out = append(out, backend{"postgres", pgSchemaDSN(t, pg)})
	}
	return out
}

// pgSchemaDSN creates a schema of its own for the test and returns a DSN that uses it.
func pgSchemaDSN(t *testing.T, base string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "gh_cli_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		db.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// syncBuffer is an output sink safe for a command's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gatehouse runs one command in-process.
func gatehouse(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb syncBuffer
	err = run(context.Background(), &out, &errb, args)
	return out.String(), errb.String(), err
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, err := gatehouse(t, args...)
	if err != nil {
		t.Fatalf("gatehouse %s: %v\nstderr: %s", strings.Join(args, " "), err, errs)
	}
	return out
}

// openTestStore opens the database a command wrote, to check what it did.
func openTestStore(t *testing.T, dsn string) *store.SQL {
	t.Helper()
	s, err := openStore(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantErr checks that err is a one-line error containing want.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := oneLine(err)
	if !strings.Contains(msg, want) {
		t.Fatalf("error %q does not contain %q", msg, want)
	}
	if strings.Contains(msg, "goroutine ") || strings.Contains(msg, "panic") {
		t.Fatalf("error looks like a crash: %q", msg)
	}
}

func TestUnknownAndMissingCommand(t *testing.T) {
	t.Parallel()
	_, stderr, err := gatehouse(t)
	wantErr(t, err, "no command given")
	if !strings.Contains(stderr, "serve") || !strings.Contains(stderr, "demo") {
		t.Errorf("usage lists no commands:\n%s", stderr)
	}
	_, _, err = gatehouse(t, "frobnicate")
	wantErr(t, err, `unknown command "frobnicate"`)
	_, _, err = gatehouse(t, "org")
	wantErr(t, err, "gatehouse org needs a command")
	_, _, err = gatehouse(t, "org", "delete")
	wantErr(t, err, `unknown command "delete" for gatehouse org`)
	if _, _, err := gatehouse(t, "help"); err != nil {
		t.Errorf("help: %v", err)
	}
}

func TestBadDSN(t *testing.T) {
	t.Parallel()
	_, _, err := gatehouse(t, "org", "create", "--db", "mysql://root@localhost/x", "--slug", "acme", "--name", "Acme", "--admin-email", "a@acme.example")
	wantErr(t, err, "unsupported database DSN")
	_, _, err = gatehouse(t, "org", "create", "--db", "sqlite:"+filepath.Join(t.TempDir(), "no", "such", "dir", "g.db"), "--slug", "acme", "--name", "Acme", "--admin-email", "a@acme.example")
	wantErr(t, err, "sqlite")
	_, _, err = gatehouse(t, "migrate", "--db", "postgres://nobody:secret-pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	wantErr(t, err, "connect to postgres")
	if strings.Contains(err.Error(), "secret-pw") {
		t.Fatalf("the error shows the password: %v", err)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			out := mustRun(t, "migrate", "--db", b.dsn)
			if !strings.Contains(out, "applied 0001_core") {
				t.Errorf("first migrate: %q", out)
			}
			if out := mustRun(t, "migrate", "--db", b.dsn); !strings.Contains(out, "up to date") {
				t.Errorf("second migrate: %q", out)
			}
		})
	}
}

func TestOrgCreate(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			out := mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme Inc", "--admin-email", "ada@acme.example")
			if !strings.Contains(out, "created organization acme (Acme Inc)") || !strings.Contains(out, "first org admin: ada@acme.example") {
				t.Errorf("output: %q", out)
			}
			st := openTestStore(t, b.dsn)
			org, err := st.GetOrg(context.Background(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			admins, err := st.ListOrgAdmins(context.Background(), org.ID)
			if err != nil || len(admins) != 1 || admins[0].Email != "ada@acme.example" {
				t.Fatalf("org admins = %v, %v", admins, err)
			}
			if !strings.Contains(out, org.ID) {
				t.Errorf("output does not show the org id %s: %q", org.ID, out)
			}

			_, _, err = gatehouse(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Other", "--admin-email", "x@acme.example")
			wantErr(t, err, `organization "acme" already exists`)
			_, _, err = gatehouse(t, "org", "create", "--db", b.dsn, "--slug", "Not A Slug", "--name", "Other", "--admin-email", "x@acme.example")
			wantErr(t, err, `slug "Not A Slug" is not valid`)
			_, _, err = gatehouse(t, "org", "create", "--db", b.dsn, "--slug", "beta", "--name", "Beta", "--admin-email", "not-an-email")
			wantErr(t, err, "not a valid email")
			if orgs, _ := st.ListOrgs(context.Background()); len(orgs) != 1 {
				t.Errorf("refused creations left %d orgs", len(orgs))
			}
		})
	}
}

func TestOrgCreateMissingFlags(t *testing.T) {
	t.Parallel()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "g.db")
	_, _, err := gatehouse(t, "org", "create", "--db", dsn, "--slug", "acme")
	wantErr(t, err, "missing --name, --admin-email")
	_, _, err = gatehouse(t, "org", "create", "--db", dsn, "--slug", "acme", "extra")
	wantErr(t, err, `unexpected argument "extra"`)
	_, stderr, err := gatehouse(t, "org", "create", "--nope")
	wantErr(t, err, "flag provided but not defined")
	if !strings.Contains(stderr, "-admin-email") {
		t.Errorf("an unknown flag should show the command's flags:\n%s", stderr)
	}
	if _, err := os.Stat(strings.TrimPrefix(dsn, "sqlite:")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused commands created the database file (%v)", err)
	}
}

// TestEnvFallback uses t.Setenv, so it cannot run in parallel.
func TestEnvFallback(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "env.db")
	t.Setenv("GATEHOUSE_DB", dsn)
	t.Setenv("GATEHOUSE_ADMIN_EMAIL", "env@acme.example")
	mustRun(t, "org", "create", "--slug", "acme", "--name", "Acme")
	st := openTestStore(t, dsn)
	org, err := st.GetOrg(context.Background(), "acme")
	if err != nil {
		t.Fatalf("the org is not in GATEHOUSE_DB: %v", err)
	}
	admins, _ := st.ListOrgAdmins(context.Background(), org.ID)
	if len(admins) != 1 || admins[0].Email != "env@acme.example" {
		t.Errorf("admins = %v, want env@acme.example from GATEHOUSE_ADMIN_EMAIL", admins)
	}
	// The command line wins over the environment.
	other := "sqlite:" + filepath.Join(t.TempDir(), "flag.db")
	mustRun(t, "org", "create", "--db", other, "--slug", "beta", "--name", "Beta")
	if _, err := openTestStore(t, other).GetOrg(context.Background(), "beta"); err != nil {
		t.Errorf("--db did not win over GATEHOUSE_DB: %v", err)
	}
}

func TestTokenCreate(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "ada@acme.example")
			st := openTestStore(t, b.dsn)
			org, _ := st.GetOrg(ctx, "acme")

			out := mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "okta", "--external-url", "https://gh.acme.example/")
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			secret := lines[len(lines)-1]
			if strings.ContainsAny(secret, " \t") || len(secret) < 32 {
				t.Fatalf("last line is not a secret alone: %q", secret)
			}
			if !strings.Contains(out, `SCIM directory "okta"`) || !strings.Contains(out, "https://gh.acme.example/scim/v2") {
				t.Errorf("output does not name the directory and the SCIM base URL:\n%s", out)
			}
			if strings.Count(out, secret) != 1 {
				t.Errorf("the secret is printed more than once")
			}
			tok, err := st.Authenticate(ctx, secret)
			if err != nil {
				t.Fatalf("the printed secret does not authenticate: %v", err)
			}
			dir, err := st.GetDirectory(ctx, org.ID, "okta")
			if err != nil {
				t.Fatal(err)
			}
			if tok.Kind != store.TokenSCIM || tok.OrgID != org.ID || tok.DirectoryID != dir.ID {
				t.Errorf("token = %+v, want a SCIM token of directory %s", tok, dir.ID)
			}

			// A second SCIM token for the same directory reuses it (token rotation).
			out2 := mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "okta", "--external-url", "https://gh.acme.example")
			lines2 := strings.Split(strings.TrimRight(out2, "\n"), "\n")
			tok2, err := st.Authenticate(ctx, lines2[len(lines2)-1])
			if err != nil || tok2.DirectoryID != dir.ID || tok2.ID == tok.ID {
				t.Fatalf("second token = %+v, %v; want a new token on directory %s", tok2, err, dir.ID)
			}
			if !strings.Contains(out2, "SCIM base URL: https://gh.acme.example/scim/v2") {
				t.Errorf("the second token's output lacks the SCIM base URL:\n%s", out2)
			}
			if dirs, _ := st.ListDirectories(ctx, org.ID); len(dirs) != 1 {
				t.Errorf("%d directories, want the one reused", len(dirs))
			}

			out3 := mustRun(t, "token", "create", "--db", b.dsn, "--org", org.ID, "--kind", "api", "--name", "reporting")
			lines3 := strings.Split(strings.TrimRight(out3, "\n"), "\n")
			tok3, err := st.Authenticate(ctx, lines3[len(lines3)-1])
			if err != nil || tok3.Kind != store.TokenAPI || tok3.DirectoryID != "" || tok3.Name != "reporting" {
				t.Fatalf("api token = %+v, %v", tok3, err)
			}

			_, _, err = gatehouse(t, "token", "create", "--db", b.dsn, "--org", "nope", "--kind", "api", "--name", "x")
			wantErr(t, err, `organization "nope" does not exist`)
			_, _, err = gatehouse(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "saml", "--name", "x")
			wantErr(t, err, `--kind "saml": want scim or api`)
			_, _, err = gatehouse(t, "token", "create", "--db", b.dsn, "--org", "acme")
			wantErr(t, err, "missing --kind, --name")
			_, _, err = gatehouse(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "entra", "--external-url", "gh.acme.example")
			wantErr(t, err, "--external-url")
			// Without an external URL a SCIM token would come with a bare /scim/v2
			// that no IdP accepts: refused like sso add-*, before anything is written.
			_, _, err = gatehouse(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "entra")
			wantErr(t, err, "no external URL: set --external-url or GATEHOUSE_EXTERNAL_URL")
			if _, err := st.GetDirectory(ctx, org.ID, "entra"); err == nil {
				t.Errorf("a refused token create left a directory behind")
			}
		})
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			out := mustRun(t, "demo", "--db", b.dsn)
			for _, want := range []string{
				"Loaded demo organization acme",
				"DENY (role_forbids)",         // Editor may not edit an existing source
				"DENY (not_visible_in_space)", // Marketing does not see the Finance space
				"ALLOW (allowed)",
				"DRAFT_ONLY (draft_only)",
				"DENY (user_inactive)",
				"idp_group Okta-Marketing", "mapping Okta-Marketing → Marketing", "role Sync Operator",
				"gatehouse token create --db",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("demo output lacks %q", want)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}

			st := openTestStore(t, b.dsn)
			org, err := st.GetOrg(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			n, _ := st.CountUsers(ctx, org.ID)
			if n < 45 || n > 60 {
				t.Errorf("%d users, want about 50", n)
			}
			ws, err := st.ListWorkspaces(ctx, org.ID, store.Page{Limit: 10})
			if err != nil || len(ws) != 2 {
				t.Fatalf("workspaces = %v, %v", ws, err)
			}
			roles := map[string]bool{}
			narrowed := false
			grants, _ := st.ListGrants(ctx, org.ID, store.GrantQuery{})
			for _, g := range grants {
				roles[g.Role+g.CustomRoleID] = true
				narrowed = narrowed || len(g.EnvironmentIDs) > 0
			}
			for _, r := range []string{"admin", "editor", "viewer", "draft_contributor"} {
				if !roles[r] {
					t.Errorf("no grant uses role %s", r)
				}
			}
			if !narrowed || len(roles) < 5 {
				t.Errorf("want a narrowed grant and a custom role: %v", grants)
			}

			_, _, err = gatehouse(t, "demo", "--db", b.dsn)
			wantErr(t, err, `organization "acme" already exists: the demo is already loaded`)
		})
	}
}

// TestBinaryExitCode builds the real binary and checks what a shell sees on bad input:
// exit status 2 and one line on stderr.
func TestBinaryExitCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "g.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing flag", []string{"org", "create", "--db", dsn, "--slug", "acme"}, "gatehouse: missing --name, --admin-email"},
		{"unknown org", []string{"token", "create", "--db", dsn, "--org", "nope", "--kind", "api", "--name", "x"}, `gatehouse: organization "nope" does not exist`},
		{"bad dsn", []string{"migrate", "--db", "oracle://x"}, "gatehouse: unsupported database DSN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tc.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit = %v, want status 2", err)
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
				t.Fatalf("stderr = %q, want one line starting %q", stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
	// -h is not an error.
	if err := exec.Command(bin, "serve", "-h").Run(); err != nil {
		t.Errorf("serve -h: %v", err)
	}
}
