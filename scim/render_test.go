package scim

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// renderDocs are stored documents of every shape userJSON meets: what projectUser
// writes, and what it never writes but a document might hold (whitespace, keys
// out of order, repeated keys, keys that need escapes, the overridden attributes,
// strings with escapes and brackets, every kind of value).
var renderDocs = []string{
	``,
	`{}`,
	` { } `,
	`{"active":true,"displayName":"Bench User 5","emails":[{"primary":true,"type":"work","value":"u@x.example"}],"externalId":"ext-5","name":{"familyName":"Family5","givenName":"Given"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Dept5","employeeNumber":"5"},"userName":"u@x.example"}`,
	`{"userName":"a","id":"doc-id","meta":{"x":1},"schemas":["x"],"active":"yes","externalId":"doc-ext"}`,
	`{"zeta":1,"alpha":[1,2,{"a":"}]\"{["}],"mid":null,"num":-1.5e+3,"f":false,"t":true}`,
	`{ "b" : "x" , "a" : { "c" : [ ] } }`,
	`{"a":1,"a":2,"b":{"a":1},"a":"last"}`,
	`{"k\u00e9y":1,"plain":2}`,
	`{"a<b":1}`,
	`{"é":1}`,
	`{"s":"quote \" backslash \\ slash \/ unicode \u2028 tab \t"}`,
	`{"nested":{"deep":[[[{"x":"]]]"}]]]}}`,
	`[1,2]`,
	`"str"`,
	`{"a":1`,
	`{"a":1}x`,
	`{"a" 1}`,
	`not json`,
	`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{}}`,
}

func renderUsers() []store.SCIMUser {
	base := store.SCIMUser{}
	base.ID, base.UserName, base.Active, base.Version = "01a2-id", "user@x.example", true, 7
	base.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC)
	base.UpdatedAt = time.Date(2026, 2, 3, 4, 5, 6, 0, time.FixedZone("x", 3600))
	var out []store.SCIMUser
	for _, d := range renderDocs {
		for _, v := range []func(*store.SCIMUser){
			func(*store.SCIMUser) {},
			func(u *store.SCIMUser) { u.ExternalID = "ext<&>\u2028" },
			func(u *store.SCIMUser) {
				u.ID, u.UserName, u.Active = "id/with space?&", "Ünïcödé \"quoted\" \x01", false
			},
			func(u *store.SCIMUser) { u.UserName = "bad\xffutf8" },
		} {
			u := base
			v(&u)
			if d != "" {
				u.Doc = []byte(d)
			}
			out = append(out, u)
		}
	}
	return out
}

// TestUserJSONAsEncodingJSON: the fast rendering is the general one's bytes (and
// error) for every document shape, base URL and request host.
func TestUserJSONAsEncodingJSON(t *testing.T) {
	fastTaken := 0
	for _, base := range []string{"", "https://gh.example.com/", "https://q.example/<x>&"} {
		h := &Handler{BaseURL: base}
		for _, host := range []string{"127.0.0.1:8080", "h\u2028st"} {
			r := httptest.NewRequest("GET", "http://"+host+"/scim/v2/Users", nil)
			r.Host = host
			for _, u := range renderUsers() {
				want, wantErr := h.userJSONSlow(r, u)
				got, gotErr := h.userJSON(r, u)
				if (wantErr == nil) != (gotErr == nil) || !bytes.Equal(got, want) {
					t.Fatalf("doc %q user %+v:\n got %s (%v)\nwant %s (%v)", u.Doc, u.User, got, gotErr, want, wantErr)
				}
				if _, ok := fastUserJSON(u, h.location(r, "Users", u.ID)); ok {
					fastTaken++
				}
			}
		}
	}
	if fastTaken == 0 {
		t.Fatal("the fast rendering never ran")
	}
}

// FuzzUserJSON: for any stored document, the fast rendering is the general one's.
func FuzzUserJSON(f *testing.F) {
	for _, d := range renderDocs {
		f.Add(d, "ext")
	}
	h := &Handler{}
	r := httptest.NewRequest("GET", "http://127.0.0.1/scim/v2/Users", nil)
	f.Fuzz(func(t *testing.T, doc, ext string) {
		u := renderUsers()[0]
		u.Doc, u.ExternalID = []byte(doc), ext
		want, wantErr := h.userJSONSlow(r, u)
		got, gotErr := h.userJSON(r, u)
		if (wantErr == nil) != (gotErr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("doc %q:\n got %s (%v)\nwant %s (%v)", doc, got, gotErr, want, wantErr)
		}
	})
}

// TestMemberJSONAsEncodingJSON: a streamed member is encoding/json's map of it.
func TestMemberJSONAsEncodingJSON(t *testing.T) {
	for _, s := range [][3]string{
		{"01a2-id", "Bench User 5", "http://127.0.0.1:8080/scim/v2/Users/01a2-id"},
		{"", "", ""},
		{"id<&>", "Ünïcödé \"q\" \\ \x01 \u2028", "https://x/Users/a%20b?&"},
		{"bad\xff", "x\xfe", "\u2029"},
	} {
		want, _ := json.Marshal(map[string]any{"value": s[0], "display": s[1], "type": "User", "$ref": s[2]})
		if got := appendMember(nil, s[0], s[1], s[2]); !bytes.Equal(got, want) {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}
