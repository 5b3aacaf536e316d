package store_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestPostgresOutage: while PostgreSQL cannot be reached, store calls fail fast with
// core.ErrUnavailable (edges answer 503) and write nothing; once it is back, the same
// store recovers by itself, without a restart.
func TestPostgresOutage(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := storetest.NewCutProxy(t, u.Host)
	u.Host = p.Addr()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()

	ctx := context.Background()
	s, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
	org, _, err := s.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}

	p.Cut()
	start := time.Now()
	_, err = s.CreateUser(ctx, sys, core.User{OrgID: org.ID, UserName: "during@acme.test", Email: "during@acme.test", Active: true, Source: core.SourceInvited})
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("create during the outage: %v; want core.ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the failing call took %s; it must fail fast", took)
	}
	if _, err := s.GetOrg(ctx, org.ID); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("read during the outage: %v; want core.ErrUnavailable", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping succeeded during the outage")
	}

	p.Restore(t) // the database is back on the same address
	var got error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, got = s.GetOrg(ctx, org.ID); got == nil {
			break
		}
	}
	if got != nil {
		t.Fatalf("the store did not recover: %v", got)
	}
	if _, err := s.GetUserByUserName(ctx, org.ID, "during@acme.test"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("the user created during the outage: %v; want not found (no partial write)", err)
	}
	if _, err := s.CreateUser(ctx, sys, core.User{OrgID: org.ID, UserName: "after@acme.test", Email: "after@acme.test", Active: true, Source: core.SourceInvited}); err != nil {
		t.Fatalf("create after recovery: %v", err)
	}
}
