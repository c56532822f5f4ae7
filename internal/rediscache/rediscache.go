// Package rediscache is the cache the gateway nodes share in Redis: the
// external cache of the caching policies (cache-lookup, cache-store,
// cache-*-value), so a response cached by one node is served by all.
package rediscache

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxValue bounds what one entry may hold; larger values are not stored.
const MaxValue = 8 << 20

// Pause is how long the cache leaves Redis alone after a failure: calls
// meanwhile are misses (and writes are dropped) at no cost, so a Redis
// that is down or hangs costs one timeout per Pause, not one per call.
const Pause = 5 * time.Second

// Cache stores entries under a prefix in Redis. Its methods implement
// policy.Cache.
type Cache struct {
	c      redis.Cmdable
	prefix string
	// pausedUntil is when Redis is tried again (Unix ns) after a failure.
	pausedUntil atomic.Int64
}

// New returns a cache over c whose keys start with prefix (e.g.
// "tollgate:cache:").
func New(c redis.Cmdable, prefix string) *Cache { return &Cache{c: c, prefix: prefix} }

func (c *Cache) paused() bool { return time.Now().UnixNano() < c.pausedUntil.Load() }

// failed pauses the cache and returns the error, with what failed.
func (c *Cache) failed(op string, err error) error {
	c.pausedUntil.Store(time.Now().Add(Pause).UnixNano())
	return fmt.Errorf("rediscache: %s (Redis left alone for %v): %w", op, Pause, err)
}

// Get returns the value of key; ok is false when there is none.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if c.paused() {
		return nil, false, nil
	}
	b, err := c.c.Get(ctx, c.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, c.failed("get", err)
	}
	return b, true, nil
}

// Set stores value under key for ttl (at least a millisecond).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if len(value) > MaxValue || c.paused() {
		return nil
	}
	if err := c.c.Set(ctx, c.prefix+key, value, max(ttl, time.Millisecond)).Err(); err != nil {
		return c.failed("set", err)
	}
	return nil
}

// Delete removes key.
func (c *Cache) Delete(ctx context.Context, key string) error {
	if c.paused() {
		return nil
	}
	if err := c.c.Del(ctx, c.prefix+key).Err(); err != nil {
		return c.failed("delete", err)
	}
	return nil
}
