package store

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// Store is the whole storage contract. It is split into one interface per aggregate;
// every method is one transaction, and every change writes its audit event in that
// same transaction. Errors wrap the core sentinels (core.ErrNotFound, core.ErrConflict,
// core.ErrVersion, core.ErrInvalid, core.ErrLastAdmin), never a raw driver error.
//
// Every method that reads or writes org data takes the org id and never returns
// another org's rows: an id of another org is core.ErrNotFound.
//
// The Update methods take a closure that changes the object read inside the
// transaction. It may run on another goroutine (SQLite commits concurrent changes
// together) and again if the transaction is retried, so it must only change the
// object it is given and must not call the Store. It may return an error, such as
// core.ErrVersion after comparing Version with a client's If-Match, to change nothing.
type Store interface {
	Orgs
	Users
	Workspaces
	Resources
	UserGroups
	Directories
	Domains
	IdPGroups
	Mappings
	Roles
	Grants
	Tokens
	Audit
	Access
	Webhooks
	Proposals
	Previews
	SignIns

	// WithTx runs fn in one transaction with a Store bound to it (see SQL.WithTx):
	// the way an operation of several steps commits all or nothing.
	WithTx(ctx context.Context, fn func(Store) error) error

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// Page asks for one page of a list. Lists are ordered by id (UUIDv7: creation order);
// After is the last id of the previous page (a cursor), Limit at most MaxLimit.
type Page struct {
	After string
	Limit int
}

// MaxLimit caps every page.
const MaxLimit = 1000

// NewOrg is an organization to create with its first org admin.
type NewOrg struct {
	Slug, Name string
	AdminEmail string
	AdminName  string // the admin's display name; optional
}

// Orgs manages organizations and their admins.
type Orgs interface {
	// CreateOrg creates an org and its first org admin, an invited user with that email.
	CreateOrg(ctx context.Context, actor core.Actor, slug, name, adminEmail string) (core.Org, core.User, error)
	// CreateOrgWithAdmin is CreateOrg with the first admin's display name.
	CreateOrgWithAdmin(ctx context.Context, actor core.Actor, n NewOrg) (core.Org, core.User, error)
	// GetOrg finds an org by id or slug.
	GetOrg(ctx context.Context, idOrSlug string) (core.Org, error)
	ListOrgs(ctx context.Context) ([]core.Org, error)
	// UpdateOrg changes an org's name and settings through fn, bumping its version.
	UpdateOrg(ctx context.Context, actor core.Actor, id string, fn func(*core.Org) error) (core.Org, error)

	// AddOrgAdmin makes an active user of the org an org admin (idempotent); a
	// deactivated user is core.ErrInvalid.
	AddOrgAdmin(ctx context.Context, actor core.Actor, orgID, userID string) error
	// RemoveOrgAdmin refuses with core.ErrLastAdmin to remove the last active admin.
	RemoveOrgAdmin(ctx context.Context, actor core.Actor, orgID, userID string) error
	ListOrgAdmins(ctx context.Context, orgID string) ([]core.User, error)
	IsOrgAdmin(ctx context.Context, orgID, userID string) (bool, error)
}

// UserQuery filters a user list. Empty fields do not filter.
type UserQuery struct {
	Page
	Search string // case-insensitive substring of userName, email or display name
	Active *bool
}

// Users manages the people of an org.
type Users interface {
	CreateUser(ctx context.Context, actor core.Actor, u core.User) (core.User, error)
	GetUser(ctx context.Context, orgID, id string) (core.User, error)
	// GetUserByUserName matches case-insensitively.
	GetUserByUserName(ctx context.Context, orgID, userName string) (core.User, error)
	// GetUserByEmail matches case-insensitively; with several, the oldest wins.
	GetUserByEmail(ctx context.Context, orgID, email string) (core.User, error)
	// UpdateUser reads the user, lets fn change it and writes it back, in one
	// transaction, bumping its version. Deactivating the last active org admin is
	// core.ErrLastAdmin.
	UpdateUser(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.User) error) (core.User, error)
	// DeleteUser removes the user and all their memberships. Deleting the last active
	// org admin is core.ErrLastAdmin.
	DeleteUser(ctx context.Context, actor core.Actor, orgID, id string) error
	ListUsers(ctx context.Context, orgID string, q UserQuery) ([]core.User, error)
	CountUsers(ctx context.Context, orgID string) (int, error)
	// TransferUser gives the user another owner (a directory or connection of the
	// org, or local): an org admin's explicit, audited change.
	TransferUser(ctx context.Context, actor core.Actor, orgID, id string, to core.Owner) (core.User, error)
	// AdoptUser lets a directory or connection take over a user it may adopt
	// (core.MayAdopt, and address, the user's userName or email, in one of its
	// domains: a verified one when the org requires verified domains); any other is
	// core.ErrConflict. Audited as user.adopted.
	AdoptUser(ctx context.Context, actor core.Actor, orgID, id string, to core.Owner, address string) (core.User, error)
}

