package store

import (
	"context"
	"fmt"
	"sync"
)

// maxBatch bounds how many changes one SQLite transaction carries.
const maxBatch = 128

// batcher is SQLite's group commit. SQLite has one writer, and most of a small
// change's cost is its commit (writing the touched pages to the WAL). So changes that
// arrive while another commit is under way are queued, and the next transaction runs
// them one after the other, each inside its own SAVEPOINT, and commits them together:
// every change still sees the effects of those before it, a failing change rolls
// back to its savepoint alone, and no caller hears of success before the commit.
type batcher struct {
	s       *SQL
	mu      sync.Mutex
	pending []*writeReq
	leading bool // a goroutine is draining pending
}

type writeReq struct {
	ctx   context.Context
	fn    func(*tx) error
	err   error
	panic any           // a panic of fn, re-raised in the caller's goroutine
	done  chan struct{} // closed when the outcome is known
	lead  chan struct{} // signalled when this caller is to run the next batch
}

// run queues fn and waits for its transaction to commit or fail. One caller at a
// time leads: it runs one batch, which starts with its own change, then hands the
// lead to the oldest waiting caller, so no caller drains the queue for others for
// long. Invariant: pending is not empty only while some caller leads.
func (b *batcher) run(ctx context.Context, fn func(*tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{}), lead: make(chan struct{}, 1)}
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
		b.mu.Lock()
		n := min(len(b.pending), maxBatch)
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()
		b.commit(batch) // batch[0] is req
		b.mu.Lock()
		if len(b.pending) > 0 {
			b.pending[0].lead <- struct{}{}
		} else {
			b.leading = false
		}
		b.mu.Unlock()
	}
	<-req.done
	if req.panic != nil {
		panic(req.panic)
	}
	return req.err
}

// commit runs one batch in one transaction and tells every caller its outcome.
func (b *batcher) commit(batch []*writeReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	// The transaction outlives any one caller's context; each change's statements
	// still run under its own caller's context.
	t, err := b.s.db.BeginTxx(context.Background(), nil)
	if err != nil {
		for _, r := range batch {
			r.err = b.s.translate(err)
		}
		return
	}
	x := b.s.newTx(t, b.s.wstmts)
	x.uncancelable = true
	defer x.done(context.Background()) // after the commit, below
	var ok []*writeReq
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err // given up before it started: it changes nothing
			continue
		}
		broken, err := b.step(x, r)
		r.err = err
		if broken {
			// The transaction is in an unknown state: undo it all and fail every
			// change in it, rather than report a success that may not be kept.
			_ = t.Rollback()
			for _, o := range append(ok, batch[i+1:]...) {
				o.err = r.err
			}
			return
		}
		if r.err == nil {
			ok = append(ok, r)
		}
	}
	if err := t.Commit(); err != nil {
		for _, r := range ok {
			r.err = b.s.translate(err)
		}
	}
}

// step runs one change inside a savepoint, undoing it alone when it fails. A
// panic in the change is handed to its caller once the savepoint is undone. broken
// says the savepoint could not be undone, so the whole transaction must go.
func (b *batcher) step(x *tx, r *writeReq) (broken bool, err error) {
	bg := context.Background()
	if _, err := x.exec(bg, `SAVEPOINT change`); err != nil {
		return true, b.s.translate(err)
	}
	undo := func() error {
		if _, err := x.exec(bg, `ROLLBACK TO change`); err != nil {
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
	if ferr := r.fn(x); ferr != nil {
		if uerr := undo(); uerr != nil {
			return true, fmt.Errorf("store: undo a failed change: %w", uerr)
		}
		return false, b.s.translate(ferr)
	}
	if _, err := x.exec(bg, `RELEASE change`); err != nil {
		return true, b.s.translate(err)
	}
	return false, nil
}
