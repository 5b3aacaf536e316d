package store

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/scim2/filter-parser/v2"
)

// SCIM filters become SQL here and only here. The translation walks the AST of
// github.com/scim2/filter-parser/v2 against a whitelist of attributes; every value is
// a bind parameter, never SQL text. Attributes with caseExact=false compare
// lower(column) with lower(CAST(? AS TEXT)) so the lower() expression indexes serve
// eq. Multi-valued attributes (emails, members) become "id IN (subquery)" over their
// own indexed tables, so no filter scans JSON or loads rows into Go.

// MaxFilterLength bounds a filter's text; longer filters are core.ErrInvalid.
const MaxFilterLength = 4096

// maxFilterDepth bounds nesting so a hostile filter cannot make translation deep.
const maxFilterDepth = 32

// Schema URNs whose prefix an attribute path may carry.
const (
	urnUser       = "urn:ietf:params:scim:schemas:core:2.0:user"
	urnGroup      = "urn:ietf:params:scim:schemas:core:2.0:group"
	urnEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
)

// ParseSCIMFilter parses a filter the way IdPs really send it. Beyond RFC 7644 it
// accepts Entra's unquoted values (externalId eq jyoung) and its value-path comparisons
// (emails[type eq "work"].value eq "x", rewritten to emails[type eq "work" and value eq "x"]).
// A filter it cannot parse is core.ErrInvalid.
func ParseSCIMFilter(raw string) (filter.Expression, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, core.Invalidf("empty filter")
	}
	if len(raw) > MaxFilterLength {
		return nil, core.Invalidf("filter longer than %d bytes", MaxFilterLength)
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

// colKind is the SCIM type of a filterable column.
type colKind int

const (
	kindString colKind = iota
	kindBool
	kindTime
)

// column maps one SCIM attribute to SQL.
type column struct {
	expr      string // SQL over the aliases u (users), g (idp_groups), e (user_emails)
	kind      colKind
	caseExact bool
	nullable  bool
}

// multiAttr is a multi-valued attribute kept in its own table.
type multiAttr struct {
	// in is "outer.id IN (SELECT <owner> FROM <table> alias WHERE <scope>" with one
	// ? for the org id; the translator appends " AND (cond))".
	in      string
	subs    map[string]column
	primary string // the sub-attribute a bare "emails eq x" means
}

// filterSchema is the whitelist of one resource type.
type filterSchema struct {
	cols  map[string]column // lower-case attribute path → column
	multi map[string]multiAttr
	urns  []string // URN prefixes that may qualify a path
}

var userFilterSchema = filterSchema{
	cols: map[string]column{
		"id":                {expr: "u.id", caseExact: true},
		"externalid":        {expr: "u.external_id", caseExact: true, nullable: true},
		"username":          {expr: "u.user_name"},
		"displayname":       {expr: "u.display_name"},
		"name.givenname":    {expr: "u.given_name"},
		"name.familyname":   {expr: "u.family_name"},
		"title":             {expr: "u.title"},
		"locale":            {expr: "u.locale"},
		"timezone":          {expr: "u.timezone"},
		"nickname":          {expr: "u.nick_name"},
		"usertype":          {expr: "u.user_type"},
		"preferredlanguage": {expr: "u.preferred_language"},
		"active":            {expr: "u.active", kind: kindBool},
		"meta.created":      {expr: "u.created_at", kind: kindTime},
		"meta.lastmodified": {expr: "u.updated_at", kind: kindTime},
		"employeenumber":    {expr: "u.employee_number"},
		"department":        {expr: "u.department"},
		"costcenter":        {expr: "u.cost_center"},
		"organization":      {expr: "u.organization"},
		"division":          {expr: "u.division"},
		"manager.value":     {expr: "u.manager_id", caseExact: true},
		"manager":           {expr: "u.manager_id", caseExact: true},
		"meta.resourcetype": {expr: "'User'", caseExact: true},
	},
	multi: map[string]multiAttr{
		"emails": {
			in: "u.id IN (SELECT e.user_id FROM user_emails e WHERE e.org_id = ?",
			subs: map[string]column{
				"value":   {expr: "e.value"},
				"type":    {expr: "e.type"},
				"primary": {expr: "e.is_primary", kind: kindBool},
			},
			primary: "value",
		},
	},
	urns: []string{urnUser, urnEnterprise},
}

var groupFilterSchema = filterSchema{
	cols: map[string]column{
		"id":                {expr: "g.id", caseExact: true},
		"externalid":        {expr: "g.external_id", caseExact: true, nullable: true},
		"displayname":       {expr: "g.display_name"},
		"meta.created":      {expr: "g.created_at", kind: kindTime},
		"meta.lastmodified": {expr: "g.updated_at", kind: kindTime},
		"meta.resourcetype": {expr: "'Group'", caseExact: true},
	},
	multi: map[string]multiAttr{
		"members": {
			in: "g.id IN (SELECT m.idp_group_id FROM idp_group_members m WHERE m.org_id = ?",
			subs: map[string]column{
				"value": {expr: "m.user_id", caseExact: true},
			},
			primary: "value",
		},
	},
	urns: []string{urnGroup},
}

// sqlFilter accumulates a WHERE clause and its bind values.
type sqlFilter struct {
	schema  *filterSchema
	dialect Dialect
	orgID   string
	sb      strings.Builder
	args    []any
}

// translateFilter turns e into a SQL condition with ? placeholders.
func translateFilter(d Dialect, fs *filterSchema, orgID string, e filter.Expression) (string, []any, error) {
	f := &sqlFilter{schema: fs, dialect: d, orgID: orgID}
	if err := f.expr(e, nil, 0); err != nil {
		return "", nil, err
	}
	return f.sb.String(), f.args, nil
}

// expr writes one expression; inside a value path, multi is the attribute whose
// sub-attributes the names refer to.
func (f *sqlFilter) expr(e filter.Expression, multi *multiAttr, depth int) error {
	if depth > maxFilterDepth {
		return core.Invalidf("filter nested too deeply")
	}
	switch e := e.(type) {
	case *filter.LogicalExpression:
		op := strings.ToLower(string(e.Operator))
		if op != "and" && op != "or" {
			return core.Invalidf("unknown logical operator %q", e.Operator)
		}
		f.sb.WriteString("(")
		if err := f.expr(e.Left, multi, depth+1); err != nil {
			return err
		}
		f.sb.WriteString(" " + strings.ToUpper(op) + " ")
		if err := f.expr(e.Right, multi, depth+1); err != nil {
			return err
		}
		f.sb.WriteString(")")
		return nil
	case *filter.NotExpression:
		f.sb.WriteString("NOT (")
		if err := f.expr(e.Expression, multi, depth+1); err != nil {
			return err
		}
		f.sb.WriteString(")")
		return nil
	case *filter.ValuePath:
		if multi != nil {
			return core.Invalidf("nested value paths are not supported")
		}
		if e.AttributePath.SubAttribute != nil {
			return core.Invalidf("a value path cannot name a sub-attribute before its filter")
		}
		name, err := f.name(e.AttributePath, false)
		if err != nil {
			return err
		}
		m, ok := f.schema.multi[name]
		if !ok {
			return core.Invalidf("attribute %q is not a multi-valued attribute that can be filtered", e.AttributePath.String())
		}
		f.sb.WriteString(m.in)
		f.args = append(f.args, f.orgID)
		f.sb.WriteString(" AND (")
		if err := f.expr(e.ValueFilter, &m, depth+1); err != nil {
			return err
		}
		f.sb.WriteString("))")
		return nil
	case *filter.AttributeExpression:
		return f.attrExpr(e, multi)
	default:
		return core.Invalidf("unsupported filter expression")
	}
}

// name resolves an attribute path to the whitelist's lower-case key, dropping a
// known URN prefix.
func (f *sqlFilter) name(p filter.AttributePath, withSub bool) (string, error) {
	if p.URIPrefix != nil {
		uri := strings.ToLower(*p.URIPrefix)
		known := false
		for _, u := range f.schema.urns {
			if uri == u {
				known = true
			}
		}
		if !known {
			return "", core.Invalidf("unknown schema %q in filter", *p.URIPrefix)
		}
	}
	n := strings.ToLower(p.AttributeName)
	if withSub && p.SubAttribute != nil {
		n += "." + strings.ToLower(*p.SubAttribute)
	}
	return n, nil
}

func (f *sqlFilter) attrExpr(e *filter.AttributeExpression, multi *multiAttr) error {
	if multi != nil {
		// Inside emails[...]: names are sub-attributes of the multi-valued attribute.
		if e.AttributePath.URIPrefix != nil || e.AttributePath.SubAttribute != nil {
			return core.Invalidf("attribute %q is not a sub-attribute here", e.AttributePath.String())
		}
		c, ok := multi.subs[strings.ToLower(e.AttributePath.AttributeName)]
		if !ok {
			return core.Invalidf("sub-attribute %q cannot be filtered", e.AttributePath.AttributeName)
		}
		return f.compare(c, e.Operator, e.CompareValue)
	}
	base, err := f.name(e.AttributePath, false)
	if err != nil {
		return err
	}
	if m, ok := f.schema.multi[base]; ok {
		sub := m.primary
		if e.AttributePath.SubAttribute != nil {
			sub = strings.ToLower(*e.AttributePath.SubAttribute)
		}
		c, ok := m.subs[sub]
		if !ok {
			return core.Invalidf("attribute %q cannot be filtered", e.AttributePath.String())
		}
		f.sb.WriteString(m.in)
		f.args = append(f.args, f.orgID)
		f.sb.WriteString(" AND ")
		if err := f.compare(c, e.Operator, e.CompareValue); err != nil {
			return err
		}
		f.sb.WriteString(")")
		return nil
	}
	full, _ := f.name(e.AttributePath, true)
	c, ok := f.schema.cols[full]
	if !ok {
		return core.Invalidf("attribute %q cannot be filtered", e.AttributePath.String())
	}
	return f.compare(c, e.Operator, e.CompareValue)
}

// compare writes one comparison of a column with a bind value.
func (f *sqlFilter) compare(c column, op filter.CompareOperator, v any) error {
	o := strings.ToLower(string(op))
	if o == "pr" || (v == nil && (o == "eq" || o == "ne")) {
		present := presentSQL(c)
		if o == "eq" { // eq null: absent
			present = "NOT " + present
		}
		f.sb.WriteString(present)
		return nil
	}
	if v == nil {
		return core.Invalidf("operator %q needs a value", op)
	}
	switch c.kind {
	case kindBool:
		b, err := boolValue(v)
		if err != nil {
			return err
		}
		switch o {
		case "eq":
			f.sb.WriteString(c.expr + " = ?")
		case "ne":
			f.sb.WriteString(c.expr + " <> ?")
		default:
			return core.Invalidf("operator %q does not apply to a boolean", op)
		}
		f.args = append(f.args, b)
		return nil
	case kindTime:
		s, ok := v.(string)
		if !ok {
			return core.Invalidf("a dateTime compares with a quoted RFC 3339 string")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return core.Invalidf("%q is not an RFC 3339 dateTime", s)
		}
		sqlOp, ok := orderOps[o]
		if !ok {
			return core.Invalidf("operator %q does not apply to a dateTime", op)
		}
		f.sb.WriteString(c.expr + " " + sqlOp + " ?")
		f.args = append(f.args, micros(t))
		return nil
	}
	s, err := stringValue(v)
	if err != nil {
		return err
	}
	col, val := c.expr, "CAST(? AS TEXT)"
	if !c.caseExact {
		col, val = "lower("+col+")", "lower("+val+")"
	}
	if c.nullable && o == "ne" {
		col = "COALESCE(" + col + ", '')"
	}
	switch o {
	case "eq", "ne", "gt", "ge", "lt", "le":
		f.sb.WriteString(col + " " + orderOps[o] + " " + val)
		f.args = append(f.args, s)
	case "co":
		// instr/strpos: case-sensitive in both dialects, no LIKE escaping needed.
		fn := "instr(" + col + ", " + val + ")"
		if f.dialect == Postgres {
			fn = "strpos(" + col + ", " + val + ")"
		}
		f.sb.WriteString(fn + " > 0")
		f.args = append(f.args, s)
	case "sw":
		f.sb.WriteString("substr(" + col + ", 1, length(CAST(? AS TEXT))) = " + val)
		f.args = append(f.args, s, s)
	case "ew":
		f.sb.WriteString("(length(" + col + ") >= length(CAST(? AS TEXT)) AND substr(" + col + ", length(" + col + ") - length(CAST(? AS TEXT)) + 1) = " + val + ")")
		f.args = append(f.args, s, s, s)
	default:
		return core.Invalidf("unknown filter operator %q", op)
	}
	return nil
}

var orderOps = map[string]string{"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}

func presentSQL(c column) string {
	switch c.kind {
	case kindBool, kindTime:
		return "(1 = 1)"
	}
	return "(" + c.expr + " IS NOT NULL AND " + c.expr + " <> '')"
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

// stringValue unescapes a quoted filter string (the parser keeps escapes) and
// renders numbers as their text.
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
