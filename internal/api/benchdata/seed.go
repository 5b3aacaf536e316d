package benchdata

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Size is how big the seeded org is.
type Size struct {
	Users, Groups, Workspaces, Resources int
	// GroupsPerUser is how many IdP groups (each mapped onto one user group) each
	// user is a member of.
	GroupsPerUser int
}

// Target is the size the performance targets name.
var Target = Size{Users: 100_000, Groups: 10_000, Workspaces: 1_000, Resources: 100_000, GroupsPerUser: 3}

// Small is for quick runs and tests.
var Small = Size{Users: 1_000, Groups: 100, Workspaces: 10, Resources: 1_000, GroupsPerUser: 3}

// Org is what Seed made: the ids a load generator asks about.
type Org struct {
	OrgID    string
	Token    string // an API token's secret
	Users    []string
	Emails   []string
	WSSlugs  []string
	Resource func(ws int, i int) (core.ResourceType, string) // the i-th resource of workspace ws
	PerWS    int                                             // resources per workspace
	// UserWS is, for each user, a workspace index where they hold a grant.
	UserWS []int
}

var types = core.ResourceTypes

// Seed creates an org of the given size. The org and its token go through the
// store's API; the bulk rows are inserted directly in one transaction (the store's
// one-row-per-transaction API would take many minutes at this size), and the org's
// generation is bumped at the end so no cache keeps an older picture.
func Seed(ctx context.Context, st *store.SQL, slug string, sz Size) (*Org, error) {
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
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UnixMicro()
	db := st.DB()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck
	b := &bulk{ctx: ctx, exec: func(q string, args ...any) error { _, err := tx.ExecContext(ctx, tx.Rebind(q), args...); return err }}

	out := &Org{OrgID: org.ID, Token: secret}
	users := make([]string, sz.Users)
	for i := range users {
		users[i] = store.NewID()
		email := fmt.Sprintf("user%d@%s.test", i, slug)
		out.Users = append(out.Users, users[i])
		out.Emails = append(out.Emails, email)
		b.add("users (id, org_id, user_name, email, display_name, active, source, directory_id, created_at, updated_at, version)",
			users[i], org.ID, email, email, fmt.Sprintf("User %d", i), true, "scim", dir.ID, now, now, 1)
	}
	groups := make([]string, sz.Groups)
	idps := make([]string, sz.Groups)
	for i := range groups {
		groups[i], idps[i] = store.NewID(), store.NewID()
		b.add("user_groups (id, org_id, name, description, created_at, version)", groups[i], org.ID, fmt.Sprintf("group-%d", i), "", now, 1)
		b.add("idp_groups (id, org_id, directory_id, external_id, display_name, created_at, updated_at, version)",
			idps[i], org.ID, dir.ID, fmt.Sprintf("00g%d", i), fmt.Sprintf("IdP group %d", i), now, now, 1)
		b.add("group_mappings (id, org_id, directory_id, idp_group, user_group_id, created_at)",
			store.NewID(), org.ID, dir.ID, fmt.Sprintf("IdP group %d", i), groups[i], now)
	}
	out.UserWS = make([]int, sz.Users)
	for ui, u := range users {
		seen := map[int]bool{}
		for len(seen) < min(sz.GroupsPerUser, sz.Groups) {
			g := rng.IntN(sz.Groups)
			if !seen[g] {
				if len(seen) == 0 {
					out.UserWS[ui] = (g * 7) % sz.Workspaces // the group's first grant, below
				}
				seen[g] = true
				b.add("idp_group_members (org_id, idp_group_id, user_id, created_at, member_directory_id, member_display)",
					org.ID, idps[g], u, now, dir.ID, fmt.Sprintf("User %d", ui))
			}
		}
	}
	envNames := []string{"development", "staging", "production"}
	wsIDs := make([]string, sz.Workspaces)
	envs := make([][]string, sz.Workspaces)
	spaces := make([][]string, sz.Workspaces)
	for w := range wsIDs {
		wsIDs[w] = store.NewID()
		s := fmt.Sprintf("ws-%d", w)
		out.WSSlugs = append(out.WSSlugs, s)
		b.add("workspaces (id, org_id, slug, name, created_at, version)", wsIDs[w], org.ID, s, "Workspace "+s, now, 1)
		for p, n := range envNames {
			id := store.NewID()
			envs[w] = append(envs[w], id)
			b.add("environments (id, workspace_id, name, position)", id, wsIDs[w], n, p)
		}
		for k := range 2 {
			id := store.NewID()
			spaces[w] = append(spaces[w], id)
			b.add("spaces (id, workspace_id, name, created_at)", id, wsIDs[w], fmt.Sprintf("space-%d", k), now)
		}
	}
	// Each user group is granted a role in a few workspaces; one in three grants is
	// narrowed to development. Each group is assigned to the first space of those.
	roles := []string{core.RoleAdmin, core.RoleEditor, core.RoleViewer, core.RoleDraftContributor}
	for i, g := range groups {
		for k := range 3 {
			w := (i*7 + k*131) % sz.Workspaces
			gid := store.NewID()
			b.add("grants (id, org_id, user_group_id, workspace_id, builtin_role, created_at)", gid, org.ID, g, wsIDs[w], roles[(i+k)%len(roles)], now)
			if (i+k)%3 == 0 {
				b.add("grant_environments (grant_id, workspace_id, environment_id)", gid, wsIDs[w], envs[w][0])
			}
			if k == 0 {
				b.add("space_groups (space_id, workspace_id, org_id, user_group_id, created_at)", spaces[w][0], wsIDs[w], org.ID, g, now)
			}
		}
	}
	out.PerWS = max(1, sz.Resources/sz.Workspaces)
	out.Resource = func(w, i int) (core.ResourceType, string) {
		return types[i%len(types)], fmt.Sprintf("r-%d-%d", w, i)
	}
	for w := range wsIDs {
		for i := range out.PerWS {
			t, ext := out.Resource(w, i)
			var space any
			if i%4 == 0 {
				space = spaces[w][i%2]
			}
			b.add("resources (id, workspace_id, type, external_id, name, environment_id, space_id, created_at, updated_at, version)",
				store.NewID(), wsIDs[w], string(t), ext, "Resource "+ext, envs[w][i%3], space, now, now, 1)
		}
	}
	if err := b.flushAll(); err != nil {
		return nil, err
	}
	if err := b.exec(`INSERT INTO audit_events (id, org_id, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, details)
		VALUES (?, ?, ?, 'system', '', 'benchdata', 'bench.seed', 'org', ?, '{}')`, store.NewID(), org.ID, now, org.ID); err != nil {
		return nil, err
	}
	if err := b.exec(`UPDATE org_generations SET generation = generation + 1 WHERE org_id = ?`, org.ID); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return out, nil
}

