package api

// requires says what a route requires of the caller before its handler runs.
type requires int

const (
	public   requires = iota // nothing: no authentication (the OpenAPI document)
	person                   // a signed-in person's browser session; tokens are not looked at
	member                   // any authenticated caller of the org; the handler asks the authorizer
	orgAdmin                 // what the authorizer allows org admins only (API tokens act as org admins)
)

// route is one row of the route table.
type route struct {
	pattern  string // Go 1.22 mux pattern: "METHOD /path/{param}"
	requires requires
	fn       apiFunc
}

// routes is the one route table of the JSON API: one row a route, with what it
// requires of the caller. A member route's handler asks the authorizer
// (decisions.Engine.Authorize) about the very object it touches. Adding a route:
// a row here, its handler in the file of its resource, and its operation in
// openapi.go (TestOpenAPICoversEveryRoute fails until the two agree).
func (h *Handler) routes() []route {
	return []route{
		{"GET /api/v1/openapi.json", public, h.openAPI},

		// The signed-in person: who they are, their groups and roles.
		{"GET /api/v1/me", person, h.me},

		// Access checks: the hot path of every application.
		{"POST /api/v1/check", member, h.check},
		{"POST /api/v1/check/batch", member, h.checkBatch},

		{"GET /api/v1/org", member, h.getOrg},
		{"GET /api/v1/org/admins", orgAdmin, h.listOrgAdmins},
		{"PUT /api/v1/org/admins/{user}", orgAdmin, h.addOrgAdmin},
		{"DELETE /api/v1/org/admins/{user}", orgAdmin, h.removeOrgAdmin},
		{"POST /api/v1/org/admins/transfer", orgAdmin, h.transferOrgAdmin},

		{"GET /api/v1/users", orgAdmin, h.listUsers},
		{"POST /api/v1/users", orgAdmin, h.inviteUser},
		{"POST /api/v1/invitations", orgAdmin, h.invite},
		{"GET /api/v1/users/{user}", member, h.getUser},
		{"PATCH /api/v1/users/{user}", orgAdmin, h.updateUser},
		{"DELETE /api/v1/users/{user}", orgAdmin, h.deleteUser},
		{"POST /api/v1/users/{user}/deactivate", orgAdmin, h.deactivateUser},
		{"POST /api/v1/users/{user}/reactivate", orgAdmin, h.reactivateUser},
		{"POST /api/v1/users/{user}/owner", orgAdmin, h.transferUser},
		{"GET /api/v1/users/{user}/groups", member, h.userGroups},
		{"GET /api/v1/users/{user}/access", member, h.userAccess},

		{"GET /api/v1/groups", orgAdmin, h.listGroups},
		{"POST /api/v1/groups", orgAdmin, h.createGroup},
		{"GET /api/v1/groups/{group}", orgAdmin, h.getGroup},
		{"PATCH /api/v1/groups/{group}", orgAdmin, h.updateGroup},
		{"DELETE /api/v1/groups/{group}", orgAdmin, h.deleteGroup},
		{"GET /api/v1/groups/{group}/members", orgAdmin, h.listGroupMembers},
		{"PUT /api/v1/groups/{group}/members/{user}", orgAdmin, h.addGroupMember},
		{"DELETE /api/v1/groups/{group}/members/{user}", orgAdmin, h.removeGroupMember},

		{"GET /api/v1/domains", orgAdmin, h.listDomains},
		{"GET /api/v1/domains/{domain}", orgAdmin, h.getDomain},
		{"POST /api/v1/domains/{domain}/verify", orgAdmin, h.verifyDomain},

		{"GET /api/v1/directories", orgAdmin, h.listDirectories},
		{"POST /api/v1/directories", orgAdmin, h.createDirectory},
		{"GET /api/v1/directories/{directory}", orgAdmin, h.getDirectory},
		{"PATCH /api/v1/directories/{directory}", orgAdmin, h.updateDirectory},
		{"GET /api/v1/directories/{directory}/tokens", orgAdmin, h.listDirectoryTokens},
		{"POST /api/v1/directories/{directory}/tokens", orgAdmin, h.createDirectoryToken},
		{"DELETE /api/v1/directories/{directory}/tokens/{token}", orgAdmin, h.revokeDirectoryToken},

		{"GET /api/v1/idp-groups", orgAdmin, h.listIdPGroups},
		{"GET /api/v1/idp-groups/{idpgroup}", orgAdmin, h.getIdPGroup},
		{"GET /api/v1/idp-groups/{idpgroup}/members", orgAdmin, h.listIdPGroupMembers},

		{"GET /api/v1/mappings", orgAdmin, h.listMappings},
		{"POST /api/v1/mappings", orgAdmin, h.createMapping},
		{"GET /api/v1/mappings/{mapping}", orgAdmin, h.getMapping},
		{"DELETE /api/v1/mappings/{mapping}", orgAdmin, h.deleteMapping},

		{"GET /api/v1/roles", member, h.listRoles},
		{"POST /api/v1/roles", orgAdmin, h.createRole},
		{"GET /api/v1/roles/{role}", member, h.getRole},
		{"PATCH /api/v1/roles/{role}", orgAdmin, h.updateRole},
		{"DELETE /api/v1/roles/{role}", orgAdmin, h.deleteRole},

		{"GET /api/v1/tokens", orgAdmin, h.listAPITokens},
		{"POST /api/v1/tokens", orgAdmin, h.createAPIToken},
		{"DELETE /api/v1/tokens/{token}", orgAdmin, h.revokeAPIToken},

		{"GET /api/v1/audit", orgAdmin, h.listAudit},

		{"GET /api/v1/sso/connections", orgAdmin, h.listSSOConnections},
		{"POST /api/v1/sso/connections", orgAdmin, h.createSSOConnection},
		{"GET /api/v1/sso/connections/{connection}", orgAdmin, h.getSSOConnection},
		{"PATCH /api/v1/sso/connections/{connection}", orgAdmin, h.updateSSOConnection},
		{"DELETE /api/v1/sso/connections/{connection}", orgAdmin, h.deleteSSOConnection},

		{"GET /api/v1/workspaces", member, h.listWorkspaces},
		{"POST /api/v1/workspaces", orgAdmin, h.createWorkspace},
		{"GET /api/v1/workspaces/{workspace}", member, h.getWorkspace},
		{"PATCH /api/v1/workspaces/{workspace}", member, h.renameWorkspace},
		{"DELETE /api/v1/workspaces/{workspace}", orgAdmin, h.deleteWorkspace},
		{"POST /api/v1/workspaces/{workspace}/environments", member, h.addEnvironment},

		{"GET /api/v1/workspaces/{workspace}/spaces", member, h.listSpaces},
		{"POST /api/v1/workspaces/{workspace}/spaces", member, h.createSpace},
		{"GET /api/v1/workspaces/{workspace}/spaces/{space}", member, h.getSpace},
		{"DELETE /api/v1/workspaces/{workspace}/spaces/{space}", member, h.deleteSpace},
		{"GET /api/v1/workspaces/{workspace}/spaces/{space}/groups", member, h.listSpaceGroups},
		{"PUT /api/v1/workspaces/{workspace}/spaces/{space}/groups/{group}", member, h.assignSpace},
		{"DELETE /api/v1/workspaces/{workspace}/spaces/{space}/groups/{group}", member, h.unassignSpace},

		{"GET /api/v1/workspaces/{workspace}/resources", member, h.listResources},
		{"POST /api/v1/workspaces/{workspace}/resources", member, h.createResource},
		{"GET /api/v1/workspaces/{workspace}/resources/{resource}", member, h.getResource},
		{"PATCH /api/v1/workspaces/{workspace}/resources/{resource}", member, h.updateResource},
		{"DELETE /api/v1/workspaces/{workspace}/resources/{resource}", member, h.deleteResource},

		{"GET /api/v1/workspaces/{workspace}/grants", member, h.listWorkspaceGrants},
		{"GET /api/v1/grants", orgAdmin, h.listGrants},
		{"POST /api/v1/grants", member, h.createGrant},
		{"GET /api/v1/grants/{grant}", member, h.getGrant},
		{"DELETE /api/v1/grants/{grant}", member, h.deleteGrant},

		// The event stream and webhooks: org admins and API tokens.
		{"GET /api/v1/events", orgAdmin, h.listEvents},
		{"GET /api/v1/event-types", orgAdmin, h.listEventTypes},
		{"GET /api/v1/webhooks", orgAdmin, h.listWebhooks},
		{"POST /api/v1/webhooks", orgAdmin, h.createWebhook},
		{"GET /api/v1/webhooks/{webhook}", orgAdmin, h.getWebhook},
		{"PATCH /api/v1/webhooks/{webhook}", orgAdmin, h.updateWebhook},
		{"DELETE /api/v1/webhooks/{webhook}", orgAdmin, h.deleteWebhook},
		{"POST /api/v1/webhooks/{webhook}/rotate", orgAdmin, h.rotateWebhookSecret},
		{"GET /api/v1/webhooks/{webhook}/deliveries", orgAdmin, h.listWebhookDeliveries},
		{"GET /api/v1/webhooks/{webhook}/dead-letters", orgAdmin, h.listDeadLetters},
		{"POST /api/v1/webhooks/{webhook}/dead-letters/{seq}/redeliver", orgAdmin, h.redeliverDeadLetter},
		// Change management: proposals, their review, environments' approval rules
		// and the org's four eyes on access changes.
		{"PATCH /api/v1/org", orgAdmin, h.updateOrg},
		{"PATCH /api/v1/workspaces/{workspace}/environments/{environment}", member, h.updateEnvironment},
		{"DELETE /api/v1/workspaces/{workspace}/environments/{environment}", member, h.deleteEnvironment},
		{"GET /api/v1/proposals", member, h.listProposals},
		{"POST /api/v1/proposals", member, h.createProposal},
		{"GET /api/v1/proposals/{proposal}", member, h.getProposal},
		{"POST /api/v1/proposals/{proposal}/approve", member, h.approveProposal},
		{"POST /api/v1/proposals/{proposal}/reject", member, h.rejectProposal},
		{"POST /api/v1/proposals/{proposal}/withdraw", member, h.withdrawProposal},
		{"POST /api/v1/proposals/{proposal}/applied", orgAdmin, h.appliedProposal},
		{"POST /api/v1/proposals/{proposal}/failed", orgAdmin, h.failedProposal},
	}
}
