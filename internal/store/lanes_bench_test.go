package store

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// BenchmarkPostgresWrites drives SCIM creates and one-member group changes from 16
// goroutines on PostgreSQL, for orgs orgs at once: through the lanes (group commit)
// and, for comparison, with a transaction per change (lanes off).
func BenchmarkPostgresWrites(b *testing.B) {
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if dsn == "" {
		b.Skip("needs PostgreSQL")
	}
	for _, orgs := range []int{1, 4} {
		for _, lanes := range []int{0, 1, 8} {
			b.Run(fmt.Sprintf("orgs=%d/lanes=%d", orgs, lanes), func(b *testing.B) {
				s := openMigrated(b, pgSchema(b, dsn))
				s.lanes = s.lanes[:min(lanes, len(s.lanes))]
				if lanes == 0 {
					s.lanes = nil
				}
				ctx := context.Background()
				type org struct {
					id, dir, group string
					users          []string
				}
				var os []org
				for i := range orgs {
					o, _, err := s.CreateOrg(ctx, core.Actor{Kind: core.ActorSystem}, fmt.Sprintf("o%d", i), "O", fmt.Sprintf("a@o%d.example.com", i))
					if err != nil {
						b.Fatal(err)
					}
					d, err := s.EnsureDirectory(ctx, core.Actor{Kind: core.ActorSystem}, o.ID, "okta")
					if err != nil {
						b.Fatal(err)
					}
					g, err := s.SCIMCreateGroup(ctx, core.Actor{Kind: core.ActorSCIM, ID: d.ID}, SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "everyone"}, nil)
					if err != nil {
						b.Fatal(err)
					}
					os = append(os, org{id: o.ID, dir: d.ID, group: g.ID})
				}
				p := max(16/runtime.GOMAXPROCS(0), 1)
				var n atomic.Int64
				b.Run("create", func(b *testing.B) {
					b.SetParallelism(p)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							i := n.Add(1)
							o := &os[int(i)%len(os)]
							u := SCIMUser{}
							u.OrgID, u.DirectoryID, u.UserName, u.Active = o.id, o.dir, fmt.Sprintf("u%d@x.example.com", i), true
							if _, err := s.SCIMCreateUser(ctx, core.Actor{Kind: core.ActorSCIM, ID: o.dir}, u); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
				})
				for i := range os {
					us, _, err := s.SCIMListUsers(ctx, os[i].id, os[i].dir, SCIMQuery{Count: 1000})
					if err != nil {
						b.Fatal(err)
					}
					for _, u := range us {
						os[i].users = append(os[i].users, u.ID)
					}
				}
				b.Run("member", func(b *testing.B) {
					b.SetParallelism(p)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							i := int(n.Add(1))
							o := &os[i%len(os)]
							mc := MemberChange{Add: []string{o.users[(i/len(os))%len(o.users)]}}
							if i%2 == 1 {
								mc = MemberChange{Remove: mc.Add}
							}
							if _, err := s.SCIMUpdateGroup(ctx, core.Actor{Kind: core.ActorSCIM, ID: o.dir}, o.id, o.dir, o.group, nil, mc); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
				})
			})
		}
	}
}
