package scim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/scim2/filter-parser/v2"
)

// Filters are parsed here and only here: filter text becomes the store's whitelisted
// expression (store.Filter) in two steps. parseFilterText turns the text into the
// AST of github.com/scim2/filter-parser/v2, with Entra's quirks and a fast path for
// the lookup IdPs send before every create; toStoreFilter then resolves each
// attribute path (case-insensitively, with or without its schema URN) against the
// resource's names and converts each value to the attribute's type, accepting Entra's
// "True"/"False" strings for booleans. Anything either step cannot express is
// core.ErrInvalid, which the handlers answer with 400 invalidFilter; so is an
// expression the store refuses.

// MaxFilterLength bounds a filter's text; longer filters are refused.
const MaxFilterLength = 4096

// maxFilterDepth bounds nesting so a hostile filter cannot make conversion deep.
const maxFilterDepth = 32

// parseFilter parses filter text for a list of the resource type names describes.
func parseFilter(names *filterNames, raw string) (store.Filter, error) {
	e, err := parseFilterText(raw)
	if err != nil {
		return nil, err
	}
	return names.toStoreFilter(e, nil, 0)
}

// parseFilterText parses filter text the way IdPs really send it. Beyond RFC 7644 it
// accepts Entra's unquoted values (externalId eq jyoung) and its value-path
// comparisons (emails[type eq "work"].value eq "x", rewritten to
// emails[type eq "work" and value eq "x"]). Text it cannot parse is core.ErrInvalid.
func parseFilterText(raw string) (filter.Expression, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, core.Invalidf("empty filter")
	}
	if len(raw) > MaxFilterLength {
		return nil, core.Invalidf("filter longer than %d bytes", MaxFilterLength)
	}
	if e, ok := fastEq(raw); ok {
		return e, nil
	}
	e, err := filter.ParseFilter([]byte(raw))
	if err == nil {
		return e, nil
	}
	if fixed, ok := normalizeFilter(raw); ok {
		if e, err2 := filter.ParseFilter([]byte(fixed)); err2 == nil {
			return e, nil
		}
	}
	return nil, core.Invalidf("cannot parse filter %q", raw)
}

