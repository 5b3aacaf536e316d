package scim

import (
	"errors"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/scim2/filter-parser/v2"
)

// TestFilters runs every RFC 7644 operator, logic, grouping and value paths over
// the HTTP API and compares the userNames found.
func TestFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		ent := `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","employeeNumber":"E1"}`
		e.do("POST", "/Users", `{"userName":"Alice@Example.com","displayName":"Alice A","title":"Engineer","externalId":"ext-A",
			"emails":[{"value":"alice@example.com","type":"work","primary":true},{"value":"alice@home.org","type":"home"}],`+ent+`}`).must(t, 201)
		e.do("POST", "/Users", `{"userName":"bob@example.com","displayName":"Bob B","title":"Manager","active":false,
			"emails":[{"value":"bob@corp.example.com","type":"work"}]}`).must(t, 201)
		e.do("POST", "/Users", `{"userName":"carol@other.org","nickName":"Caz","emails":[{"value":"carol@other.org","type":"home"}]}`).must(t, 201)
		// The org's first admin (local) is a user of the org but not of this
		// directory: no filter matches them.
		cases := []struct {
			filter string
			want   []string
		}{
			{`userName eq "alice@example.com"`, []string{"Alice@Example.com"}},
			{`USERNAME EQ "ALICE@EXAMPLE.COM"`, []string{"Alice@Example.com"}},
			{`userName ne "alice@example.com"`, []string{"bob@example.com", "carol@other.org"}},
			{`userName co "EXAMPLE"`, []string{"Alice@Example.com", "bob@example.com"}},
			{`userName sw "BOB"`, []string{"bob@example.com"}},
			{`userName ew ".ORG"`, []string{"carol@other.org"}},
			{`userName gt "bob"`, []string{"bob@example.com", "carol@other.org"}},
			{`userName ge "bob@example.com"`, []string{"bob@example.com", "carol@other.org"}},
			{`userName lt "b"`, []string{"Alice@Example.com"}},
			{`userName le "alice@example.com"`, []string{"Alice@Example.com"}},
			{`title pr`, []string{"Alice@Example.com", "bob@example.com"}},
			{`not (title pr)`, []string{"carol@other.org"}},
			{`title eq null`, []string{"carol@other.org"}},
			{`externalId eq "ext-A"`, []string{"Alice@Example.com"}},
			{`externalId eq "EXT-A"`, nil}, // externalId is caseExact
			{`externalId eq ext-A`, []string{"Alice@Example.com"}},
			{`externalId co "t-"`, []string{"Alice@Example.com"}},
			{`active eq false`, []string{"bob@example.com"}},
			{`active eq "False"`, []string{"bob@example.com"}},
			{`active ne true`, []string{"bob@example.com"}},
			{`title eq "engineer" or title eq "manager"`, []string{"Alice@Example.com", "bob@example.com"}},
			{`title eq "engineer" and active eq true`, []string{"Alice@Example.com"}},
			{`(title eq "engineer" or nickName eq "caz") and not (userName sw "a")`, []string{"carol@other.org"}},
			{`emails eq "bob@corp.example.com"`, []string{"bob@example.com"}},
			{`emails.value co "@OTHER"`, []string{"carol@other.org"}},
			{`emails.type eq "home"`, []string{"Alice@Example.com", "carol@other.org"}},
			{`emails[type eq "work" and value co "@corp"]`, []string{"bob@example.com"}},
			{`emails[type eq "home"].value eq "alice@home.org"`, []string{"Alice@Example.com"}},
			{`emails[type eq "work"].value eq "alice@home.org"`, nil},
			{`emails[primary eq "True"]`, []string{"Alice@Example.com"}},
			{`emails pr`, []string{"Alice@Example.com", "bob@example.com", "carol@other.org"}},
			{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales"`, []string{"Alice@Example.com"}},
			{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@example.com"`, []string{"bob@example.com"}},
			{`displayName sw "b" or displayName ew " a"`, []string{"Alice@Example.com", "bob@example.com"}},
			{`meta.created gt "2000-01-01T00:00:00Z"`, []string{"Alice@Example.com", "bob@example.com", "carol@other.org"}},
			{`meta.lastModified lt "2000-01-01T00:00:00Z"`, nil},
			{`userName eq "x\" or \"1\"=\"1"`, nil},
			{`userName eq "' OR 1=1 --"`, nil},
		}
		for _, c := range cases {
			r := e.do("GET", "/Users?count=1000&filter="+url.QueryEscape(c.filter), "").must(t, 200)
			var got []string
			res, _ := r.field("Resources").([]any)
			for _, x := range res {
				got = append(got, x.(map[string]any)["userName"].(string))
			}
			sort.Strings(got)
			want := append([]string(nil), c.want...)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s: got %v, want %v", c.filter, got, want)
			}
			if int(r.field("totalResults").(float64)) != len(want) {
				t.Errorf("%s: totalResults %v, want %d", c.filter, r.field("totalResults"), len(want))
			}
		}
		// Unsupported or malformed filters are 400 invalidFilter, never a list.
		for _, f := range []string{`password eq "x"`, `phoneNumbers.value eq "1"`, `userName xx "a"`, `userName eq`, `(userName eq "a"`,
			`active gt true`, `meta.created gt "yesterday"`, `emails[nope eq "x"]`, `urn:example:foo:bar eq "x"`, `name[givenName eq "x"]`} {
			r := e.do("GET", "/Users?filter="+url.QueryEscape(f), "")
			if r.status != 400 || r.field("scimType") != "invalidFilter" {
				t.Errorf("%s: %d %s, want 400 invalidFilter", f, r.status, r.body)
			}
		}
		// POST /.search takes the same filter.
		r := e.do("POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName sw \"bob\"","attributes":["userName"]}`).must(t, 200)
		if r.field("totalResults") != 1.0 || r.field("Resources.0.displayName") != nil || r.field("Resources.0.userName") != "bob@example.com" {
			t.Errorf(".search: %s", r.body)
		}
	})
}

func TestGroupFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		e := newEnv(t, newStore)
		u := e.createUser("m@example.com", "")
		g1 := e.createGroup("Engineering")
		e.createGroup("Sales")
		e.do("PATCH", "/Groups/"+g1, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+u+`"}]}]}`).must(t, 204)
		for f, want := range map[string]float64{
			`displayName eq "engineering"`:             1,
			`displayName co "e"`:                       2,
			`members eq "` + u + `"`:                   1,
			`members[value eq "` + u + `"]`:            1,
			`not (members pr)`:                         1,
			`id eq "` + g1 + `"`:                       1,
			`externalId pr`:                            0,
			`displayName sw "s" or displayName ew "g"`: 2,
		} {
			r := e.do("GET", "/Groups?excludedAttributes=members&filter="+url.QueryEscape(f), "").must(t, 200)
			if r.field("totalResults") != want {
				t.Errorf("%s: %v, want %v", f, r.field("totalResults"), want)
			}
		}
		if r := e.do("GET", "/Groups?filter="+url.QueryEscape(`userName eq "x"`), ""); r.status != 400 || r.field("scimType") != "invalidFilter" {
			t.Errorf("user attribute on groups: %d %s", r.status, r.body)
		}
	})
}

