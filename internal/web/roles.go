package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Custom roles' pages: the pre-built roles, and the org's custom roles with their
// rules edited as a table (a row per resource type, or per single resource by the
// application's id, with a box per action). Creating, changing and deleting one
// are access changes: previewed, then made or proposed.

// builtinRoleDescriptions say what each pre-built role may do.
var builtinRoleDescriptions = map[string]string{
	core.RoleAdmin:            "everything in the workspace, including managing its access",
	core.RoleEditor:           "create and configure resources, run syncs, publish; may not update or delete existing sources and destinations",
	core.RoleViewer:           "read-only",
	core.RoleDraftContributor: "create and propose changes; nothing goes live without approval",
}

// blankRuleRows is how many empty rows the rules table offers for new rules.
const blankRuleRows = 3

type actionCell struct {
	Action  core.Action
	Checked bool
}

// ruleRow is one row of the rules table.
type ruleRow struct {
	Type, Resource string
	Actions        []actionCell
}

func ruleRowOf(r core.Rule) ruleRow {
	row := ruleRow{Type: string(r.ResourceType), Resource: r.ResourceID}
	for _, a := range core.Actions {
		checked := false
		for _, b := range r.Actions {
			checked = checked || a == b
		}
		row.Actions = append(row.Actions, actionCell{a, checked})
	}
	return row
}