// fastEq parses the one filter IdPs send before every create, attr eq "value" (attr
// a name or name.sub), without the general parser, which dominated a lookup's CPU
// profile. It builds the same AST the parser would (escapes kept in the value), and
// declines anything else.
func fastEq(raw string) (filter.Expression, bool) {
	i := 0
	for i < len(raw) && (isAttrChar(raw[i]) || (raw[i] == '.' && i > 0)) {
		i++
	}
	name := raw[:i]
	if name == "" || !isAlpha(name[0]) || strings.HasSuffix(name, ".") || strings.Count(name, ".") > 1 {
		return nil, false
	}
	rest := raw[i:]
	if len(rest) < 6 || rest[0] != ' ' || !strings.EqualFold(rest[1:3], "eq") || rest[3] != ' ' || rest[4] != '"' || rest[len(rest)-1] != '"' {
		return nil, false
	}
	val := rest[5 : len(rest)-1]
	for j := 0; j < len(val); j++ {
		switch val[j] {
		case '\\':
			return nil, false // escapes: leave them to the parser
		case '"':
			return nil, false
		}
		if val[j] < 0x20 {
			return nil, false
		}
	}
	p := filter.AttributePath{AttributeName: name}
	if a, sub, ok := strings.Cut(name, "."); ok {
		p = filter.AttributePath{AttributeName: a, SubAttribute: &sub}
	}
	return &filter.AttributeExpression{AttributePath: p, Operator: filter.EQ, CompareValue: val}, true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isAttrChar(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' || c == '_' || c == '-' }

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

// normalizeFilter rewrites the two non-RFC forms Entra sends, token by token, outside
// quoted strings. It reports false when nothing changed.
func normalizeFilter(raw string) (string, bool) {
	toks, ok := tokenizeFilter(raw)
	if !ok {
		return "", false
	}
	changed := false
	var out []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		// attr[...] . sub op value  →  attr[(...) and sub op value]
		if t == "]" && i+3 < len(toks) && strings.HasPrefix(toks[i+1], ".") && compareOps[strings.ToLower(toks[i+2])] {
			sub := strings.TrimPrefix(toks[i+1], ".")
			val := quoteBare(toks[i+3])
			// Find the matching "[" in out. The parser takes no parentheses inside
			// brackets, so an inner "or" is distributed:
			// a[x or y].s eq v  →  (a[x and s eq v] or a[y and s eq v]).
			j := len(out) - 1
			for ; j >= 0 && out[j] != "["; j-- {
			}
			if j < 1 {
				return "", false
			}
			attr := strings.TrimSpace(out[j-1])
			var parts [][]string
			cur := []string{}
			for _, x := range out[j+1:] {
				if strings.EqualFold(strings.TrimSpace(x), "or") {
					parts = append(parts, cur)
					cur = []string{}
					continue
				}
				cur = append(cur, x)
			}
			parts = append(parts, cur)
			out = out[:j-1]
			cond := " and " + sub + " " + toks[i+2] + " " + val + "]"
			if len(parts) > 1 {
				out = append(out, "(")
			}
			for k, part := range parts {
				if k > 0 {
					out = append(out, " or ")
				}
				out = append(out, attr+"["+strings.TrimSpace(strings.Join(part, ""))+cond)
			}
			if len(parts) > 1 {
				out = append(out, ")")
			}
			i += 3
			changed = true
			continue
		}
		// op bareword  →  op "bareword"
		if compareOps[strings.ToLower(t)] && i+1 < len(toks) {
			out = append(out, t, " ")
			q := quoteBare(toks[i+1])
			if q != toks[i+1] {
				changed = true
			}
			out = append(out, q)
			i++
			continue
		}
		out = append(out, t)
		if t != "[" && t != "]" && t != "(" && t != ")" && i+1 < len(toks) && !strings.HasPrefix(toks[i+1], ".") && toks[i+1] != "[" && toks[i+1] != "]" && toks[i+1] != ")" {
			out = append(out, " ")
		}
	}
	if !changed {
		return "", false
	}
	return strings.Join(out, ""), true
}

// quoteBare quotes a bare word that is not a JSON literal or number.
func quoteBare(v string) string {
	if strings.HasPrefix(v, `"`) {
		return v
	}
	switch strings.ToLower(v) {
	case "true", "false", "null":
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return strconv.Quote(v)
}

// tokenizeFilter splits a filter into words, quoted strings (kept with quotes),
// brackets, parentheses and ".sub" suffixes after "]".
func tokenizeFilter(s string) ([]string, bool) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, false
			}
			toks = append(toks, s[i:j+1])
			i = j + 1
		case c == '[' || c == ']' || c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '.' && len(toks) > 0 && toks[len(toks)-1] == "]":
			j := i + 1
			for j < len(s) && s[j] != ' ' && s[j] != '[' && s[j] != ']' && s[j] != '(' && s[j] != ')' {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '[' && s[j] != ']' && s[j] != '(' && s[j] != ')' && s[j] != '"' {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, true
}

// filterNames is what filters of one resource type may name: attribute paths
// (lower-case, sub-attributes dotted) and multi-valued attributes, whose entries a
// value path filters, with the schema URNs a path may carry.
type filterNames struct {
	attrs map[string]store.FilterAttr
	multi map[string]multiNames
	urns  []string
}

// multiNames is a multi-valued attribute: its sub-attributes, and the one a bare
// "emails eq x" compares.
type multiNames struct {
	attr    store.FilterAttr
	subs    map[string]store.FilterAttr
	primary store.FilterAttr
}

// Schema URNs whose prefix an attribute path may carry (compared lower-case).
var (
	urnUserLower       = strings.ToLower(URNUser)
	urnGroupLower      = strings.ToLower(URNGroup)
	urnEnterpriseLower = strings.ToLower(URNEnterprise)
)

// userFilterNames and groupFilterNames are what filters of users and of groups may
// name: the store's attributes, by their SCIM paths, and one alias (manager for
// manager.value, as Entra sends it).
var (
	userFilterNames = filterNames{
		attrs: byPath(map[string]store.FilterAttr{"manager": store.AttrManager},
			store.AttrID, store.AttrExternalID, store.AttrUserName, store.AttrDisplayName, store.AttrGivenName,
			store.AttrFamilyName, store.AttrTitle, store.AttrLocale, store.AttrTimezone, store.AttrNickName,
			store.AttrUserType, store.AttrPreferredLanguage, store.AttrActive, store.AttrCreated,
			store.AttrLastModified, store.AttrResourceType, store.AttrEmployeeNumber, store.AttrDepartment,
			store.AttrCostCenter, store.AttrOrganization, store.AttrDivision, store.AttrManager),
		multi: multiByPath(
			multiOf(store.AttrEmails, store.AttrEmailValue, store.AttrEmailValue, store.AttrEmailType, store.AttrEmailPrimary)),
		urns: []string{urnUserLower, urnEnterpriseLower},
	}
	groupFilterNames = filterNames{
		attrs: byPath(nil, store.AttrID, store.AttrExternalID, store.AttrDisplayName, store.AttrCreated,
			store.AttrLastModified, store.AttrResourceType),
		multi: multiByPath(multiOf(store.AttrMembers, store.AttrMemberValue, store.AttrMemberValue)),
		urns:  []string{urnGroupLower},
	}
)

// byPath indexes attributes by their lower-case SCIM path (their name in the store),
// beside the aliases given.
func byPath(aliases map[string]store.FilterAttr, attrs ...store.FilterAttr) map[string]store.FilterAttr {
	m := map[string]store.FilterAttr{}
	for k, a := range aliases {
		m[k] = a
	}
	for _, a := range attrs {
		m[strings.ToLower(string(a))] = a
	}
	return m
}

// multiOf describes a multi-valued attribute: its sub-attributes (the store names
// them "emails.value"; a value path names them "value"), primary among them.
func multiOf(attr, primary store.FilterAttr, subs ...store.FilterAttr) multiNames {
	m := multiNames{attr: attr, primary: primary, subs: map[string]store.FilterAttr{}}
	for _, s := range subs {
		m.subs[strings.ToLower(strings.TrimPrefix(string(s), string(attr)+"."))] = s
	}
	return m
}

func multiByPath(ms ...multiNames) map[string]multiNames {
	out := map[string]multiNames{}
	for _, m := range ms {
		out[strings.ToLower(string(m.attr))] = m
	}
	return out
}

// toStoreFilter converts one expression of the AST; inside a value path, multi is the
// attribute whose sub-attributes the names refer to.
func (n *filterNames) toStoreFilter(e filter.Expression, multi *multiNames, depth int) (store.Filter, error) {
	if depth > maxFilterDepth {
		return nil, core.Invalidf("filter nested too deeply")
	}
	switch e := e.(type) {
	case *filter.LogicalExpression:
		op := strings.ToLower(string(e.Operator))
		if op != "and" && op != "or" {
			return nil, core.Invalidf("unknown logical operator %q", e.Operator)
		}
		left, err := n.toStoreFilter(e.Left, multi, depth+1)
		if err != nil {
			return nil, err
		}
		right, err := n.toStoreFilter(e.Right, multi, depth+1)
		if err != nil {
			return nil, err
		}
		if op == "and" {
			return &store.FilterAnd{Left: left, Right: right}, nil
		}
		return &store.FilterOr{Left: left, Right: right}, nil
	case *filter.NotExpression:
		x, err := n.toStoreFilter(e.Expression, multi, depth+1)
		if err != nil {
			return nil, err
		}
		return &store.FilterNot{Filter: x}, nil
	case *filter.ValuePath:
		if multi != nil {
			return nil, core.Invalidf("nested value paths are not supported")
		}
		if e.AttributePath.SubAttribute != nil {
			return nil, core.Invalidf("a value path cannot name a sub-attribute before its filter")
		}
		name, err := n.name(e.AttributePath, false)
		if err != nil {
			return nil, err
		}
		m, ok := n.multi[name]
		if !ok {
			return nil, core.Invalidf("attribute %q is not a multi-valued attribute that can be filtered", e.AttributePath.String())
		}
		inner, err := n.toStoreFilter(e.ValueFilter, &m, depth+1)
		if err != nil {
			return nil, err
		}
		return &store.FilterValuePath{Attr: m.attr, Filter: inner}, nil
	case *filter.AttributeExpression:
		return n.attrExpr(e, multi)
	}
	return nil, core.Invalidf("unsupported filter expression")
}

// name resolves an attribute path to the lower-case key of the tables above,
// dropping a known URN prefix.
func (n *filterNames) name(p filter.AttributePath, withSub bool) (string, error) {
	if p.URIPrefix != nil {
		uri := strings.ToLower(*p.URIPrefix)
		known := false
		for _, u := range n.urns {
			if uri == u {
				known = true
			}
		}
		if !known {
			return "", core.Invalidf("unknown schema %q in filter", *p.URIPrefix)
		}
	}
	name := strings.ToLower(p.AttributeName)
	if withSub && p.SubAttribute != nil {
		name += "." + strings.ToLower(*p.SubAttribute)
	}
	return name, nil
}

func (n *filterNames) attrExpr(e *filter.AttributeExpression, multi *multiNames) (store.Filter, error) {
	if multi != nil {
		// Inside emails[...]: names are sub-attributes of the multi-valued attribute.
		if e.AttributePath.URIPrefix != nil || e.AttributePath.SubAttribute != nil {
			return nil, core.Invalidf("attribute %q is not a sub-attribute here", e.AttributePath.String())
		}
		a, ok := multi.subs[strings.ToLower(e.AttributePath.AttributeName)]
		if !ok {
			return nil, core.Invalidf("sub-attribute %q cannot be filtered", e.AttributePath.AttributeName)
		}
		return compare(a, e.Operator, e.CompareValue)
	}
	base, err := n.name(e.AttributePath, false)
	if err != nil {
		return nil, err
	}
	if m, ok := n.multi[base]; ok {
		// emails.value eq x, or emails eq x (the primary sub-attribute), is the value
		// path emails[value eq x].
		sub := m.primary
		if e.AttributePath.SubAttribute != nil {
			if sub, ok = m.subs[strings.ToLower(*e.AttributePath.SubAttribute)]; !ok {
				return nil, core.Invalidf("attribute %q cannot be filtered", e.AttributePath.String())
			}
		}
		c, err := compare(sub, e.Operator, e.CompareValue)
		if err != nil {
			return nil, err
		}
		return &store.FilterValuePath{Attr: m.attr, Filter: c}, nil
	}
	full, _ := n.name(e.AttributePath, true)
	a, ok := n.attrs[full]
	if !ok {
		return nil, core.Invalidf("attribute %q cannot be filtered", e.AttributePath.String())
	}
	return compare(a, e.Operator, e.CompareValue)
}

// compare converts one comparison, its value to the attribute's type. eq null is
// "not present" and ne null "present" (RFC 7644 §3.4.2.2).
func compare(a store.FilterAttr, op filter.CompareOperator, v any) (store.Filter, error) {
	o := store.FilterOp(strings.ToLower(string(op)))
	present := &store.FilterCompare{Attr: a, Op: store.OpPresent}
	switch {
	case o == store.OpPresent:
		return present, nil
	case v == nil && o == store.OpEq:
		return &store.FilterNot{Filter: present}, nil
	case v == nil && o == store.OpNe:
		return present, nil
	case v == nil:
		return nil, core.Invalidf("operator %q needs a value", op)
	}
	typ, ok := a.Type()
	if !ok {
		return nil, core.Invalidf("attribute %q cannot be filtered", a)
	}
	var val any
	var err error
	switch typ {
	case store.FilterBoolean:
		val, err = boolValue(v)
	case store.FilterDateTime:
		val, err = timeValue(v)
	default:
		val, err = stringValue(v)
	}
	if err != nil {
		return nil, err
	}
	return &store.FilterCompare{Attr: a, Op: o, Value: val}, nil
}

// boolValue accepts JSON booleans and Entra's "True"/"False" strings.
func boolValue(v any) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(v) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, core.Invalidf("%v is not a boolean", v)
}

// timeValue accepts a quoted RFC 3339 dateTime.
func timeValue(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, core.Invalidf("a dateTime compares with a quoted RFC 3339 string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, core.Invalidf("%q is not an RFC 3339 dateTime", s)
	}
	return t, nil
}

// stringValue unescapes a quoted filter string (the parser keeps escapes) and
// renders numbers and booleans as their text.
func stringValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		if strings.Contains(v, `\`) {
			if u, err := strconv.Unquote(`"` + v + `"`); err == nil {
				return u, nil
			}
		}
		return v, nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return "", core.Invalidf("number out of range")
		}
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", core.Invalidf("unsupported filter value %v", fmt.Sprint(v))
}
