package core

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The decision table tests build Facts by hand (no database): each case says who the
// user is, which groups and grants they hold, and what Decide must answer, with the
// reason code and the kinds of the explanation chain.

const (
	orgID   = "org-1"
	wsID    = "ws-1"
	envDev  = "env-dev"
	envProd = "env-prod"
)

// world is a small builder for Facts: one org, one workspace with development and
// production, one active user.
type world struct{ f *Facts }

func newWorld() *world {
	return &world{f: &Facts{
		User: User{ID: "u-alice", OrgID: orgID, UserName: "alice", Email: "alice@acme.test", Active: true},
		Workspace: Workspace{ID: wsID, OrgID: orgID, Slug: "analytics", Name: "Analytics", Environments: []Environment{
			{ID: envDev, WorkspaceID: wsID, Name: "development", Position: 0},
			{ID: envProd, WorkspaceID: wsID, Name: "production", Position: 1},
		}},
		CustomRoles: map[string]CustomRole{},
		SpaceGroups: map[string][]string{},
		Spaces:      map[string]Space{},
	}}
}

// member makes the user a direct member of group (an id, also used as its name).
func (w *world) member(group string) *world {
	w.f.Memberships = append(w.f.Memberships, Membership{Group: UserGroup{ID: group, OrgID: orgID, Name: group}, Via: []Via{{}}})
	return w
}

// memberViaIdP makes the user a member of group through an IdP group and a mapping.
func (w *world) memberViaIdP(group, idpGroup string) *world {
	ig := &IdPGroup{ID: "idp-" + idpGroup, OrgID: orgID, DirectoryID: "dir-okta", DisplayName: idpGroup}
	mp := &Mapping{ID: "map-" + idpGroup, OrgID: orgID, DirectoryID: "dir-okta", IdPGroup: idpGroup, UserGroupID: group}
	w.f.Memberships = append(w.f.Memberships, Membership{Group: UserGroup{ID: group, OrgID: orgID, Name: group},
		Via: []Via{{IdPGroup: ig, Mapping: mp, Source: "SCIM directory okta"}}})
	return w
}

// grant gives group a pre-built role in the workspace, narrowed to envs when given.
func (w *world) grant(group, role string, envs ...string) *world {
	w.f.Grants = append(w.f.Grants, Grant{ID: fmt.Sprintf("g-%d", len(w.f.Grants)+1), OrgID: orgID, UserGroupID: group,
		WorkspaceID: wsID, Role: role, EnvironmentIDs: envs})
	return w
}

// custom gives group a custom role made of rules.
func (w *world) custom(group, name string, rules ...Rule) *world {
	id := "cr-" + name
	w.f.CustomRoles[id] = CustomRole{ID: id, OrgID: orgID, Name: name, Rules: rules}
	w.f.Grants = append(w.f.Grants, Grant{ID: fmt.Sprintf("g-%d", len(w.f.Grants)+1), OrgID: orgID, UserGroupID: group,
		WorkspaceID: wsID, CustomRoleID: id})
	return w
}

// space declares a space and the groups assigned to it.
func (w *world) space(id string, groups ...string) *world {
	w.f.Spaces[id] = Space{ID: id, WorkspaceID: wsID, Name: "space " + id}
	w.f.SpaceGroups[id] = groups
	return w
}

func (w *world) with(fn func(f *Facts)) *world { fn(w.f); return w }

func res(t ResourceType, ext string) *Resource {
	return &Resource{ID: "r-" + ext, WorkspaceID: wsID, Type: t, ExternalID: ext, Name: ext}
}

func resIn(t ResourceType, ext, env, space string) *Resource {
	r := res(t, ext)
	r.EnvironmentID, r.SpaceID = env, space
	return r
}

type decideCase struct {
	name       string
	w          *world
	req        Request
	wantEffect Effect
	wantReason string
	// wantChain, when set, is the exact sequence of step kinds of the explanation.
	wantChain []string
	// wantInChain, when set, are substrings that must appear in some step (Name or Detail).
	wantInChain []string
}

func runDecideCases(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := Decide(tc.w.f, tc.req)
			if d.Effect != tc.wantEffect || d.Reason != tc.wantReason {
				t.Fatalf("Decide = %s/%s (%s), want %s/%s\nchain: %s", d.Effect, d.Reason, d.Message, tc.wantEffect, tc.wantReason, chainString(d.Chain))
			}
			if d.Message == "" {
				t.Errorf("decision has no message")
			}
			if len(d.Chain) == 0 || d.Chain[0].Kind != "user" || d.Chain[0].ID != tc.w.f.User.ID {
				t.Errorf("chain does not start with the user: %s", chainString(d.Chain))
			}
			if tc.wantChain != nil {
				if got := kinds(d.Chain); !slices.Equal(got, tc.wantChain) {
					t.Errorf("chain kinds = %v, want %v\nchain: %s", got, tc.wantChain, chainString(d.Chain))
				}
			}
			for _, s := range tc.wantInChain {
				if !strings.Contains(chainString(d.Chain), s) {
					t.Errorf("chain lacks %q: %s", s, chainString(d.Chain))
				}
			}
		})
	}
}

