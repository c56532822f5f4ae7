package policy

import (
	"container/list"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/expression"
)

// valueCache is the in-memory store of the cache-*-value policies: bounded
// by entry count, least recently used evicted first, entries expire. It is
// per process (APIM's "internal" cache); documents asking for an external
// cache get this one too.
type valueCache struct {
	mu    sync.Mutex
	max   int
	now   func() time.Time
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	key     string
	value   any
	expires time.Time
}

func newValueCache(max int, now func() time.Time) *valueCache {
	return &valueCache{max: max, now: now, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *valueCache) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, key)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e.value, true
}

func (c *valueCache) put(key string, v any, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(ttl)
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry)
		e.value, e.expires = v, exp
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, value: v, expires: exp})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
}

func (c *valueCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.Remove(el)
		delete(c.items, key)
	}
}

var cachingTypes = []string{"prefer-external", "external", "internal"}

// --- cache-lookup-value ---

type cacheLookupValue struct {
	key      *value
	variable string
	def      *value
}

func compileCacheLookupValue(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	a.oneOf("caching-type", "prefer-external", cachingTypes...)
	p := &cacheLookupValue{key: a.value("key", true), variable: a.str("variable-name", "", true), def: a.value("default-value", false)}
	return p, a.err()
}

func (p *cacheLookupValue) Run(x *Exchange) error {
	k, err := p.key.str(x)
	if err != nil {
		return err
	}
	if v, ok := x.c.cache.get(k); ok {
		x.vars()[p.variable] = v
		return nil
	}
	if p.def != nil {
		v, err := p.def.any(x)
		if err != nil {
			return err
		}
		x.vars()[p.variable] = v
	}
	return nil
}

// --- cache-store-value ---

type cacheStoreValue struct {
	key, val *value
	duration time.Duration
}

func compileCacheStoreValue(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	a.oneOf("caching-type", "prefer-external", cachingTypes...)
	p := &cacheStoreValue{key: a.value("key", true), val: a.value("value", true),
		duration: time.Duration(a.integer("duration", 0, 1, 10*365*86400, true)) * time.Second}
	return p, a.err()
}

func (p *cacheStoreValue) Run(x *Exchange) error {
	k, err := p.key.str(x)
	if err != nil {
		return err
	}
	v, err := p.val.any(x)
	if err != nil {
		return err
	}
	x.c.cache.put(k, cacheable(v), p.duration)
	return nil
}

// cacheable keeps immutable values and stores anything else (JSON objects
// that expressions may edit in place, per-request objects) as its text, so
// no request can reach another's state through the cache.
func cacheable(v any) any {
	switch v := v.(type) {
	case nil, string, bool, int64, int, float64, time.Time, time.Duration:
		return v
	}
	return expression.ToString(v)
}

// --- cache-remove-value ---

type cacheRemoveValue struct{ key *value }

func compileCacheRemoveValue(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	a.oneOf("caching-type", "prefer-external", cachingTypes...)
	return &cacheRemoveValue{key: a.value("key", true)}, a.err()
}

func (p *cacheRemoveValue) Run(x *Exchange) error {
	k, err := p.key.str(x)
	if err != nil {
		return err
	}
	x.c.cache.remove(k)
	return nil
}
