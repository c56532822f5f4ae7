package jwtvalidate

import (
	"hash/maphash"
	"sync"
	"time"
)

// tokenCache holds verified tokens so a client that reuses its token pays
// for signature checking once. It is keyed by a keyed (randomly seeded)
// hash of the token and compares the full token on a hit, so a collision
// can never let another token through.
//
// It is bounded both in tokens and in bytes (an estimate of what an entry
// keeps alive: the token, its decoded payload, the bookkeeping). A full
// shard evicts its oldest entries first (insertion order), which costs
// O(1) per insertion however large the cache: with every token new, the
// cache must never be the expensive part of a request.
type tokenCache struct {
	seed     maphash.Seed
	perShard int   // tokens
	maxBytes int64 // bytes per shard
	shards   [cacheShards]cacheShard
}

const cacheShards = 16

// entryOverhead approximates what an entry costs beyond the token's text:
// the Token's fields, the entry, the map slot, the derived Jwt object
// (about 975 bytes in heap profiles), so the byte bound is what the heap
// holds.
const entryOverhead = 1000

type cacheShard struct {
	mu    sync.RWMutex
	m     map[uint64]*cacheEntry
	bytes int64
	// order holds entries in insertion order from head on; entries
	// removed from m since (expired, revoked, replaced) are skipped when
	// they reach the head.
	order []*cacheEntry
	head  int
}

type cacheEntry struct {
	hash    uint64
	raw     string
	tok     *Token
	expires time.Time
	key     *verKey // nil for unsigned tokens; static keys never revoke
	size    int64
}

func newTokenCache(size int, bytes int64) *tokenCache {
	if size <= 0 || bytes <= 0 {
		return nil
	}
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: max(1, size/cacheShards), maxBytes: max(1, bytes/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

// hash is raw's key; get and put take it, so a new token is hashed once.
func (c *tokenCache) hash(raw string) uint64 { return maphash.String(c.seed, raw) }

func (c *tokenCache) get(h uint64, raw string, now time.Time) *Token {
	sh := &c.shards[h%cacheShards]
	sh.mu.RLock()
	e := sh.m[h]
	sh.mu.RUnlock()
	// Plain comparison is safe here: reaching it with a different token
	// needs a collision of a hash whose seed the caller does not know.
	if e == nil || e.raw != raw {
		return nil
	}
	if !now.Before(e.expires) || (e.key != nil && e.key.revoked.Load()) {
		sh.mu.Lock()
		sh.remove(e)
		sh.mu.Unlock()
		return nil
	}
	return e.tok
}

// put caches tok (which must not be cached yet: its entry is part of it).
func (c *tokenCache) put(h uint64, raw string, tok *Token, expires time.Time, key *verKey) {
	size := int64(len(raw)+len(tok.Raw)) + entryOverhead
	if tok.Raw == raw {
		size -= int64(len(raw)) // one string, shared
	}
	if size > c.maxBytes {
		return
	}
	e := &tok.entry
	*e = cacheEntry{hash: h, raw: raw, tok: tok, expires: expires, key: key, size: size}
	sh := &c.shards[h%cacheShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old := sh.m[h]; old != nil {
		sh.remove(old)
	}
	for len(sh.m) > 0 && (len(sh.m) >= c.perShard || sh.bytes+size > c.maxBytes) {
		sh.evictOldest()
	}
	sh.m[h] = e
	sh.bytes += size
	sh.order = append(sh.order, e)
}

// remove drops e if it is still the shard's entry for its hash.
func (sh *cacheShard) remove(e *cacheEntry) {
	if sh.m[e.hash] != e {
		return
	}
	delete(sh.m, e.hash)
	sh.bytes -= e.size
	// Entries removed out of order stay in order until they reach the
	// head; compact when they outnumber the live ones, so order stays
	// proportional to the cache.
	if live := len(sh.order) - sh.head; live > 64 && live > 2*len(sh.m) {
		kept := make([]*cacheEntry, 0, len(sh.m)+len(sh.m)/2)
		for _, o := range sh.order[sh.head:] {
			if sh.m[o.hash] == o {
				kept = append(kept, o)
			}
		}
		sh.order, sh.head = kept, 0
	}
}

// evictOldest removes the oldest live entry.
func (sh *cacheShard) evictOldest() {
	for sh.head < len(sh.order) {
		e := sh.order[sh.head]
		sh.order[sh.head] = nil
		sh.head++
		if sh.m[e.hash] == e {
			delete(sh.m, e.hash)
			sh.bytes -= e.size
			break
		}
	}
	// Reclaim the consumed front once it is half the slice.
	if sh.head > 64 && sh.head*2 > len(sh.order) {
		n := copy(sh.order, sh.order[sh.head:])
		clear(sh.order[n:])
		sh.order, sh.head = sh.order[:n], 0
	}
}

// len counts entries (for tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return n
}

// size sums the entries' estimated bytes (for tests).
func (c *tokenCache) size() int64 {
	var n int64
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += c.shards[i].bytes
		c.shards[i].mu.RUnlock()
	}
	return n
}
