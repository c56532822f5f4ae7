package ratelimit

import (
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bounds put on the Redis client of NewShared when its options leave them unset: a
// Redis that refuses or hangs costs a call at most about a dial or a read, once, before
// the Breaker opens.
const (
	RedisDialTimeout  = 250 * time.Millisecond
	RedisReadTimeout  = 100 * time.Millisecond
	RedisWriteTimeout = 100 * time.Millisecond
	RedisPoolTimeout  = 200 * time.Millisecond
)

// SharedOptions configures NewShared. The zero value is ready to use.
type SharedOptions struct {
	Redis   RedisOptions
	Local   LocalOptions
	Breaker BreakerOptions
	// Logger is used wherever the options above leave theirs nil, and by FailOpen.
	Logger *slog.Logger
}

// NewShared returns the limiter of gateway nodes that share counts through the Redis
// server of opts: Redis behind a Breaker that counts locally while Redis fails, behind
// FailOpen (which admits calls when even the local counters cannot count). Timeouts
// opts leaves unset (or unbounded) get the Redis*Timeout bounds, and a failed dial or
// command is retried at most once. close releases the client and the local counters.
func NewShared(opts *redis.Options, so SharedOptions) (l Limiter, close func()) {
	o := *opts
	o.DialTimeout = bounded(o.DialTimeout, RedisDialTimeout)
	o.ReadTimeout = bounded(o.ReadTimeout, RedisReadTimeout)
	o.WriteTimeout = bounded(o.WriteTimeout, RedisWriteTimeout)
	o.PoolTimeout = bounded(o.PoolTimeout, RedisPoolTimeout)
	o.MaxRetries, o.DialerRetries = 1, 1
	if so.Logger == nil {
		so.Logger = slog.Default()
	}
	if so.Redis.Logger == nil {
		so.Redis.Logger = so.Logger
	}
	if so.Breaker.Logger == nil {
		so.Breaker.Logger = so.Logger
	}
	client := redis.NewClient(&o)
	local := NewLocal(so.Local)
	b := NewBreaker(NewRedis(client, so.Redis), local, so.Breaker)
	return FailOpen(b, so.Logger, time.Minute), func() {
		client.Close()
		local.Close()
	}
}

// bounded is d when it is a positive timeout, def otherwise (unset, or go-redis's
// negative "no timeout" values).
func bounded(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
