package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// changeLogTests cover the org's ordered change log (Changes) and WithTx, the one
// transaction of an operation of several steps.
var changeLogTests = []test{
	{"ChangeLog/OrderedAndPaged", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		other, _ := newOrg(t, s, "other")
		newGroup(t, s, o.ID, "eng")
		newUser(t, s, o.ID, "jane")
		newGroup(t, s, other.ID, "ops")
		all := must[[]core.AuditEvent](t)(s.Changes(ctx, o.ID, 0, 0))
		if len(all) != 5 { // org.create, user.create, org_admin.add, group.create, user.create
			t.Fatalf("changes = %d", len(all))
		}
		for i, e := range all {
			if e.Seq != int64(i+1) || e.OrgID != o.ID {
				t.Fatalf("change %d: seq %d org %s", i, e.Seq, e.OrgID)
			}
		}
		if all[3].Action != "group.create" || all[4].Action != "user.create" {
			t.Fatalf("order: %s, %s", all[3].Action, all[4].Action)
		}
		// The generation is the last seq: a cache at generation g has seen 1..g.
		if g := must[int64](t)(s.OrgGeneration(ctx, o.ID)); g != 5 {
			t.Fatalf("generation = %d, want 5", g)
		}
		page := must[[]core.AuditEvent](t)(s.Changes(ctx, o.ID, 2, 2))
		if len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
			t.Fatalf("page after 2 = %+v", page)
		}
		if rest := must[[]core.AuditEvent](t)(s.Changes(ctx, o.ID, 5, 10)); len(rest) != 0 {
			t.Fatalf("after the last = %d", len(rest))
		}
		// ListAudit shows the same seqs.
		for _, e := range must[[]core.AuditEvent](t)(s.ListAudit(ctx, o.ID, store.AuditQuery{})) {
			if e.Seq < 1 || e.Seq > 5 {
				t.Fatalf("ListAudit seq %d", e.Seq)
			}
		}
		// A failed change takes no number.
		_, err := s.CreateGroup(ctx, sys, core.UserGroup{OrgID: o.ID, Name: "eng"})
		wantErr(t, err, core.ErrConflict)
		newGroup(t, s, o.ID, "data")
		if next := must[[]core.AuditEvent](t)(s.Changes(ctx, o.ID, 5, 0)); len(next) != 1 || next[0].Seq != 6 {
			t.Fatalf("after a failed change: %+v", next)
		}
	}},
	{"ChangeLog/ConcurrentWritersGapless", func(t *testing.T, s subject) {
		// Two orgs' changes at once: batches that carry both number each org's
		// events on its own counter.
		acme, _ := newOrg(t, s, "acme")
		beta, _ := newOrg(t, s, "beta")
		orgs := []core.Org{acme, beta}
		start := make([]int64, len(orgs))
		for i, o := range orgs {
			start[i] = must[int64](t)(s.OrgGeneration(ctx, o.ID))
		}
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					o := orgs[(w+i)%len(orgs)]
					if _, err := s.CreateGroup(ctx, sys, core.UserGroup{OrgID: o.ID, Name: fmt.Sprintf("g-%d-%d", w, i)}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i, o := range orgs {
			seen := start[i]
			for {
				page := must[[]core.AuditEvent](t)(s.Changes(ctx, o.ID, seen, 7))
				if len(page) == 0 {
					break
				}
				for _, e := range page {
					if e.Seq != seen+1 {
						t.Fatalf("%s: seq %d after %d", o.Slug, e.Seq, seen)
					}
					seen = e.Seq
				}
			}
			if want := start[i] + workers*each/int64(len(orgs)); seen != want {
				t.Fatalf("%s: last seq %d, want %d", o.Slug, seen, want)
			}
			if g := must[int64](t)(s.OrgGeneration(ctx, o.ID)); g != seen {
				t.Fatalf("%s: generation %d, last seq %d", o.Slug, g, seen)
			}
		}
	}},
	{"WithTx/AllOrNothing", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		before := must[int64](t)(s.OrgGeneration(ctx, o.ID))
		boom := errors.New("boom")
		err := s.WithTx(ctx, func(tx store.Store) error {
			g, err := tx.CreateGroup(ctx, sys, core.UserGroup{OrgID: o.ID, Name: "eng"})
			if err != nil {
				return err
			}
			// Reads inside see the operation's own writes.
			if _, err := tx.GetGroup(ctx, o.ID, g.ID); err != nil {
				return fmt.Errorf("read own write: %w", err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if _, err := s.GetGroup(ctx, o.ID, "eng"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("group after a failed operation: %v", err)
		}
		if g := must[int64](t)(s.OrgGeneration(ctx, o.ID)); g != before {
			t.Fatalf("generation moved on a failed operation: %d → %d", before, g)
		}

		// A failed step whose error the operation handles leaves nothing of itself;
		// the rest commits.
		err = s.WithTx(ctx, func(tx store.Store) error {
			if _, err := tx.CreateGroup(ctx, sys, core.UserGroup{OrgID: o.ID, Name: "eng"}); err != nil {
				return err
			}
			if _, err := tx.CreateGroup(ctx, sys, core.UserGroup{OrgID: o.ID, Name: "ENG"}); !errors.Is(err, core.ErrConflict) {
				return fmt.Errorf("duplicate: %v", err)
			}
			_, err := tx.CreateGroup(ctx, sys, core.UserGroup{OrgID: o.ID, Name: "data"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := must[int](t)(s.CountGroups(ctx, o.ID)); n != 2 {
			t.Fatalf("groups = %d, want 2", n)
		}
		// Two changes, two numbers, in order.
		ch := must[[]core.AuditEvent](t)(s.Changes(ctx, o.ID, before, 0))
		if len(ch) != 2 || ch[0].Seq != before+1 || ch[1].Seq != before+2 {
			t.Fatalf("changes = %+v", ch)
		}
	}},
}
