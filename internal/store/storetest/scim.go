package storetest

import (
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// scimTests cover the SCIM contract: users and groups as a SCIM directory provisions
// them, typed filters, paging with exact totals, member changes, a version that
// moves on every write, and nothing of another org or directory.
var scimTests = []test{
	{"SCIM/Users", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		dir := scimActor(d)
		in := scimUser(o.ID, d.ID, "Jane.Doe@acme.example.com")
		in.Title, in.Department = "Engineer", "R&D"
		in.Emails = []store.SCIMEmail{{Value: "jane@acme.example.com", Type: "work", Primary: true}, {Value: "jd@home.example", Type: "home"}}
		// The SCIM edge stores the resource with its emails; the store reads them from it.
		in.Doc = []byte(`{"userName":"Jane.Doe@acme.example.com","title":"Engineer","emails":[` +
			`{"value":"jane@acme.example.com","type":"work","primary":true},{"value":"jd@home.example","type":"home"}]}`)
		u := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, dir, in))
		if u.ID == "" || u.Version != 1 || u.Source != core.SourceSCIM || u.DirectoryID != d.ID || u.CreatedAt.IsZero() {
			t.Fatalf("created = %+v", u)
		}
		got := must[store.SCIMUser](t)(s.SCIMGetUser(ctx, o.ID, d.ID, u.ID))
		if got.UserName != in.UserName || got.Title != "Engineer" || got.Department != "R&D" || string(got.Doc) != string(in.Doc) || got.Version != 1 {
			t.Fatalf("get = %+v", got)
		}
		// The core sees the same row.
		if cu := must[core.User](t)(s.GetUserByUserName(ctx, o.ID, "jane.doe@ACME.example.com")); cu.ID != u.ID {
			t.Fatalf("core lookup = %+v", cu)
		}
		// Every write moves the version; the closure sees the stored emails.
		up := must[store.SCIMUser](t)(s.SCIMUpdateUser(ctx, dir, o.ID, d.ID, u.ID, func(x *store.SCIMUser) error {
			if len(x.Emails) != 2 || x.Emails[1].Value != "jd@home.example" {
				t.Errorf("emails seen by fn = %+v", x.Emails)
			}
			x.Title = "Lead"
			x.Emails = x.Emails[:1]
			x.Doc = []byte(`{"userName":"Jane.Doe@acme.example.com","title":"Lead","emails":[{"value":"jane@acme.example.com","type":"work","primary":true}]}`)
			return nil
		}))
		if up.Version != 2 || up.Title != "Lead" || up.CreatedAt != u.CreatedAt {
			t.Fatalf("updated = %+v", up)
		}
		if n := scimTotal(t, s, o.ID, store.SCIMQuery{Filter: emailIs("jd@home.example")}); n != 0 {
			t.Fatalf("the removed email still matches (%d)", n)
		}
		// A change through the core path keeps the SCIM attributes and moves the version too.
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, u.ID, func(x *core.User) error { x.DisplayName = "Jane"; return nil }))
		got = must[store.SCIMUser](t)(s.SCIMGetUser(ctx, o.ID, d.ID, u.ID))
		if got.Version != 3 || got.DisplayName != "Jane" || got.Title != "Lead" || string(got.Doc) != string(up.Doc) {
			t.Fatalf("after a core update = %+v", got)
		}
		if n := scimTotal(t, s, o.ID, store.SCIMQuery{Filter: emailIs("JANE@acme.example.com")}); n != 1 {
			t.Fatalf("emails after a core update match %d", n)
		}
		// fn refusing (a stale If-Match) changes nothing.
		unchanged(t, s, o.ID, core.ErrVersion, func() error {
			return second(s.SCIMUpdateUser(ctx, dir, o.ID, d.ID, u.ID, func(x *store.SCIMUser) error { x.Title = "x"; return core.ErrVersion }))
		})
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.SCIMCreateUser(ctx, dir, scimUser(o.ID, d.ID, "JANE.DOE@acme.example.com")))
		})
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.SCIMCreateUser(ctx, dir, scimUser(o.ID, d.ID, " "))) })
		// The org's admin is local: for the directory they do not exist.
		deactivate := func(x *store.SCIMUser) error { x.Active = false; return nil }
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return second(s.SCIMUpdateUser(ctx, dir, o.ID, d.ID, admin.ID, deactivate)) })
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return s.SCIMDeleteUser(ctx, dir, o.ID, d.ID, admin.ID) })
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return second(s.SCIMGetUser(ctx, o.ID, d.ID, admin.ID)) })
		deact := must[store.SCIMUser](t)(s.SCIMUpdateUser(ctx, dir, o.ID, d.ID, u.ID, deactivate))
		react := must[store.SCIMUser](t)(s.SCIMUpdateUser(ctx, dir, o.ID, d.ID, u.ID, func(x *store.SCIMUser) error { x.Active = true; return nil }))
		if deact.Active || !react.Active || react.Version != 5 {
			t.Fatalf("deactivated %+v, reactivated %+v", deact, react)
		}
		if len(audits(t, s, o.ID, "user.deactivate")) != 1 || len(audits(t, s, o.ID, "user.activate")) != 1 {
			t.Fatal("want one user.deactivate and one user.activate event")
		}
		// Nothing of another org.
		b, _ := newOrg(t, s, "b")
		wantErr(t, second(s.SCIMGetUser(ctx, b.ID, d.ID, u.ID)), core.ErrNotFound)
		wantErr(t, second(s.SCIMUpdateUser(ctx, dir, b.ID, d.ID, u.ID, func(*store.SCIMUser) error { return nil })), core.ErrNotFound)
		wantErr(t, s.SCIMDeleteUser(ctx, dir, b.ID, d.ID, u.ID), core.ErrNotFound)
		if n := scimTotal(t, s, b.ID, store.SCIMQuery{Filter: cmp(store.AttrUserName, store.OpEq, u.UserName)}); n != 0 {
			t.Fatalf("b finds %d", n)
		}
		ok(t, s.SCIMDeleteUser(ctx, dir, o.ID, d.ID, u.ID))
		wantErr(t, second(s.SCIMGetUser(ctx, o.ID, d.ID, u.ID)), core.ErrNotFound)
		wantErr(t, s.SCIMDeleteUser(ctx, dir, o.ID, d.ID, u.ID), core.ErrNotFound)
		if n := scimTotal(t, s, o.ID, store.SCIMQuery{Filter: emailIs("jane@acme.example.com")}); n != 0 {
			t.Fatalf("a deleted user's email still matches (%d)", n)
		}
	}},
	{"SCIM/Filters", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme") // the local org admin is not the directory's: no filter matches them
		d := newDirectory(t, s, o.ID, "okta")
		dir := scimActor(d)
		mk := func(name, title, ext string, active bool, emails ...store.SCIMEmail) store.SCIMUser {
			u := scimUser(o.ID, d.ID, name)
			u.Title, u.ExternalID, u.Active, u.Emails = title, ext, active, emails
			return must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, dir, u))
		}
		alice := mk("Alice@Example.com", "Engineer", "ext-A", true,
			store.SCIMEmail{Value: "alice@example.com", Type: "work", Primary: true}, store.SCIMEmail{Value: "alice@home.org", Type: "home"})
		bob := mk("bob@example.com", "Manager", "", false, store.SCIMEmail{Value: "bob@corp.example.com", Type: "work"})
		carol := mk("carol@other.org", "", "", true, store.SCIMEmail{Value: "carol@other.org", Type: "home"})
		long := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, c := range []struct {
			name string
			f    store.Filter
			want []string
		}{
			{"userName eq, any case", cmp(store.AttrUserName, store.OpEq, "ALICE@example.COM"), []string{alice.ID}},
			{"userName ne", cmp(store.AttrUserName, store.OpNe, "alice@example.com"), []string{bob.ID, carol.ID}},
			{"userName co", cmp(store.AttrUserName, store.OpCo, "EXAMPLE"), []string{alice.ID, bob.ID}},
			{"userName sw", cmp(store.AttrUserName, store.OpSw, "BOB"), []string{bob.ID}},
			{"userName ew", cmp(store.AttrUserName, store.OpEw, ".ORG"), []string{carol.ID}},
			{"userName gt", cmp(store.AttrUserName, store.OpGt, "bob"), []string{bob.ID, carol.ID}},
			{"userName le", cmp(store.AttrUserName, store.OpLe, "alice@example.com"), []string{alice.ID}},
			{"externalId is case-exact", cmp(store.AttrExternalID, store.OpEq, "EXT-A"), nil},
			{"externalId eq", cmp(store.AttrExternalID, store.OpEq, "ext-A"), []string{alice.ID}},
			{"externalId ne keeps users without one", cmp(store.AttrExternalID, store.OpNe, "ext-A"), []string{bob.ID, carol.ID}},
			{"title pr", cmp(store.AttrTitle, store.OpPresent, nil), []string{alice.ID, bob.ID}},
			{"not title pr", &store.FilterNot{Filter: cmp(store.AttrTitle, store.OpPresent, nil)}, []string{carol.ID}},
			{"active eq false", cmp(store.AttrActive, store.OpEq, false), []string{bob.ID}},
			{"active ne true", cmp(store.AttrActive, store.OpNe, true), []string{bob.ID}},
			{"and / or", &store.FilterAnd{
				Left:  &store.FilterOr{Left: cmp(store.AttrTitle, store.OpEq, "engineer"), Right: cmp(store.AttrTitle, store.OpEq, "manager")},
				Right: cmp(store.AttrActive, store.OpEq, true)}, []string{alice.ID}},
			{"meta.created", cmp(store.AttrCreated, store.OpGt, long), []string{alice.ID, bob.ID, carol.ID}},
			{"meta.lastModified", cmp(store.AttrLastModified, store.OpLt, long), nil},
			{"meta.resourceType", cmp(store.AttrResourceType, store.OpEq, "User"), []string{alice.ID, bob.ID, carol.ID}},
			{"emails value", emailIs("BOB@corp.example.com"), []string{bob.ID}},
			{"emails value path", &store.FilterValuePath{Attr: store.AttrEmails, Filter: &store.FilterAnd{
				Left: cmp(store.AttrEmailType, store.OpEq, "work"), Right: cmp(store.AttrEmailValue, store.OpCo, "@corp")}}, []string{bob.ID}},
			{"emails value path, no entry matches both", &store.FilterValuePath{Attr: store.AttrEmails, Filter: &store.FilterAnd{
				Left: cmp(store.AttrEmailType, store.OpEq, "work"), Right: cmp(store.AttrEmailValue, store.OpEq, "alice@home.org")}}, nil},
			{"emails primary", &store.FilterValuePath{Attr: store.AttrEmails, Filter: cmp(store.AttrEmailPrimary, store.OpEq, true)}, []string{alice.ID}},
			{"emails pr", &store.FilterValuePath{Attr: store.AttrEmails, Filter: cmp(store.AttrEmailValue, store.OpPresent, nil)}, []string{alice.ID, bob.ID, carol.ID}},
			{"a value stays a value", cmp(store.AttrUserName, store.OpEq, `x' OR 1=1 --`), nil},
		} {
			q := store.SCIMQuery{Filter: c.f, StartIndex: 1, Count: 100}
			users, total := must2[store.SCIMUser](t, c.name)(s.SCIMListUsers(ctx, o.ID, d.ID, q))
			got := ids(users, func(u store.SCIMUser) string { return u.ID })
			if !sameSet(got, c.want) || total != len(c.want) {
				t.Errorf("%s: got %v (total %d), want %v", c.name, got, total, c.want)
			}
		}
		// A userName eq lookup (one statement of its own on PostgreSQL) pages as
		// any list does: the total stays the number of matches.
		for _, c := range []struct {
			start, count, rows int
		}{{1, 100, 1}, {1, 1, 1}, {2, 100, 0}, {1, 0, 0}, {3, 0, 0}} {
			q := store.SCIMQuery{Filter: cmp(store.AttrUserName, store.OpEq, "alice@EXAMPLE.com"), StartIndex: c.start, Count: c.count}
			users, total := must2[store.SCIMUser](t, "userName eq page")(s.SCIMListUsers(ctx, o.ID, d.ID, q))
			if len(users) != c.rows || total != 1 || (c.rows == 1 && users[0].ID != alice.ID) {
				t.Errorf("userName eq, startIndex %d, count %d: %d users, total %d; want %d, total 1", c.start, c.count, len(users), total, c.rows)
			}
		}
		// A listed user, on a page or by userName eq, carries what its SCIM
		// representation is made of, as a read of the user has it.
		whole := must[store.SCIMUser](t)(s.SCIMGetUser(ctx, o.ID, d.ID, alice.ID))
		for _, f := range []store.Filter{nil, cmp(store.AttrUserName, store.OpEq, "alice@example.com")} {
			users, _ := must2[store.SCIMUser](t, "listed")(s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{Filter: f, StartIndex: 1, Count: 100}))
			i := slices.IndexFunc(users, func(u store.SCIMUser) bool { return u.ID == alice.ID })
			if i < 0 {
				t.Fatalf("filter %v: alice not listed", f)
			}
			u := users[i]
			if u.OrgID != whole.OrgID || u.UserName != whole.UserName || u.ExternalID != whole.ExternalID || u.Active != whole.Active ||
				u.Source != whole.Source || u.DirectoryID != whole.DirectoryID || !u.CreatedAt.Equal(whole.CreatedAt) ||
				!u.UpdatedAt.Equal(whole.UpdatedAt) || u.Version != whole.Version || string(u.Doc) != string(whole.Doc) || len(u.Doc) == 0 ||
				u.Owner.Kind != whole.Owner.Kind || u.Owner.ID != whole.Owner.ID {
				t.Errorf("filter %v: listed %+v, read %+v", f, u, whole)
			}
		}
		if users, total := must2[store.SCIMUser](t, "userName eq of another directory's user")(s.SCIMListUsers(ctx, o.ID, newDirectory(t, s, o.ID, "entra").ID,
			store.SCIMQuery{Filter: cmp(store.AttrUserName, store.OpEq, "alice@example.com"), StartIndex: 1, Count: 100})); len(users) != 0 || total != 0 {
			t.Errorf("userName eq from another directory: %d users, total %d; want none", len(users), total)
		}
		// What the store cannot express for the resource is core.ErrInvalid, never SQL.
		for name, f := range map[string]store.Filter{
			"a group attribute":                  cmp(store.AttrMemberValue, store.OpEq, "x"),
			"a sub-attribute out of its path":    cmp(store.AttrEmailType, store.OpEq, "work"),
			"an attribute that is not multi":     &store.FilterValuePath{Attr: store.AttrTitle, Filter: cmp(store.AttrEmailType, store.OpEq, "x")},
			"another attribute's sub-attribute":  &store.FilterValuePath{Attr: store.AttrEmails, Filter: cmp(store.AttrMemberValue, store.OpEq, "x")},
			"a nested value path":                &store.FilterValuePath{Attr: store.AttrEmails, Filter: &store.FilterValuePath{Attr: store.AttrEmails, Filter: cmp(store.AttrEmailType, store.OpEq, "x")}},
			"a string for a boolean":             cmp(store.AttrActive, store.OpEq, "True"),
			"a string for a dateTime":            cmp(store.AttrCreated, store.OpGt, "2000-01-01T00:00:00Z"),
			"a boolean for a string":             cmp(store.AttrTitle, store.OpEq, true),
			"gt on a boolean":                    cmp(store.AttrActive, store.OpGt, true),
			"co on a dateTime":                   cmp(store.AttrCreated, store.OpCo, long),
			"an unknown operator":                cmp(store.AttrTitle, "xx", "a"),
			"no value":                           cmp(store.AttrTitle, store.OpEq, nil),
			"a value with pr":                    cmp(store.AttrTitle, store.OpPresent, "a"),
			"an unknown attribute":               cmp("password", store.OpEq, "a"),
			"an empty node":                      &store.FilterAnd{Left: cmp(store.AttrTitle, store.OpPresent, nil)},
			"a nil compare":                      (*store.FilterCompare)(nil),
			"deeper than a filter can be nested": deep(40),
		} {
			_, _, err := s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{Filter: f, StartIndex: 1, Count: 10})
			if err == nil {
				t.Errorf("%s: no error", name)
				continue
			}
			wantErr(t, err, core.ErrInvalid)
		}
		// Groups: their own attributes, members as a value path.
		g := must[store.SCIMGroup](t)(s.SCIMCreateGroup(ctx, dir, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Engineering"}, []string{alice.ID}))
		must[store.SCIMGroup](t)(s.SCIMCreateGroup(ctx, dir, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Sales", ExternalID: "s-1"}, nil))
		for _, c := range []struct {
			name string
			f    store.Filter
			want int
		}{
			{"displayName eq", cmp(store.AttrDisplayName, store.OpEq, "engineering"), 1},
			{"displayName co", cmp(store.AttrDisplayName, store.OpCo, "e"), 2},
			{"members value", &store.FilterValuePath{Attr: store.AttrMembers, Filter: cmp(store.AttrMemberValue, store.OpEq, alice.ID)}, 1},
			{"not members pr", &store.FilterNot{Filter: &store.FilterValuePath{Attr: store.AttrMembers, Filter: cmp(store.AttrMemberValue, store.OpPresent, nil)}}, 1},
			{"id eq", cmp(store.AttrID, store.OpEq, g.ID), 1},
			{"externalId pr", cmp(store.AttrExternalID, store.OpPresent, nil), 1},
		} {
			_, total := must2[store.SCIMGroup](t, c.name)(s.SCIMListGroups(ctx, o.ID, d.ID, store.SCIMQuery{Filter: c.f, StartIndex: 1, Count: 10}))
			if total != c.want {
				t.Errorf("groups %s: %d, want %d", c.name, total, c.want)
			}
		}
		_, _, err := s.SCIMListGroups(ctx, o.ID, d.ID, store.SCIMQuery{Filter: cmp(store.AttrUserName, store.OpEq, "x"), StartIndex: 1, Count: 10})
		wantErr(t, err, core.ErrInvalid)
	}},
	{"SCIM/PagingExactTotals", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		want := []string{}
		for i := range 7 {
			u := scimUser(o.ID, d.ID, "user"+strconv.Itoa(i)+"@acme.example.com")
			u.Title = "t"
			want = append(want, must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(d), u)).ID)
		}
		titled := cmp(store.AttrTitle, store.OpEq, "T")
		var got []string
		for start := 1; start <= 9; start += 3 {
			page, total := must2[store.SCIMUser](t, "page")(s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{Filter: titled, StartIndex: start, Count: 3}))
			if total != 7 {
				t.Fatalf("startIndex %d: total %d, want 7", start, total)
			}
			got = append(got, ids(page, func(u store.SCIMUser) string { return u.ID })...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged = %v, want %v (id order)", got, want)
		}
		for _, q := range []store.SCIMQuery{
			{Filter: titled, StartIndex: 1, Count: 0},    // the total only
			{Filter: titled, StartIndex: 50, Count: 3},   // past the end
			{Filter: titled, StartIndex: 0, Count: 1000}, // startIndex < 1 is 1
			{StartIndex: 1, Count: 2},                    // no filter: the directory's 7 users (not the local admin)
		} {
			page, total := must2[store.SCIMUser](t, "edge")(s.SCIMListUsers(ctx, o.ID, d.ID, q))
			wantTotal := 7
			if total != wantTotal {
				t.Errorf("%+v: total %d, want %d", q, total, wantTotal)
			}
			if (q.Count == 0 || q.StartIndex == 50) && len(page) != 0 {
				t.Errorf("%+v: %d resources, want none", q, len(page))
			}
		}
	}},
	{"SCIM/TotalsFollowEveryChange", func(t *testing.T, s subject) {
		// A full page's total is counted, and kept while the org's generation
		// stands still: every committed change must show in the next total, a
		// failed one must not.
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		dir := scimActor(d)
		active := cmp(store.AttrActive, store.OpEq, true)
		totals := func(want, wantActive int) {
			t.Helper()
			for _, q := range []store.SCIMQuery{{StartIndex: 1, Count: 1}, {StartIndex: 2, Count: 1}, {StartIndex: 1, Count: 0}} {
				if _, total := must2[store.SCIMUser](t, "list")(s.SCIMListUsers(ctx, o.ID, d.ID, q)); total != want {
					t.Fatalf("%+v: total %d, want %d", q, total, want)
				}
				q.Filter = active
				if _, total := must2[store.SCIMUser](t, "list active")(s.SCIMListUsers(ctx, o.ID, d.ID, q)); total != wantActive {
					t.Fatalf("%+v active: total %d, want %d", q, total, wantActive)
				}
			}
		}
		var us []string
		for i := range 3 {
			us = append(us, must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, dir, scimUser(o.ID, d.ID, "u"+strconv.Itoa(i)))).ID)
			totals(i+1, i+1)
		}
		must[store.SCIMUser](t)(s.SCIMUpdateUser(ctx, dir, o.ID, d.ID, us[0], func(u *store.SCIMUser) error { u.Active = false; return nil }))
		totals(3, 2)
		unchanged(t, s, o.ID, core.ErrConflict, func() error { return second(s.SCIMCreateUser(ctx, dir, scimUser(o.ID, d.ID, "u1"))) })
		totals(3, 2)
		if err := s.SCIMDeleteUser(ctx, dir, o.ID, d.ID, us[1]); err != nil {
			t.Fatal(err)
		}
		totals(2, 1)
		g := must[store.SCIMGroup](t)(s.SCIMCreateGroup(ctx, dir, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "a"}, nil))
		must[store.SCIMGroup](t)(s.SCIMCreateGroup(ctx, dir, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "b"}, nil))
		if _, total := must2[store.SCIMGroup](t, "groups")(s.SCIMListGroups(ctx, o.ID, d.ID, store.SCIMQuery{StartIndex: 1, Count: 1})); total != 2 {
			t.Fatalf("groups: total %d, want 2", total)
		}
		if err := s.SCIMDeleteGroup(ctx, dir, o.ID, d.ID, g.ID); err != nil {
			t.Fatal(err)
		}
		if _, total := must2[store.SCIMGroup](t, "groups")(s.SCIMListGroups(ctx, o.ID, d.ID, store.SCIMQuery{StartIndex: 1, Count: 0})); total != 1 {
			t.Fatalf("groups after a delete: total %d, want 1", total)
		}
	}},
	{"SCIM/GroupMemberDisplay", func(t *testing.T, s subject) {
		// A group's members show their users' names as the users are now: the
		// displayName, or the userName when it is blank, whatever path renamed
		// them; and only while the directory owns them.
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		dir := scimActor(d)
		ada := scimUser(o.ID, d.ID, "ada@acme.test")
		ada.DisplayName = "Ada"
		ada = must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, dir, ada))
		bob := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, dir, scimUser(o.ID, d.ID, "bob@acme.test")))
		g := must[store.SCIMGroup](t)(s.SCIMCreateGroup(ctx, dir, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Eng"}, []string{ada.ID}))
		must[store.SCIMGroup](t)(s.SCIMUpdateGroup(ctx, dir, o.ID, d.ID, g.ID, nil, store.MemberChange{Add: []string{bob.ID}}))
		shows := func(want map[string]string) {
			t.Helper()
			got := map[string]string{}
			for _, m := range must[[]store.SCIMMember](t)(s.SCIMGroupMembers(ctx, o.ID, d.ID, g.ID, "", 10)) {
				got[m.ID] = m.Display
			}
			if !maps.Equal(got, want) {
				t.Fatalf("members show %v, want %v", got, want)
			}
		}
		shows(map[string]string{ada.ID: "Ada", bob.ID: "bob@acme.test"})
		must[store.SCIMUser](t)(s.SCIMUpdateUser(ctx, dir, o.ID, d.ID, ada.ID, func(u *store.SCIMUser) error {
			u.DisplayName = ""
			return nil
		}))
		must[store.SCIMUser](t)(s.SCIMUpdateUser(ctx, dir, o.ID, d.ID, bob.ID, func(u *store.SCIMUser) error {
			u.UserName, u.DisplayName = "robert@acme.test", "Robert"
			return nil
		}))
		shows(map[string]string{ada.ID: "ada@acme.test", bob.ID: "Robert"})
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, ada.ID, func(u *core.User) error {
			u.DisplayName = "Ada L."
			return nil
		}))
		must[core.User](t)(s.TransferUser(ctx, adm, o.ID, bob.ID, core.Owner{Kind: core.OwnerLocal}))
		shows(map[string]string{ada.ID: "Ada L."})
		must[core.User](t)(s.TransferUser(ctx, adm, o.ID, bob.ID, core.Owner{Kind: core.OwnerDirectory, ID: d.ID}))
		shows(map[string]string{ada.ID: "Ada L.", bob.ID: "Robert"})
	}},
	{"SCIM/GroupMembers", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		dir := scimActor(d)
		var us []string
		for i := range 5 {
			us = append(us, must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, dir, scimUser(o.ID, d.ID, "m"+strconv.Itoa(i)))).ID)
		}
		g := must[store.SCIMGroup](t)(s.SCIMCreateGroup(ctx, dir, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Eng"}, us[:2]))
		if g.Version != 1 {
			t.Fatalf("group = %+v", g)
		}
		members := func() []string {
			var out []string
			after := ""
			for {
				page := must[[]store.SCIMMember](t)(s.SCIMGroupMembers(ctx, o.ID, d.ID, g.ID, after, 2))
				out = append(out, ids(page, func(m store.SCIMMember) string { return m.ID })...)
				if len(page) < 2 {
					return out
				}
				after = page[len(page)-1].ID
			}
		}
		version := int64(1)
		patch := func(mc store.MemberChange, fn func(*store.SCIMGroup) error, want []string) {
			t.Helper()
			up := must[store.SCIMGroup](t)(s.SCIMUpdateGroup(ctx, dir, o.ID, d.ID, g.ID, fn, mc))
			version++
			if up.Version != version {
				t.Fatalf("%+v: version %d, want %d", mc, up.Version, version)
			}
			if got := must[store.SCIMGroup](t)(s.SCIMGetGroup(ctx, o.ID, d.ID, g.ID)); got.Version != version {
				t.Fatalf("%+v: stored version %d", mc, got.Version)
			}
			if m := members(); !sameSet(m, want) {
				t.Fatalf("%+v: members %v, want %v", mc, m, want)
			}
		}
		if m := members(); !sameSet(m, us[:2]) {
			t.Fatalf("first members = %v", m)
		}
		patch(store.MemberChange{Add: []string{us[2], us[2], us[0]}}, nil, us[:3])
		patch(store.MemberChange{Remove: []string{us[0], us[4]}}, nil, us[1:3])
		// Okta's delta: remove, then add, in one request; the added member stays.
		patch(store.MemberChange{Remove: []string{us[1]}, Add: []string{us[1], us[3]}}, nil, us[1:4])
		patch(store.MemberChange{Replace: true, Add: []string{us[4], us[0]}}, nil, []string{us[0], us[4]})
		// Attributes only, and even a change of nothing: the version still moves.
		patch(store.MemberChange{}, func(x *store.SCIMGroup) error { x.DisplayName = "Engineering"; return nil }, []string{us[0], us[4]})
		patch(store.MemberChange{Add: []string{us[0]}}, nil, []string{us[0], us[4]})
		patch(store.MemberChange{Replace: true}, nil, nil)
		// A member that is no user of the org is invalid and changes nothing.
		b, _ := newOrg(t, s, "b")
		db := newDirectory(t, s, b.ID, "okta")
		ub := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(db), scimUser(b.ID, db.ID, "x")))
		for _, bad := range [][]string{{"missing"}, {us[1], ub.ID}} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error {
				return second(s.SCIMUpdateGroup(ctx, dir, o.ID, d.ID, g.ID, nil, store.MemberChange{Add: bad}))
			})
			unchanged(t, s, o.ID, core.ErrInvalid, func() error {
				return second(s.SCIMCreateGroup(ctx, dir, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "New"}, bad))
			})
		}
		if got := must[store.SCIMGroup](t)(s.SCIMGetGroup(ctx, o.ID, d.ID, g.ID)); got.Version != version || len(members()) != 0 {
			t.Fatalf("a refused change changed the group: %+v, %v", got, members())
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.SCIMCreateGroup(ctx, dir, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "ENGINEERING"}, nil))
		})
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.SCIMUpdateGroup(ctx, dir, o.ID, d.ID, g.ID, func(x *store.SCIMGroup) error { x.DisplayName = " "; return nil }, store.MemberChange{}))
		})
		// Another directory of the org, and another org, see nothing of the group.
		d2 := newDirectory(t, s, o.ID, "entra")
		wantErr(t, second(s.SCIMGetGroup(ctx, o.ID, d2.ID, g.ID)), core.ErrNotFound)
		wantErr(t, second(s.SCIMUpdateGroup(ctx, scimActor(d2), o.ID, d2.ID, g.ID, nil, store.MemberChange{Add: us[:1]})), core.ErrNotFound)
		wantErr(t, s.SCIMDeleteGroup(ctx, scimActor(d2), o.ID, d2.ID, g.ID), core.ErrNotFound)
		if _, total := must2[store.SCIMGroup](t, "entra")(s.SCIMListGroups(ctx, o.ID, d2.ID, store.SCIMQuery{StartIndex: 1, Count: 10})); total != 0 {
			t.Fatalf("entra lists %d groups", total)
		}
		wantErr(t, second(s.SCIMGetGroup(ctx, b.ID, db.ID, g.ID)), core.ErrNotFound)
		wantErr(t, second(s.SCIMUpdateGroup(ctx, scimActor(db), b.ID, db.ID, g.ID, nil, store.MemberChange{})), core.ErrNotFound)
		wantErr(t, s.SCIMDeleteGroup(ctx, scimActor(db), b.ID, db.ID, g.ID), core.ErrNotFound)
		if m := must[[]store.SCIMMember](t)(s.SCIMGroupMembers(ctx, b.ID, db.ID, g.ID, "", 10)); len(m) != 0 {
			t.Fatalf("b reads members %v", m)
		}
		ok(t, s.SCIMDeleteGroup(ctx, dir, o.ID, d.ID, g.ID))
		wantErr(t, second(s.SCIMGetGroup(ctx, o.ID, d.ID, g.ID)), core.ErrNotFound)
		if n := len(audits(t, s, o.ID, "idp_group.update")); int64(n) != version-1 {
			t.Fatalf("idp_group.update events = %d, want one per write (%d)", n, version-1)
		}
	}},
}

