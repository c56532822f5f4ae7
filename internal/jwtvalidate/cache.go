package jwtvalidate

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// TokenCache holds verified tokens so a client that reuses its token pays
// for signature checking once. One TokenCache serves every validator of a
// process, so the process has one memory bound for verified tokens however
// many validate-jwt policies it runs. An entry belongs to the validator that
// verified it (its owner): a token verified under one policy's rules is
// never served to another.
//
// An entry is found by the token's SHA-256 identity (tokenID) and its
// owner, both compared in full on a hit: the cache never keeps a token's
// text, only what validation decoded from it.
//
// It is bounded both in tokens and in bytes (an estimate of what an entry
// keeps alive: the decoded header and claims, the Token's fields, the
// bookkeeping). A full shard evicts its oldest entries first (insertion
// order), which costs O(1) per insertion however large the cache: with
// every token new, the cache must never be the expensive part of a
// request.
type TokenCache struct {
	perShard int   // tokens
	maxBytes int64 // bytes per shard
	owners   atomic.Uint64
	off      bool // keeps nothing
	shards   [cacheShards]cacheShard
}

const cacheShards = 16

// entryOverhead approximates what an entry costs beyond its decoded header
// and claims: the Token's fields and strings, the entry, the map slot, the
// derived Jwt object (see TestEntryOverhead), so the byte bound is what the
// heap holds.
const entryOverhead = 800

// NewTokenCache returns a cache bounded to tokens entries and bytes bytes
// (0: DefaultCacheSize, DefaultCacheBytes). When either is negative the
// cache is off: validators given it keep no tokens.
func NewTokenCache(tokens int, bytes int64) *TokenCache {
	if tokens == 0 {
		tokens = DefaultCacheSize
	}
	if bytes == 0 {
		bytes = DefaultCacheBytes
	}
	if c := newTokenCache(tokens, bytes); c != nil {
		return c
	}
	return &TokenCache{off: true}
}

// owner returns a key no other validator of c has.
func (c *TokenCache) owner() uint64 { return c.owners.Add(1) }

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
	owner   uint64
	id      [32]byte
	tok     *Token
	expires time.Time
	key     *verKey // nil for unsigned tokens; static keys never revoke
	size    int64
}

func newTokenCache(size int, bytes int64) *TokenCache {
	if size <= 0 || bytes <= 0 {
		return nil
	}
	c := &TokenCache{perShard: max(1, size/cacheShards), maxBytes: max(1, bytes/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

// hash is the map key of the token id for owner. Adding an odd multiple of
// the owner gives one token distinct keys for distinct owners, so
// validators sharing a token never displace each other's entry.
func (c *TokenCache) hash(owner uint64, id *[32]byte) uint64 {
	return binary.LittleEndian.Uint64(id[:8]) + owner*0x9e3779b97f4a7c15
}

func (c *TokenCache) get(h, owner uint64, id *[32]byte, now time.Time) *Token {
	sh := &c.shards[h%cacheShards]
	sh.mu.RLock()
	e := sh.m[h]
	sh.mu.RUnlock()
	// Plain comparison is safe here: reaching it with a different token
	// needs a SHA-256 collision.
	if e == nil || e.owner != owner || e.id != *id {
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
func (c *TokenCache) put(h, owner uint64, id *[32]byte, tok *Token, expires time.Time, key *verKey) {
	size := int64(len(tok.header)+len(tok.payload)) + entryOverhead
	if size > c.maxBytes {
		return
	}
	e := &tok.entry
	*e = cacheEntry{hash: h, owner: owner, id: *id, tok: tok, expires: expires, key: key, size: size}
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

// Len counts the cached tokens.
func (c *TokenCache) Len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return n
}

// Bytes sums the cached tokens' estimated sizes: what --jwt-cache-bytes
// bounds.
func (c *TokenCache) Bytes() int64 {
	var n int64
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += c.shards[i].bytes
		c.shards[i].mu.RUnlock()
	}
	return n
}
