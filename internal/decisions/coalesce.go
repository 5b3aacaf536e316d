package decisions

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// genReader coalesces concurrent reads of an org's generation without weakening
// freshness: a caller joins a read only if that read has not started yet, so the
// value it gets was read after it asked, and reflects every change committed before
// its request. Under load, one database read then answers every request that
// arrived while the previous read was running, instead of one read each.
type genReader struct {
	gen store.Generations
	// unbounded: gen ignores deadlines (store.GenerationReader on SQLite), so a
	// read arms no timer it would not heed.
	unbounded bool

	mu      sync.Mutex
	running map[string]bool
	pending map[string]*genFlight
}

type genFlight struct {
	done chan struct{}
	g    int64
	err  error
}

// genReadTimeout bounds one shared read; a caller's own context bounds its wait.
const genReadTimeout = 5 * time.Second

func newGenReader(gen store.Generations) *genReader {
	w, ok := gen.(interface{ WatchesContext() bool })
	return &genReader{gen: gen, unbounded: ok && !w.WatchesContext(),
		running: map[string]bool{}, pending: map[string]*genFlight{}}
}

func (c *genReader) read(ctx context.Context, orgID string) (int64, error) {
	c.mu.Lock()
	if !c.running[orgID] {
		// No read under way: this caller reads, and whoever comes meanwhile gathers
		// behind it. Most reads go this way, with nothing to allocate for others.
		c.running[orgID] = true
		c.mu.Unlock()
		g, err := c.readNow(orgID)
		c.handOver(orgID)
		return g, err
	}
	f := c.pending[orgID]
	if f == nil {
		f = &genFlight{done: make(chan struct{})}
		c.pending[orgID] = f
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.g, f.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (c *genReader) readNow(orgID string) (int64, error) {
	if c.unbounded {
		return c.gen.OrgGeneration(context.Background(), orgID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), genReadTimeout)
	defer cancel()
	return c.gen.OrgGeneration(ctx, orgID)
}

// run performs f's read for the callers waiting on it, then hands over.
func (c *genReader) run(orgID string, f *genFlight) {
	f.g, f.err = c.readNow(orgID)
	close(f.done)
	c.handOver(orgID)
}

// handOver ends a read: it starts the flight that gathered meanwhile, if any.
func (c *genReader) handOver(orgID string) {
	c.mu.Lock()
	next := c.pending[orgID]
	if next != nil {
		delete(c.pending, orgID)
	} else {
		delete(c.running, orgID)
	}
	c.mu.Unlock()
	if next != nil {
		go c.run(orgID, next)
	}
}
