package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The demo organization: a data-activation company's marketing and data teams,
// provisioned from an Okta SCIM directory. It exercises every concept of the model
// so that the example decisions printed at the end show each rule at work.

const demoDomain = "acme.example"

type demoResource struct {
	ws, typ, ext, name, env, space string
}

var demoResources = []demoResource{
	{"marketing", "source", "s-salesforce", "Salesforce CRM", "production", ""},
	{"marketing", "source", "s-postgres-dev", "Postgres (staging replica)", "development", ""},
	{"marketing", "destination", "d-braze", "Braze", "production", ""},
	{"marketing", "destination", "d-hubspot", "HubSpot", "production", ""},
	{"marketing", "parent_model", "pm-7", "Customers (parent model)", "production", ""},
	{"marketing", "model", "m-customers", "Active customers", "production", ""},
	{"marketing", "model", "m-revenue", "Revenue by account", "production", "Finance"},
	{"marketing", "sync", "sy-braze-daily", "Customers → Braze (daily)", "production", ""},
	{"marketing", "sync", "sy-revenue-hubspot", "Revenue → HubSpot", "production", "Finance"},
	{"marketing", "audience", "a-churn-risk", "Churn risk", "production", ""},
	{"marketing", "audience", "a-high-value", "High-value accounts", "production", "Finance"},
	{"data-platform", "source", "s-snowflake", "Snowflake warehouse", "development", ""},
	{"data-platform", "model", "m-events", "Product events", "development", ""},
	{"data-platform", "sync", "sy-events-prod", "Events → warehouse", "production", ""},
}

// demoTeams are the IdP groups of the Okta directory, each mapped to one user group,
// with their members (given name, family name).
var demoTeams = []struct {
	idp, group, desc string
	members          [][2]string
}{
	{"Okta-Platform-Admins", "Platform Admins", "Run Gatehouse and every workspace", [][2]string{
		{"Grace", "Hopper"}, {"Linus", "Nakamura"}, {"Amara", "Okafor"}}},
	{"Okta-Engineering", "Engineering", "Data engineers", [][2]string{
		{"Wei", "Chen"}, {"Priya", "Raman"}, {"Jonas", "Becker"}, {"Sofia", "Rossi"}, {"Mateo", "Fernández"},
		{"Aisha", "Bello"}, {"Lars", "Eriksson"}, {"Yuki", "Tanaka"}, {"Noah", "Williams"}, {"Chloé", "Dubois"},
		{"Ravi", "Patel"}, {"Elena", "Petrova"}}},
	{"Okta-Marketing", "Marketing", "Lifecycle and growth marketers", [][2]string{
		{"Maria", "Garcia"}, {"James", "O'Brien"}, {"Fatima", "Haddad"}, {"Lucas", "Silva"}, {"Emma", "Johansson"},
		{"Oliver", "Smith"}, {"Hana", "Kim"}, {"Diego", "Morales"}, {"Zoe", "Martin"}, {"Kwame", "Mensah"}}},
	{"Okta-Analytics", "Analysts", "Analysts who propose models and audiences", [][2]string{
		{"Ingrid", "Larsen"}, {"Tomás", "Novak"}, {"Leila", "Ahmadi"}, {"Samuel", "Cohen"}, {"Nadia", "Kowalski"},
		{"Arjun", "Mehta"}, {"Clara", "Schmidt"}, {"Ethan", "Brown"}}},
	{"Okta-Finance", "Finance", "Finance team; sees the Finance space", [][2]string{
		{"Beatriz", "Costa"}, {"Henrik", "Nielsen"}, {"Olivia", "Taylor"}, {"Rahul", "Singh"}, {"Mei", "Wong"}}},
	{"Okta-Support-Oncall", "Support On-call", "Reruns syncs and checks destinations", [][2]string{
		{"Daniel", "Levi"}, {"Ana", "Popescu"}, {"Kofi", "Asante"}, {"Julia", "Novak"}, {"Marco", "Bianchi"}}},
	{"Okta-Contractors", "Contractors", "External contractors, read-only on the data platform", [][2]string{
		{"Pedro", "Alves"}, {"Sara", "Lindqvist"}, {"Victor", "Dumont"}, {"Lina", "Haddad"}, {"Ivan", "Horvat"}}},
}

