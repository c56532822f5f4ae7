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
type tokenCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

const cacheShards = 16

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]*cacheEntry
}

type cacheEntry struct {
	raw     string
	tok     *Token
	expires time.Time
	key     *verKey // nil for unsigned tokens; static keys never revoke
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: max(1, size/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

func (c *tokenCache) get(raw string, now time.Time) *Token {
	h := maphash.String(c.seed, raw)
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
		if sh.m[h] == e {
			delete(sh.m, h)
		}
		sh.mu.Unlock()
		return nil
	}
	return e.tok
}

func (c *tokenCache) put(raw string, tok *Token, expires time.Time, key *verKey, now time.Time) {
	h := maphash.String(c.seed, raw)
	sh := &c.shards[h%cacheShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.m) >= c.perShard {
		// Full: drop what has expired or was revoked, and if that is not
		// enough, arbitrary entries (map order) until there is room.
		for k, e := range sh.m {
			if !now.Before(e.expires) || (e.key != nil && e.key.revoked.Load()) {
				delete(sh.m, k)
			}
		}
		for k := range sh.m {
			if len(sh.m) < c.perShard {
				break
			}
			delete(sh.m, k)
		}
	}
	sh.m[h] = &cacheEntry{raw: raw, tok: tok, expires: expires, key: key}
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
