package events_test

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/events"
)

// TestEveryActionHasAType reads the code that writes audit events (t.audit in the
// store, RecordSSOEvent callers in sso) and requires a table entry for every action
// it names, so that a new action does not silently fall back to a derived type.
func TestEveryActionHasAType(t *testing.T) {
	t.Parallel()
	actions := map[string]string{} // action → where
	for _, dir := range []string{"../store", "../../sso", "../../scim", "../webhooks"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			collectActions(f, fset, actions)
		}
	}
	t.Logf("%d actions found", len(actions))
	if len(actions) < 40 {
		t.Fatalf("found only %d actions: the scan is broken", len(actions))
	}
	known := map[string]bool{}
	for _, ti := range events.Types() {
		for _, a := range ti.Actions {
			known[a] = true
		}
	}
	for a, where := range actions {
		if !known[a] {
			t.Errorf("audit action %q (%s) has no event type: add it to vocabulary.go", a, where)
		}
	}
}

// collectActions finds the action argument (the fourth) of calls to audit and
// RecordSSOEvent: a string literal, or a variable named action whose literal
// values are collected from the file.
func collectActions(f *ast.File, fset *token.FileSet, into map[string]string) {
	lit := func(e ast.Expr) (string, bool) {
		b, ok := e.(*ast.BasicLit)
		if !ok || b.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(b.Value)
		return s, err == nil
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "audit" && sel.Sel.Name != "RecordSSOEvent") || len(n.Args) < 4 {
				return true
			}
			if s, ok := lit(n.Args[3]); ok {
				into[s] = fset.Position(n.Pos()).String()
			}
		case *ast.AssignStmt:
			for i, l := range n.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name == "action" && i < len(n.Rhs) {
					if s, ok := lit(n.Rhs[i]); ok {
						into[s] = fset.Position(n.Pos()).String()
					}
				}
			}
		}
		return true
	})
}

func TestTypes(t *testing.T) {
	t.Parallel()
	ts := events.Types()
	names := make([]string, len(ts))
	for i, ti := range ts {
		names[i] = ti.Type
		if _, err := events.ValidateTypes([]string{ti.Type}); err != nil {
			t.Errorf("type %s does not validate: %v", ti.Type, err)
		}
		if ti.Doc == "" || len(ti.Actions) == 0 {
			t.Errorf("type %s: doc %q, actions %v", ti.Type, ti.Doc, ti.Actions)
		}
		for _, p := range events.ReservedPrefixes {
			if strings.HasPrefix(ti.Type, p+".") {
				t.Errorf("type %s uses the reserved prefix %s", ti.Type, p)
			}
		}
		for _, a := range ti.Actions {
			if got := events.TypeOf(a); got != ti.Type {
				t.Errorf("TypeOf(%s) = %s, want %s", a, got, ti.Type)
			}
		}
	}
	if !slices.IsSorted(names) {
		t.Error("Types is not sorted")
	}
	for _, want := range []string{"user.created", "user.updated", "user.deactivated", "user.reactivated", "user.deleted",
		"membership.added", "membership.removed", "idp_group.members_changed", "mapping.created", "grant.deleted",
		"workspace.created", "environment.created", "space.assigned", "resource.updated", "custom_role.created",
		"org_admin.added", "org_admin.removed", "token.created", "token.revoked", "directory.created",
		"sso_connection.updated", "sso.login", "sso.login_refused", "webhook.created"} {
		if !slices.Contains(names, want) {
			t.Errorf("vocabulary lacks %s", want)
		}
	}
}

func TestTypeOfUnknownAction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ action, want string }{
		{"user.create", "user.created"},
		{"user.activate", "user.reactivated"}, // SCIM's word, the API's type
		{"group.member.add", "membership.added"},
		{"widget.frob", "widget.frob"},
		{"widget.part.frob", "widget.part_frob"},
		{"Widget.Frob-It", "widget.frob_it"},
		{"frob", "audit.frob"},
		{"", "audit.unknown"},
		{"x.", "x.unknown"},
	} {
		if got := events.TypeOf(tc.action); got != tc.want {
			t.Errorf("TypeOf(%q) = %q, want %q", tc.action, got, tc.want)
		}
	}
}

