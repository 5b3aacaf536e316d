package ops

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// EnvironmentChange is what an edge changes of an environment: its name, its
// place on the promotion path, its approval rule. Nil fields stay as they are.
type EnvironmentChange struct {
	Name              *string
	Position          *int
	RequiresApproval  *bool
	ApprovalsRequired *int
}

// UpdateEnvironment makes an environment change in one transaction: all of it, or
// nothing. It returns the environment as it then is.
func (o *Ops) UpdateEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, id string, c EnvironmentChange) (core.Environment, error) {
	if c.Name == nil && c.Position == nil && c.RequiresApproval == nil && c.ApprovalsRequired == nil {
		return core.Environment{}, core.Invalidf("nothing to change: give a name, a position or an approval rule")
	}
	var out core.Environment
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		if c.Name != nil {
			if _, err := st.RenameEnvironment(ctx, actor, orgID, workspaceID, id, *c.Name); err != nil {
				return err
			}
		}
		if c.Position != nil {
			if _, err := st.MoveEnvironment(ctx, actor, orgID, workspaceID, id, *c.Position); err != nil {
				return err
			}
		}
		e, err := st.UpdateEnvironment(ctx, actor, orgID, workspaceID, id, func(e *core.Environment) error {
			if c.RequiresApproval != nil {
				e.RequiresApproval = *c.RequiresApproval
			}
			if c.ApprovalsRequired != nil {
				e.ApprovalsRequired = *c.ApprovalsRequired
			}
			return nil
		})
		out = e
		return err
	})
	return out, err
}

// DeleteEnvironment removes an environment from its workspace's promotion path;
// the store refuses while resources, grants or open proposals name it.
func (o *Ops) DeleteEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, id string) error {
	return o.Store.DeleteEnvironment(ctx, actor, orgID, workspaceID, id)
}
