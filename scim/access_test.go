package scim

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestSCIMDecidesAccess: a SCIM group mapped to a user group grants its role at
// once; deactivation and removal from the group take it away at once.
func TestSCIMDecidesAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		ws, err := e.s.CreateWorkspace(ctx, sys, e.org.ID, "prod", "Prod", []string{"development", "production"})
		if err != nil {
			t.Fatal(err)
		}
		ug, err := e.s.CreateGroup(ctx, sys, core.UserGroup{OrgID: e.org.ID, Name: "Engineers"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.CreateGrant(ctx, sys, core.Grant{OrgID: e.org.ID, UserGroupID: ug.ID, WorkspaceID: ws.ID, Role: core.RoleEditor}); err != nil {
			t.Fatal(err)
		}
		// The mapping names the IdP group by display name before the IdP sends it.
		if _, err := e.s.CreateMapping(ctx, sys, core.Mapping{OrgID: e.org.ID, DirectoryID: e.dir.ID, IdPGroup: "eng", UserGroupID: ug.ID}); err != nil {
			t.Fatal(err)
		}
		uid := e.createUser("dev@example.com", "")
		decide := func() core.Effect {
			t.Helper()
			f, err := e.s.Facts(ctx, e.org.ID, uid, ws.ID)
			if err != nil {
				t.Fatal(err)
			}
			return core.Decide(f, core.Request{Action: core.ActionEdit, ResourceType: core.TypeModel}).Effect
		}
		if decide() != core.Deny {
			t.Fatal("allowed before any group")
		}
		gid := e.createGroup("Eng")
		e.do("PATCH", "/Groups/"+gid, `{"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"`+uid+`"}]}]}`).must(t, 204)
		if decide() != core.Allow {
			t.Fatal("SCIM membership did not grant the mapped role")
		}
		e.do("PATCH", "/Users/"+uid, `{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`).must(t, 200)
		if decide() != core.Deny {
			t.Fatal("deactivated user still allowed")
		}
		e.do("PATCH", "/Users/"+uid, `{"Operations":[{"op":"replace","value":{"active":true}}]}`).must(t, 200)
		if decide() != core.Allow {
			t.Fatal("reactivated user denied")
		}
		e.do("PATCH", "/Groups/"+gid, `{"Operations":[{"op":"Remove","path":"members","value":[{"value":"`+uid+`"}]}]}`).must(t, 204)
		if decide() != core.Deny {
			t.Fatal("removed member still allowed")
		}
	})
}
