package benchdata

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// WorldSize is the shape of issue 10's world.
type WorldSize struct {
	Users, Groups, IdPGroups, Workspaces, Grants, Resources int
	// IdPPerUser and DirectPerUser are each user's IdP groups and direct groups.
	IdPPerUser, DirectPerUser int
}

// Issue10 is the world of issue 10: 100,000 users, 10,000 user groups, 1,000 IdP
// groups mapped onto user groups, 1,000 workspaces × 2 environments, 20,000
// grants of which a quarter are narrowed to one environment, 100,000 resources.
var Issue10 = WorldSize{Users: 100_000, Groups: 10_000, IdPGroups: 1_000, Workspaces: 1_000, Grants: 20_000, Resources: 100_000,
	IdPPerUser: 3, DirectPerUser: 1}

// Issue10Small is the same shape at a hundredth, for quick runs.
var Issue10Small = WorldSize{Users: 1_000, Groups: 100, IdPGroups: 10, Workspaces: 10, Grants: 200, Resources: 1_000,
	IdPPerUser: 3, DirectPerUser: 1}

// World is what SeedWorld made: the references a load generator asks about and
// the handles a SCIM writer changes.
type World struct {
	OrgID     string
	Token     string // an API token's secret
	SCIMToken string // the SCIM token of directory okta, which owns the users and IdP groups
	Users     []string
	Emails    []string
	Active    []bool
	IdPGroups []string
	WSSlugs   []string
	PerWS     int // resources per workspace: ext ids r-W-I, of type ResourceTypes[I%6]
	// Granted lists, for each user, the workspaces where one of their groups
	// (direct or through an IdP group's mapping) holds a grant.
	Granted [][]int32
}

// ResourceOf is the i-th resource of workspace w.
func (w *World) ResourceOf(ws, i int) (core.ResourceType, string) {
	return core.ResourceTypes[i%len(core.ResourceTypes)], fmt.Sprintf("r-%d-%d", ws, i)
}

