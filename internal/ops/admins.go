package ops

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// AddOrgAdmin makes a user an org admin and returns them. The store refuses a
// deactivated user (an org admin must be active).
func (o *Ops) AddOrgAdmin(ctx context.Context, actor core.Actor, orgID, userID string) (core.User, error) {
	var u core.User
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		var err error
		u, err = addOrgAdmin(ctx, st, actor, orgID, userID)
		return err
	})
	return u, err
}

func addOrgAdmin(ctx context.Context, st store.Store, actor core.Actor, orgID, userID string) (core.User, error) {
	if err := st.AddOrgAdmin(ctx, actor, orgID, userID); err != nil {
		return core.User{}, err
	}
	return st.GetUser(ctx, orgID, userID)
}

// TransferOrgAdmin makes "to" an org admin and takes it away from "from", in one
// transaction: both happen or neither does. The grant comes first, so the
// last-admin rule never refuses a transfer away from the only admin. It returns
// the org admins after the transfer.
func (o *Ops) TransferOrgAdmin(ctx context.Context, actor core.Actor, orgID, fromID, toID string) ([]core.User, error) {
	if fromID == toID {
		return nil, core.Invalidf("cannot transfer org admin to the same user")
	}
	var admins []core.User
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		var err error
		admins, err = transferOrgAdmin(ctx, st, actor, orgID, fromID, toID)
		return err
	})
	return admins, err
}

func transferOrgAdmin(ctx context.Context, st store.Store, actor core.Actor, orgID, fromID, toID string) ([]core.User, error) {
	if _, err := st.GetUser(ctx, orgID, fromID); err != nil {
		return nil, err
	}
	if err := st.AddOrgAdmin(ctx, actor, orgID, toID); err != nil {
		return nil, err
	}
	if err := st.RemoveOrgAdmin(ctx, actor, orgID, fromID); err != nil {
		return nil, err
	}
	return st.ListOrgAdmins(ctx, orgID)
}
