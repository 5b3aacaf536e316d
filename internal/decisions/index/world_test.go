package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var (
	ctx = context.Background()
	sys = core.Actor{Kind: core.ActorSystem, Name: "indextest"}
)

// world is a random org built and changed through the real store, remembering the
// ids it made (deleted ones too: asking about them must agree as well).
type world struct {
	t   testing.TB
	st  *store.SQL
	rng *rand.Rand
	org string
	n   int // name counter

	users, groups, idps, mappings, roles, workspaces, spaces, grants, resources []string
	dirs, conns                                                                 []string
	admin                                                                       string
	// goneUsers and goneWorkspaces were deleted: questions about them must agree too.
	goneUsers, goneWorkspaces []string
}

// gone moves a deleted id from its list.
func gone(l *[]string, id string, to *[]string) {
	*l = slices.DeleteFunc(*l, func(x string) bool { return x == id })
	if to != nil {
		*to = append(*to, id)
	}
}

func newWorld(t testing.TB, st *store.SQL, seed uint64) *world {
	w := &world{t: t, st: st, rng: rand.New(rand.NewPCG(seed, 7))}
	o, admin, err := st.CreateOrg(ctx, sys, fmt.Sprintf("org-%d", seed), "Org", "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	w.org, w.admin = o.ID, admin.ID
	w.users = append(w.users, admin.ID)
	return w
}

func (w *world) name(prefix string) string {
	w.n++
	return fmt.Sprintf("%s-%d", prefix, w.n)
}

func pick[T any](w *world, l []T) T {
	var zero T
	if len(l) == 0 {
		return zero
	}
	return l[w.rng.IntN(len(l))]
}

func (w *world) actor(dir string) core.Actor {
	return core.Actor{Kind: core.ActorSCIM, ID: dir, Name: "okta"}
}

// names varies a name's case, and sometimes uses letters beyond ASCII, which
// SQLite's lower() does not fold and PostgreSQL's does.
func (w *world) caseOf(s string) string {
	switch w.rng.IntN(4) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return strings.ToLower(s)
	}
	return s
}

func (w *world) groupName() string {
	base := []string{"Engineering", "Ärzte", "Sales", "Ops", "Ωmega", "Data"}
	return fmt.Sprintf("%s %d", pick(w, base), w.rng.IntN(6))
}

// seed builds a starting world.
func (w *world) seed() {
	for range 2 {
		w.op("createDirectory")
	}
	w.op("createConnection")
	for range 3 {
		w.op("createWorkspace")
	}
	for range 8 {
		w.op("createUser")
	}
	for range 4 {
		w.op("createGroup")
	}
	for range 4 {
		w.op("createIdPGroup")
	}
	for range 3 {
		w.op("createSpace")
	}
	w.op("createRole")
	for range 6 {
		w.op("createMapping")
	}
	for range 8 {
		w.op("createGrant")
	}
	for range 8 {
		w.op("createResource")
	}
	for range 8 {
		w.op("addMember")
		w.op("idpMembers")
	}
}

// ops are the changes a step may make, with weights; nonDecision ones change
// nothing a decision reads.
var ops = []struct {
	name        string
	weight      int
	nonDecision bool
}{
	{"createUser", 4, false}, {"scimCreateUser", 2, false}, {"renameUser", 3, true}, {"scimRenameUser", 2, true},
	{"changeEmail", 2, false}, {"changeUserName", 1, false}, {"deactivate", 2, false}, {"reactivate", 2, false},
	{"deleteUser", 1, false}, {"scimDeleteUser", 1, false},
	{"addMember", 4, false}, {"removeMember", 3, false},
	{"createGroup", 2, false}, {"renameGroup", 1, false}, {"deleteGroup", 1, false},
	{"createIdPGroup", 2, false}, {"scimCreateGroup", 2, false}, {"renameIdPGroup", 2, false}, {"scimPatchGroup", 3, false},
	{"deleteIdPGroup", 1, false}, {"scimDeleteGroup", 1, false},
	{"idpMembers", 6, false}, {"replaceIdPMembers", 2, false}, {"ssoGroups", 3, false},
	{"createMapping", 5, false}, {"deleteMapping", 2, false},
	{"createRole", 1, false}, {"updateRole", 1, false}, {"deleteRole", 1, false},
	{"createGrant", 6, false}, {"deleteGrant", 2, false},
	{"createWorkspace", 1, false}, {"renameWorkspace", 1, false}, {"deleteWorkspace", 1, false}, {"addEnvironment", 1, false},
	{"createSpace", 1, false}, {"deleteSpace", 1, false}, {"assignSpace", 2, false}, {"unassignSpace", 1, false},
	{"createResource", 3, false}, {"moveResource", 2, false}, {"deleteResource", 1, false},
	{"createDirectory", 1, false}, {"createConnection", 1, false}, {"renameConnection", 1, false}, {"deleteConnection", 1, false},
	{"addAdmin", 1, false}, {"removeAdmin", 1, false},
	{"token", 2, true}, {"refusedLogin", 2, true}, {"operation", 1, false},
	{"approvalRule", 2, false}, {"orgSettings", 1, true}, {"proposal", 1, true},
}

