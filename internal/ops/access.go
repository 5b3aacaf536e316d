package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// AccessOp names a change to access.
type AccessOp string

// The access changes: every one an edge offers goes through ChangeAccess (applied,
// or held for a second org admin) and PreviewAccess (a dry run).
const (
	OpGrantCreate    AccessOp = "grant.create"
	OpGrantDelete    AccessOp = "grant.delete"
	OpMappingCreate  AccessOp = "mapping.create"
	OpMappingDelete  AccessOp = "mapping.delete"
	OpMemberAdd      AccessOp = "membership.add"
	OpMemberRemove   AccessOp = "membership.remove"
	OpRoleCreate     AccessOp = "custom_role.create"
	OpRoleUpdate     AccessOp = "custom_role.update"
	OpRoleDelete     AccessOp = "custom_role.delete"
	OpAdminAdd       AccessOp = "org_admin.add"
	OpAdminRemove    AccessOp = "org_admin.remove"
	OpAdminTransfer  AccessOp = "org_admin.transfer"
	OpAccessApproval AccessOp = "org.access_approval" // turning the four-eyes rule on or off
)

// AccessChange is one change to access, with every reference resolved to an id:
// what the access routes of the API and the pages make, what a dry run
// previews, and what an access proposal holds until a second org admin approves
// it (then Gatehouse applies it).
type AccessChange struct {
	Op AccessOp `json:"op"`
	// Grant is the grant to create (grant.create).
	Grant *core.Grant `json:"grant,omitempty"`
	// Mapping is the mapping to create (mapping.create).
	Mapping *core.Mapping `json:"mapping,omitempty"`
	// Role is the custom role to create, or for custom_role.update the role as it
	// is to be, with the Version it was read at (0: whatever it is then).
	Role *core.CustomRole `json:"role,omitempty"`
	// ID is the grant, mapping or custom role to delete or change.
	ID string `json:"id,omitempty"`
	// GroupID and UserID name a membership; UserID also the user who becomes or
	// stops being an org admin (for a transfer: who becomes one, FromUserID who
	// stops).
	GroupID    string `json:"group_id,omitempty"`
	UserID     string `json:"user_id,omitempty"`
	FromUserID string `json:"from_user_id,omitempty"`
	// Require is the four-eyes setting to give the org (org.access_approval).
	Require *bool `json:"access_changes_require_approval,omitempty"`
}

// Validate checks that the change names what its op needs.
func (c AccessChange) Validate() error {
	bad := func(what string) error { return core.Invalidf("%s needs %s", c.Op, what) }
	switch c.Op {
	case OpGrantCreate:
		if g := c.Grant; g == nil || g.UserGroupID == "" || g.WorkspaceID == "" || (g.Role == "") == (g.CustomRoleID == "") {
			return bad("a user group, a workspace and one role")
		}
	case OpMappingCreate:
		if c.Mapping == nil {
			return bad("the mapping")
		}
	case OpRoleCreate:
		if c.Role == nil {
			return bad("the role")
		}
	case OpRoleUpdate:
		if c.Role == nil || c.ID == "" {
			return bad("the role and its id")
		}
	case OpGrantDelete, OpMappingDelete, OpRoleDelete:
		if c.ID == "" {
			return bad("an id")
		}
	case OpMemberAdd, OpMemberRemove:
		if c.GroupID == "" || c.UserID == "" {
			return bad("a user group and a user")
		}
	case OpAdminAdd, OpAdminRemove:
		if c.UserID == "" {
			return bad("a user")
		}
	case OpAdminTransfer:
		if c.UserID == "" || c.FromUserID == "" {
			return bad("the users from and to")
		}
		if c.UserID == c.FromUserID {
			return core.Invalidf("cannot transfer org admin to the same user")
		}
	case OpAccessApproval:
		if c.Require == nil {
			return bad("the setting")
		}
	default:
		return core.Invalidf("unknown access change %q", c.Op)
	}
	return nil
}

// AccessOutcome is what ChangeAccess did: applied the change (Result is what it
// made: a grant, a mapping, a role, the org admins…, or nil), or held it for a
// second org admin (Proposal, with Preview: what it would do if applied now).
type AccessOutcome struct {
	Result   any
	Proposal *store.Proposal
	Preview  *decisions.AccessDiff
}

