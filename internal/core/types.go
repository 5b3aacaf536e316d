package core

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Action is one verb of the fixed action vocabulary.
type Action string

// The action vocabulary of DESIGN.md. It is fixed: custom roles choose among these.
const (
	ActionView         Action = "view"
	ActionCreate       Action = "create"
	ActionEdit         Action = "edit"
	ActionDelete       Action = "delete"
	ActionRun          Action = "run"
	ActionPublish      Action = "publish"
	ActionManageAccess Action = "manage_access"
)

// Actions lists every action in a stable order.
var Actions = []Action{ActionView, ActionCreate, ActionEdit, ActionDelete, ActionRun, ActionPublish, ActionManageAccess}

// Valid reports whether a is part of the vocabulary.
func (a Action) Valid() bool { return slices.Contains(Actions, a) }

// Changes reports whether a changes what the host application runs: create, edit
// and delete. An environment that requires approval puts these under review
// (Decide). run executes a configuration that was already reviewed, and publish is
// the review itself, so neither is a change; nor are view and manage_access.
func (a Action) Changes() bool {
	return a == ActionCreate || a == ActionEdit || a == ActionDelete
}

// ResourceType is the kind of object the host application governs.
type ResourceType string

// The resource types of DESIGN.md.
const (
	TypeSource      ResourceType = "source"
	TypeDestination ResourceType = "destination"
	TypeModel       ResourceType = "model"
	TypeParentModel ResourceType = "parent_model"
	TypeSync        ResourceType = "sync"
	TypeAudience    ResourceType = "audience"
)

// ResourceTypes lists every resource type in a stable order.
var ResourceTypes = []ResourceType{TypeSource, TypeDestination, TypeModel, TypeParentModel, TypeSync, TypeAudience}

// Valid reports whether t is a known resource type.
func (t ResourceType) Valid() bool { return slices.Contains(ResourceTypes, t) }

// AnyType in a custom-role rule matches every resource type.
const AnyType ResourceType = "*"

// UserSource says how a user came to exist.
type UserSource string

// User sources. The source is also the kind of the user's owner: a SCIM
// directory (SourceSCIM, DirectoryID), an SSO connection that created them just in
// time (SourceSSO, ConnectionID), or local (SourceInvited: the CLI, the API, an
// invitation).
const (
	SourceSCIM    UserSource = "scim"
	SourceSSO     UserSource = "sso"
	SourceInvited UserSource = "invited"
)

// OwnerKind is the kind of identity source that owns a user.
type OwnerKind string

// Owner kinds.
const (
	OwnerDirectory  OwnerKind = "directory"
	OwnerConnection OwnerKind = "connection"
	OwnerLocal      OwnerKind = "local"
)

// Owner is the one identity source a user belongs to: only it may change or remove
// them (a directory), or sign them in without further rules (a connection). Local
// users have no id or name.
type Owner struct {
	Kind OwnerKind `json:"kind"`
	ID   string    `json:"id,omitempty"`
	Name string    `json:"name,omitempty"`
}

// OwnerOf is the owner a user's source and ids say, without its name.
func OwnerOf(u User) Owner {
	switch u.Source {
	case SourceSCIM:
		return Owner{Kind: OwnerDirectory, ID: u.DirectoryID}
	case SourceSSO:
		return Owner{Kind: OwnerConnection, ID: u.ConnectionID}
	}
	return Owner{Kind: OwnerLocal}
}

// WithOwner is u with Owner filled from its source and ids and the owner's name.
func (u User) WithOwner(name string) User {
	u.Owner = OwnerOf(u)
	if u.Owner.Kind != OwnerLocal {
		u.Owner.Name = name
	}
	return u
}

// SetOwner makes o the user's owner: the source and ids that store it.
func (u *User) SetOwner(o Owner) {
	u.DirectoryID, u.ConnectionID = "", ""
	switch o.Kind {
	case OwnerDirectory:
		u.Source, u.DirectoryID = SourceSCIM, o.ID
	case OwnerConnection:
		u.Source, u.ConnectionID = SourceSSO, o.ID
	default:
		u.Source = SourceInvited
	}
	u.Owner = Owner{Kind: o.Kind, ID: o.ID, Name: o.Name}
	if u.Owner.Kind != OwnerDirectory && u.Owner.Kind != OwnerConnection {
		u.Owner = Owner{Kind: OwnerLocal}
	}
}

