package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Contract is what the conformance suite runs over: the Store contract and the
// contracts a backend serves beside it (SCIM, SSO, the batch set reads, generations,
// rate limits). *store.SQL implements it; the cases know nothing else of the backend.
type Contract interface {
	store.Store
	store.SCIM
	store.SSO
	store.Batches
	store.Generations
	store.RateLimits
	store.Webhooks
}

var _ Contract = (*store.SQL)(nil)

// NewStore opens a fresh, migrated, empty store for one test, whose clock is now
// (dex's conformance shape, with the clock the cases drive).
type NewStore func(t testing.TB, now func() time.Time) Contract

// WithClock makes a NewStore of a helper that opens a *store.SQL (NewSQLite,
// NewSQLiteMemory, NewPostgres).
func WithClock(open func(testing.TB) *store.SQL) NewStore {
	return func(t testing.TB, now func() time.Time) Contract {
		s := open(t)
		s.Now = now
		return s
	}
}

// test is one conformance case. Each gets its own empty store.
type test struct {
	name string
	run  func(t *testing.T, s subject)
}

// subject is the store a case runs against, with the clock it was opened with.
type subject struct {
	Contract
	clock *clock
}

// clock is a case's clock: the real time until a case sets it.
type clock struct {
	mu sync.Mutex
	at time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Now()
	}
	return c.at
}

func (c *clock) set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = at
}

// open gives a case a fresh store and its clock.
func (newStore NewStore) open(t *testing.T) subject {
	c := &clock{}
	return subject{Contract: newStore(t, c.now), clock: c}
}

// RunTests runs every behaviour of the contract against the backend newStore opens.
func RunTests(t *testing.T, newStore NewStore) {
	var tests []test
	for _, ts := range [][]test{
		orgTests, userTests, directoryTests, domainTests, tokenTests, groupTests, idpGroupTests, workspaceTests,
		resourceTests, mappingTests, roleTests, grantTests, auditTests, accessTests, changeLogTests,
		scimTests, ownershipTests, adoptionTests, ssoTests, batchTests, generationTests, rateLimitTests, webhookTests, proposalTests, signInTests,
	} {
		tests = append(tests, ts...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore.open(t))
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
func newOrg(t *testing.T, s Contract, slug string) (core.Org, core.User) {
	t.Helper()
	o, u, err := s.CreateOrg(ctx, sys, slug, "Org "+slug, "admin@"+slug+".example.com")
	if err != nil {
		t.Fatalf("create org %s: %v", slug, err)
	}
	return o, u
}

func newUser(t *testing.T, s Contract, orgID, userName string) core.User {
	t.Helper()
	u, err := s.CreateUser(ctx, sys, core.User{OrgID: orgID, UserName: userName, Email: userName, Active: true, Source: core.SourceInvited})
	if err != nil {
		t.Fatalf("create user %s: %v", userName, err)
	}
	return u
}

func newGroup(t *testing.T, s Contract, orgID, name string) core.UserGroup {
	t.Helper()
	g, err := s.CreateGroup(ctx, sys, core.UserGroup{OrgID: orgID, Name: name})
	if err != nil {
		t.Fatalf("create group %s: %v", name, err)
	}
	return g
}

func newDirectory(t *testing.T, s Contract, orgID, name string) core.Directory {
	t.Helper()
	d, err := s.EnsureDirectory(ctx, sys, orgID, name)
	if err != nil {
		t.Fatalf("ensure directory %s: %v", name, err)
	}
	return d
}

// newConnection creates an OIDC connection of the org and returns its id.
func newConnection(t *testing.T, s Contract, orgID, name string, domains ...string) string {
	t.Helper()
	c, err := s.CreateSSOConnection(ctx, sys, oidcConnection(orgID, name, domains...))
	if err != nil {
		t.Fatalf("create sso connection %s: %v", name, err)
	}
	return c.ID
}

func oidcConnection(orgID, name string, domains ...string) store.SSOConnection {
	return store.SSOConnection{OrgID: orgID, Name: name, Kind: store.KindOIDC, JIT: true, Domains: domains,
		OIDC: &store.OIDCConfig{Issuer: "https://idp.example", ClientID: "c", ClientSecretSealed: "v1:x"}}
}

// audits lists the org's audit events with an action (exact, or prefix ending in ".").
func audits(t *testing.T, s Contract, orgID, action string) []core.AuditEvent {
	t.Helper()
	es, err := s.ListAudit(ctx, orgID, store.AuditQuery{Action: action})
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	return es
}

// auditCount counts every audit event of the org.
func auditCount(t *testing.T, s Contract, orgID string) int {
	t.Helper()
	return len(audits(t, s, orgID, ""))
}

// unchanged runs a failing change and checks it wrote no audit event.
func unchanged(t *testing.T, s Contract, orgID string, want error, change func() error) {
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