// ChangeAccess makes an access change in one transaction. When the org requires
// approval of access changes, the change is not made: it is tried and taken back
// (so a change that cannot be made is refused now, not at approval) and held as a
// proposal of kind access, which a second org admin approves (Review), and then
// Gatehouse applies. title describes it for the reviewers.
func (o *Ops) ChangeAccess(ctx context.Context, actor core.Actor, orgID string, c AccessChange, title string) (AccessOutcome, error) {
	if err := c.Validate(); err != nil {
		return AccessOutcome{}, err
	}
	var out AccessOutcome
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		out = AccessOutcome{}
		org, err := st.GetOrg(ctx, orgID)
		if err != nil {
			return err
		}
		// Turning the rule on, or on again, needs nobody's approval.
		if !org.AccessChangesRequireApproval || (c.Op == OpAccessApproval && *c.Require) {
			out.Result, err = applyAccess(ctx, st, actor, orgID, c)
			return err
		}
		var diff decisions.AccessDiff
		if err := tryAccess(ctx, st, func(in store.Store) (err error) {
			diff, _, err = measureAccess(ctx, in, actor, orgID, c)
			return err
		}); err != nil {
			return err
		}
		body, err := json.Marshal(c)
		if err != nil {
			return err
		}
		p := store.Proposal{OrgID: orgID, Kind: store.ProposalAccess, Action: string(c.Op), Title: title, Change: body,
			Author: actor, ApprovalsRequired: 1}
		// A grant's proposal belongs to its workspace: those who see the workspace
		// see it, and it goes with the workspace.
		switch c.Op {
		case OpGrantCreate:
			p.WorkspaceID = c.Grant.WorkspaceID
		case OpGrantDelete:
			g, err := st.GetGrant(ctx, orgID, c.ID)
			if err != nil {
				return err
			}
			p.WorkspaceID = g.WorkspaceID
		}
		if strings.TrimSpace(p.Title) == "" {
			p.Title = string(c.Op)
		}
		pr, err := st.CreateProposal(ctx, actor, p)
		out.Proposal, out.Preview = &pr, &diff
		return err
	})
	return out, err
}

// PreviewAccess answers what c would do to people's access, changing nothing: it
// applies c inside a transaction, measures (measureAccess), and rolls back. A
// change that cannot be made fails as it would for real.
func (o *Ops) PreviewAccess(ctx context.Context, actor core.Actor, orgID string, c AccessChange) (decisions.AccessDiff, error) {
	if err := c.Validate(); err != nil {
		return decisions.AccessDiff{}, err
	}
	var diff decisions.AccessDiff
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		var err error
		if diff, _, err = measureAccess(ctx, st, actor, orgID, c); err != nil {
			return err
		}
		return errUndo
	})
	if errors.Is(err, errUndo) {
		err = nil
	}
	return diff, err
}

// errUndo takes back a change that was only tried.
var errUndo = errors.New("ops: change tried and taken back")

// tryAccess runs fn in a savepoint of st's transaction and takes back what it did.
func tryAccess(ctx context.Context, st store.Store, fn func(store.Store) error) error {
	err := st.WithTx(ctx, func(in store.Store) error {
		if err := fn(in); err != nil {
			return err
		}
		return errUndo
	})
	if errors.Is(err, errUndo) {
		return nil
	}
	return err
}

// applyAccess makes c on st, the one place each access change is written.
func applyAccess(ctx context.Context, st store.Store, actor core.Actor, orgID string, c AccessChange) (any, error) {
	switch c.Op {
	case OpGrantCreate:
		g := *c.Grant
		g.OrgID = orgID
		return st.CreateGrant(ctx, actor, g)
	case OpGrantDelete:
		return nil, st.DeleteGrant(ctx, actor, orgID, c.ID)
	case OpMappingCreate:
		m := *c.Mapping
		m.OrgID = orgID
		if err := validMapping(&m); err != nil {
			return nil, err
		}
		return st.CreateMapping(ctx, actor, m)
	case OpMappingDelete:
		return nil, st.DeleteMapping(ctx, actor, orgID, c.ID)
	case OpMemberAdd:
		return nil, st.AddGroupMember(ctx, actor, orgID, c.GroupID, c.UserID)
	case OpMemberRemove:
		return nil, st.RemoveGroupMember(ctx, actor, orgID, c.GroupID, c.UserID)
	case OpRoleCreate:
		r := *c.Role
		r.OrgID = orgID
		return st.CreateCustomRole(ctx, actor, r)
	case OpRoleUpdate:
		want := *c.Role
		return st.UpdateCustomRole(ctx, actor, orgID, c.ID, func(r *core.CustomRole) error {
			if want.Version != 0 && r.Version != want.Version {
				return fmt.Errorf("custom role %s changed since the change was made (version %d, now %d): %w", r.Name, want.Version, r.Version, core.ErrVersion)
			}
			r.Name, r.Description, r.Rules = want.Name, want.Description, want.Rules
			return nil
		})
	case OpRoleDelete:
		return nil, st.DeleteCustomRole(ctx, actor, orgID, c.ID)
	case OpAdminAdd:
		return addOrgAdmin(ctx, st, actor, orgID, c.UserID)
	case OpAdminRemove:
		return nil, st.RemoveOrgAdmin(ctx, actor, orgID, c.UserID)
	case OpAdminTransfer:
		return transferOrgAdmin(ctx, st, actor, orgID, c.FromUserID, c.UserID)
	case OpAccessApproval:
		require := *c.Require
		return st.UpdateOrg(ctx, actor, orgID, func(o *core.Org) error { o.AccessChangesRequireApproval = require; return nil })
	}
	return nil, c.Validate()
}

