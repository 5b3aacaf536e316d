package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestMemberRuns: one-member changes of one group sent at once, as an IdP sends
// them, some of which run together in a batch (memberRun), end as they would one
// after the other. Every change that succeeds takes its own version, the versions
// are the next ones with no gap, each has its own audit event with that version
// and what it really added and removed, and replaying the events on the first
// members gives the members read at the end. A change adding an id that is no user
// fails alone, its run done change by change.
func TestMemberRuns(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			ctx := context.Background()
			o, d := acmeOkta(t, s)
			actor := core.Actor{Kind: core.ActorSCIM, ID: d.ID, Name: "okta"}
			var users []string
			for i := range 40 {
				name := fmt.Sprintf("u%d@acme.test", i)
				u, err := s.SCIMCreateUser(ctx, actor, newSCIMUser(d, name))
				if err != nil {
					t.Fatal(err)
				}
				users = append(users, u.ID)
			}
			g, err := s.SCIMCreateGroup(ctx, actor, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "eng"}, users[:20])
			if err != nil {
				t.Fatal(err)
			}
			members := map[string]bool{}
			for _, id := range users[:20] {
				members[id] = true
			}
			version := g.Version
			for round := range 3 {
				const n = 64
				changes := make([]store.MemberChange, n)
				outs := make([]store.SCIMGroup, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					a, r := users[(i*7+round)%40], users[(i*11+3)%40]
					switch i % 8 {
					case 0, 3:
						changes[i] = store.MemberChange{Remove: []string{r}}
					case 1, 4, 6:
						changes[i] = store.MemberChange{Add: []string{a}}
					case 2, 5:
						changes[i] = store.MemberChange{Add: []string{a}, Remove: []string{r, a}}
					case 7:
						changes[i] = store.MemberChange{Add: []string{a}}
						if round == 0 { // runs fail, done change by change
							changes[i].Add = append(changes[i].Add, fmt.Sprintf("nobody-%d", i))
						}
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						outs[i], errs[i] = s.SCIMUpdateGroup(ctx, actor, o.ID, d.ID, g.ID, nil, changes[i])
					}()
				}
				wg.Wait()
				var versions []int64
				byVersion := map[int64]int{}
				for i := range n {
					if i%8 == 7 && round == 0 {
						if errs[i] == nil {
							t.Errorf("change %d added an id that is no user, and succeeded", i)
						}
						continue
					}
					if errs[i] != nil {
						t.Fatalf("change %d: %v", i, errs[i])
					}
					versions = append(versions, outs[i].Version)
					byVersion[outs[i].Version] = i
				}
				slices.Sort(versions)
				for j, v := range versions {
					if v != version+int64(j)+1 {
						t.Fatalf("versions %v, want %d to %d without gaps or repeats", versions, version+1, version+int64(len(versions)))
					}
				}
				// Replay the events of this round in version order.
				events, err := s.ListAudit(ctx, o.ID, store.AuditQuery{Action: "idp_group.update", Page: store.Page{Limit: store.MaxLimit}})
				if err != nil {
					t.Fatal(err)
				}
				byEvent := map[int64]core.AuditEvent{}
				for _, e := range events {
					if v := int64(e.Details["version"].(float64)); v > version {
						byEvent[v] = e
					}
				}
				if len(byEvent) != len(versions) {
					t.Fatalf("%d events for %d changes", len(byEvent), len(versions))
				}
				ids := func(e core.AuditEvent, k string) []string {
					var out []string
					list, _ := e.Details[k].([]any)
					for _, v := range list {
						out = append(out, v.(string))
					}
					return out
				}
				for _, v := range versions {
					e, ok := byEvent[v]
					if !ok {
						t.Fatalf("no event of version %d", v)
					}
					mc := changes[byVersion[v]]
					for _, id := range ids(e, "remove_user_ids") {
						if !members[id] || !slices.Contains(mc.Remove, id) {
							t.Fatalf("version %d removed %s, which its change %v could not", v, id, mc)
						}
						delete(members, id)
					}
					for _, id := range ids(e, "add_user_ids") {
						if members[id] || !slices.Contains(mc.Add, id) {
							t.Fatalf("version %d added %s, which its change %v could not", v, id, mc)
						}
						members[id] = true
					}
				}
				version = versions[len(versions)-1]
				got, err := s.SCIMGroupMembers(ctx, o.ID, d.ID, g.ID, "", store.MaxLimit)
				if err != nil {
					t.Fatal(err)
				}
				var want, have []string
				for id := range members {
					want = append(want, id)
				}
				for _, m := range got {
					have = append(have, m.ID)
				}
				slices.Sort(want)
				slices.Sort(have)
				if !slices.Equal(have, want) {
					t.Fatalf("members %v, the events replayed give %v", have, want)
				}
				if cur, err := s.SCIMGetGroup(ctx, o.ID, d.ID, g.ID); err != nil || cur.Version != version {
					t.Fatalf("group at version %d (%v), want %d", cur.Version, err, version)
				}
			}
			// On PostgreSQL a change that is one statement (memberStmt) is sent in a
			// lane's pipeline instead; only those that add and remove run together.
			if b.Name == "postgres" {
				if store.PipedChanges(s) == 0 {
					t.Error("no member change was pipelined")
				}
			} else if store.MergedRuns(s) == 0 {
				t.Error("no member changes ran together")
			}
		})
	}
}
