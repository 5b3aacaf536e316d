package scim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/scim2/filter-parser/v2"
)

var errInvalid = core.ErrInvalid

func (h *Handler) groupOps() resourceOps {
	return resourceOps{list: h.listGroups, create: h.createGroup, get: h.getGroup, put: h.putGroup, patch: h.patchGroup, del: h.deleteGroup}
}

// renderGroup is a group without its members (they are streamed, see writeGroup).
func (h *Handler) renderGroup(r *http.Request, g store.SCIMGroup) map[string]any {
	res := map[string]any{
		"schemas":     []string{URNGroup},
		"id":          g.ID,
		"displayName": g.DisplayName,
		"meta": map[string]any{
			"resourceType": "Group",
			"created":      formatTime(g.CreatedAt),
			"lastModified": formatTime(g.UpdatedAt),
			"location":     h.location(r, "Groups", g.ID),
			"version":      etag(g.Version),
		},
	}
	if g.ExternalID != "" {
		res["externalId"] = g.ExternalID
	}
	return res
}

// wantMembers reports whether attributes/excludedAttributes leave members in.
func wantMembers(attrs, excluded []string) bool {
	is := func(a string) bool {
		a = strings.ToLower(a)
		a = strings.TrimPrefix(a, strings.ToLower(URNGroup)+":")
		return a == "members" || strings.HasPrefix(a, "members.")
	}
	for _, e := range excluded {
		if is(e) {
			return false
		}
	}
	if len(attrs) == 0 {
		return true
	}
	for _, a := range attrs {
		if is(a) {
			return true
		}
	}
	return false
}

// membersPage is how many members one query reads while streaming (a variable for
// the test that streams a group over several pages).
var membersPage = store.MaxMemberPage

// writeGroup writes a group as JSON, streaming its members page by page so a group
// of any size is never held in memory. page, when not nil, is the first page of
// members, already read.
func (h *Handler) writeGroup(bw *bufio.Writer, r *http.Request, g store.SCIMGroup, res map[string]any, members bool, page []store.SCIMMember) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if !members {
		_, err = bw.Write(b)
		return err
	}
	b = bytes.TrimSuffix(b, []byte("}"))
	bw.Write(b)
	if len(res) > 0 {
		bw.WriteString(",")
	}
	bw.WriteString(`"members":[`)
	after, first := "", true
	var buf []byte
	users := h.resourcesURL(r) + "/Users/"
	for {
		if page == nil {
			if page, err = h.Store.SCIMGroupMembers(r.Context(), g.OrgID, g.DirectoryID, g.ID, after, membersPage); err != nil {
				return err
			}
		}
		for _, m := range page {
			if !first {
				bw.WriteString(",")
			}
			first = false
			buf = appendMember(buf[:0], m.ID, m.Display, users+url.PathEscape(m.ID))
			bw.Write(buf)
		}
		if len(page) < membersPage {
			break
		}
		after, page = page[len(page)-1].ID, nil
	}
	_, err = bw.WriteString("]}")
	return err
}

// writeGroupMembers answers with a group and its members. The first page of members
// is read before the status is sent, so a failure there is still a clean error; a
// later one can only cut the answer short, and does so by dropping the connection,
// so that no client takes a truncated group for a whole one.
func (h *Handler) writeGroupMembers(w http.ResponseWriter, r *http.Request, status int, g store.SCIMGroup, res map[string]any) error {
	first, err := h.Store.SCIMGroupMembers(r.Context(), g.OrgID, g.DirectoryID, g.ID, "", membersPage)
	if err != nil {
		return err
	}
	if first == nil {
		first = []store.SCIMMember{}
	}
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	bw := bufio.NewWriterSize(w, 32<<10)
	if err := h.writeGroup(bw, r, g, res, true, first); err != nil {
		h.abortStream(r, "group", g.ID, err)
	}
	return bw.Flush()
}

// abortStream ends a streamed answer that failed after its status was sent: it
// logs why and drops the connection (http.ErrAbortHandler), which a client sees as
// a failed request rather than a short body.
func (h *Handler) abortStream(r *http.Request, kind, id string, err error) {
	if r.Context().Err() == nil {
		h.logger().Error("scim: streaming "+kind, "id", id, "err", err)
	}
	panic(http.ErrAbortHandler)
}

