package scan

import (
	"crypto/sha256"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vipyrsec/dragonfly-client-go/internal/archive"
	"github.com/vipyrsec/dragonfly-client-go/internal/rules"
)

// Cache remembers what files matched, so that files shared by a release's
// wheels and by consecutive versions are matched once. It is safe for
// concurrent use; one cache may serve every [Scanner] of a process, even
// scanners of different rule sets.
//
// An entry is keyed by the SHA-256 of the file's bytes and the rule set's
// hash, so that nobody can make a payload collide with a cached clean file,
// and a new rule set never sees the entries of another. It holds the rules
// that matched before any filetype is applied: the same bytes under a .py
// and a .txt name each score as their name says. A file whose matching
// failed (timeout, libyara's match limit) is never cached, so it fails again
// wherever it reappears. With rule plans, an entry also records which rules
// it is exact for, and serves only files that need no other rule.
//
// It also remembers, for zip members it has seen, which file their
// compressed bytes expand to (see archive.MemberKey): a member identical to one
// already matched is then neither inflated, hashed nor matched again.
//
// The cache is bounded in bytes (an estimate of its memory: a fixed cost per
// entry plus its rule indices) and evicts the least recently used entries.
type Cache struct {
	shards    [cacheShards]cacheShard
	hits      atomic.Int64
	misses    atomic.Int64
	memberHit atomic.Int64
	memberMis atomic.Int64
	evictions atomic.Int64
	maxBytes  int64
	minSize   int // CacheMinFileSize; tests lower it
}

// DefaultCacheBytes is the cache size [NewCache] uses when given none:
// about 80,000 files with a few matching rules each.
const DefaultCacheBytes = 16 << 20

// CacheMinFileSize is the smallest file the cache handles; smaller files are
// matched without hashing. Hashing is not what rules them out: measured with
// the built-in rules (BenchmarkCacheCost), a lookup with its SHA-256 costs
// 0.15 to 0.3 µs under 256 bytes (SHA-256 runs at about 1.6 GB/s), against
// about 2 µs of libyara per file however small, so it pays from a hit ratio
// of about 10%. Space is: an entry costs about 200 bytes whatever the file's
// size, a tiny file's hit saves 2 µs where a module's saves hundreds, and an
// archive of 100,000 distinct tiny files would otherwise flush the entries
// that matter.
const CacheMinFileSize = 128

const (
	cacheShards = 16
	// cacheEntryCost is what an entry costs beyond its indices: the entry
	// itself (key, rules hash header, list links, slices) and its map slot.
	cacheEntryCost = 224
)

type cacheShard struct {
	mu         sync.Mutex
	m          map[cacheKey]*cacheEntry
	head, tail *cacheEntry // most and least recently used
	bytes      int64
}

// cacheKey is the key of a file's matches, or, with rules empty, the
// archive.MemberKey of a zip member whose expanded file's SHA-256 the entry holds.
type cacheKey struct {
	sum   [sha256.Size]byte
	rules string // RuleSet.Hash(); "" for a member
}

type cacheEntry struct {
	key    cacheKey
	file   [sha256.Size]byte // a member's expanded file
	nrules int               // the rule set's size: indices are checked against it
	idx    []int32           // rules that matched, ascending, before filetype
	cov    rules.Bits        // rules idx is exact for; nil: every rule
	owned  bool              // cov was made for this entry (counted in size)
	size   int64
	prev   *cacheEntry
	next   *cacheEntry
}

// CacheStats counts a cache's lookups since it was made.
type CacheStats struct {
	Hits, Misses, Evictions int64
	// MemberHits counts zip members whose expanded file was known from an
	// identical member; MemberMisses, deflated members that were not.
	MemberHits, MemberMisses int64
	Entries                  int
	Bytes, MaxBytes          int64
}

// NewCache returns an empty cache of at most maxBytes (DefaultCacheBytes
// when maxBytes <= 0).
func NewCache(maxBytes int64) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultCacheBytes
	}
	c := &Cache{maxBytes: maxBytes, minSize: CacheMinFileSize}
	for i := range c.shards {
		c.shards[i].m = map[cacheKey]*cacheEntry{}
	}
	return c
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	st := CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(), MaxBytes: c.maxBytes,
		MemberHits: c.memberHit.Load(), MemberMisses: c.memberMis.Load()}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		st.Entries += len(sh.m)
		st.Bytes += sh.bytes
		sh.mu.Unlock()
	}
	return st
}

func (c *Cache) shard(k *cacheKey) *cacheShard {
	return &c.shards[k.sum[0]%cacheShards]
}