// Bounds of a preview. A change to a group of a million people is previewed from
// a sample: the answer says so (decisions.AccessDiff.Estimated).
const (
	// PreviewUsers is the most users whose facts a preview reads.
	PreviewUsers = 500
	// PreviewWorkspaces is the most workspaces it reads them in.
	PreviewWorkspaces = 100
	// PreviewPairs bounds users × workspaces: with many workspaces, fewer users.
	PreviewPairs = 2000
	// PreviewResources is the most resources of a workspace whose decisions it compares.
	PreviewResources = 200
)

// accessScope is whom and where a change can touch: the members of some groups
// and some named users, in the workspaces where some groups hold grants or see
// spaces and in some named workspaces. Its member and workspace parts are read
// before and after the change (a new mapping brings new members).
type accessScope struct {
	memberGroups []string
	users        []string
	wsGroups     []string
	workspaces   []string
	orgAdmins    bool
}

// scopeOf reads c's scope before c is made.
func scopeOf(ctx context.Context, st store.Store, orgID string, c AccessChange) (accessScope, error) {
	var s accessScope
	switch c.Op {
	case OpGrantCreate:
		s.memberGroups, s.workspaces = []string{c.Grant.UserGroupID}, []string{c.Grant.WorkspaceID}
	case OpGrantDelete:
		g, err := st.GetGrant(ctx, orgID, c.ID)
		if err != nil {
			return s, err
		}
		s.memberGroups, s.workspaces = []string{g.UserGroupID}, []string{g.WorkspaceID}
	case OpMappingCreate:
		s.memberGroups, s.wsGroups = []string{c.Mapping.UserGroupID}, []string{c.Mapping.UserGroupID}
	case OpMappingDelete:
		m, err := st.GetMapping(ctx, orgID, c.ID)
		if err != nil {
			return s, err
		}
		s.memberGroups, s.wsGroups = []string{m.UserGroupID}, []string{m.UserGroupID}
	case OpMemberAdd, OpMemberRemove:
		s.users, s.wsGroups = []string{c.UserID}, []string{c.GroupID}
	case OpRoleUpdate, OpRoleDelete:
		gs, err := st.ListGrants(ctx, orgID, store.GrantQuery{})
		if err != nil {
			return s, err
		}
		for _, g := range gs {
			if g.CustomRoleID == c.ID {
				s.memberGroups = append(s.memberGroups, g.UserGroupID)
				s.workspaces = append(s.workspaces, g.WorkspaceID)
			}
		}
	case OpAdminAdd, OpAdminRemove:
		s.users, s.orgAdmins = []string{c.UserID}, true
	case OpAdminTransfer:
		s.users, s.orgAdmins = []string{c.FromUserID, c.UserID}, true
	}
	return s, nil
}

// reach is the users (a sample, and how many in all) and workspaces of a scope
// in one state.
type reach struct {
	users      []string
	total      int
	workspaces []string
}

func (s accessScope) read(ctx context.Context, st store.Store, orgID string) (reach, error) {
	ids, total, err := st.MemberSample(ctx, orgID, s.memberGroups, PreviewUsers)
	if err != nil {
		return reach{}, err
	}
	wss, err := st.GroupWorkspaces(ctx, orgID, s.wsGroups)
	if err != nil {
		return reach{}, err
	}
	return reach{users: ids, total: total, workspaces: append(slices.Clone(s.workspaces), wss...)}, nil
}

// sampleKey orders users as MemberSample does: by the random tail of their ids.
func sampleKey(id string) string {
	if len(id) > 24 {
		return id[24:] + id
	}
	return id
}

