package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
)

// maxBatch bounds how many changes one SQLite transaction carries.
const maxBatch = 128

// pgMaxBatch bounds a PostgreSQL batch. Every change that writes in a savepoint
// takes a subtransaction id, and a backend caches 64 of them: past that, every
// snapshot of every session has to look subtransactions up in pg_subtrans.
const pgMaxBatch = 32

// batcher is group commit. SQLite has one writer, and most of a small change's cost
// is its commit (writing the touched pages to the WAL). So changes that arrive while
// another commit is under way are queued, and the next transaction runs them one
// after the other and commits them together: every change still sees the effects
// of those before it, a failing change is undone alone (commit: the transaction
// is rolled back and the others run again, each in a SAVEPOINT), and no caller
// hears of success before the commit.
//
// PostgreSQL has the same bottleneck per org: every change takes the next number of
// its org's change log (tx.audit), and that row lock is held through COMMIT, so one
// org's changes commit one after another, each waiting for its own WAL flush. There
// the store keeps a few batchers, lanes, and a change of a known org runs in the lane
// its org hashes to (lane): changes of one org share commits, and orgs of different
// lanes do not wait for each other. A change PostgreSQL aborts as a deadlock or
// serialization failure (ErrRetry) is rolled back to its savepoint and handed back to
// its caller, whose inOrgTx runs it again in a later transaction: rerun in the same
// one it would wait again for the locks the batch already holds.
type batcher struct {
	s   *SQL
	max int // changes per transaction
	// guarded: the last batch had a failing change, so the next one runs each
	// change in a savepoint from the start (commit). Only the lead touches it.
	guarded bool
	mu      sync.Mutex
	pending []*writeReq
	merged  atomic.Int64 // runs of member changes done together (memberRun), for tests
	piped   atomic.Int64 // changes done by their statement in a pipeline, for tests
	leading bool         // a goroutine is draining pending
}

type writeReq struct {
	ctx context.Context
	// orgID is the org the change is of, "" when not known (inTx). The events of
	// such a change are written as it makes them, not deferred to the batch's end
	// (tx.deferred): on PostgreSQL it would be a transaction of its own, and it may
	// read the counter its event moved (a webhook's cursor starts there).
	orgID string
	fn    func(*tx) error
	// shape, when set, says fn is a SCIM member change of a group that may run
	// together with the ones beside it in the batch (memberRun), or a change that
	// may be one statement of a pipeline (pipeline); noMerge, that such a run
	// failed or the statement was not enough, so fn runs alone.
	shape
	noMerge bool
	err     error
	panic   any           // a panic of fn, re-raised in the caller's goroutine
	done    chan struct{} // closed when the outcome is known
	lead    chan struct{} // signalled when this caller is to run the next batch
}

// run queues fn and waits for its transaction to commit or fail. One caller at a
// time leads: it runs one batch, which starts with its own change, then hands the
// lead to the oldest waiting caller, so no caller drains the queue for others for
// long. Invariant: pending is not empty only while some caller leads.
func (b *batcher) run(ctx context.Context, orgID string, fn func(*tx) error, sh shape) error {
	req := &writeReq{ctx: ctx, orgID: orgID, fn: fn, shape: sh, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, req)
	lead := !b.leading
	b.leading = true
	b.mu.Unlock()
	if !lead {
		select {
		case <-req.done:
		case <-req.lead:
			lead = true
		}
	}
	if lead {
		// Most of a batch's cost is its commit, whatever the number of changes
		// in it, so before taking its batch the lead lets the goroutines that are
		// ready to run go first: requests about to queue their changes join this
		// batch instead of waiting for the next. Alone, it goes on at once. Under
		// a directory's parallel pushes this doubled the changes per commit (3.2-3.8
		// to 6.7-6.9 at concurrency 16 on SQLite).
		runtime.Gosched()
		b.mu.Lock()
		n := min(len(b.pending), b.max)
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()
		handed := false
		handoff := func() {
			if handed {
				return
			}
			handed = true
			b.mu.Lock()
			if len(b.pending) > 0 {
				b.pending[0].lead <- struct{}{}
			} else {
				b.leading = false
			}
			b.mu.Unlock()
		}
		b.commit(batch, handoff) // batch[0] is req
		handoff()
	}
	<-req.done
	if req.panic != nil {
		panic(req.panic)
	}
	return req.err
}

