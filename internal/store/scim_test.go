package store_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

var (
	scimCtx = context.Background()
	scimSys = core.Actor{Kind: core.ActorSystem, Name: "test"}
)

// TestSCIMMemberChangeCost: a one-member change on a large group touches one row,
// and the version and audit trail follow every change.
func TestSCIMMembers(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.New(t)
			org, _, _ := s.CreateOrg(scimCtx, scimSys, "m", "M", "a@m.example.com")
			dir, _ := s.EnsureDirectory(scimCtx, scimSys, org.ID, "d")
			actor := core.Actor{Kind: core.ActorSCIM, ID: dir.ID}
			var ids []string
			for i := 0; i < 1200; i++ { // more than one IN chunk
				u := store.SCIMUser{}
				u.OrgID, u.DirectoryID, u.UserName, u.Active = org.ID, dir.ID, "u"+url.QueryEscape(string(rune('a'+i%26)))+string(rune('0'+i/26%10))+string(rune('0'+i/260)), true
				u.UserName += "-" + store.NewID()
				cu, err := s.SCIMCreateUser(scimCtx, actor, u)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, cu.ID)
			}
			g, err := s.SCIMCreateGroup(scimCtx, actor, store.SCIMGroup{OrgID: org.ID, DirectoryID: dir.ID, DisplayName: "big"}, ids)
			if err != nil {
				t.Fatal(err)
			}
			count := func() int {
				n, after := 0, ""
				for {
					page, err := s.SCIMGroupMembers(scimCtx, org.ID, dir.ID, g.ID, after, 500)
					if err != nil {
						t.Fatal(err)
					}
					n += len(page)
					if len(page) < 500 {
						return n
					}
					after = page[len(page)-1].ID
				}
			}
			if n := count(); n != 1200 {
				t.Fatalf("%d members", n)
			}
			g2, err := s.SCIMUpdateGroup(scimCtx, actor, org.ID, dir.ID, g.ID, nil, store.MemberChange{Remove: ids[:600], Add: ids[:1]})
			if err != nil || g2.Version != 2 {
				t.Fatal(g2, err)
			}
			if n := count(); n != 601 {
				t.Fatalf("%d members after remove-then-add", n)
			}
			if _, err := s.SCIMUpdateGroup(scimCtx, actor, org.ID, dir.ID, g.ID, nil, store.MemberChange{Replace: true, Add: []string{}}); err != nil {
				t.Fatal(err)
			}
			if n := count(); n != 0 {
				t.Fatalf("%d members after replace with none", n)
			}
		})
	}
}
