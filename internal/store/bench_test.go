package store_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/benchcpu"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// parallel16 times body from 16 goroutines, the SCIM target's concurrency, and
// reports its rate in unit (per second) and its CPU time per op.
func parallel16(b *testing.B, unit string, body func(*testing.PB)) {
	b.SetParallelism(max(16/runtime.GOMAXPROCS(0), 1))
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	b.RunParallel(body)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

func benchOrg(b *testing.B, s *store.SQL) (core.Org, core.Directory) {
	ctx := context.Background()
	o, _, err := s.CreateOrg(ctx, core.Actor{Kind: core.ActorSystem}, "bench", "Bench", "admin@bench.example.com")
	if err != nil {
		b.Fatal(err)
	}
	d, err := s.EnsureDirectory(ctx, core.Actor{Kind: core.ActorSystem}, o.ID, "okta")
	if err != nil {
		b.Fatal(err)
	}
	return o, d
}

// benchGroup makes a directory of n users and a SCIM group of them all.
func benchGroup(b *testing.B, s *store.SQL, n int) (core.Org, core.Directory, []string, store.SCIMGroup) {
	o, d := benchOrg(b, s)
	ctx := context.Background()
	actor := core.Actor{Kind: core.ActorSCIM, ID: d.ID}
	ids := make([]string, n)
	for i := range n {
		u, err := s.CreateUser(ctx, actor, core.User{OrgID: o.ID, UserName: fmt.Sprintf("user%d@bench.example.com", i),
			DisplayName: fmt.Sprintf("User %d", i), Active: true, Source: core.SourceSCIM, DirectoryID: d.ID})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = u.ID
	}
	g, err := s.SCIMCreateGroup(ctx, actor, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "everyone"}, ids)
	if err != nil {
		b.Fatal(err)
	}
	return o, d, ids, g
}

// benchSCIMUsers makes a directory of n users provisioned over SCIM, each with the
// stored document doc gives for its userName, and returns their ids.
func benchSCIMUsers(b *testing.B, s *store.SQL, n int, doc func(userName string) string) (core.Org, core.Directory, []string) {
	o, d := benchOrg(b, s)
	ctx := context.Background()
	actor := core.Actor{Kind: core.ActorSCIM, ID: d.ID}
	ids := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("user%d@bench.example.com", i)
		u, err := s.SCIMCreateUser(ctx, actor, store.SCIMUser{User: core.User{OrgID: o.ID, UserName: name, Active: true,
			Source: core.SourceSCIM, DirectoryID: d.ID}, Doc: []byte(doc(name))})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = u.ID
	}
	return o, d, ids
}

