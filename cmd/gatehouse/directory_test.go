package main

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// TestDirectoryDomainsCLI: token create --kind scim --domain (repeatable or a
// comma list) sets the directory's email domains with its token, in one
// transaction; gatehouse directory update --domain replaces them (--domain=
// clears); a bad or taken domain is refused naming --domain and changes nothing.
func TestDirectoryDomainsCLI(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "ada@acme.example")
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "other", "--name", "Other", "--admin-email", "bob@other.example")
			st := openTestStore(t, b.dsn)
			org, _ := st.GetOrg(ctx, "acme")
			out := mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "okta", "--external-url", "https://gh.acme.example",
				"--domain", "Acme.Example", "--domain", "corp.example,eu.acme.example")
			if !strings.Contains(out, "Email domains: acme.example, corp.example, eu.acme.example") {
				t.Errorf("token create output lacks the domains:\n%s", out)
			}
			d, err := st.GetDirectory(ctx, org.ID, "okta")
			if err != nil || !reflect.DeepEqual(d.Domains, []string{"acme.example", "corp.example", "eu.acme.example"}) {
				t.Fatalf("directory %+v, %v", d, err)
			}
			// A refused domain writes nothing: no new directory, no token.
			mustRun(t, "token", "create", "--db", b.dsn, "--org", "other", "--kind", "scim", "--name", "x", "--external-url", "https://gh.other.example", "--domain", "other.example")
			_, _, err = gatehouse(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "entra", "--external-url", "https://gh.acme.example", "--domain", "other.example")
			wantErr(t, err, "other.example belongs to another organization")
			if _, err := st.GetDirectory(ctx, org.ID, "entra"); err == nil {
				t.Errorf("a refused token create left a directory behind")
			}
			_, _, err = gatehouse(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "api", "--name", "app", "--domain", "acme.example")
			wantErr(t, err, "--domain applies to --kind scim")

			out = mustRun(t, "directory", "update", "--db", b.dsn, "--org", "acme", "--directory", "okta", "--domain", "acme.example", "--domain", "new.example")
			if !strings.Contains(out, "email domains: [acme.example, new.example] (were [acme.example, corp.example, eu.acme.example])") {
				t.Errorf("directory update output:\n%s", out)
			}
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"--directory", "okta", "--domain", "bad domain"}, `--domain: "bad domain" is not an email domain`},
				{[]string{"--directory", "okta", "--domain", "other.example"}, "--domain: email domain other.example belongs to another organization"},
				{[]string{"--directory", "nope", "--domain", "x.example"}, `organization acme has no SCIM directory "nope"`},
				{[]string{"--directory", "okta"}, "nothing to change: give --domain"},
				{[]string{"--domain", "x.example"}, "missing --directory"},
			} {
				_, _, err := gatehouse(t, append([]string{"directory", "update", "--db", b.dsn, "--org", "acme"}, c.args...)...)
				wantErr(t, err, c.want)
			}
			if d, _ := st.GetDirectory(ctx, org.ID, "okta"); !reflect.DeepEqual(d.Domains, []string{"acme.example", "new.example"}) {
				t.Errorf("after refusals: %v", d.Domains)
			}
			mustRun(t, "directory", "update", "--db", b.dsn, "--org", "acme", "--directory", "okta", "--domain=")
			if d, _ := st.GetDirectory(ctx, org.ID, "okta"); len(d.Domains) != 0 {
				t.Errorf("after --domain=: %v", d.Domains)
			}
		})
	}
}
