package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

func openMigrated(t testing.TB, dsn string) *SQL {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGroupCommitIsolatesFailures: changes committed together in one transaction
// (SQLite's group commit, an org's lane on PostgreSQL) stay apart. A change that
// writes and then fails leaves nothing, a panicking one panics in its own caller,
// every other change is kept, and the org's change log has no gap.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	dsns := []string{"sqlite:" + filepath.Join(t.TempDir(), "g.db"), "sqlite::memory:"}
	if pg := os.Getenv("GATEHOUSE_TEST_POSTGRES"); pg != "" && !testing.Short() {
		dsns = append(dsns, pgSchema(t, pg))
	}
	for _, dsn := range dsns {
		s := openMigrated(t, dsn)
		ctx := context.Background()
		o, _, err := s.CreateOrg(ctx, core.Actor{Kind: core.ActorSystem}, "acme", "Acme", "a@acme.example.com")
		if err != nil {
			t.Fatal(err)
		}
		const n = 96
		var wg sync.WaitGroup
		results := make([]error, n)
		panics := make([]any, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { panics[i] = recover() }()
				<-start
				results[i] = s.inOrgTx(ctx, o.ID, func(t *tx) error {
					if err := t.audit(ctx, o.ID, core.Actor{Kind: core.ActorSystem, ID: fmt.Sprint(i)}, "test.write", "", "", nil); err != nil {
						return err
					}
					switch i % 3 {
					case 1:
						return core.Invalidf("change %d refused after writing", i)
					case 2:
						if i%2 == 0 {
							panic(fmt.Sprintf("change %d", i))
						}
					}
					return nil
				})
			}()
		}
		close(start)
		wg.Wait()
		kept := map[string]bool{}
		es, err := s.ListAudit(ctx, o.ID, AuditQuery{Action: "test.write"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			kept[e.Actor.ID] = true
		}
		for i := range n {
			id := fmt.Sprint(i)
			switch {
			case i%3 == 1:
				if !errors.Is(results[i], core.ErrInvalid) || kept[id] {
					t.Fatalf("%s: refused change %d: err %v, kept %v", dsn, i, results[i], kept[id])
				}
			case i%3 == 2 && i%2 == 0:
				if panics[i] != fmt.Sprintf("change %d", i) || kept[id] {
					t.Fatalf("%s: panicking change %d: recovered %v, kept %v", dsn, i, panics[i], kept[id])
				}
			default:
				if results[i] != nil || panics[i] != nil || !kept[id] {
					t.Fatalf("%s: change %d: err %v, panic %v, kept %v", dsn, i, results[i], panics[i], kept[id])
				}
			}
		}
		checkGapless(t, s, o.ID)
	}
}

