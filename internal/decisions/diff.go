package decisions

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// AccessDiff is what an access change does to people's access: the roles they gain
// or lose in each workspace and environment, and the decisions on registered
// resources that flip. It is measured, not predicted: the operation that builds it
// (ops.PreviewAccess) reads everyone's facts before and after applying the change
// inside one transaction and compares core.Decide's answers, so a preview equals
// what /check answers before and after the change is made.
//
// Work is bounded: when more users, workspaces or resources are involved than a
// preview examines, it examines a sample and scales the counts up; Estimated then
// says so, and Users, Workspaces and Resources say how many were examined of how
// many.
type AccessDiff struct {
	Users      Examined      `json:"users"`
	Workspaces Examined      `json:"workspaces"`
	Resources  Examined      `json:"resources"`
	Roles      RoleChanges   `json:"roles"`
	Decisions  DecisionFlips `json:"decisions"`
	// Estimated is true when any count is scaled up from a sample.
	Estimated bool `json:"estimated"`
	// Note says in words what was examined, when it was not everything.
	Note string `json:"note,omitempty"`
}

// Examined says how many of a kind of thing a change touches and how many the
// measure looked at.
type Examined struct {
	Affected int `json:"affected"`
	Examined int `json:"examined"`
}

// RoleChanges lists the roles gained and lost (at most MaxDiffRoles of them) and
// counts them all.
type RoleChanges struct {
	Count     int          `json:"count"`
	Truncated bool         `json:"truncated,omitempty"`
	Changes   []RoleChange `json:"changes"`
}

// RoleChange is a role a user gains or loses in a workspace's environment (the
// workspace as a whole when it has no environments), or org admin (no workspace).
type RoleChange struct {
	User        UserRef       `json:"user"`
	Workspace   *WorkspaceRef `json:"workspace,omitempty"`
	Environment string        `json:"environment,omitempty"`
	Role        string        `json:"role"`
	Change      string        `json:"change"` // gained, lost
}

// Role change directions.
const (
	Gained = "gained"
	Lost   = "lost"
)

// RoleOrgAdmin names org admin in a RoleChange.
const RoleOrgAdmin = "org_admin"

// UserRef names a user.
type UserRef struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// DecisionFlips counts the decisions on registered resources whose effect changes,
// with a sample of them.
type DecisionFlips struct {
	Count int `json:"count"`
	// Compared is how many decisions were asked before and after.
	Compared int    `json:"compared"`
	Sample   []Flip `json:"sample"`
}

// Flip is one decision that changes: may User do Action on Resource, before and
// after.
type Flip struct {
	User        UserRef          `json:"user"`
	Workspace   string           `json:"workspace"` // slug
	Environment string           `json:"environment,omitempty"`
	Resource    QuestionResource `json:"resource"`
	Action      core.Action      `json:"action"`
	Before      core.Effect      `json:"before"`
	After       core.Effect      `json:"after"`
	Reason      string           `json:"reason"` // the reason after
}

// Bounds of a diff's lists.
const (
	MaxDiffRoles = 200
	MaxDiffFlips = 20
)

// Differ accumulates an AccessDiff from facts read before and after a change.
type Differ struct {
	roles    []RoleChange
	nRoles   int
	flips    []Flip
	nFlips   int
	compared int
	// scaleRes weighs a workspace's flips when only a sample of its resources
	// was examined.
	scaleRes map[string]float64
	fFlips   float64
}

// ResourceScale tells the Differ that resources of workspace wsID were sampled:
// each flip counts total/examined.
func (d *Differ) ResourceScale(wsID string, examined, total int) {
	if examined <= 0 || total <= examined {
		return
	}
	if d.scaleRes == nil {
		d.scaleRes = map[string]float64{}
	}
	d.scaleRes[wsID] = float64(total) / float64(examined)
}

