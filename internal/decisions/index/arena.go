package index

import "unsafe"

// A loaded org is hundreds of thousands of small records and strings (at issue
// 10's size: 100,000 users, each with an id, an email and a membership list, and
// 100,000 resources with four ids each), all alive as long as the view. Allocated
// one by one they are as many heap objects, which every garbage collection marks
// one by one, wherever they lie: at that size that marking cost each check, on the
// whole, more than gathering its facts. A load therefore packs them into a few
// large blocks: the strings into byte blocks, the membership lists into int32
// blocks, the user records into one slice. The values are the same; the collector
// sees a few hundred objects instead, and a check's reads land closer together.
//
// Nothing in a block is written once handed out, so sharing a block is as safe as
// sharing the strings and slices themselves. A block lives while anything in it
// does: a record replaced by a later change keeps its block until every other
// record there is replaced too (at worst until the org is loaded again), which
// costs no more than the load itself held. Changes applied after the load allocate
// as before.

// arenaBlock is the size of a block, in elements.
const arenaBlock = 64 << 10

// strArena hands out copies of strings, packed into shared byte blocks.
type strArena struct{ buf []byte }

// str returns a copy of s in the arena ("" and long strings as they are).
func (a *strArena) str(s string) string {
	if len(s) == 0 || len(s) > arenaBlock/16 {
		return s
	}
	if cap(a.buf)-len(a.buf) < len(s) {
		a.buf = make([]byte, 0, arenaBlock)
	}
	n := len(a.buf)
	a.buf = append(a.buf, s...)
	// The bytes are never written again: appends only write past len.
	return unsafe.String(&a.buf[n], len(s))
}

// int32Arena hands out int32 slices packed into shared blocks.
type int32Arena struct{ buf []int32 }

// concat returns a and b one after the other, with no room to grow: an append to
// it copies, so it never writes into the block.
func (ar *int32Arena) concat(a, b []int32) []int32 {
	n := len(a) + len(b)
	if n == 0 {
		return nil
	}
	if n > arenaBlock/16 {
		return append(append(make([]int32, 0, n), a...), b...)
	}
	if cap(ar.buf)-len(ar.buf) < n {
		ar.buf = make([]int32, 0, arenaBlock)
	}
	i := len(ar.buf)
	ar.buf = append(append(ar.buf, a...), b...)
	return ar.buf[i : i+n : i+n]
}
