package api

import (
	"net/http"

	"regexp"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
)

// op documents one operation of the API. The table below is written by hand, apart
// from the route table, so that a route added without documentation fails
// TestOpenAPICoversEveryRoute.
type op struct {
	tag, summary string
	body         string   // request schema name, if any
	resp         string   // response schema name; "" for 204 No Content
	status       int      // success status; 200 by default
	query        []string // query parameters
	// access marks an access change: ?dry_run=true answers its diff (200), and
	// when the org requires approval of access changes it is held (202).
	access bool
}

var pageQuery = []string{"after", "limit"}

var operations = map[string]op{
	"GET /api/v1/openapi.json": {tag: "meta", summary: "This OpenAPI document", resp: "Object"},

	"GET /api/v1/me": {tag: "me", summary: "The signed-in person (browser session only): their user, org, session, user groups with the IdP groups that bring them in, and their roles and workspace-level decisions per environment", resp: "Me"},

	"POST /api/v1/check":       {tag: "checks", summary: "Decide one question: may the user do the action on the resource? Answers allow, deny or draft_only with the explanation chain. A person (session) asks about themselves only, and a workspace where they hold no role is answered exactly as one that does not exist (unknown_workspace)", body: "CheckRequest", resp: "Decision"},
	"POST /api/v1/check/batch": {tag: "checks", summary: "Decide up to 1,000 questions at one consistent state of the organization", body: "CheckBatchRequest", resp: "CheckBatchResponse"},

	"GET /api/v1/org":                  {tag: "org", summary: "The caller's organization", resp: "Org"},
	"GET /api/v1/org/admins":           {tag: "org", summary: "List org admins with their emails: org admins (and API tokens) only; other members get 403", resp: "UserList"},
	"PUT /api/v1/org/admins/{user}":    {tag: "org", summary: "Make a user an org admin", resp: "User", access: true},
	"DELETE /api/v1/org/admins/{user}": {tag: "org", summary: "Revoke org admin; refused (409) for the last active admin", access: true},
	"POST /api/v1/org/admins/transfer": {tag: "org", summary: "Transfer org admin from one user (the caller by default) to another", body: "TransferRequest", resp: "UserList", access: true},

	"GET /api/v1/users":                    {tag: "users", summary: "Search users", resp: "UserList", query: append([]string{"q", "email", "status"}, pageQuery...)},
	"POST /api/v1/users":                   {tag: "users", summary: "Invite a user", body: "UserInput", resp: "User", status: 201},
	"POST /api/v1/invitations":             {tag: "users", summary: "Invite a person: creates the local user and returns, once, a single-use sign-in link (valid 7 days) that signs them in the first time; mailed to them when the server has SMTP settings", body: "UserInput", resp: "Invitation", status: 201},
	"GET /api/v1/users/{user}":             {tag: "users", summary: "Get a user by id, email or user name", resp: "User"},
	"PATCH /api/v1/users/{user}":           {tag: "users", summary: "Change a user's attributes", body: "UserInput", resp: "User"},
	"DELETE /api/v1/users/{user}":          {tag: "users", summary: "Delete a user and their memberships"},
	"POST /api/v1/users/{user}/deactivate": {tag: "users", summary: "Deactivate a user: no access, no sessions", resp: "User"},
	"POST /api/v1/users/{user}/reactivate": {tag: "users", summary: "Reactivate a user", resp: "User"},
	"POST /api/v1/users/{user}/owner":      {tag: "users", summary: "Transfer a user to another owner: a directory or SSO connection of the org (by id or name), or local. Org admins only; audited as user.owner_transfer", body: "OwnerInput", resp: "User"},
	"GET /api/v1/users/{user}/groups":      {tag: "users", summary: "A user's user groups, with every path to each", resp: "MembershipList"},
	"GET /api/v1/users/{user}/access":      {tag: "users", summary: "Effective access matrix: each workspace and environment with the roles held and where each came from. Org admins see every workspace; a person reads their own matrix, which lists only the workspaces where they hold a role", resp: "AccessMatrix", query: pageQuery},

	"GET /api/v1/groups":                           {tag: "groups", summary: "List user groups", resp: "GroupList", query: pageQuery},
	"POST /api/v1/groups":                          {tag: "groups", summary: "Create a user group", body: "GroupInput", resp: "Group", status: 201},
	"GET /api/v1/groups/{group}":                   {tag: "groups", summary: "Get a user group by id or name", resp: "Group"},
	"PATCH /api/v1/groups/{group}":                 {tag: "groups", summary: "Rename or describe a user group", body: "GroupInput", resp: "Group"},
	"DELETE /api/v1/groups/{group}":                {tag: "groups", summary: "Delete a user group, its grants and mappings"},
	"GET /api/v1/groups/{group}/members":           {tag: "groups", summary: "Members, direct and through mapped IdP groups", resp: "MemberList", query: pageQuery},
	"PUT /api/v1/groups/{group}/members/{user}":    {tag: "groups", summary: "Add a direct member", access: true},
	"DELETE /api/v1/groups/{group}/members/{user}": {tag: "groups", summary: "Remove a direct member", access: true},

	"GET /api/v1/domains":                  {tag: "domains", summary: "List the org's email domains (those its connections and directories use, and those it verified): status, who verified each and how, who uses it, and the DNS TXT record that proves it", resp: "DomainList"},
	"GET /api/v1/domains/{domain}":         {tag: "domains", summary: "Any email domain as the org sees it (its own, another org's, or nobody's), with the DNS TXT record the org publishes to prove it", resp: "Domain"},
	"POST /api/v1/domains/{domain}/verify": {tag: "domains", summary: "Look the domain's TXT record up in DNS; when it is there, the domain is the org's, verified (audited domain.verified), taken over from another org that used it without verifying it. A missing or wrong record or a failed lookup is a 422 saying what to publish, a domain another org verified a 409; nothing changes", resp: "Domain"},

	"GET /api/v1/directories":                               {tag: "scim", summary: "List SCIM directories", resp: "DirectoryList"},
	"POST /api/v1/directories":                              {tag: "scim", summary: "Create a SCIM directory and its first token (secret shown once)", body: "NameInput", resp: "DirectoryCreated", status: 201},
	"GET /api/v1/directories/{directory}":                   {tag: "scim", summary: "Get a directory by id or name", resp: "Directory"},
	"PATCH /api/v1/directories/{directory}":                 {tag: "scim", summary: "Replace a directory's email domains (a domain belongs to one org; [] clears them); a bad domain is a 422 and one another org or directory uses a 409, naming the field, and nothing changes", body: "DirectoryInput", resp: "Directory"},
	"GET /api/v1/directories/{directory}/tokens":            {tag: "scim", summary: "List a directory's tokens (never their secrets)", resp: "TokenList"},
	"POST /api/v1/directories/{directory}/tokens":           {tag: "scim", summary: "Rotate: add a token (secret shown once); older tokens stay valid until revoked", body: "NameInput", resp: "NewToken", status: 201},
	"DELETE /api/v1/directories/{directory}/tokens/{token}": {tag: "scim", summary: "Revoke a directory token"},

	"GET /api/v1/idp-groups":                    {tag: "idp groups", summary: "IdP groups of the org, a directory or an SSO connection", resp: "IdPGroupList", query: append([]string{"directory", "connection"}, pageQuery...)},
	"GET /api/v1/idp-groups/{idpgroup}":         {tag: "idp groups", summary: "Get an IdP group", resp: "IdPGroup"},
	"GET /api/v1/idp-groups/{idpgroup}/members": {tag: "idp groups", summary: "Members of an IdP group", resp: "UserList", query: pageQuery},

	"GET /api/v1/mappings":              {tag: "mappings", summary: "List group mappings", resp: "MappingList", query: pageQuery},
	"POST /api/v1/mappings":             {tag: "mappings", summary: "Map an IdP group of a directory or SSO connection onto a user group", body: "MappingInput", resp: "Mapping", status: 201, access: true},
	"GET /api/v1/mappings/{mapping}":    {tag: "mappings", summary: "Get a mapping", resp: "Mapping"},
	"DELETE /api/v1/mappings/{mapping}": {tag: "mappings", summary: "Delete a mapping", access: true},

	"GET /api/v1/roles":           {tag: "roles", summary: "Pre-built and custom roles", resp: "RoleList"},
	"POST /api/v1/roles":          {tag: "roles", summary: "Create a custom role", body: "RoleInput", resp: "Role", status: 201, access: true},
	"GET /api/v1/roles/{role}":    {tag: "roles", summary: "Get a role by id or name", resp: "Role"},
	"PATCH /api/v1/roles/{role}":  {tag: "roles", summary: "Change a custom role", body: "RoleInput", resp: "Role", access: true},
	"DELETE /api/v1/roles/{role}": {tag: "roles", summary: "Delete a custom role and its grants", access: true},

	"GET /api/v1/tokens":            {tag: "tokens", summary: "List API tokens (never their secrets)", resp: "TokenList"},
	"POST /api/v1/tokens":           {tag: "tokens", summary: "Create an API token (secret shown once); it acts as an org admin", body: "NameInput", resp: "NewToken", status: 201},
	"DELETE /api/v1/tokens/{token}": {tag: "tokens", summary: "Revoke an API token"},

	"GET /api/v1/sso/connections":                 {tag: "sso", summary: "SSO connections with the values to paste into Okta or Entra and their login settings", resp: "SSOConnectionList"},
	"POST /api/v1/sso/connections":                {tag: "sso", summary: "Add a SAML connection (by the IdP's metadata URL, fetched now and refreshed on a schedule, or its metadata XML) or an OIDC connection (by issuer, checked by OpenID discovery, and client; the secret is sealed and never shown again), with the checks of gatehouse sso add-saml / add-oidc; answers the values to paste into the IdP. Bad input is a 422 naming the field and creates nothing", body: "SSOConnectionInput", resp: "SSOConnection", status: 201},
	"GET /api/v1/sso/connections/{connection}":    {tag: "sso", summary: "One SSO connection: the values to paste into the IdP, login settings, the IdP's signing certificates with their expiry, the metadata refresh state", resp: "SSOConnection"},
	"PATCH /api/v1/sso/connections/{connection}":  {tag: "sso", summary: "Change the fields given (domains replace the list; refresh_metadata fetches the IdP metadata again from its URL), with the checks of gatehouse sso update; bad input is a 422 naming the field and changes nothing", body: "SSOConnectionInput", resp: "SSOConnection"},
	"DELETE /api/v1/sso/connections/{connection}": {tag: "sso", summary: "Delete an SSO connection with its email domains, sessions (signed out), IdP groups and their memberships, and group mappings; the users it created just in time are kept as local users. Answers what was removed", resp: "SSODeletion"},

	"GET /api/v1/audit": {tag: "audit", summary: "Audit events, newest first", resp: "AuditList", query: append([]string{"actor", "action", "since", "until"}, pageQuery...)},

	"GET /api/v1/workspaces":                           {tag: "workspaces", summary: "Workspaces the caller can see", resp: "WorkspaceList", query: pageQuery},
	"POST /api/v1/workspaces":                          {tag: "workspaces", summary: "Create a workspace with its environments in promotion order", body: "WorkspaceInput", resp: "Workspace", status: 201},
	"GET /api/v1/workspaces/{workspace}":               {tag: "workspaces", summary: "Get a workspace by id or slug", resp: "Workspace"},
	"PATCH /api/v1/workspaces/{workspace}":             {tag: "workspaces", summary: "Rename a workspace", body: "NameInput", resp: "Workspace"},
	"DELETE /api/v1/workspaces/{workspace}":            {tag: "workspaces", summary: "Delete a workspace and everything in it"},
	"POST /api/v1/workspaces/{workspace}/environments": {tag: "workspaces", summary: "Append an environment to the promotion path", body: "NameInput", resp: "Environment", status: 201},

	"GET /api/v1/workspaces/{workspace}/spaces":                           {tag: "spaces", summary: "List spaces", resp: "SpaceList"},
	"POST /api/v1/workspaces/{workspace}/spaces":                          {tag: "spaces", summary: "Create a space", body: "NameInput", resp: "Space", status: 201},
	"GET /api/v1/workspaces/{workspace}/spaces/{space}":                   {tag: "spaces", summary: "Get a space by id or name", resp: "Space"},
	"DELETE /api/v1/workspaces/{workspace}/spaces/{space}":                {tag: "spaces", summary: "Delete a space"},
	"GET /api/v1/workspaces/{workspace}/spaces/{space}/groups":            {tag: "spaces", summary: "User groups assigned to a space", resp: "GroupList"},
	"PUT /api/v1/workspaces/{workspace}/spaces/{space}/groups/{group}":    {tag: "spaces", summary: "Assign a user group to a space"},
	"DELETE /api/v1/workspaces/{workspace}/spaces/{space}/groups/{group}": {tag: "spaces", summary: "Unassign a user group from a space"},

	"GET /api/v1/workspaces/{workspace}/resources":               {tag: "resources", summary: "Resources the caller can see", resp: "ResourceList", query: append([]string{"type", "environment", "space"}, pageQuery...)},
	"POST /api/v1/workspaces/{workspace}/resources":              {tag: "resources", summary: "Register a resource of the application", body: "ResourceInput", resp: "Resource", status: 201},
	"GET /api/v1/workspaces/{workspace}/resources/{resource}":    {tag: "resources", summary: "Get a resource by id or type:external-id", resp: "Resource"},
	"PATCH /api/v1/workspaces/{workspace}/resources/{resource}":  {tag: "resources", summary: "Rename or move a resource (environment, space)", body: "ResourceInput", resp: "Resource"},
	"DELETE /api/v1/workspaces/{workspace}/resources/{resource}": {tag: "resources", summary: "Delete a resource"},

	"GET /api/v1/workspaces/{workspace}/grants": {tag: "grants", summary: "Grants in a workspace", resp: "GrantList", query: pageQuery},
	"GET /api/v1/grants":                        {tag: "grants", summary: "Grants of the org", resp: "GrantList", query: append([]string{"workspace", "group"}, pageQuery...)},
	"POST /api/v1/grants":                       {tag: "grants", summary: "Grant a role to a user group in a workspace, optionally in some environments", body: "GrantInput", resp: "Grant", status: 201, access: true},
	"GET /api/v1/grants/{grant}":                {tag: "grants", summary: "Get a grant", resp: "Grant"},

	"GET /api/v1/events":                                           {tag: "events", summary: "The org's event stream in commit order, after a cursor (after=<next of the previous answer>, 0 or absent: the start). types= keeps some types (comma-separated; prefix patterns such as user.*). wait=<seconds, at most 30> long-polls: when nothing matches yet, the answer comes as soon as an event does, or empty when the wait ends. Always pass next back as after, even from an empty answer: it is past the events the filter passed over", resp: "EventPage", query: []string{"after", "limit", "types", "wait"}},
	"GET /api/v1/event-types":                                      {tag: "events", summary: "Every event type, with what it means and the audit actions behind it", resp: "EventTypeList"},
	"GET /api/v1/webhooks":                                         {tag: "webhooks", summary: "List webhooks with their delivery state (cursor, failing attempts, next retry)", resp: "WebhookList", query: pageQuery},
	"POST /api/v1/webhooks":                                        {tag: "webhooks", summary: "Create a webhook (secret shown once): https URL (checked against the server's network policy; no private addresses unless the operator allows them), event types (empty: all). It receives every event after its creation, signed as Standard Webhooks describes", body: "WebhookInput", resp: "WebhookCreated", status: 201},
	"GET /api/v1/webhooks/{webhook}":                               {tag: "webhooks", summary: "Get a webhook by id", resp: "Webhook"},
	"PATCH /api/v1/webhooks/{webhook}":                             {tag: "webhooks", summary: "Change a webhook's URL, event types or description, or pause (active: false) and resume it; a paused webhook keeps its cursor and gets what it missed when resumed", body: "WebhookInput", resp: "Webhook"},
	"DELETE /api/v1/webhooks/{webhook}":                            {tag: "webhooks", summary: "Delete a webhook with its delivery log and dead letters"},
	"POST /api/v1/webhooks/{webhook}/rotate":                       {tag: "webhooks", summary: "Rotate the signing secret (the new one shown once); the previous one keeps signing alongside for overlap_seconds (default one day, at most seven)", body: "RotateInput", resp: "WebhookCreated"},
	"GET /api/v1/webhooks/{webhook}/deliveries":                    {tag: "webhooks", summary: "Delivery attempts, newest first; seq= keeps those at one event", resp: "WebhookDeliveryList", query: append([]string{"seq"}, pageQuery...)},
	"GET /api/v1/webhooks/{webhook}/dead-letters":                  {tag: "webhooks", summary: "Events given up on after a day of retries, newest first; pending=true keeps those waiting for a redelivery", resp: "DeadLetterList", query: append([]string{"pending"}, pageQuery...)},
	"POST /api/v1/webhooks/{webhook}/dead-letters/{seq}/redeliver": {tag: "webhooks", summary: "Queue one more attempt at a dead letter (out of stream order); the dead letter shows its outcome", resp: "DeadLetter", status: 202},
	"DELETE /api/v1/grants/{grant}":                                {tag: "grants", summary: "Delete a grant", access: true},

	"PATCH /api/v1/org": {tag: "org", summary: "Rename the org, set require_verified_domains (routing and trust by email domain use only verified domains), or set access_changes_require_approval: every access change (grants, mappings, memberships, custom roles, org admins) is then held as a proposal for a second org admin. Turning it off while it is on is itself such a change", body: "OrgInput", resp: "Org", access: true},
	"PATCH /api/v1/workspaces/{workspace}/environments/{environment}":  {tag: "workspaces", summary: "Change an environment, all in one transaction: rename it (name), move it along the promotion path (position, 0 first; the others shift), set its approval rule: with requires_approval every change there (create, edit, delete) is draft_only for everyone, so it goes through a proposal; approvals_required (1 to 10) is how many approvals a proposal there needs. Org admins and the workspace's Admins", body: "EnvironmentInput", resp: "Environment"},
	"DELETE /api/v1/workspaces/{workspace}/environments/{environment}": {tag: "workspaces", summary: "Remove an environment from the promotion path (the ones after it move up); 422 while resources are registered in it, grants are limited to it or open proposals name it. Org admins and the workspace's Admins"},

	"GET /api/v1/proposals":                      {tag: "proposals", summary: "Proposals, newest first: org admins see all, a person those of the workspaces they see", resp: "ProposalList", query: append([]string{"workspace", "environment", "state", "author", "resource", "kind"}, pageQuery...)},
	"POST /api/v1/proposals":                     {tag: "proposals", summary: "Propose a change (create, edit, delete or run a resource) or a promotion to the next environment of the path. A session proposes as itself; an API token names the author. Accepted when the author's decision for the action is allow or draft_only; 403 with the decision's explanation otherwise", body: "ProposalInput", resp: "Proposal", status: 201},
	"GET /api/v1/proposals/{proposal}":           {tag: "proposals", summary: "A proposal with its reviews, its history and whether it is stale (its resource changed or went since it was opened); an open access change with what it would do if approved now", resp: "Proposal"},
	"POST /api/v1/proposals/{proposal}/approve":  {tag: "proposals", summary: "Approve: the reviewer (the session's person, or the one a token names) must be allowed to publish the resource where the change goes live, and must not be the author; an access change needs a second org admin and is applied by Gatehouse when approved. Racing reviews give one outcome (409 for the others)", body: "ReviewInput", resp: "Proposal"},
	"POST /api/v1/proposals/{proposal}/reject":   {tag: "proposals", summary: "Reject, under the same rules as approve", body: "ReviewInput", resp: "Proposal"},
	"POST /api/v1/proposals/{proposal}/withdraw": {tag: "proposals", summary: "Withdraw an open proposal: its author only", body: "WithdrawInput", resp: "Proposal"},
	"POST /api/v1/proposals/{proposal}/applied":  {tag: "proposals", summary: "The application reports that it applied an approved proposal, with its own reference", body: "ReportInput", resp: "Proposal"},
	"POST /api/v1/proposals/{proposal}/failed":   {tag: "proposals", summary: "The application reports that it could not apply an approved proposal", body: "ReportInput", resp: "Proposal"},
}