// Workspaces manages workspaces, their environments and their spaces.
type Workspaces interface {
	// CreateWorkspace creates a workspace with its environments in promotion order.
	CreateWorkspace(ctx context.Context, actor core.Actor, orgID, slug, name string, environments []string) (core.Workspace, error)
	// GetWorkspace finds a workspace of the org by id or slug, with its environments.
	GetWorkspace(ctx context.Context, orgID, idOrSlug string) (core.Workspace, error)
	ListWorkspaces(ctx context.Context, orgID string, p Page) ([]core.Workspace, error)
	RenameWorkspace(ctx context.Context, actor core.Actor, orgID, id, name string) (core.Workspace, error)
	DeleteWorkspace(ctx context.Context, actor core.Actor, orgID, id string) error
	// AddEnvironment appends an environment at the end of the promotion path.
	AddEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, name string) (core.Environment, error)
	// UpdateEnvironment changes an environment's approval rule through fn.
	UpdateEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, id string, fn func(*core.Environment) error) (core.Environment, error)
	// RenameEnvironment renames an environment (unique in its workspace).
	RenameEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, id, name string) (core.Environment, error)
	// MoveEnvironment puts an environment at position on the promotion path and
	// returns the environments in their new order.
	MoveEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, id string, position int) ([]core.Environment, error)
	// DeleteEnvironment removes an environment; it refuses while resources, grants
	// or open proposals name it.
	DeleteEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, id string) error

	CreateSpace(ctx context.Context, actor core.Actor, orgID, workspaceID, name string) (core.Space, error)
	// GetSpace finds a space of the workspace by id or name.
	GetSpace(ctx context.Context, orgID, workspaceID, idOrName string) (core.Space, error)
	ListSpaces(ctx context.Context, orgID, workspaceID string) ([]core.Space, error)
	DeleteSpace(ctx context.Context, actor core.Actor, orgID, workspaceID, spaceID string) error
	// AssignSpace makes the space visible to a user group (idempotent).
	AssignSpace(ctx context.Context, actor core.Actor, orgID, workspaceID, spaceID, groupID string) error
	UnassignSpace(ctx context.Context, actor core.Actor, orgID, workspaceID, spaceID, groupID string) error
	// SpaceGroups lists the user groups assigned to a space.
	SpaceGroups(ctx context.Context, orgID, workspaceID, spaceID string) ([]core.UserGroup, error)
}

// ResourceQuery filters a resource list.
type ResourceQuery struct {
	Page
	Type          core.ResourceType
	EnvironmentID string
	SpaceID       string
}

// Resources manages the host application's registered resources.
type Resources interface {
	CreateResource(ctx context.Context, actor core.Actor, orgID string, r core.Resource) (core.Resource, error)
	GetResource(ctx context.Context, orgID, id string) (core.Resource, error)
	// GetResourceByExternalID finds a resource by the application's own id.
	GetResourceByExternalID(ctx context.Context, orgID, workspaceID string, t core.ResourceType, externalID string) (core.Resource, error)
	// UpdateResource renames or moves a resource (name, environment, space) through fn.
	UpdateResource(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.Resource) error) (core.Resource, error)
	DeleteResource(ctx context.Context, actor core.Actor, orgID, id string) error
	ListResources(ctx context.Context, orgID, workspaceID string, q ResourceQuery) ([]core.Resource, error)
}

// Member is one member of a user group, with where the membership comes from.
type Member struct {
	User core.User `json:"user"`
	// Direct is true for a manual membership.
	Direct bool `json:"direct"`
	// Via lists the mapped IdP groups that make the user a member.
	Via []core.Via `json:"via,omitempty"`
}

