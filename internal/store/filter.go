package store

import (
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// Filter is a SCIM filter as the store takes it: already parsed (the SCIM edge turns
// the text IdPs send into it, quirks included), over a fixed set of attributes, with
// typed values. It is one of *FilterCompare, *FilterAnd, *FilterOr, *FilterNot and
// *FilterValuePath.
//
// The store compiles a Filter to SQL here and only here, against a whitelist of the
// attributes each resource type has columns for; every value is a bind parameter,
// never SQL text. Attributes with caseExact=false compare lower(column) with
// lower(CAST(? AS TEXT)) so the lower() expression indexes serve eq. Multi-valued
// attributes (emails, members) become "id IN (subquery)" over their own indexed
// tables, so no filter scans JSON or loads rows into Go. An attribute the resource
// cannot filter on, an operator that does not fit the attribute's type, or a value of
// the wrong type is core.ErrInvalid.
type Filter interface{ isFilter() }

// FilterAttr is an attribute a filter can compare, named by its SCIM path.
type FilterAttr string

// The attributes of users (the first group, and emails) and of groups (id,
// externalId, displayName, meta.*, and members) that filters run on. Sub-attributes
// of a multi-valued attribute (emails.value) compare only inside a FilterValuePath of
// that attribute.
const (
	AttrID                FilterAttr = "id"
	AttrExternalID        FilterAttr = "externalId"
	AttrUserName          FilterAttr = "userName"
	AttrDisplayName       FilterAttr = "displayName"
	AttrGivenName         FilterAttr = "name.givenName"
	AttrFamilyName        FilterAttr = "name.familyName"
	AttrTitle             FilterAttr = "title"
	AttrLocale            FilterAttr = "locale"
	AttrTimezone          FilterAttr = "timezone"
	AttrNickName          FilterAttr = "nickName"
	AttrUserType          FilterAttr = "userType"
	AttrPreferredLanguage FilterAttr = "preferredLanguage"
	AttrActive            FilterAttr = "active"
	AttrCreated           FilterAttr = "meta.created"
	AttrLastModified      FilterAttr = "meta.lastModified"
	AttrResourceType      FilterAttr = "meta.resourceType"
	AttrEmployeeNumber    FilterAttr = "employeeNumber"
	AttrDepartment        FilterAttr = "department"
	AttrCostCenter        FilterAttr = "costCenter"
	AttrOrganization      FilterAttr = "organization"
	AttrDivision          FilterAttr = "division"
	AttrManager           FilterAttr = "manager.value"

	AttrEmails       FilterAttr = "emails"
	AttrEmailValue   FilterAttr = "emails.value"
	AttrEmailType    FilterAttr = "emails.type"
	AttrEmailPrimary FilterAttr = "emails.primary"

	AttrMembers     FilterAttr = "members"
	AttrMemberValue FilterAttr = "members.value"
)

// FilterType is the SCIM type of an attribute, which says what its values are.
type FilterType int

// Attribute types.
const (
	FilterString   FilterType = iota // Value is a string
	FilterBoolean                    // Value is a bool
	FilterDateTime                   // Value is a time.Time
	FilterMulti                      // a multi-valued attribute: filtered through a FilterValuePath
)

// Type reports an attribute's type; ok is false for an attribute no resource can
// filter on.
func (a FilterAttr) Type() (t FilterType, ok bool) {
	for _, fs := range []*filterSchema{&userFilterSchema, &groupFilterSchema} {
		if c, ok := fs.cols[a]; ok {
			return c.typ, true
		}
		for m, ma := range fs.multi {
			if m == a {
				return FilterMulti, true
			}
			if c, ok := ma.subs[a]; ok {
				return c.typ, true
			}
		}
	}
	return 0, false
}

// FilterOp is a comparison operator of RFC 7644 §3.4.2.2.
type FilterOp string

// Operators. Strings take them all; booleans eq and ne; dateTimes all but co, sw
// and ew. OpPresent takes no value.
const (
	OpEq      FilterOp = "eq"
	OpNe      FilterOp = "ne"
	OpCo      FilterOp = "co"
	OpSw      FilterOp = "sw"
	OpEw      FilterOp = "ew"
	OpGt      FilterOp = "gt"
	OpGe      FilterOp = "ge"
	OpLt      FilterOp = "lt"
	OpLe      FilterOp = "le"
	OpPresent FilterOp = "pr"
)

// FilterCompare compares an attribute with a value of the attribute's type (a string,
// a bool or a time.Time; nil with OpPresent).
type FilterCompare struct {
	Attr  FilterAttr
	Op    FilterOp
	Value any
}

// FilterAnd matches what both sides match.
type FilterAnd struct{ Left, Right Filter }

// FilterOr matches what either side matches.
type FilterOr struct{ Left, Right Filter }

// FilterNot matches what Filter does not.
type FilterNot struct{ Filter Filter }

// FilterValuePath matches a resource with an entry of the multi-valued attribute
// Attr that Filter matches (emails[type eq "work" and value co "@x"]); Filter's
// comparisons name Attr's sub-attributes (AttrEmailType, AttrEmailValue).
type FilterValuePath struct {
	Attr   FilterAttr
	Filter Filter
}

func (*FilterCompare) isFilter()   {}
func (*FilterAnd) isFilter()       {}
func (*FilterOr) isFilter()        {}
func (*FilterNot) isFilter()       {}
func (*FilterValuePath) isFilter() {}

// maxFilterDepth bounds nesting so a hostile filter cannot make compilation deep.
const maxFilterDepth = 32

// filterCol maps one attribute to SQL.
type filterCol struct {
	expr      string // SQL over the aliases u (users), g (idp_groups), e (user_emails), m (idp_group_members)
	typ       FilterType
	caseExact bool
	nullable  bool
}

// filterMulti is a multi-valued attribute kept in its own table.
type filterMulti struct {
	// in is "outer.id IN (SELECT <owner> FROM <table> alias WHERE <scope>" with one
	// ? for the org id; the compiler appends " AND (cond))".
	in   string
	subs map[FilterAttr]filterCol
}

// filterSchema is the whitelist of one resource type.
type filterSchema struct {
	cols  map[FilterAttr]filterCol
	multi map[FilterAttr]filterMulti
}

var userFilterSchema = filterSchema{
	cols: map[FilterAttr]filterCol{
		AttrID:                {expr: "u.id", caseExact: true},
		AttrExternalID:        {expr: "u.external_id", caseExact: true, nullable: true},
		AttrUserName:          {expr: "u.user_name"},
		AttrDisplayName:       {expr: "u.display_name"},
		AttrGivenName:         {expr: "u.given_name"},
		AttrFamilyName:        {expr: "u.family_name"},
		AttrTitle:             {expr: "u.title"},
		AttrLocale:            {expr: "u.locale"},
		AttrTimezone:          {expr: "u.timezone"},
		AttrNickName:          {expr: "u.nick_name"},
		AttrUserType:          {expr: "u.user_type"},
		AttrPreferredLanguage: {expr: "u.preferred_language"},
		AttrActive:            {expr: "u.active", typ: FilterBoolean},
		AttrCreated:           {expr: "u.created_at", typ: FilterDateTime},
		AttrLastModified:      {expr: "u.updated_at", typ: FilterDateTime},
		AttrEmployeeNumber:    {expr: "u.employee_number"},
		AttrDepartment:        {expr: "u.department"},
		AttrCostCenter:        {expr: "u.cost_center"},
		AttrOrganization:      {expr: "u.organization"},
		AttrDivision:          {expr: "u.division"},
		AttrManager:           {expr: "u.manager_id", caseExact: true},
		AttrResourceType:      {expr: "'User'", caseExact: true},
	},
	multi: map[FilterAttr]filterMulti{
		AttrEmails: {
			in: "u.id IN (SELECT e.user_id FROM user_emails e WHERE e.org_id = ?",
			subs: map[FilterAttr]filterCol{
				AttrEmailValue:   {expr: "e.value"},
				AttrEmailType:    {expr: "e.type"},
				AttrEmailPrimary: {expr: "e.is_primary", typ: FilterBoolean},
			},
		},
	},
}

var groupFilterSchema = filterSchema{
	cols: map[FilterAttr]filterCol{
		AttrID:           {expr: "g.id", caseExact: true},
		AttrExternalID:   {expr: "g.external_id", caseExact: true, nullable: true},
		AttrDisplayName:  {expr: "g.display_name"},
		AttrCreated:      {expr: "g.created_at", typ: FilterDateTime},
		AttrLastModified: {expr: "g.updated_at", typ: FilterDateTime},
		AttrResourceType: {expr: "'Group'", caseExact: true},
	},
	multi: map[FilterAttr]filterMulti{
		AttrMembers: {
			in: "g.id IN (SELECT m.idp_group_id FROM idp_group_members m WHERE m.org_id = ?",
			subs: map[FilterAttr]filterCol{
				AttrMemberValue: {expr: "m.user_id", caseExact: true},
			},
		},
	},
}

// filterSQL accumulates a WHERE clause and its bind values.
type filterSQL struct {
	schema  *filterSchema
	dialect Dialect
	orgID   string
	sb      strings.Builder
	args    []any
}

// compileFilter turns f into a SQL condition with ? placeholders.
func compileFilter(d Dialect, fs *filterSchema, orgID string, f Filter) (string, []any, error) {
	c := &filterSQL{schema: fs, dialect: d, orgID: orgID}
	if err := c.filter(f, nil, 0); err != nil {
		return "", nil, err
	}
	return c.sb.String(), c.args, nil
}

// filter writes one expression; inside a value path, multi is the attribute whose
// sub-attributes the comparisons name.
func (c *filterSQL) filter(f Filter, multi *filterMulti, depth int) error {
	if depth > maxFilterDepth {
		return core.Invalidf("filter nested too deeply")
	}
	switch f := f.(type) {
	case *FilterAnd:
		if f != nil {
			return c.logical("AND", f.Left, f.Right, multi, depth)
		}
	case *FilterOr:
		if f != nil {
			return c.logical("OR", f.Left, f.Right, multi, depth)
		}
	case *FilterNot:
		if f != nil {
			c.sb.WriteString("NOT (")
			if err := c.filter(f.Filter, multi, depth+1); err != nil {
				return err
			}
			c.sb.WriteString(")")
			return nil
		}
	case *FilterValuePath:
		if f != nil {
			if multi != nil {
				return core.Invalidf("nested value paths are not supported")
			}
			m, ok := c.schema.multi[f.Attr]
			if !ok {
				return core.Invalidf("attribute %q is not a multi-valued attribute that can be filtered", f.Attr)
			}
			c.sb.WriteString(m.in)
			c.args = append(c.args, c.orgID)
			c.sb.WriteString(" AND (")
			if err := c.filter(f.Filter, &m, depth+1); err != nil {
				return err
			}
			c.sb.WriteString("))")
			return nil
		}
	case *FilterCompare:
		if f != nil {
			cols := c.schema.cols
			if multi != nil {
				cols = multi.subs
			}
			col, ok := cols[f.Attr]
			if !ok {
				if multi != nil {
					return core.Invalidf("sub-attribute %q cannot be filtered here", f.Attr)
				}
				return core.Invalidf("attribute %q cannot be filtered", f.Attr)
			}
			return c.compare(col, f)
		}
	}
	return core.Invalidf("unsupported filter expression")
}

func (c *filterSQL) logical(op string, left, right Filter, multi *filterMulti, depth int) error {
	c.sb.WriteString("(")
	if err := c.filter(left, multi, depth+1); err != nil {
		return err
	}
	c.sb.WriteString(" " + op + " ")
	if err := c.filter(right, multi, depth+1); err != nil {
		return err
	}
	c.sb.WriteString(")")
	return nil
}

var orderOps = map[FilterOp]string{OpEq: "=", OpNe: "<>", OpGt: ">", OpGe: ">=", OpLt: "<", OpLe: "<="}

// compare writes one comparison of a column with a bind value.
func (c *filterSQL) compare(col filterCol, f *FilterCompare) error {
	if f.Op == OpPresent {
		if f.Value != nil {
			return core.Invalidf("operator %q takes no value", f.Op)
		}
		c.sb.WriteString(presentSQL(col))
		return nil
	}
	switch col.typ {
	case FilterBoolean:
		b, ok := f.Value.(bool)
		if !ok {
			return core.Invalidf("%v is not a boolean", f.Value)
		}
		if f.Op != OpEq && f.Op != OpNe {
			return core.Invalidf("operator %q does not apply to a boolean", f.Op)
		}
		c.sb.WriteString(col.expr + " " + orderOps[f.Op] + " ?")
		c.args = append(c.args, b)
		return nil
	case FilterDateTime:
		t, ok := f.Value.(time.Time)
		if !ok {
			return core.Invalidf("a dateTime compares with a dateTime, not %v", f.Value)
		}
		sqlOp, ok := orderOps[f.Op]
		if !ok {
			return core.Invalidf("operator %q does not apply to a dateTime", f.Op)
		}
		c.sb.WriteString(col.expr + " " + sqlOp + " ?")
		c.args = append(c.args, micros(t))
		return nil
	}
	s, ok := f.Value.(string)
	if !ok {
		return core.Invalidf("%v is not a string", f.Value)
	}
	expr, val := col.expr, "CAST(? AS TEXT)"
	if !col.caseExact {
		expr, val = "lower("+expr+")", "lower("+val+")"
	}
	if col.nullable && f.Op == OpNe {
		expr = "COALESCE(" + expr + ", '')"
	}
	switch f.Op {
	case OpEq, OpNe, OpGt, OpGe, OpLt, OpLe:
		c.sb.WriteString(expr + " " + orderOps[f.Op] + " " + val)
		c.args = append(c.args, s)
	case OpCo:
		// instr/strpos: case-sensitive in both dialects, no LIKE escaping needed.
		fn := "instr(" + expr + ", " + val + ")"
		if c.dialect == Postgres {
			fn = "strpos(" + expr + ", " + val + ")"
		}
		c.sb.WriteString(fn + " > 0")
		c.args = append(c.args, s)
	case OpSw:
		c.sb.WriteString("substr(" + expr + ", 1, length(CAST(? AS TEXT))) = " + val)
		c.args = append(c.args, s, s)
	case OpEw:
		c.sb.WriteString("(length(" + expr + ") >= length(CAST(? AS TEXT)) AND substr(" + expr + ", length(" + expr + ") - length(CAST(? AS TEXT)) + 1) = " + val + ")")
		c.args = append(c.args, s, s, s)
	default:
		return core.Invalidf("unknown filter operator %q", f.Op)
	}
	return nil
}

func presentSQL(c filterCol) string {
	switch c.typ {
	case FilterBoolean, FilterDateTime:
		return "(1 = 1)"
	}
	return "(" + c.expr + " IS NOT NULL AND " + c.expr + " <> '')"
}

// withFilter narrows a list's WHERE clause by q.Filter, compiled for the schema.
func (s *SQL) withFilter(where string, args []any, fs *filterSchema, orgID string, q SCIMQuery) (string, []any, error) {
	if q.Filter == nil {
		return where, args, nil
	}
	cond, fargs, err := compileFilter(s.dialect, fs, orgID, q.Filter)
	if err != nil {
		return "", nil, err
	}
	return where + " AND (" + cond + ")", append(args, fargs...), nil
}
