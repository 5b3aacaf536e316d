package scim

import (
	"encoding/json"
	"net/http"

	"github.com/elimity-com/scim/schema"
)

// serviceProviderConfig tells the truth about this server: PATCH, filter and ETags
// are supported; bulk, sort and password change are not. No value is null (Entra).
func serviceProviderConfig(maxBody int64) map[string]any {
	return map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/gatehouse-dev/gatehouse",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": MaxCount},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "A SCIM token from `gatehouse token create --kind scim`, sent as Authorization: Bearer <token>.",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": Prefix + "/ServiceProviderConfig"},
	}
}

// schemaDocs are the served schemas, from elimity's definitions with nulls removed.
func schemaDocs() []map[string]any {
	var out []map[string]any
	for _, s := range []schema.Schema{schema.CoreUserSchema(), schema.ExtensionEnterpriseUser(), schema.CoreGroupSchema()} {
		b, _ := json.Marshal(s)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		m = dropNulls(m).(map[string]any)
		m["meta"] = map[string]any{"resourceType": "Schema", "location": Prefix + "/Schemas/" + s.ID}
		out = append(out, m)
	}
	return out
}

// dropNulls removes null members recursively (Entra rejects nulls in discovery).
func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = dropNulls(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropNulls(e)
		}
	}
	return v
}

func (h *Handler) schemas(w http.ResponseWriter, rest []string) error {
	docs := schemaDocs()
	if len(rest) == 0 {
		res := make([]any, len(docs))
		for i, d := range docs {
			res[i] = d
		}
		return h.writeJSON(w, http.StatusOK, listResponse(len(res), 1, res))
	}
	for _, d := range docs {
		if d["id"] == rest[0] {
			return h.writeJSON(w, http.StatusOK, d)
		}
	}
	return newError(http.StatusNotFound, "", "No schema %q.", rest[0])
}

func resourceTypeDocs() []map[string]any {
	return []map[string]any{
		{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}, "id": "User", "name": "User",
			"endpoint": "/Users", "description": "User accounts", "schema": URNUser,
			"schemaExtensions": []any{map[string]any{"schema": URNEnterprise, "required": false}},
			"meta":             map[string]any{"resourceType": "ResourceType", "location": Prefix + "/ResourceTypes/User"},
		},
		{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}, "id": "Group", "name": "Group",
			"endpoint": "/Groups", "description": "Groups of the directory", "schema": URNGroup,
			"schemaExtensions": []any{},
			"meta":             map[string]any{"resourceType": "ResourceType", "location": Prefix + "/ResourceTypes/Group"},
		},
	}
}

func (h *Handler) resourceTypes(w http.ResponseWriter, r *http.Request, rest []string) error {
	docs := resourceTypeDocs()
	if len(rest) == 0 {
		res := make([]any, len(docs))
		for i, d := range docs {
			res[i] = d
		}
		return h.writeJSON(w, http.StatusOK, listResponse(len(res), 1, res))
	}
	for _, d := range docs {
		if d["id"] == rest[0] {
			return h.writeJSON(w, http.StatusOK, d)
		}
	}
	return newError(http.StatusNotFound, "", "No resource type %q.", rest[0])
}
