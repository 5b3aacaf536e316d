package storetest

import (
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

func init() { workspaceTests = append(workspaceTests, environmentTests...) }

func envNames(envs []core.Environment) []string {
	var out []string
	for i, e := range envs {
		if e.Position != i {
			return append(out, "bad position")
		}
		out = append(out, e.Name)
	}
	return out
}

var environmentTests = []test{
	{"Environment/RenameMoveDelete", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		w := newWorkspace(t, s, o.ID, "marketing", "development", "staging", "production")
		dev, staging, prod := w.Environments[0], w.Environments[1], w.Environments[2]
		path := func() []string {
			return envNames(must[core.Workspace](t)(s.GetWorkspace(ctx, o.ID, w.ID)).Environments)
		}

		e := must[core.Environment](t)(s.RenameEnvironment(ctx, adm, o.ID, w.ID, staging.ID, "qa"))
		if e.Name != "qa" || e.ID != staging.ID || e.Position != 1 {
			t.Fatalf("renamed = %+v", e)
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error { return second(s.RenameEnvironment(ctx, adm, o.ID, w.ID, staging.ID, "production")) })
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.RenameEnvironment(ctx, adm, o.ID, w.ID, staging.ID, "Bad Name")) })
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return second(s.RenameEnvironment(ctx, adm, o.ID, w.ID, "nope", "x")) })
		must[core.Environment](t)(s.RenameEnvironment(ctx, adm, o.ID, w.ID, staging.ID, "qa")) // no change: not audited

		order := must[[]core.Environment](t)(s.MoveEnvironment(ctx, adm, o.ID, w.ID, prod.ID, 0))
		if got := envNames(order); !slices.Equal(got, []string{"production", "development", "qa"}) {
			t.Fatalf("after moving production first: %v", got)
		}
		if got := path(); !slices.Equal(got, []string{"production", "development", "qa"}) {
			t.Fatalf("stored path: %v", got)
		}
		must[[]core.Environment](t)(s.MoveEnvironment(ctx, adm, o.ID, w.ID, prod.ID, 2))
		if got := path(); !slices.Equal(got, []string{"development", "qa", "production"}) {
			t.Fatalf("after moving production last: %v", got)
		}
		for _, bad := range []int{-1, 3} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.MoveEnvironment(ctx, adm, o.ID, w.ID, prod.ID, bad)) })
		}

		// Deleting refuses while resources or grants name the environment.
		res := must[core.Resource](t)(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeModel, ExternalID: "m-1", EnvironmentID: staging.ID}))
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return s.DeleteEnvironment(ctx, adm, o.ID, w.ID, staging.ID) })
		ok(t, s.DeleteResource(ctx, adm, o.ID, res.ID))
		g := newGroup(t, s, o.ID, "eng")
		gr := must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: g.ID, WorkspaceID: w.ID, Role: core.RoleViewer, EnvironmentIDs: []string{staging.ID}}))
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return s.DeleteEnvironment(ctx, adm, o.ID, w.ID, staging.ID) })
		ok(t, s.DeleteGrant(ctx, adm, o.ID, gr.ID))
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return s.DeleteEnvironment(ctx, adm, o.ID, w.ID, "nope") })

		ok(t, s.DeleteEnvironment(ctx, adm, o.ID, w.ID, staging.ID))
		if got := path(); !slices.Equal(got, []string{"development", "production"}) {
			t.Fatalf("after deleting qa: %v", got)
		}
		// Positions stay 0..n-1: adding appends at 2, moving works on the new path.
		if e := must[core.Environment](t)(s.AddEnvironment(ctx, adm, o.ID, w.ID, "sandbox")); e.Position != 2 {
			t.Fatalf("appended after a delete: %+v", e)
		}
		must[[]core.Environment](t)(s.MoveEnvironment(ctx, adm, o.ID, w.ID, dev.ID, 2))
		if got := path(); !slices.Equal(got, []string{"production", "sandbox", "development"}) {
			t.Fatalf("after the last move: %v", got)
		}
		var actions []string
		for _, ev := range must[[]core.AuditEvent](t)(s.Changes(ctx, o.ID, 0, 1000)) {
			if ev.TargetKind == "environment" {
				actions = append(actions, ev.Action)
			}
		}
		for _, a := range []string{"environment.rename", "environment.move", "environment.delete"} {
			if !slices.Contains(actions, a) {
				t.Fatalf("no %s in the audit log: %v", a, actions)
			}
		}
		if n := len(slices.DeleteFunc(actions, func(a string) bool { return a != "environment.rename" })); n != 1 {
			t.Fatalf("a rename to the same name was audited: %d renames", n)
		}
	}},
}