func runDemo(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := newFlags("demo", stderr)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://…")
	slug := fs.String("slug", "acme", "slug of the demo organization")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return withStore(ctx, *dsn, func(st *store.SQL) error {
		d := &demo{st: st, ctx: ctx, ws: map[string]core.Workspace{}, groups: map[string]core.UserGroup{},
			users: map[string]core.User{}, resources: map[string]core.Resource{}, spaces: map[string]core.Space{}}
		if err := d.load(*slug); err != nil {
			return err
		}
		d.report(stdout, *dsn)
		return nil
	})
}

type demo struct {
	st        *store.SQL
	ctx       context.Context
	org       core.Org
	admin     core.User
	dir       core.Directory
	ws        map[string]core.Workspace // by slug
	spaces    map[string]core.Space     // by name
	groups    map[string]core.UserGroup // by name
	users     map[string]core.User      // by email
	resources map[string]core.Resource  // by external id
	nUsers    int
	nGrants   int
}

func (d *demo) load(slug string) error {
	ctx, st := d.ctx, d.st
	var err error
	d.org, d.admin, err = st.CreateOrg(ctx, cliActor, slug, "Acme Corp", "admin@"+demoDomain)
	if err != nil {
		if errors.Is(err, core.ErrConflict) {
			return fmt.Errorf("organization %q already exists: the demo is already loaded in this database (use another --db or --slug)", slug)
		}
		return friendly(err, "", "")
	}
	org := d.org.ID
	fail := func(what string, err error) error { return fmt.Errorf("demo: %s: %w", what, err) }

	for _, w := range []struct{ slug, name string }{{"marketing", "Marketing Activation"}, {"data-platform", "Data Platform"}} {
		ws, err := st.CreateWorkspace(ctx, cliActor, org, w.slug, w.name, []string{"development", "production"})
		if err != nil {
			return fail("workspace "+w.slug, err)
		}
		d.ws[w.slug] = ws
	}
	sp, err := st.CreateSpace(ctx, cliActor, org, d.ws["marketing"].ID, "Finance")
	if err != nil {
		return fail("space Finance", err)
	}
	d.spaces[sp.Name] = sp

	for _, r := range demoResources {
		ws := d.ws[r.ws]
		res := core.Resource{WorkspaceID: ws.ID, Type: core.ResourceType(r.typ), ExternalID: r.ext, Name: r.name, EnvironmentID: envID(ws, r.env)}
		if r.space != "" {
			res.SpaceID = d.spaces[r.space].ID
		}
		if res, err = st.CreateResource(ctx, cliActor, org, res); err != nil {
			return fail("resource "+r.ext, err)
		}
		d.resources[r.ext] = res
	}

	if d.dir, err = st.EnsureDirectory(ctx, cliActor, org, "okta"); err != nil {
		return fail("SCIM directory", err)
	}
	for i, team := range demoTeams {
		g, err := st.CreateGroup(ctx, cliActor, core.UserGroup{OrgID: org, Name: team.group, Description: team.desc})
		if err != nil {
			return fail("user group "+team.group, err)
		}
		d.groups[g.Name] = g
		ig, err := st.CreateIdPGroup(ctx, cliActor, core.IdPGroup{OrgID: org, DirectoryID: d.dir.ID,
			ExternalID: fmt.Sprintf("00g%017d", i+1), DisplayName: team.idp})
		if err != nil {
			return fail("IdP group "+team.idp, err)
		}
		if _, err := st.CreateMapping(ctx, cliActor, core.Mapping{OrgID: org, DirectoryID: d.dir.ID, IdPGroup: team.idp, UserGroupID: g.ID}); err != nil {
			return fail("mapping "+team.idp, err)
		}
		var ids []string
		for _, m := range team.members {
			u, err := d.user(m[0], m[1], true)
			if err != nil {
				return err
			}
			ids = append(ids, u.ID)
		}
		// Two engineers are also on the support rotation: a user in several groups.
		if team.group == "Support On-call" {
			ids = append(ids, d.users[email("Wei", "Chen")].ID, d.users[email("Priya", "Raman")].ID)
		}
		if err := st.ChangeIdPGroupMembers(ctx, cliActor, org, ig.ID, ids, nil); err != nil {
			return fail("members of "+team.idp, err)
		}
	}
	// A former employee, deactivated by the IdP but still in an IdP group.
	former, err := d.user("Robert", "Keller", false)
	if err != nil {
		return err
	}
	if err := st.AddGroupMember(ctx, cliActor, org, d.groups["Marketing"].ID, former.ID); err != nil {
		return fail("member Robert Keller", err)
	}
	if err := st.AssignSpace(ctx, cliActor, org, d.ws["marketing"].ID, sp.ID, d.groups["Finance"].ID); err != nil {
		return fail("space assignment", err)
	}

	role, err := st.CreateCustomRole(ctx, cliActor, core.CustomRole{OrgID: org, Name: "Sync Operator",
		Description: "Reruns syncs, checks destinations, tunes the customers parent model",
		Rules: []core.Rule{
			{Actions: []core.Action{core.ActionView, core.ActionRun}, ResourceType: core.TypeSync},
			{Actions: []core.Action{core.ActionView}, ResourceType: core.TypeDestination},
			{Actions: []core.Action{core.ActionEdit}, ResourceType: core.TypeParentModel, ResourceID: "pm-7"},
		}})
	if err != nil {
		return fail("custom role", err)
	}
	mk, dp := d.ws["marketing"], d.ws["data-platform"]
	grants := []core.Grant{
		{UserGroupID: d.groups["Platform Admins"].ID, WorkspaceID: mk.ID, Role: core.RoleAdmin},
		{UserGroupID: d.groups["Platform Admins"].ID, WorkspaceID: dp.ID, Role: core.RoleAdmin},
		{UserGroupID: d.groups["Marketing"].ID, WorkspaceID: mk.ID, Role: core.RoleEditor},
		{UserGroupID: d.groups["Engineering"].ID, WorkspaceID: dp.ID, Role: core.RoleEditor},
		{UserGroupID: d.groups["Engineering"].ID, WorkspaceID: mk.ID, Role: core.RoleEditor, EnvironmentIDs: []string{envID(mk, "development")}},
		{UserGroupID: d.groups["Engineering"].ID, WorkspaceID: mk.ID, Role: core.RoleViewer, EnvironmentIDs: []string{envID(mk, "production")}},
		{UserGroupID: d.groups["Analysts"].ID, WorkspaceID: mk.ID, Role: core.RoleDraftContributor},
		{UserGroupID: d.groups["Finance"].ID, WorkspaceID: mk.ID, Role: core.RoleViewer},
		{UserGroupID: d.groups["Support On-call"].ID, WorkspaceID: mk.ID, CustomRoleID: role.ID},
		{UserGroupID: d.groups["Contractors"].ID, WorkspaceID: dp.ID, Role: core.RoleViewer},
	}
	for _, g := range grants {
		g.OrgID = org
		if _, err := st.CreateGrant(ctx, cliActor, g); err != nil {
			return fail("grant", err)
		}
		d.nGrants++
	}
	return nil
}