// Org is a tenant: the company.
type Org struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
	// AccessChangesRequireApproval puts the org's own access changes (grants,
	// mappings, memberships, custom roles, org admins) under four eyes: each
	// becomes a proposal that a second org admin approves.
	AccessChangesRequireApproval bool `json:"access_changes_require_approval"`
	// RequireVerifiedDomains makes routing and trust by email domain use only
	// the org's verified domains: the sign-in form's email → connection, a
	// connection signing in or adopting a local user, a directory adopting one.
	RequireVerifiedDomains bool      `json:"require_verified_domains"`
	CreatedAt              time.Time `json:"created_at"`
	Version                int64     `json:"version"`
}

// How a domain was verified (OrgDomain.VerifiedBy).
const (
	VerifiedByDNS      = "dns"      // its DNS TXT record was found
	VerifiedByOperator = "operator" // whoever runs the server said so (gatehouse domain verify --operator)
)

// States of an email domain as one org sees it (OrgDomain.Status).
const (
	DomainVerified         = "verified"                // the org's, proved
	DomainUnverified       = "unverified"              // the org's (a connection or directory uses it), not proved
	DomainUnclaimed        = "unclaimed"               // no org's
	DomainOtherOrg         = "claimed_by_another_org"  // another org uses it without proof: proving it by DNS takes it over
	DomainOtherOrgVerified = "verified_by_another_org" // another org proved it: it can never be this org's
)

// OrgDomain is an email domain as one org sees it: its state, and for the org's
// own, who verified it and which connections and directories use it.
type OrgDomain struct {
	Domain        string     `json:"domain"`
	Status        string     `json:"status"`
	Verified      bool       `json:"verified"`
	VerifiedAt    *time.Time `json:"verified_at,omitempty"`
	VerifiedBy    string     `json:"verified_by,omitempty"`    // VerifiedByDNS or VerifiedByOperator
	VerifiedActor string     `json:"verified_actor,omitempty"` // who asked
	// UsedBy lists the org's connections and directories with this domain.
	UsedBy []Owner `json:"used_by"`
	// Token is what the org publishes in DNS to prove the domain (internal/domains
	// says where); derived, the same at every read.
	Token string `json:"-"`
}

// Workspace is a fully isolated partition of an org.
type Workspace struct {
	ID           string        `json:"id"`
	OrgID        string        `json:"org_id"`
	Slug         string        `json:"slug"`
	Name         string        `json:"name"`
	Environments []Environment `json:"environments"` // in promotion order
	CreatedAt    time.Time     `json:"created_at"`
	Version      int64         `json:"version"`
}

// Environment is a linked copy of a workspace. Position orders the promotion path:
// changes are promoted from lower to higher positions (development → production).
type Environment struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	Name        string `json:"name"`
	Position    int    `json:"position"`
	// RequiresApproval puts every change in the environment under review: an allow
	// for a change action (Action.Changes) becomes draft_only, whoever asks.
	RequiresApproval bool `json:"requires_approval"`
	// ApprovalsRequired is how many approvals a proposal in the environment needs;
	// zero means one (Approvals).
	ApprovalsRequired int `json:"approvals_required"`
}

// MaxRef is the longest reference a request may carry to name an object (an id, a
// slug, a name, an email, an application's resource id), in bytes: no object's
// name is longer, so a longer one names nothing, and refusing it (400) keeps
// what a request can make the server hold or look up small.
const MaxRef = 512

// MaxApprovals bounds Environment.ApprovalsRequired.
const MaxApprovals = 10

// Approvals is how many approvals a proposal in e needs: at least one.
func (e Environment) Approvals() int { return max(1, e.ApprovalsRequired) }

// NextEnvironment is the environment after from on ws's promotion path, or nil
// when from is the last (or not in ws).
func NextEnvironment(ws Workspace, fromID string) *Environment {
	for i := range ws.Environments {
		if ws.Environments[i].ID == fromID && i+1 < len(ws.Environments) {
			return &ws.Environments[i+1]
		}
	}
	return nil
}

// Space is a visibility boundary inside a workspace.
type Space struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"created_at"`
}

// Resource is an object of the host application, registered with Gatehouse.
// ExternalID is the application's own id; it is unique per workspace and type.
type Resource struct {
	ID            string       `json:"id"`
	WorkspaceID   string       `json:"workspace_id"`
	Type          ResourceType `json:"type"`
	ExternalID    string       `json:"external_id"`
	Name          string       `json:"name"`
	EnvironmentID string       `json:"environment_id,omitempty"`
	SpaceID       string       `json:"space_id,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
	Version       int64        `json:"version"`
}