// SeedWorld creates an org of shape sz. The org and its tokens go through the
// store; the bulk rows are inserted in one transaction (one row per transaction
// would take many minutes at this size), and the change log gets one event for
// them with the org's next seq, so that the log and the change number agree.
func SeedWorld(ctx context.Context, st *store.SQL, slug string, sz WorldSize) (*World, error) {
	sys := core.Actor{Kind: core.ActorSystem, Name: "benchdata"}
	org, _, err := st.CreateOrg(ctx, sys, slug, "Bench "+slug, "admin@"+slug+".test")
	if err != nil {
		return nil, err
	}
	_, secret, err := st.CreateToken(ctx, sys, org.ID, store.TokenAPI, "bench", "")
	if err != nil {
		return nil, err
	}
	dir, err := st.EnsureDirectory(ctx, sys, org.ID, "okta")
	if err != nil {
		return nil, err
	}
	_, scimSecret, err := st.CreateToken(ctx, sys, org.ID, store.TokenSCIM, "okta", dir.ID)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UnixMicro()
	tx, err := st.DB().BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck
	b := &bulk{ctx: ctx, exec: func(q string, args ...any) error { _, err := tx.ExecContext(ctx, tx.Rebind(q), args...); return err }}

	w := &World{OrgID: org.ID, Token: secret, SCIMToken: scimSecret}
	users := make([]string, sz.Users)
	for i := range users {
		users[i] = store.NewID()
		email := fmt.Sprintf("user%d@%s.test", i, slug)
		active := i%50 != 0
		w.Users, w.Emails, w.Active = append(w.Users, users[i]), append(w.Emails, email), append(w.Active, active)
		b.add("users (id, org_id, user_name, email, display_name, active, source, directory_id, created_at, updated_at, version)",
			users[i], org.ID, email, email, fmt.Sprintf("User %d", i), active, "scim", dir.ID, now, now, 1)
	}
	groups := make([]string, sz.Groups)
	for i := range groups {
		groups[i] = store.NewID()
		b.add("user_groups (id, org_id, name, description, created_at, version)", groups[i], org.ID, fmt.Sprintf("group-%d", i), "", now, 1)
	}
	// IdP groups map onto the first user groups by display name (the usual rule).
	for i := range sz.IdPGroups {
		id := store.NewID()
		w.IdPGroups = append(w.IdPGroups, id)
		b.add("idp_groups (id, org_id, directory_id, external_id, display_name, created_at, updated_at, version)",
			id, org.ID, dir.ID, fmt.Sprintf("00g%d", i), fmt.Sprintf("IdP group %d", i), now, now, 1)
		b.add("group_mappings (id, org_id, directory_id, idp_group, user_group_id, created_at)",
			store.NewID(), org.ID, dir.ID, fmt.Sprintf("idp group %d", i), groups[i%sz.Groups], now)
	}
	userGroups := make([][]int32, sz.Users) // user groups each user is in, directly or mapped
	for ui, u := range users {
		seen := map[int]bool{}
		for len(seen) < min(sz.IdPPerUser, sz.IdPGroups) {
			if g := rng.IntN(sz.IdPGroups); !seen[g] {
				seen[g] = true
				userGroups[ui] = append(userGroups[ui], int32(g%sz.Groups))
				b.add("idp_group_members (org_id, idp_group_id, user_id, created_at, member_directory_id, member_display)",
					org.ID, w.IdPGroups[g], u, now, dir.ID, fmt.Sprintf("User %d", ui))
			}
		}
		clear(seen)
		for len(seen) < min(sz.DirectPerUser, sz.Groups) {
			if g := rng.IntN(sz.Groups); !seen[g] {
				seen[g] = true
				userGroups[ui] = append(userGroups[ui], int32(g))
				b.add("user_group_members (org_id, group_id, user_id, created_at)", org.ID, groups[g], u, now)
			}
		}
	}
	wsIDs := make([]string, sz.Workspaces)
	envs := make([][2]string, sz.Workspaces)
	spaces := make([][2]string, sz.Workspaces)
	for i := range wsIDs {
		wsIDs[i] = store.NewID()
		s := fmt.Sprintf("ws-%d", i)
		w.WSSlugs = append(w.WSSlugs, s)
		b.add("workspaces (id, org_id, slug, name, created_at, version)", wsIDs[i], org.ID, s, fmt.Sprintf("Workspace %d", i), now, 1)
		for p, n := range []string{"development", "production"} {
			envs[i][p] = store.NewID()
			b.add("environments (id, workspace_id, name, position)", envs[i][p], wsIDs[i], n, p)
		}
		for k := range 2 {
			spaces[i][k] = store.NewID()
			b.add("spaces (id, workspace_id, name, created_at)", spaces[i][k], wsIDs[i], fmt.Sprintf("space-%d", k), now)
		}
	}
	// Grants spread over the groups (IdP-mapped ones first), a quarter narrowed to
	// one environment; each group sees the first space of its first grant's
	// workspace.
	roles := core.BuiltinRoles
	type gw struct{ g, w int }
	granted := map[gw]bool{}
	groupWS := make([][]int32, sz.Groups)
	for i := 0; len(granted) < sz.Grants; i++ {
		g, ws := i%sz.Groups, (i*7919+i/sz.Groups*131)%sz.Workspaces
		if granted[gw{g, ws}] {
			continue
		}
		first := i < sz.Groups
		granted[gw{g, ws}] = true
		groupWS[g] = append(groupWS[g], int32(ws))
		id := store.NewID()
		b.add("grants (id, org_id, user_group_id, workspace_id, builtin_role, created_at)", id, org.ID, groups[g], wsIDs[ws], roles[i%len(roles)], now)
		if len(granted)%4 == 0 {
			b.add("grant_environments (grant_id, workspace_id, environment_id)", id, wsIDs[ws], envs[ws][i%2])
		}
		if first {
			b.add("space_groups (space_id, workspace_id, org_id, user_group_id, created_at)", spaces[ws][0], wsIDs[ws], org.ID, groups[g], now)
		}
	}
	w.Granted = make([][]int32, sz.Users)
	for ui, gs := range userGroups {
		var wss []int32
		for _, g := range gs {
			wss = append(wss, groupWS[g]...)
		}
		slices.Sort(wss)
		w.Granted[ui] = slices.Compact(wss)
	}
	w.PerWS = max(1, sz.Resources/sz.Workspaces)
	for ws := range wsIDs {
		for i := range w.PerWS {
			var space any
			if i%4 == 0 {
				space = spaces[ws][i%2]
			}
			t, ext := w.ResourceOf(ws, i)
			b.add("resources (id, workspace_id, type, external_id, name, environment_id, space_id, created_at, updated_at, version)",
				store.NewID(), wsIDs[ws], string(t), ext, "Resource "+ext, envs[ws][i%2], space, now, now, 1)
		}
	}
	if err := b.flushAll(); err != nil {
		return nil, err
	}
	// One event for the bulk rows, numbered like any change.
	var seq int64
	if err := tx.GetContext(ctx, &seq, tx.Rebind(`UPDATE org_generations SET generation = generation + 1 WHERE org_id = ? RETURNING generation`), org.ID); err != nil {
		return nil, err
	}
	if err := b.exec(`INSERT INTO audit_events (id, org_id, seq, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, details)
		VALUES (?, ?, ?, ?, 'system', '', 'benchdata', 'bench.seed', 'org', ?, '{}')`, store.NewID(), org.ID, seq, now, org.ID); err != nil {
		return nil, err
	}
	return w, tx.Commit()
}
