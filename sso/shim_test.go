package sso_test

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TEMPORARY until the store branch lands workspaces and Facts.
type shimStore struct{ *store.SQL }

func (shimStore) ListWorkspaces(context.Context, string, store.Page) ([]core.Workspace, error) {
	return nil, nil
}
func (shimStore) Facts(context.Context, string, string, string) (*core.Facts, error) {
	return nil, errors.New("no facts yet")
}
