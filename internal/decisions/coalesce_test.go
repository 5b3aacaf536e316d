package decisions

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowGen is a counter whose reads block until released, to hold a read in flight.
type slowGen struct {
	v       atomic.Int64
	reads   atomic.Int64
	release chan struct{}
}

func (s *slowGen) OrgGeneration(ctx context.Context, orgID string) (int64, error) {
	s.reads.Add(1)
	v := s.v.Load() // the value at the start of the read, as a database snapshot
	<-s.release
	return v, nil
}

// TestGenReaderNeverServesAnOlderRead: a caller that arrives while a read is in
// flight waits for the next read, which starts after it arrived, so a change
// committed before its request is always seen; callers arriving together share one.
func TestGenReaderNeverServesAnOlderRead(t *testing.T) {
	t.Parallel()
	g := &slowGen{release: make(chan struct{})}
	r := newGenReader(g)
	ctx := context.Background()
	first := make(chan int64)
	go func() { v, _ := r.read(ctx, "org"); first <- v }()
	for g.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	g.v.Store(7) // a change commits while the first read is in flight
	var wg sync.WaitGroup
	got := make([]int64, 10)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], _ = r.read(ctx, "org") }()
	}
	time.Sleep(20 * time.Millisecond) // let them all join the pending read
	close(g.release)
	if v := <-first; v != 0 {
		t.Fatalf("first read: %d", v)
	}
	wg.Wait()
	for i, v := range got {
		if v != 7 {
			t.Fatalf("caller %d got generation %d from a read older than its request", i, v)
		}
	}
	if n := g.reads.Load(); n != 2 {
		t.Fatalf("%d reads for 11 callers, want 2 (one in flight, one shared)", n)
	}
}

// deadlineGen records whether its reads got a deadline; heeds says what its
// WatchesContext answers.
type deadlineGen struct {
	heeds       bool
	hadDeadline bool
}

func (d *deadlineGen) OrgGeneration(ctx context.Context, orgID string) (int64, error) {
	_, d.hadDeadline = ctx.Deadline()
	return 1, nil
}

func (d *deadlineGen) WatchesContext() bool { return d.heeds }

// TestGenReaderBoundsReadsThatHeedIt: a read that watches its context gets
// genReadTimeout; one that says it ignores it (SQLite's) gets no timer at all.
func TestGenReaderBoundsReadsThatHeedIt(t *testing.T) {
	t.Parallel()
	for _, heeds := range []bool{true, false} {
		g := &deadlineGen{heeds: heeds}
		if v, err := newGenReader(g).read(context.Background(), "org"); v != 1 || err != nil {
			t.Fatalf("read: %d, %v", v, err)
		}
		if g.hadDeadline != heeds {
			t.Errorf("WatchesContext %v: the read had a deadline: %v", heeds, g.hadDeadline)
		}
	}
}