func (h *Handler) getGroup(w http.ResponseWriter, r *http.Request, tn tenant, id string) error {
	g, err := h.Store.SCIMGetGroup(r.Context(), tn.orgID, tn.directoryID, id)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(g.Version))
	if notModified(r, g.Version) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	q := r.URL.Query()
	attrs, excluded := splitList(q.Get("attributes")), splitList(q.Get("excludedAttributes"))
	res := project(groupSchema, h.renderGroup(r, g), attrs, excluded)
	members := wantMembers(attrs, excluded)
	if !members {
		return h.writeJSON(w, http.StatusOK, res)
	}
	return h.writeGroupMembers(w, r, http.StatusOK, g, res)
}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request, tn tenant, lp listParams) error {
	q := store.SCIMQuery{StartIndex: lp.startIndex, Count: lp.count}
	if strings.TrimSpace(lp.filter) != "" {
		f, err := parseFilter(&groupFilterNames, lp.filter)
		if err != nil {
			return &filterError{err}
		}
		q.Filter = f
	}
	groups, total, err := h.Store.SCIMListGroups(r.Context(), tn.orgID, tn.directoryID, q)
	if err != nil {
		if errors.Is(err, errInvalid) {
			return &filterError{err}
		}
		return err
	}
	members := wantMembers(lp.attrs, lp.excluded)
	head, _ := json.Marshal(map[string]any{"schemas": []string{URNListResp}, "totalResults": total, "startIndex": lp.startIndex, "itemsPerPage": len(groups)})
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.Write(bytes.TrimSuffix(head, []byte("}")))
	bw.WriteString(`,"Resources":[`)
	for i, g := range groups {
		if i > 0 {
			bw.WriteString(",")
		}
		if err := h.writeGroup(bw, r, g, project(groupSchema, h.renderGroup(r, g), lp.attrs, lp.excluded), members, nil); err != nil {
			h.abortStream(r, "group list", g.ID, err)
		}
	}
	bw.WriteString("]}")
	return bw.Flush()
}

// memberIDs reads a members value: a list of {"value": id, ...}. Nested groups are
// rejected loudly (flat groups only, as Entra and most targets do).
func memberIDs(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, nil
		}
		list = []any{v}
	}
	ids := make([]string, 0, len(list))
	for _, el := range list {
		var id string
		switch m := el.(type) {
		case map[string]any:
			if t, _ := m["type"].(string); strings.EqualFold(t, "Group") {
				return nil, invalidValuef("nested groups are not supported: members must be users")
			}
			id, _ = m["value"].(string)
		case string:
			id = m
		}
		if strings.TrimSpace(id) == "" {
			return nil, invalidValuef("every member needs a value (the user's id)")
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// groupBody reads a group POST/PUT body.
func groupBody(body map[string]any) (displayName, externalID string, members []string, hasMembers bool, err error) {
	for k, v := range body {
		_, rest, ok := groupSchema.splitURN(k)
		if !ok {
			continue // Entra's ADSCIM group schema and other extensions: accepted, ignored
		}
		switch strings.ToLower(rest) {
		case "displayname":
			displayName, _ = v.(string)
		case "externalid":
			externalID, _ = v.(string)
		case "members":
			hasMembers = true
			if members, err = memberIDs(v); err != nil {
				return
			}
		}
	}
	if strings.TrimSpace(displayName) == "" {
		err = invalidValuef("displayName is required")
	}
	return
}

func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request, tn tenant) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	name, ext, members, _, err := groupBody(body)
	if err != nil {
		return err
	}
	g, err := h.Store.SCIMCreateGroup(r.Context(), tn.actor, store.SCIMGroup{OrgID: tn.orgID, DirectoryID: tn.directoryID, DisplayName: name, ExternalID: ext}, members)
	if err != nil {
		return err
	}
	w.Header().Set("Location", h.location(r, "Groups", g.ID))
	w.Header().Set("ETag", etag(g.Version))
	res := h.renderGroup(r, g)
	if len(members) == 0 {
		res["members"] = []any{}
		return h.writeJSON(w, http.StatusCreated, res)
	}
	return h.writeGroupMembers(w, r, http.StatusCreated, g, res)
}

func (h *Handler) putGroup(w http.ResponseWriter, r *http.Request, tn tenant, id string) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	name, ext, members, hasMembers, err := groupBody(body)
	if err != nil {
		return err
	}
	mc := store.MemberChange{}
	if hasMembers {
		mc = store.MemberChange{Replace: true, Add: members}
	}
	g, err := h.Store.SCIMUpdateGroup(r.Context(), tn.actor, tn.orgID, tn.directoryID, id, func(g *store.SCIMGroup) error {
		if err := ifMatch(r, g.Version); err != nil {
			return err
		}
		g.DisplayName, g.ExternalID = name, ext
		return nil
	}, mc)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(g.Version))
	return h.writeJSON(w, http.StatusOK, h.renderGroup(r, g))
}