// UserGroups manages user groups and their direct members.
type UserGroups interface {
	CreateGroup(ctx context.Context, actor core.Actor, g core.UserGroup) (core.UserGroup, error)
	// GetGroup finds a group by id or name (case-insensitive).
	GetGroup(ctx context.Context, orgID, idOrName string) (core.UserGroup, error)
	ListGroups(ctx context.Context, orgID string, p Page) ([]core.UserGroup, error)
	CountGroups(ctx context.Context, orgID string) (int, error)
	UpdateGroup(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.UserGroup) error) (core.UserGroup, error)
	DeleteGroup(ctx context.Context, actor core.Actor, orgID, id string) error
	// AddGroupMember adds a direct member (idempotent).
	AddGroupMember(ctx context.Context, actor core.Actor, orgID, groupID, userID string) error
	RemoveGroupMember(ctx context.Context, actor core.Actor, orgID, groupID, userID string) error
	// GroupMembers lists direct members and members through mapped IdP groups.
	GroupMembers(ctx context.Context, orgID, groupID string, p Page) ([]Member, error)
	// UserMemberships lists a user's user groups with every path to each.
	UserMemberships(ctx context.Context, orgID, userID string) ([]core.Membership, error)
}

// Directories manages SCIM directories.
type Directories interface {
	// EnsureDirectory returns the org's directory of that name, creating it if needed.
	EnsureDirectory(ctx context.Context, actor core.Actor, orgID, name string) (core.Directory, error)
	// CreateDirectory creates a directory; a name the org already uses is core.ErrConflict.
	CreateDirectory(ctx context.Context, actor core.Actor, orgID, name string) (core.Directory, error)
	GetDirectory(ctx context.Context, orgID, idOrName string) (core.Directory, error)
	ListDirectories(ctx context.Context, orgID string) ([]core.Directory, error)
	// SetDirectoryDomains replaces a directory's email domains (audited as
	// directory.update): a bad one is core.ErrInvalid, one another org or another
	// directory uses is core.ErrConflict, and then nothing changes.
	SetDirectoryDomains(ctx context.Context, actor core.Actor, orgID, idOrName string, domains []string) (core.Directory, error)
}

// Domains manages the verification of email domains. A domain belongs to one
// org (the one whose connection or directory uses it, or which proved it).
type Domains interface {
	// ListOrgDomains lists the org's domains with their state, who uses them and
	// the token that proves them.
	ListOrgDomains(ctx context.Context, orgID string) ([]core.OrgDomain, error)
	// GetOrgDomain is any domain as the org sees it (its own, another org's, or
	// nobody's) with the token the org would publish to prove it.
	GetOrgDomain(ctx context.Context, orgID, domain string) (core.OrgDomain, error)
	// VerifyOrgDomain records that the org proved the domain (by is
	// core.VerifiedByDNS or core.VerifiedByOperator), audited as domain.verified.
	// It takes the domain over from another org that holds it unverified; one
	// another org verified is core.ErrConflict.
	VerifyOrgDomain(ctx context.Context, actor core.Actor, orgID, domain, by string) (core.OrgDomain, error)
	// TrustedDomains returns, of these domains, the ones the org trusts for
	// routing and sign-in: its own, only its verified ones when it requires that.
	TrustedDomains(ctx context.Context, orgID string, domains []string) ([]string, error)
}

// IdPGroups manages groups as identity providers know them.
type IdPGroups interface {
	CreateIdPGroup(ctx context.Context, actor core.Actor, g core.IdPGroup) (core.IdPGroup, error)
	GetIdPGroup(ctx context.Context, orgID, id string) (core.IdPGroup, error)
	// ListIdPGroups lists the IdP groups of one directory or connection (sourceID), or
	// of the whole org when sourceID is empty.
	ListIdPGroups(ctx context.Context, orgID, sourceID string, p Page) ([]core.IdPGroup, error)
	UpdateIdPGroup(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.IdPGroup) error) (core.IdPGroup, error)
	DeleteIdPGroup(ctx context.Context, actor core.Actor, orgID, id string) error
	// ChangeIdPGroupMembers adds and removes members in one transaction; its cost is
	// proportional to the members named, not to the group's size. Adding a present
	// member or removing an absent one is not an error.
	ChangeIdPGroupMembers(ctx context.Context, actor core.Actor, orgID, id string, add, remove []string) error
	// ReplaceIdPGroupMembers sets the members to exactly userIDs.
	ReplaceIdPGroupMembers(ctx context.Context, actor core.Actor, orgID, id string, userIDs []string) error
	IdPGroupMembers(ctx context.Context, orgID, id string, p Page) ([]core.User, error)
	// SetConnectionGroups reconciles a user's IdP groups of one SSO connection to
	// exactly the claim values given, creating IdP groups as needed, and leaves
	// memberships of every other source alone.
	SetConnectionGroups(ctx context.Context, actor core.Actor, orgID, connectionID, userID string, claimValues []string) error
	// SetConnectionGroupsFromDirectory reconciles them, for a login whose IdP sent
	// no groups (Entra's groups overage), to the user's IdP groups in the directory
	// the connection is linked to, in one transaction. Not linked, or a user that
	// directory does not own: core.ErrConflict, nothing changes.
	SetConnectionGroupsFromDirectory(ctx context.Context, actor core.Actor, orgID, connectionID, userID string) (DirectoryGroups, error)
}

