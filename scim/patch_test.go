package scim

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func ops(t *testing.T, js string) []patchOp {
	t.Helper()
	var raw []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		t.Fatal(err)
	}
	var out []patchOp
	for _, o := range raw {
		p := patchOp{op: strings.ToLower(o.Op), path: o.Path}
		if len(o.Value) > 0 && string(o.Value) != "null" {
			json.Unmarshal(o.Value, &p.value)
			p.hasValue = true
		}
		out = append(out, p)
	}
	return out
}

// TestUserPatchDialects applies each dialect to a document and compares the result.
func TestUserPatchDialects(t *testing.T) {
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	cases := []struct {
		name, doc, ops, want string
	}{
		{"okta deactivate", `{"userName":"u","active":true}`, `[{"op":"replace","value":{"active":false}}]`, `{"userName":"u","active":false}`},
		{"entra string boolean", `{"userName":"u","active":true}`, `[{"op":"replace","path":"active","value":"False"}]`, `{"userName":"u","active":false}`},
		{"read-only keys in a value map are ignored", `{"userName":"u"}`, `[{"op":"replace","value":{"id":"x","meta":{"version":"1"},"groups":[],"schemas":["s"],"title":"T"}}]`, `{"userName":"u","title":"T"}`},
		{"unknown keys in a value map are ignored", `{"userName":"u"}`, `[{"op":"add","value":{"urn:custom:ext:1.0:User:x":"y","nope":1,"title":"T"}}]`, `{"userName":"u","title":"T"}`},
		{"dotted key", `{"userName":"u","name":{"givenName":"a","familyName":"b"}}`, `[{"op":"replace","value":{"name.givenName":"c"}}]`, `{"userName":"u","name":{"givenName":"c","familyName":"b"}}`},
		{"complex replace merges", `{"userName":"u","name":{"givenName":"a","familyName":"b"}}`, `[{"op":"replace","path":"name","value":{"givenName":"c"}}]`, `{"userName":"u","name":{"givenName":"c","familyName":"b"}}`},
		{"remove a sub-attribute", `{"userName":"u","name":{"givenName":"a"}}`, `[{"op":"remove","path":"name.givenName"}]`, `{"userName":"u"}`},
		{"URN key in a value map", `{"userName":"u"}`, `[{"op":"add","value":{"` + ent + `:department":"D"}}]`, `{"userName":"u","` + ent + `":{"department":"D"}}`},
		{"extension object in a value map", `{"userName":"u"}`, `[{"op":"add","value":{"` + ent + `":{"division":"X","manager":"m1"}}}]`, `{"userName":"u","` + ent + `":{"division":"X","manager":{"value":"m1"}}}`},
		{"path is the extension URN", `{"userName":"u"}`, `[{"op":"replace","path":"` + ent + `","value":{"costCenter":"C"}}]`, `{"userName":"u","` + ent + `":{"costCenter":"C"}}`},
		{"remove the extension", `{"userName":"u","` + ent + `":{"costCenter":"C"}}`, `[{"op":"remove","path":"` + ent + `"}]`, `{"userName":"u"}`},
		{"remove the last extension attribute drops the extension", `{"userName":"u","` + ent + `":{"costCenter":"C"}}`, `[{"op":"remove","path":"` + ent + `:costCenter"}]`, `{"userName":"u"}`},
		{"manager.value path", `{"userName":"u"}`, `[{"op":"add","path":"` + ent + `:manager.value","value":"m2"}]`, `{"userName":"u","` + ent + `":{"manager":{"value":"m2"}}}`},
		{"add email dedupes", `{"userName":"u","emails":[{"value":"a@x","type":"work"}]}`, `[{"op":"add","path":"emails","value":[{"value":"a@x","type":"work"}]}]`, `{"userName":"u","emails":[{"value":"a@x","type":"work"}]}`},
		{"new primary clears the old", `{"userName":"u","emails":[{"value":"a@x","type":"work","primary":true}]}`, `[{"op":"add","path":"emails","value":[{"value":"b@x","type":"home","primary":"True"}]}]`, `{"userName":"u","emails":[{"value":"a@x","type":"work","primary":false},{"value":"b@x","type":"home","primary":true}]}`},
		{"add to a missing filtered entry creates it", `{"userName":"u"}`, `[{"op":"add","path":"emails[type eq \"work\"].value","value":"w@x"}]`, `{"userName":"u","emails":[{"type":"work","value":"w@x"}]}`},
		{"add to an existing filtered entry replaces the sub-attribute", `{"userName":"u","emails":[{"type":"work","value":"old@x"}]}`, `[{"op":"add","path":"emails[type eq \"work\"].value","value":"w@x"}]`, `{"userName":"u","emails":[{"type":"work","value":"w@x"}]}`},
		{"remove a filtered sub-attribute value drops the entry", `{"userName":"u","emails":[{"type":"work","value":"a@x"},{"type":"home","value":"b@x"}]}`, `[{"op":"remove","path":"emails[type eq \"work\"].value"}]`, `{"userName":"u","emails":[{"type":"home","value":"b@x"}]}`},
		{"remove with a value list removes only those", `{"userName":"u","emails":[{"value":"a@x"},{"value":"b@x"}]}`, `[{"op":"remove","path":"emails","value":[{"value":"a@x"}]}]`, `{"userName":"u","emails":[{"value":"b@x"}]}`},
		{"remove all", `{"userName":"u","emails":[{"value":"a@x"},{"value":"b@x"}]}`, `[{"op":"remove","path":"emails"}]`, `{"userName":"u"}`},
		{"remove a missing filtered entry is a no-op", `{"userName":"u"}`, `[{"op":"remove","path":"emails[type eq \"work\"]"}]`, `{"userName":"u"}`},
		{"replace a multi-valued attribute", `{"userName":"u","phoneNumbers":[{"value":"1"}]}`, `[{"op":"replace","path":"phoneNumbers","value":[{"value":"+1 (555) 0100","type":"work"}]}]`, `{"userName":"u","phoneNumbers":[{"value":"+1 (555) 0100","type":"work"}]}`},
		{"value filter with a string boolean", `{"userName":"u","roles":[{"value":"a","primary":true},{"value":"b"}]}`, `[{"op":"replace","path":"roles[primary eq \"True\"].display","value":"A"}]`, `{"userName":"u","roles":[{"value":"a","primary":true,"display":"A"},{"value":"b"}]}`},
		{"value filter with or", `{"userName":"u","emails":[{"value":"a@x","type":"work"},{"value":"b@y","type":"home"},{"value":"c@z","type":"other"}]}`, `[{"op":"remove","path":"emails[type eq \"WORK\" or value ew \"@Y\"]"}]`, `{"userName":"u","emails":[{"value":"c@z","type":"other"}]}`},
		{"capitalised ops and $ref null", `{"userName":"u"}`, `[{"op":"add","path":"x509Certificates","value":[{"value":"MII","$ref":null}]}]`, `{"userName":"u","x509Certificates":[{"value":"MII"}]}`},
		{"null value removes", `{"userName":"u","title":"T"}`, `[{"op":"replace","value":{"title":null}}]`, `{"userName":"u"}`},
		{"attribute names are case-insensitive", `{"userName":"u"}`, `[{"op":"add","path":"NICKNAME","value":"n"},{"op":"add","path":"Name.GivenName","value":"g"}]`, `{"userName":"u","nickName":"n","name":{"givenName":"g"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var doc, want map[string]any
			json.Unmarshal([]byte(c.doc), &doc)
			json.Unmarshal([]byte(c.want), &want)
			for _, op := range ops(t, c.ops) {
				if err := applyUserOp(doc, op); err != nil {
					t.Fatalf("apply: %v", err)
				}
			}
			got, _ := json.Marshal(doc)
			var gotm map[string]any
			json.Unmarshal(got, &gotm)
			if !reflect.DeepEqual(gotm, want) {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestGroupMemberDialects folds member operations into one change.
func TestGroupMemberDialects(t *testing.T) {
	cases := []struct {
		name, ops   string
		replace     bool
		add, remove []string
		attrOps     int
	}{
		{"okta delta", `[{"op":"remove","path":"members[value eq \"a\"]"},{"op":"add","path":"members","value":[{"value":"b","display":"B"}]}]`, false, []string{"b"}, []string{"a"}, 0},
		{"entra add with $ref null", `[{"op":"Add","path":"members","value":[{"$ref":null,"value":"a"}]}]`, false, []string{"a"}, nil, 0},
		{"entra remove by value list", `[{"op":"Remove","path":"members","value":[{"value":"a"}]}]`, false, nil, []string{"a"}, 0},
		{"remove all", `[{"op":"remove","path":"members"}]`, true, []string{}, nil, 0},
		{"replace all", `[{"op":"replace","path":"members","value":[{"value":"a"},{"value":"b"}]}]`, true, []string{"a", "b"}, nil, 0},
		{"replace then add and remove", `[{"op":"replace","path":"members","value":[{"value":"a"},{"value":"b"}]},{"op":"add","path":"members","value":[{"value":"c"}]},{"op":"remove","path":"members[value eq \"a\"]"}]`, true, []string{"b", "c"}, nil, 0},
		{"add then remove the same", `[{"op":"add","path":"members","value":[{"value":"a"}]},{"op":"remove","path":"members[value eq \"a\"]"}]`, false, nil, []string{"a"}, 0},
		{"or filter", `[{"op":"remove","path":"members[value eq \"a\" or value eq \"b\"]"}]`, false, nil, []string{"a", "b"}, 0},
		{"okta reconcile", `[{"op":"replace","value":{"id":"g","displayName":"G"}}]`, false, nil, nil, 1},
		{"path-less members", `[{"op":"replace","value":{"displayName":"G","members":[{"value":"a"}]}}]`, true, []string{"a"}, nil, 1},
		{"entra rename", `[{"op":"Replace","path":"displayName","value":"x"}]`, false, nil, nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mc, attrOps, err := groupChange(ops(t, c.ops))
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(mc.Add)
			slices.Sort(mc.Remove)
			if mc.Replace != c.replace || !slices.Equal(mc.Add, c.add) || !slices.Equal(mc.Remove, c.remove) || len(attrOps) != c.attrOps {
				t.Errorf("got %+v (%d attribute ops), want replace=%v add=%v remove=%v (%d)", mc, len(attrOps), c.replace, c.add, c.remove, c.attrOps)
			}
			if c.replace && mc.Add == nil {
				t.Error("replace with a nil list would keep members")
			}
		})
	}
}