// schemas are the component schemas the operations name.
func schemas() map[string]any {
	str := map[string]any{"type": "string"}
	strs := map[string]any{"type": "array", "items": str}
	boolean := map[string]any{"type": "boolean"}
	integer := map[string]any{"type": "integer"}
	when := map[string]any{"type": "string", "format": "date-time"}
	ref := func(n string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + n} }
	obj := func(required []string, props map[string]any) map[string]any {
		o := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			o["required"] = required
		}
		return o
	}
	listOf := func(item string) map[string]any {
		return obj([]string{"items"}, map[string]any{"items": map[string]any{"type": "array", "items": ref(item)},
			"next": map[string]any{"type": "string", "description": "cursor of the next page: pass it as ?after="}})
	}
	enum := func(vals ...string) map[string]any { return map[string]any{"type": "string", "enum": vals} }
	actions := enum("view", "create", "edit", "delete", "run", "publish", "manage_access")
	types := enum("source", "destination", "model", "parent_model", "sync", "audience")
	return map[string]any{
		"Object":  map[string]any{"type": "object"},
		"Problem": obj([]string{"type", "title", "status"}, map[string]any{"type": str, "title": str, "status": integer, "detail": str, "request_id": str}),
		"CheckRequest": obj([]string{"user", "workspace", "action"}, map[string]any{
			"user": refStr("user id, email or user name"), "workspace": refStr("workspace id or slug"),
			"environment": refStr("environment name or id"), "action": actions, "space": refStr("for create: the space the resource would go in"),
			"resource": obj([]string{"type"}, map[string]any{"type": types, "id": refStr("the application's own id; omit to ask about the type")})}),
		"CheckBatchRequest":  obj([]string{"checks"}, map[string]any{"checks": map[string]any{"type": "array", "maxItems": decisions.MaxBatch, "items": ref("CheckRequest")}}),
		"CheckBatchResponse": obj([]string{"results"}, map[string]any{"results": map[string]any{"type": "array", "items": ref("Decision")}}),
		"Decision": obj([]string{"decision", "reason", "explanation"}, map[string]any{"decision": enum("allow", "deny", "draft_only"), "reason": str, "message": str,
			"explanation": map[string]any{"type": "array", "items": ref("Step")}}),
		"Me": obj(nil, map[string]any{"user": ref("User"), "org": ref("Org"),
			"session": obj(nil, map[string]any{"connection_id": str, "created_at": when, "expires_at": when}),
			"groups": map[string]any{"type": "array", "items": obj(nil, map[string]any{"id": str, "name": str, "direct": boolean,
				"via": map[string]any{"type": "array", "items": obj(nil, map[string]any{"idp_group_id": str, "idp_group": str, "directory_id": str, "connection_id": str, "mapping_id": str})}})},
			"workspaces": map[string]any{"type": "array", "items": obj(nil, map[string]any{"id": str, "slug": str, "name": str,
				"role": map[string]any{"type": "string", "description": "the pre-built role held at least in every environment"},
				"environments": map[string]any{"type": "array", "items": obj(nil, map[string]any{"id": str, "name": str, "role": str, "roles": strs,
					"decisions": map[string]any{"type": "object", "additionalProperties": enum("allow", "deny", "draft_only")}})}})}}),
		"Step": obj([]string{"kind"}, map[string]any{"kind": str, "id": str, "name": str, "detail": str}),
		"Org": obj(nil, map[string]any{"id": str, "slug": str, "name": str, "access_changes_require_approval": boolean,
			"require_verified_domains": map[string]any{"type": "boolean", "description": "routing and trust by email domain use only verified domains"},
			"created_at":               when, "version": integer}),
		"Domain": obj(nil, map[string]any{"domain": str,
			"status":   map[string]any{"type": "string", "enum": []string{"verified", "unverified", "unclaimed", "claimed_by_another_org", "verified_by_another_org"}},
			"verified": boolean, "verified_at": when,
			"verified_by":    map[string]any{"type": "string", "enum": []string{"dns", "operator"}},
			"verified_actor": str,
			"used_by":        map[string]any{"type": "array", "items": ref("Owner"), "description": "the org's connections and directories with this domain"},
			"record":         obj(nil, map[string]any{"name": str, "type": str, "value": str}),
		}),
		"DomainList":      listOf("Domain"),
		"User":            obj(nil, map[string]any{"id": str, "user_name": str, "email": str, "display_name": str, "given_name": str, "family_name": str, "active": boolean, "source": enum("scim", "sso", "invited"), "directory_id": str, "connection_id": str, "owner": ref("Owner"), "created_at": when, "updated_at": when, "version": integer}),
		"Owner":           obj([]string{"kind"}, map[string]any{"kind": enum("directory", "connection", "local"), "id": str, "name": str}),
		"OwnerInput":      obj([]string{"kind"}, map[string]any{"kind": enum("directory", "connection", "local"), "id": str}),
		"UserList":        listOf("User"),
		"UserInput":       obj(nil, map[string]any{"email": str, "user_name": str, "display_name": str, "given_name": str, "family_name": str, "active": boolean}),
		"TransferRequest": obj([]string{"to"}, map[string]any{"to": str, "from": str}),
		"Membership":      obj(nil, map[string]any{"group": ref("Group"), "via": map[string]any{"type": "array", "items": ref("Object")}}),
		"MembershipList":  listOf("Membership"),
		"AccessMatrix": obj(nil, map[string]any{"user": ref("User"), "next": str, "workspaces": map[string]any{"type": "array", "items": obj(nil, map[string]any{
			"workspace": ref("Object"), "environments": map[string]any{"type": "array", "items": obj(nil, map[string]any{"environment": str,
				"roles": map[string]any{"type": "array", "items": obj(nil, map[string]any{"role": str, "custom": boolean, "grant_id": str, "group": ref("Object"), "via": map[string]any{"type": "array", "items": ref("Object")}})}})}})}}),
		"Group":            obj(nil, map[string]any{"id": str, "name": str, "description": str, "created_at": when, "version": integer}),
		"GroupList":        listOf("Group"),
		"GroupInput":       obj(nil, map[string]any{"name": str, "description": str}),
		"Member":           obj(nil, map[string]any{"user": ref("User"), "direct": boolean, "via": map[string]any{"type": "array", "items": ref("Object")}}),
		"MemberList":       listOf("Member"),
		"NameInput":        obj(nil, map[string]any{"name": str}),
		"Directory":        obj(nil, map[string]any{"id": str, "name": str, "domains": map[string]any{"type": "array", "items": str, "description": "email domains of the directory's users"}, "created_at": when}),
		"DirectoryInput":   obj([]string{"domains"}, map[string]any{"domains": map[string]any{"type": "array", "items": str, "description": "email domains of the directory's users; replaces the list"}}),
		"DirectoryList":    listOf("Directory"),
		"DirectoryCreated": obj(nil, map[string]any{"directory": ref("Directory"), "token": ref("NewToken")}),
		"Token":            obj(nil, map[string]any{"id": str, "kind": enum("scim", "api"), "name": str, "directory_id": str, "created_at": when, "last_used_at": when, "revoked_at": when}),
		"TokenList":        listOf("Token"),
		"Invitation": obj(nil, map[string]any{"user": ref("User"), "invitation_url": map[string]any{"type": "string", "description": "single-use sign-in link, shown once, never again"},
			"expires_at": when, "emailed": boolean, "email_error": map[string]any{"type": "string", "description": "set when the email could not be sent: pass the link on yourself"}}),
		"NewToken":     obj(nil, map[string]any{"id": str, "kind": str, "name": str, "directory_id": str, "created_at": when, "secret": map[string]any{"type": "string", "description": "shown once, never again"}}),
		"IdPGroup":     obj(nil, map[string]any{"id": str, "directory_id": str, "connection_id": str, "external_id": str, "display_name": str, "created_at": when, "updated_at": when, "version": integer}),
		"IdPGroupList": listOf("IdPGroup"),
		"Mapping":      obj(nil, map[string]any{"id": str, "directory_id": str, "connection_id": str, "idp_group": str, "group_id": str, "created_at": when}),
		"MappingList":  listOf("Mapping"),
		"MappingInput": obj([]string{"idp_group", "group"}, map[string]any{"directory": map[string]any{"type": "string", "description": "SCIM directory id or name (or give connection)"},
			"connection": map[string]any{"type": "string", "description": "SSO connection id"}, "idp_group": map[string]any{"type": "string", "description": "IdP group id or display name"}, "group": map[string]any{"type": "string", "description": "user group id or name"}}),
		"Rule":      obj([]string{"actions", "resource_type"}, map[string]any{"actions": map[string]any{"type": "array", "items": actions}, "resource_type": str, "resource_id": str}),
		"Role":      obj(nil, map[string]any{"id": str, "name": str, "builtin": boolean, "description": str, "rules": map[string]any{"type": "array", "items": ref("Rule")}, "version": integer}),
		"RoleList":  listOf("Role"),
		"RoleInput": obj(nil, map[string]any{"name": str, "description": str, "rules": map[string]any{"type": "array", "items": ref("Rule")}}),
		"AuditEvent": obj(nil, map[string]any{"id": str, "at": when, "actor": obj(nil, map[string]any{"kind": str, "id": str, "name": str}), "action": str,
			"target_kind": str, "target_id": str, "details": ref("Object")}),
		"AuditList": listOf("AuditEvent"),
		"SSOConnection": obj(nil, map[string]any{"id": str, "name": str, "kind": enum("saml", "oidc"),
			"entity_id":    map[string]any{"type": "string", "description": "SAML: Okta Audience URI (SP Entity ID), Entra Identifier (Entity ID)"},
			"acs_url":      map[string]any{"type": "string", "description": "SAML: Okta Single sign-on URL, Entra Reply URL"},
			"metadata_url": map[string]any{"type": "string", "description": "SAML: the SP's metadata"},
			"login_url":    map[string]any{"type": "string", "description": "SAML: Entra Sign on URL; OIDC: initiate login URI"},
			"slo_url":      map[string]any{"type": "string", "description": "SAML: Okta Single Logout URL, Entra Logout URL"},
			"redirect_uri": map[string]any{"type": "string", "description": "OIDC: Okta Sign-in redirect URI, Entra Web redirect URI"},
			"domains":      strs, "jit": boolean, "directory_id": map[string]any{"type": "string", "description": "the SCIM directory linked to the connection: it signs in the users that directory owns"}, "allow_idp_initiated": boolean, "idp_metadata_url": str, "single_logout": boolean,
			"issuer": str, "client_id": str, "extra_scopes": strs, "hosted_domains": strs, "userinfo": boolean,
			"preset": str, "mapping": ref("SSOMapping"), "clock_skew_seconds": integer,
			"settings":     map[string]any{"type": "array", "items": obj(nil, map[string]any{"name": str, "value": str, "default": boolean})},
			"certificates": map[string]any{"type": "array", "items": obj(nil, map[string]any{"fingerprint": str, "kind": enum("saml_signing", "oidc_key"), "key_id": str, "subject": str, "not_before": when, "not_after": when, "first_seen_at": when, "last_seen_at": when, "retired_at": when})},
			"refresh":      obj(nil, map[string]any{"last_attempt_at": when, "last_success_at": when, "last_error": str, "failures": integer, "next_at": when}),
			"created_at":   when, "updated_at": when, "version": integer}),
		"SSOMapping": obj(nil, map[string]any{"preset": str, "email": strs, "user_name": strs, "given_name": strs, "family_name": strs, "display_name": strs, "groups": strs,
			"group_values": map[string]any{"type": "string", "enum": []string{"", "as-sent", "last-segment", "cn"}}}),
		"SSOConnectionInput": obj(nil, map[string]any{
			"kind":                map[string]any{"type": "string", "enum": []string{"saml", "oidc"}, "description": "POST only"},
			"name":                str,
			"domains":             map[string]any{"type": "array", "items": str, "description": "email domains routed here by /sso/login; replaces the list"},
			"jit":                 map[string]any{"type": "boolean", "description": "create people at their first login (default true)"},
			"directory":           map[string]any{"type": "string", "description": "link a SCIM directory of the org (id or name): the connection then signs in the users it owns; \"\" removes the link"},
			"allow_idp_initiated": map[string]any{"type": "boolean", "description": "SAML: accept logins started from the IdP's dashboard"},
			"idp_metadata_url":    map[string]any{"type": "string", "description": "SAML: the IdP's metadata URL (Okta: Sign On tab; Entra: App Federation Metadata Url)"},
			"idp_metadata_xml":    map[string]any{"type": "string", "description": "SAML: the IdP's metadata XML, instead of a URL"},
			"refresh_metadata":    map[string]any{"type": "boolean", "description": "PATCH, SAML: fetch the metadata again from its URL"},
			"issuer":              map[string]any{"type": "string", "description": "OIDC: issuer URL (https)"},
			"client_id":           str,
			"client_secret":       map[string]any{"type": "string", "description": "OIDC: sealed at once; never returned"},
			"preset":              map[string]any{"type": "string", "enum": []string{"", "okta", "entra", "adfs", "google", "onelogin", "jumpcloud", "keycloak", "ping", "auth0"}, "description": "fills the mapping (and OIDC scopes) for that IdP; the mapping given overrides it; \"\" clears it"},
			"mapping":             ref("SSOMapping"),
			"extra_scopes":        map[string]any{"type": "array", "items": str, "description": "OIDC: scopes beyond openid email profile (okta: groups)"},
			"hosted_domains":      map[string]any{"type": "array", "items": str, "description": "OIDC: Google Workspace domains the hd claim must name"},
			"userinfo":            map[string]any{"type": "boolean", "description": "OIDC: read claims the ID token lacks from userinfo"},
			"single_logout":       map[string]any{"type": "boolean", "description": "SAML: single logout when the IdP's metadata offers it"},
			"clock_skew_seconds":  map[string]any{"type": "integer", "minimum": 0, "maximum": 300}}),
		"SSODeletion": obj(nil, map[string]any{"id": str, "name": str, "domains": strs, "sessions": integer, "idp_groups": integer, "idp_group_members": integer, "mappings": integer,
			"users": map[string]any{"type": "integer", "description": "users the connection created just in time, kept as local users"}}),
		"SSOConnectionList": listOf("SSOConnection"),
		"Environment":       obj(nil, map[string]any{"id": str, "workspace_id": str, "name": str, "position": integer}),
		"Workspace":         obj(nil, map[string]any{"id": str, "slug": str, "name": str, "environments": map[string]any{"type": "array", "items": ref("Environment")}, "created_at": when, "version": integer}),
		"WorkspaceList":     listOf("Workspace"),
		"WorkspaceInput":    obj([]string{"slug", "environments"}, map[string]any{"slug": str, "name": str, "environments": strs}),
		"Space":             obj(nil, map[string]any{"id": str, "workspace_id": str, "name": str, "created_at": when}),
		"SpaceList":         listOf("Space"),
		"Resource": obj(nil, map[string]any{"id": str, "workspace_id": str, "type": types, "external_id": str, "name": str, "environment_id": str, "space_id": str,
			"created_at": when, "updated_at": when, "version": integer}),
		"ResourceList":  listOf("Resource"),
		"ResourceInput": obj(nil, map[string]any{"type": types, "id": map[string]any{"type": "string", "description": "the application's own id"}, "name": str, "environment": str, "space": str}),
		"Grant":         obj(nil, map[string]any{"id": str, "group_id": str, "workspace_id": str, "role": str, "custom_role_id": str, "environment_ids": strs, "created_at": when}),
		"GrantList":     listOf("Grant"),
		"GrantInput": obj([]string{"group", "workspace", "role"}, map[string]any{"group": str, "workspace": str,
			"role": map[string]any{"type": "string", "description": "a pre-built role by name (admin, editor, viewer, draft_contributor) or as the docs show it (\"Draft Contributor\"), or a custom role's id or name"}, "environments": strs}),

		"Event": obj([]string{"id", "seq", "type", "at", "org_id", "actor", "source", "target", "data"}, map[string]any{
			"id":   map[string]any{"type": "string", "description": "the same on every delivery of the event (webhook-id): an idempotency key"},
			"seq":  map[string]any{"type": "integer", "description": "the event's place in the org's stream: 1, 2, 3, … in commit order"},
			"type": str, "at": when, "org_id": str,
			"actor":  obj(nil, map[string]any{"kind": enum("admin", "scim", "sso", "api", "system"), "id": str, "name": str}),
			"source": obj(nil, map[string]any{"kind": enum("scim_directory", "sso_connection", "admin", "api_token", "system"), "id": str, "name": str}),
			"target": obj(nil, map[string]any{"kind": str, "id": str}),
			"data":   ref("Object")}),
		"EventPage": obj([]string{"items", "next", "more"}, map[string]any{"items": map[string]any{"type": "array", "items": ref("Event")},
			"next": map[string]any{"type": "string", "description": "pass as ?after= next time; always set"},
			"more": map[string]any{"type": "boolean", "description": "more events are already there: ask again at once"}}),
		"EventType":     obj(nil, map[string]any{"type": str, "doc": str, "actions": strs}),
		"EventTypeList": listOf("EventType"),
		"Webhook": obj(nil, map[string]any{"id": str, "org_id": str, "url": str, "description": str,
			"event_types":   map[string]any{"type": "array", "items": str, "description": "types and prefix patterns (user.*); empty: every type"},
			"active":        boolean,
			"cursor":        map[string]any{"type": "integer", "description": "the last seq delivered or passed over"},
			"attempts":      map[string]any{"type": "integer", "description": "failed attempts at the next event"},
			"failing_since": when, "next_attempt_at": when, "previous_secret_expires_at": when,
			"created_at": when, "updated_at": when, "version": integer}),
		"WebhookList": listOf("Webhook"),
		"WebhookInput": obj(nil, map[string]any{"url": str, "event_types": strs, "description": str,
			"active": map[string]any{"type": "boolean", "description": "PATCH only: false pauses, true resumes"}}),
		"WebhookCreated": map[string]any{"allOf": []any{ref("Webhook"), obj([]string{"secret"}, map[string]any{
			"secret": map[string]any{"type": "string", "description": "whsec_…: the signing secret, shown once, never again"}})}},
		"RotateInput": obj(nil, map[string]any{"overlap_seconds": map[string]any{"type": "integer", "minimum": 0, "maximum": 604800,
			"description": "how long the previous secret keeps signing too (default 86400)"}}),
		"WebhookDelivery": obj(nil, map[string]any{"id": str, "webhook_id": str, "seq": integer, "event_id": str, "event_type": str,
			"attempt": integer, "redelivery": boolean, "outcome": enum("delivered", "failed", "dead_lettered"),
			"started_at": when, "finished_at": when, "duration_ms": integer,
			"status": map[string]any{"type": "integer", "description": "the receiver's HTTP status; absent when there was no answer"}, "error": str}),
		"WebhookDeliveryList": listOf("WebhookDelivery"),
		"DeadLetter": obj(nil, map[string]any{"webhook_id": str, "seq": integer, "event_id": str, "event_type": str, "attempts": integer,
			"last_status": integer, "last_error": str, "dead_lettered_at": when, "redeliver_requested_at": when, "redelivered_at": when}),
		"DeadLetterList": listOf("DeadLetter"),
		"OrgInput":       obj(nil, map[string]any{"name": str, "access_changes_require_approval": boolean, "require_verified_domains": boolean}),
		"EnvironmentInput": obj(nil, map[string]any{"name": str, "position": map[string]any{"type": "integer", "minimum": 0},
			"requires_approval": boolean, "approvals_required": map[string]any{"type": "integer", "minimum": 1, "maximum": 10}}),
		"ProposalInput": obj([]string{"workspace", "resource", "title"}, map[string]any{
			"kind": enum("change", "promote"), "workspace": str,
			"environment": map[string]any{"type": "string", "description": "a change's environment (the resource's own when omitted)"},
			"from":        map[string]any{"type": "string", "description": "promotion: the environment it starts from"},
			"to":          map[string]any{"type": "string", "description": "promotion: the next environment on the path"},
			"action":      map[string]any{"type": "string", "enum": []string{"create", "edit", "delete", "run"}, "description": "a promotion edits (default) or creates"},
			"resource":    obj([]string{"type"}, map[string]any{"type": types, "id": map[string]any{"type": "string", "description": "the application's own id; omit for a create"}}),
			"space":       map[string]any{"type": "string", "description": "create: the space the resource would go in"},
			"title":       str, "description": str,
			"payload": map[string]any{"description": "the application's own JSON describing the change (at most 256 KiB), opaque to Gatehouse; {\"before\", \"after\"} shows as a diff in the pages"},
			"author":  map[string]any{"type": "string", "description": "API tokens: the person proposing (user id, userName or email)"}}),
		"Proposal": obj(nil, map[string]any{"id": str, "kind": enum("change", "promote", "access"), "workspace_id": str, "workspace": ref("Object"),
			"environment_id": str, "environment": str, "target_environment_id": str, "from": str, "to": str, "action": str,
			"resource": obj(nil, map[string]any{"type": types, "id": str, "gatehouse_id": str, "version": integer}), "space_id": str,
			"title": str, "description": str, "payload": ref("Object"), "change": ref("Object"), "diff": ref("AccessDiff"),
			"author": obj(nil, map[string]any{"kind": str, "id": str, "name": str}),
			"state":  enum("open", "approved", "rejected", "withdrawn", "applied", "failed"), "approvals": integer, "approvals_required": integer,
			"reference": str, "message": str, "stale": boolean, "stale_reason": str, "created_at": when, "updated_at": when, "version": integer,
			"decision": ref("Decision"), "reviews": map[string]any{"type": "array", "items": ref("Review")},
			"history": map[string]any{"type": "array", "items": ref("AuditEvent")}, "preview": ref("AccessDiff")}),
		"ProposalList":  listOf("Proposal"),
		"Review":        obj(nil, map[string]any{"proposal_id": str, "reviewer": obj(nil, map[string]any{"kind": str, "id": str, "name": str}), "verdict": enum("approve", "reject"), "comment": str, "at": when}),
		"ReviewInput":   obj(nil, map[string]any{"comment": str, "reviewer": map[string]any{"type": "string", "description": "API tokens: the person reviewing (user id, userName or email)"}}),
		"WithdrawInput": obj(nil, map[string]any{"author": map[string]any{"type": "string", "description": "API tokens: the author (user id, userName or email)"}}),
		"ReportInput":   obj(nil, map[string]any{"reference": map[string]any{"type": "string", "description": "the application's own reference (a deploy, a commit)"}, "message": str}),
		"AccessDiff": obj(nil, map[string]any{
			"users": ref("Examined"), "workspaces": ref("Examined"), "resources": ref("Examined"),
			"roles": obj(nil, map[string]any{"count": integer, "truncated": boolean, "changes": map[string]any{"type": "array", "items": obj(nil, map[string]any{
				"user": ref("Object"), "workspace": ref("Object"), "environment": str, "role": str, "change": enum("gained", "lost")})}}),
			"decisions": obj(nil, map[string]any{"count": integer, "compared": integer, "sample": map[string]any{"type": "array", "items": obj(nil, map[string]any{
				"user": ref("Object"), "workspace": str, "environment": str, "resource": ref("Object"), "action": actions,
				"before": enum("allow", "deny", "draft_only"), "after": enum("allow", "deny", "draft_only"), "reason": str})}}),
			"estimated": boolean, "note": str}),
		"Examined":      obj(nil, map[string]any{"affected": integer, "examined": integer}),
		"AccessPreview": obj([]string{"dry_run", "change", "diff"}, map[string]any{"dry_run": boolean, "change": ref("Object"), "diff": ref("AccessDiff")}),
		"AccessHeld":    obj([]string{"proposal", "message"}, map[string]any{"proposal": ref("Proposal"), "preview": ref("AccessDiff"), "message": str}),
	}
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// idOnlyParams are the path parameters that are not looked up by name.
var idOnlyParams = map[string]string{"webhook": "the webhook's id", "seq": "the event's seq"}

