package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// FailOpen wraps l so that a failing backend (Redis unreachable, Local full) admits calls
// instead of failing them: the recommended behaviour, since an outage of the counters
// should not become an outage of every API. It logs a warning at most once per interval
// (default one minute when interval ≤ 0), with the number of failures since the last
// line. ErrInvalid errors are still returned: they are bugs, not outages.
//
// A call admitted this way has Allowed true, Remaining and Limit equal to the window's
// Limit, and a zero Reset; Acquire returns ok true and a release that does nothing.
func FailOpen(l Limiter, log *slog.Logger, interval time.Duration) Limiter {
	if interval <= 0 {
		interval = time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	f := &failOpen{l: l, log: log, interval: interval}
	f.last.Store(time.Now().Add(-interval).UnixNano())
	return f
}

type failOpen struct {
	l        Limiter
	log      *slog.Logger
	interval time.Duration
	last     atomic.Int64 // UnixNano of the last log line
	failures atomic.Int64 // since the last log line
}

// swallow reports whether err is an outage to admit through, logging as due.
func (f *failOpen) swallow(ctx context.Context, op string, err error) bool {
	if errors.Is(err, ErrInvalid) {
		return false
	}
	n := f.failures.Add(1)
	// A caller that went away is not an outage worth a log line.
	if ctx.Err() != nil {
		return true
	}
	now := time.Now().UnixNano()
	last := f.last.Load()
	if now-last < int64(f.interval) || !f.last.CompareAndSwap(last, now) {
		return true
	}
	f.failures.Add(-n)
	f.log.WarnContext(ctx, "ratelimit: counter backend failed; admitting calls",
		"op", op, "failures", n, "error", err)
	return true
}

func (f *failOpen) open(w Window) Result {
	return Result{Allowed: true, Remaining: w.Limit, Limit: w.Limit}
}

func (f *failOpen) Take(ctx context.Context, key string, w Window, n int64) (Result, error) {
	r, err := f.l.Take(ctx, key, w, n)
	if err != nil && f.swallow(ctx, "take", err) {
		return f.open(w), nil
	}
	return r, err
}

func (f *failOpen) Peek(ctx context.Context, key string, w Window) (Result, error) {
	r, err := f.l.Peek(ctx, key, w)
	if err != nil && f.swallow(ctx, "peek", err) {
		return f.open(w), nil
	}
	return r, err
}

func (f *failOpen) Add(ctx context.Context, key string, w Window, n int64) (Result, error) {
	r, err := f.l.Add(ctx, key, w, n)
	if err != nil && f.swallow(ctx, "add", err) {
		return f.open(w), nil
	}
	return r, err
}

func (f *failOpen) Acquire(ctx context.Context, key string, max int64, ttl time.Duration) (func(), bool, error) {
	release, ok, err := f.l.Acquire(ctx, key, max, ttl)
	if err != nil && f.swallow(ctx, "acquire", err) {
		return func() {}, true, nil
	}
	return release, ok, err
}
