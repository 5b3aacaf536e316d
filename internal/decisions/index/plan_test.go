package index

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestPlanNoOpMemberChange: a SCIM PATCH that names members but changes none (an
// existing member added again, an absent one removed, one removed and added back)
// plans no read of the group's members: the store's event says nobody changed
// rather than giving counts alone, which the plan takes for an event older than
// the change log's contract and answers by reading the whole group again.
func TestPlanNoOpMemberChange(t *testing.T) {
	st := storetest.NewSQLite(t)
	w := newWorld(t, st, 31)
	dir, err := st.EnsureDirectory(ctx, sys, w.org, "okta")
	if err != nil {
		t.Fatal(err)
	}
	actor := w.actor(dir.ID)
	var us []string
	for _, n := range []string{"ann", "bob"} {
		u, err := st.SCIMCreateUser(ctx, actor, store.SCIMUser{User: core.User{OrgID: w.org, UserName: n, Active: true, DirectoryID: dir.ID}})
		if err != nil {
			t.Fatal(err)
		}
		us = append(us, u.ID)
	}
	g, err := st.SCIMCreateGroup(ctx, actor, store.SCIMGroup{OrgID: w.org, DirectoryID: dir.ID, DisplayName: "eng"}, us[:1])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		mc   store.MemberChange
	}{
		{"a member added again", store.MemberChange{Add: us[:1]}},
		{"a non-member removed", store.MemberChange{Remove: us[1:]}},
		{"a member removed and added back", store.MemberChange{Remove: us[:1], Add: us[:1]}},
	} {
		before, err := st.OrgGeneration(ctx, w.org)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.SCIMUpdateGroup(ctx, actor, w.org, dir.ID, g.ID, nil, c.mc); err != nil {
			t.Fatal(err)
		}
		events, err := st.Changes(ctx, w.org, before, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Action != "idp_group.update" {
			t.Fatalf("%s: events %+v", c.what, events)
		}
		k, reload, unknown := plan(events)
		if reload || unknown != "" || len(k.IdPGroupMembers) > 0 || len(k.Users) > 0 {
			t.Fatalf("%s: plan %+v (reload %v, unknown %q) from %+v", c.what, k, reload, unknown, events[0].Details)
		}
	}
	// The legacy branch stays for events an older instance wrote: counts alone
	// still read the group again.
	legacy := core.AuditEvent{Action: "idp_group.update", TargetKind: "idp_group", TargetID: g.ID, Details: map[string]any{"members_added": 1.0}}
	if k, _, _ := plan([]core.AuditEvent{legacy}); len(k.IdPGroupMembers) != 1 {
		t.Fatalf("a legacy event plans %+v", k)
	}
}