// commit runs one batch in one transaction and tells every caller its outcome.
//
// A savepoint costs a round trip on PostgreSQL, and on SQLite a statement of its
// own and a copy of every page a change writes that the batch had written before
// (the sub-journal), so the changes of a batch run without one while none fails:
// when one does, the transaction is rolled back, and the changes done before it in
// the batch run again (they may run more than once) in a new transaction, each in
// a savepoint from then on, which the next batch keeps if this one had a failure
// (a directory posting users that exist, say).
//
// SCIM member changes of one group that sit next to each other in a batch (an IdP
// adding and removing people of a large group one PATCH at a time) run together,
// in a few statements whatever their number (memberRun, changeMembersRun), as they
// would one after the other; when that fails, each runs alone. On PostgreSQL, the
// changes beside each other that are one statement each (oneStmt: a directory's
// create, update or delete of a user) are sent together and answered in one round
// trip (pipeline); SQLite's writer runs such a statement alone (oneStmt.then). The
// change's function runs only when its statement returns no row.
//
// The changes' audit events are written when they are all done (tx.deferred,
// writeAudit), a few statements for the batch rather than one per change, and so
// the batch takes its orgs' change-log counters last and holds them for those
// statements and the COMMIT only. On PostgreSQL the lead then passes on (handoff) before
// the COMMIT: the next batch runs its changes while this one waits for its WAL
// flush, and waits for this one's counters, and so commits after it, only when its
// own changes are done. A row this batch changed, the next one waits for until this
// one commits; this one, past its last change, waits for nothing the next one holds.
func (b *batcher) commit(batch []*writeReq, handoff func()) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	pg := b.s.dialect == Postgres
	guarded := b.guarded // every change in a savepoint
	failed := false
	todo := batch
	var events []auditEvent // the audit events of the changes done
	var conn *sqlx.Conn     // the transaction's connection on PostgreSQL, for pipelines
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for len(todo) > 0 {
		// The transaction outlives any one caller's context; each change's
		// statements still run under its own caller's context.
		if conn != nil {
			_ = conn.Close() // the connection of the transaction rolled back before
		}
		t, c, err := b.begin()
		conn = c
		if err != nil {
			for _, r := range todo {
				r.err = b.s.translate(err)
			}
			return
		}
		x := b.s.newTx(t, b.s.wstmts)
		x.uncancelable = true
		events = events[:0]
		if pg {
			x.conn = conn
		}
		var ok, rest []*writeReq // changes done in t, to be committed; to run again
		var next []*writeReq     // changes left for the next transaction of the batch
		restart := false
		// redo rolls t back: the changes done in it run again, with those of todo
		// from j on, in a new transaction, each in a savepoint from then on.
		redo := func(j int) {
			_ = t.Rollback()
			rest = append(ok, todo[j:]...)
			guarded = guarded || len(ok) > 0
			restart = true
		}
		for i := 0; i < len(todo); i++ {
			r := todo[i]
			if err := r.ctx.Err(); err != nil {
				r.err = err // given up before it started: it changes nothing
				continue
			}
			x.deferred = &events // a run below is of one org's changes
			if r.orgID == "" {
				if len(events) > 0 {
					// Its event is written at once (orgID): the events deferred
					// so far are numbered first, in a commit of their own, so that
					// the change log's order is the order of the changes.
					next = todo[i:]
					break
				}
				x.deferred = nil
			}
			// The first change of a transaction needs no savepoint: when it fails,
			// the transaction, which holds nothing else, goes, and the changes
			// after it run in a new one.
			bare := len(ok) == 0 || !guarded
			kept := len(events)
			if run := memberRun(todo[i:]); len(run) > 1 {
				// Member changes of one group, one after the other: run together,
				// or, when that fails, each alone as below.
				broken, err := b.step(x, &writeReq{ctx: context.Background(), fn: func(x *tx) error { return x.changeMembersRun(run) }}, bare)
				if err == nil {
					b.merged.Add(1)
					ok = append(ok, run...)
					i += len(run) - 1
					continue
				}
				events = events[:kept]
				runAlone(run)
				if broken || bare {
					redo(i)
					break
				}
			}
			if run := pipeRun(todo[i:], pg); len(run) > 0 {
				// Changes that are each one statement: sent together, in one round
				// trip. A change whose statement found its way blocked (no row) runs
				// as a whole after them; an error fails the transaction, and each
				// change runs alone.
				done, later, err := x.pipeline(run)
				if err != nil {
					events = events[:kept]
					runAlone(run)
					redo(i)
					break
				}
				b.piped.Add(int64(len(done)))
				ok = append(ok, done...)
				todo = append(later, todo[i+len(run):]...)
				i = -1
				continue
			}
			broken, err := b.step(x, r, bare)
			r.err = err
			if err != nil {
				events = events[:kept] // a failed change audits nothing
				failed = true
			}
			switch {
			case broken:
				// The transaction is in an unknown state: undo it all and fail every
				// change in it, rather than report a success that may not be kept.
				_ = t.Rollback()
				x.done(context.Background())
				for _, o := range append(ok, todo[i+1:]...) {
					o.err = r.err
				}
				return
			case err == nil:
				ok = append(ok, r)
				continue
			case bare:
				// The transaction is rolled back with the failed change: the changes
				// done in it run again, in savepoints, with those not yet run.
				redo(i + 1)
			}
			if restart {
				break
			}
		}
		if restart {
			x.done(context.Background())
			todo = rest
			continue
		}
		b.guarded = failed
		// Changes of a token found revoked fail; the others run again without them.
		if todo = append(b.finish(t, x, ok, events, pg, handoff), next...); len(todo) > 0 {
			continue
		}
		return
	}
	b.guarded = failed
}