// measureAccess makes c on st and measures what it did: it reads c's scope, tries
// c in a savepoint to learn whom it reaches once made, reads the facts of every
// (user, workspace) pair of both before making c, makes it, and reads them again;
// decisions.Differ compares them. It returns the diff and what applying c made.
// st must be bound to a transaction (the caller's WithTx).
func measureAccess(ctx context.Context, st store.Store, actor core.Actor, orgID string, c AccessChange) (decisions.AccessDiff, any, error) {
	scope, err := scopeOf(ctx, st, orgID, c)
	if err != nil {
		return decisions.AccessDiff{}, nil, err
	}
	before, err := scope.read(ctx, st, orgID)
	if err != nil {
		return decisions.AccessDiff{}, nil, err
	}
	var after reach
	if err := tryAccess(ctx, st, func(in store.Store) error {
		if _, err := applyAccess(ctx, in, actor, orgID, c); err != nil {
			return err
		}
		after, err = scope.read(ctx, in, orgID)
		return err
	}); err != nil {
		return decisions.AccessDiff{}, nil, err
	}

	// Whom: the named users and the sampled members, before and after, in the
	// sample's order; how many in all.
	users := dedupeIDs(append(slices.Clone(before.users), after.users...))
	slices.SortFunc(users, func(a, b string) int { return strings.Compare(sampleKey(a), sampleKey(b)) })
	affectedUsers := max(before.total, after.total)
	if len(users) > PreviewUsers {
		users = users[:PreviewUsers]
	}
	for _, u := range scope.users {
		if !slices.Contains(users, u) {
			users = append(users, u)
			affectedUsers++
		}
	}
	// Where: every workspace named or reached, a bounded number of them.
	wss := dedupeIDs(append(before.workspaces, after.workspaces...))
	slices.Sort(wss)
	affectedWS := len(wss)
	if len(wss) > PreviewWorkspaces {
		wss = wss[:PreviewWorkspaces]
	}
	if len(wss) > 0 && len(users)*len(wss) > PreviewPairs {
		users = users[:max(1, PreviewPairs/len(wss))]
	}
	var d decisions.Differ
	resources := map[string][]core.Resource{}
	var resAll, resSeen int
	for _, ws := range wss {
		rs, err := st.ListResources(ctx, orgID, ws, store.ResourceQuery{Page: store.Page{Limit: PreviewResources}})
		if err != nil {
			return decisions.AccessDiff{}, nil, err
		}
		n := len(rs)
		if n == PreviewResources {
			if n, err = st.CountResources(ctx, orgID, ws); err != nil {
				return decisions.AccessDiff{}, nil, err
			}
			d.ResourceScale(ws, len(rs), n)
		}
		resources[ws], resAll, resSeen = rs, resAll+n, resSeen+len(rs)
	}

	type pair struct{ user, ws string }
	type snapshot struct {
		facts  map[pair]*core.Facts
		admins map[string]bool
	}
	read := func() (snapshot, error) {
		s := snapshot{facts: map[pair]*core.Facts{}, admins: map[string]bool{}}
		for _, u := range users {
			if scope.orgAdmins {
				a, err := st.IsOrgAdmin(ctx, orgID, u)
				if err != nil {
					return s, err
				}
				s.admins[u] = a
			}
			for _, ws := range wss {
				f, err := st.Facts(ctx, orgID, u, ws)
				if errors.Is(err, core.ErrNotFound) {
					continue // deleted meanwhile: nothing to compare
				}
				if err != nil {
					return s, err
				}
				s.facts[pair{u, ws}] = f
			}
		}
		return s, nil
	}
	was, err := read()
	if err != nil {
		return decisions.AccessDiff{}, nil, err
	}
	result, err := applyAccess(ctx, st, actor, orgID, c)
	if err != nil {
		return decisions.AccessDiff{}, nil, err
	}
	now, err := read()
	if err != nil {
		return decisions.AccessDiff{}, nil, err
	}
	for _, u := range users {
		if scope.orgAdmins {
			if usr, err := st.GetUser(ctx, orgID, u); err == nil {
				d.OrgAdmin(usr, was.admins[u], now.admins[u])
			}
		}
		for _, ws := range wss {
			b, a := was.facts[pair{u, ws}], now.facts[pair{u, ws}]
			if b != nil && a != nil {
				d.Compare(b, a, resources[ws])
			}
		}
	}
	diff := d.Result(decisions.Examined{Affected: affectedUsers, Examined: len(users)},
		decisions.Examined{Affected: affectedWS, Examined: len(wss)},
		decisions.Examined{Affected: resAll, Examined: resSeen})
	return diff, result, nil
}

func dedupeIDs(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
