package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// oneStmt is a change that, when nothing is in its way, is one statement returning
// one row of one column: a directory's create of a new user, its update of a user
// read before (at the version read), its delete of a user who is no admin. In a
// PostgreSQL lane, such changes beside each other in a batch are sent together and
// answered in one round trip (pipeline) instead of one each, which is most of what
// a lane's change costs; elsewhere the statement runs alone (then). When the
// statement returns no row it has changed nothing (a conflict on the userName, a
// newer version, an admin), and the change's function runs instead, after the
// statements sent with it: one more order of the batch's changes, which were
// concurrent. A SCIM member change of a group on PostgreSQL (memberStmt) is such a
// statement too, whose rows are read by rows.
type oneStmt struct {
	query string // with ? placeholders
	args  []any
	dest  any // where the row's column goes
	// rows, when set instead of dest, reads the statement's rows; an error fails the
	// pipeline, which then runs again with the change's function instead. Such a
	// statement is sent only in a pipeline: elsewhere the function runs (then).
	rows func(rowScanner) error
	// done finishes the change once its row came back: its audit event and its
	// outcome. It must not fail but for a bug; when it does, the batch runs each of
	// these changes alone.
	done func(*tx) error
}

// then is the change as one statement where no pipeline sends it (SQLite's single
// writer, where a statement costs no round trip but the writer's time is what all
// changes queue for; a transaction of its own; WithTx): the statement, and when it
// returns no row, the change's function fn, which does the whole change itself. A
// statement that fails fails the change, as fn's own statement would (a userName
// taken by a rename): after some errors (a full disk, say) SQLite has rolled back
// the whole transaction, and nothing more may run in it.
func (o *oneStmt) then(fn func(*tx) error) func(*tx) error {
	if o.rows != nil {
		return fn
	}
	return func(x *tx) error {
		err := x.get(context.Background(), o.dest, o.query, o.args...)
		if errors.Is(err, sql.ErrNoRows) {
			return fn(x)
		}
		if err != nil {
			return err
		}
		return o.done(x)
	}
}

// rowScanner is the rows of a statement, from database/sql or from pgx.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// pipeRun returns the changes at the head of todo that pipeline sends together:
// those with a statement, on PostgreSQL, none given up or sent before in vain.
func pipeRun(todo []*writeReq, pg bool) []*writeReq {
	n := 0
	for pg && n < len(todo) {
		r := todo[n]
		if r.stmt == nil || r.noMerge || r.ctx.Err() != nil {
			break
		}
		n++
	}
	return todo[:n]
}

// pipeline sends the statements of run together and reads their answers in order.
// It returns the changes whose statement returned its row, finished (done), and
// those whose statement returned none, marked to run as a whole (noMerge). An error
// leaves the transaction failed: the caller rolls it back.
func (t *tx) pipeline(run []*writeReq) (done, later []*writeReq, err error) {
	var found []bool
	err = t.conn.Raw(func(dc any) error {
		conn := dc.(*stdlib.Conn).Conn()
		b := &pgx.Batch{}
		for _, r := range run {
			b.Queue(t.Rebind(r.stmt.query), r.stmt.args...)
		}
		res := conn.SendBatch(context.Background(), b)
		for _, r := range run {
			if r.stmt.rows != nil {
				rows, err := res.Query()
				if err == nil {
					err = r.stmt.rows(rows)
					rows.Close()
					if err == nil {
						err = rows.Err()
					}
				}
				if err != nil {
					_ = res.Close()
					return err
				}
				found = append(found, true)
				continue
			}
			err := res.QueryRow().Scan(r.stmt.dest)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				_ = res.Close()
				return err
			}
			found = append(found, err == nil)
		}
		return res.Close()
	})
	if err != nil {
		return nil, nil, t.s.translate(err)
	}
	for i, r := range run {
		if !found[i] {
			r.noMerge = true
			later = append(later, r)
			continue
		}
		if err := r.stmt.done(t); err != nil {
			return nil, nil, err
		}
		done = append(done, r)
	}
	return done, later, nil
}