// BenchmarkCreateUser creates users from 16 goroutines (one SCIM POST /Users each).
func BenchmarkCreateUser(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.New(b)
			o, d := benchOrg(b, s)
			actor := core.Actor{Kind: core.ActorSCIM, ID: d.ID}
			var n atomic.Int64
			parallel16(b, "creates/s", func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					i := n.Add(1)
					_, err := s.CreateUser(ctx, actor, core.User{OrgID: o.ID, UserName: fmt.Sprintf("user%d@bench.example.com", i),
						Email: fmt.Sprintf("user%d@bench.example.com", i), DisplayName: "Bench User", Active: true,
						Source: core.SourceSCIM, DirectoryID: d.ID, ExternalID: fmt.Sprintf("00u%d", i)})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGetUserByUserName looks users up by userName from 16 goroutines (a SCIM
// filter userName eq "…", the IdP's create-or-update probe).
func BenchmarkGetUserByUserName(b *testing.B) {
	const users = 5000
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.New(b)
			o, d := benchOrg(b, s)
			ctx := context.Background()
			for i := range users {
				if _, err := s.CreateUser(ctx, core.Actor{Kind: core.ActorSCIM}, core.User{OrgID: o.ID,
					UserName: fmt.Sprintf("user%d@bench.example.com", i), Active: true, Source: core.SourceSCIM, DirectoryID: d.ID}); err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			parallel16(b, "lookups/s", func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(7919) % users
					if _, err := s.GetUserByUserName(ctx, o.ID, fmt.Sprintf("USER%d@bench.example.com", i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkFacts gathers a decision's facts (a user in three groups, two of them
// through a mapped IdP group, in a workspace with grants and spaces) from 16 goroutines.
func BenchmarkFacts(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.New(b)
			o, d := benchOrg(b, s)
			ctx := context.Background()
			a := core.Actor{Kind: core.ActorSystem}
			check := func(err error) {
				if err != nil {
					b.Fatal(err)
				}
			}
			u, err := s.CreateUser(ctx, a, core.User{OrgID: o.ID, UserName: "jane", Active: true, Source: core.SourceInvited})
			check(err)
			w, err := s.CreateWorkspace(ctx, a, o.ID, "marketing", "Marketing", []string{"development", "production"})
			check(err)
			ig, err := s.CreateIdPGroup(ctx, a, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Marketing"})
			check(err)
			check(s.ChangeIdPGroupMembers(ctx, a, o.ID, ig.ID, []string{u.ID}, nil))
			for i, name := range []string{"editors", "viewers", "direct"} {
				g, err := s.CreateGroup(ctx, a, core.UserGroup{OrgID: o.ID, Name: name})
				check(err)
				if i < 2 {
					_, err = s.CreateMapping(ctx, a, core.Mapping{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "Marketing", UserGroupID: g.ID})
				} else {
					err = s.AddGroupMember(ctx, a, o.ID, g.ID, u.ID)
				}
				check(err)
				_, err = s.CreateGrant(ctx, a, core.Grant{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, Role: core.BuiltinRoles[i+1],
					EnvironmentIDs: []string{w.Environments[i%2].ID}})
				check(err)
				sp, err := s.CreateSpace(ctx, a, o.ID, w.ID, "space-"+name)
				check(err)
				check(s.AssignSpace(ctx, a, o.ID, w.ID, sp.ID, g.ID))
			}
			parallel16(b, "facts/s", func(pb *testing.PB) {
				for pb.Next() {
					f, err := s.Facts(ctx, o.ID, u.ID, w.ID)
					if err != nil || len(f.Grants) != 3 {
						b.Errorf("facts: %v", err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSCIMGroupMembers reads every member of a 10,000-member group, a page
// (MaxMemberPage) at a time, as a SCIM GET of the group streams them.
func BenchmarkSCIMGroupMembers(b *testing.B) {
	const users, page = 10000, store.MaxMemberPage
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.New(b)
			o, d, _, g := benchGroup(b, s, users)
			ctx := context.Background()
			for b.Loop() {
				n, after := 0, ""
				for {
					m, err := s.SCIMGroupMembers(ctx, o.ID, d.ID, g.ID, after, page)
					if err != nil {
						b.Fatal(err)
					}
					n += len(m)
					if len(m) < page {
						break
					}
					after = m[len(m)-1].ID
				}
				if n != users {
					b.Fatalf("%d members, want %d", n, users)
				}
			}
		})
	}
}

// BenchmarkSCIMLookup runs the IdP's probe, a SCIM list filtered by userName eq, on
// a directory of 5,000 users, a different user each time.
func BenchmarkSCIMLookup(b *testing.B) {
	const users = 5000
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.New(b)
			o, d, _ := benchSCIMUsers(b, s, users, func(string) string { return `{"userName":"x"}` })
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i = (i + 7919) % users
				f := &store.FilterCompare{Attr: store.AttrUserName, Op: store.OpEq, Value: fmt.Sprintf("USER%d@bench.example.com", i)}
				got, _, err := s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{Filter: f, StartIndex: 1, Count: 100})
				if err != nil || len(got) != 1 {
					b.Fatalf("user %d: %d found, %v", i, len(got), err)
				}
			}
		})
	}
}

// BenchmarkSCIMMemberPatch is an IdP's one-member PATCHes of a 2,000-member group
// from 16 goroutines, each removing a member and adding it back in turn: the
// writer's share of issue 15's one-member add/remove phase, runs of member changes
// of one group merged in a batch (changeMembersRun) among them.
func BenchmarkSCIMMemberPatch(b *testing.B) {
	const users = 2000
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.New(b)
			o, d, ids, g := benchGroup(b, s, users)
			ctx := context.Background()
			actor := core.Actor{Kind: core.ActorSCIM, ID: d.ID}
			var worker atomic.Int64
			parallel16(b, "patches/s", func(pb *testing.PB) {
				// Each goroutine toggles users of its own, so that every change
				// succeeds whatever the order of the others.
				w, k := int(worker.Add(1)-1), 0
				for pb.Next() {
					id := ids[(w+16*(k/2))%users]
					mc := store.MemberChange{Remove: []string{id}}
					if k%2 == 1 {
						mc = store.MemberChange{Add: []string{id}}
					}
					k++
					if _, err := s.SCIMUpdateGroup(ctx, actor, o.ID, d.ID, g.ID, nil, mc); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(store.MergedRuns(s))/float64(b.N), "runs/op")
		})
	}
}

// BenchmarkSCIMDeactivate is an IdP deactivating (and reactivating) users of a
// 10,000-user directory from 16 goroutines, as SCIM PATCH active=false does: the
// read of the user and its write, with a stored document of about a kilobyte.
func BenchmarkSCIMDeactivate(b *testing.B) {
	const users = 10000
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.New(b)
			pad := strings.Repeat("x", 800)
			o, d, ids := benchSCIMUsers(b, s, users, func(name string) string {
				return `{"userName":"` + name + `","active":true,"title":"` + pad + `"}`
			})
			ctx := context.Background()
			actor := core.Actor{Kind: core.ActorSCIM, ID: d.ID}
			var n atomic.Int64
			parallel16(b, "updates/s", func(pb *testing.PB) {
				for pb.Next() {
					id := ids[(n.Add(1)*7919)%users]
					if _, err := s.SCIMUpdateUser(ctx, actor, o.ID, d.ID, id, func(u *store.SCIMUser) error {
						u.Active = !u.Active
						return nil
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
