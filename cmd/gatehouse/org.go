package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var orgCommands = map[string]command{
	"create": {"create an organization and its first org admin", runOrgCreate},
}

func runOrgCreate(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("org create", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	slug := fs.String("slug", "", "the organization's slug: lowercase letters, digits and dashes (required)")
	name := fs.String("name", "", "the organization's display name (required)")
	email := fs.String("admin-email", "", "email of the first org admin (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required([2]string{"slug", *slug}, [2]string{"name", *name}, [2]string{"admin-email", *email}); err != nil {
		return err
	}
	return withStore(ctx, *dsn, func(st *store.SQL) error {
		org, admin, err := st.CreateOrg(ctx, cliActor, *slug, *name, *email)
		if err != nil {
			return friendly(err, "", fmt.Sprintf("organization %q already exists", *slug))
		}
		fmt.Fprintf(stdout, "created organization %s (%s), id %s\n", org.Slug, org.Name, org.ID)
		fmt.Fprintf(stdout, "first org admin: %s, user id %s\n", admin.Email, admin.ID)
		return nil
	})
}