// openAPIDoc builds the document from the operations table.
func openAPIDoc() map[string]any {
	paths := map[string]any{}
	problem := map[string]any{"description": "an error (RFC 9457)", "content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
	for key, o := range operations {
		method, path, _ := strings.Cut(key, " ")
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			desc, ok := idOnlyParams[m[1]]
			if !ok {
				desc = "id, or the object's slug or name"
			}
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"},
				"description": desc})
		}
		for _, q := range o.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		status := o.status
		if status == 0 {
			status = http.StatusOK
		}
		responses := map[string]any{"default": problem}
		schema := func(names ...string) map[string]any {
			if len(names) == 1 {
				return map[string]any{"$ref": "#/components/schemas/" + names[0]}
			}
			var one []any
			for _, n := range names {
				one = append(one, map[string]any{"$ref": "#/components/schemas/" + n})
			}
			return map[string]any{"oneOf": one}
		}
		content := func(s map[string]any) map[string]any {
			return map[string]any{"application/json": map[string]any{"schema": s}}
		}
		if o.resp == "" {
			responses["204"] = map[string]any{"description": "done"}
		} else {
			responses[strconv.Itoa(status)] = map[string]any{"description": http.StatusText(status), "content": content(schema(o.resp))}
		}
		if o.access {
			params = append(params, map[string]any{"name": "dry_run", "in": "query", "schema": map[string]any{"type": "boolean"},
				"description": "true: change nothing and answer what the change would do (which users gain or lose which roles where, which decisions flip)"})
			responses["202"] = map[string]any{"description": "held for a second org admin's approval (the org requires approval of access changes)", "content": content(schema("AccessHeld"))}
			if status == http.StatusOK && o.resp != "" {
				responses["200"] = map[string]any{"description": "done, or with dry_run the preview", "content": content(schema(o.resp, "AccessPreview"))}
			} else {
				responses["200"] = map[string]any{"description": "dry_run: the preview", "content": content(schema("AccessPreview"))}
			}
		}
		operation := map[string]any{"tags": []string{o.tag}, "summary": o.summary, "operationId": operationID(method, path), "responses": responses}
		if params != nil {
			operation["parameters"] = params
		}
		if o.body != "" {
			operation["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + o.body}}}}
		}
		if path == "/api/v1/openapi.json" {
			operation["security"] = []any{}
		}
		item[strings.ToLower(method)] = operation
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "Gatehouse API", "version": "1",
			"description": "Admin and application API of Gatehouse. Authenticate with an API token (`Authorization: Bearer …`, created with `gatehouse token create --kind api` or POST /api/v1/tokens): a token belongs to one organization and acts as an org admin of it. A browser session from SSO login works too; then the person's own rights apply: org admins manage the org, a workspace Admin manages that workspace's grants, spaces and resources, and everyone else reads what they can see. With a session, a request that changes anything (POST, PUT, PATCH, DELETE) is refused (403) when the browser says it comes from another origin (Sec-Fetch-Site, or an Origin that is not this server's), a sibling subdomain included; token callers are unaffected. Each token may send 5,000 requests a second to an instance by default (the operator's --rate-limit-api); past it the answer is 429 with Retry-After. Every list takes ?after=<cursor>&limit=<1..1000> and answers {items, next}. Errors are application/problem+json."},
		"paths":      paths,
		"security":   []any{map[string]any{"bearer": []any{}}},
		"components": map[string]any{"schemas": schemas(), "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}},
	}
}

func operationID(method, path string) string {
	parts := []string{strings.ToLower(method)}
	for _, seg := range strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/") {
		seg = strings.NewReplacer("{", "", "}", "", ".", "_", "-", "_").Replace(seg)
		parts = append(parts, seg)
	}
	return strings.Join(parts, "_")
}

func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	return writeJSON(w, http.StatusOK, openAPIDoc())
}

// refStr is a string property naming an object: at most core.MaxRef bytes (the
// schema counts characters, so it states the bound for ASCII; longer is 400).
func refStr(desc string) map[string]any {
	return map[string]any{"type": "string", "maxLength": core.MaxRef, "description": desc + " (at most 512 bytes)"}
}