// checkGapless fails unless the org's audit seqs are 1..generation, each once.
func checkGapless(t *testing.T, s *SQL, orgID string) {
	t.Helper()
	var seqs []int64
	if err := s.db.Select(&seqs, s.db.Rebind(`SELECT seq FROM audit_events WHERE org_id = ? ORDER BY seq`), orgID); err != nil {
		t.Fatal(err)
	}
	g, err := s.OrgGeneration(context.Background(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range seqs {
		if q != int64(i+1) {
			t.Fatalf("audit seqs %v: want 1..%d", seqs, len(seqs))
		}
	}
	if g != int64(len(seqs)) {
		t.Fatalf("generation %d, %d audit events", g, len(seqs))
	}
}

// queued waits until b has n changes waiting.
func queued(b *batcher, n int) {
	for {
		b.mu.Lock()
		k := len(b.pending)
		b.mu.Unlock()
		if k >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPostgresLaneRetriesDeadlock: an org's changes on PostgreSQL share a
// transaction (its lane), and a change of the batch that PostgreSQL aborts as a
// deadlock is run again for its caller in a later transaction, while the change
// before it in the batch, run again in savepoint mode, commits once.
func TestPostgresLaneRetriesDeadlock(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if dsn == "" || testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	s := openMigrated(t, pgSchema(t, dsn))
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem}
	a, _, err := s.CreateOrg(ctx, sys, "a", "A", "a@a.example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.CreateOrg(ctx, sys, "b", "B", "b@b.example.com")
	if err != nil {
		t.Fatal(err)
	}
	lane := s.lane(a.ID)
	var (
		wg                   sync.WaitGroup
		mu                   sync.Mutex
		txids                = map[string][]int64{}
		gateErr, dErr, cErr  error
		wErr                 error
		cAttempts            atomic.Int32
		release, cHolds, wOK = make(chan struct{}), make(chan struct{}), make(chan struct{})
	)
	change := func(name string, body func(*tx) error) func(*tx) error {
		return func(t *tx) error {
			var id int64
			if err := t.get(ctx, &id, `SELECT txid_current()`); err != nil {
				return err
			}
			mu.Lock()
			txids[name] = append(txids[name], id)
			mu.Unlock()
			if err := t.audit(ctx, a.ID, core.Actor{Kind: core.ActorSystem, ID: name}, "test.write", "", "", nil); err != nil {
				return err
			}
			return body(t)
		}
	}
	// gate leads the lane and holds its transaction open until d and c are queued:
	// they are the next batch.
	wg.Add(1)
	go func() {
		defer wg.Done()
		gateErr = s.inOrgTx(ctx, a.ID, change("gate", func(*tx) error { <-release; return nil }))
	}()
	for {
		lane.mu.Lock()
		led := lane.leading
		lane.mu.Unlock()
		if led {
			break
		}
		time.Sleep(time.Millisecond)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		dErr = s.inOrgTx(ctx, a.ID, change("d", func(*tx) error { return nil }))
	}()
	queued(lane, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		cErr = s.inOrgTx(ctx, a.ID, change("c", func(t *tx) error {
			if cAttempts.Add(1) > 1 {
				return nil
			}
			if _, err := t.exec(ctx, `SET LOCAL deadlock_timeout = '100ms'`); err != nil {
				return err
			}
			<-wOK // w holds org a
			if err := t.lockOrg(ctx, b.ID); err != nil {
				return err
			}
			close(cHolds)
			time.Sleep(300 * time.Millisecond) // w now waits for org b
			return t.lockOrg(ctx, a.ID)        // the deadlock: c is its victim
		}))
	}()
	queued(lane, 2)
	// w, outside the lane, locks org a and then org b.
	wg.Add(1)
	go func() {
		defer wg.Done()
		wErr = func() error {
			w, err := s.db.BeginTxx(ctx, nil)
			if err != nil {
				return err
			}
			defer w.Rollback()
			if _, err := w.ExecContext(ctx, `SET LOCAL deadlock_timeout = '10s'`); err != nil {
				return err
			}
			if _, err := w.ExecContext(ctx, `SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE`, a.ID); err != nil {
				return err
			}
			close(wOK)
			<-cHolds
			if _, err := w.ExecContext(ctx, `SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE`, b.ID); err != nil {
				return err
			}
			return w.Commit()
		}()
	}()
	close(release)
	wg.Wait()
	for name, err := range map[string]error{"gate": gateErr, "d": dErr, "c": cErr, "w": wErr} {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n := cAttempts.Load(); n != 2 {
		t.Fatalf("c ran %d times, want a deadlock and a retry", n)
	}
	if d, c := txids["d"], txids["c"]; len(c) != 2 || d[0] != c[0] || c[1] == c[0] {
		t.Fatalf("transactions: d %v, c %v: want d and c's first run in one (queued behind gate's), c's rerun in another", d, c)
	}
	es, err := s.ListAudit(ctx, a.ID, AuditQuery{Action: "test.write"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 {
		t.Fatalf("%d events, want gate, d and c once each", len(es))
	}
	checkGapless(t, s, a.ID)
}

// TestRetryOnDeadlock: two PostgreSQL transactions that lock two rows in opposite
// orders deadlock; the one PostgreSQL aborts is run again, and both succeed.
func TestRetryOnDeadlock(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if dsn == "" || testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	s := openMigrated(t, pgSchema(t, dsn))
	ctx := context.Background()
	a, _, err := s.CreateOrg(ctx, core.Actor{Kind: core.ActorSystem}, "a", "A", "a@a.example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.CreateOrg(ctx, core.Actor{Kind: core.ActorSystem}, "b", "B", "b@b.example.com")
	if err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	var wg sync.WaitGroup
	errs := make([]error, 2)
	both := make(chan struct{}, 2)
	for i, order := range [][2]string{{a.ID, b.ID}, {b.ID, a.ID}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			errs[i] = s.inTx(ctx, func(t *tx) error {
				attempts.Add(1)
				if _, err := t.exec(ctx, `SET LOCAL deadlock_timeout = '100ms'`); err != nil {
					return err
				}
				if err := t.lockOrg(ctx, order[0]); err != nil {
					return err
				}
				if first {
					// Both hold their first lock before either asks for its second.
					first = false
					both <- struct{}{}
					for len(both) < 2 {
						time.Sleep(time.Millisecond)
					}
				}
				return t.lockOrg(ctx, order[1])
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("after retry: %v", err)
		}
	}
	if attempts.Load() < 3 {
		t.Fatalf("attempts = %d, want a deadlock and a retry", attempts.Load())
	}
}

// TestBatchLogOrder: in one SQLite batch, a change of no known org (inTx) writes
// its event at once, while the events of the changes of an org wait for the
// batch's end (tx.deferred). The change log still numbers the events in the order
// of the changes: those deferred before the direct one are written, and committed,
// first.
func TestBatchLogOrder(t *testing.T) {
	s := openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "g.db"))
	ctx := context.Background()
	o, _ := acmeOkta(t, s)
	sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
	before, err := s.OrgGeneration(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	var batch []*writeReq
	for i, org := range []string{o.ID, o.ID, "", o.ID} {
		action := fmt.Sprintf("test.step%d", i)
		batch = append(batch, &writeReq{ctx: ctx, orgID: org, done: make(chan struct{}), lead: make(chan struct{}, 1),
			fn: func(t *tx) error { return t.audit(ctx, o.ID, sys, action, "org", o.ID, nil) }})
	}
	s.batch.commit(batch, func() {})
	for i, r := range batch {
		if r.err != nil {
			t.Fatalf("change %d: %v", i, r.err)
		}
	}
	evs, err := s.Changes(ctx, o.ID, before, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%d %s", e.Seq-before, e.Action))
	}
	if want := "[1 test.step0 2 test.step1 3 test.step2 4 test.step3]"; fmt.Sprint(got) != want {
		t.Fatalf("change log %v, want %s", got, want)
	}
}
