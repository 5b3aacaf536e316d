package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// SCIMUser is a core user with the SCIM attributes that filters run on. Doc is the
// whole resource as the IdP sent it (JSON object, without id, meta and password); the
// other fields are projections of Doc made by the SCIM edge, stored in columns.
type SCIMUser struct {
	core.User
	Title             string
	Locale            string
	Timezone          string
	NickName          string
	UserType          string
	PreferredLanguage string
	EmployeeNumber    string
	Department        string
	CostCenter        string
	Organization      string
	Division          string
	ManagerID         string
	Emails            []SCIMEmail
	Doc               []byte
}

// SCIMEmail is one entry of a user's emails.
type SCIMEmail struct {
	Value   string
	Type    string
	Primary bool
}

// SCIMGroup is an IdP group of a SCIM directory.
type SCIMGroup = core.IdPGroup

// SCIMQuery is one page of a filtered SCIM list. Filter is nil for every resource;
// StartIndex is 1-based; Count 0 asks only for the total.
type SCIMQuery struct {
	Filter     Filter
	StartIndex int
	Count      int
}

// MemberChange is a delta to a group's members. Replace, when set, makes the members
// exactly Add (Remove is then ignored); otherwise Remove runs before Add, so Okta's
// one-request remove-then-add delta ends with the added member present.
type MemberChange struct {
	Replace bool
	Add     []string
	Remove  []string
}

// Empty reports whether the change does nothing.
func (c MemberChange) Empty() bool { return !c.Replace && len(c.Add) == 0 && len(c.Remove) == 0 }

// SCIM is what the SCIM service needs beyond the core contract. Every change is one
// transaction that bumps the resource's version (its ETag) and writes an audit event
// naming the directory (actor.ID is the directory id). Filters come parsed (Filter)
// and are compiled to SQL over a whitelist of attributes; an attribute the resource
// cannot filter on, or an operator or value that does not fit it, is core.ErrInvalid.
//
// A directory sees only what it owns: every read and write of users and groups
// takes the directory and runs WHERE directory_id = ?, so another source's user is
// core.ErrNotFound, matches no filter and is not counted, and as a group member is
// core.ErrInvalid. (userName stays unique per org: a create that collides with a
// user the directory may not adopt is core.ErrConflict.)
type SCIM interface {
	// SCIMCreateUser creates the user, or, when the org already has the userName,
	// adopts that user if the directory may (a local or connection-owned user whose
	// userName is in one of the directory's domains, verified ones when the org
	// requires them): the directory becomes the owner and the request's attributes
	// replace theirs, keeping the id; audited as user.adopted. Anything else, the
	// directory's own user or another directory's included, is core.ErrConflict and
	// nothing changes.
	SCIMCreateUser(ctx context.Context, actor core.Actor, u SCIMUser) (SCIMUser, error)
	SCIMGetUser(ctx context.Context, orgID, directoryID, id string) (SCIMUser, error)
	// SCIMUpdateUser reads the user, lets fn change it (fn may return core.ErrVersion
	// for a stale If-Match) and writes it back, in one transaction.
	SCIMUpdateUser(ctx context.Context, actor core.Actor, orgID, directoryID, id string, fn func(*SCIMUser) error) (SCIMUser, error)
	SCIMDeleteUser(ctx context.Context, actor core.Actor, orgID, directoryID, id string) error
	// SCIMListUsers returns one page and the exact number of matches. A listed user
	// carries what its SCIM representation is made of: id, userName, externalId,
	// active, times, version, owner and the stored document; the attribute fields
	// the document holds (Title…, Emails) and the owner's name are left empty.
	SCIMListUsers(ctx context.Context, orgID, directoryID string, q SCIMQuery) ([]SCIMUser, int, error)

	SCIMCreateGroup(ctx context.Context, actor core.Actor, g SCIMGroup, members []string) (SCIMGroup, error)
	SCIMGetGroup(ctx context.Context, orgID, directoryID, id string) (SCIMGroup, error)
	// SCIMUpdateGroup lets fn change the group's attributes and applies the member
	// change, in one transaction; its cost is proportional to the members named.
	// A member that is not a user of the directory is core.ErrInvalid. With a nil
	// fn and no Replace the group is locked last, only to move its version, so
	// concurrent member changes of one group overlap but for that and the commit.
	SCIMUpdateGroup(ctx context.Context, actor core.Actor, orgID, directoryID, id string, fn func(*SCIMGroup) error, mc MemberChange) (SCIMGroup, error)
	SCIMDeleteGroup(ctx context.Context, actor core.Actor, orgID, directoryID, id string) error
	SCIMListGroups(ctx context.Context, orgID, directoryID string, q SCIMQuery) ([]SCIMGroup, int, error)
	// SCIMGroupMembers pages through a group's members in user id order: up to limit
	// members with an id greater than after.
	SCIMGroupMembers(ctx context.Context, orgID, directoryID, groupID, after string, limit int) ([]SCIMMember, error)
}

// SCIMMember is one member of a group as SCIM shows it.
type SCIMMember struct {
	ID      string
	Display string
}

var _ SCIM = (*SQL)(nil)