// memberDelta folds a PATCH's member operations, in order, into one change.
type memberDelta struct {
	replace bool
	set     map[string]bool // replace: the final members
	add     map[string]bool
	remove  map[string]bool
	order   []string
}

func newMemberDelta() *memberDelta {
	return &memberDelta{set: map[string]bool{}, add: map[string]bool{}, remove: map[string]bool{}}
}

func (d *memberDelta) doAdd(ids []string) {
	for _, id := range ids {
		d.order = append(d.order, id)
		if d.replace {
			d.set[id] = true
			continue
		}
		delete(d.remove, id)
		d.add[id] = true
	}
}

func (d *memberDelta) doRemove(ids []string) {
	for _, id := range ids {
		if d.replace {
			delete(d.set, id)
			continue
		}
		delete(d.add, id)
		d.remove[id] = true
		d.order = append(d.order, id)
	}
}

func (d *memberDelta) doReplace(ids []string) {
	d.replace = true
	d.set = map[string]bool{}
	d.add, d.remove = map[string]bool{}, map[string]bool{}
	d.order = d.order[:0]
	d.doAdd(ids)
}

func (d *memberDelta) change() store.MemberChange {
	var mc store.MemberChange
	mc.Replace = d.replace
	seen := map[string]bool{}
	for _, id := range d.order {
		if seen[id] {
			continue
		}
		seen[id] = true
		switch {
		case d.replace && d.set[id]:
			mc.Add = append(mc.Add, id)
		case !d.replace && d.add[id]:
			mc.Add = append(mc.Add, id)
		case !d.replace && d.remove[id]:
			mc.Remove = append(mc.Remove, id)
		}
	}
	if d.replace && mc.Add == nil {
		mc.Add = []string{}
	}
	return mc
}

// isMembersPath reports whether a path addresses members, and parses its filter.
func isMembersPath(path string) (bool, filter.Expression, error) {
	_, rest, ok := groupSchema.splitURN(path)
	if !ok {
		return false, nil, nil
	}
	lr := strings.ToLower(rest)
	if lr != "members" && !strings.HasPrefix(lr, "members[") && !strings.HasPrefix(lr, "members.") {
		return false, nil, nil
	}
	p, err := parsePath(rest)
	if err != nil {
		return true, nil, invalidPathf("cannot parse path %q", path)
	}
	if p.SubAttribute != nil || p.AttributePath.SubAttribute != nil {
		return true, nil, invalidPathf("member sub-attributes cannot be changed; add or remove members instead")
	}
	return true, p.ValueExpression, nil
}

// filterIDs extracts the ids of a members filter: value eq "id" joined by or.
func filterIDs(e filter.Expression) ([]string, error) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		if strings.EqualFold(e.AttributePath.AttributeName, "value") && e.AttributePath.SubAttribute == nil &&
			strings.EqualFold(string(e.Operator), "eq") {
			if s, ok := e.CompareValue.(string); ok {
				return []string{s}, nil
			}
		}
	case *filter.LogicalExpression:
		if strings.EqualFold(string(e.Operator), "or") {
			l, err := filterIDs(e.Left)
			if err != nil {
				return nil, err
			}
			r, err := filterIDs(e.Right)
			return append(l, r...), err
		}
	}
	return nil, invalidFilterf(`a members path filter must be value eq "id" (joined by or)`)
}

// splitGroupOps separates member operations from attribute operations; a path-less
// value map is split into both (Okta's reconcile PATCH carries id and displayName).
func splitGroupOps(ops []patchOp) (members, attrs []patchOp, err error) {
	for i, op := range ops {
		if err := validateOp(op); err != nil {
			return nil, nil, opError(i, err)
		}
		if op.path == "" {
			if op.op == "remove" {
				return nil, nil, opError(i, noTargetf("remove needs a path"))
			}
			m, ok := op.value.(map[string]any)
			if !ok {
				return nil, nil, opError(i, invalidValuef("an operation without a path needs an object value"))
			}
			rest := map[string]any{}
			for k, v := range m {
				if is, _, _ := isMembersPath(k); is {
					members = append(members, patchOp{op: op.op, path: "members", value: v, hasValue: v != nil})
					continue
				}
				rest[k] = v
			}
			if len(rest) > 0 {
				attrs = append(attrs, patchOp{op: op.op, value: rest, hasValue: true})
			}
			continue
		}
		is, _, perr := isMembersPath(op.path)
		if perr != nil {
			return nil, nil, opError(i, perr)
		}
		if is {
			members = append(members, op)
		} else {
			attrs = append(attrs, op)
		}
	}
	return members, attrs, nil
}

