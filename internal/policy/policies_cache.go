package policy

import (
	"container/list"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/expression"
)

// Cache is where the caching policies (cache-lookup, cache-store and the
// cache-*-value policies) keep entries. Tollgate has one in process
// (bounded, per node: APIM's "internal" cache) and, when the nodes share a
// Redis, an external one (Options.ExternalCache). A failing external cache
// is treated as a miss: caching must not take an API down.
type Cache interface {
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// memoryCache is the in-process cache: bounded by entry count and by bytes
// (keys and values), least recently used evicted first, entries expire.
type memoryCache struct {
	mu       sync.Mutex
	maxN     int
	maxBytes int64
	bytes    int64
	now      func() time.Time
	ll       *list.List
	items    map[string]*list.Element
}

type cacheEntry struct {
	key     string
	value   []byte
	expires time.Time
}

func newMemoryCache(maxEntries int, maxBytes int64, now func() time.Time) *memoryCache {
	return &memoryCache{maxN: maxEntries, maxBytes: maxBytes, now: now, ll: list.New(), items: map[string]*list.Element{}}
}

func entrySize(key string, v []byte) int64 { return int64(len(key) + len(v) + 64) }

func (c *memoryCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false, nil
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.removeElement(el)
		return nil, false, nil
	}
	c.ll.MoveToFront(el)
	return e.value, true, nil
}

// Set stores v; the cache keeps v as given, so callers must not modify it
// afterwards. An entry larger than the whole cache is not stored.
func (c *memoryCache) Set(_ context.Context, key string, v []byte, ttl time.Duration) error {
	size := entrySize(key, v)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.removeElement(el)
	}
	if size > c.maxBytes {
		return nil
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, value: v, expires: c.now().Add(ttl)})
	c.bytes += size
	for c.ll.Len() > c.maxN || c.bytes > c.maxBytes {
		c.removeElement(c.ll.Back())
	}
	return nil
}

func (c *memoryCache) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.removeElement(el)
	}
	return nil
}

func (c *memoryCache) removeElement(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.ll.Remove(el)
	delete(c.items, e.key)
	c.bytes -= entrySize(e.key, e.value)
}

var cachingTypes = []string{"prefer-external", "external", "internal"}

// cacheFor returns the cache a caching-type names: the external cache when
// one is configured (external, prefer-external), the in-process one
// otherwise. "external" without an external cache is warned about when
// the document is saved and uses the in-process cache.
func (c *Compiler) cacheFor(cachingType string) Cache {
	if cachingType != "internal" && c.opts.ExternalCache != nil {
		return c.opts.ExternalCache
	}
	return c.memory
}

// compileCachingType reads caching-type.
func compileCachingType(er *ElementReader) string {
	t := er.a.oneOf("caching-type", "prefer-external", cachingTypes...)
	if t == "external" && er.a.cc.c.opts.ExternalCache == nil && !er.Offline() {
		if at, ok := er.a.e.Attr("caching-type"); ok {
			er.Warn(at.Value.PosAt(0), "no external cache is configured (--redis): the in-process cache is used")
		}
	}
	return t
}

// cacheGet reads key, treating an external cache's failure as a miss.
func (x *exchange) cacheGet(c Cache, key string) ([]byte, bool) {
	b, ok, err := c.Get(x.ctx, key)
	if err != nil {
		x.logger().Warn("policy: cache read failed; treated as a miss", "requestId", x.call.RequestID, "error", err)
		return nil, false
	}
	return b, ok
}

func (x *exchange) cacheSet(c Cache, key string, v []byte, ttl time.Duration) {
	if err := c.Set(x.ctx, key, v, ttl); err != nil {
		x.logger().Warn("policy: cache write failed", "requestId", x.call.RequestID, "error", err)
	}
}

// Key spaces: the value policies use the document's keys as given (APIM
// shares them between APIs); the response cache uses its own prefix.
const (
	valueKeyPrefix    = "v:"
	responseKeyPrefix = "r:"
)

// --- cache-lookup-value ---

type cacheLookupValue struct {
	key      *value
	variable string
	def      *value
	ctype    string
}

func compileCacheLookupValue(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	p := &cacheLookupValue{ctype: compileCachingType(er), key: a.value("key", true), variable: a.str("variable-name", "", true), def: a.value("default-value", false)}
	return p, a.err()
}

func (p *cacheLookupValue) Run(x *Exchange) error {
	k, err := p.key.str(x)
	if err != nil {
		return err
	}
	if b, ok := x.cacheGet(x.c.cacheFor(p.ctype), valueKeyPrefix+k); ok {
		if v, ok := decodeCachedValue(b); ok {
			x.vars()[p.variable] = v
			return nil
		}
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
	duration intValue
	ctype    string
}

func compileCacheStoreValue(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	p := &cacheStoreValue{ctype: compileCachingType(er), key: a.value("key", true), val: a.value("value", true),
		duration: a.intValue("duration", 0, 0, maxSeconds, true)}
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
	d, err := p.duration.seconds(x)
	if err != nil || d <= 0 {
		return err
	}
	x.cacheSet(x.c.cacheFor(p.ctype), valueKeyPrefix+k, encodeCachedValue(v), d)
	return nil
}

// encodeCachedValue keeps the type of immutable values (a tag byte, then
// the value as text) and stores anything else (JSON objects that
// expressions may edit in place, per-request objects) as its text, so no
// request can reach another's state through the cache.
func encodeCachedValue(v any) []byte {
	switch v := v.(type) {
	case nil:
		return []byte{'n'}
	case string:
		return append([]byte{'s'}, v...)
	case bool:
		return strconv.AppendBool([]byte{'b'}, v)
	case int:
		return strconv.AppendInt([]byte{'i'}, int64(v), 10)
	case int64:
		return strconv.AppendInt([]byte{'i'}, v, 10)
	case float64:
		return strconv.AppendFloat([]byte{'f'}, v, 'g', -1, 64)
	case time.Time:
		return v.AppendFormat([]byte{'t'}, time.RFC3339Nano)
	case time.Duration:
		return strconv.AppendInt([]byte{'d'}, int64(v), 10)
	}
	return append([]byte{'s'}, expression.ToString(v)...)
}

func decodeCachedValue(b []byte) (any, bool) {
	if len(b) == 0 {
		return nil, false
	}
	s := string(b[1:])
	switch b[0] {
	case 'n':
		return nil, true
	case 's':
		return s, true
	case 'b':
		v, err := strconv.ParseBool(s)
		return v, err == nil
	case 'i':
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	case 'f':
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	case 't':
		v, err := time.Parse(time.RFC3339Nano, s)
		return v, err == nil
	case 'd':
		v, err := strconv.ParseInt(s, 10, 64)
		return time.Duration(v), err == nil
	}
	return nil, false
}

// --- cache-remove-value ---

type cacheRemoveValue struct {
	key   *value
	ctype string
}

func compileCacheRemoveValue(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	return &cacheRemoveValue{ctype: compileCachingType(er), key: a.value("key", true)}, a.err()
}

func (p *cacheRemoveValue) Run(x *Exchange) error {
	k, err := p.key.str(x)
	if err != nil {
		return err
	}
	if err := x.c.cacheFor(p.ctype).Delete(x.ctx, valueKeyPrefix+k); err != nil {
		x.logger().Warn("policy: cache remove failed", "requestId", x.call.RequestID, "error", err)
	}
	return nil
}
