package scim

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzPatchPath: any path and value either apply or fail with a SCIM 4xx error;
// never a panic, never an internal error, and the document stays JSON.
func FuzzPatchPath(f *testing.F) {
	for _, s := range [][3]string{
		{"replace", "active", `"False"`},
		{"add", `emails[type eq "work"].value`, `"x@y"`},
		{"remove", `emails[type eq "work" and primary eq "True"]`, ``},
		{"replace", "", `{"name.givenName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"1","id":"x"}`},
		{"add", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", `"m"`},
		{"replace", "roles[primary eq \"True\"].display", `"d"`},
		{"remove", "members[value eq \"a\" or value eq \"b\"]", ``},
		{"add", "members", `[{"$ref":null,"value":"a"}]`},
		{"remove", "members", `[{"value":"a"}]`},
		{"replace", "name", `{"givenName":["x"]}`},
		{"add", "phoneNumbers", `{"value":"1","primary":"maybe"}`},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, op, path, value string) {
		p := patchOp{op: op, path: path}
		if value != "" {
			if json.Unmarshal([]byte(value), &p.value) != nil {
				return
			}
			p.hasValue = p.value != nil
		}
		doc := map[string]any{"userName": "u", "emails": []any{map[string]any{"value": "a@x", "type": "work", "primary": true}},
			"roles": []any{map[string]any{"value": "r", "primary": true}}}
		check := func(err error) {
			if err == nil {
				return
			}
			var se *scimError
			if !errors.As(err, &se) || se.status != 400 {
				t.Fatalf("%s %q %s: %v is not a SCIM 400", op, path, value, err)
			}
		}
		check(applyUserOp(doc, p))
		if _, err := json.Marshal(doc); err != nil {
			t.Fatalf("document no longer JSON: %v", err)
		}
		_, _, err := groupChange([]patchOp{p})
		check(err)
		gdoc := map[string]any{"displayName": "g"}
		check(applyOp(groupSchema, gdoc, p))
	})
}
