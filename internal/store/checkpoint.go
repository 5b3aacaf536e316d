package store

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

// checkpointEvery is how many committed write transactions go by between two
// background checkpoints: some hundreds of log pages, a small part of what the
// writer's own wal_autocheckpoint lets the log grow to.
const checkpointEvery = 16

// checkpointer copies the write-ahead log of a SQLite file into the database on a
// connection of its own, beside the single writer. Left to the writer, a
// checkpoint runs inside the commit that takes the log past wal_autocheckpoint: it
// copies every page the log holds and syncs both files while the writer, and every
// change queued behind it, waits (milliseconds, once per few hundred changes: the
// tail of the write latencies). A PASSIVE checkpoint here copies the pages of the
// transactions committed so far without blocking the writer or the readers, so
// when the writer's own checkpoint comes (it still does: only it can restart the
// log, and it bounds the log if this one falls behind) there is little left for it
// to copy.
type checkpointer struct {
	db      *sqlx.DB // one connection, used by run only
	mu      sync.Mutex
	commits int
	kick    chan struct{} // buffered: a checkpoint is due
	stop    chan struct{}
	stopped chan struct{}
	closing sync.Once // Close may be called more than once (the store's Close is)
	err     error     // of the first close
}

func newCheckpointer(db *sqlx.DB) *checkpointer {
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// committed counts a committed write transaction and asks for a checkpoint every
// checkpointEvery of them. It never waits. Nil (no checkpointer) does nothing.
func (c *checkpointer) committed() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.commits++
	due := c.commits%checkpointEvery == 0
	c.mu.Unlock()
	if due {
		select {
		case c.kick <- struct{}{}:
		default: // one is already due
		}
	}
}

func (c *checkpointer) run() {
	defer close(c.stopped)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		// The outcome does not matter: a checkpoint that finds the log busy (the
		// writer's own checkpoint under way) or fails leaves the pages to the next
		// one, or to the writer's.
		var busy, logged, copied int64
		_ = c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logged, &copied)
	}
}

// close stops the goroutine and closes the connection; again, it does nothing.
func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	c.closing.Do(func() {
		close(c.stop)
		<-c.stopped
		c.err = c.db.Close()
	})
	return c.err
}

// openSQLiteCheckpointer opens the checkpointer's connection to a SQLite file.
func openSQLiteCheckpointer(path string) (*sqlx.DB, error) {
	db, err := sqlx.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}