// Compare adds the differences between one user's facts in one workspace before
// and after the change: roles per environment (as /users/{id}/access lists them)
// and every action on each of resources (as /check answers them).
func (d *Differ) Compare(before, after *core.Facts, resources []core.Resource) {
	user := UserRef{ID: after.User.ID, Label: after.User.Label()}
	ws := &WorkspaceRef{ID: after.Workspace.ID, Slug: after.Workspace.Slug, Name: after.Workspace.Name}
	envs := make([]*core.Environment, 0, len(after.Workspace.Environments))
	for i := range after.Workspace.Environments {
		envs = append(envs, &after.Workspace.Environments[i])
	}
	if len(envs) == 0 {
		envs = append(envs, nil) // the workspace as a whole
	}
	for _, env := range envs {
		was, now := roleNames(before, env), roleNames(after, env)
		name := ""
		if env != nil {
			name = env.Name
		}
		for _, r := range now {
			if !slices.Contains(was, r) {
				d.addRole(RoleChange{User: user, Workspace: ws, Environment: name, Role: r, Change: Gained})
			}
		}
		for _, r := range was {
			if !slices.Contains(now, r) {
				d.addRole(RoleChange{User: user, Workspace: ws, Environment: name, Role: r, Change: Lost})
			}
		}
	}
	weight := 1.0
	if s, ok := d.scaleRes[after.Workspace.ID]; ok {
		weight = s
	}
	for i := range resources {
		r := &resources[i]
		for _, a := range core.Actions {
			req := core.Request{Action: a, Resource: r}
			b, n := core.Decide(before, req), core.Decide(after, req)
			d.compared++
			if b.Effect == n.Effect {
				continue
			}
			d.nFlips++
			d.fFlips += weight
			if len(d.flips) < MaxDiffFlips {
				env := ""
				for _, e := range after.Workspace.Environments {
					if e.ID == r.EnvironmentID {
						env = e.Name
					}
				}
				d.flips = append(d.flips, Flip{User: user, Workspace: ws.Slug, Environment: env,
					Resource: QuestionResource{Type: r.Type, ID: r.ExternalID}, Action: a,
					Before: b.Effect, After: n.Effect, Reason: n.Reason})
			}
		}
	}
}

// OrgAdmin adds a user's org admin gained or lost.
func (d *Differ) OrgAdmin(u core.User, was, now bool) {
	switch {
	case now && !was:
		d.addRole(RoleChange{User: UserRef{u.ID, u.Label()}, Role: RoleOrgAdmin, Change: Gained})
	case was && !now:
		d.addRole(RoleChange{User: UserRef{u.ID, u.Label()}, Role: RoleOrgAdmin, Change: Lost})
	}
}

func (d *Differ) addRole(c RoleChange) {
	d.nRoles++
	if len(d.roles) < MaxDiffRoles {
		d.roles = append(d.roles, c)
	}
}

// Result is the diff, with the counts scaled by userScale (affected users per
// examined user; 1 when every affected user was examined) and the examined
// counts given.
func (d *Differ) Result(users, workspaces, resources Examined) AccessDiff {
	scale := func(e Examined) float64 {
		if e.Examined <= 0 || e.Affected <= e.Examined {
			return 1
		}
		return float64(e.Affected) / float64(e.Examined)
	}
	us, ws := scale(users), scale(workspaces)
	out := AccessDiff{Users: users, Workspaces: workspaces, Resources: resources,
		Roles:     RoleChanges{Count: int(math.Round(float64(d.nRoles) * us * ws)), Truncated: d.nRoles > len(d.roles), Changes: d.roles},
		Decisions: DecisionFlips{Count: int(math.Round(d.fFlips * us * ws)), Compared: d.compared, Sample: d.flips}}
	if out.Roles.Changes == nil {
		out.Roles.Changes = []RoleChange{}
	}
	if out.Decisions.Sample == nil {
		out.Decisions.Sample = []Flip{}
	}
	var parts []string
	for _, x := range []struct {
		what string
		e    Examined
	}{{"users", users}, {"workspaces", workspaces}, {"resources", resources}} {
		if x.e.Affected > x.e.Examined {
			parts = append(parts, strconv.Itoa(x.e.Examined)+" of "+strconv.Itoa(x.e.Affected)+" "+x.what)
		}
	}
	if len(parts) > 0 || len(d.scaleRes) > 0 {
		out.Estimated = true
		out.Note = "the change touches more than a preview examines: it examined " + strings.Join(parts, ", ") +
			"; the counts are scaled up from that sample and are estimates, the lists are examples"
	}
	slices.SortStableFunc(out.Roles.Changes, func(a, b RoleChange) int {
		return strings.Compare(a.User.Label, b.User.Label)
	})
	return out
}

// roleNames are the roles f's user holds in env (rolesIn), each once, sorted.
func roleNames(f *core.Facts, env *core.Environment) []string {
	var out []string
	for _, h := range rolesIn(f, env) {
		if !slices.Contains(out, h.role) {
			out = append(out, h.role)
		}
	}
	slices.Sort(out)
	return out
}
