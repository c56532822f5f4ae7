package jwtvalidate

import (
	"crypto"
	"encoding/base64"
	"runtime"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestCacheBytes: the cache stays within its byte bound, evicts the oldest
// tokens first, and keeps serving the newest from memory.
func TestCacheBytes(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	toks := numberedTokens(t, p, clk, 120)
	// Room for about 3 tokens per shard.
	limit := cacheShards * 3 * entrySize(t, toks[0])
	v := openidValidator(t, p, clk, Config{CacheBytes: limit})
	first := make([]*Token, len(toks))
	for i, raw := range toks {
		first[i] = wantOK(t, v, raw)
		if got := v.cache.Bytes(); got > limit {
			t.Fatalf("after %d tokens the cache holds %d bytes, bound %d", i+1, got, limit)
		}
	}
	if n := v.cache.Len(); n > cacheShards*3 || n < cacheShards {
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

// TestSharedCache: validators sharing one TokenCache keep one byte bound
// between them, and a token one validator accepted is never served from
// the cache to another whose rules refuse it.
func TestSharedCache(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	toks := numberedTokens(t, p, clk, 200)
	limit := cacheShards * 4 * entrySize(t, toks[0])
	shared := NewTokenCache(0, limit)
	ks := NewKeySets(KeySetsOptions{Client: p.srv.Client(), Now: clk.now})
	newV := func(cfg Config) *Validator {
		cfg.OpenIDConfigs = []OpenIDConfig{{URL: p.url()}}
		return mustNew(t, cfg, Deps{KeySets: ks, Now: clk.now, Cache: shared})
	}
	lenient := newV(Config{})
	strict := newV(Config{Audiences: []string{"api://other"}})
	same := newV(Config{Audiences: []string{"api://resource"}})

	// Accepted and cached by one; the other's own rules still refuse it.
	first := wantOK(t, lenient, toks[0])
	if again := wantOK(t, lenient, toks[0]); again != first {
		t.Fatal("the lenient validator did not serve its own cached token")
	}
	for range 2 {
		wantReason(t, strict, toks[0], ReasonTokenAudienceNotAllowed)
	}
	// Two validators that both accept a token keep an entry each: neither
	// displaces the other's.
	mine := wantOK(t, same, toks[0])
	if mine == first {
		t.Fatal("a validator was served another validator's cached token")
	}
	if wantOK(t, same, toks[0]) != mine || wantOK(t, lenient, toks[0]) != first {
		t.Fatal("validators sharing a token displaced each other's entries")
	}

	// One bound for all of them.
	for _, raw := range toks {
		wantOK(t, lenient, raw)
		wantOK(t, same, raw)
		if got := shared.Bytes(); got > limit {
			t.Fatalf("the shared cache holds %d bytes, bound %d", got, limit)
		}
	}
	if n := shared.Len(); n > cacheShards*4 {
		t.Fatalf("the shared cache holds %d tokens, want at most %d", n, cacheShards*4)
	}

	// Off for everyone.
	off := NewTokenCache(0, -1)
	if v := mustNew(t, Config{OpenIDConfigs: []OpenIDConfig{{URL: p.url()}}}, Deps{KeySets: ks, Now: clk.now, Cache: off}); v.cache != nil {
		t.Fatal("a validator given a cache that is off kept a cache")
	}
}

// TestCacheIdentity: the cache keeps no token text, only a digest of it;
// a token that shares a cached token's signing input or its signature,
// but not both, is still checked and refused.
func TestCacheIdentity(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	cached := openidValidator(t, p, clk, Config{})
	uncached := openidValidator(t, p, clk, Config{CacheBytes: -1})
	c := p.claims(clk.now())
	good := sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c)
	c["sub"] = "user-2"
	other := sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c)
	gdot, odot := strings.LastIndexByte(good, '.'), strings.LastIndexByte(other, '.')
	for _, v := range []*Validator{cached, uncached} {
		first := wantOK(t, v, good)
		if first.Subject != "user-1" {
			t.Fatalf("subject %q", first.Subject)
		}
		wantReason(t, v, good[:gdot]+other[odot:], ReasonTokenSignatureInvalid)
		wantReason(t, v, other[:odot]+good[gdot:], ReasonTokenSignatureInvalid)
		wantReason(t, v, good+".", ReasonJwtInvalid)
		wantReason(t, v, strings.ReplaceAll(good, ".", ""), ReasonJwtInvalid)
		if tok := wantOK(t, v, other); tok.Subject != "user-2" {
			t.Fatalf("subject %q", tok.Subject)
		}
		again := wantOK(t, v, good)
		if (again == first) != (v == cached) {
			t.Fatalf("cached validator: %v; the token was served from the cache: %v", v == cached, again == first)
		}
		if again.Claims()["sub"] != "user-1" {
			t.Fatalf("claims %v", again.Claims())
		}
	}
}

// entrySize is the cache's estimate for raw: its decoded header and claims
// and the fixed overhead.
func entrySize(t *testing.T, raw string) int64 {
	t.Helper()
	n := int64(entryOverhead)
	for _, seg := range strings.Split(raw, ".")[:2] {
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			t.Fatal(err)
		}
		n += int64(len(b))
	}
	return n
}

// TestEntryOverhead: the cache's byte estimate is what its entries hold on
// the heap. An entry measured here lacks only the Jwt object validate-jwt
// derives for output-token-variable-name (a 288-byte allocation), which
// entryOverhead counts too.
func TestEntryOverhead(t *testing.T) {
	clk := newClock()
	p := newProvider(t, map[string]crypto.Signer{"r1": key("rsa1")})
	const n = 1000
	toks := numberedTokens(t, p, clk, n)
	var estimate int64
	for _, raw := range toks {
		estimate += entrySize(t, raw)
	}
	v := openidValidator(t, p, clk, Config{CacheBytes: 1 << 30})
	wantOK(t, v, toks[0]) // keys fetched, pools warm
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, raw := range toks[1:] {
		wantOK(t, v, raw)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / (n - 1)
	est := estimate / n
	t.Logf("measured %d bytes per entry, estimated %d (token %d bytes)", per, est, len(toks[0]))
	if v.cache.Len() != n {
		t.Fatalf("cache holds %d tokens, want %d", v.cache.Len(), n)
	}
	if per+288 > est+est/8 || per+288 < est-est/8 {
		t.Errorf("an entry holds %d bytes (+288 for a Jwt object), the cache estimates %d: set entryOverhead to about %d", per, est, per+288-(est-entryOverhead))
	}
	runtime.KeepAlive(toks)
}

// numberedTokens returns n distinct RS256 tokens of p, claim "n" numbering
// them.
func numberedTokens(t *testing.T, p *provider, clk *clock, n int) []string {
	t.Helper()
	toks := make([]string, n)
	for i := range toks {
		c := p.claims(clk.now())
		c["n"] = i
		toks[i] = sign(t, jwt.SigningMethodRS256, key("rsa1"), "r1", c)
	}
	return toks
}
