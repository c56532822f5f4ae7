package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/rediscache"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// newLimiter returns the counters of rate limits and quotas: in process, or
// in Redis when the nodes share one. Redis calls have bounded timeouts and,
// while Redis is down, each node counts on its own (a circuit breaker skips
// Redis until it answers again): a counter outage should not become an API
// outage, nor cost every call a dial.
func newLimiter(cfg Config, log *slog.Logger) (ratelimit.Limiter, func()) {
	if cfg.Redis == "" {
		l := ratelimit.NewLocal(ratelimit.LocalOptions{})
		return l, func() { l.Close() }
	}
	// go-redis keeps one logger per process; its messages (a dial that
	// failed, a pool that gave up) belong in the node's structured log.
	redis.SetLogger(redisLog{log})
	opts := &redis.Options{Addr: cfg.Redis}
	if u, err := redis.ParseURL(cfg.Redis); err == nil {
		opts = u // checked when the configuration was loaded
	}
	return ratelimit.NewShared(opts, ratelimit.SharedOptions{Logger: log})
}

// redisLog passes go-redis's messages to slog, as warnings: it logs only
// what went wrong. They name Redis by address, never by URL.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis", "message", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// newExternalCache returns the cache the nodes share for the caching
// policies: Redis when configured (with the limiter's bounded timeouts; a
// failing Redis is a cache miss), none otherwise.
func newExternalCache(cfg Config) (policy.Cache, func()) {
	if cfg.Redis == "" {
		return nil, func() {}
	}
	opts := &redis.Options{Addr: cfg.Redis}
	if u, err := redis.ParseURL(cfg.Redis); err == nil {
		opts = u
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = ratelimit.RedisDialTimeout, ratelimit.RedisReadTimeout, ratelimit.RedisWriteTimeout
	opts.PoolTimeout, opts.MaxRetries = ratelimit.RedisPoolTimeout, 1
	c := redis.NewClient(opts)
	return rediscache.New(c, "tollgate:cache:"), func() { _ = c.Close() }
}

// installPolicyChecks makes the management API refuse what the gateway
// could not run: a document with problems, a named value or fragment change
// that breaks a document using it, and deleting one that is still used.
func installPolicyChecks(m *management.Server, c *policy.Compiler) {
	for _, k := range resource.PolicyKinds() {
		m.Handle(k, management.Hooks{Check: c.SaveCheckWarning(management.AddWarning)})
	}
	refuseUsed := func(ctx context.Context, tx store.Tx, id string, _ resource.Resource, _ map[string]string) error {
		return c.DeleteCheck(ctx, tx, id)
	}
	m.Handle(resource.KindNamedValues, management.Hooks{Check: c.SaveCheck, Delete: refuseUsed})
	m.Handle(resource.KindPolicyFragments, management.Hooks{Check: c.SaveCheckWarning(management.AddWarning), Delete: refuseUsed})
}