// User is a person in one org.
type User struct {
	ID          string     `json:"id"`
	OrgID       string     `json:"org_id"`
	UserName    string     `json:"user_name"`
	Email       string     `json:"email"`
	DisplayName string     `json:"display_name"`
	GivenName   string     `json:"given_name"`
	FamilyName  string     `json:"family_name"`
	ExternalID  string     `json:"external_id,omitempty"`
	Active      bool       `json:"active"`
	Source      UserSource `json:"source"`
	DirectoryID string     `json:"directory_id,omitempty"` // the SCIM directory that owns the user
	// ConnectionID is the SSO connection that created and owns the user.
	ConnectionID string `json:"connection_id,omitempty"`
	// Owner is the user's one identity source, with its name (filled by reads).
	Owner     Owner     `json:"owner"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`
}

// Label is how a user is named in explanations and logs.
func (u User) Label() string {
	if u.Email != "" {
		return u.Email
	}
	return u.UserName
}

// Directory is one SCIM provisioning source of an org (an Okta or Entra app).
type Directory struct {
	ID    string `json:"id"`
	OrgID string `json:"org_id"`
	Name  string `json:"name"`
	// Domains are the lower-case email domains the directory's users are in
	// (PATCH /api/v1/directories/{directory}); a domain belongs to one org.
	Domains   []string  `json:"domains"`
	CreatedAt time.Time `json:"created_at"`
}

// IdPGroup is a group as an identity provider knows it: from a SCIM directory or from
// a group claim of an SSO connection. Exactly one of DirectoryID and ConnectionID is set.
type IdPGroup struct {
	ID           string    `json:"id"`
	OrgID        string    `json:"org_id"`
	DirectoryID  string    `json:"directory_id,omitempty"`
	ConnectionID string    `json:"connection_id,omitempty"`
	ExternalID   string    `json:"external_id,omitempty"`
	DisplayName  string    `json:"display_name"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Version      int64     `json:"version"`
}

// Mapping maps an IdP group of one directory or SSO connection onto a user group.
// IdPGroup names the IdP group by its Gatehouse id, its external id (the IdP's id or
// the group claim value) or its display name (case-insensitive); the rule is resolved
// whenever membership is read, so it may name a group the IdP has not sent yet.
type Mapping struct {
	ID           string    `json:"id"`
	OrgID        string    `json:"org_id"`
	DirectoryID  string    `json:"directory_id,omitempty"`
	ConnectionID string    `json:"connection_id,omitempty"`
	IdPGroup     string    `json:"idp_group"`
	UserGroupID  string    `json:"group_id"`
	CreatedAt    time.Time `json:"created_at"`
}

// UserGroup is an org-level set of users sharing permissions.
type UserGroup struct {
	ID          string    `json:"id"`
	OrgID       string    `json:"org_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	Version     int64     `json:"version"`
}

// RoleName names a role in a grant: one of the pre-built roles or a custom role's id.
type RoleName = string

// The pre-built roles.
const (
	RoleAdmin            RoleName = "admin"
	RoleEditor           RoleName = "editor"
	RoleViewer           RoleName = "viewer"
	RoleDraftContributor RoleName = "draft_contributor"
)

// BuiltinRoles lists the pre-built roles.
var BuiltinRoles = []RoleName{RoleAdmin, RoleEditor, RoleViewer, RoleDraftContributor}

// IsBuiltinRole reports whether name is a pre-built role.
func IsBuiltinRole(name string) bool { return slices.Contains(BuiltinRoles, name) }

// roleDisplayNames are the pre-built roles as the docs and pages name them.
var roleDisplayNames = map[RoleName]string{
	RoleAdmin: "Admin", RoleEditor: "Editor", RoleViewer: "Viewer", RoleDraftContributor: "Draft Contributor",
}

// RoleDisplayName is how people name a pre-built role ("Draft Contributor"); a
// name that is no pre-built role's is returned as it is.
func RoleDisplayName(name RoleName) string {
	if d, ok := roleDisplayNames[name]; ok {
		return d
	}
	return name
}

// BuiltinRole resolves a reference to a pre-built role: its name as grants store
// it ("draft_contributor") or as the docs and pages show it ("Draft Contributor",
// "draft-contributor"), in any case. ok is false for anything else.
func BuiltinRole(ref string) (name RoleName, ok bool) {
	n := strings.ToLower(strings.TrimSpace(ref))
	n = strings.Join(strings.FieldsFunc(n, func(r rune) bool { return r == ' ' || r == '-' || r == '_' }), "_")
	if IsBuiltinRole(n) {
		return n, true
	}
	return "", false
}

