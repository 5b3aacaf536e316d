package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var directoryCommands = map[string]command{
	"update": {"change a SCIM directory's email domains", runDirectoryUpdate},
}

// runDirectoryUpdate replaces a directory's email domains through the same
// operation as PATCH /api/v1/directories/{directory}.
func runDirectoryUpdate(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("directory update", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	orgSlug := fs.String("org", "", "the organization's slug or id (required)")
	dirRef := fs.String("directory", "", "the directory's id or name (required)")
	var domains listFlag
	fs.Var(&domains, "domain", "an email domain of the directory's users (repeatable or comma-separated; replaces the list; --domain= clears it) (required)")
	given, err := parseCommandLine(fs, args, "db", "org")
	if err != nil {
		return err
	}
	if err := required([2]string{"org", *orgSlug}, [2]string{"directory", *dirRef}); err != nil {
		return err
	}
	if !given["domain"] {
		return &usageError{msg: "nothing to change: give --domain (repeatable; --domain= clears the list)"}
	}
	return withStore(ctx, *dsn, func(st *store.SQL) error {
		org, err := st.GetOrg(ctx, *orgSlug)
		if err != nil {
			return friendly(err, fmt.Sprintf("organization %q does not exist", *orgSlug), "")
		}
		before, err := st.GetDirectory(ctx, org.ID, *dirRef)
		if err != nil {
			return friendly(err, fmt.Sprintf("organization %s has no SCIM directory %q", org.Slug, *dirRef), "")
		}
		d, err := ops.New(st).SetDirectoryDomains(ctx, cliActor, org.ID, before.ID, append([]string{}, domains...))
		if ferr := flagRefusal("domain", err); ferr != err {
			return ferr
		}
		if err != nil {
			return friendly(err, fmt.Sprintf("organization %s has no SCIM directory %q", org.Slug, *dirRef), "")
		}
		fmt.Fprintf(stdout, "SCIM directory %q of organization %s (id %s)\n", d.Name, org.Slug, d.ID)
		fmt.Fprintf(stdout, "email domains: [%s] (were [%s])\n", strings.Join(d.Domains, ", "), strings.Join(before.Domains, ", "))
		return nil
	})
}
