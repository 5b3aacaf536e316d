package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// size is the shape of a seeded org.
type size struct {
	Users, Groups, IdPGroups, Workspaces, Grants, Resources int
	// IdPPerUser and DirectPerUser are each user's IdP groups and direct groups.
	IdPPerUser, DirectPerUser int
}

// fullSize is the world of issue 10: 100,000 users, 10,000 user groups, 1,000 IdP
// groups mapped onto user groups, 1,000 workspaces × 2 environments, 20,000 grants
// of which a quarter are narrowed to one environment, 100,000 resources.
var fullSize = size{Users: 100_000, Groups: 10_000, IdPGroups: 1_000, Workspaces: 1_000, Grants: 20_000, Resources: 100_000,
	IdPPerUser: 3, DirectPerUser: 1}

// seedOrg creates an org of the given shape. The org goes through the store's API;
// the bulk rows are inserted in one transaction (one row per transaction would
// take many minutes), and the change log gets one event for them, with its seq,
// so that the log and the generation agree.
func seedOrg(ctx context.Context, st *store.SQL, slug string, sz size) (string, error) {
	sys := core.Actor{Kind: core.ActorSystem, Name: "seed"}
	org, _, err := st.CreateOrg(ctx, sys, slug, "Seed "+slug, "admin@"+slug+".test")
	if err != nil {
		return "", err
	}
	dir, err := st.EnsureDirectory(ctx, sys, org.ID, "okta")
	if err != nil {
		return "", err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UnixMicro()
	db := st.DB()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback() //nolint:errcheck
	b := &bulk{exec: func(q string, args ...any) error { _, err := tx.ExecContext(ctx, tx.Rebind(q), args...); return err }}
	users := make([]string, sz.Users)
	for i := range users {
		users[i] = store.NewID()
		email := fmt.Sprintf("user%d@%s.test", i, slug)
		b.add("users (id, org_id, user_name, email, display_name, active, source, directory_id, created_at, updated_at, version)",
			users[i], org.ID, email, email, fmt.Sprintf("User %d", i), i%50 != 0, "scim", dir.ID, now, now, 1)
	}
	groups := make([]string, sz.Groups)
	for i := range groups {
		groups[i] = store.NewID()
		b.add("user_groups (id, org_id, name, description, created_at, version)", groups[i], org.ID, fmt.Sprintf("group-%d", i), "", now, 1)
	}
	// IdP groups map onto the first user groups, by display name (the usual rule).
	idps := make([]string, sz.IdPGroups)
	for i := range idps {
		idps[i] = store.NewID()
		b.add("idp_groups (id, org_id, directory_id, external_id, display_name, created_at, updated_at, version)",
			idps[i], org.ID, dir.ID, fmt.Sprintf("00g%d", i), fmt.Sprintf("IdP group %d", i), now, now, 1)
		b.add("group_mappings (id, org_id, directory_id, idp_group, user_group_id, created_at)",
			store.NewID(), org.ID, dir.ID, fmt.Sprintf("idp group %d", i), groups[i%sz.Groups], now)
	}
	for ui, u := range users {
		seen := map[int]bool{}
		for len(seen) < min(sz.IdPPerUser, sz.IdPGroups) {
			if g := rng.IntN(sz.IdPGroups); !seen[g] {
				seen[g] = true
				b.add("idp_group_members (org_id, idp_group_id, user_id, created_at, member_directory_id, member_display)",
					org.ID, idps[g], u, now, dir.ID, fmt.Sprintf("User %d", ui))
			}
		}
		clear(seen)
		for len(seen) < min(sz.DirectPerUser, sz.Groups) {
			if g := rng.IntN(sz.Groups); !seen[g] {
				seen[g] = true
				b.add("user_group_members (org_id, group_id, user_id, created_at)", org.ID, groups[g], u, now)
			}
		}
	}
	wsIDs := make([]string, sz.Workspaces)
	envs := make([][2]string, sz.Workspaces)
	spaces := make([][2]string, sz.Workspaces)
	for w := range wsIDs {
		wsIDs[w] = store.NewID()
		b.add("workspaces (id, org_id, slug, name, created_at, version)", wsIDs[w], org.ID, fmt.Sprintf("ws-%d", w), fmt.Sprintf("Workspace %d", w), now, 1)
		for p, n := range []string{"development", "production"} {
			envs[w][p] = store.NewID()
			b.add("environments (id, workspace_id, name, position)", envs[w][p], wsIDs[w], n, p)
		}
		for k := range 2 {
			spaces[w][k] = store.NewID()
			b.add("spaces (id, workspace_id, name, created_at)", spaces[w][k], wsIDs[w], fmt.Sprintf("space-%d", k), now)
		}
	}
	// Grants spread over the groups (IdP-mapped ones first), a quarter narrowed to one
	// environment; each group sees the first space of its first grant's workspace.
	roles := core.BuiltinRoles
	type gw struct{ g, w int }
	granted := map[gw]bool{}
	for i := 0; len(granted) < sz.Grants; i++ {
		g, w := i%sz.Groups, (i*7919+i/sz.Groups*131)%sz.Workspaces
		if granted[gw{g, w}] {
			continue
		}
		first := i < sz.Groups
		granted[gw{g, w}] = true
		id := store.NewID()
		b.add("grants (id, org_id, user_group_id, workspace_id, builtin_role, created_at)", id, org.ID, groups[g], wsIDs[w], roles[i%len(roles)], now)
		if len(granted)%4 == 0 {
			b.add("grant_environments (grant_id, workspace_id, environment_id)", id, wsIDs[w], envs[w][i%2])
		}
		if first {
			b.add("space_groups (space_id, workspace_id, org_id, user_group_id, created_at)", spaces[w][0], wsIDs[w], org.ID, groups[g], now)
		}
	}
	perWS := max(1, sz.Resources/sz.Workspaces)
	for w := range wsIDs {
		for i := range perWS {
			var space any
			if i%4 == 0 {
				space = spaces[w][i%2]
			}
			t := core.ResourceTypes[i%len(core.ResourceTypes)]
			b.add("resources (id, workspace_id, type, external_id, name, environment_id, space_id, created_at, updated_at, version)",
				store.NewID(), wsIDs[w], string(t), fmt.Sprintf("r-%d-%d", w, i), "Resource", envs[w][i%2], space, now, now, 1)
		}
	}
	if err := b.flushAll(); err != nil {
		return "", err
	}
	// One event for the bulk rows, numbered like any change.
	var seq int64
	if err := tx.GetContext(ctx, &seq, tx.Rebind(`UPDATE org_generations SET generation = generation + 1 WHERE org_id = ? RETURNING generation`), org.ID); err != nil {
		return "", err
	}
	if err := b.exec(`INSERT INTO audit_events (id, org_id, seq, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, details)
		VALUES (?, ?, ?, ?, 'system', '', 'seed', 'seed.bulk', 'org', ?, '{}')`, store.NewID(), org.ID, seq, now, org.ID); err != nil {
		return "", err
	}
	return org.ID, tx.Commit()
}

// bulk batches multi-row INSERTs per table, flushing parents before children.
type bulk struct {
	exec  func(q string, args ...any) error
	order []string
	rows  map[string][][]any
	err   error
}

const rowsPerInsert = 300

func (b *bulk) add(table string, args ...any) {
	if b.rows == nil {
		b.rows = map[string][][]any{}
	}
	if _, ok := b.rows[table]; !ok {
		b.order = append(b.order, table)
	}
	b.rows[table] = append(b.rows[table], args)
	if len(b.rows[table]) >= rowsPerInsert {
		// Parents first: flush every table registered before this one.
		for _, t := range b.order {
			b.flush(t)
			if t == table {
				break
			}
		}
	}
}

func (b *bulk) flush(table string) {
	rows := b.rows[table]
	if len(rows) == 0 || b.err != nil {
		return
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(rows[0])), ", ") + ")"
	args := make([]any, 0, len(rows)*len(rows[0]))
	for _, r := range rows {
		args = append(args, r...)
	}
	b.err = b.exec("INSERT INTO "+table+" VALUES "+strings.TrimSuffix(strings.Repeat(one+", ", len(rows)), ", "), args...)
	b.rows[table] = rows[:0]
}

func (b *bulk) flushAll() error {
	for _, t := range b.order {
		b.flush(t)
	}
	return b.err
}
