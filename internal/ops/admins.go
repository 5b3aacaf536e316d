package ops

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// AddOrgAdmin makes a user an org admin. An org admin must be active: a deactivated
// user is core.ErrInvalid, read in the same transaction as the change.
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
	u, err := activeUser(ctx, st, orgID, userID, "%s is deactivated; reactivate them first")
	if err != nil {
		return u, err
	}
	return u, st.AddOrgAdmin(ctx, actor, orgID, u.ID)
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
	to, err := activeUser(ctx, st, orgID, toID, "%s is deactivated")
	if err != nil {
		return nil, err
	}
	if err := st.AddOrgAdmin(ctx, actor, orgID, to.ID); err != nil {
		return nil, err
	}
	if err := st.RemoveOrgAdmin(ctx, actor, orgID, fromID); err != nil {
		return nil, err
	}
	return st.ListOrgAdmins(ctx, orgID)
}

// activeUser reads a user who must be active; inactive is core.ErrInvalid with
// format's message (%s: the user's label).
func activeUser(ctx context.Context, st store.Store, orgID, id, format string) (core.User, error) {
	u, err := st.GetUser(ctx, orgID, id)
	if err != nil {
		return u, err
	}
	if !u.Active {
		return u, core.Invalidf(format, "user "+u.Label())
	}
	return u, nil
}