func kinds(chain []Step) []string {
	out := make([]string, len(chain))
	for i, s := range chain {
		out[i] = s.Kind
	}
	return out
}

func chainString(chain []Step) string {
	var b strings.Builder
	for i, s := range chain {
		if i > 0 {
			b.WriteString(" → ")
		}
		fmt.Fprintf(&b, "%s(%s|%s|%s)", s.Kind, s.ID, s.Name, s.Detail)
	}
	return b.String()
}

// direct is the chain of an allow through a direct membership and a pre-built role.
var direct = []string{"user", "membership", "user_group", "grant", "role", "rule"}

func TestDecideEditor(t *testing.T) {
	t.Parallel()
	ed := func() *world { return newWorld().member("engineers").grant("engineers", RoleEditor) }
	cases := []decideCase{
		{name: "creates a source", w: ed(), req: Request{Action: ActionCreate, ResourceType: TypeSource},
			wantEffect: Allow, wantReason: ReasonAllowed, wantChain: direct},
		{name: "creates a destination", w: ed(), req: Request{Action: ActionCreate, ResourceType: TypeDestination},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "may not edit an existing source", w: ed(), req: Request{Action: ActionEdit, Resource: res(TypeSource, "s-1")},
			wantEffect: Deny, wantReason: ReasonRoleForbids, wantChain: direct, wantInChain: []string{"existing sources"}},
		{name: "may not delete an existing source", w: ed(), req: Request{Action: ActionDelete, Resource: res(TypeSource, "s-1")},
			wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "may not edit an existing destination", w: ed(), req: Request{Action: ActionEdit, Resource: res(TypeDestination, "d-1")},
			wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "may not delete an existing destination", w: ed(), req: Request{Action: ActionDelete, Resource: res(TypeDestination, "d-1")},
			wantEffect: Deny, wantReason: ReasonRoleForbids},
		// Editing a source is always editing an existing one: asking by type alone
		// must not open what asking about one source closes.
		{name: "may not edit sources asked by type", w: ed(), req: Request{Action: ActionEdit, ResourceType: TypeSource},
			wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "may not delete destinations asked by type", w: ed(), req: Request{Action: ActionDelete, ResourceType: TypeDestination},
			wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "edits an existing model", w: ed(), req: Request{Action: ActionEdit, Resource: res(TypeModel, "m-1")},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "deletes an existing model", w: ed(), req: Request{Action: ActionDelete, Resource: res(TypeModel, "m-1")},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "edits an existing sync", w: ed(), req: Request{Action: ActionEdit, Resource: res(TypeSync, "sy-1")},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "deletes an existing audience", w: ed(), req: Request{Action: ActionDelete, Resource: res(TypeAudience, "a-1")},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "edits an existing parent model", w: ed(), req: Request{Action: ActionEdit, Resource: res(TypeParentModel, "pm-1")},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "runs a sync", w: ed(), req: Request{Action: ActionRun, Resource: res(TypeSync, "sy-1")},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "publishes a model", w: ed(), req: Request{Action: ActionPublish, Resource: res(TypeModel, "m-1")},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "views a source", w: ed(), req: Request{Action: ActionView, Resource: res(TypeSource, "s-1")},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "views the workspace", w: ed(), req: Request{Action: ActionView},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "may not manage access", w: ed(), req: Request{Action: ActionManageAccess},
			wantEffect: Deny, wantReason: ReasonRoleForbids, wantChain: direct, wantInChain: []string{"only Admin"}},
		{name: "may not edit the workspace itself", w: ed(), req: Request{Action: ActionEdit},
			wantEffect: Deny, wantReason: ReasonRoleForbids},
	}
	runDecideCases(t, cases)
}

func TestDecideDraftContributor(t *testing.T) {
	t.Parallel()
	dc := func() *world { return newWorld().member("analysts").grant("analysts", RoleDraftContributor) }
	cases := []decideCase{
		{name: "create is draft only", w: dc(), req: Request{Action: ActionCreate, ResourceType: TypeModel},
			wantEffect: DraftOnly, wantReason: ReasonDraftOnly, wantChain: direct},
		{name: "edit is draft only", w: dc(), req: Request{Action: ActionEdit, Resource: res(TypeAudience, "a-1")},
			wantEffect: DraftOnly, wantReason: ReasonDraftOnly},
		{name: "delete is draft only", w: dc(), req: Request{Action: ActionDelete, Resource: res(TypeSync, "sy-1")},
			wantEffect: DraftOnly, wantReason: ReasonDraftOnly},
		{name: "edit of a source is draft only too", w: dc(), req: Request{Action: ActionEdit, Resource: res(TypeSource, "s-1")},
			wantEffect: DraftOnly, wantReason: ReasonDraftOnly},
		{name: "views", w: dc(), req: Request{Action: ActionView, Resource: res(TypeModel, "m-1")},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "may not run", w: dc(), req: Request{Action: ActionRun, Resource: res(TypeSync, "sy-1")},
			wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "may not publish", w: dc(), req: Request{Action: ActionPublish, Resource: res(TypeModel, "m-1")},
			wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "may not manage access", w: dc(), req: Request{Action: ActionManageAccess},
			wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "may not propose changes to the workspace", w: dc(), req: Request{Action: ActionEdit},
			wantEffect: Deny, wantReason: ReasonRoleForbids},
	}
	runDecideCases(t, cases)
}

