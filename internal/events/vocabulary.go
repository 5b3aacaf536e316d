package events

// vocabulary maps every audit action the store and the edges write to its public
// type. Types are past tense, "object.verbed", grouped by object; several actions
// may share a type (SCIM's user.activate and the API's user.reactivate). A new
// audit action belongs here too (TestEveryActionHasAType finds the ones missing).
var vocabulary = []struct{ action, typ, doc string }{
	{"org.create", "org.created", "The organization was created; its first event."},
	{"org.update", "org.updated", "The organization's name or settings changed (access_changes_require_approval, require_verified_domains)."},

	{"user.create", "user.created", "A user was created: provisioned by SCIM, created at SSO login, or invited."},
	{"user.update", "user.updated", "A user's attributes changed (data lists the changed fields)."},
	{"user.deactivate", "user.deactivated", "A user was deactivated: they have no access and no sessions; end theirs in your application."},
	{"user.reactivate", "user.reactivated", "A deactivated user was made active again."},
	{"user.activate", "user.reactivated", "A deactivated user was made active again."},
	{"user.delete", "user.deleted", "A user was deleted with all their memberships."},
	{"user.idp_groups.set", "user.idp_groups_changed", "An SSO login reconciled the user's IdP groups of that connection."},
	{"user.adopted", "user.owner_changed", "A directory or SSO connection took over a user it may adopt (a local user in its domains, or for a directory a connection's); data names both owners."},
	{"user.owner_transfer", "user.owner_changed", "An org admin gave a user another owner (a directory, an SSO connection, or local); data names both."},

	{"group.create", "group.created", "A user group was created."},
	{"group.update", "group.updated", "A user group was renamed or its description changed."},
	{"group.delete", "group.deleted", "A user group was deleted, with its memberships and grants."},
	{"group.member.add", "membership.added", "A user was added to a user group directly."},
	{"group.member.remove", "membership.removed", "A user's direct membership of a user group was removed."},

	{"idp_group.create", "idp_group.created", "An IdP group was created (SCIM, or a group claim at SSO login)."},
	{"idp_group.update", "idp_group.updated", "An IdP group changed: its name or its members (SCIM PUT/PATCH)."},
	{"idp_group.delete", "idp_group.deleted", "An IdP group was deleted."},
	{"idp_group.members.change", "idp_group.members_changed", "Members were added to or removed from an IdP group."},

	{"mapping.create", "mapping.created", "An IdP group was mapped onto a user group."},
	{"mapping.delete", "mapping.deleted", "A group mapping was removed."},

	{"grant.create", "grant.created", "A user group was granted a role in a workspace."},
	{"grant.delete", "grant.deleted", "A grant was removed."},

	{"custom_role.create", "custom_role.created", "A custom role was created."},
	{"custom_role.update", "custom_role.updated", "A custom role's rules changed."},
	{"custom_role.delete", "custom_role.deleted", "A custom role was deleted."},

	{"workspace.create", "workspace.created", "A workspace was created with its environments."},
	{"workspace.rename", "workspace.renamed", "A workspace was renamed."},
	{"workspace.delete", "workspace.deleted", "A workspace was deleted with everything in it."},
	{"environment.create", "environment.created", "An environment was added to a workspace's promotion path."},
	{"environment.update", "environment.updated", "An environment's approval rule changed (requires_approval, approvals_required)."},
	{"environment.rename", "environment.renamed", "An environment was renamed."},
	{"environment.move", "environment.moved", "An environment moved along its workspace's promotion path (position, order)."},
	{"environment.delete", "environment.deleted", "An environment was removed from its workspace's promotion path."},
	{"space.create", "space.created", "A space was created in a workspace."},
	{"space.delete", "space.deleted", "A space was deleted."},
	{"space.assign", "space.assigned", "A space was made visible to a user group."},
	{"space.unassign", "space.unassigned", "A user group no longer sees a space."},

	{"resource.create", "resource.created", "A resource was registered."},
	{"resource.update", "resource.updated", "A resource was renamed or moved (environment, space)."},
	{"resource.delete", "resource.deleted", "A resource was removed."},

	{"org_admin.add", "org_admin.added", "A user became an org admin."},
	{"org_admin.remove", "org_admin.removed", "A user is no longer an org admin."},

	{"token.create", "token.created", "A SCIM or API token was created."},
	{"token.revoke", "token.revoked", "A token was revoked."},
	{"directory.create", "directory.created", "A SCIM directory was created."},
	{"directory.update", "directory.updated", "A SCIM directory's email domains changed (data: domains, previous_domains)."},
	{"domain.verified", "domain.verified", "The organization proved an email domain is its own (data: domain, verified_by dns or operator; taken_over when another organization had claimed it without proof)."},
	{"domain.lost", "domain.lost", "Another organization proved an email domain this one used without verifying it: the domain left this organization's connections and directories (data: domain, connections, directories)."},

	{"sso_connection.create", "sso_connection.created", "An SSO connection was added."},
	{"sso_connection.update", "sso_connection.updated", "An SSO connection's settings changed."},
	{"sso_connection.delete", "sso_connection.deleted", "An SSO connection was deleted with its sessions, IdP groups and mappings."},
	{"sso.login", "sso.login", "A user signed in through an SSO connection."},
	{"sso.login_refused", "sso.login_refused", "An SSO login was refused (data says why)."},
	{"signin_link.create", "signin_link.created", "A single-use sign-in link was made for a user (data.kind: break_glass from gatehouse login-link, or invitation)."},
	{"signin.break_glass", "signin.break_glass", "An org admin signed in with a break-glass link (gatehouse login-link), without an identity provider."},
	{"signin.setup", "signin.setup", "The first org admin signed in after creating the organization on the first-run setup page."},
	{"signin.invitation", "signin.invitation", "An invited person signed in for the first time with their invitation link."},
	{"sso.logout", "sso.logout", "A user signed out."},
	{"sso.single_logout", "sso.single_logout", "A SAML single logout ended a user's Gatehouse sessions."},
	{"sso.logout_refused", "sso.logout_refused", "A SAML single logout message was refused (data says why)."},

	{"webhook.create", "webhook.created", "A webhook was created."},
	{"webhook.update", "webhook.updated", "A webhook's URL, event types or state changed."},
	{"webhook.delete", "webhook.deleted", "A webhook was deleted."},
	{"webhook.rotate_secret", "webhook.secret_rotated", "A webhook's signing secret was replaced."},
	{"webhook.redeliver", "webhook.redelivery_requested", "A dead-lettered delivery was queued for redelivery."},

	{"proposal.create", "proposal.created", "A change, a promotion or an access change was proposed; it awaits review."},
	{"proposal.review", "proposal.reviewed", "A reviewer approved a proposal that needs more approvals; it stays open."},
	{"proposal.approve", "proposal.approved", "A proposal got the approvals it needs: apply it and report applied or failed."},
	{"proposal.reject", "proposal.rejected", "A reviewer rejected a proposal; it is closed."},
	{"proposal.withdraw", "proposal.withdrawn", "The author withdrew an open proposal."},
	{"proposal.apply", "proposal.applied", "An approved proposal was applied (by the application, or by Gatehouse for an access change)."},
	{"proposal.fail", "proposal.failed", "An approved proposal could not be applied (data.message says why)."},
}
