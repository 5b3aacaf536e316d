package ops

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// SetUserActive deactivates or reactivates a user. Deactivating the last active org
// admin is core.ErrLastAdmin.
func (o *Ops) SetUserActive(ctx context.Context, actor core.Actor, orgID, userID string, active bool) (core.User, error) {
	return o.Store.UpdateUser(ctx, actor, orgID, userID, func(u *core.User) error { u.Active = active; return nil })
}

// CreateGroup creates a user group; a name the org already uses (in any case) is
// core.ErrConflict.
func (o *Ops) CreateGroup(ctx context.Context, actor core.Actor, orgID, name, description string) (core.UserGroup, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return core.UserGroup{}, core.Invalidf("a group needs a name")
	}
	return o.Store.CreateGroup(ctx, actor, core.UserGroup{OrgID: orgID, Name: name, Description: description})
}

// CreateMapping maps an IdP group of exactly one directory or SSO connection onto
// a user group. The rule is checked when it is saved; an unknown directory or
// connection is core.ErrNotFound, an existing rule core.ErrConflict.
func (o *Ops) CreateMapping(ctx context.Context, actor core.Actor, m core.Mapping) (core.Mapping, error) {
	if err := validMapping(&m); err != nil {
		return core.Mapping{}, err
	}
	return o.Store.CreateMapping(ctx, actor, m)
}

// validMapping checks a mapping rule when it is saved.
func validMapping(m *core.Mapping) error {
	m.IdPGroup = strings.TrimSpace(m.IdPGroup)
	switch {
	case (m.DirectoryID == "") == (m.ConnectionID == ""):
		return core.Invalidf("a mapping names exactly one directory or SSO connection")
	case m.IdPGroup == "":
		return core.Invalidf("a mapping names the IdP group by its id or display name")
	case m.UserGroupID == "":
		return core.Invalidf("a mapping names the user group")
	}
	return nil
}

// DeleteMapping removes a mapping; decisions stop using it at once.
func (o *Ops) DeleteMapping(ctx context.Context, actor core.Actor, orgID, id string) error {
	return o.Store.DeleteMapping(ctx, actor, orgID, id)
}