func TestDecideViewerAndAdmin(t *testing.T) {
	t.Parallel()
	viewer := func() *world { return newWorld().member("readers").grant("readers", RoleViewer) }
	admin := func() *world { return newWorld().member("platform").grant("platform", RoleAdmin) }
	var cases []decideCase
	for _, a := range Actions {
		want, reason := Deny, ReasonRoleForbids
		if a == ActionView {
			want, reason = Allow, ReasonAllowed
		}
		cases = append(cases,
			decideCase{name: "viewer " + string(a) + " a model", w: viewer(), req: Request{Action: a, Resource: res(TypeModel, "m-1")},
				wantEffect: want, wantReason: reason, wantChain: direct},
			decideCase{name: "admin " + string(a) + " a source", w: admin(), req: Request{Action: a, Resource: res(TypeSource, "s-1")},
				wantEffect: Allow, wantReason: ReasonAllowed, wantChain: direct},
		)
	}
	cases = append(cases,
		decideCase{name: "viewer views the workspace", w: viewer(), req: Request{Action: ActionView},
			wantEffect: Allow, wantReason: ReasonAllowed},
		decideCase{name: "viewer may not create", w: viewer(), req: Request{Action: ActionCreate, ResourceType: TypeSource},
			wantEffect: Deny, wantReason: ReasonRoleForbids, wantInChain: []string{"read-only"}},
		decideCase{name: "admin manages access of the workspace", w: admin(), req: Request{Action: ActionManageAccess},
			wantEffect: Allow, wantReason: ReasonAllowed, wantChain: direct},
		decideCase{name: "admin creates a destination", w: admin(), req: Request{Action: ActionCreate, ResourceType: TypeDestination},
			wantEffect: Allow, wantReason: ReasonAllowed},
	)
	runDecideCases(t, cases)
}

func TestDecideCustomRoles(t *testing.T) {
	t.Parallel()
	custom := []string{"user", "membership", "user_group", "grant", "role", "rule"}
	cases := []decideCase{
		{name: "edit on s-42 allows editing s-42",
			w:   newWorld().member("ops").custom("ops", "s42-editor", Rule{Actions: []Action{ActionEdit}, ResourceType: TypeSource, ResourceID: "s-42"}),
			req: Request{Action: ActionEdit, Resource: res(TypeSource, "s-42")}, wantEffect: Allow, wantReason: ReasonAllowed,
			wantChain: custom, wantInChain: []string{"s42-editor", "source s-42"}},
		{name: "edit on s-42 does not allow editing s-43",
			w:   newWorld().member("ops").custom("ops", "s42-editor", Rule{Actions: []Action{ActionEdit}, ResourceType: TypeSource, ResourceID: "s-42"}),
			req: Request{Action: ActionEdit, Resource: res(TypeSource, "s-43")}, wantEffect: Deny, wantReason: ReasonRoleForbids, wantChain: custom},
		{name: "edit on s-42 does not allow deleting s-42",
			w:   newWorld().member("ops").custom("ops", "s42-editor", Rule{Actions: []Action{ActionEdit}, ResourceType: TypeSource, ResourceID: "s-42"}),
			req: Request{Action: ActionDelete, Resource: res(TypeSource, "s-42")}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "edit on s-42 lets its holder see s-42",
			w:   newWorld().member("ops").custom("ops", "s42-editor", Rule{Actions: []Action{ActionEdit}, ResourceType: TypeSource, ResourceID: "s-42"}),
			req: Request{Action: ActionView, Resource: res(TypeSource, "s-42")}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "edit on s-42 does not show s-43",
			w:   newWorld().member("ops").custom("ops", "s42-editor", Rule{Actions: []Action{ActionEdit}, ResourceType: TypeSource, ResourceID: "s-42"}),
			req: Request{Action: ActionView, Resource: res(TypeSource, "s-43")}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "a rule on one source does not allow creating sources",
			w:   newWorld().member("ops").custom("ops", "s42-editor", Rule{Actions: []Action{ActionEdit, ActionCreate}, ResourceType: TypeSource, ResourceID: "s-42"}),
			req: Request{Action: ActionCreate, ResourceType: TypeSource}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "a rule on s-42 is about the source s-42, not a model s-42",
			w:   newWorld().member("ops").custom("ops", "s42-editor", Rule{Actions: []Action{ActionEdit}, ResourceType: TypeSource, ResourceID: "s-42"}),
			req: Request{Action: ActionEdit, Resource: res(TypeModel, "s-42")}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "view on every destination",
			w:   newWorld().member("marketing").custom("marketing", "dest-viewer", Rule{Actions: []Action{ActionView}, ResourceType: TypeDestination}),
			req: Request{Action: ActionView, Resource: res(TypeDestination, "d-9")}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "view on destinations is not view on sources",
			w:   newWorld().member("marketing").custom("marketing", "dest-viewer", Rule{Actions: []Action{ActionView}, ResourceType: TypeDestination}),
			req: Request{Action: ActionView, Resource: res(TypeSource, "s-1")}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "view on destinations does not allow editing one",
			w:   newWorld().member("marketing").custom("marketing", "dest-viewer", Rule{Actions: []Action{ActionView}, ResourceType: TypeDestination}),
			req: Request{Action: ActionEdit, Resource: res(TypeDestination, "d-9")}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "any custom role sees the workspace",
			w:   newWorld().member("marketing").custom("marketing", "dest-viewer", Rule{Actions: []Action{ActionView}, ResourceType: TypeDestination}),
			req: Request{Action: ActionView}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "edit on parent model pm-7",
			w:   newWorld().member("modelers").custom("modelers", "pm7", Rule{Actions: []Action{ActionEdit}, ResourceType: TypeParentModel, ResourceID: "pm-7"}),
			req: Request{Action: ActionEdit, Resource: res(TypeParentModel, "pm-7")}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "edit on parent model pm-7 only",
			w:   newWorld().member("modelers").custom("modelers", "pm7", Rule{Actions: []Action{ActionEdit}, ResourceType: TypeParentModel, ResourceID: "pm-7"}),
			req: Request{Action: ActionEdit, Resource: res(TypeParentModel, "pm-8")}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "AnyType run allows running a sync",
			w:   newWorld().member("oncall").custom("oncall", "runner", Rule{Actions: []Action{ActionRun}, ResourceType: AnyType}),
			req: Request{Action: ActionRun, Resource: res(TypeSync, "sy-1")}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "AnyType run does not allow publishing",
			w:   newWorld().member("oncall").custom("oncall", "runner", Rule{Actions: []Action{ActionRun}, ResourceType: AnyType}),
			req: Request{Action: ActionPublish, Resource: res(TypeModel, "m-1")}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "AnyType manage_access manages the workspace access",
			w:   newWorld().member("security").custom("security", "access-admin", Rule{Actions: []Action{ActionManageAccess}, ResourceType: AnyType}),
			req: Request{Action: ActionManageAccess}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "a typed rule does not manage the workspace",
			w:   newWorld().member("security").custom("security", "src-admin", Rule{Actions: []Action{ActionManageAccess}, ResourceType: TypeSource}),
			req: Request{Action: ActionManageAccess}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "a deleted custom role grants nothing",
			w: newWorld().member("ops").custom("ops", "gone", Rule{Actions: []Action{ActionEdit}, ResourceType: AnyType}).
				with(func(f *Facts) { delete(f.CustomRoles, "cr-gone") }),
			req: Request{Action: ActionEdit, Resource: res(TypeModel, "m-1")}, wantEffect: Deny, wantReason: ReasonNoGrant},
	}
	runDecideCases(t, cases)
}

