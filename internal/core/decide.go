package core

import (
	"fmt"
	"slices"
	"strings"
)

// Effect is the outcome of a decision.
type Effect string

// Effects, from weakest to strongest. When several grants apply, the strongest wins.
const (
	Deny      Effect = "deny"
	DraftOnly Effect = "draft_only" // the action may be proposed; it needs approval to go live
	Allow     Effect = "allow"
)

func (e Effect) rank() int {
	switch e {
	case Allow:
		return 2
	case DraftOnly:
		return 1
	}
	return 0
}

// Reason codes say, in a word a program can switch on, why a decision came out as it did.
const (
	ReasonAllowed   = "allowed"
	ReasonDraftOnly = "draft_only"
	// ReasonApprovalRequired: a role allows the change, but its environment
	// requires approval for every change, so it may only be proposed.
	ReasonApprovalRequired = "approval_required"
	ReasonUserInactive     = "user_inactive"
	ReasonOtherOrg         = "other_org"
	ReasonNoGrant          = "no_grant"
	ReasonEnvironment      = "no_grant_in_environment"
	ReasonNotVisible       = "not_visible_in_space"
	ReasonRoleForbids      = "role_forbids"
	ReasonBadRequest       = "bad_request"
	ReasonWrongResource    = "resource_mismatch"
)

// Via is how a user is a member of a user group: directly (IdPGroup nil), or as a
// member of an IdP group that a mapping maps onto the user group.
type Via struct {
	IdPGroup *IdPGroup `json:"idp_group,omitempty"`
	Mapping  *Mapping  `json:"mapping,omitempty"`
	// Source names the directory or SSO connection of the IdP group, for explanations.
	Source string `json:"source,omitempty"`
}

// Membership is one user group of a user, with every path that makes them a member.
type Membership struct {
	Group UserGroup `json:"group"`
	Via   []Via     `json:"via"`
}

// Facts is everything a decision about one user in one workspace depends on. The
// store gathers it; Decide is a pure function of it, so it is cheap to test and cache.
type Facts struct {
	User      User
	Workspace Workspace // with its Environments
	// Memberships are all of the user's user groups in the org.
	Memberships []Membership
	// Grants are the grants in Workspace to any of those groups.
	Grants []Grant
	// CustomRoles holds every custom role a grant names, by id.
	CustomRoles map[string]CustomRole
	// SpaceGroups maps a space id of Workspace to the ids of the user's groups
	// assigned to it. Only the user's groups matter for visibility.
	SpaceGroups map[string][]string
	// Spaces names the workspace's spaces by id, for explanations.
	Spaces map[string]Space
}

// Request is the question: may the user do Action in the workspace of the Facts?
type Request struct {
	Action Action
	// Environment is an environment id or name of the workspace; empty when the
	// question is about the whole workspace. A resource's own environment is used
	// when this is empty.
	Environment string
	// ResourceType is what the action is about; empty for workspace-level actions
	// (view the workspace, manage its access).
	ResourceType ResourceType
	// Resource is the existing resource acted upon, if any. Nil with a ResourceType
	// asks about resources of that type not yet registered (typically create).
	Resource *Resource
	// SpaceID is the space a new resource would be created in, when Resource is nil.
	SpaceID string
}

