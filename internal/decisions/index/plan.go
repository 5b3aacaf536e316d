package index

import (
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// plan turns a run of change-log events into the rows to read again. Rows are read
// in the snapshot where the run ends, so only which rows changed matters, not the
// order of the events: each key is read once, in its final state. reload is set
// for an event the index does not know, which a full load covers whatever it did.
func plan(events []core.AuditEvent) (k store.OrgKeys, reload bool, unknown string) {
	for _, e := range events {
		id := e.TargetID
		switch e.Action {
		case "user.create", "user.update", "user.deactivate", "user.reactivate", "user.activate", "user.delete",
			"user.owner_transfer", "user.adopted",
			"org_admin.add", "org_admin.remove",
			// An SSO login's group claims: the user's IdP memberships of one connection
			// (the groups it creates have events of their own).
			"user.idp_groups.set":
			k.Users = append(k.Users, id)
		case "group.create", "group.update", "group.delete":
			k.Groups = append(k.Groups, id)
		case "group.member.add", "group.member.remove":
			if uid, ok := e.Details["user_id"].(string); ok && uid != "" {
				k.Users = append(k.Users, uid)
			} else {
				k.GroupMembers = append(k.GroupMembers, id)
			}
		case "idp_group.create", "idp_group.update", "idp_group.delete":
			k.IdPGroups = append(k.IdPGroups, id)
			members(&k, e)
		case "idp_group.members.change":
			members(&k, e)
		case "mapping.create", "mapping.delete":
			k.Mappings = append(k.Mappings, id)
		case "custom_role.create", "custom_role.update", "custom_role.delete":
			k.Roles = append(k.Roles, id)
		case "grant.create", "grant.delete":
			k.Grants = append(k.Grants, id)
		case "workspace.create", "workspace.rename", "workspace.delete":
			k.Workspaces = append(k.Workspaces, id)
		case "environment.create", "environment.update":
			k.Environments = append(k.Environments, id)
		case "environment.rename", "environment.move", "environment.delete":
			// The workspace is read again, named by the event (the store writes
			// workspace_id): a deleted environment's row is gone.
			if wid, ok := e.Details["workspace_id"].(string); ok && wid != "" {
				k.Workspaces = append(k.Workspaces, wid)
			} else {
				k.Environments = append(k.Environments, id)
			}
		case "space.create", "space.delete", "space.assign", "space.unassign":
			k.Spaces = append(k.Spaces, id)
		case "resource.create", "resource.update", "resource.delete":
			k.Resources = append(k.Resources, id)
		case "directory.create", "sso_connection.create", "sso_connection.update", "sso_connection.delete":
			// Sources name the IdP groups' paths; deleting a connection deletes its
			// IdP groups, their members and its mappings with it.
			k.Sources = append(k.Sources, id)
		case "org.create", "directory.update", "domain.verified", "domain.lost", "token.create", "token.revoke", "sso.login", "sso.login_refused", "sso.logout",
			"sso.single_logout", "sso.logout_refused",
			"webhook.create", "webhook.update", "webhook.delete", "webhook.rotate_secret", "webhook.redeliver",
			// An org's settings (four eyes on access changes) and proposals: an access
			// proposal's change, once applied, has events of its own.
			"org.update", "proposal.create", "proposal.review", "proposal.approve", "proposal.reject",
			"proposal.withdraw", "proposal.apply", "proposal.fail",
			// Sign-in links and the sessions they start (break-glass, first run,
			// invitations): the user they sign in has events of its own.
			"signin_link.create", "signin.break_glass", "signin.setup", "signin.invitation":
			// Nothing a decision reads: the seq moves, the version does not.
		default:
			return store.OrgKeys{}, true, e.Action
		}
	}
	return k, false, ""
}

// members plans the member changes of an IdP group event. The change log's
// contract: details "add_user_ids" and "remove_user_ids" name every member that
// changed, or "members_reload" asks to read the group's members again. Events
// written before that contract carry counts only ("members", "members_added", …);
// they, and a new group, are read again whole — slower, as correct.
func members(k *store.OrgKeys, e core.AuditEvent) {
	add, okA := ids(e.Details["add_user_ids"])
	remove, okR := ids(e.Details["remove_user_ids"])
	reload, _ := e.Details["members_reload"].(bool)
	switch {
	case reload:
		k.IdPGroupMembers = append(k.IdPGroupMembers, e.TargetID)
	case okA || okR:
		k.Users = append(append(k.Users, add...), remove...)
	case e.Action == "idp_group.create" || e.Action == "idp_group.members.change":
		k.IdPGroupMembers = append(k.IdPGroupMembers, e.TargetID)
	default: // idp_group.update: members only if it says it touched them
		for _, key := range []string{"members", "members_added", "members_removed", "members_replaced"} {
			if _, ok := e.Details[key]; ok {
				k.IdPGroupMembers = append(k.IdPGroupMembers, e.TargetID)
				return
			}
		}
	}
}

// ids reads a JSON list of strings.
func ids(v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}