func TestDecideSpaces(t *testing.T) {
	t.Parallel()
	inSpace := resIn(TypeModel, "m-secret", "", "sp-finance")
	cases := []decideCase{
		{name: "an Editor without the space does not see its resource",
			w:   newWorld().member("engineers").grant("engineers", RoleEditor).space("sp-finance", "finance"),
			req: Request{Action: ActionView, Resource: inSpace}, wantEffect: Deny, wantReason: ReasonNotVisible,
			wantChain: []string{"user", "space"}},
		{name: "an Editor may not edit it either",
			w:   newWorld().member("engineers").grant("engineers", RoleEditor).space("sp-finance", "finance"),
			req: Request{Action: ActionEdit, Resource: inSpace}, wantEffect: Deny, wantReason: ReasonNotVisible},
		{name: "an Editor may not create in the space",
			w:   newWorld().member("engineers").grant("engineers", RoleEditor).space("sp-finance", "finance"),
			req: Request{Action: ActionCreate, ResourceType: TypeModel, SpaceID: "sp-finance"}, wantEffect: Deny, wantReason: ReasonNotVisible},
		{name: "an Editor whose group is assigned edits it",
			w:   newWorld().member("finance").grant("finance", RoleEditor).space("sp-finance", "finance"),
			req: Request{Action: ActionEdit, Resource: inSpace}, wantEffect: Allow, wantReason: ReasonAllowed,
			wantChain: []string{"user", "membership", "user_group", "grant", "role", "space", "rule"}, wantInChain: []string{"visible through user group finance"}},
		{name: "visibility through one group, role through another",
			w:   newWorld().member("finance").member("engineers").grant("engineers", RoleEditor).space("sp-finance", "finance"),
			req: Request{Action: ActionEdit, Resource: inSpace}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "a workspace Admin sees every space",
			w:   newWorld().member("platform").grant("platform", RoleAdmin).space("sp-finance", "finance"),
			req: Request{Action: ActionDelete, Resource: inSpace}, wantEffect: Allow, wantReason: ReasonAllowed,
			wantInChain: []string{"workspace Admins see every space"}},
		{name: "visibility alone grants nothing",
			w:   newWorld().member("finance").space("sp-finance", "finance"),
			req: Request{Action: ActionView, Resource: inSpace}, wantEffect: Deny, wantReason: ReasonNoGrant},
		{name: "visibility with a Viewer role allows only view",
			w:   newWorld().member("finance").grant("finance", RoleViewer).space("sp-finance", "finance"),
			req: Request{Action: ActionEdit, Resource: inSpace}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "a resource outside any space needs no assignment",
			w:   newWorld().member("engineers").grant("engineers", RoleEditor).space("sp-finance", "finance"),
			req: Request{Action: ActionEdit, Resource: res(TypeModel, "m-public")}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "an Admin grant narrowed to another environment does not open the space",
			w:   newWorld().member("platform").grant("platform", RoleAdmin, envDev).member("engineers").grant("engineers", RoleViewer).space("sp-finance", "finance"),
			req: Request{Action: ActionView, Resource: resIn(TypeModel, "m-prod", envProd, "sp-finance")}, wantEffect: Deny, wantReason: ReasonNotVisible},
	}
	runDecideCases(t, cases)
}