// applyMemberOp folds one member operation into d.
func applyMemberOp(d *memberDelta, op patchOp) error {
	_, f, err := isMembersPath(op.path)
	if err != nil {
		return err
	}
	if f != nil {
		if op.op != "remove" {
			return invalidPathf("members can be added or replaced only through the path \"members\"")
		}
		ids, err := filterIDs(f)
		if err != nil {
			return err
		}
		d.doRemove(ids)
		return nil
	}
	switch op.op {
	case "add":
		ids, err := memberIDs(op.value)
		if err != nil {
			return err
		}
		d.doAdd(ids)
	case "replace":
		ids, err := memberIDs(op.value)
		if err != nil {
			return err
		}
		d.doReplace(ids)
	case "remove":
		if !op.hasValue {
			d.doReplace(nil) // RFC 7644: remove without a filter removes all members
			return nil
		}
		// Entra: {"op":"Remove","path":"members","value":[{"value":"id"}]} removes
		// only the listed members, never all of them.
		ids, err := memberIDs(op.value)
		if err != nil {
			return err
		}
		d.doRemove(ids)
	}
	return nil
}

// groupChange parses a group PATCH into its member change and attribute operations.
func groupChange(ops []patchOp) (store.MemberChange, []patchOp, error) {
	memberOps, attrOps, err := splitGroupOps(ops)
	if err != nil {
		return store.MemberChange{}, nil, err
	}
	d := newMemberDelta()
	for i, op := range memberOps {
		if err := applyMemberOp(d, op); err != nil {
			return store.MemberChange{}, nil, opError(i, err)
		}
	}
	return d.change(), attrOps, nil
}

func (h *Handler) patchGroup(w http.ResponseWriter, r *http.Request, tn tenant, id string) error {
	ops, err := decodePatch(r)
	if err != nil {
		return err
	}
	mc, attrOps, err := groupChange(ops)
	if err != nil {
		return err
	}
	// A PATCH of members alone, without If-Match, needs nothing of the group before
	// the change: the store then locks the group only to bump its version, after
	// the member statements (a nil fn).
	var fn func(*store.SCIMGroup) error
	if len(attrOps) > 0 || r.Header.Get("If-Match") != "" {
		fn = func(g *store.SCIMGroup) error { return patchGroupAttrs(r, g, attrOps) }
	}
	g, err := h.Store.SCIMUpdateGroup(r.Context(), tn.actor, tn.orgID, tn.directoryID, id, fn, mc)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(g.Version))
	q := r.URL.Query()
	if q.Get("attributes") == "" && q.Get("excludedAttributes") == "" {
		// Entra expects 204; Okta accepts 204. Members are not echoed: a group may
		// be large.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return h.writeJSON(w, http.StatusOK, project(groupSchema, h.renderGroup(r, g), splitList(q.Get("attributes")), splitList(q.Get("excludedAttributes"))))
}

// patchGroupAttrs checks If-Match against the locked group and applies a PATCH's
// attribute operations to it.
func patchGroupAttrs(r *http.Request, g *store.SCIMGroup, attrOps []patchOp) error {
	if err := ifMatch(r, g.Version); err != nil {
		return err
	}
	doc := map[string]any{"displayName": g.DisplayName}
	if g.ExternalID != "" {
		doc["externalId"] = g.ExternalID
	}
	for i, op := range attrOps {
		if err := applyOp(groupSchema, doc, op); err != nil {
			return opError(i, err)
		}
	}
	name, _ := doc["displayName"].(string)
	if strings.TrimSpace(name) == "" {
		return invalidValuef("displayName is required")
	}
	g.DisplayName = name
	g.ExternalID, _ = doc["externalId"].(string)
	return nil
}

func (h *Handler) deleteGroup(w http.ResponseWriter, r *http.Request, tn tenant, id string) error {
	if r.Header.Get("If-Match") != "" {
		g, err := h.Store.SCIMGetGroup(r.Context(), tn.orgID, tn.directoryID, id)
		if err != nil {
			return err
		}
		if err := ifMatch(r, g.Version); err != nil {
			return err
		}
	}
	if err := h.Store.SCIMDeleteGroup(r.Context(), tn.actor, tn.orgID, tn.directoryID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