// finish writes the audit events of a batch's changes ok, hands the lead on
// (PostgreSQL) and commits. When the events name a token that is no longer live
// (writeAudit), the transaction is rolled back instead: the changes of that token
// fail as a dead token's do, and the others are returned, to run again.
func (b *batcher) finish(t *sqlx.Tx, x *tx, ok []*writeReq, events []auditEvent, pg bool, handoff func()) (again []*writeReq) {
	defer x.done(context.Background()) // after the commit
	if len(ok) == 0 {
		_ = t.Rollback()
		return nil
	}
	if len(events) > 0 {
		dead, err := x.writeAudit(context.Background(), events)
		if err == nil && len(dead) > 0 {
			_ = t.Rollback()
			for _, r := range ok {
				if c := tokenCheckOf(r.ctx); c != nil && slices.Contains(dead, c.id) {
					c.saw(0)
					r.err = errTokenNotLive
				} else {
					again = append(again, r)
				}
			}
			return again
		}
		if err != nil {
			_ = t.Rollback()
			for _, r := range ok {
				r.err = b.s.translate(err)
			}
			return nil
		}
	}
	if pg {
		handoff()
	}
	if err := t.Commit(); err != nil {
		for _, r := range ok {
			r.err = b.s.translate(err)
		}
		return nil
	}
	// The events' tokens were live when they were written: a change by one of
	// them is proven, as a read is by its statement.
	live := checkedTokens(events)
	for _, r := range ok {
		if c := tokenCheckOf(r.ctx); c != nil && slices.Contains(live, c.id) {
			c.saw(1)
		}
	}
	b.s.ckpt.committed()
	return nil
}

// runAlone marks the changes of a run that failed (a member run, a pipeline) to
// run each alone, by its function.
func runAlone(run []*writeReq) {
	for _, r := range run {
		r.noMerge = true
	}
}

// begin starts a batch's transaction. On PostgreSQL it runs on a connection of its
// own, which pipeline reaches the driver of.
func (b *batcher) begin() (*sqlx.Tx, *sqlx.Conn, error) {
	bg := context.Background()
	if b.s.dialect != Postgres {
		t, err := b.s.laneDB().BeginTxx(bg, nil)
		return t, nil, err
	}
	c, err := b.s.laneDB().Connx(bg)
	if err != nil {
		return nil, nil, err
	}
	t, err := c.BeginTxx(bg, nil)
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	return t, c, nil
}

// step runs one change inside a savepoint, undoing it alone when it fails. A
// panic in the change is handed to its caller once the savepoint is undone. broken
// says the savepoint could not be undone, so the whole transaction must go. A bare
// step (the transaction's first change) sets no savepoint: its caller rolls the
// transaction back when it fails.
//
// On PostgreSQL a savepoint is not released: RELEASE would cost a round trip and
// frees nothing the commit does not (a subtransaction's id stays with the top
// transaction either way), and ROLLBACK TO names the latest savepoint, which is the
// failing change's own.
func (b *batcher) step(x *tx, r *writeReq, bare bool) (broken bool, err error) {
	bg := context.Background()
	pg := b.s.dialect == Postgres
	if !bare {
		if _, err := x.exec(bg, `SAVEPOINT change`); err != nil {
			return true, b.s.translate(err)
		}
	}
	undo := func() error {
		if bare {
			return nil
		}
		if _, err := x.exec(bg, `ROLLBACK TO change`); err != nil || pg {
			return err
		}
		_, err := x.exec(bg, `RELEASE change`)
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			r.panic = p
			err = fmt.Errorf("store: change panicked")
			if uerr := undo(); uerr != nil {
				broken, err = true, fmt.Errorf("store: change panicked and could not be undone: %w", uerr)
			}
		}
	}()
	fn := r.fn
	if !r.noMerge {
		fn = r.stmtFirst(fn) // SQLite: no pipeline sends it
	}
	if ferr := fn(x); ferr != nil {
		if uerr := undo(); uerr != nil {
			return true, fmt.Errorf("store: undo a failed change: %w", uerr)
		}
		return false, b.s.translate(ferr)
	}
	if !pg && !bare {
		if _, err := x.exec(bg, `RELEASE change`); err != nil {
			return true, b.s.translate(err)
		}
	}
	return false, nil
}

// laneDB is the pool of a batch's transaction: on PostgreSQL the key pool (gdb),
// whose prepared statements are planned once (a lane's changes are statements by
// key, and a lane runs them one after the other).
func (s *SQL) laneDB() *sqlx.DB {
	if s.gdb != nil {
		return s.gdb
	}
	return s.db
}

// pgLanes is how many batchers a PostgreSQL store runs.
var pgLanes = 8

var laneSeed = maphash.MakeSeed()

// lane is the batcher of an org's changes on PostgreSQL.
func (s *SQL) lane(orgID string) *batcher {
	return s.lanes[maphash.String(laneSeed, orgID)%uint64(len(s.lanes))]
}
