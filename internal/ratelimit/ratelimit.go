// Package ratelimit provides the counters behind APIM's rate-limit, rate-limit-by-key,
// quota, quota-by-key and limit-concurrency policies: in process (Local) or shared by
// several gateway nodes through Redis (Redis). Both implement Limiter, and both compute
// with the same arithmetic, at microsecond resolution, so they answer identically.
//
// # Rate limits: a sliding window, approximated
//
// A rate limit (Window.Fixed false) admits Limit calls per Period over a sliding window,
// approximated by two fixed windows aligned to the Unix epoch (the "weighted previous
// window" count, as used by Cloudflare and nginx-style limiters). The estimate at time t,
// a fraction f of the way through the current fixed window, is
//
//	estimate = previous × (1 − f) + current
//
// and a call of weight n is admitted when estimate + n ≤ Limit. It costs two counters per
// key instead of a log of every call. Never more than Limit calls are admitted in one
// fixed window, and a key that used its Limit stays refused until the estimate decays.
// The approximation assumes the previous window's calls were spread evenly: after a
// burst that fills a window, the next call fits at the next boundary plus Period/Limit
// wherever the burst fell (5 per minute, a burst at 0:00 or at 0:59: the next call at
// 1:12, where an exact sliding window says 1:00 or 1:59), and an interval of one Period
// straddling a boundary can see up to about twice Limit. Remaining is
// ⌊Limit − estimate⌋; RetryAfter is the exact time until the estimate has decayed enough
// to admit the refused call, capped at Period (a Retry-After longer than the window would
// read as a bug to clients).
//
// # Quotas: fixed windows
//
// A quota (Window.Fixed true) counts in fixed windows of Period aligned to Window.Start
// (the zero time means the Unix epoch): the window containing t starts at
// Start + ⌊(t − Start)/Period⌋ × Period. The count resets to zero at each boundary. For a
// bandwidth quota count kilobytes instead of calls, under a different key.
//
// # Counting later, or undoing (increment-condition)
//
// Take checks and counts atomically. For a policy whose count depends on the response
// (increment-condition, bandwidth), either
//   - Peek at inbound (would one more call be admitted?) and Add the real count at
//     outbound: APIM's behaviour; concurrent requests may overshoot the limit a little,
//     since they all passed the check before any was counted; or
//   - Take at inbound and Add a negative count at outbound to refund a call that should not
//     count: strict, never over-admits.
//
// Several limits on one call (rate-limit with nested api and operation limits): Take each
// in turn, and when one refuses, refund (Add −n) those already taken.
//
// # Concurrency
//
// Acquire takes one of max slots of a per-key semaphore and returns its release function.
// There is no queue: over the limit, ok is false at once. In Redis a slot is a lease that
// expires after ttl, so a node that dies holding slots does not leak them forever; pick a
// ttl longer than the longest request.
//
// # Keys and several nodes
//
// A key is an opaque string chosen by the policy (the counter-key, a subscription id...).
// Counters of different kinds (rate, quota, concurrency), and of the same kind with a
// different Period (or quota Start), never share state, even under the same key; a
// different Limit on the same key shares the count (a limit changed by configuration does
// not reset counts). Keys may hold caller data (an IP address, a header value), so this
// package never logs them nor puts them in errors.
//
// Local keeps counters in memory, in 64 mutex-guarded shards of maps keyed by the key's
// hash, with a cap on keys and a janitor goroutine evicting expired ones (see LocalOptions).
// Its clock is the monotonic clock anchored to the wall clock, re-anchored at every sweep:
// one clock read per call. Each node counts on its own, so N nodes admit up to N times the
// limit. Redis keeps them in one Redis server, updated by one Lua script per call
// (a single EVALSHA round trip, atomic on the server), with Redis's own clock as the time
// source, so any number of nodes sharing the server share the counts exactly and clock
// skew between nodes does not matter. Every Redis key carries a TTL that ends when its
// state can no longer matter, so dead keys disappear on their own.
//
// # Errors
//
// When the backing store fails (Redis unreachable, Local full), the methods return the
// error and the policy decides. The recommended behaviour is to fail open (admit the call)
// and log, which FailOpen does, logging at most once per interval. In front of Redis, a
// Breaker does better: after a failure it counts on this node (Local) for a growing
// backoff instead of trying Redis on every call, and goes back to Redis once a background
// probe succeeds. NewShared assembles the three (Redis behind a Breaker behind FailOpen)
// with a Redis client whose timeouts are bounded: go-redis's defaults retry a refused
// dial 5 times, 100 ms apart.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limiter counts calls against keys. Implementations are safe for concurrent use.
type Limiter interface {
	// Take counts n against key in w when n more fit (estimate + n ≤ w.Limit), and reports
	// the outcome. When they do not fit nothing is counted, Allowed is false and RetryAfter
	// says when they would. n is usually 1; n = 0 counts nothing and is allowed unless the
	// key is already over its limit.
	Take(ctx context.Context, key string, w Window, n int64) (Result, error)
	// Peek reports what Take(ctx, key, w, 1) would, without counting anything.
	Peek(ctx context.Context, key string, w Window) (Result, error)
	// Add counts n against key in w unconditionally, even past the limit (a count decided
	// after the response: increment-condition, increment-count, bandwidth). A negative n
	// refunds earlier counts: it is taken from the current fixed window, then (rate limits
	// only) from the previous one; counts never go below zero. The Result describes the
	// state after the change; Allowed reports whether one more call would be admitted.
	Add(ctx context.Context, key string, w Window, n int64) (Result, error)
	// Acquire takes one of max concurrent slots for key. When all are taken it returns
	// ok false at once (limit-concurrency answers 429). When ok, release must be called
	// exactly once when the call ends (further calls are no-ops); it does not wait on the
	// request's context. ttl bounds how long a slot can be held if release is never called
	// (Redis; Local slots are only freed by release).
	Acquire(ctx context.Context, key string, max int64, ttl time.Duration) (release func(), ok bool, err error)
}

