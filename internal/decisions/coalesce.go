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
	return &genReader{gen: gen, running: map[string]bool{}, pending: map[string]*genFlight{}}
}

func (c *genReader) read(ctx context.Context, orgID string) (int64, error) {
	c.mu.Lock()
	f := c.pending[orgID]
	if f == nil {
		f = &genFlight{done: make(chan struct{})}
		c.pending[orgID] = f
	}
	lead := !c.running[orgID]
	if lead {
		c.running[orgID] = true
		delete(c.pending, orgID)
	}
	c.mu.Unlock()
	if lead {
		c.run(orgID, f)
	}
	select {
	case <-f.done:
		return f.g, f.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run performs f's read, then starts the flight that gathered meanwhile, if any.
func (c *genReader) run(orgID string, f *genFlight) {
	ctx, cancel := context.WithTimeout(context.Background(), genReadTimeout)
	f.g, f.err = c.gen.OrgGeneration(ctx, orgID)
	cancel()
	close(f.done)
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
