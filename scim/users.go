package scim

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (h *Handler) userOps() resourceOps {
	return resourceOps{list: h.listUsers, create: h.createUser, get: h.getUser, put: h.putUser, patch: h.patchUser, del: h.deleteUser}
}

// normalizeDoc turns a POST/PUT body into the stored document: known attributes
// only, in canonical case, with extension attributes under their URN; read-only
// attributes (id, meta, groups), schemas and Okta's password are dropped.
func normalizeDoc(rs *resourceSchema, body map[string]any) (map[string]any, error) {
	doc := map[string]any{}
	for k, v := range body {
		if strings.EqualFold(k, "password") {
			continue
		}
		ext, rest, ok := rs.splitURN(k)
		if !ok {
			continue // an extension we do not support: ignored, as RFC 7644 allows
		}
		if ext != "" && rest == "" {
			m, isMap := v.(map[string]any)
			if !isMap {
				if v == nil {
					continue
				}
				return nil, invalidValuef("%s must be an object", k)
			}
			for ek, ev := range m {
				if err := setTop(rs, doc, ext, ek, ev); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := setTop(rs, doc, ext, rest, v); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// setTop sets one top-level (or extension) attribute of doc from a body value.
func setTop(rs *resourceSchema, doc map[string]any, ext, name string, v any) error {
	d, ok := rs.table(ext)[strings.ToLower(name)]
	if !ok || d.mutability == "readOnly" {
		return nil
	}
	nv, present, err := normalizeValue(d, v, false)
	if err != nil {
		return err
	}
	target := doc
	if ext != "" {
		canon := rs.extURN[ext]
		m, _ := doc[canon].(map[string]any)
		if m == nil {
			m = map[string]any{}
			doc[canon] = m
		}
		target = m
	}
	if present {
		target[d.name] = nv
	} else {
		delete(target, d.name)
	}
	return nil
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// projectUser fills the filterable columns of u from doc and stores doc in u.Doc.
func projectUser(doc map[string]any, u *store.SCIMUser) error {
	u.UserName = str(doc, "userName")
	if strings.TrimSpace(u.UserName) == "" {
		return invalidValuef("userName is required")
	}
	u.ExternalID = str(doc, "externalId")
	name, _ := doc["name"].(map[string]any)
	u.GivenName, u.FamilyName = str(name, "givenName"), str(name, "familyName")
	u.DisplayName = str(doc, "displayName")
	if u.DisplayName == "" {
		u.DisplayName = str(name, "formatted")
	}
	if u.DisplayName == "" {
		u.DisplayName = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
	}
	if a, ok := doc["active"].(bool); ok {
		u.Active = a
	}
	u.Title, u.Locale, u.Timezone = str(doc, "title"), str(doc, "locale"), str(doc, "timezone")
	u.NickName, u.UserType, u.PreferredLanguage = str(doc, "nickName"), str(doc, "userType"), str(doc, "preferredLanguage")
	ent, _ := doc[URNEnterprise].(map[string]any)
	u.EmployeeNumber, u.Department, u.CostCenter = str(ent, "employeeNumber"), str(ent, "department"), str(ent, "costCenter")
	u.Organization, u.Division = str(ent, "organization"), str(ent, "division")
	mgr, _ := ent["manager"].(map[string]any)
	u.ManagerID = str(mgr, "value")
	if len(ent) == 0 {
		delete(doc, URNEnterprise)
	}
	u.Emails = nil
	u.Email = ""
	emails, _ := doc["emails"].([]any)
	seenType := map[string]bool{}
	for _, e := range emails {
		m, _ := e.(map[string]any)
		v := str(m, "value")
		if v == "" {
			return invalidValuef("every email needs a value")
		}
		t := str(m, "type")
		if t != "" && seenType[strings.ToLower(t)] {
			return invalidValuef("emails has two entries of type %q", t)
		}
		seenType[strings.ToLower(t)] = t != ""
		p, _ := m["primary"].(bool)
		u.Emails = append(u.Emails, store.SCIMEmail{Value: v, Type: t, Primary: p})
		if p && u.Email == "" {
			u.Email = v
		}
	}
	if u.Email == "" && len(u.Emails) > 0 {
		u.Email = u.Emails[0].Value
		for _, e := range u.Emails {
			if strings.EqualFold(e.Type, "work") {
				u.Email = e.Value
				break
			}
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return invalidValuef("the resource cannot be stored")
	}
	u.Doc = b
	return nil
}

// userJSON is the SCIM representation of a stored user. The stored document is
// JSON that projectUser wrote with encoding/json (compact, valid), so its
// attributes are copied as they are, not decoded into values and encoded again:
// on a page of 100 users that round trip cost more than the query. The columns
// override the document's id, userName, active and externalId (other paths, the
// CLI and the API, change those); keys come out sorted, as encoding/json writes
// a map.
func (h *Handler) userJSON(r *http.Request, u store.SCIMUser) ([]byte, error) {
	if b, ok := fastUserJSON(u, h.location(r, "Users", u.ID)); ok {
		return b, nil
	}
	return h.userJSONSlow(r, u)
}

// userJSONSlow is userJSON through a map of the document's attributes: the
// reference fastUserJSON is held to, and the path of a document it does not take.
func (h *Handler) userJSONSlow(r *http.Request, u store.SCIMUser) ([]byte, error) {
	attrs := map[string]json.RawMessage{}
	if len(u.Doc) > 0 {
		if err := json.Unmarshal(u.Doc, &attrs); err != nil {
			return nil, err
		}
	}
	if _, ok := attrs[URNEnterprise]; ok {
		attrs["schemas"] = schemasUserEnterprise
	} else {
		attrs["schemas"] = schemasUser
	}
	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		attrs[k] = b
		return err
	}
	err := errors.Join(set("id", u.ID), set("userName", u.UserName), set("active", u.Active),
		set("meta", userMeta{ResourceType: "User", Created: formatTime(u.CreatedAt), LastModified: formatTime(u.UpdatedAt),
			Location: h.location(r, "Users", u.ID), Version: etag(u.Version)}))
	if u.ExternalID != "" {
		err = errors.Join(err, set("externalId", u.ExternalID))
	}
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]byte, 0, len(u.Doc)+512)
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		out = append(append(append(out, kb...), ':'), attrs[k]...)
	}
	return append(out, '}'), nil
}

var (
	schemasUser           = json.RawMessage(`["` + URNUser + `"]`)
	schemasUserEnterprise = json.RawMessage(`["` + URNUser + `","` + URNEnterprise + `"]`)
)

// userMeta is a user's meta, its fields in encoding/json's map order.
type userMeta struct {
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
	Location     string `json:"location"`
	ResourceType string `json:"resourceType"`
	Version      string `json:"version"`
}

// userResource is userJSON with a request's attributes or excludedAttributes
// applied (RFC 7644 3.9).
func (h *Handler) userResource(r *http.Request, u store.SCIMUser, attrs, excluded []string) (json.RawMessage, error) {
	b, err := h.userJSON(r, u)
	if err != nil || (len(attrs) == 0 && len(excluded) == 0) {
		return b, err
	}
	var res map[string]any
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	return json.Marshal(project(userSchema, res, attrs, excluded))
}

func decodeObject(r *http.Request) (map[string]any, error) {
	var body map[string]any
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	if body == nil {
		return nil, invalidSyntaxf("the request body must be a JSON object")
	}
	return body, nil
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, tn tenant) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	doc, err := normalizeDoc(userSchema, body)
	if err != nil {
		return err
	}
	if _, ok := doc["active"]; !ok {
		doc["active"] = true
	}
	u := store.SCIMUser{}
	u.OrgID, u.DirectoryID = tn.orgID, tn.directoryID
	if err := projectUser(doc, &u); err != nil {
		return err
	}
	// An adoption posting "active": false may deprovision the last admin.
	ctx, lastAdmin := store.WatchLastAdmin(r.Context())
	created, err := h.Store.SCIMCreateUser(ctx, tn.actor, u)
	if err != nil {
		return err
	}
	if *lastAdmin {
		h.warnNoAdmin(tn, created.ID)
	}
	res, err := h.userJSON(r, created)
	if err != nil {
		return err
	}
	w.Header().Set("Location", h.location(r, "Users", created.ID))
	w.Header().Set("ETag", etag(created.Version))
	return h.writeRaw(w, http.StatusCreated, res)
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, tn tenant, id string) error {
	u, err := h.Store.SCIMGetUser(r.Context(), tn.orgID, tn.directoryID, id)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(u.Version))
	if notModified(r, u.Version) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	q := r.URL.Query()
	res, err := h.userResource(r, u, splitList(q.Get("attributes")), splitList(q.Get("excludedAttributes")))
	if err != nil {
		return err
	}
	return h.writeRaw(w, http.StatusOK, res)
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, tn tenant, lp listParams) error {
	q := store.SCIMQuery{StartIndex: lp.startIndex, Count: lp.count}
	if strings.TrimSpace(lp.filter) != "" {
		f, err := parseFilter(&userFilterNames, lp.filter)
		if err != nil {
			return &filterError{err}
		}
		q.Filter = f
	}
	users, total, err := h.Store.SCIMListUsers(r.Context(), tn.orgID, tn.directoryID, q)
	if err != nil {
		if errors.Is(err, errInvalid) {
			return &filterError{err}
		}
		return err
	}
	resources := make([]json.RawMessage, len(users))
	for i, u := range users {
		if resources[i], err = h.userResource(r, u, lp.attrs, lp.excluded); err != nil {
			return err
		}
	}
	return h.writeRaw(w, http.StatusOK, listJSON(total, lp.startIndex, resources))
}