// listPage runs the page query and, when the page alone cannot tell the exact
// total, a COUNT. A lookup (userName eq …) is then one indexed query.
//
// colArgs are the arguments of cols (a token check's), before the page's own.
// tail, when set (SQLite), is a SELECT of one more row, with its arguments
// tailArgs, that the statement returns after the page's rows (UNION ALL): rows
// must take it out before it counts them. dest is a slice that sqlx fills, or a
// func(*sql.Rows) error that scans each row itself (rows1).
func (s *SQL) listPage(ctx context.Context, orgID, from, where string, args []any, cols string, colArgs []any, tail string, tailArgs []any, order string, q SCIMQuery, dest any, rows func() int) (int, error) {
	if q.Count > 0 {
		pageArgs := append(append(slices.Clone(colArgs), args...), q.Count, q.StartIndex-1)
		query := `SELECT ` + cols + ` FROM ` + from + ` WHERE ` + where + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
		if tail != "" && s.dialect == SQLite {
			query = `SELECT * FROM (` + query + `) UNION ALL ` + tail
			pageArgs = append(pageArgs, tailArgs...)
		}
		if s.dialect == Postgres {
			// PostgreSQL computes the columns (a user's owner name is two
			// subqueries) of every row OFFSET skips: the page's rows are chosen
			// first, then read. SQLite skips before it computes.
			alias := from[strings.LastIndexByte(from, ' ')+1:]
			query = `SELECT ` + cols + ` FROM (SELECT ` + alias + `.* FROM ` + from + ` WHERE ` + where + ` ORDER BY ` + order +
				` LIMIT ? OFFSET ?) ` + alias + ` ORDER BY ` + order
		}
		var err error
		if scan, ok := dest.(func(*sql.Rows) error); ok {
			err = s.rows1(ctx, scan, query, pageArgs...)
		} else {
			err = s.sel1(ctx, dest, query, pageArgs...)
		}
		if err != nil {
			return 0, err
		}
		// A short, non-empty page (or an empty first page) ends the list: the
		// total is known without counting.
		if n := rows(); n < q.Count && (n > 0 || q.StartIndex == 1) {
			return q.StartIndex - 1 + n, nil
		}
	}
	return s.counts.count(ctx, s, orgID, `SELECT COUNT(*) FROM `+from+` WHERE `+where, args)
}

// countCache keeps the totals of list queries by the org's generation, which every
// committed change of the org moves (tx.audit): while it stands still, a total
// counted at it is still exact. An IdP paging through a directory then has its
// users counted once, not once a page (a COUNT walks every index entry of the
// directory: at 100,000 users it cost more than the page itself).
type countCache struct {
	mu sync.Mutex
	m  map[string]countAt
}

type countAt struct {
	generation int64
	n          int
}

// maxCounts bounds the cache; past it, it starts again empty.
const maxCounts = 1024

// count runs query (a COUNT of the org orgID, with args) or answers it from the
// cache: one read of the org's generation instead of the count. A count is taken
// with the generation in one snapshot, so it is exactly the total at that
// generation. Inside a transaction (WithTx) it always counts: the transaction's
// own changes are not committed, nor its generation.
func (c *countCache) count(ctx context.Context, s *SQL, orgID, query string, args []any) (int, error) {
	var n int
	if c == nil || s.bound != nil {
		return n, s.get1(ctx, &n, query, args...)
	}
	key := query + "\x00" + fmt.Sprintf("%#v", args)
	gen, err := s.generation(ctx, orgID)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	at, ok := c.m[key]
	c.mu.Unlock()
	if ok && at.generation == gen {
		return at.n, nil
	}
	err = s.read(ctx, func(t *tx) error {
		if err := t.get(ctx, &gen, generationQuery, orgID); err != nil && !isNotFound(t.s.translate(err)) {
			return err
		} else if err != nil {
			gen = 0
		}
		return t.get(ctx, &n, query, args...)
	})
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCounts {
		clear(c.m)
	}
	c.m[key] = countAt{generation: gen, n: n}
	c.mu.Unlock()
	return n, nil
}

// orderBy is the stable order of a list. With a filter on SQLite the sort column is
// written +col: without statistics SQLite otherwise walks the (org_id, id) index
// for its order and tests every row, instead of seeking the filter's own index
// (externalId eq … scanned the whole org). The few matches are then sorted.
//
// PostgreSQL falls into the same walk when it has no statistics of the table (before
// its first ANALYZE: just after an IdP's first sync, or with autovacuum off), and
// its prepared statements' generic plans keep the walk: a userName eq lookup read
// every user of the directory, 50 ms at 10,000 users. Sorting by col || ” (the
// same order) leaves it only the filter's index.
func (s *SQL) orderBy(col string, q SCIMQuery) string {
	switch {
	case q.Filter == nil:
		return col
	case s.dialect == SQLite:
		return "+" + col
	default:
		return col + " || ''"
	}
}

func normalizeQuery(q *SCIMQuery) {
	if q.StartIndex < 1 {
		q.StartIndex = 1
	}
	if q.Count > MaxLimit {
		q.Count = MaxLimit
	}
}