func scimActor(d core.Directory) core.Actor {
	return core.Actor{Kind: core.ActorSCIM, ID: d.ID, Name: d.Name}
}

func scimUser(orgID, dirID, userName string) store.SCIMUser {
	u := store.SCIMUser{}
	u.OrgID, u.DirectoryID, u.UserName, u.Active = orgID, dirID, userName, true
	return u
}

func cmp(a store.FilterAttr, op store.FilterOp, v any) *store.FilterCompare {
	return &store.FilterCompare{Attr: a, Op: op, Value: v}
}

func emailIs(v string) store.Filter {
	return &store.FilterValuePath{Attr: store.AttrEmails, Filter: cmp(store.AttrEmailValue, store.OpEq, v)}
}

// deep nests n NOTs around a comparison.
func deep(n int) store.Filter {
	var f store.Filter = cmp(store.AttrTitle, store.OpPresent, nil)
	for range n {
		f = &store.FilterNot{Filter: f}
	}
	return f
}

// scimTotal is the number of the org's users q matches, summed over the org's
// directories (each sees only its own).
func scimTotal(t *testing.T, s Contract, orgID string, q store.SCIMQuery) int {
	t.Helper()
	q.StartIndex, q.Count = 1, 0
	dirs, err := s.ListDirectories(ctx, orgID)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, d := range dirs {
		_, total, err := s.SCIMListUsers(ctx, orgID, d.ID, q)
		if err != nil {
			t.Fatalf("list users: %v", err)
		}
		sum += total
	}
	return sum
}

// must2 is must for a list and its total.
func must2[T any](t *testing.T, what string) func([]T, int, error) ([]T, int) {
	return func(v []T, n int, err error) ([]T, int) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v, n
	}
}