// Window describes a limit: Limit units per Period, over a sliding window (rate limits)
// or in fixed windows aligned to Start (quotas). Build one with Rate or Quota.
type Window struct {
	Limit  int64
	Period time.Duration
	// Fixed selects fixed windows aligned to Start (quota); otherwise the sliding window.
	Fixed bool
	// Start aligns fixed windows (APIM's first-period-start); the zero time means the Unix
	// epoch. Ignored for sliding windows, which are aligned to the epoch.
	Start time.Time
}

// Rate is a sliding window of limit calls per period (rate-limit, rate-limit-by-key).
func Rate(limit int64, period time.Duration) Window {
	return Window{Limit: limit, Period: period}
}

// Quota is a fixed window of limit units per period aligned to start (quota,
// quota-by-key); the zero start means the Unix epoch.
func Quota(limit int64, period time.Duration, start time.Time) Window {
	return Window{Limit: limit, Period: period, Fixed: true, Start: start}
}

// Result is the outcome of a call.
type Result struct {
	// Allowed reports whether the call was admitted (Take, Peek) or whether one more call
	// would be (Add).
	Allowed bool
	// Remaining is how many more units would be admitted now (never negative): the value of
	// remaining-calls-header-name / remaining-calls-variable-name.
	Remaining int64
	// RetryAfter is zero when Allowed; otherwise how long until the refused call would be
	// admitted (Retry-After, rounded up to whole seconds by the policy; for a quota, the
	// time until the window resets). It is never more than Period: when the sliding
	// estimate refuses for longer (after a burst at a window's start), a call at
	// RetryAfter may be refused again with the rest of the wait. A call larger than Limit
	// never fits: RetryAfter is then Period.
	RetryAfter time.Duration
	// Limit is the window's Limit (total-calls-header-name).
	Limit int64
	// Reset is when the count is back to zero if nothing more is counted: the end of the
	// fixed window for a quota; for a rate limit, when the calls counted so far have left
	// the sliding window.
	Reset time.Time
}

// ErrInvalid is returned (wrapped) for a window, count or slot limit that makes no sense:
// a Limit outside [0, MaxLimit], a Period outside [1µs, MaxPeriod], a negative n in Take.
var ErrInvalid = errors.New("ratelimit: invalid arguments")

// ErrFull is returned (wrapped) by Local when a new key would exceed its key cap and no
// expired key can be evicted to make room. Existing keys keep working.
var ErrFull = errors.New("ratelimit: too many keys")

// Bounds of a Window. They keep every count and timestamp the Lua scripts compute within
// float64's exact integers, so that Local and Redis agree.
const (
	MaxLimit  = 1 << 50
	MaxPeriod = 100 * 365 * 24 * time.Hour
)

// validate checks a window; it formats errors only on the failure path.
func (w Window) validate() error {
	if w.Limit < 0 || w.Limit > MaxLimit {
		return fmt.Errorf("%w: limit %d outside [0, %d]", ErrInvalid, w.Limit, int64(MaxLimit))
	}
	if w.Period < time.Microsecond || w.Period > MaxPeriod {
		return fmt.Errorf("%w: period %v outside [1µs, %v]", ErrInvalid, w.Period, MaxPeriod)
	}
	return nil
}
