package web

import "github.com/gatehouse-dev/gatehouse/internal/store"

// requires says what a page requires of the signed-in person before its handler
// runs; pages for members ask the authorizer about what they show.
type requires int

const (
	member   requires = iota // any signed-in person of the org
	orgAdmin                 // org admins only
)

// route is one row of the page table.
type route struct {
	pattern  string // Go 1.22 mux pattern
	requires requires
	fn       pageFunc
}

// routes is the one route table of the admin pages: one row a page or form, with
// what it requires of the person. Adding a page: a row here, its handler in the
// file of its area (users.go, groups.go, …) and its template in templates/.
// Forms (POST) carry the CSRF token every page gets in pageData.
func (h *Handler) routes() []route {
	return []route{
		{"GET /admin/{$}", member, h.pageOverview},
		{"GET /admin/welcome", orgAdmin, h.pageWelcome}, // first run's next steps (setup.go)
		{"GET /admin/invitations", orgAdmin, show(h.pageInvitations)},
		{"POST /admin/invitations", orgAdmin, withForm(h.pageInvitations, h.formInvite)},
		{"GET /admin/mappings", orgAdmin, show(h.pageMappings)},
		{"POST /admin/mappings", orgAdmin, withForm(h.pageMappings, h.formAddMapping)},
		{"POST /admin/mappings/{mapping}/delete", orgAdmin, h.formDeleteMapping},
		{"GET /admin/users", orgAdmin, h.pageUsers},
		{"GET /admin/users/{user}", member, h.pageUser},
		{"POST /admin/users/{user}/deactivate", orgAdmin, h.formUserActive(false)},
		{"POST /admin/users/{user}/reactivate", orgAdmin, h.formUserActive(true)},
		{"GET /admin/groups", orgAdmin, show(h.pageGroups)},
		{"POST /admin/groups", orgAdmin, withForm(h.pageGroups, h.formCreateGroup)},
		{"GET /admin/groups/{group}", orgAdmin, show(h.pageGroup)},
		{"POST /admin/groups/{group}", orgAdmin, withForm(h.pageGroup, h.formUpdateGroup)},
		{"GET /admin/groups/{group}/delete", orgAdmin, show(h.pageDeleteGroup)},
		{"POST /admin/groups/{group}/delete", orgAdmin, h.formDeleteGroup},
		// A user group's direct members (members.go): access changes, previewed.
		{"POST /admin/groups/{group}/members", orgAdmin, withForm(h.pageGroup, h.formAddMember)},
		{"POST /admin/groups/{group}/members/{user}/remove", orgAdmin, h.formRemoveMember},
		// Org admins (admins.go): add, remove, transfer; previewed, last-admin rule.
		{"GET /admin/admins", orgAdmin, show(h.pageAdmins)},
		{"POST /admin/admins", orgAdmin, withForm(h.pageAdmins, h.formAddAdmin)},
		{"POST /admin/admins/transfer", orgAdmin, withForm(h.pageAdmins, h.formTransferAdmin)},
		{"POST /admin/admins/{user}/remove", orgAdmin, withForm(h.pageAdmins, h.formRemoveAdmin)},

		// Workspaces, their environments, spaces and grants (workspaces.go,
		// grants.go): listed for everyone who sees them; managed by org admins and
		// the workspace's Admins, as the authorizer decides.
		{"GET /admin/workspaces", member, show(h.pageWorkspaces)},
		{"POST /admin/workspaces", orgAdmin, withForm(h.pageWorkspaces, h.formCreateWorkspace)},
		{"GET /admin/workspaces/{workspace}", member, show(h.pageWorkspace)},
		{"POST /admin/workspaces/{workspace}/rename", member, withForm(h.pageWorkspace, h.formRenameWorkspace)},
		{"POST /admin/workspaces/{workspace}/environments", member, withForm(h.pageWorkspace, h.formAddEnvironment)},
		{"POST /admin/workspaces/{workspace}/environments/{environment}/approval", member, withForm(h.pageWorkspace, h.formWorkspaceApproval)},
		{"GET /admin/workspaces/{workspace}/environments/{environment}", member, show(h.pageEnvironment)},
		{"POST /admin/workspaces/{workspace}/environments/{environment}/rename", member, withForm(h.pageEnvironment, h.formRenameEnvironment)},
		{"POST /admin/workspaces/{workspace}/environments/{environment}/move", member, withForm(h.pageWorkspace, h.formMoveEnvironment)},
		{"POST /admin/workspaces/{workspace}/environments/{environment}/delete", member, withForm(h.pageEnvironment, h.formDeleteEnvironment)},
		{"GET /admin/workspaces/{workspace}/delete", orgAdmin, show(h.pageDeleteWorkspace)},
		{"POST /admin/workspaces/{workspace}/delete", orgAdmin, withForm(h.pageDeleteWorkspace, h.formDeleteWorkspace)},
		{"POST /admin/workspaces/{workspace}/spaces", member, withForm(h.pageWorkspace, h.formCreateSpace)},
		{"POST /admin/workspaces/{workspace}/spaces/{space}/assign", member, withForm(h.pageWorkspace, h.formSpaceGroup(true))},
		{"POST /admin/workspaces/{workspace}/spaces/{space}/unassign", member, withForm(h.pageWorkspace, h.formSpaceGroup(false))},
		{"GET /admin/workspaces/{workspace}/spaces/{space}/delete", member, show(h.pageDeleteSpace)},
		{"POST /admin/workspaces/{workspace}/spaces/{space}/delete", member, withForm(h.pageDeleteSpace, h.formDeleteSpace)},
		{"POST /admin/workspaces/{workspace}/grants", member, withForm(h.pageWorkspace, h.formCreateGrant)},
		{"POST /admin/grants/{grant}/delete", member, h.formDeleteGrant},
		// Custom roles (roles.go): their rules as a table; changes previewed.
		{"GET /admin/roles", orgAdmin, show(h.pageRoles)},
		{"POST /admin/roles", orgAdmin, withForm(h.pageRoles, h.formCreateRole)},
		{"GET /admin/roles/{role}", orgAdmin, show(h.pageRole)},
		{"POST /admin/roles/{role}", orgAdmin, withForm(h.pageRole, h.formUpdateRole)},
		{"POST /admin/roles/{role}/delete", orgAdmin, h.formDeleteRole},
		// A workspace's resources (resources.go): as core.Decide allows each action.
		{"GET /admin/workspaces/{workspace}/resources", member, show(h.pageResources)},
		{"POST /admin/workspaces/{workspace}/resources", member, withForm(h.pageResources, h.formRegisterResource)},
		{"GET /admin/workspaces/{workspace}/resources/{resource}", member, show(h.pageResource)},
		{"POST /admin/workspaces/{workspace}/resources/{resource}", member, withForm(h.pageResource, h.formUpdateResource)},
		{"GET /admin/workspaces/{workspace}/resources/{resource}/delete", member, show(h.pageDeleteResource)},
		{"POST /admin/workspaces/{workspace}/resources/{resource}/delete", member, h.formDeleteResource},
		{"GET /admin/scim", orgAdmin, h.pageSCIM},
		{"POST /admin/scim", orgAdmin, h.formCreateDirectory},
		{"GET /admin/scim/{directory}", orgAdmin, h.pageDirectory},
		{"POST /admin/scim/{directory}/tokens", orgAdmin, h.formRotateToken},
		{"POST /admin/scim/{directory}/domains", orgAdmin, h.formDirectoryDomains},
		{"GET /admin/scim/{directory}/tokens/{token}/revoke", orgAdmin, h.pageRevokeToken},
		{"POST /admin/scim/{directory}/tokens/{token}/revoke", orgAdmin, h.formRevokeToken},
		// Email domains (domains.go): the records to publish, Verify by DNS, the require-verified setting.
		{"GET /admin/domains", orgAdmin, h.pageDomains},
		{"POST /admin/domains/settings", orgAdmin, h.formDomainSettings},
		{"POST /admin/domains/{domain}/verify", orgAdmin, h.formVerifyDomain},
		// API tokens (tokens.go): created with the secret shown once, revoked after a confirmation.
		{"GET /admin/tokens", orgAdmin, h.pageTokens},
		{"POST /admin/tokens", orgAdmin, h.formCreateToken},
		{"GET /admin/tokens/{token}/revoke", orgAdmin, h.pageRevokeAPIToken},
		{"POST /admin/tokens/{token}/revoke", orgAdmin, h.formRevokeAPIToken},
		{"GET /admin/sso", orgAdmin, h.pageSSO},
		{"GET /admin/sso/add-saml", orgAdmin, h.pageAddSSO(store.KindSAML)},
		{"POST /admin/sso/add-saml", orgAdmin, h.formAddSSO(store.KindSAML)},
		{"GET /admin/sso/add-oidc", orgAdmin, h.pageAddSSO(store.KindOIDC)},
		{"POST /admin/sso/add-oidc", orgAdmin, h.formAddSSO(store.KindOIDC)},
		{"GET /admin/sso/{connection}", orgAdmin, h.pageSSOConnection},
		{"POST /admin/sso/{connection}", orgAdmin, h.formUpdateSSO},
		{"POST /admin/sso/{connection}/refresh", orgAdmin, h.formRefreshSSO},
		{"GET /admin/sso/{connection}/delete", orgAdmin, h.pageDeleteSSO},
		{"POST /admin/sso/{connection}/delete", orgAdmin, h.formDeleteSSO},
		{"GET /admin/audit", orgAdmin, h.pageAudit},

		// The event stream and webhooks.
		{"GET /admin/events", orgAdmin, h.pageEvents},
		{"GET /admin/webhooks", orgAdmin, h.pageWebhooks},
		{"POST /admin/webhooks", orgAdmin, h.formCreateWebhook},
		{"GET /admin/webhooks/{webhook}", orgAdmin, h.pageWebhook},
		{"POST /admin/webhooks/{webhook}", orgAdmin, h.formUpdateWebhook},
		{"POST /admin/webhooks/{webhook}/rotate", orgAdmin, h.formRotateWebhook},
		{"GET /admin/webhooks/{webhook}/delete", orgAdmin, h.pageDeleteWebhook},
		{"POST /admin/webhooks/{webhook}/delete", orgAdmin, h.formDeleteWebhook},
		{"POST /admin/webhooks/{webhook}/dead-letters/{seq}/redeliver", orgAdmin, h.formRedeliver},
		// Change management: proposals and their review, approval rules.
		{"GET /admin/proposals", member, h.pageProposals},
		{"GET /admin/proposals/{proposal}", member, h.pageProposal},
		{"POST /admin/proposals/{proposal}/approve", member, h.formReview(store.Approve)},
		{"POST /admin/proposals/{proposal}/reject", member, h.formReview(store.Reject)},
		{"POST /admin/proposals/{proposal}/withdraw", member, h.formWithdraw},
		{"GET /admin/approvals", orgAdmin, h.pageApprovals},
		{"POST /admin/approvals/environments", orgAdmin, h.formEnvironmentRule},
		{"POST /admin/approvals/org", orgAdmin, h.formOrgApproval},
	}
}
