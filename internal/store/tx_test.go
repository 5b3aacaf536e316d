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

func openMigrated(t *testing.T, dsn string) *SQL {
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

// TestGroupCommitIsolatesFailures: changes committed together in one SQLite
// transaction stay apart. A change that writes and then fails leaves nothing, a
// panicking one panics in its own caller, and every other change is kept.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"sqlite:" + filepath.Join(t.TempDir(), "g.db"), "sqlite::memory:"} {
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
				results[i] = s.inTx(ctx, func(t *tx) error {
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
	}
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
