package scim

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/elimity-com/scim/schema"
)

// Schema URNs.
const (
	URNUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	URNGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	URNEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	URNListResp   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	URNPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	URNSearch     = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	URNError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	// URNEntraGroup is the extra schema Entra puts on groups it creates; accepted, not echoed.
	URNEntraGroup = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
)

// attrDef is one attribute of a schema, as the PATCH and normalization code needs
// it. The definitions come from elimity's schema package (the same definitions
// /Schemas serves), read once into this immutable table.
type attrDef struct {
	name       string // canonical case
	typ        string // string, boolean, complex, reference, dateTime, integer, decimal, binary
	multi      bool
	mutability string // readWrite, readOnly, immutable, writeOnly
	caseExact  bool
	subs       map[string]*attrDef // lower-case name → sub-attribute
}

// attrTable is the attributes of one schema by lower-case name.
type attrTable map[string]*attrDef

func tableOf(s schema.Schema) attrTable {
	t := attrTable{}
	for _, a := range s.Attributes {
		t[strings.ToLower(a.Name())] = defOf(a)
	}
	return t
}

func defOf(a schema.CoreAttribute) *attrDef {
	d := &attrDef{name: a.Name(), typ: a.AttributeType(), multi: a.MultiValued(), mutability: a.Mutability(), caseExact: a.CaseExact()}
	if a.HasSubAttributes() {
		d.subs = map[string]*attrDef{}
		for _, s := range a.SubAttributes() {
			d.subs[strings.ToLower(s.Name())] = defOf(s)
		}
	}
	return d
}

// resourceSchema is a resource type's core attributes plus its extensions.
type resourceSchema struct {
	core attrTable
	urn  string
	ext  map[string]attrTable // lower-case URN → attributes
	// extURN maps a lower-case extension URN to its canonical spelling.
	extURN map[string]string
}

// common attributes every resource has (RFC 7643 §3.1), kept out of elimity's tables.
func withCommon(t attrTable) attrTable {
	t["id"] = &attrDef{name: "id", typ: "string", mutability: "readOnly", caseExact: true}
	t["externalid"] = &attrDef{name: "externalId", typ: "string", mutability: "readWrite", caseExact: true}
	t["meta"] = &attrDef{name: "meta", typ: "complex", mutability: "readOnly"}
	t["schemas"] = &attrDef{name: "schemas", typ: "string", multi: true, mutability: "readOnly"}
	return t
}

func newUserSchema() *resourceSchema {
	core := withCommon(tableOf(schema.CoreUserSchema()))
	// Groups of a user are derived from group membership (RFC 7643 §4.1.2): read-only.
	if g, ok := core["groups"]; ok {
		g.mutability = "readOnly"
	}
	return &resourceSchema{
		core:   core,
		urn:    URNUser,
		ext:    map[string]attrTable{strings.ToLower(URNEnterprise): tableOf(schema.ExtensionEnterpriseUser())},
		extURN: map[string]string{strings.ToLower(URNEnterprise): URNEnterprise},
	}
}

func newGroupSchema() *resourceSchema {
	return &resourceSchema{core: withCommon(tableOf(schema.CoreGroupSchema())), urn: URNGroup, ext: map[string]attrTable{}, extURN: map[string]string{}}
}

// splitURN splits "urn:…:User:name.givenName" into the schema URN (lower case, ""
// for none or the core URN) and the rest. It reports false for an unknown URN.
func (rs *resourceSchema) splitURN(path string) (ext string, rest string, ok bool) {
	lp := strings.ToLower(path)
	if !strings.HasPrefix(lp, "urn:") {
		return "", path, true
	}
	core := strings.ToLower(rs.urn)
	if strings.HasPrefix(lp, core+":") {
		return "", path[len(core)+1:], true
	}
	for u := range rs.ext {
		if lp == u {
			return u, "", true
		}
		if strings.HasPrefix(lp, u+":") {
			return u, path[len(u)+1:], true
		}
	}
	return "", "", false
}

// table returns the attribute table of an extension ("" for core).
func (rs *resourceSchema) table(ext string) attrTable {
	if ext == "" {
		return rs.core
	}
	return rs.ext[ext]
}

// normalizeValue checks v against d and returns it in canonical form: sub-attribute
// names in canonical case, Entra's "True"/"False" strings as booleans, nulls and
// unknown sub-attributes dropped, a single object where a list is due wrapped.
// ok=false means "absent" (null).
func normalizeValue(d *attrDef, v any, inMulti bool) (any, bool, error) {
	if v == nil {
		return nil, false, nil
	}
	if d.multi && !inMulti {
		list, isList := v.([]any)
		if !isList {
			list = []any{v}
		}
		out := make([]any, 0, len(list))
		for _, el := range list {
			nv, ok, err := normalizeValue(d, el, true)
			if err != nil {
				return nil, false, err
			}
			if ok {
				out = append(out, nv)
			}
		}
		return out, true, nil
	}
	switch d.typ {
	case "complex":
		m, isMap := v.(map[string]any)
		if !isMap {
			// A manager given as a bare id, an email given as a bare string: the
			// value sub-attribute.
			if vs, ok := d.subs["value"]; ok {
				nv, ok, err := normalizeValue(vs, v, false)
				if err != nil || !ok {
					return nil, ok, err
				}
				return map[string]any{vs.name: nv}, true, nil
			}
			return nil, false, invalidValuef("%s must be an object", d.name)
		}
		out := make(map[string]any, len(m))
		for k, sv := range m {
			sd, ok := d.subs[strings.ToLower(k)]
			if !ok {
				continue
			}
			nv, ok, err := normalizeValue(sd, sv, false)
			if err != nil {
				return nil, false, err
			}
			if ok {
				out[sd.name] = nv
			}
		}
		if len(out) == 0 {
			return nil, false, nil
		}
		return out, true, nil
	case "boolean":
		b, err := toBool(v)
		if err != nil {
			return nil, false, invalidValuef("%s must be a boolean", d.name)
		}
		return b, true, nil
	case "integer":
		switch n := v.(type) {
		case float64:
			return n, true, nil
		case json.Number:
			return n, true, nil
		case string:
			if i, err := strconv.ParseInt(n, 10, 64); err == nil {
				return float64(i), true, nil
			}
		}
		return nil, false, invalidValuef("%s must be an integer", d.name)
	case "decimal":
		if n, ok := v.(float64); ok {
			return n, true, nil
		}
		return nil, false, invalidValuef("%s must be a number", d.name)
	default: // string, reference, dateTime, binary
		switch s := v.(type) {
		case string:
			return s, true, nil
		case float64:
			// Some IdPs send numeric employee numbers; keep the text.
			return strconv.FormatFloat(s, 'f', -1, 64), true, nil
		case bool:
			return strconv.FormatBool(s), true, nil
		}
		return nil, false, invalidValuef("%s must be a string", d.name)
	}
}

// toBool accepts JSON booleans and the "True"/"False" strings Entra sends.
func toBool(v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, invalidValuef("not a boolean")
}