func TestFromAudit(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name string
		in   core.AuditEvent
		want string
	}{
		{"scim", core.AuditEvent{ID: "e1", OrgID: "o1", Seq: 42, At: at, Action: "user.deactivate",
			Actor:      core.Actor{Kind: core.ActorSCIM, ID: "d1", Name: "okta"},
			TargetKind: "user", TargetID: "u1", Details: map[string]any{"user_name": "jane", "active": false}},
			`{"id":"e1","seq":42,"type":"user.deactivated","at":"2026-12-01T09:00:00.123456Z","org_id":"o1",` +
				`"actor":{"kind":"scim","id":"d1","name":"okta"},"source":{"kind":"scim_directory","id":"d1","name":"okta"},` +
				`"target":{"kind":"user","id":"u1"},"data":{"active":false,"user_name":"jane"}}`},
		{"admin, no details", core.AuditEvent{ID: "e2", OrgID: "o1", Seq: 1, At: at, Action: "grant.delete",
			Actor: core.Actor{Kind: core.ActorAdmin, ID: "u9", Name: "admin@acme.example"}, TargetKind: "grant", TargetID: "g1"},
			`{"id":"e2","seq":1,"type":"grant.deleted","at":"2026-12-01T09:00:00.123456Z","org_id":"o1",` +
				`"actor":{"kind":"admin","id":"u9","name":"admin@acme.example"},"source":{"kind":"admin","id":"","name":""},` +
				`"target":{"kind":"grant","id":"g1"},"data":{}}`},
		{"api token, unknown action", core.AuditEvent{ID: "e3", OrgID: "o1", Seq: 7, At: at, Action: "widget.frob",
			Actor: core.Actor{Kind: core.ActorAPI, ID: "t1", Name: "ci"}, TargetKind: "widget", TargetID: "w1"},
			`{"id":"e3","seq":7,"type":"widget.frob","at":"2026-12-01T09:00:00.123456Z","org_id":"o1",` +
				`"actor":{"kind":"api","id":"t1","name":"ci"},"source":{"kind":"api_token","id":"t1","name":"ci"},` +
				`"target":{"kind":"widget","id":"w1"},"data":{}}`},
		{"sso and system", core.AuditEvent{ID: "e4", OrgID: "o1", Seq: 8, At: at, Action: "sso.login_refused",
			Actor: core.Actor{Kind: core.ActorSSO, ID: "c1", Name: "Okta SAML"}, TargetKind: "user", TargetID: "u1",
			Details: map[string]any{"reason": "not_owner"}},
			`{"id":"e4","seq":8,"type":"sso.login_refused","at":"2026-12-01T09:00:00.123456Z","org_id":"o1",` +
				`"actor":{"kind":"sso","id":"c1","name":"Okta SAML"},"source":{"kind":"sso_connection","id":"c1","name":"Okta SAML"},` +
				`"target":{"kind":"user","id":"u1"},"data":{"reason":"not_owner"}}`},
	} {
		got, err := events.Marshal(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		var back events.Event
		if err := json.Unmarshal(got, &back); err != nil || back.Seq != tc.in.Seq || back.ID != tc.in.ID {
			t.Errorf("%s: round trip: %+v %v", tc.name, back, err)
		}
	}
	sys := events.FromAudit(core.AuditEvent{Actor: core.Actor{Kind: core.ActorSystem, Name: "gatehouse cli"}})
	if sys.Source != (events.Source{Kind: events.SourceSystem}) {
		t.Errorf("system source = %+v", sys.Source)
	}
}

func TestValidateTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []string
		want []string
		err  string
	}{
		{"empty is every type", nil, []string{}, ""},
		{"exact and prefix, cleaned", []string{" user.created", "user.*", "user.created", "grant.deleted"},
			[]string{"grant.deleted", "user.*", "user.created"}, ""},
		{"multi-segment prefix", []string{"idp_group.*", "sso.*", "membership.*"}, []string{"idp_group.*", "membership.*", "sso.*"}, ""},
		{"proposal types", []string{"proposal.*", "proposal.approved"}, []string{"proposal.*", "proposal.approved"}, ""},
		{"unknown type", []string{"user.craeted"}, nil, `"user.craeted" is not an event type`},
		{"action, not type", []string{"user.create"}, nil, `"user.create" is not an event type`},
		{"unknown prefix", []string{"widget.*"}, nil, `"widget.*" matches no event type`},
		{"star", []string{"*"}, nil, "leave the list empty"},
		{"blank", []string{" "}, nil, "is not valid"},
		{"bad proposal type", []string{"proposal.Approved!"}, nil, "is not an event type"},
		{"bare prefix", []string{"proposal"}, nil, "is not an event type"},
		{"deep star", []string{"user.*.*"}, nil, "matches no event type"},
		{"too many", make([]string, events.MaxTypes+1), nil, "at most"},
	} {
		got, err := events.ValidateTypes(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, core.ErrInvalid) {
				t.Errorf("%s: error = %v, want %q (ErrInvalid)", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		subs      []string
		match, no []string
	}{
		{nil, []string{"user.created", "widget.frob"}, nil},
		{[]string{"user.created"}, []string{"user.created"}, []string{"user.updated", "user.created_x"}},
		{[]string{"user.*", "grant.deleted"}, []string{"user.created", "user.idp_groups_changed", "grant.deleted"},
			[]string{"grant.created", "membership.added", "users.created"}},
		{[]string{"idp_group.*"}, []string{"idp_group.members_changed"}, []string{"idp_groups.x"}},
	} {
		f := events.NewFilter(tc.subs)
		for _, typ := range tc.match {
			if !f.Match(typ) {
				t.Errorf("%v does not match %s", tc.subs, typ)
			}
		}
		for _, typ := range tc.no {
			if f.Match(typ) {
				t.Errorf("%v matches %s", tc.subs, typ)
			}
		}
	}
}