// TestSCIMFilterParse covers the two Entra rewrites and refusals.
func TestSCIMFilterParse(t *testing.T) {
	for raw, ok := range map[string]bool{
		`externalId eq jyoung`:                                  true,
		`externalId eq 0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef`:    true,
		`emails[type eq "work"].value eq "user@contoso.com"`:    true,
		`emails[type eq "work" or type eq "home"].value eq "u"`: true,
		`userName eq`: false,
		``:            false,
		`(((`:         false,
	} {
		_, err := parseFilter(&userFilterNames, raw)
		if (err == nil) != ok {
			t.Errorf("%q: %v", raw, err)
		}
		if err != nil && !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%q: %v is not core.ErrInvalid", raw, err)
		}
	}
}

// TestFastEqMatchesParser: the fast path builds the parser's AST, or declines.
func TestFastEqMatchesParser(t *testing.T) {
	for _, raw := range []string{`userName eq "a@b.c"`, `userName EQ "A B"`, `name.givenName eq "x"`, `externalId eq ""`, `emails.value eq "é@x"`} {
		fast, err := parseFilterText(raw)
		if err != nil {
			t.Fatal(raw, err)
		}
		slow, err := filter.ParseFilter([]byte(raw))
		if err != nil {
			t.Fatal(raw, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: fast %#v, parser %#v", raw, fast, slow)
		}
	}
}

// TestFilterExpressions pins what filter text becomes: the store's expression, with
// each value converted to its attribute's type and each path resolved.
func TestFilterExpressions(t *testing.T) {
	cmp := func(a store.FilterAttr, op store.FilterOp, v any) *store.FilterCompare {
		return &store.FilterCompare{Attr: a, Op: op, Value: v}
	}
	vp := func(a store.FilterAttr, f store.Filter) *store.FilterValuePath {
		return &store.FilterValuePath{Attr: a, Filter: f}
	}
	created, _ := time.Parse(time.RFC3339, "2011-05-13T04:42:34Z")
	for _, c := range []struct {
		names *filterNames
		raw   string
		want  store.Filter
	}{
		{&userFilterNames, `userName eq "a@b.c"`, cmp(store.AttrUserName, store.OpEq, "a@b.c")},
		{&userFilterNames, `USERNAME Eq "A"`, cmp(store.AttrUserName, store.OpEq, "A")},
		{&userFilterNames, `externalId eq jyoung`, cmp(store.AttrExternalID, store.OpEq, "jyoung")},
		{&userFilterNames, `active eq "False"`, cmp(store.AttrActive, store.OpEq, false)},
		{&userFilterNames, `title eq 5`, cmp(store.AttrTitle, store.OpEq, "5")},
		{&userFilterNames, `userName eq "x\"y"`, cmp(store.AttrUserName, store.OpEq, `x"y`)},
		{&userFilterNames, `meta.lastModified gt "2011-05-13T04:42:34Z"`, cmp(store.AttrLastModified, store.OpGt, created)},
		{&userFilterNames, `title eq null`, &store.FilterNot{Filter: cmp(store.AttrTitle, store.OpPresent, nil)}},
		{&userFilterNames, `title ne null`, cmp(store.AttrTitle, store.OpPresent, nil)},
		{&userFilterNames, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "m"`, cmp(store.AttrManager, store.OpEq, "m")},
		{&userFilterNames, `emails eq "x@y"`, vp(store.AttrEmails, cmp(store.AttrEmailValue, store.OpEq, "x@y"))},
		{&userFilterNames, `emails.type eq "work"`, vp(store.AttrEmails, cmp(store.AttrEmailType, store.OpEq, "work"))},
		{&userFilterNames, `emails[type eq "work"].value eq "x@y"`, vp(store.AttrEmails, &store.FilterAnd{
			Left: cmp(store.AttrEmailType, store.OpEq, "work"), Right: cmp(store.AttrEmailValue, store.OpEq, "x@y")})},
		{&userFilterNames, `emails[primary eq "True"]`, vp(store.AttrEmails, cmp(store.AttrEmailPrimary, store.OpEq, true))},
		{&userFilterNames, `not (title pr) or active eq true`, &store.FilterOr{
			Left: &store.FilterNot{Filter: cmp(store.AttrTitle, store.OpPresent, nil)}, Right: cmp(store.AttrActive, store.OpEq, true)}},
		{&groupFilterNames, `members[value eq "1" or value eq "2"]`, vp(store.AttrMembers, &store.FilterOr{
			Left: cmp(store.AttrMemberValue, store.OpEq, "1"), Right: cmp(store.AttrMemberValue, store.OpEq, "2")})},
		{&groupFilterNames, `urn:ietf:params:scim:schemas:core:2.0:Group:displayName sw "a"`, cmp(store.AttrDisplayName, store.OpSw, "a")},
	} {
		got, err := parseFilter(c.names, c.raw)
		if err != nil {
			t.Errorf("%s: %v", c.raw, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.raw, got, c.want)
		}
	}
	for _, c := range []struct {
		names *filterNames
		raw   string
	}{
		{&groupFilterNames, `userName eq "x"`},
		{&userFilterNames, `members eq "x"`},
		{&userFilterNames, `password eq "x"`},
		{&userFilterNames, `active eq "maybe"`},
		{&userFilterNames, `meta.created gt "yesterday"`},
		{&userFilterNames, `meta.created gt 5`},
		{&userFilterNames, `emails[nope eq "x"]`},
		{&userFilterNames, `name[givenName eq "x"]`},
		{&userFilterNames, `urn:example:foo:bar eq "x"`},
		{&userFilterNames, `urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"`},
		{&userFilterNames, `userName eq "` + strings.Repeat("x", MaxFilterLength) + `"`},
	} {
		if f, err := parseFilter(c.names, c.raw); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%.60s: %#v, %v; want core.ErrInvalid", c.raw, f, err)
		}
	}
}

// TestFilterNamesCompile: every name a filter may use is one the store compiles for
// that resource, so the two whitelists cannot drift apart.
func TestFilterNamesCompile(t *testing.T) {
	s := newSQLite(t)
	e := newEnvOn(t, s, "acme", "okta")
	for _, c := range []struct {
		names *filterNames
		list  func(store.SCIMQuery) error
	}{
		{&userFilterNames, func(q store.SCIMQuery) error { _, _, err := s.SCIMListUsers(ctx, e.org.ID, e.dir.ID, q); return err }},
		{&groupFilterNames, func(q store.SCIMQuery) error { _, _, err := s.SCIMListGroups(ctx, e.org.ID, e.dir.ID, q); return err }},
	} {
		var raws []string
		for name := range c.names.attrs {
			raws = append(raws, name+" pr")
		}
		for name, m := range c.names.multi {
			raws = append(raws, name+" pr")
			for sub := range m.subs {
				raws = append(raws, name+"."+sub+" pr", name+"["+sub+" pr]")
			}
		}
		for _, raw := range raws {
			f, err := parseFilter(c.names, raw)
			if err != nil {
				t.Errorf("%s: %v", raw, err)
				continue
			}
			if err := c.list(store.SCIMQuery{Filter: f, StartIndex: 1, Count: 1}); err != nil {
				t.Errorf("%s: the store refuses it: %v", raw, err)
			}
		}
	}
}
