package jwtvalidate

import (
	"crypto"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestCacheBytes: the cache stays within its byte bound, evicts the oldest
// tokens first, and keeps serving the newest from memory.
func TestCacheBytes(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	var toks []string
	for i := range 120 {
		c := p.claims(clk.now())
		c["n"] = i
		toks = append(toks, sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c))
	}
	// Room for about 3 tokens per shard.
	limit := int64(cacheShards * 3 * (len(toks[0]) + entryOverhead))
	v := openidValidator(t, p, clk, Config{CacheBytes: limit})
	first := make([]*Token, len(toks))
	for i, raw := range toks {
		first[i] = wantOK(t, v, raw)
		if got := v.cache.size(); got > limit {
			t.Fatalf("after %d tokens the cache holds %d bytes, bound %d", i+1, got, limit)
		}
	}
	if n := v.cache.len(); n > cacheShards*3 || n < cacheShards {
		t.Fatalf("cache holds %d tokens, want between %d and %d", n, cacheShards, cacheShards*3)
	}
	// The last token is still cached; the first one was evicted.
	if again := wantOK(t, v, toks[len(toks)-1]); again != first[len(toks)-1] {
		t.Fatal("the newest token was not served from the cache")
	}
	if again := wantOK(t, v, toks[0]); again == first[0] {
		t.Fatal("the oldest token was still cached past the byte bound")
	}
	// A cached token's claims are still readable (the payload is decoded
	// again from the token).
	if n := first[len(toks)-1].Claims()["n"]; n != float64(len(toks)-1) {
		t.Fatalf("claim n = %v", n)
	}
	// Off.
	off := openidValidator(t, p, clk, Config{CacheBytes: -1})
	if off.cache != nil {
		t.Fatal("CacheBytes -1 left a cache")
	}
}
