package ratelimit

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix namespaces every key Redis writes.
const DefaultRedisPrefix = "tollgate:rl:"

// RedisOptions configures NewRedis. The zero value is ready to use.
type RedisOptions struct {
	// Prefix is put before every key (default DefaultRedisPrefix). Keys are then
	// Prefix+"r:{period µs}:{key}" (rate), Prefix+"q:{period µs}:{start µs}:{key}" (quota)
	// and Prefix+"c:{key}" (concurrency).
	Prefix string
	// Clock, when set, replaces the Redis server's clock as the time source. Leave it nil
	// in production: one server clock is what makes several nodes agree on windows. Tests
	// set it to move windows without sleeping.
	Clock func() time.Time
	// Logger receives failures to release a concurrency slot (the slot then expires after
	// its ttl). Default slog.Default().
	Logger *slog.Logger
	// ReleaseTimeout bounds a release's round trip (default 2s).
	ReleaseTimeout time.Duration
}

// Redis is a Limiter whose counts live in Redis, shared by every node using the same
// server and prefix. Each call is one EVALSHA of a small Lua script, atomic on the
// server. Errors from Redis are returned wrapped; see FailOpen.
type Redis struct {
	c       redis.Scripter
	prefix  string
	clock   func() time.Time
	log     *slog.Logger
	timeout time.Duration
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a Redis limiter over c (a *redis.Client, *redis.ClusterClient or
// *redis.Ring: every script touches a single key).
func NewRedis(c redis.Scripter, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = DefaultRedisPrefix
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReleaseTimeout <= 0 {
		opts.ReleaseTimeout = 2 * time.Second
	}
	return &Redis{c: c, prefix: opts.Prefix, clock: opts.Clock, log: opts.Logger, timeout: opts.ReleaseTimeout}
}

// scriptNow is the Lua prologue that picks the time: ARGV[i] in µs, or the server's
// clock when it is negative.
const scriptNow = `
local function clock(arg)
  local now = tonumber(arg)
  if now < 0 then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  return now
end
local function floordiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function estimate(prev, cur, weight) return prev * weight + cur end
local function max(a, b) if a > b then return a end return b end
`

// slideScript mirrors slide and slideRetry in window.go.
// KEYS[1] hash {w, c, p}; ARGV limit, period µs, n, op, now µs (or -1).
// Returns {allowed 0/1, remaining, retry µs, reset µs}.
var slideScript = redis.NewScript(scriptNow + `
local limit, period, n, op = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now = clock(ARGV[5])
local idx = floordiv(now, period)
local v = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local win, cur, prev = tonumber(v[1]), 0, 0
if win then
  cur, prev = tonumber(v[2]) or 0, tonumber(v[3]) or 0
  if win > idx then idx = win
  elseif win == idx - 1 then prev, cur = cur, 0
  elseif win < idx - 1 then prev, cur = 0, 0 end
end
local elapsed = max(now - idx * period, 0)
local weight = (period - elapsed) / period

local need, allowed = 1, false
if op == 't' then
  need = n
  if estimate(prev, cur, weight) + n <= limit then cur = cur + n; allowed = true end
elseif op == 'p' then
  allowed = estimate(prev, cur, weight) + 1 <= limit
else
  cur = cur + n
  if cur < 0 then prev = max(prev + cur, 0); cur = 0 end
  allowed = estimate(prev, cur, weight) + 1 <= limit
end

local reset = now
if cur > 0 then reset = (idx + 2) * period elseif prev > 0 then reset = (idx + 1) * period end

if op ~= 'p' then
  if reset > now then
    redis.call('HSET', KEYS[1], 'w', idx, 'c', cur, 'p', prev)
    redis.call('PEXPIRE', KEYS[1], math.ceil((reset - now) / 1000))
  elseif win then
    redis.call('DEL', KEYS[1])
  end
end

local remaining = max(math.floor(limit - estimate(prev, cur, weight)), 0)
local retry = 0
if not allowed then
  if need > limit then
    retry = max(reset - now, period)
  else
    if cur + need > limit then
      retry = period - elapsed + math.ceil(period * (1 - (limit - need) / cur))
    else
      retry = math.ceil(period * (1 - (limit - need - cur) / prev) - elapsed)
    end
    local function fits(t)
      local at = elapsed + t
      if at < period then return estimate(prev, cur, (period - at) / period) + need <= limit end
      return estimate(cur, 0, (2 * period - at) / period) + need <= limit
    end
    if fits(retry - 1) then retry = retry - 1 elseif not fits(retry) then retry = retry + 1 end
  end
  retry = max(retry, 1)
end
return {allowed and 1 or 0, remaining, retry, reset}
`)

// fixedScript mirrors fixed in window.go.
// KEYS[1] hash {w, c}; ARGV limit, period µs, start µs, n, op, now µs (or -1).
var fixedScript = redis.NewScript(scriptNow + `
local limit, period, start, n, op = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local now = clock(ARGV[6])
local idx = floordiv(now - start, period)
local v = redis.call('HMGET', KEYS[1], 'w', 'c')
local win, cur = tonumber(v[1]), 0
if win then
  if win > idx then idx = win; cur = tonumber(v[2]) or 0
  elseif win == idx then cur = tonumber(v[2]) or 0 end
end
local finish = start + (idx + 1) * period

local allowed = false
if op == 't' then
  if cur + n <= limit then cur = cur + n; allowed = true end
elseif op == 'p' then
  allowed = cur + 1 <= limit
else
  cur = max(cur + n, 0)
  allowed = cur + 1 <= limit
end

if op ~= 'p' then
  if cur > 0 then
    redis.call('HSET', KEYS[1], 'w', idx, 'c', cur)
    redis.call('PEXPIRE', KEYS[1], math.ceil((finish - now) / 1000))
  elseif win then
    redis.call('DEL', KEYS[1])
  end
end

local retry = 0
if not allowed then retry = max(finish - now, 1) end
return {allowed and 1 or 0, max(limit - cur, 0), retry, finish}
`)

// acquireScript takes a slot of a semaphore kept as a sorted set of lease ids scored by
// their expiry. KEYS[1] zset; ARGV max, ttl µs, lease id, now µs (or -1). Returns 1 when
// taken.
var acquireScript = redis.NewScript(scriptNow + `
local maxn, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = clock(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= maxn then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(last[2]) - now) / 1000))
return 1
`)

func (r *Redis) nowArg() int64 {
	if r.clock == nil {
		return -1
	}
	return r.clock().UnixMicro()
}

// Take implements Limiter.
func (r *Redis) Take(ctx context.Context, key string, w Window, n int64) (Result, error) {
	if n < 0 {
		return Result{}, fmt.Errorf("%w: negative count %d", ErrInvalid, n)
	}
	return r.do(ctx, key, w, n, opTake)
}

// Peek implements Limiter.
func (r *Redis) Peek(ctx context.Context, key string, w Window) (Result, error) {
	return r.do(ctx, key, w, 1, opPeek)
}

// Add implements Limiter.
func (r *Redis) Add(ctx context.Context, key string, w Window, n int64) (Result, error) {
	return r.do(ctx, key, w, n, opAdd)
}

func (r *Redis) do(ctx context.Context, key string, w Window, n int64, o op) (Result, error) {
	if err := w.validate(); err != nil {
		return Result{}, err
	}
	period := micros(w.Period)
	var cmd *redis.Cmd
	if w.Fixed {
		start := startMicros(w.Start)
		k := r.prefix + "q:" + strconv.FormatInt(period, 10) + ":" + strconv.FormatInt(start, 10) + ":" + key
		cmd = fixedScript.Run(ctx, r.c, []string{k}, w.Limit, period, start, n, opCodes[o], r.nowArg())
	} else {
		k := r.prefix + "r:" + strconv.FormatInt(period, 10) + ":" + key
		cmd = slideScript.Run(ctx, r.c, []string{k}, w.Limit, period, n, opCodes[o], r.nowArg())
	}
	vals, err := cmd.Int64Slice()
	if err != nil {
		// The key stays out of the error: it may carry caller data.
		return Result{}, fmt.Errorf("ratelimit: redis %s: %w", opNames[o], err)
	}
	if len(vals) != 4 {
		return Result{}, fmt.Errorf("ratelimit: redis %s: script returned %d values, want 4", opNames[o], len(vals))
	}
	out := outcome{allowed: vals[0] == 1, remaining: vals[1], retry: vals[2], reset: vals[3]}
	return out.result(w.Limit, period), nil
}

var opNames = [...]string{opTake: "take", opPeek: "peek", opAdd: "add"}

// Acquire implements Limiter. A slot is a lease that expires after ttl.
func (r *Redis) Acquire(ctx context.Context, key string, max int64, ttl time.Duration) (func(), bool, error) {
	if max < 0 || ttl < time.Millisecond {
		return nil, false, fmt.Errorf("%w: concurrency max %d, ttl %v", ErrInvalid, max, ttl)
	}
	if max == 0 {
		return nil, false, nil
	}
	k := r.prefix + "c:" + key
	id := rand.Text()
	taken, err := acquireScript.Run(ctx, r.c, []string{k}, max, micros(ttl), id, r.nowArg()).Int64()
	if err != nil {
		return nil, false, fmt.Errorf("ratelimit: redis acquire: %w", err)
	}
	if taken != 1 {
		return nil, false, nil
	}
	var released atomic.Bool
	return func() {
		if released.Swap(true) {
			return
		}
		// The request's context may be gone by now; the release must still happen.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
		defer cancel()
		if err := releaseScript.Run(rctx, r.c, []string{k}, id).Err(); err != nil {
			r.log.Warn("ratelimit: release concurrency slot failed; it expires after its ttl",
				"ttl", ttl, "error", err)
		}
	}, true, nil
}

// releaseScript frees a slot. A script rather than ZREM because Redis only takes
// Scripter, and it keeps one code path for every Redis client kind.
var releaseScript = redis.NewScript(`redis.call('ZREM', KEYS[1], ARGV[1]) return 0`)
