package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Source is the store as the index reads it (store.SQL is one).
type Source = store.OrgSnapshots

// Options tune an Index. The zero value keeps every org it loads.
type Options struct {
	// MaxBytes bounds the estimated size of all loaded orgs (View.SizeBytes): when
	// a load (or an org's growth, looked at every fitEvery catch-ups) takes them
	// past it, other orgs are evicted until they fit: first those holding more
	// than an equal share of the bound (the largest first), then the least
	// recently used, so that one large org cannot push the others out. An org
	// bigger than the bound alone stays loaded. 0: no bound.
	MaxBytes int64
	// MaxIdle evicts an org not asked about for this long. 0: never.
	MaxIdle time.Duration
	// MaxCatchUp is how many changes behind an org may be and still be caught up
	// change by change; further behind, it is loaded afresh. 0: 10,000.
	MaxCatchUp int64
	// Now is the clock for MaxIdle; nil is time.Now.
	Now func() time.Time
}

// Index keeps the access graph of the orgs it is asked about, each loaded once
// and then kept current by applying the org's change log. It is safe for
// concurrent use.
type Index struct {
	src  Source
	opts Options

	mu        sync.RWMutex
	orgs      map[string]*org
	lastSweep atomic.Int64 // UnixNano of the last MaxIdle sweep

	loads, reloads, applies, evictions atomic.Int64
}

// org is one org's slot: the newest view, and the right to make the next one.
type org struct {
	id  string
	cur atomic.Pointer[View]
	// sem is held by the one goroutine bringing the org up to date; the others
	// wait for it, then use what it published.
	sem     chan struct{}
	used    atomic.Int64 // UnixNano of the last At
	applies int          // catch-ups since the last fit; guarded by sem
}

// fitEvery is how many catch-ups of an org pass between two checks of MaxBytes:
// an org grows by its changes too, and a check costs a walk of the new view.
const fitEvery = 1024

// New returns an empty index over src.
func New(src Source, opts Options) *Index {
	if opts.MaxCatchUp <= 0 {
		opts.MaxCatchUp = 10_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Index{src: src, opts: opts, orgs: map[string]*org{}}
}

// At returns a view of the org that holds at least the changes up to gen, the
// org's generation as the caller just read it (store.Generations): a change
// committed before that read, by any instance, is in the view. An org not loaded
// is loaded; one behind reads the changes it lacks, in one read snapshot, and
// applies them. One caller per org does that work; the others wait for it and
// share the result. A view newer than gen is as good: every view is a state the
// database was in.
func (ix *Index) At(ctx context.Context, orgID string, gen int64) (*View, error) {
	now := ix.opts.Now()
	o := ix.org(orgID, now)
	o.used.Store(now.UnixNano())
	if v := o.cur.Load(); v != nil && v.seq >= gen {
		return v, nil
	}
	select {
	case o.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("index: wait for org %s: %w", orgID, ctx.Err())
	}
	defer func() { <-o.sem }()
	if v := o.cur.Load(); v != nil && v.seq >= gen {
		return v, nil
	}
	v, loaded, err := ix.update(ctx, orgID, o.cur.Load())
	if err != nil {
		return nil, err
	}
	o.cur.Store(v)
	if v.seq < gen {
		return nil, fmt.Errorf("index: org %s is at change %d of the database, asked for %d: %w", orgID, v.seq, gen, core.ErrUnavailable)
	}
	if o.applies++; loaded || o.applies >= fitEvery {
		o.applies = 0
		ix.fit(o)
	}
	return v, nil
}

func (ix *Index) org(orgID string, now time.Time) *org {
	if d := ix.opts.MaxIdle; d > 0 {
		if last := ix.lastSweep.Load(); now.UnixNano()-last > int64(d/4) && ix.lastSweep.CompareAndSwap(last, now.UnixNano()) {
			ix.sweep(orgID, now)
		}
	}
	ix.mu.RLock()
	o := ix.orgs[orgID]
	ix.mu.RUnlock()
	if o != nil {
		return o
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if o = ix.orgs[orgID]; o == nil {
		o = &org{id: orgID, sem: make(chan struct{}, 1)}
		ix.orgs[orgID] = o
	}
	return o
}

// sweep evicts the orgs other than keep not asked about for MaxIdle.
func (ix *Index) sweep(keep string, now time.Time) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for id, o := range ix.orgs {
		if id != keep && now.Sub(time.Unix(0, o.used.Load())) > ix.opts.MaxIdle {
			ix.evictLocked(o)
		}
	}
}

// update brings base (nil: nothing loaded) up to the database's current state:
// change by change when it can, else by a full load.
func (ix *Index) update(ctx context.Context, orgID string, base *View) (*View, bool, error) {
	if base != nil {
		var v *View
		reload := false
		err := ix.src.ReadOrg(ctx, orgID, func(r *store.OrgReader) error {
			switch seq := r.Seq(); {
			case seq <= base.seq:
				v = base
				return nil
			case seq-base.seq > ix.opts.MaxCatchUp:
				reload = true
				return nil
			}
			nv, err := ix.catchUp(ctx, r, base)
			if errors.As(err, new(errInconsistent)) {
				// A change the index cannot apply: a full load covers whatever it did.
				reload = true
				return nil
			}
			v = nv
			return err
		})
		if err != nil {
			return nil, false, fmt.Errorf("index: bring org %s up to date: %w", orgID, err)
		}
		if !reload {
			return v, false, nil
		}
		ix.reloads.Add(1)
	}
	rows, seq, err := ix.src.ReadOrgAll(ctx, orgID)
	if err != nil {
		return nil, false, fmt.Errorf("index: load org %s: %w", orgID, err)
	}
	v, err := load(orgID, seq, rows.FoldsUnicode, rows)
	if err != nil {
		return nil, false, fmt.Errorf("index: load org %s: %w", orgID, err)
	}
	ix.loads.Add(1)
	return v, true, nil
}

// catchUp applies the changes after base up to the reader's snapshot.
func (ix *Index) catchUp(ctx context.Context, r *store.OrgReader, base *View) (*View, error) {
	var events []core.AuditEvent
	last := base.seq
	for last < r.Seq() {
		page, err := r.Changes(ctx, last, store.MaxLimit)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Seq != last+1 {
				return nil, inconsistent("change %d follows %d in the log", e.Seq, last)
			}
			last = e.Seq
		}
		events = append(events, page...)
	}
	if last != r.Seq() {
		// A change counted without its event (written outside the store).
		return nil, inconsistent("the log ends at change %d, the org is at %d", last, r.Seq())
	}
	keys, reload, unknown := plan(events)
	if reload {
		return nil, inconsistent("change %q is not one the index knows", unknown)
	}
	ix.applies.Add(1)
	var nv *View
	if keys.Empty() {
		nv = base.clone()
		nv.seq = r.Seq()
	} else {
		rows, err := r.Rows(ctx, keys)
		if err != nil {
			return nil, err
		}
		if nv, err = base.apply(r.Seq(), keys, rows); err != nil {
			return nil, err
		}
	}
	if slices.ContainsFunc(events, func(e core.AuditEvent) bool { return strings.HasPrefix(e.Action, "token.") }) {
		nv.tokens = r.Seq()
	}
	return nv, nil
}

