package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// NewStore makes a fresh, migrated, empty store for one test.
type NewStore func(t testing.TB) *store.SQL

// test is one conformance case. Each gets its own empty store.
type test struct {
	name string
	run  func(t *testing.T, s *store.SQL)
}

// RunTests runs every Store behaviour against the backend newStore opens.
func RunTests(t *testing.T, newStore NewStore) {
	var tests []test
	tests = append(tests, orgTests...)
	tests = append(tests, userTests...)
	tests = append(tests, directoryTests...)
	tests = append(tests, tokenTests...)
	tests = append(tests, groupTests...)
	tests = append(tests, idpGroupTests...)
	tests = append(tests, workspaceTests...)
	tests = append(tests, resourceTests...)
	tests = append(tests, mappingTests...)
	tests = append(tests, roleTests...)
	tests = append(tests, grantTests...)
	tests = append(tests, auditTests...)
	tests = append(tests, accessTests...)
	tests = append(tests, changeLogTests...)
	tests = append(tests, webhookTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

var (
	ctx = context.Background()
	sys = core.Actor{Kind: core.ActorSystem, Name: "storetest"}
	adm = core.Actor{Kind: core.ActorAdmin, ID: "admin-1", Name: "admin@example.com"}
)

// wantErr fails unless err wraps want, and checks that no driver text leaked into it.
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	noDriverText(t, err)
}

func noDriverText(t *testing.T, err error) {
	t.Helper()
	msg := strings.ToLower(err.Error())
	for _, bad := range []string{"constraint", "sqlstate", "unique", "foreign key", "violates", "sqlite", "pq:", "pgx", "duplicate key"} {
		if strings.Contains(msg, bad) {
			t.Fatalf("error %q leaks driver text (%q)", err, bad)
		}
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// newOrg creates an org with its admin.
func newOrg(t *testing.T, s *store.SQL, slug string) (core.Org, core.User) {
	t.Helper()
	o, u, err := s.CreateOrg(ctx, sys, slug, "Org "+slug, "admin@"+slug+".example.com")
	if err != nil {
		t.Fatalf("create org %s: %v", slug, err)
	}
	return o, u
}

func newUser(t *testing.T, s *store.SQL, orgID, userName string) core.User {
	t.Helper()
	u, err := s.CreateUser(ctx, sys, core.User{OrgID: orgID, UserName: userName, Email: userName, Active: true, Source: core.SourceSCIM})
	if err != nil {
		t.Fatalf("create user %s: %v", userName, err)
	}
	return u
}

func newGroup(t *testing.T, s *store.SQL, orgID, name string) core.UserGroup {
	t.Helper()
	g, err := s.CreateGroup(ctx, sys, core.UserGroup{OrgID: orgID, Name: name})
	if err != nil {
		t.Fatalf("create group %s: %v", name, err)
	}
	return g
}

func newDirectory(t *testing.T, s *store.SQL, orgID, name string) core.Directory {
	t.Helper()
	d, err := s.EnsureDirectory(ctx, sys, orgID, name)
	if err != nil {
		t.Fatalf("ensure directory %s: %v", name, err)
	}
	return d
}

// newConnection inserts an SSO connection row directly: SSO connections are
// managed by the sso package, the store only needs one to point at.
func newConnection(t *testing.T, s *store.SQL, orgID, name string) string {
	t.Helper()
	id := store.NewID()
	_, err := s.DB().ExecContext(ctx, s.DB().Rebind(`INSERT INTO sso_connections (id, org_id, name, kind, created_at, updated_at) VALUES (?, ?, ?, 'oidc', 0, 0)`),
		id, orgID, name)
	if err != nil {
		t.Fatalf("insert sso connection: %v", err)
	}
	return id
}

// audits lists the org's audit events with an action (exact, or prefix ending in ".").
func audits(t *testing.T, s *store.SQL, orgID, action string) []core.AuditEvent {
	t.Helper()
	es, err := s.ListAudit(ctx, orgID, store.AuditQuery{Action: action})
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	return es
}

// auditCount counts every audit event of the org.
func auditCount(t *testing.T, s *store.SQL, orgID string) int {
	t.Helper()
	return len(audits(t, s, orgID, ""))
}

// unchanged runs a failing change and checks it wrote no audit event.
func unchanged(t *testing.T, s *store.SQL, orgID string, want error, change func() error) {
	t.Helper()
	before := auditCount(t, s, orgID)
	wantErr(t, change(), want)
	if after := auditCount(t, s, orgID); after != before {
		t.Fatalf("a failed change wrote %d audit events", after-before)
	}
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func userIDs(us []core.User) []string { return ids(us, func(u core.User) string { return u.ID }) }

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
		if m[x] < 0 {
			return false
		}
	}
	return true
}