// get appends the cached matches of k to dst when an entry exact for the
// rules of need exists.
func (c *Cache) get(k *cacheKey, nrules int, need rules.Bits, dst []int32) ([]int32, bool) {
	dst, ok := c.lookup(k, nrules, need, dst)
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return dst, ok
}

// lookup is get without counting.
func (c *Cache) lookup(k *cacheKey, nrules int, need rules.Bits, dst []int32) ([]int32, bool) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[*k]
	if e == nil || e.nrules != nrules || !rules.Covers(e.cov, need) {
		return dst, false
	}
	sh.toFront(e)
	return append(dst, e.idx...), true
}

// memberFile returns the SHA-256 of the file the member k expands to, when
// an identical member was seen.
func (c *Cache) memberFile(k *archive.MemberKey) ([sha256.Size]byte, bool) {
	ck := cacheKey{sum: *k}
	sh := c.shard(&ck)
	sh.mu.Lock()
	e := sh.m[ck]
	if e == nil {
		sh.mu.Unlock()
		c.memberMis.Add(1)
		return [sha256.Size]byte{}, false
	}
	sh.toFront(e)
	sum := e.file
	sh.mu.Unlock()
	c.memberHit.Add(1)
	return sum, true
}

// putMember records that the member k expands to the file of SHA-256 sum.
func (c *Cache) putMember(k *archive.MemberKey, sum *[sha256.Size]byte) {
	ck := cacheKey{sum: *k}
	sh := c.shard(&ck)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[ck]; e != nil {
		sh.toFront(e)
		return
	}
	e := &cacheEntry{key: ck, file: *sum, size: cacheEntryCost}
	sh.m[ck] = e
	sh.pushFront(e)
	sh.bytes += e.size
	c.evict(sh, e)
}

// put records idx, the matches of a successful scan that are exact for the
// rules of cov (nil: every rule). idx is copied.
func (c *Cache) put(k *cacheKey, nrules int, idx []int32, cov rules.Bits) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[*k]
	switch {
	case e == nil:
		e = &cacheEntry{key: *k}
		sh.m[*k] = e
		sh.pushFront(e)
	case e.nrules != nrules || rules.Covers(cov, e.cov):
		sh.bytes -= e.size // replaced
	case rules.Covers(e.cov, cov):
		sh.toFront(e) // another scanner got there first
		return
	default:
		// Both are exact for their own rules: together, for the union.
		sh.bytes -= e.size
		merged := slices.Concat(e.idx, idx)
		slices.Sort(merged)
		idx = slices.Compact(merged)
		u := slices.Clone(cov)
		for i, w := range e.cov {
			u[i] |= w
		}
		e.cov, e.owned, e.idx = u, true, idx
		if u.Count() == nrules {
			e.cov, e.owned = nil, false
		}
		e.size = e.cost()
		sh.bytes += e.size
		sh.toFront(e)
		c.evict(sh, e)
		return
	}
	e.nrules, e.idx, e.cov, e.owned = nrules, slices.Clip(slices.Clone(idx)), cov, false
	if e.idx == nil {
		e.idx = []int32{}
	}
	e.size = e.cost()
	sh.bytes += e.size
	sh.toFront(e)
	c.evict(sh, e)
}

func (e *cacheEntry) cost() int64 {
	n := int64(cacheEntryCost + 4*cap(e.idx))
	if e.owned {
		n += 8 * int64(len(e.cov))
	}
	return n
}

// evict drops least recently used entries of sh while it is over its share
// of the cache; keep is dropped last.
func (c *Cache) evict(sh *cacheShard, keep *cacheEntry) {
	limit := c.maxBytes / cacheShards
	for sh.bytes > limit && sh.tail != nil {
		e := sh.tail
		if e == keep && e.prev == nil {
			// Alone and still too large: not worth keeping.
			sh.unlink(e)
			delete(sh.m, e.key)
			sh.bytes -= e.size
			c.evictions.Add(1)
			return
		}
		if e == keep {
			e = e.prev
		}
		sh.unlink(e)
		delete(sh.m, e.key)
		sh.bytes -= e.size
		c.evictions.Add(1)
	}
}

func (sh *cacheShard) pushFront(e *cacheEntry) {
	e.prev, e.next = nil, sh.head
	if sh.head != nil {
		sh.head.prev = e
	}
	sh.head = e
	if sh.tail == nil {
		sh.tail = e
	}
}

func (sh *cacheShard) unlink(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (sh *cacheShard) toFront(e *cacheEntry) {
	if sh.head == e {
		return
	}
	sh.unlink(e)
	sh.pushFront(e)
}