// Mappings manages IdP group → user group rules.
type Mappings interface {
	CreateMapping(ctx context.Context, actor core.Actor, m core.Mapping) (core.Mapping, error)
	GetMapping(ctx context.Context, orgID, id string) (core.Mapping, error)
	ListMappings(ctx context.Context, orgID string, p Page) ([]core.Mapping, error)
	CountMappings(ctx context.Context, orgID string) (int, error)
	DeleteMapping(ctx context.Context, actor core.Actor, orgID, id string) error
}

// Roles manages custom roles.
type Roles interface {
	CreateCustomRole(ctx context.Context, actor core.Actor, r core.CustomRole) (core.CustomRole, error)
	// GetCustomRole finds a custom role by id or name (case-insensitive).
	GetCustomRole(ctx context.Context, orgID, idOrName string) (core.CustomRole, error)
	ListCustomRoles(ctx context.Context, orgID string) ([]core.CustomRole, error)
	UpdateCustomRole(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.CustomRole) error) (core.CustomRole, error)
	DeleteCustomRole(ctx context.Context, actor core.Actor, orgID, id string) error
}

// GrantQuery filters a grant list.
type GrantQuery struct {
	WorkspaceID string
	GroupID     string
}

// Grants manages grants.
type Grants interface {
	CreateGrant(ctx context.Context, actor core.Actor, g core.Grant) (core.Grant, error)
	GetGrant(ctx context.Context, orgID, id string) (core.Grant, error)
	ListGrants(ctx context.Context, orgID string, q GrantQuery) ([]core.Grant, error)
	DeleteGrant(ctx context.Context, actor core.Actor, orgID, id string) error
}

// TokenKind is what a bearer token opens.
type TokenKind string

// Token kinds.
const (
	TokenSCIM TokenKind = "scim"
	TokenAPI  TokenKind = "api"
)

// Token is a bearer token's record; the secret itself is never stored.
type Token struct {
	ID          string     `json:"id"`
	OrgID       string     `json:"org_id"`
	Kind        TokenKind  `json:"kind"`
	Name        string     `json:"name"`
	DirectoryID string     `json:"directory_id,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// Tokens manages bearer tokens. Only a hash of each secret is stored.
type Tokens interface {
	// CreateToken stores a new token and returns its record and its secret, which is
	// never shown again. A SCIM token needs a directory.
	CreateToken(ctx context.Context, actor core.Actor, orgID string, kind TokenKind, name, directoryID string) (Token, string, error)
	// Authenticate finds the live token of a secret (revoked: core.ErrNotFound),
	// comparing hashes in constant time, and records its use.
	Authenticate(ctx context.Context, secret string) (Token, error)
	ListTokens(ctx context.Context, orgID string) ([]Token, error)
	RevokeToken(ctx context.Context, actor core.Actor, orgID, id string) error
}

// AuditQuery filters the audit log. Lists run newest first; Page.After is the id of
// the last event of the previous page.
type AuditQuery struct {
	Page
	ActorID string
	Action  string // exact, or a prefix ending in "." ("user.")
	Since   time.Time
	Until   time.Time
}

// Audit reads the append-only audit log. Writing happens inside every change.
type Audit interface {
	ListAudit(ctx context.Context, orgID string, q AuditQuery) ([]core.AuditEvent, error)
	// Changes reads the org's change log: its audit events with Seq > after, in
	// commit (Seq) order, at most limit of them (MaxLimit when limit is 0). Seqs
	// grow by one per change of the org and are never reused, so a reader that
	// keeps the last Seq it saw as its cursor misses nothing and sees nothing twice.
	Changes(ctx context.Context, orgID string, after int64, limit int) ([]core.AuditEvent, error)
}

// Access gathers what decisions need.
type Access interface {
	// Facts gathers everything Decide needs for a user in a workspace.
	Facts(ctx context.Context, orgID, userID, workspaceID string) (*core.Facts, error)
}

// DirectoryGroups are the groups a login took from the directory its connection
// is linked to (SetConnectionGroupsFromDirectory).
type DirectoryGroups struct {
	DirectoryID string
	// Groups are the directory's IdP groups the user is a member of.
	Groups []core.IdPGroup
	// Values are the connection's group values made of them (each external id,
	// else display name), deduplicated.
	Values []string
}