// rulesOf reads the rules table of a posted form: rows type_N, resource_N and
// actions_N; a row with neither actions nor a resource is empty and skipped. A
// preview re-posts the rules as JSON (rules_json).
func rulesOf(v url.Values) ([]core.Rule, error) {
	if raw := v.Get("rules_json"); raw != "" {
		var rules []core.Rule
		if err := json.Unmarshal([]byte(raw), &rules); err != nil {
			return nil, badField("role", "rules", "The rules could not be read.")
		}
		return rules, nil
	}
	n, _ := strconv.Atoi(v.Get("rows"))
	rules := []core.Rule{}
	for i := range min(n, 200) {
		k := strconv.Itoa(i)
		r := core.Rule{ResourceType: core.ResourceType(v.Get("type_" + k)), ResourceID: strings.TrimSpace(v.Get("resource_" + k))}
		for _, a := range v["actions_"+k] {
			r.Actions = append(r.Actions, core.Action(a))
		}
		if len(r.Actions) == 0 && r.ResourceID == "" {
			continue
		}
		if err := r.Validate(); err != nil {
			_, msg := httpx.Status(err)
			return nil, badField("role", "rules", "Rule "+strconv.Itoa(i+1)+": "+msg+".")
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// ruleTable is the table a role form shows: what was posted when the form was
// refused, else the role's rules; then empty rows to add rules.
func ruleTable(fs formState, rules []core.Rule) []ruleRow {
	var rows []ruleRow
	if fs.Posted("role") {
		if posted, err := rulesOf(fs.Values); err == nil {
			rules = posted
		} else {
			rules = nil
			n, _ := strconv.Atoi(fs.Values.Get("rows"))
			for i := range min(n, 200) {
				k := strconv.Itoa(i)
				row := ruleRow{Type: fs.Values.Get("type_" + k), Resource: fs.Values.Get("resource_" + k)}
				for _, a := range core.Actions {
					row.Actions = append(row.Actions, actionCell{a, fs.Has("role", "actions_"+k, string(a))})
				}
				rows = append(rows, row)
			}
			return rows // as posted, empty rows included
		}
	}
	for _, r := range rules {
		rows = append(rows, ruleRowOf(r))
	}
	for range blankRuleRows {
		rows = append(rows, ruleRowOf(core.Rule{}))
	}
	return rows
}

type rolesPage struct {
	Builtin []roleOption
	Custom  []core.CustomRole
	Grants  map[string]int
	// The create form.
	Rows    []ruleRow
	Types   []string
	Actions []core.Action
	Form    formState
}

func ruleTypes() []string {
	out := []string{string(core.AnyType)}
	for _, t := range core.ResourceTypes {
		out = append(out, string(t))
	}
	return out
}

func (h *Handler) pageRoles(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	ctx := r.Context()
	crs, err := h.Store.ListCustomRoles(ctx, c.OrgID)
	if err != nil {
		return err
	}
	grants, err := h.Store.ListGrants(ctx, c.OrgID, store.GrantQuery{})
	if err != nil {
		return err
	}
	data := rolesPage{Custom: crs, Grants: map[string]int{}, Rows: ruleTable(fs, nil), Types: ruleTypes(), Actions: core.Actions, Form: fs}
	for _, g := range grants {
		if g.CustomRoleID != "" {
			data.Grants[g.CustomRoleID]++
		}
	}
	for _, b := range core.BuiltinRoles {
		data.Builtin = append(data.Builtin, roleOption{b, builtinRoleDescriptions[b]})
	}
	pd.Title, pd.Nav, pd.Data = "Roles", "roles", data
	return h.render(w, status, "roles", pd)
}

// roleForm reads a role form's name, description and rules.
func roleForm(r *http.Request) (core.CustomRole, error) {
	if err := r.ParseForm(); err != nil {
		return core.CustomRole{}, badField("role", "", "The form could not be read.")
	}
	cr := core.CustomRole{Name: strings.TrimSpace(r.PostFormValue("name")), Description: strings.TrimSpace(r.PostFormValue("description"))}
	if cr.Name == "" {
		return cr, badField("role", "name", "A custom role needs a name.")
	}
	if core.IsBuiltinRole(strings.ToLower(cr.Name)) {
		return cr, badField("role", "name", httpx.Quote(cr.Name)+" is a pre-built role's name; choose another.")
	}
	rules, err := rulesOf(r.PostForm)
	if err != nil {
		return cr, err
	}
	if len(rules) == 0 {
		return cr, badField("role", "rules", "A custom role needs at least one rule: check an action in a row.")
	}
	cr.Rules = rules
	return cr, nil
}

// roleFields are the fields a role's preview re-posts.
func roleFields(cr core.CustomRole) map[string]string {
	body, _ := json.Marshal(cr.Rules)
	return map[string]string{"name": cr.Name, "description": cr.Description, "rules_json": string(body)}
}

// roleErr puts a store's refusal of a role next to its field.
func roleErr(err error, name string) error {
	if err == nil {
		return nil
	}
	field := "rules"
	if errors.Is(err, core.ErrConflict) || strings.Contains(err.Error(), "name") {
		field = "name"
	}
	return onField(err, "role", field, "A role named "+httpx.Quote(name)+" already exists.")
}

func (h *Handler) formCreateRole(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	cr, err := roleForm(r)
	if err != nil {
		return err
	}
	cr.OrgID = c.OrgID
	err = h.access(w, r, c, pd, accessForm{Title: "Create custom role " + cr.Name, Action: "/admin/roles", Fields: roleFields(cr),
		Back: "/admin/roles", Done: "/admin/roles", Code: "role-created"},
		ops.AccessChange{Op: ops.OpRoleCreate, Role: &cr})
	return roleErr(err, cr.Name)
}

type rolePage struct {
	Role    core.CustomRole
	Grants  []grantRow
	Rows    []ruleRow
	Types   []string
	Actions []core.Action
	Form    formState
}

// roleOf is the custom role of the path.
func (h *Handler) roleOf(r *http.Request, c *caller) (core.CustomRole, error) {
	ref := r.PathValue("role")
	if core.IsBuiltinRole(ref) {
		return core.CustomRole{}, httpx.Failf(http.StatusUnprocessableEntity, "Pre-built roles cannot be changed.")
	}
	return h.refs.Role(r.Context(), *c, ref)
}

func (h *Handler) pageRole(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	cr, err := h.roleOf(r, c)
	if err != nil {
		return err
	}
	data := rolePage{Role: cr, Rows: ruleTable(fs, cr.Rules), Types: ruleTypes(), Actions: core.Actions, Form: fs}
	if data.Grants, err = h.roleGrants(r, c, cr); err != nil {
		return err
	}
	if fs.Posted("role") {
		data.Role.Name, data.Role.Description = fs.V("role", "name"), fs.V("role", "description")
	}
	pd.Title, pd.Nav, pd.Data = cr.Name, "roles", data
	return h.render(w, status, "role", pd)
}

// roleGrants are the grants of a custom role, with their workspaces.
func (h *Handler) roleGrants(r *http.Request, c *caller, cr core.CustomRole) ([]grantRow, error) {
	ctx := r.Context()
	grants, err := h.Store.ListGrants(ctx, c.OrgID, store.GrantQuery{})
	if err != nil {
		return nil, err
	}
	var rows []grantRow
	for _, gr := range grants {
		if gr.CustomRoleID != cr.ID {
			continue
		}
		ws, err := h.Store.GetWorkspace(ctx, c.OrgID, gr.WorkspaceID)
		if err != nil {
			return nil, err
		}
		row := grantRow{ID: gr.ID, GroupID: gr.UserGroupID, Role: ws.Slug, Envs: envNames(ws, gr)}
		if g, err := h.Store.GetGroup(ctx, c.OrgID, gr.UserGroupID); err == nil {
			row.Group = g.Name
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (h *Handler) formUpdateRole(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	cr, err := h.roleOf(r, c)
	if err != nil {
		return err
	}
	to, err := roleForm(r)
	if err != nil {
		return err
	}
	to.ID, to.OrgID, to.Version = cr.ID, cr.OrgID, cr.Version
	if v, err := strconv.ParseInt(r.PostFormValue("version"), 10, 64); err == nil {
		to.Version = v // the version the person read: a change made since is refused
	}
	fields := roleFields(to)
	fields["version"] = strconv.FormatInt(to.Version, 10)
	path := "/admin/roles/" + url.PathEscape(cr.ID)
	err = h.access(w, r, c, pd, accessForm{Title: "Change custom role " + cr.Name, Action: path, Fields: fields,
		Back: path, Done: path, Code: "role-saved"},
		ops.AccessChange{Op: ops.OpRoleUpdate, ID: cr.ID, Role: &to})
	if errors.Is(err, core.ErrVersion) {
		return &formErr{form: "role", msg: "Someone changed the role since you opened it: open it again and redo your change.", status: http.StatusPreconditionFailed}
	}
	return roleErr(err, to.Name)
}

func (h *Handler) formDeleteRole(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	cr, err := h.roleOf(r, c)
	if err != nil {
		return err
	}
	grants, err := h.roleGrants(r, c, cr)
	if err != nil {
		return err
	}
	title := "Delete custom role " + cr.Name
	if len(grants) > 0 {
		title += " and its " + strconv.Itoa(len(grants)) + " grant(s)"
	}
	return h.access(w, r, c, pd, accessForm{Title: title, Action: "/admin/roles/" + url.PathEscape(cr.ID) + "/delete",
		Back: "/admin/roles/" + url.PathEscape(cr.ID), Done: "/admin/roles", Code: "role-deleted"},
		ops.AccessChange{Op: ops.OpRoleDelete, ID: cr.ID})
}

func init() {
	for code, text := range map[string]string{
		"role-created": "The custom role was created. Grant it to user groups in workspaces.",
		"role-saved":   "The custom role was saved. Decisions use its rules from now on.",
		"role-deleted": "The custom role was deleted with its grants.",
	} {
		flashes[code] = text
	}
}