func (w *world) randomOp() (string, bool) {
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	n := w.rng.IntN(total)
	for _, o := range ops {
		if n < o.weight {
			return o.name, o.nonDecision
		}
		n -= o.weight
	}
	panic("unreachable")
}

func (w *world) envsOf(wsID string) []core.Environment {
	ws, err := w.st.GetWorkspace(ctx, w.org, wsID)
	if err != nil {
		return nil
	}
	return ws.Environments
}

func (w *world) spacesOf(wsID string) []string {
	sps, _ := w.st.ListSpaces(ctx, w.org, wsID)
	var out []string
	for _, s := range sps {
		out = append(out, s.ID)
	}
	return out
}

// op makes one change. Errors the store answers (a conflict, the last admin, a
// thing deleted meanwhile) change nothing, which the index must agree with too.
func (w *world) op(name string) error {
	st, org := w.st, w.org
	switch name {
	case "createUser":
		n := w.name("user")
		email := n + "@example.com"
		if w.rng.IntN(3) == 0 {
			email = "Ärger-" + email
		}
		if w.rng.IntN(4) == 0 && len(w.users) > 0 { // a shared email, another case
			if u, err := st.GetUser(ctx, org, pick(w, w.users)); err == nil {
				email = w.caseOf(u.Email)
			}
		}
		u, err := st.CreateUser(ctx, sys, core.User{OrgID: org, UserName: w.caseOf(n), Email: email, DisplayName: n, Active: w.rng.IntN(5) > 0, Source: core.SourceInvited})
		if err == nil {
			w.users = append(w.users, u.ID)
		}
		return err
	case "scimCreateUser":
		dir := pick(w, w.dirs)
		n := w.name("scim")
		u, err := st.SCIMCreateUser(ctx, w.actor(dir), store.SCIMUser{User: core.User{OrgID: org, UserName: n, Email: strings.ToUpper(n) + "@Example.com", Active: true, DirectoryID: dir}})
		if err == nil {
			w.users = append(w.users, u.ID)
		}
		return err
	case "renameUser":
		_, err := st.UpdateUser(ctx, sys, org, pick(w, w.users), func(u *core.User) error { u.DisplayName = w.name("display"); return nil })
		return err
	case "scimRenameUser":
		dir := pick(w, w.dirs)
		_, err := st.SCIMUpdateUser(ctx, w.actor(dir), org, dir, pick(w, w.users), func(u *store.SCIMUser) error { u.DisplayName = w.name("display"); return nil })
		return err
	case "changeEmail":
		_, err := st.UpdateUser(ctx, sys, org, pick(w, w.users), func(u *core.User) error {
			if w.rng.IntN(3) == 0 {
				u.Email = ""
			} else {
				u.Email = w.caseOf(w.name("mail")) + "@example.com"
			}
			return nil
		})
		return err
	case "changeUserName":
		_, err := st.UpdateUser(ctx, sys, org, pick(w, w.users), func(u *core.User) error { u.UserName = w.caseOf(w.name("user")); return nil })
		return err
	case "deactivate", "reactivate":
		_, err := st.UpdateUser(ctx, sys, org, pick(w, w.users), func(u *core.User) error { u.Active = name == "reactivate"; return nil })
		return err
	case "deleteUser", "scimDeleteUser":
		id := pick(w, w.users)
		var err error
		if name == "deleteUser" {
			err = st.DeleteUser(ctx, sys, org, id)
		} else {
			dir := pick(w, w.dirs)
			err = st.SCIMDeleteUser(ctx, w.actor(dir), org, dir, id)
		}
		if err == nil {
			gone(&w.users, id, &w.goneUsers)
		}
		return err
	case "addMember":
		return st.AddGroupMember(ctx, sys, org, pick(w, w.groups), pick(w, w.users))
	case "removeMember":
		return st.RemoveGroupMember(ctx, sys, org, pick(w, w.groups), pick(w, w.users))
	case "createGroup":
		g, err := st.CreateGroup(ctx, sys, core.UserGroup{OrgID: org, Name: w.name("group")})
		if err == nil {
			w.groups = append(w.groups, g.ID)
		}
		return err
	case "renameGroup":
		_, err := st.UpdateGroup(ctx, sys, org, pick(w, w.groups), func(g *core.UserGroup) error { g.Name = w.name("group"); return nil })
		return err
	case "deleteGroup":
		id := pick(w, w.groups)
		err := st.DeleteGroup(ctx, sys, org, id)
		if err == nil {
			gone(&w.groups, id, nil)
		}
		return err
	case "createIdPGroup":
		g := core.IdPGroup{OrgID: org, DisplayName: w.groupName(), ExternalID: w.name("ext")}
		if w.rng.IntN(3) == 0 && len(w.conns) > 0 {
			g.ConnectionID = pick(w, w.conns)
		} else {
			g.DirectoryID = pick(w, w.dirs)
		}
		g, err := st.CreateIdPGroup(ctx, sys, g)
		if err == nil {
			w.idps = append(w.idps, g.ID)
		}
		return err
	case "scimCreateGroup":
		dir := pick(w, w.dirs)
		var members []string
		for range w.rng.IntN(4) {
			members = append(members, pick(w, w.users))
		}
		g, err := st.SCIMCreateGroup(ctx, w.actor(dir), store.SCIMGroup{OrgID: org, DirectoryID: dir, DisplayName: w.groupName(), ExternalID: w.name("ext")}, members)
		if err == nil {
			w.idps = append(w.idps, g.ID)
		}
		return err
	case "renameIdPGroup":
		// Often to what a mapping names, so that renames start and end matches.
		named := w.groupName()
		if m, err := st.GetMapping(ctx, org, pick(w, w.mappings)); err == nil && w.rng.IntN(3) > 0 {
			named = w.caseOf(m.IdPGroup)
		}
		_, err := st.UpdateIdPGroup(ctx, sys, org, pick(w, w.idps), func(g *core.IdPGroup) error {
			if w.rng.IntN(2) == 0 {
				g.DisplayName = named
			} else {
				g.ExternalID = named
			}
			return nil
		})
		return err
	case "scimPatchGroup":
		id := pick(w, w.idps)
		g, err := st.GetIdPGroup(ctx, org, id)
		if err != nil || g.DirectoryID == "" {
			return err
		}
		mc := store.MemberChange{Replace: w.rng.IntN(4) == 0}
		for range w.rng.IntN(3) {
			mc.Add = append(mc.Add, pick(w, w.users))
		}
		for range w.rng.IntN(2) {
			mc.Remove = append(mc.Remove, pick(w, w.users))
		}
		rename := w.rng.IntN(3) == 0
		_, err = st.SCIMUpdateGroup(ctx, w.actor(g.DirectoryID), org, g.DirectoryID, id, func(g *store.SCIMGroup) error {
			if rename {
				g.DisplayName = w.groupName()
			}
			return nil
		}, mc)
		return err
	case "deleteIdPGroup":
		id := pick(w, w.idps)
		err := st.DeleteIdPGroup(ctx, sys, org, id)
		if err == nil {
			gone(&w.idps, id, nil)
		}
		return err
	case "scimDeleteGroup":
		id := pick(w, w.idps)
		g, err := st.GetIdPGroup(ctx, org, id)
		if err != nil || g.DirectoryID == "" {
			return err
		}
		err = st.SCIMDeleteGroup(ctx, w.actor(g.DirectoryID), org, g.DirectoryID, id)
		if err == nil {
			gone(&w.idps, id, nil)
		}
		return err
	case "idpMembers":
		var add, remove []string
		for range 1 + w.rng.IntN(3) {
			add = append(add, pick(w, w.users))
		}
		if w.rng.IntN(2) == 0 {
			remove = append(remove, pick(w, w.users))
		}
		return st.ChangeIdPGroupMembers(ctx, sys, org, pick(w, w.idps), add, remove)
	case "replaceIdPMembers":
		var ids []string
		for range w.rng.IntN(5) {
			ids = append(ids, pick(w, w.users))
		}
		return st.ReplaceIdPGroupMembers(ctx, sys, org, pick(w, w.idps), ids)
	case "ssoGroups":
		if len(w.conns) == 0 {
			return nil
		}
		var claims []string
		for range w.rng.IntN(3) {
			claims = append(claims, pick(w, []string{"eng", "ENG", "sales", "Ärzte", "ops"}))
		}
		err := st.SetConnectionGroups(ctx, core.Actor{Kind: core.ActorSSO, ID: "c"}, org, pick(w, w.conns), pick(w, w.users), claims)
		w.refreshIdPs()
		return err
	case "createMapping":
		m := core.Mapping{OrgID: org, UserGroupID: pick(w, w.groups)}
		if id := pick(w, w.idps); id != "" && w.rng.IntN(4) > 0 {
			g, err := st.GetIdPGroup(ctx, org, id)
			if err != nil {
				return err
			}
			m.DirectoryID, m.ConnectionID = g.DirectoryID, g.ConnectionID
			switch w.rng.IntN(3) {
			case 0:
				m.IdPGroup = g.ID
			case 1:
				m.IdPGroup = g.ExternalID
			default:
				m.IdPGroup = w.caseOf(g.DisplayName)
			}
			if m.IdPGroup == "" {
				m.IdPGroup = g.DisplayName
			}
		} else { // a rule naming a group the IdP has not sent yet
			m.DirectoryID = pick(w, w.dirs)
			m.IdPGroup = w.groupName()
		}
		m, err := st.CreateMapping(ctx, sys, m)
		if err == nil {
			w.mappings = append(w.mappings, m.ID)
		}
		return err
	case "deleteMapping":
		id := pick(w, w.mappings)
		err := st.DeleteMapping(ctx, sys, org, id)
		if err == nil {
			gone(&w.mappings, id, nil)
		}
		return err
	case "createRole", "updateRole":
		rules := []core.Rule{{Actions: []core.Action{core.ActionRun}, ResourceType: core.TypeSync}}
		if w.rng.IntN(2) == 0 {
			rules = append(rules, core.Rule{Actions: []core.Action{core.ActionEdit}, ResourceType: core.TypeSource, ResourceID: pick(w, []string{"r-1", "r-2", "r-3"})})
		}
		if w.rng.IntN(3) == 0 {
			rules = append(rules, core.Rule{Actions: []core.Action{core.ActionView, core.ActionPublish}, ResourceType: core.AnyType})
		}
		if name == "updateRole" {
			_, err := st.UpdateCustomRole(ctx, sys, org, pick(w, w.roles), func(r *core.CustomRole) error { r.Rules = rules; return nil })
			return err
		}
		r, err := st.CreateCustomRole(ctx, sys, core.CustomRole{OrgID: org, Name: w.name("role"), Rules: rules})
		if err == nil {
			w.roles = append(w.roles, r.ID)
		}
		return err
	case "deleteRole":
		id := pick(w, w.roles)
		err := st.DeleteCustomRole(ctx, sys, org, id)
		if err == nil {
			gone(&w.roles, id, nil)
		}
		return err
	case "createGrant":
		ws := pick(w, w.workspaces)
		g := core.Grant{OrgID: org, UserGroupID: pick(w, w.groups), WorkspaceID: ws}
		if w.rng.IntN(4) == 0 && len(w.roles) > 0 {
			g.CustomRoleID = pick(w, w.roles)
		} else {
			g.Role = pick(w, core.BuiltinRoles)
		}
		if envs := w.envsOf(ws); len(envs) > 0 && w.rng.IntN(3) == 0 {
			for _, e := range envs {
				if w.rng.IntN(2) == 0 {
					g.EnvironmentIDs = append(g.EnvironmentIDs, e.ID)
				}
			}
		}
		g, err := st.CreateGrant(ctx, sys, g)
		if err == nil {
			w.grants = append(w.grants, g.ID)
		}
		return err
	case "deleteGrant":
		id := pick(w, w.grants)
		err := st.DeleteGrant(ctx, sys, org, id)
		if err == nil {
			gone(&w.grants, id, nil)
		}
		return err
	case "createWorkspace":
		ws, err := st.CreateWorkspace(ctx, sys, org, w.name("ws"), "Workspace", []string{"development", "production"}[:1+w.rng.IntN(2)])
		if err == nil {
			w.workspaces = append(w.workspaces, ws.ID)
		}
		return err
	case "renameWorkspace":
		_, err := st.RenameWorkspace(ctx, sys, org, pick(w, w.workspaces), w.name("Workspace"))
		return err
	case "deleteWorkspace":
		if len(w.workspaces) < 3 {
			return nil
		}
		id := pick(w, w.workspaces)
		err := st.DeleteWorkspace(ctx, sys, org, id)
		if err == nil {
			gone(&w.workspaces, id, &w.goneWorkspaces)
		}
		return err
	case "addEnvironment":
		_, err := st.AddEnvironment(ctx, sys, org, pick(w, w.workspaces), w.name("env"))
		return err
	case "approvalRule": // an environment's rule, which turns allows of changes into draft_only
		ws := pick(w, w.workspaces)
		envs := w.envsOf(ws)
		if len(envs) == 0 {
			return nil
		}
		_, err := st.UpdateEnvironment(ctx, sys, org, ws, pick(w, envs).ID, func(e *core.Environment) error {
			e.RequiresApproval, e.ApprovalsRequired = w.rng.IntN(2) == 0, 1+w.rng.IntN(3)
			return nil
		})
		return err
	case "orgSettings":
		_, err := st.UpdateOrg(ctx, sys, org, func(o *core.Org) error {
			o.AccessChangesRequireApproval = !o.AccessChangesRequireApproval
			return nil
		})
		return err
	case "proposal": // opened and reviewed: the log moves, decisions do not
		if len(w.users) < 2 || len(w.workspaces) == 0 {
			return nil
		}
		author, rev := pick(w, w.users), pick(w, w.users)
		p, err := st.CreateProposal(ctx, sys, store.Proposal{OrgID: org, Kind: store.ProposalChange, WorkspaceID: pick(w, w.workspaces),
			Action: "edit", Resource: &store.ProposalResource{Type: core.TypeModel, ID: "m"}, Title: "change",
			Author: core.Actor{Kind: core.ActorAdmin, ID: author}, ApprovalsRequired: 1})
		if err != nil {
			return err
		}
		_, err = st.ReviewProposal(ctx, sys, org, p.ID, store.Review{Reviewer: core.Actor{Kind: core.ActorAdmin, ID: rev}, Verdict: store.Approve})
		return err
	case "createSpace":
		sp, err := st.CreateSpace(ctx, sys, org, pick(w, w.workspaces), w.name("space"))
		if err == nil {
			w.spaces = append(w.spaces, sp.ID)
		}
		return err
	case "deleteSpace", "assignSpace", "unassignSpace":
		ws := pick(w, w.workspaces)
		sp := pick(w, w.spacesOf(ws))
		switch {
		case sp == "":
			return nil
		case name == "deleteSpace":
			return st.DeleteSpace(ctx, sys, org, ws, sp)
		case name == "assignSpace":
			return st.AssignSpace(ctx, sys, org, ws, sp, pick(w, w.groups))
		}
		return st.UnassignSpace(ctx, sys, org, ws, sp, pick(w, w.groups))
	case "createResource":
		ws := pick(w, w.workspaces)
		r := core.Resource{WorkspaceID: ws, Type: pick(w, core.ResourceTypes), ExternalID: pick(w, []string{"r-1", "r-2", "r-3", w.name("r")}), Name: "R"}
		if envs := w.envsOf(ws); len(envs) > 0 && w.rng.IntN(2) == 0 {
			r.EnvironmentID = pick(w, envs).ID
		}
		if w.rng.IntN(2) == 0 {
			r.SpaceID = pick(w, w.spacesOf(ws))
		}
		r, err := st.CreateResource(ctx, sys, org, r)
		if err == nil {
			w.resources = append(w.resources, r.ID)
		}
		return err
	case "moveResource":
		_, err := st.UpdateResource(ctx, sys, org, pick(w, w.resources), func(r *core.Resource) error {
			r.SpaceID, r.EnvironmentID = "", ""
			if w.rng.IntN(2) == 0 {
				r.SpaceID = pick(w, w.spacesOf(r.WorkspaceID))
			}
			if envs := w.envsOf(r.WorkspaceID); len(envs) > 0 && w.rng.IntN(2) == 0 {
				r.EnvironmentID = pick(w, envs).ID
			}
			if w.rng.IntN(4) == 0 {
				r.Name = w.name("R")
			}
			return nil
		})
		return err
	case "deleteResource":
		id := pick(w, w.resources)
		err := st.DeleteResource(ctx, sys, org, id)
		if err == nil {
			gone(&w.resources, id, nil)
		}
		return err
	case "createDirectory":
		d, err := st.EnsureDirectory(ctx, sys, org, w.name("okta"))
		if err == nil {
			w.dirs = append(w.dirs, d.ID)
		}
		return err
	case "createConnection":
		c, err := st.CreateSSOConnection(ctx, sys, store.SSOConnection{OrgID: org, Name: w.name("sso"), Kind: store.KindOIDC,
			OIDC: &store.OIDCConfig{Issuer: "https://idp.invalid", ClientID: "x", ClientSecretSealed: "v1:x"}})
		if err == nil {
			w.conns = append(w.conns, c.ID)
		}
		return err
	case "renameConnection":
		_, err := st.UpdateSSOConnection(ctx, sys, org, pick(w, w.conns), func(c *store.SSOConnection) error { c.Name = w.name("sso"); return nil })
		return err
	case "deleteConnection":
		if len(w.conns) < 2 {
			return nil
		}
		id := pick(w, w.conns)
		_, err := st.DeleteSSOConnection(ctx, sys, org, id)
		if err == nil {
			gone(&w.conns, id, nil)
			w.refreshIdPs()
		}
		return err
	case "addAdmin":
		return st.AddOrgAdmin(ctx, sys, org, pick(w, w.users))
	case "removeAdmin":
		return st.RemoveOrgAdmin(ctx, sys, org, pick(w, w.users))
	case "token":
		tok, _, err := st.CreateToken(ctx, sys, org, store.TokenAPI, w.name("token"), "")
		if err == nil && w.rng.IntN(2) == 0 {
			err = st.RevokeToken(ctx, sys, org, tok.ID)
		}
		return err
	case "refusedLogin":
		return st.RecordSSOEvent(ctx, org, core.Actor{Kind: core.ActorSSO}, "sso.login_refused", "user", pick(w, w.users), map[string]any{"reason": "test"})
	case "operation": // several changes, one transaction
		var gid string
		return st.WithTx(ctx, func(s store.Store) error {
			g, err := s.CreateGroup(ctx, sys, core.UserGroup{OrgID: org, Name: w.name("group")})
			if err != nil {
				return err
			}
			gid = g.ID
			if err := s.AddGroupMember(ctx, sys, org, g.ID, pick(w, w.users)); err != nil {
				return err
			}
			_, err = s.CreateGrant(ctx, sys, core.Grant{OrgID: org, UserGroupID: g.ID, WorkspaceID: pick(w, w.workspaces), Role: core.RoleEditor})
			if err == nil {
				w.groups = append(w.groups, gid)
			}
			return err
		})
	}
	panic("unknown op " + name)
}

// refreshIdPs learns the IdP groups as they are now (an SSO login creates some,
// deleting a connection deletes its own).
func (w *world) refreshIdPs() {
	gs, err := w.st.ListIdPGroups(ctx, w.org, "", store.Page{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.idps = w.idps[:0]
	for _, g := range gs {
		w.idps = append(w.idps, g.ID)
	}
}
