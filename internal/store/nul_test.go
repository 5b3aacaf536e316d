package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestPostgresRefusesNULAsInvalid: PostgreSQL refuses a NUL or invalid UTF-8 in a
// text parameter (SQLSTATE 22021); that is bad input (core.ErrInvalid, a 400 at
// the edges), not an internal error.
func TestPostgresRefusesNULAsInvalid(t *testing.T) {
	s := storetest.NewPostgres(t)
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
	org, _, err := s.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nul\x00@acme.test", "bad\xff@acme.test"} {
		_, err := s.CreateUser(ctx, sys, core.User{OrgID: org.ID, UserName: name, Email: name, Active: true, Source: core.SourceInvited})
		if !errors.Is(err, core.ErrInvalid) {
			t.Errorf("create %q: %v; want core.ErrInvalid", name, err)
		}
		if _, err := s.GetUserByUserName(ctx, org.ID, name); !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrNotFound) {
			t.Errorf("get %q: %v; want invalid or not found", name, err)
		}
	}
}
