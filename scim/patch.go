package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/scim2/filter-parser/v2"
)

// patchOp is one PATCH operation, with op lower-cased (Entra sends "Replace").
type patchOp struct {
	op       string
	path     string
	value    any
	hasValue bool
}

// maxPatchOps bounds the operations of one request.
const maxPatchOps = 1000

func decodePatch(r *http.Request) ([]patchOp, error) {
	var body struct {
		Schemas    []string `json:"schemas"`
		Operations []struct {
			Op    string          `json:"op"`
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"Operations"`
	}
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	if len(body.Operations) == 0 {
		return nil, invalidValuef("a PATCH request needs at least one operation in Operations")
	}
	if len(body.Operations) > maxPatchOps {
		return nil, invalidValuef("at most %d operations per PATCH request", maxPatchOps)
	}
	ops := make([]patchOp, len(body.Operations))
	for i, o := range body.Operations {
		op := strings.ToLower(strings.TrimSpace(o.Op))
		if op != "add" && op != "remove" && op != "replace" {
			return nil, invalidSyntaxf("operation %d: op must be add, remove or replace, not %q", i, o.Op)
		}
		p := patchOp{op: op, path: strings.TrimSpace(o.Path)}
		if len(o.Value) > 0 && string(o.Value) != "null" {
			if err := json.Unmarshal(o.Value, &p.value); err != nil {
				return nil, invalidSyntaxf("operation %d: value is not valid JSON", i)
			}
			p.hasValue = true
		}
		if (op == "add" || op == "replace") && !p.hasValue {
			return nil, invalidValuef("operation %d: %s needs a value", i, op)
		}
		ops[i] = p
	}
	return ops, nil
}

// opError prefixes an operation's error with its index, keeping its SCIM type.
func opError(i int, err error) error {
	if se, ok := err.(*scimError); ok {
		return &scimError{status: se.status, scimType: se.scimType, detail: fmt.Sprintf("operation %d: %s", i, se.detail)}
	}
	return err
}

// target is where a PATCH path points.
type target struct {
	ext      string   // lower-case extension URN, "" for core
	wholeExt bool     // the path is the extension URN itself
	attr     *attrDef // the attribute
	filter   filter.Expression
	sub      *attrDef // the sub-attribute, if any
}

// resolvePath parses a PATCH path against a schema.
func resolvePath(rs *resourceSchema, path string) (target, error) {
	ext, rest, ok := rs.splitURN(path)
	if !ok {
		return target{}, invalidPathf("unknown schema in path %q", path)
	}
	if ext != "" && rest == "" {
		return target{ext: ext, wholeExt: true}, nil
	}
	p, err := filter.ParsePath([]byte(rest))
	if err != nil {
		return target{}, invalidPathf("cannot parse path %q", path)
	}
	if p.AttributePath.URIPrefix != nil {
		return target{}, invalidPathf("unknown schema in path %q", path)
	}
	t := target{ext: ext, filter: p.ValueExpression}
	t.attr = rs.table(ext)[strings.ToLower(p.AttributePath.AttributeName)]
	if t.attr == nil {
		return target{}, invalidPathf("no attribute %q", path)
	}
	if t.attr.mutability == "readOnly" {
		return target{}, mutabilityf("attribute %q is read-only", t.attr.name)
	}
	subName := p.AttributePath.SubAttributeName()
	if p.SubAttribute != nil {
		if subName != "" {
			return target{}, invalidPathf("path %q names two sub-attributes", path)
		}
		subName = *p.SubAttribute
	}
	if subName != "" {
		if t.attr.subs == nil {
			return target{}, invalidPathf("attribute %q has no sub-attributes", t.attr.name)
		}
		t.sub = t.attr.subs[strings.ToLower(subName)]
		if t.sub == nil {
			return target{}, invalidPathf("attribute %q has no sub-attribute %q", t.attr.name, subName)
		}
	}
	if t.filter != nil && !t.attr.multi {
		return target{}, invalidPathf("a value filter needs a multi-valued attribute, %q is not", t.attr.name)
	}
	return t, nil
}

// applyUserOp applies one operation to a user document.
func applyUserOp(doc map[string]any, op patchOp) error {
	return applyOp(userSchema, doc, op)
}

// applyOp applies one operation to a resource document.
func applyOp(rs *resourceSchema, doc map[string]any, op patchOp) error {
	if op.path == "" {
		if op.op == "remove" {
			return noTargetf("remove needs a path")
		}
		m, ok := op.value.(map[string]any)
		if !ok {
			return invalidValuef("an operation without a path needs an object value")
		}
		return applyMap(rs, doc, op.op, m)
	}
	t, err := resolvePath(rs, op.path)
	if err != nil {
		return err
	}
	return applyTarget(rs, doc, op, t)
}

// applyMap applies a path-less add/replace: every key is a path (dotted keys such as
// "name.givenName" and URN-qualified keys included). Read-only and unknown keys are
// skipped: Okta sends the group's id back after every membership change.
func applyMap(rs *resourceSchema, doc map[string]any, op string, m map[string]any) error {
	for k, v := range m {
		ext, rest, ok := rs.splitURN(k)
		if !ok {
			continue
		}
		if ext != "" && rest == "" {
			em, isMap := v.(map[string]any)
			if !isMap {
				return invalidValuef("%s must be an object", k)
			}
			for ek, ev := range em {
				if err := applyMapKey(rs, doc, op, rs.extURN[ext]+":"+ek, ev); err != nil {
					return err
				}
			}
			continue
		}
		if err := applyMapKey(rs, doc, op, k, v); err != nil {
			return err
		}
	}
	return nil
}

func applyMapKey(rs *resourceSchema, doc map[string]any, op, key string, v any) error {
	t, err := resolvePath(rs, key)
	if err != nil {
		return nil // unknown attribute in a value map: ignored like unknown attributes of a POST
	}
	if t.attr != nil && (t.attr.mutability == "readOnly" || (t.sub != nil && t.sub.mutability == "readOnly")) {
		return nil
	}
	return applyTarget(rs, doc, patchOp{op: op, path: key, value: v, hasValue: v != nil}, t)
}

// container returns the map holding t's attribute, creating an extension object
// when create is set.
func container(rs *resourceSchema, doc map[string]any, t target, create bool) map[string]any {
	if t.ext == "" {
		return doc
	}
	canon := rs.extURN[t.ext]
	m, _ := doc[canon].(map[string]any)
	if m == nil && create {
		m = map[string]any{}
		doc[canon] = m
	}
	return m
}

func applyTarget(rs *resourceSchema, doc map[string]any, op patchOp, t target) error {
	if t.wholeExt {
		canon := rs.extURN[t.ext]
		if op.op == "remove" {
			delete(doc, canon)
			return nil
		}
		m, ok := op.value.(map[string]any)
		if !ok {
			return invalidValuef("%s must be an object", canon)
		}
		for k, v := range m {
			if err := applyMapKey(rs, doc, op.op, canon+":"+k, v); err != nil {
				return err
			}
		}
		return nil
	}
	a := t.attr
	if a.mutability == "readOnly" || (t.sub != nil && t.sub.mutability == "readOnly") {
		return mutabilityf("attribute %q is read-only", a.name)
	}
	if a.mutability == "immutable" && op.op != "add" {
		return mutabilityf("attribute %q is immutable", a.name)
	}
	c := container(rs, doc, t, op.op != "remove")
	if c == nil { // remove inside an absent extension
		return nil
	}
	defer func() {
		if t.ext != "" && len(c) == 0 {
			delete(doc, rs.extURN[t.ext])
		}
	}()
	if !a.multi {
		return applySingle(c, op, a, t.sub)
	}
	return applyMulti(c, op, a, t.filter, t.sub)
}

// applySingle changes a single-valued attribute (simple or complex).
func applySingle(c map[string]any, op patchOp, a, sub *attrDef) error {
	if sub != nil {
		m, _ := c[a.name].(map[string]any)
		if op.op == "remove" {
			if m != nil {
				delete(m, sub.name)
				if len(m) == 0 {
					delete(c, a.name)
				}
			}
			return nil
		}
		nv, ok, err := normalizeValue(sub, op.value, false)
		if err != nil {
			return err
		}
		if m == nil {
			m = map[string]any{}
			c[a.name] = m
		}
		if ok {
			m[sub.name] = nv
		} else {
			delete(m, sub.name)
		}
		if len(m) == 0 {
			delete(c, a.name)
		}
		return nil
	}
	if op.op == "remove" {
		delete(c, a.name)
		return nil
	}
	nv, ok, err := normalizeValue(a, op.value, false)
	if err != nil {
		return err
	}
	if !ok {
		delete(c, a.name)
		return nil
	}
	if nm, isMap := nv.(map[string]any); isMap && a.typ == "complex" {
		// RFC 7644 §3.5.2.3: sub-attributes not given are left unchanged.
		old, _ := c[a.name].(map[string]any)
		merged := map[string]any{}
		for k, v := range old {
			merged[k] = v
		}
		for k, v := range nm {
			merged[k] = v
		}
		c[a.name] = merged
		return nil
	}
	c[a.name] = nv
	return nil
}

// applyMulti changes a multi-valued attribute, optionally through a value filter.
func applyMulti(c map[string]any, op patchOp, a *attrDef, f filter.Expression, sub *attrDef) error {
	list, _ := c[a.name].([]any)
	set := func(l []any) {
		if len(l) == 0 {
			delete(c, a.name)
		} else {
			c[a.name] = l
		}
	}
	if f == nil && sub == nil {
		switch op.op {
		case "remove":
			if !op.hasValue {
				delete(c, a.name)
				return nil
			}
			// remove with a value list removes those values only (Entra's form).
			nv, _, err := normalizeValue(a, op.value, false)
			if err != nil {
				return err
			}
			drop, _ := nv.([]any)
			var kept []any
			for _, el := range list {
				if !containsValue(drop, el) {
					kept = append(kept, el)
				}
			}
			set(kept)
			return nil
		case "replace":
			nv, ok, err := normalizeValue(a, op.value, false)
			if err != nil {
				return err
			}
			if !ok {
				delete(c, a.name)
				return nil
			}
			set(nv.([]any))
			return nil
		default: // add
			nv, _, err := normalizeValue(a, op.value, false)
			if err != nil {
				return err
			}
			for _, el := range nv.([]any) {
				if containsEqual(list, el) {
					continue
				}
				if isPrimary(el) {
					clearPrimary(list)
				}
				list = append(list, el)
			}
			set(list)
			return nil
		}
	}
	// Elements the path addresses: those matching the filter, or all of them.
	var idx []int
	for i, el := range list {
		m, _ := el.(map[string]any)
		ok := true
		if f != nil {
			var err error
			if ok, err = matchElem(f, m, a, 0); err != nil {
				return err
			}
		}
		if ok {
			idx = append(idx, i)
		}
	}
	if op.op == "remove" {
		if sub == nil {
			set(removeIdx(list, idx))
			return nil
		}
		var empty []int
		for _, i := range idx {
			m, _ := list[i].(map[string]any)
			delete(m, sub.name)
			if _, hasValue := m["value"]; !hasValue && a.subs["value"] != nil {
				empty = append(empty, i)
			}
		}
		set(removeIdx(list, empty))
		return nil
	}
	var nv any
	var err error
	if sub != nil {
		var ok bool
		nv, ok, err = normalizeValue(sub, op.value, false)
		if err == nil && !ok {
			err = invalidValuef("a value is required")
		}
	} else {
		nv, _, err = normalizeValue(a, op.value, true)
	}
	if err != nil {
		return err
	}
	if len(idx) == 0 {
		if op.op == "replace" || f == nil {
			return noTargetf("no value of %q matches the path", a.name)
		}
		// add to a filtered path that matches nothing creates the entry the filter
		// describes: emails[type eq "work"].value → {type: work, value: …}.
		el, err := elemFromFilter(f, a)
		if err != nil {
			return err
		}
		if sub != nil {
			el[sub.name] = nv
		} else if m, ok := nv.(map[string]any); ok {
			for k, v := range m {
				el[k] = v
			}
		}
		if isPrimary(el) {
			clearPrimary(list)
		}
		set(append(list, el))
		return nil
	}
	for _, i := range idx {
		m, _ := list[i].(map[string]any)
		if m == nil {
			m = map[string]any{}
			list[i] = m
		}
		if sub != nil {
			m[sub.name] = nv
		} else if nm, ok := nv.(map[string]any); ok {
			for k, v := range nm {
				m[k] = v
			}
		}
	}
	set(list)
	return nil
}

func removeIdx(list []any, idx []int) []any {
	if len(idx) == 0 {
		return list
	}
	drop := map[int]bool{}
	for _, i := range idx {
		drop[i] = true
	}
	var out []any
	for i, el := range list {
		if !drop[i] {
			out = append(out, el)
		}
	}
	return out
}

func isPrimary(el any) bool {
	m, _ := el.(map[string]any)
	p, _ := m["primary"].(bool)
	return p
}

func clearPrimary(list []any) {
	for _, el := range list {
		if m, ok := el.(map[string]any); ok {
			if _, has := m["primary"]; has {
				m["primary"] = false
			}
		}
	}
}

func containsEqual(list []any, el any) bool {
	for _, x := range list {
		if reflect.DeepEqual(x, el) {
			return true
		}
	}
	return false
}

// containsValue matches elements by their "value" sub-attribute when both have one.
func containsValue(list []any, el any) bool {
	em, _ := el.(map[string]any)
	for _, x := range list {
		xm, _ := x.(map[string]any)
		if em != nil && xm != nil && xm["value"] != nil {
			if fmt.Sprint(xm["value"]) == fmt.Sprint(em["value"]) {
				return true
			}
			continue
		}
		if reflect.DeepEqual(x, el) {
			return true
		}
	}
	return false
}

// elemFromFilter builds the element an and-of-eq filter describes.
func elemFromFilter(f filter.Expression, a *attrDef) (map[string]any, error) {
	el := map[string]any{}
	var walk func(e filter.Expression) error
	walk = func(e filter.Expression) error {
		switch e := e.(type) {
		case *filter.LogicalExpression:
			if !strings.EqualFold(string(e.Operator), "and") {
				return noTargetf("no value of %q matches the path, and an or-filter cannot describe a new one", a.name)
			}
			if err := walk(e.Left); err != nil {
				return err
			}
			return walk(e.Right)
		case *filter.AttributeExpression:
			if !strings.EqualFold(string(e.Operator), "eq") || e.AttributePath.SubAttribute != nil {
				return noTargetf("no value of %q matches the path", a.name)
			}
			sd := a.subs[strings.ToLower(e.AttributePath.AttributeName)]
			if sd == nil {
				return invalidPathf("%q has no sub-attribute %q", a.name, e.AttributePath.AttributeName)
			}
			v, ok, err := normalizeValue(sd, e.CompareValue, false)
			if err != nil {
				return err
			}
			if ok {
				el[sd.name] = v
			}
			return nil
		}
		return noTargetf("no value of %q matches the path", a.name)
	}
	return el, walk(f)
}

// matchElem evaluates a value filter on one element of a multi-valued attribute.
func matchElem(e filter.Expression, el map[string]any, a *attrDef, depth int) (bool, error) {
	if depth > 32 {
		return false, invalidFilterf("filter nested too deeply")
	}
	switch e := e.(type) {
	case *filter.LogicalExpression:
		l, err := matchElem(e.Left, el, a, depth+1)
		if err != nil {
			return false, err
		}
		r, err := matchElem(e.Right, el, a, depth+1)
		if err != nil {
			return false, err
		}
		if strings.EqualFold(string(e.Operator), "and") {
			return l && r, nil
		}
		return l || r, nil
	case *filter.NotExpression:
		m, err := matchElem(e.Expression, el, a, depth+1)
		return !m, err
	case *filter.AttributeExpression:
		if e.AttributePath.SubAttribute != nil || e.AttributePath.URIPrefix != nil {
			return false, invalidPathf("%q is not a sub-attribute of %q", e.AttributePath.String(), a.name)
		}
		sd := a.subs[strings.ToLower(e.AttributePath.AttributeName)]
		if sd == nil {
			return false, invalidPathf("%q has no sub-attribute %q", a.name, e.AttributePath.AttributeName)
		}
		return compareValue(sd, el[sd.name], strings.ToLower(string(e.Operator)), e.CompareValue)
	}
	return false, invalidPathf("unsupported value filter in path")
}

func compareValue(d *attrDef, have any, op string, want any) (bool, error) {
	if op == "pr" {
		return have != nil && have != "", nil
	}
	if d.typ == "boolean" {
		hb, herr := toBool(have)
		wb, werr := toBool(want)
		if werr != nil {
			return false, invalidPathf("%s compares with a boolean", d.name)
		}
		if herr != nil {
			hb = false // absent boolean is false
		}
		switch op {
		case "eq":
			return hb == wb, nil
		case "ne":
			return hb != wb, nil
		}
		return false, invalidPathf("operator %q does not apply to a boolean", op)
	}
	hs, ok := have.(string)
	if !ok {
		if have == nil {
			return op == "ne", nil
		}
		hs = fmt.Sprint(have)
	}
	ws := fmt.Sprint(want)
	if want == nil {
		ws = ""
	}
	if !d.caseExact {
		hs, ws = strings.ToLower(hs), strings.ToLower(ws)
	}
	switch op {
	case "eq":
		return hs == ws, nil
	case "ne":
		return hs != ws, nil
	case "co":
		return strings.Contains(hs, ws), nil
	case "sw":
		return strings.HasPrefix(hs, ws), nil
	case "ew":
		return strings.HasSuffix(hs, ws), nil
	case "gt":
		return hs > ws, nil
	case "ge":
		return hs >= ws, nil
	case "lt":
		return hs < ws, nil
	case "le":
		return hs <= ws, nil
	}
	return false, invalidPathf("unknown operator %q", op)
}