// bulk batches multi-row INSERTs per table, in the order tables were first used
// (foreign keys: parents first).
type bulk struct {
	ctx    context.Context
	exec   func(q string, args ...any) error
	order  []string
	rows   map[string][][]any
	failed error
}

const rowsPerInsert = 400

func (b *bulk) add(table string, args ...any) {
	if b.rows == nil {
		b.rows = map[string][][]any{}
	}
	if _, ok := b.rows[table]; !ok {
		b.order = append(b.order, table)
	}
	b.rows[table] = append(b.rows[table], args)
	if len(b.rows[table]) >= rowsPerInsert && b.failed == nil && b.parentsFlushed(table) {
		b.failed = b.flush(table)
	}
}

// parentsFlushed: a table is flushed early only when every table before it is empty.
func (b *bulk) parentsFlushed(table string) bool {
	for _, t := range b.order {
		if t == table {
			return true
		}
		if len(b.rows[t]) > 0 {
			return false
		}
	}
	return true
}

func (b *bulk) flush(table string) error {
	rows := b.rows[table]
	if len(rows) == 0 {
		return nil
	}
	ph := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(rows[0])), ", ") + ")"
	var args []any
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = ph
		args = append(args, r...)
	}
	b.rows[table] = b.rows[table][:0]
	if err := b.exec("INSERT INTO "+table+" VALUES "+strings.Join(parts, ", "), args...); err != nil {
		return fmt.Errorf("seed %s: %w", strings.Fields(table)[0], err)
	}
	return nil
}

func (b *bulk) flushAll() error {
	if b.failed != nil {
		return b.failed
	}
	for _, t := range b.order {
		for len(b.rows[t]) > 0 {
			n := min(len(b.rows[t]), rowsPerInsert)
			rest := append([][]any(nil), b.rows[t][n:]...)
			b.rows[t] = b.rows[t][:n]
			if err := b.flush(t); err != nil {
				return err
			}
			b.rows[t] = rest
		}
	}
	return nil
}
