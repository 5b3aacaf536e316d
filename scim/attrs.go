package scim

import "strings"

// project applies attributes/excludedAttributes (RFC 7644 §3.4.2.5) to a rendered
// resource. id and schemas are always returned. Names may be URN-qualified and may
// name a sub-attribute ("name.givenName", "emails.value").
func project(rs *resourceSchema, res map[string]any, attrs, excluded []string) map[string]any {
	if len(attrs) == 0 && len(excluded) == 0 {
		return res
	}
	if len(attrs) > 0 {
		out := map[string]any{"id": res["id"], "schemas": res["schemas"]}
		for _, a := range attrs {
			copyAttr(rs, res, out, a)
		}
		res = out
	}
	for _, e := range excluded {
		dropAttr(rs, res, e)
	}
	return res
}

// locate resolves an attribute name to (container key path, attribute, sub).
func locate(rs *resourceSchema, name string) (extKey, attr, sub string, ok bool) {
	ext, rest, ok := rs.splitURN(strings.TrimSpace(name))
	if !ok {
		return "", "", "", false
	}
	if ext != "" {
		extKey = rs.extURN[ext]
		if rest == "" {
			return extKey, "", "", true
		}
	}
	a, s, _ := strings.Cut(rest, ".")
	d, found := rs.table(ext)[strings.ToLower(a)]
	if !found {
		return "", "", "", false
	}
	attr = d.name
	if s != "" && d.subs != nil {
		if sd, ok := d.subs[strings.ToLower(s)]; ok {
			sub = sd.name
		}
	}
	return extKey, attr, sub, true
}

func copyAttr(rs *resourceSchema, from, to map[string]any, name string) {
	extKey, attr, sub, ok := locate(rs, name)
	if !ok {
		return
	}
	src, dst := from, to
	if extKey != "" {
		em, _ := from[extKey].(map[string]any)
		if em == nil {
			return
		}
		if attr == "" {
			to[extKey] = em
			return
		}
		dm, _ := to[extKey].(map[string]any)
		if dm == nil {
			dm = map[string]any{}
			to[extKey] = dm
		}
		src, dst = em, dm
	}
	v, has := src[attr]
	if !has {
		return
	}
	if sub == "" {
		dst[attr] = v
		return
	}
	switch x := v.(type) {
	case map[string]any:
		dm, _ := dst[attr].(map[string]any)
		if dm == nil {
			dm = map[string]any{}
			dst[attr] = dm
		}
		if sv, ok := x[sub]; ok {
			dm[sub] = sv
		}
	case []any:
		out := make([]any, 0, len(x))
		for _, el := range x {
			if m, ok := el.(map[string]any); ok {
				if sv, ok := m[sub]; ok {
					out = append(out, map[string]any{sub: sv})
				}
			}
		}
		dst[attr] = out
	}
}

func dropAttr(rs *resourceSchema, res map[string]any, name string) {
	extKey, attr, sub, ok := locate(rs, name)
	if !ok || attr == "id" || attr == "schemas" {
		return
	}
	c := res
	if extKey != "" {
		if attr == "" {
			delete(res, extKey)
			return
		}
		c, _ = res[extKey].(map[string]any)
		if c == nil {
			return
		}
	}
	if sub == "" {
		delete(c, attr)
		return
	}
	switch x := c[attr].(type) {
	case map[string]any:
		cp := map[string]any{}
		for k, v := range x {
			if k != sub {
				cp[k] = v
			}
		}
		c[attr] = cp
	case []any:
		out := make([]any, 0, len(x))
		for _, el := range x {
			if m, ok := el.(map[string]any); ok {
				cp := map[string]any{}
				for k, v := range m {
					if k != sub {
						cp[k] = v
					}
				}
				out = append(out, cp)
			}
		}
		c[attr] = out
	}
}