func TestDecideEnvironments(t *testing.T) {
	t.Parallel()
	split := func() *world {
		return newWorld().member("engineers").grant("engineers", RoleEditor, envDev).grant("engineers", RoleViewer, envProd)
	}
	cases := []decideCase{
		{name: "Editor in development creates there", w: split(), req: Request{Action: ActionCreate, ResourceType: TypeModel, Environment: "development"},
			wantEffect: Allow, wantReason: ReasonAllowed, wantInChain: []string{"editor in development"}},
		{name: "environment named by id", w: split(), req: Request{Action: ActionCreate, ResourceType: TypeModel, Environment: envDev},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "environment name is case-insensitive", w: split(), req: Request{Action: ActionCreate, ResourceType: TypeModel, Environment: "Development"},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "Viewer in production may not create there", w: split(), req: Request{Action: ActionCreate, ResourceType: TypeModel, Environment: "production"},
			wantEffect: Deny, wantReason: ReasonRoleForbids, wantInChain: []string{"viewer in production"}},
		{name: "Viewer in production views there", w: split(), req: Request{Action: ActionView, ResourceType: TypeModel, Environment: "production"},
			wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "the resource's environment is used when none is named (development)", w: split(),
			req: Request{Action: ActionEdit, Resource: resIn(TypeModel, "m-1", envDev, "")}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "the resource's environment is used when none is named (production)", w: split(),
			req: Request{Action: ActionEdit, Resource: resIn(TypeModel, "m-1", envProd, "")}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		{name: "a named environment matching the resource's", w: split(),
			req: Request{Action: ActionEdit, Environment: "development", Resource: resIn(TypeModel, "m-1", envDev, "")}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "a named environment contradicting the resource's is a bad request", w: split(),
			req: Request{Action: ActionEdit, Environment: "development", Resource: resIn(TypeModel, "m-1", envProd, "")}, wantEffect: Deny, wantReason: ReasonBadRequest},
		{name: "an unknown environment is a bad request", w: split(), req: Request{Action: ActionView, Environment: "staging"},
			wantEffect: Deny, wantReason: ReasonBadRequest},
		{name: "a resource in an unknown environment is a bad request", w: split(),
			req: Request{Action: ActionView, Resource: resIn(TypeModel, "m-1", "env-gone", "")}, wantEffect: Deny, wantReason: ReasonBadRequest},
		// Narrowed grants answer only questions about their environments: a question
		// about the whole workspace is not answered by a right held in one environment.
		{name: "no environment named and only narrowed grants", w: split(), req: Request{Action: ActionCreate, ResourceType: TypeModel},
			wantEffect: Deny, wantReason: ReasonEnvironment, wantChain: []string{"user", "membership", "user_group", "grant", "role"}},
		{name: "a workspace-wide grant answers a question with no environment",
			w:   newWorld().member("engineers").grant("engineers", RoleEditor),
			req: Request{Action: ActionCreate, ResourceType: TypeModel}, wantEffect: Allow, wantReason: ReasonAllowed, wantInChain: []string{"editor in every environment"}},
		{name: "a grant narrowed to every environment is workspace-wide",
			w:   newWorld().member("engineers").grant("engineers", RoleEditor, envDev, envProd),
			req: Request{Action: ActionCreate, ResourceType: TypeModel}, wantEffect: Allow, wantReason: ReasonAllowed},
		{name: "grant only in development, question about production",
			w:   newWorld().member("engineers").grant("engineers", RoleEditor, envDev),
			req: Request{Action: ActionView, Environment: "production"}, wantEffect: Deny, wantReason: ReasonEnvironment,
			wantInChain: []string{"editor in development"}},
		{name: "a narrowed grant plus a workspace-wide Viewer: the wide one answers",
			w:   newWorld().member("engineers").grant("engineers", RoleEditor, envDev).member("all").grant("all", RoleViewer),
			req: Request{Action: ActionCreate, ResourceType: TypeModel}, wantEffect: Deny, wantReason: ReasonRoleForbids},
	}
	runDecideCases(t, cases)
}

// TestDecideApprovalRule: an environment that requires approval turns an allow of a
// change (create, edit, delete) into draft_only for every role, naming the rule;
// run, publish (the review itself), view and manage_access are unaffected, and so
// is every other environment.
func TestDecideApprovalRule(t *testing.T) {
	t.Parallel()
	// prodReviewed: production requires approval.
	prodReviewed := func(w *world) *world {
		return w.with(func(f *Facts) { f.Workspace.Environments[1].RequiresApproval = true })
	}
	editor := func() *world { return prodReviewed(newWorld().member("engineers").grant("engineers", RoleEditor)) }
	admin := func() *world { return prodReviewed(newWorld().member("platform").grant("platform", RoleAdmin)) }
	dc := func() *world {
		return prodReviewed(newWorld().member("analysts").grant("analysts", RoleDraftContributor))
	}
	custom := func() *world {
		return prodReviewed(newWorld().member("ops").custom("ops", "Model Owner", Rule{Actions: []Action{ActionEdit, ActionPublish}, ResourceType: TypeModel}))
	}
	ruled := append(slices.Clone(direct), "environment")
	var cases []decideCase
	for _, a := range []Action{ActionCreate, ActionEdit, ActionDelete} {
		cases = append(cases,
			decideCase{name: "Editor " + string(a) + " in production is draft only", w: editor(),
				req: Request{Action: a, Resource: resIn(TypeModel, "m-1", envProd, "")}, wantEffect: DraftOnly, wantReason: ReasonApprovalRequired,
				wantChain: ruled, wantInChain: []string{"production requires approval for every change"}},
			decideCase{name: "Admin " + string(a) + " in production is draft only", w: admin(),
				req: Request{Action: a, ResourceType: TypeSource, Environment: "production"}, wantEffect: DraftOnly, wantReason: ReasonApprovalRequired, wantChain: ruled},
			decideCase{name: "Editor " + string(a) + " in development is allowed", w: editor(),
				req: Request{Action: a, Resource: resIn(TypeModel, "m-1", envDev, "")}, wantEffect: Allow, wantReason: ReasonAllowed, wantChain: direct},
		)
	}
	cases = append(cases,
		decideCase{name: "a custom role's edit in production is draft only", w: custom(),
			req: Request{Action: ActionEdit, Resource: resIn(TypeModel, "m-1", envProd, "")}, wantEffect: DraftOnly, wantReason: ReasonApprovalRequired,
			wantInChain: []string{"Model Owner", "production"}},
		decideCase{name: "a custom role still publishes in production", w: custom(),
			req: Request{Action: ActionPublish, Resource: resIn(TypeModel, "m-1", envProd, "")}, wantEffect: Allow, wantReason: ReasonAllowed},
		decideCase{name: "Editor publishes in production: the review itself", w: editor(),
			req: Request{Action: ActionPublish, Resource: resIn(TypeModel, "m-1", envProd, "")}, wantEffect: Allow, wantReason: ReasonAllowed, wantChain: direct},
		decideCase{name: "Editor runs a sync in production: not a change", w: editor(),
			req: Request{Action: ActionRun, Resource: resIn(TypeSync, "sy-1", envProd, "")}, wantEffect: Allow, wantReason: ReasonAllowed},
		decideCase{name: "Editor views in production", w: editor(),
			req: Request{Action: ActionView, Resource: resIn(TypeModel, "m-1", envProd, "")}, wantEffect: Allow, wantReason: ReasonAllowed},
		decideCase{name: "Admin manages access: not a change to resources", w: admin(),
			req: Request{Action: ActionManageAccess, Environment: "production"}, wantEffect: Allow, wantReason: ReasonAllowed},
		decideCase{name: "a denied change stays denied", w: editor(),
			req: Request{Action: ActionEdit, Resource: resIn(TypeSource, "s-1", envProd, "")}, wantEffect: Deny, wantReason: ReasonRoleForbids},
		decideCase{name: "a Draft Contributor's draft keeps its own reason", w: dc(),
			req: Request{Action: ActionEdit, Resource: resIn(TypeModel, "m-1", envProd, "")}, wantEffect: DraftOnly, wantReason: ReasonDraftOnly, wantChain: direct},
		// A question about no environment is about the workspace as a whole, so the
		// rule of any of its environments applies (as for narrowed grants).
		decideCase{name: "no environment named: production's rule applies", w: editor(),
			req: Request{Action: ActionCreate, ResourceType: TypeModel}, wantEffect: DraftOnly, wantReason: ReasonApprovalRequired,
			wantInChain: []string{"production requires approval"}},
		decideCase{name: "a resource without environment: production's rule applies", w: editor(),
			req: Request{Action: ActionEdit, Resource: res(TypeModel, "m-1")}, wantEffect: DraftOnly, wantReason: ReasonApprovalRequired},
		decideCase{name: "the workspace itself is not a resource change", w: admin(),
			req: Request{Action: ActionEdit}, wantEffect: Allow, wantReason: ReasonAllowed},
		decideCase{name: "no rule anywhere: allowed", w: newWorld().member("engineers").grant("engineers", RoleEditor),
			req: Request{Action: ActionCreate, ResourceType: TypeModel, Environment: "production"}, wantEffect: Allow, wantReason: ReasonAllowed},
	)
	runDecideCases(t, cases)
}

func TestDecideUnionOfGroups(t *testing.T) {
	t.Parallel()
	cases := []decideCase{
		{name: "Viewer and Editor: Editor wins",
			w:   newWorld().member("readers").grant("readers", RoleViewer).member("engineers").grant("engineers", RoleEditor),
			req: Request{Action: ActionRun, Resource: res(TypeSync, "sy-1")}, wantEffect: Allow, wantReason: ReasonAllowed,
			wantInChain: []string{"engineers"}},
		{name: "Draft Contributor and Viewer: draft only wins over deny",
			w:   newWorld().member("readers").grant("readers", RoleViewer).member("analysts").grant("analysts", RoleDraftContributor),
			req: Request{Action: ActionCreate, ResourceType: TypeAudience}, wantEffect: DraftOnly, wantReason: ReasonDraftOnly,
			wantInChain: []string{"analysts"}},
		{name: "Draft Contributor and Editor: allow wins over draft only",
			w:   newWorld().member("analysts").grant("analysts", RoleDraftContributor).member("engineers").grant("engineers", RoleEditor),
			req: Request{Action: ActionCreate, ResourceType: TypeAudience}, wantEffect: Allow, wantReason: ReasonAllowed,
			wantInChain: []string{"engineers"}},
		{name: "Editor and a custom role on s-42: the custom role opens s-42",
			w: newWorld().member("engineers").grant("engineers", RoleEditor).member("ops").
				custom("ops", "s42-editor", Rule{Actions: []Action{ActionEdit}, ResourceType: TypeSource, ResourceID: "s-42"}),
			req: Request{Action: ActionEdit, Resource: res(TypeSource, "s-42")}, wantEffect: Allow, wantReason: ReasonAllowed,
			wantInChain: []string{"s42-editor"}},
		{name: "two groups that both forbid still deny",
			w:   newWorld().member("readers").grant("readers", RoleViewer).member("engineers").grant("engineers", RoleEditor),
			req: Request{Action: ActionManageAccess}, wantEffect: Deny, wantReason: ReasonRoleForbids},
	}
	runDecideCases(t, cases)
}

func TestDecideExplainsIdPMembership(t *testing.T) {
	t.Parallel()
	full := []string{"user", "idp_group", "mapping", "user_group", "grant", "role", "rule"}
	cases := []decideCase{
		{name: "membership through a mapped IdP group",
			w:   newWorld().memberViaIdP("engineers", "okta-eng").grant("engineers", RoleEditor),
			req: Request{Action: ActionRun, Resource: res(TypeSync, "sy-1")}, wantEffect: Allow, wantReason: ReasonAllowed,
			wantChain: full, wantInChain: []string{"okta-eng", "okta-eng → engineers", "SCIM directory okta"}},
		{name: "a deny through a mapped IdP group explains the same path",
			w:   newWorld().memberViaIdP("readers", "okta-all").grant("readers", RoleViewer),
			req: Request{Action: ActionEdit, Resource: res(TypeModel, "m-1")}, wantEffect: Deny, wantReason: ReasonRoleForbids,
			wantChain: full},
		{name: "a direct membership is preferred as the shorter explanation",
			w: newWorld().memberViaIdP("engineers", "okta-eng").grant("engineers", RoleEditor).with(func(f *Facts) {
				f.Memberships[0].Via = append(f.Memberships[0].Via, Via{})
			}),
			req: Request{Action: ActionRun, Resource: res(TypeSync, "sy-1")}, wantEffect: Allow, wantReason: ReasonAllowed,
			wantChain: direct},
		{name: "groups without a grant are listed when nothing applies",
			w:   newWorld().memberViaIdP("engineers", "okta-eng").member("readers"),
			req: Request{Action: ActionView}, wantEffect: Deny, wantReason: ReasonNoGrant,
			wantChain: []string{"user", "user_group", "user_group"}},
		{name: "a user in no group",
			w:   newWorld(),
			req: Request{Action: ActionView}, wantEffect: Deny, wantReason: ReasonNoGrant,
			wantChain: []string{"user", "reason"}},
	}
	runDecideCases(t, cases)
}

func TestDecideIsolation(t *testing.T) {
	t.Parallel()
	cases := []decideCase{
		{name: "a grant in another workspace does not leak",
			w: newWorld().member("engineers").with(func(f *Facts) {
				f.Grants = append(f.Grants, Grant{ID: "g-other", OrgID: orgID, UserGroupID: "engineers", WorkspaceID: "ws-2", Role: RoleAdmin})
			}),
			req: Request{Action: ActionView}, wantEffect: Deny, wantReason: ReasonNoGrant},
		{name: "a grant of another org does not leak",
			w: newWorld().member("engineers").with(func(f *Facts) {
				f.Grants = append(f.Grants, Grant{ID: "g-other", OrgID: "org-2", UserGroupID: "engineers", WorkspaceID: wsID, Role: RoleAdmin})
			}),
			req: Request{Action: ActionView}, wantEffect: Deny, wantReason: ReasonNoGrant},
		{name: "a grant to a group the user is not in does not apply",
			w:   newWorld().member("engineers").grant("platform", RoleAdmin),
			req: Request{Action: ActionView}, wantEffect: Deny, wantReason: ReasonNoGrant},
		{name: "a user of another org",
			w:   newWorld().member("engineers").grant("engineers", RoleAdmin).with(func(f *Facts) { f.User.OrgID = "org-2" }),
			req: Request{Action: ActionView}, wantEffect: Deny, wantReason: ReasonOtherOrg, wantChain: []string{"user"}},
		{name: "a resource of another workspace",
			w:          newWorld().member("engineers").grant("engineers", RoleAdmin),
			req:        Request{Action: ActionView, Resource: &Resource{ID: "r-x", WorkspaceID: "ws-2", Type: TypeModel, ExternalID: "m-x"}},
			wantEffect: Deny, wantReason: ReasonWrongResource},
		{name: "a resource type contradicting the resource",
			w:   newWorld().member("engineers").grant("engineers", RoleAdmin),
			req: Request{Action: ActionView, ResourceType: TypeSource, Resource: res(TypeModel, "m-1")}, wantEffect: Deny, wantReason: ReasonWrongResource},
		{name: "a deactivated Admin is denied everything",
			w:   newWorld().member("platform").grant("platform", RoleAdmin).with(func(f *Facts) { f.User.Active = false }),
			req: Request{Action: ActionView}, wantEffect: Deny, wantReason: ReasonUserInactive, wantChain: []string{"user"}},
		{name: "a deactivated Editor may not create",
			w:   newWorld().member("engineers").grant("engineers", RoleEditor).with(func(f *Facts) { f.User.Active = false }),
			req: Request{Action: ActionCreate, ResourceType: TypeSource}, wantEffect: Deny, wantReason: ReasonUserInactive},
		{name: "an unknown action",
			w:   newWorld().member("platform").grant("platform", RoleAdmin),
			req: Request{Action: "destroy"}, wantEffect: Deny, wantReason: ReasonBadRequest},
		{name: "an empty action",
			w:   newWorld().member("platform").grant("platform", RoleAdmin),
			req: Request{}, wantEffect: Deny, wantReason: ReasonBadRequest},
		{name: "an unknown resource type",
			w:   newWorld().member("platform").grant("platform", RoleAdmin),
			req: Request{Action: ActionView, ResourceType: "dashboard"}, wantEffect: Deny, wantReason: ReasonBadRequest},
		{name: "the any-type wildcard is not a resource type in a question",
			w:   newWorld().member("platform").grant("platform", RoleAdmin),
			req: Request{Action: ActionView, ResourceType: AnyType}, wantEffect: Deny, wantReason: ReasonBadRequest},
	}
	runDecideCases(t, cases)
}

// TestDecideDoesNotMutateFacts guards the cache-friendliness of Facts: deciding twice
// gives the same answer and leaves the facts as they were.
func TestDecideDoesNotMutateFacts(t *testing.T) {
	t.Parallel()
	w := newWorld().memberViaIdP("engineers", "okta-eng").grant("engineers", RoleEditor).member("finance").space("sp-1", "finance")
	before := fmt.Sprintf("%+v", *w.f)
	req := Request{Action: ActionEdit, Resource: resIn(TypeModel, "m-1", envDev, "sp-1")}
	d1, d2 := Decide(w.f, req), Decide(w.f, req)
	if fmt.Sprint(d1) != fmt.Sprint(d2) {
		t.Fatalf("two decisions differ:\n%v\n%v", d1, d2)
	}
	if after := fmt.Sprintf("%+v", *w.f); after != before {
		t.Fatalf("facts changed:\n%s\n%s", before, after)
	}
}

// benchFacts is a realistic user: in 10 groups (half through IdP groups), with 20
// grants in the workspace, some narrowed, some custom, and 5 spaces.
func benchFacts() *Facts {
	w := newWorld()
	for i := range 10 {
		g := fmt.Sprintf("group-%d", i)
		if i%2 == 0 {
			w.memberViaIdP(g, "idp-"+g)
		} else {
			w.member(g)
		}
	}
	roles := []string{RoleViewer, RoleDraftContributor, RoleViewer, RoleEditor}
	for i := range 20 {
		g := fmt.Sprintf("group-%d", i%10)
		switch {
		case i%7 == 6:
			w.custom(g, fmt.Sprintf("custom-%d", i), Rule{Actions: []Action{ActionEdit, ActionView}, ResourceType: TypeSource, ResourceID: fmt.Sprintf("s-%d", i)},
				Rule{Actions: []Action{ActionView}, ResourceType: TypeDestination})
		case i%3 == 0:
			w.grant(g, roles[i%len(roles)], envDev)
		default:
			w.grant(g, roles[i%len(roles)])
		}
	}
	for i := range 5 {
		w.space(fmt.Sprintf("sp-%d", i), fmt.Sprintf("group-%d", i*2))
	}
	return w.f
}

func BenchmarkDecide(b *testing.B) {
	f := benchFacts()
	reqs := []Request{
		{Action: ActionEdit, Resource: resIn(TypeModel, "m-1", envProd, "sp-3")},
		{Action: ActionEdit, Resource: resIn(TypeSource, "s-13", envDev, "")},
		{Action: ActionCreate, ResourceType: TypeAudience, Environment: "development"},
		{Action: ActionManageAccess},
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = Decide(f, reqs[i%len(reqs)])
	}
}
