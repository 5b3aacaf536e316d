package store_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// concurrency16 makes RunParallel use 16 goroutines, the SCIM target's concurrency.
func concurrency16(b *testing.B) {
	p := 16 / runtime.GOMAXPROCS(0)
	if p < 1 {
		p = 1
	}
	b.SetParallelism(p)
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

// BenchmarkCreateUser creates users from 16 goroutines (one SCIM POST /Users each).
func BenchmarkCreateUser(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			s := be.New(b)
			o, d := benchOrg(b, s)
			actor := core.Actor{Kind: core.ActorSCIM, ID: d.ID}
			var n atomic.Int64
			concurrency16(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
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
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
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
			concurrency16(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(7919) % users
					if _, err := s.GetUserByUserName(ctx, o.ID, fmt.Sprintf("USER%d@bench.example.com", i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}