func (d *demo) user(given, family string, active bool) (core.User, error) {
	e := email(given, family)
	u, err := d.st.CreateUser(d.ctx, cliActor, core.User{OrgID: d.org.ID, UserName: e, Email: e,
		DisplayName: given + " " + family, GivenName: given, FamilyName: family,
		ExternalID: fmt.Sprintf("00u%017d", d.nUsers+1), Active: active, Source: core.SourceSCIM, DirectoryID: d.dir.ID})
	if err != nil {
		return core.User{}, fmt.Errorf("demo: user %s: %w", e, err)
	}
	d.users[e] = u
	d.nUsers++
	return u, nil
}

// email makes a plausible address: "Mateo Fernández" → mateo.fernandez@acme.example.
func email(given, family string) string {
	clean := strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "'", "", " ", "")
	return strings.ToLower(clean.Replace(given) + "." + clean.Replace(family) + "@" + demoDomain)
}

func envID(ws core.Workspace, name string) string {
	for _, e := range ws.Environments {
		if e.Name == name {
			return e.ID
		}
	}
	return ""
}

type demoQuestion struct {
	who, ws string
	req     core.Request
	res     string // external id of the resource, if any
}

func (d *demo) report(w io.Writer, dsn string) {
	fmt.Fprintf(w, "Loaded demo organization %s (%s), id %s:\n", d.org.Slug, d.org.Name, d.org.ID)
	fmt.Fprintf(w, "  2 workspaces (marketing, data-platform), each with development and production\n")
	fmt.Fprintf(w, "  1 space (Finance, in marketing), %d resources\n", len(d.resources))
	fmt.Fprintf(w, "  SCIM directory %q with %d IdP groups mapped to user groups, %d users provisioned by it (one deactivated)\n", d.dir.Name, len(demoTeams), d.nUsers)
	fmt.Fprintf(w, "  %d grants: Admin, Editor, Viewer, Draft Contributor (Engineering narrowed per environment) and custom role Sync Operator\n", d.nGrants)
	fmt.Fprintf(w, "  org admin: %s\n\n", d.admin.Email)

	questions := []demoQuestion{
		{who: email("Maria", "Garcia"), ws: "marketing", req: core.Request{Action: core.ActionEdit}, res: "s-salesforce"},
		{who: email("Maria", "Garcia"), ws: "marketing", req: core.Request{Action: core.ActionView}, res: "m-revenue"},
		{who: email("Beatriz", "Costa"), ws: "marketing", req: core.Request{Action: core.ActionView}, res: "m-revenue"},
		{who: email("Wei", "Chen"), ws: "marketing", req: core.Request{Action: core.ActionCreate, ResourceType: core.TypeModel, Environment: "development"}},
		{who: email("Wei", "Chen"), ws: "marketing", req: core.Request{Action: core.ActionCreate, ResourceType: core.TypeModel, Environment: "production"}},
		{who: email("Ingrid", "Larsen"), ws: "marketing", req: core.Request{Action: core.ActionEdit}, res: "a-churn-risk"},
		{who: email("Daniel", "Levi"), ws: "marketing", req: core.Request{Action: core.ActionRun}, res: "sy-braze-daily"},
		{who: email("Robert", "Keller"), ws: "marketing", req: core.Request{Action: core.ActionView}, res: "m-customers"},
	}
	fmt.Fprintln(w, "Example decisions (store Facts + core.Decide):")
	for i, q := range questions {
		u, ws := d.users[q.who], d.ws[q.ws]
		req := q.req
		if q.res != "" {
			r := d.resources[q.res]
			req.Resource = &r
		}
		fmt.Fprintf(w, "\n%d. May %s %s in %s?\n", i+1, q.who, describeRequest(req), q.ws)
		facts, err := d.st.Facts(d.ctx, d.org.ID, u.ID, ws.ID)
		if err != nil {
			fmt.Fprintf(w, "   (could not gather facts: %v)\n", oneLine(err))
			continue
		}
		dec := core.Decide(facts, req)
		fmt.Fprintf(w, "   → %s (%s): %s\n", strings.ToUpper(string(dec.Effect)), dec.Reason, dec.Message)
		for _, s := range dec.Chain {
			fmt.Fprintf(w, "     %s\n", describeStep(s))
		}
	}
	q := shellQuote(dsn)
	fmt.Fprintf(w, "\nNext:\n")
	me := self()
	fmt.Fprintf(w, "  %s serve --db %s\n", me, q)
	fmt.Fprintf(w, "  %s token create --db %s --org %s --kind scim --name okta --external-url http://127.0.0.1:8080  # SCIM token for the Okta directory\n", me, q, d.org.Slug)
	fmt.Fprintf(w, "  %s token create --db %s --org %s --kind api --name my-app  # API token for an application\n", me, q, d.org.Slug)
}

func describeRequest(r core.Request) string {
	switch {
	case r.Resource != nil:
		return fmt.Sprintf("%s %s %s (%s)", r.Action, strings.ReplaceAll(string(r.Resource.Type), "_", " "), r.Resource.ExternalID, r.Resource.Name)
	case r.ResourceType != "":
		s := fmt.Sprintf("%s a %s", r.Action, strings.ReplaceAll(string(r.ResourceType), "_", " "))
		if r.Environment != "" {
			s += " in " + r.Environment
		}
		return s
	}
	return string(r.Action) + " the workspace"
}

func describeStep(s core.Step) string {
	out := s.Kind
	if s.Name != "" {
		out += " " + s.Name
	}
	if s.Detail != "" {
		if s.Name != "" {
			out += " —"
		}
		out += " " + s.Detail
	}
	return out
}
