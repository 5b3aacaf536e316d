package apitest

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// SCIMActor is who the world's SCIM changes name in the audit log.
var SCIMActor = core.Actor{Kind: core.ActorSCIM, Name: "okta"}

// World is the "done" scenario: Okta provisioned Ann into IdP group
// "Data Eng"; the admin maps it to user group "engineers", grants engineers Editor
// in development of workspace "marketing", and the app registers source s-1.
type World struct {
	*Env
	Ann     core.User
	IdP     core.IdPGroup
	DirID   string
	Mapping string
}

// NewWorld builds the World through the API on a new store of backend b.
func NewWorld(t *testing.T, b storetest.Backend) *World {
	e := NewEnv(t, b)
	ctx := context.Background()
	e.API("POST", "/api/v1/workspaces", map[string]any{"slug": "marketing", "name": "Marketing", "environments": []string{"development", "production"}}).Want(t, 201)
	g := e.API("POST", "/api/v1/groups", map[string]any{"name": "engineers"}).Want(t, 201)
	if g.Str("id") == "" {
		t.Fatalf("group without id: %s", g.Raw)
	}
	d := e.API("POST", "/api/v1/directories", map[string]any{"name": "okta"}).Want(t, 201)
	if d.Str("token", "secret") == "" {
		t.Fatalf("directory without its token secret: %s", d.Raw)
	}
	dirID := d.Str("directory", "id")
	ann := e.User("ann")
	idp, err := e.St.CreateIdPGroup(ctx, SCIMActor, core.IdPGroup{OrgID: e.Org.ID, DirectoryID: dirID, ExternalID: "00g1", DisplayName: "Data Eng"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.St.ChangeIdPGroupMembers(ctx, SCIMActor, e.Org.ID, idp.ID, []string{ann.ID}, nil); err != nil {
		t.Fatal(err)
	}
	m := e.API("POST", "/api/v1/mappings", map[string]any{"directory": "okta", "idp_group": "Data Eng", "group": "engineers"}).Want(t, 201)
	e.API("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "editor", "environments": []string{"development"}}).Want(t, 201)
	e.API("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "source", "id": "s-1", "name": "Salesforce", "environment": "development"}).Want(t, 201)
	e.API("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "model", "id": "m-1", "name": "Churn", "environment": "development"}).Want(t, 201)
	return &World{Env: e, Ann: ann, IdP: idp, DirID: dirID, Mapping: m.Str("id")}
}

// Check asks POST /api/v1/check about marketing with the API token; extra[0] is the
// environment.
func (w *World) Check(user, action, typ, id string, extra ...string) Resp {
	q := map[string]any{"user": user, "workspace": "marketing", "action": action}
	if typ != "" {
		q["resource"] = map[string]any{"type": typ, "id": id}
	}
	if len(extra) > 0 {
		q["environment"] = extra[0]
	}
	return w.API("POST", "/api/v1/check", q).Want(w.T, 200)
}