// listJSON is listResponse of resources already in JSON, written around them
// rather than through encoding/json, which would scan every resource again.
func listJSON(total, start int, resources []json.RawMessage) []byte {
	n := 0
	for _, r := range resources {
		n += len(r) + 1
	}
	out := make([]byte, 0, n+160)
	out = append(out, `{"Resources":[`...)
	for i, r := range resources {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	out = append(out, `],"itemsPerPage":`...)
	out = strconv.AppendInt(out, int64(len(resources)), 10)
	out = append(out, `,"schemas":["`+URNListResp+`"],"startIndex":`...)
	out = strconv.AppendInt(out, int64(start), 10)
	out = append(out, `,"totalResults":`...)
	out = strconv.AppendInt(out, int64(total), 10)
	return append(out, '}')
}

func listResponse(total, start int, resources []any) map[string]any {
	return map[string]any{
		"schemas":      []string{URNListResp},
		"totalResults": total,
		"startIndex":   start,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	}
}

func (h *Handler) putUser(w http.ResponseWriter, r *http.Request, tn tenant, id string) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	doc, err := normalizeDoc(userSchema, body)
	if err != nil {
		return err
	}
	ctx, lastAdmin := store.WatchLastAdmin(r.Context())
	updated, err := h.Store.SCIMUpdateUser(ctx, tn.actor, tn.orgID, tn.directoryID, id, func(u *store.SCIMUser) error {
		if err := ifMatch(r, u.Version); err != nil {
			return err
		}
		// fn may run more than once (the store may read the user twice): each run
		// starts from the request's document.
		doc := maps.Clone(doc)
		// A PUT without active keeps the current state (Okta's AIW PUTs the whole
		// user and must not reactivate or deactivate by omission).
		if _, ok := doc["active"]; !ok {
			doc["active"] = u.Active
		}
		return projectUser(doc, u)
	})
	if err != nil {
		return err
	}
	if *lastAdmin {
		h.warnNoAdmin(tn, updated.ID)
	}
	res, err := h.userJSON(r, updated)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(updated.Version))
	return h.writeRaw(w, http.StatusOK, res)
}