// fit evicts orgs other than keep until the loaded orgs fit MaxBytes: those over
// an equal share of it first, the largest first, then the least recently used. It
// runs after a load and every fitEvery catch-ups.
func (ix *Index) fit(keep *org) {
	if ix.opts.MaxBytes <= 0 {
		return
	}
	type sized struct {
		o    *org
		size int64
	}
	ix.mu.RLock()
	orgs := make([]*org, 0, len(ix.orgs))
	for _, o := range ix.orgs {
		orgs = append(orgs, o)
	}
	ix.mu.RUnlock()
	// Sizes are computed (once per view) without the lock: checks go on meanwhile.
	var all []sized
	var total int64
	for _, o := range orgs {
		if v := o.cur.Load(); v != nil {
			s := v.SizeBytes()
			total += s
			if o != keep {
				all = append(all, sized{o, s})
			}
		}
	}
	// Fair across orgs: those holding more than an equal share of the bound go
	// first, the largest first, then the least recently used. One large org in
	// use cannot push the others out: it is the one evicted (and loaded again
	// when next asked about), and never the org that is just being loaded.
	var share int64
	if n := int64(len(all)) + 1; n > 0 {
		share = ix.opts.MaxBytes / n
	}
	slices.SortFunc(all, func(a, b sized) int {
		aOver, bOver := a.size > share, b.size > share
		switch {
		case aOver && !bOver:
			return -1
		case bOver && !aOver:
			return 1
		case aOver && bOver:
			return cmp.Compare(b.size, a.size)
		}
		return cmp.Compare(a.o.used.Load(), b.o.used.Load())
	})
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, s := range all {
		if total <= ix.opts.MaxBytes {
			return
		}
		if ix.orgs[s.o.id] == s.o && ix.evictLocked(s.o) {
			total -= s.size
		}
	}
}

// evictLocked drops an org unless someone is bringing it up to date right now.
func (ix *Index) evictLocked(o *org) bool {
	select {
	case o.sem <- struct{}{}:
	default:
		return false
	}
	defer func() { <-o.sem }()
	delete(ix.orgs, o.id)
	if o.cur.Swap(nil) != nil {
		ix.evictions.Add(1)
	}
	return true
}

// Evict drops an org's view (a deleted org, an operator's request); the next At
// loads it again.
func (ix *Index) Evict(orgID string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if o := ix.orgs[orgID]; o != nil {
		ix.evictLocked(o)
	}
}

// Stats describes the index: the orgs loaded and what it has done.
type Stats struct {
	Orgs []OrgStats
	// Bytes is the estimated size of all loaded orgs.
	Bytes int64
	// Loads counts full loads; Reloads those of an org already loaded, after a
	// change the index could not apply; Applies catch-ups change by change;
	// Evictions orgs dropped for MaxBytes, MaxIdle or Evict.
	Loads, Reloads, Applies, Evictions int64
}

// OrgStats describes one loaded org.
type OrgStats struct {
	OrgID        string
	Seq, Version int64
	LastUsed     time.Time
	Counts       Counts
	Bytes        int64
	BytesPerUser float64 // for comparing orgs of different sizes
}

// Stats reports the loaded orgs, by id.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	orgs := make([]*org, 0, len(ix.orgs))
	for _, o := range ix.orgs {
		orgs = append(orgs, o)
	}
	ix.mu.RUnlock()
	s := Stats{Loads: ix.loads.Load(), Reloads: ix.reloads.Load(), Applies: ix.applies.Load(), Evictions: ix.evictions.Load()}
	for _, o := range orgs {
		v := o.cur.Load()
		if v == nil {
			continue
		}
		os := OrgStats{OrgID: o.id, Seq: v.seq, Version: v.version, LastUsed: time.Unix(0, o.used.Load()),
			Counts: v.Counts(), Bytes: v.SizeBytes()}
		if os.Counts.Users > 0 {
			os.BytesPerUser = float64(os.Bytes) / float64(os.Counts.Users)
		}
		s.Orgs = append(s.Orgs, os)
		s.Bytes += os.Bytes
	}
	slices.SortFunc(s.Orgs, func(a, b OrgStats) int { return cmp.Compare(a.OrgID, b.OrgID) })
	return s
}