// rolesByStrength orders the pre-built roles from strongest to weakest.
var rolesByStrength = []RoleName{RoleAdmin, RoleEditor, RoleDraftContributor, RoleViewer}

// RoleRank ranks a pre-built role by strength: 0 for Admin, the strongest, up to
// Viewer; -1 for anything else (a custom role's name).
func RoleRank(role string) int { return slices.Index(rolesByStrength, role) }

// RoleOfRank is the pre-built role of a rank RoleRank returned.
func RoleOfRank(rank int) RoleName { return rolesByStrength[rank] }

// StrongestRole is the strongest pre-built role among roles, or "" when there is none.
func StrongestRole(roles []string) RoleName {
	for _, r := range rolesByStrength {
		if slices.Contains(roles, r) {
			return r
		}
	}
	return ""
}

// Rule is one grant of actions inside a custom role: on every resource of a type
// (ResourceID empty), on one resource (its external id), or on every type (AnyType).
type Rule struct {
	Actions      []Action     `json:"actions"`
	ResourceType ResourceType `json:"resource_type"`
	ResourceID   string       `json:"resource_id,omitempty"`
}

// Validate checks a rule's vocabulary.
func (r Rule) Validate() error {
	if len(r.Actions) == 0 {
		return Invalidf("a rule needs at least one action")
	}
	for _, a := range r.Actions {
		if !a.Valid() {
			return Invalidf("unknown action %q (want one of %v)", a, Actions)
		}
	}
	if r.ResourceType != AnyType && !r.ResourceType.Valid() {
		return Invalidf("unknown resource type %q (want one of %v or %q)", r.ResourceType, ResourceTypes, AnyType)
	}
	if r.ResourceType == AnyType && r.ResourceID != "" {
		return Invalidf("a rule on one resource must name its type")
	}
	return nil
}

func (r Rule) String() string {
	target := "every " + string(r.ResourceType)
	switch {
	case r.ResourceType == AnyType:
		target = "every resource"
	case r.ResourceID != "":
		target = fmt.Sprintf("%s %s", r.ResourceType, r.ResourceID)
	}
	return fmt.Sprintf("%v on %s", r.Actions, target)
}

// CustomRole is an org-level role made of rules.
type CustomRole struct {
	ID          string    `json:"id"`
	OrgID       string    `json:"org_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Rules       []Rule    `json:"rules"`
	CreatedAt   time.Time `json:"created_at"`
	Version     int64     `json:"version"`
}

// Grant binds a user group to a role in a workspace, optionally only in some
// environments. Role is a pre-built role name or, when CustomRoleID is set, empty.
type Grant struct {
	ID             string    `json:"id"`
	OrgID          string    `json:"org_id"`
	UserGroupID    string    `json:"group_id"`
	WorkspaceID    string    `json:"workspace_id"`
	Role           RoleName  `json:"role,omitempty"`
	CustomRoleID   string    `json:"custom_role_id,omitempty"`
	EnvironmentIDs []string  `json:"environment_ids,omitempty"` // empty: every environment
	CreatedAt      time.Time `json:"created_at"`
}

// ActorKind says through which path a change came.
type ActorKind string

// Actor kinds.
const (
	ActorSystem ActorKind = "system" // the server itself, the CLI
	ActorAdmin  ActorKind = "admin"  // a person through the admin API or pages
	ActorAPI    ActorKind = "api"    // an API token
	ActorSCIM   ActorKind = "scim"   // a SCIM directory
	ActorSSO    ActorKind = "sso"    // an SSO connection
)

// Actor is who makes a change; it is written to the audit log.
type Actor struct {
	Kind ActorKind `json:"kind"`
	ID   string    `json:"id,omitempty"`
	Name string    `json:"name,omitempty"`
}

// AuditEvent is one entry of the append-only audit log.
type AuditEvent struct {
	ID    string `json:"id"`
	OrgID string `json:"org_id"`
	// Seq numbers the org's events in commit order (1, 2, 3, …): the org's change log.
	Seq        int64          `json:"seq"`
	At         time.Time      `json:"at"`
	Actor      Actor          `json:"actor"`
	Action     string         `json:"action"` // e.g. "user.create"
	TargetKind string         `json:"target_kind"`
	TargetID   string         `json:"target_id"`
	Details    map[string]any `json:"details,omitempty"`
}