func (h *Handler) patchUser(w http.ResponseWriter, r *http.Request, tn tenant, id string) error {
	ops, err := decodePatch(r)
	if err != nil {
		return err
	}
	ctx, lastAdmin := store.WatchLastAdmin(r.Context())
	updated, err := h.Store.SCIMUpdateUser(ctx, tn.actor, tn.orgID, tn.directoryID, id, func(u *store.SCIMUser) error {
		if err := ifMatch(r, u.Version); err != nil {
			return err
		}
		doc := map[string]any{}
		if len(u.Doc) > 0 {
			if err := json.Unmarshal(u.Doc, &doc); err != nil {
				return err
			}
		}
		// The columns are authoritative for what other paths (CLI, API) change.
		doc["userName"] = u.UserName
		doc["active"] = u.Active
		for i, op := range ops {
			if err := applyUserOp(doc, op); err != nil {
				return opError(i, err)
			}
		}
		return projectUser(doc, u)
	})
	if err != nil {
		return err
	}
	if *lastAdmin {
		h.warnNoAdmin(tn, updated.ID)
	}
	q := r.URL.Query()
	res, err := h.userResource(r, updated, splitList(q.Get("attributes")), splitList(q.Get("excludedAttributes")))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(updated.Version))
	return h.writeRaw(w, http.StatusOK, res)
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request, tn tenant, id string) error {
	if r.Header.Get("If-Match") != "" {
		u, err := h.Store.SCIMGetUser(r.Context(), tn.orgID, tn.directoryID, id)
		if err != nil {
			return err
		}
		if err := ifMatch(r, u.Version); err != nil {
			return err
		}
	}
	ctx, lastAdmin := store.WatchLastAdmin(r.Context())
	if err := h.Store.SCIMDeleteUser(ctx, tn.actor, tn.orgID, tn.directoryID, id); err != nil {
		return err
	}
	if *lastAdmin {
		h.warnNoAdmin(tn, id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// warnNoAdmin logs at WARN that a deprovisioning through the directory removed the
// org's last active admin: the directory owns the user and the IdP is
// authoritative for people who leave, so it succeeded, but someone must recover
// the org (see the admin overview and docs/operations.md).
func (h *Handler) warnNoAdmin(tn tenant, userID string) {
	h.logger().Warn("scim: the directory deprovisioned the organization's last active admin; the org has no active admin until an operator recovers it",
		"org", tn.orgID, "directory", tn.directoryID, "user", userID,
		"recover", "gatehouse org add-admin --org SLUG --email EMAIL prints a single-use sign-in link for a new org admin; see docs/operations.md, Identity sources and trust")
}
