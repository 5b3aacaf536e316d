package store_test

import (
	"context"
	"os"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// acmeOkta creates the org acme with the directory okta.
func acmeOkta(t *testing.T, s *store.SQL) (core.Org, core.Directory) {
	t.Helper()
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
	o, _, err := s.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.EnsureDirectory(ctx, sys, o.ID, "okta")
	if err != nil {
		t.Fatal(err)
	}
	return o, d
}

// newSCIMUser is a user of directory d named name, as a SCIM create gives it.
func newSCIMUser(d core.Directory, name string) store.SCIMUser {
	u := store.SCIMUser{Doc: []byte(`{"userName":"` + name + `"}`)}
	u.OrgID, u.DirectoryID, u.UserName, u.Active = d.OrgID, d.ID, name, true
	return u
}
