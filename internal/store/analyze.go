package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// analyzer keeps PostgreSQL's statistics of the users tables, and of IdP group
// memberships, up with the rows this store inserts.
//
// PostgreSQL plans a statement run often once, generically, from the statistics
// of the tables it reads at the time: the key pool's statements (SQL.gdb), and the
// foreign-key checks that each insert of a member or an email makes of its user
// (SELECT 1 FROM users WHERE org_id = $1 AND id = $2) and each deletion of a user
// of its emails. Before a table's first ANALYZE such a plan may read an index that
// matches org_id alone (users_owner_connection_idx, users_employee_number_idx,
// user_emails_value_idx): every check then reads every user of the org, and a
// connection of the key pool keeps the plan for a minute (gdbLifetime) however the
// table grows meanwhile. Autovacuum analyzes a table once a tenth of it changed,
// but looks at most once a minute, while an IdP's first sync adds thousands of
// users a second: in a 10,000-user SCIM run the checks read 3.2 million index
// entries. So the store runs ANALYZE users, user_emails itself, in the background
// on the main pool, each time the users it inserted since it started double from
// analyzeFirst: with statistics the check's plan reads the key (users_org_id_key),
// and ANALYZE invalidates the plans made without them. Memberships are counted
// and analyzed alike (ANALYZE idp_group_members), for the plans of a large group's
// member pages. An ANALYZE that fails (a role that does not own the tables only
// gets a warning) changes nothing.
type analyzer struct {
	db      *sqlx.DB
	users   doubling   // users inserted
	members doubling   // IdP group memberships inserted
	lookup  lookupGate // read again after each ANALYZE of users
	mu      sync.Mutex // guards closed and wg.Add against close
	closed  bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// doubling counts rows inserted into a table and says when they reach the next
// doubling from analyzeFirst.
type doubling struct {
	rows atomic.Int64 // rows inserted
	next atomic.Int64 // rows at which the next ANALYZE starts
}

// add counts n rows and reports whether an ANALYZE is due (to one caller).
func (d *doubling) add(n int) bool {
	rows := d.rows.Add(int64(n))
	next := d.next.Load()
	return rows >= next && d.next.CompareAndSwap(next, 2*max(next, rows))
}

// analyzeFirst is how many inserted rows start a table's first ANALYZE.
var analyzeFirst int64 = 1000

func newAnalyzer(db *sqlx.DB) *analyzer {
	a := &analyzer{db: db}
	a.users.next.Store(analyzeFirst)
	a.members.next.Store(analyzeFirst)
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a
}

// grew counts n users inserted, and starts an ANALYZE of the users tables when
// they reach the next doubling. A nil analyzer (SQLite) does nothing.
func (a *analyzer) grew(n int) {
	if a != nil && a.users.add(n) {
		a.run(`ANALYZE users, user_emails`, a.lookup.stale)
	}
}

// grewMembers counts n IdP group memberships inserted, and starts an ANALYZE of
// idp_group_members at the next doubling: without statistics a page of a large
// group's members (SCIMGroupMembers) read and sorted every member of the group,
// 280 ms a page at 100,000 members.
func (a *analyzer) grewMembers(n int) {
	if a != nil && n > 0 && a.members.add(n) {
		a.run(`ANALYZE idp_group_members`, nil)
	}
}

// run runs an ANALYZE in the background, then after (when not nil).
func (a *analyzer) run(analyze string, after func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, 5*time.Minute)
		defer cancel()
		_, _ = a.db.ExecContext(ctx, analyze)
		if after != nil {
			after()
		}
	}()
}

// close stops a running ANALYZE and waits for it.
func (a *analyzer) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
}

// lookupGate remembers whether a generic plan of a directory's userName eq
// lookup is safe, so that the lookup may run on the key pool (planned once,
// SQL.gdb): when PostgreSQL holds statistics of users gathered from at least
// keyPlanRows rows (pg_class.reltuples), such a plan reads users_user_name_key
// for any value; or while the table is small (at most smallUsersBytes on disk,
// and fewer than smallSlack users inserted by this store since), as before an
// IdP's first sync, where a plan that reads another index reads some tens of
// users. Otherwise (a larger table not yet analyzed, as after pg_restore or until
// the analyzer's first ANALYZE) a generic plan may walk every user of the org on
// each lookup, so the lookup stays planned for its values. The reading is at
// most statsMaxAge old, and is read again after an ANALYZE of users (which also
// replaces the plans).
type lookupGate struct {
	safe  atomic.Bool
	small atomic.Bool  // safe by the table's size alone
	at    atomic.Int64 // users inserted at the last read
	read  atomic.Int64 // UnixNano of the last read; 0: read at next use
}

// keyPlanRows is how many analyzed rows of users let a lookup be planned once;
// smallUsersBytes how large the table may be without statistics, and smallSlack
// how many users this store may insert after reading that it was.
var (
	keyPlanRows     float64 = 1000
	smallUsersBytes int64   = 64 << 10
	smallSlack      int64   = 64
)

// statsMaxAge bounds how long a reading of users' statistics and size is used.
const statsMaxAge = 10 * time.Second

// planOnce reports whether a lookup may be planned once (see lookupGate), reading
// the table's statistics and size again when the last reading is older than
// statsMaxAge, or said the table was small and smallSlack users were inserted
// since (one caller reads, the others use the last reading). A failed read counts
// as neither. A nil analyzer (SQLite) says no.
func (a *analyzer) planOnce(ctx context.Context) bool {
	if a == nil {
		return false
	}
	g := &a.lookup
	now := time.Now().UnixNano()
	last := g.read.Load()
	due := now-last > int64(statsMaxAge) || (g.small.Load() && a.users.rows.Load()-g.at.Load() >= smallSlack)
	if due && g.read.CompareAndSwap(last, now) {
		n := a.users.rows.Load()
		var rows float64
		var size int64
		err := a.db.QueryRowContext(ctx, `SELECT reltuples, pg_relation_size(oid) FROM pg_class WHERE oid = 'users'::regclass`).Scan(&rows, &size)
		byStats := err == nil && rows >= keyPlanRows
		bySize := err == nil && size <= smallUsersBytes
		g.at.Store(n)
		g.small.Store(bySize && !byStats)
		g.safe.Store(byStats || bySize)
	}
	return g.safe.Load()
}

// stale has the next planOnce read the statistics again (after an ANALYZE).
func (g *lookupGate) stale() { g.read.Store(0) }
