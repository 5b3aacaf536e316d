package index

import (
	"hash/maphash"
	"maps"
)

// The graph's large collections are persistent: a published graph is never
// written again, and the next one shares every part a batch of changes did not
// touch. A write copies only the chunk or shard it lands in (and the small table
// of chunk or shard pointers) the first time a builder writes there; parts a
// builder has already copied carry its epoch as their owner and are written in
// place. Readers therefore never lock, and a change costs a few kilobytes of
// copying, not a copy of the org.

// vecChunkLen is the number of slots per vector chunk.
const vecChunkLen = 256

// vec is a persistent vector indexed by dense int32 ids.
type vec[T any] struct{ top *vecTop[T] }

type vecTop[T any] struct {
	owner  uint64
	chunks []*vecChunk[T]
	n      int32
}

type vecChunk[T any] struct {
	owner uint64
	a     [vecChunkLen]T
}

func (v vec[T]) len() int32 {
	if v.top == nil {
		return 0
	}
	return v.top.n
}

// get returns slot i; i must be below len.
func (v vec[T]) get(i int32) T { return v.top.chunks[i/vecChunkLen].a[i%vecChunkLen] }

// at returns slot i, or the zero T when i is out of range.
func (v vec[T]) at(i int32) T {
	var zero T
	if i < 0 || i >= v.len() {
		return zero
	}
	return v.get(i)
}

func (v *vec[T]) ownTop(ep uint64) *vecTop[T] {
	if v.top == nil {
		v.top = &vecTop[T]{owner: ep}
	} else if v.top.owner != ep {
		t := &vecTop[T]{owner: ep, chunks: append(make([]*vecChunk[T], 0, len(v.top.chunks)+1), v.top.chunks...), n: v.top.n}
		v.top = t
	}
	return v.top
}

// set writes slot i (below len) for the builder of epoch ep.
func (v *vec[T]) set(ep uint64, i int32, x T) {
	t := v.ownTop(ep)
	c := t.chunks[i/vecChunkLen]
	if c.owner != ep {
		cp := *c
		cp.owner = ep
		c = &cp
		t.chunks[i/vecChunkLen] = c
	}
	c.a[i%vecChunkLen] = x
}

// push appends x and returns its index.
func (v *vec[T]) push(ep uint64, x T) int32 {
	t := v.ownTop(ep)
	i := t.n
	if int(i/vecChunkLen) == len(t.chunks) {
		t.chunks = append(t.chunks, &vecChunk[T]{owner: ep})
	}
	t.n++
	v.set(ep, i, x)
	return i
}

// all calls fn for every slot in order.
func (v vec[T]) all(fn func(i int32, x T)) {
	n := v.len()
	for ci, c := range v.top.chunksOrNil() {
		for j := range c.a {
			i := int32(ci*vecChunkLen + j)
			if i >= n {
				return
			}
			fn(i, c.a[j])
		}
	}
}

func (t *vecTop[T]) chunksOrNil() []*vecChunk[T] {
	if t == nil {
		return nil
	}
	return t.chunks
}

// smapShards is the number of shards of an smap: at 100,000 keys a write copies a
// shard of about 400 entries.
const smapShards = 256

// hashSeed picks an smap's shard; fixed for the process, so every version of a map
// agrees on where a key lives.
var hashSeed = maphash.MakeSeed()

// smap is a persistent map from strings, sharded.
type smap[V any] struct{ top *smapTop[V] }

type smapTop[V any] struct {
	owner  uint64
	shards [smapShards]*smapShard[V]
	n      int
}

type smapShard[V any] struct {
	owner uint64
	m     map[string]V
}

func shardOf(k string) int { return int(maphash.String(hashSeed, k) % smapShards) }

func (m smap[V]) get(k string) (V, bool) {
	var zero V
	if m.top == nil {
		return zero, false
	}
	sh := m.top.shards[shardOf(k)]
	if sh == nil {
		return zero, false
	}
	v, ok := sh.m[k]
	return v, ok
}

func (m smap[V]) len() int {
	if m.top == nil {
		return 0
	}
	return m.top.n
}

func (m *smap[V]) own(ep uint64, k string) *smapShard[V] {
	if m.top == nil {
		m.top = &smapTop[V]{owner: ep}
	} else if m.top.owner != ep {
		t := *m.top
		t.owner = ep
		m.top = &t
	}
	i := shardOf(k)
	sh := m.top.shards[i]
	switch {
	case sh == nil:
		sh = &smapShard[V]{owner: ep, m: map[string]V{}}
		m.top.shards[i] = sh
	case sh.owner != ep:
		sh = &smapShard[V]{owner: ep, m: maps.Clone(sh.m)}
		m.top.shards[i] = sh
	}
	return sh
}

// grow sizes an empty map's shards for about n keys, so that a load does not
// grow them step by step.
func (m *smap[V]) grow(ep uint64, n int) {
	if m.top != nil {
		return
	}
	m.top = &smapTop[V]{owner: ep}
	for i := range m.top.shards {
		m.top.shards[i] = &smapShard[V]{owner: ep, m: make(map[string]V, n/smapShards+n/smapShards/8+1)}
	}
}

func (m *smap[V]) set(ep uint64, k string, v V) {
	sh := m.own(ep, k)
	if _, ok := sh.m[k]; !ok {
		m.top.n++
	}
	sh.m[k] = v
}

func (m *smap[V]) del(ep uint64, k string) {
	if _, ok := m.get(k); !ok {
		return
	}
	sh := m.own(ep, k)
	delete(sh.m, k)
	m.top.n--
}

// all calls fn for every entry, in no particular order.
func (m smap[V]) all(fn func(k string, v V)) {
	if m.top == nil {
		return
	}
	for _, sh := range m.top.shards {
		if sh == nil {
			continue
		}
		for k, v := range sh.m {
			fn(k, v)
		}
	}
}