// Step is one link of an explanation chain.
type Step struct {
	Kind   string `json:"kind"` // user, idp_group, mapping, user_group, grant, role, rule, space, reason
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Decision is the answer with its explanation. Chain explains the winning path for an
// allow or draft_only, and for a deny the closest path considered (or none).
type Decision struct {
	Effect  Effect `json:"decision"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Chain   []Step `json:"explanation"`
}

// Decide answers req from facts. It never fails: a question it cannot answer
// (an unknown environment, say) is denied with a reason.
func Decide(f *Facts, req Request) Decision {
	userStep := Step{Kind: "user", ID: f.User.ID, Name: f.User.Label()}
	deny := func(reason, msg string, chain ...Step) Decision {
		return Decision{Effect: Deny, Reason: reason, Message: msg, Chain: append([]Step{userStep}, chain...)}
	}
	if !req.Action.Valid() {
		return deny(ReasonBadRequest, fmt.Sprintf("unknown action %q", req.Action))
	}
	if req.ResourceType != "" && !req.ResourceType.Valid() {
		return deny(ReasonBadRequest, fmt.Sprintf("unknown resource type %q", req.ResourceType))
	}
	if f.User.OrgID != f.Workspace.OrgID {
		return deny(ReasonOtherOrg, "the user belongs to another organization than the workspace")
	}
	if !f.User.Active {
		return deny(ReasonUserInactive, fmt.Sprintf("user %s is deactivated", f.User.Label()))
	}

	rtype, spaceID := req.ResourceType, req.SpaceID
	if r := req.Resource; r != nil {
		if r.WorkspaceID != f.Workspace.ID {
			return deny(ReasonWrongResource, "the resource belongs to another workspace")
		}
		if rtype != "" && rtype != r.Type {
			return deny(ReasonWrongResource, fmt.Sprintf("resource %s is a %s, not a %s", r.ExternalID, r.Type, rtype))
		}
		rtype, spaceID = r.Type, r.SpaceID
	}

	env, err := resolveEnvironment(f.Workspace, req)
	if err != nil {
		return deny(ReasonBadRequest, err.Error())
	}

	// Every grant the user holds in the workspace. Explanation steps and texts are
	// built only for the path that is shown, so a decision costs little more than the
	// rule checks.
	type candidate struct {
		grant  *Grant
		m      *Membership
		admin  bool
		effect Effect
	}
	memberOf := newMembershipIndex(f.Memberships)
	var (
		buf         [8]candidate // most users hold a few grants in a workspace
		cands       = buf[:0]
		narrowed    candidate // the first grant that applies only in other environments
		anyNarrowed bool
	)
	if len(f.Grants) > len(buf) {
		cands = make([]candidate, 0, len(f.Grants))
	}
	for i := range f.Grants {
		g := &f.Grants[i]
		m := memberOf.find(g.UserGroupID)
		if m == nil || g.WorkspaceID != f.Workspace.ID || g.OrgID != f.User.OrgID {
			continue
		}
		c := candidate{grant: g, m: m}
		if g.CustomRoleID != "" {
			cr, ok := f.CustomRoles[g.CustomRoleID]
			if !ok {
				continue // the role was deleted while facts were gathered; it grants nothing
			}
			c.effect, _ = customEffect(cr, req.Action, rtype, req.Resource, false)
		} else {
			c.admin = g.Role == RoleAdmin
			c.effect, _ = builtinEffect(g.Role, req.Action, rtype, false)
		}
		if !CoversEnvironment(f.Workspace, *g, env) {
			if !anyNarrowed {
				narrowed, anyNarrowed = c, true
			}
			continue
		}
		cands = append(cands, c)
	}
	// path explains how the user holds c: user … role, with room for the space,
	// rule and environment steps that may follow.
	path := func(c candidate) []Step {
		steps := make([]Step, 0, 9)
		steps = append(steps, userStep)
		steps = appendViaSteps(steps, c.m)
		steps = append(steps, Step{Kind: "user_group", ID: c.m.Group.ID, Name: c.m.Group.Name},
			Step{Kind: "grant", ID: c.grant.ID, Name: f.Workspace.Slug, Detail: grantScope(f.Workspace, *c.grant)})
		if id := c.grant.CustomRoleID; id != "" {
			return append(steps, Step{Kind: "role", ID: id, Name: f.CustomRoles[id].Name, Detail: "custom"})
		}
		return append(steps, Step{Kind: "role", ID: c.grant.Role, Name: c.grant.Role, Detail: "pre-built"})
	}
	// why is the rule text and role label of c.
	why := func(c candidate) (rule, role string) {
		if id := c.grant.CustomRoleID; id != "" {
			cr := f.CustomRoles[id]
			_, rule = customEffect(cr, req.Action, rtype, req.Resource, true)
			return rule, "custom role " + cr.Name
		}
		_, rule = builtinEffect(c.grant.Role, req.Action, rtype, true)
		return rule, c.grant.Role
	}
	if len(cands) == 0 && !anyNarrowed {
		return deny(ReasonNoGrant, fmt.Sprintf("none of %s's user groups has a grant in workspace %s", f.User.Label(), f.Workspace.Slug),
			membershipsSummary(f.Memberships)...)
	}
	// Grants narrowed to other environments do not apply.
	if len(cands) == 0 {
		msg := fmt.Sprintf("the grants of %s in %s are narrowed to some environments, and the question names none", f.User.Label(), f.Workspace.Slug)
		if env != nil {
			msg = fmt.Sprintf("no grant of %s in %s applies in environment %s", f.User.Label(), f.Workspace.Slug, env.Name)
		}
		return Decision{Effect: Deny, Reason: ReasonEnvironment, Message: msg, Chain: path(narrowed)}
	}
	applicable := cands

	// Visibility: a resource in a space is seen only through a group assigned to the
	// space, or by a workspace Admin. Visibility is not permission: both are needed.
	var (
		spaceStep Step
		inSpace   = spaceID != ""
	)
	if inSpace {
		sp := f.Spaces[spaceID]
		name := sp.Name
		if name == "" {
			name = spaceID
		}
		visible := false
		for _, c := range applicable {
			if c.admin {
				visible = true
				spaceStep = Step{Kind: "space", ID: spaceID, Name: name, Detail: "workspace Admins see every space"}
				break
			}
		}
		if !visible {
			for _, gid := range f.SpaceGroups[spaceID] {
				if m := memberOf.find(gid); m != nil {
					visible = true
					spaceStep = Step{Kind: "space", ID: spaceID, Name: name, Detail: "visible through user group " + m.Group.Name}
					break
				}
			}
		}
		if !visible {
			return deny(ReasonNotVisible, fmt.Sprintf("the resource is in space %s, and none of %s's user groups is assigned to it", name, f.User.Label()),
				Step{Kind: "space", ID: spaceID, Name: name, Detail: "no user group of the user is assigned to this space"})
		}
	}

	best := applicable[0]
	for _, c := range applicable[1:] {
		if c.effect.rank() > best.effect.rank() {
			best = c
		}
	}
	chain := path(best)
	if inSpace {
		chain = append(chain, spaceStep)
	}
	rule, role := why(best)
	chain = append(chain, Step{Kind: "rule", Detail: rule})
	target := describeTarget(req.Action, rtype, req.Resource)
	if best.effect == Allow && req.Action.Changes() && rtype != "" {
		if e := approvalRule(f.Workspace, env); e != nil {
			chain = append(chain, Step{Kind: "environment", ID: e.ID, Name: e.Name,
				Detail: "environment " + e.Name + " requires approval for every change"})
			return Decision{Effect: DraftOnly, Reason: ReasonApprovalRequired, Chain: chain,
				Message: f.User.Label() + " may propose to " + target + "; " + role + " in " + f.Workspace.Slug +
					" allows it, but environment " + e.Name + " requires approval for every change by someone who may publish"}
		}
	}
	switch best.effect {
	case Allow:
		return Decision{Effect: Allow, Reason: ReasonAllowed, Chain: chain,
			Message: f.User.Label() + " may " + target + ": " + role + " in " + f.Workspace.Slug + " allows it"}
	case DraftOnly:
		return Decision{Effect: DraftOnly, Reason: ReasonDraftOnly, Chain: chain,
			Message: f.User.Label() + " may propose to " + target + "; " + role + " needs approval by someone who may publish"}
	}
	return Decision{Effect: Deny, Reason: ReasonRoleForbids, Chain: chain,
		Message: f.User.Label() + " may not " + target + ": no role of theirs in " + f.Workspace.Slug + " allows it"}
}

// approvalRule is the environment whose approval rule governs a change in env: env
// itself when it requires approval; for a question about no environment (the
// workspace as a whole, as for grants narrowed to environments), the first of the
// workspace's environments that requires approval. Nil when no rule applies.
func approvalRule(ws Workspace, env *Environment) *Environment {
	if env != nil {
		if env.RequiresApproval {
			return env
		}
		return nil
	}
	for i := range ws.Environments {
		if ws.Environments[i].RequiresApproval {
			return &ws.Environments[i]
		}
	}
	return nil
}

func resolveEnvironment(ws Workspace, req Request) (*Environment, error) {
	find := func(key string) *Environment {
		for i := range ws.Environments {
			e := &ws.Environments[i]
			if e.ID == key || strings.EqualFold(e.Name, key) {
				return e
			}
		}
		return nil
	}
	var env *Environment
	if req.Environment != "" {
		if env = find(req.Environment); env == nil {
			return nil, fmt.Errorf("workspace %s has no environment %q", ws.Slug, req.Environment)
		}
	}
	if r := req.Resource; r != nil && r.EnvironmentID != "" {
		renv := find(r.EnvironmentID)
		if renv == nil {
			return nil, fmt.Errorf("resource %s is in an unknown environment", r.ExternalID)
		}
		if env != nil && env.ID != renv.ID {
			return nil, fmt.Errorf("resource %s is in environment %s, not %s", r.ExternalID, renv.Name, env.Name)
		}
		env = renv
	}
	return env, nil
}

// CoversEnvironment reports whether grant g applies to a question about env (nil: the
// whole workspace). A grant narrowed to environments answers only questions about
// those; one narrowed to every environment of the workspace is workspace-wide. It is
// the one statement of that rule: the access matrix and /me list roles with it.
func CoversEnvironment(ws Workspace, g Grant, env *Environment) bool {
	if len(g.EnvironmentIDs) == 0 {
		return true
	}
	if env != nil {
		return slices.Contains(g.EnvironmentIDs, env.ID)
	}
	for _, e := range ws.Environments {
		if !slices.Contains(g.EnvironmentIDs, e.ID) {
			return false
		}
	}
	return len(ws.Environments) > 0
}

// membershipIndex finds the user's membership of a group by id. Users are in tens of
// groups, where a scan beats building a map; a map serves the rare large sets.
type membershipIndex struct {
	ms   []Membership
	byID map[string]*Membership // past 32 memberships
}

func newMembershipIndex(ms []Membership) membershipIndex {
	x := membershipIndex{ms: ms}
	if len(ms) > 32 {
		x.byID = make(map[string]*Membership, len(ms))
		for i := range ms {
			x.byID[ms[i].Group.ID] = &ms[i]
		}
	}
	return x
}

func (x membershipIndex) find(groupID string) *Membership {
	if x.byID != nil {
		return x.byID[groupID]
	}
	for i := range x.ms {
		if x.ms[i].Group.ID == groupID {
			return &x.ms[i]
		}
	}
	return nil
}

// builtinEffect is the semantics of the pre-built roles (DESIGN.md). The rule text is
// built only when explain is set: Decide evaluates every grant but explains one.
func builtinEffect(role RoleName, a Action, t ResourceType, explain bool) (Effect, string) {
	x := explainer(explain)
	switch role {
	case RoleAdmin:
		return Allow, "Admin may do everything in the workspace, including managing its access"
	case RoleViewer:
		if a == ActionView {
			return Allow, "Viewer may view"
		}
		return Deny, "Viewer is read-only"
	case RoleEditor:
		switch a {
		case ActionManageAccess:
			return Deny, "Editor may not manage access; only Admin may"
		case ActionEdit, ActionDelete:
			// Editing or deleting a source is always about an existing one, so asking
			// by type alone gets the same answer as asking about one source.
			if t == TypeSource || t == TypeDestination {
				return Deny, x.f(func() string { return fmt.Sprintf("Editor may not %s existing sources and destinations", a) })
			}
			if t == "" {
				return Deny, x.f(func() string { return fmt.Sprintf("Editor may %s resources, not the workspace", a) })
			}
		}
		return Allow, x.f(func() string { return "Editor may " + describeAction(a, t) })
	case RoleDraftContributor:
		switch a {
		case ActionView:
			return Allow, "Draft Contributor may view"
		case ActionCreate, ActionEdit, ActionDelete:
			if t == "" {
				return Deny, "Draft Contributor may propose changes to resources, not to the workspace"
			}
			return DraftOnly, x.f(func() string {
				return fmt.Sprintf("Draft Contributor may propose to %s; it goes live only after approval", describeAction(a, t))
			})
		}
		return Deny, x.f(func() string {
			return fmt.Sprintf("Draft Contributor may not %s: nothing goes live without approval", a)
		})
	}
	return Deny, x.f(func() string { return fmt.Sprintf("unknown role %q grants nothing", role) })
}

// customEffect applies a custom role's rules. Viewing is implied: by any custom role
// for the workspace itself, and by any rule for what it targets, since a role that can
// act on something must be able to see it.
func customEffect(cr CustomRole, a Action, t ResourceType, res *Resource, explain bool) (Effect, string) {
	x := explainer(explain)
	implied := -1 // the first rule that allows a only because it implies view
	for i, r := range cr.Rules {
		if !ruleTargets(r, t, res) {
			continue
		}
		if slices.Contains(r.Actions, a) {
			return Allow, x.f(func() string { return fmt.Sprintf("custom role %s: %s", cr.Name, r) })
		}
		if a == ActionView && implied < 0 {
			implied = i
		}
	}
	if implied >= 0 {
		return Allow, x.f(func() string {
			return fmt.Sprintf("custom role %s: %s, which implies view", cr.Name, cr.Rules[implied])
		})
	}
	if t == "" && a == ActionView {
		return Allow, x.f(func() string { return fmt.Sprintf("custom role %s lets its holders see the workspace", cr.Name) })
	}
	return Deny, x.f(func() string {
		return fmt.Sprintf("no rule of custom role %s allows %s", cr.Name, describeAction(a, t))
	})
}

// explainer builds a rule text only when an explanation is wanted; the closure it
// gets does not escape, so an unexplained evaluation allocates nothing.
type explainer bool

func (x explainer) f(text func() string) string {
	if !x {
		return ""
	}
	return text()
}

// ruleTargets reports whether a rule is about resources of type t (res, when given).
// Only an any-type rule on no particular resource is about the workspace itself (t "").
func ruleTargets(r Rule, t ResourceType, res *Resource) bool {
	if t == "" {
		return r.ResourceType == AnyType && r.ResourceID == ""
	}
	if r.ResourceType != AnyType && r.ResourceType != t {
		return false
	}
	return r.ResourceID == "" || (res != nil && res.ExternalID == r.ResourceID)
}

func describeAction(a Action, t ResourceType) string {
	if t == "" {
		return string(a) + " the workspace"
	}
	return string(a) + " " + strings.ReplaceAll(string(t), "_", " ") + "s"
}

func describeTarget(a Action, t ResourceType, r *Resource) string {
	if r != nil {
		return string(a) + " " + strings.ReplaceAll(string(t), "_", " ") + " " + r.ExternalID
	}
	return describeAction(a, t)
}

func grantScope(ws Workspace, g Grant) string {
	role := g.Role
	if g.CustomRoleID != "" {
		role = "custom role"
	}
	if len(g.EnvironmentIDs) == 0 {
		return role + " in every environment"
	}
	var names []string
	for _, e := range ws.Environments {
		if slices.Contains(g.EnvironmentIDs, e.ID) {
			names = append(names, e.Name)
		}
	}
	return role + " in " + strings.Join(names, ", ")
}

// appendViaSteps appends how the user is a member of m's group.
func appendViaSteps(steps []Step, m *Membership) []Step {
	if len(m.Via) == 0 {
		return steps
	}
	// Prefer a direct membership: it is the shortest explanation.
	v := m.Via[0]
	for _, x := range m.Via {
		if x.IdPGroup == nil {
			v = x
			break
		}
	}
	if v.IdPGroup == nil {
		return append(steps, Step{Kind: "membership", Detail: "direct member of " + m.Group.Name})
	}
	steps = append(steps, Step{Kind: "idp_group", ID: v.IdPGroup.ID, Name: v.IdPGroup.DisplayName, Detail: v.Source})
	if v.Mapping != nil {
		steps = append(steps, Step{Kind: "mapping", ID: v.Mapping.ID, Name: v.Mapping.IdPGroup + " → " + m.Group.Name})
	}
	return steps
}

func membershipsSummary(ms []Membership) []Step {
	if len(ms) == 0 {
		return []Step{{Kind: "reason", Detail: "the user is in no user group"}}
	}
	var steps []Step
	for _, m := range ms {
		steps = append(steps, Step{Kind: "user_group", ID: m.Group.ID, Name: m.Group.Name, Detail: "no grant in this workspace"})
	}
	return steps
}
