// Package rediscache is the cache the gateway nodes share in Redis: the
// external cache of the caching policies (cache-lookup, cache-store,
// cache-*-value), so a response cached by one node is served by all.
package rediscache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxValue bounds what one entry may hold; larger values are not stored.
const MaxValue = 8 << 20

// Cache stores entries under Prefix in Redis. Its methods implement
// policy.Cache.
type Cache struct {
	c      redis.Cmdable
	prefix string
}

// New returns a cache over c whose keys start with prefix (e.g.
// "tollgate:cache:").
func New(c redis.Cmdable, prefix string) *Cache { return &Cache{c: c, prefix: prefix} }

// Get returns the value of key; ok is false when there is none.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := c.c.Get(ctx, c.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("rediscache: get: %w", err)
	}
	return b, true, nil
}

// Set stores value under key for ttl (at least a millisecond).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if len(value) > MaxValue {
		return nil
	}
	if err := c.c.Set(ctx, c.prefix+key, value, max(ttl, time.Millisecond)).Err(); err != nil {
		return fmt.Errorf("rediscache: set: %w", err)
	}
	return nil
}

// Delete removes key.
func (c *Cache) Delete(ctx context.Context, key string) error {
	if err := c.c.Del(ctx, c.prefix+key).Err(); err != nil {
		return fmt.Errorf("rediscache: delete: %w", err)
	}
	return nil
}
