package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerOptions configures NewBreaker. The zero value is ready to use.
type BreakerOptions struct {
	// MinBackoff is how long the shared counters are skipped after their first failure
	// (default 100ms). Each failed probe doubles it, up to MaxBackoff (default 5s).
	MinBackoff, MaxBackoff time.Duration
	// ProbeTimeout bounds one probe of the shared counters (default 2s; the Redis
	// client's own timeouts are usually shorter).
	ProbeTimeout time.Duration
	// Logger receives one line when the breaker opens and one when it closes. Default
	// slog.Default().
	Logger *slog.Logger
}

// Breaker is a circuit breaker between shared counters (Redis) and this node's own
// (Local). While the shared counters answer, every call goes to them. When a call fails,
// the breaker opens: that call and every call after it is counted by the fallback for a
// backoff (growing from MinBackoff, doubled by each failed probe, capped at MaxBackoff),
// so an outage costs one failed round trip, not one per call. When the backoff has
// passed, the next call starts a probe in the background (a Peek, which writes nothing)
// and is itself counted locally; the probe's success closes the breaker, and counting
// resumes in the shared counters.
//
// While open, each node counts on its own, as without shared counters: a cluster of N
// nodes admits up to N times a limit. Concurrency slots taken in the shared counters
// before the outage are not released there while the breaker is open; their leases
// expire after their ttl.
//
// ErrInvalid errors, and errors of a call whose context has ended, are returned as they
// are and do not open the breaker. Errors of the fallback are returned (wrap the Breaker
// in FailOpen to admit through them).
type Breaker struct {
	primary, fallback Limiter
	opts              BreakerOptions

	// open is the fast-path flag: false while calls go to primary.
	open atomic.Bool
	// retryAt is when (UnixNano) the next probe may start, while open.
	retryAt atomic.Int64
	// probing is set while a probe runs.
	probing atomic.Bool

	mu       sync.Mutex // guards the fields below and state changes
	backoff  time.Duration
	openedAt time.Time
	local    atomic.Int64 // calls counted by the fallback while open
}

var _ Limiter = (*Breaker)(nil)

// NewBreaker returns a Breaker sending calls to primary, and to fallback while primary
// fails.
func NewBreaker(primary, fallback Limiter, opts BreakerOptions) *Breaker {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Breaker{primary: primary, fallback: fallback, opts: opts}
}

// Open reports whether calls are currently counted by the fallback.
func (b *Breaker) Open() bool { return b.open.Load() }

// probeKey is peeked to learn whether the shared counters answer again. Peek writes
// nothing.
const probeKey = "\x00breaker-probe"

// skip reports whether a call should go to the fallback, starting a probe when one is
// due.
func (b *Breaker) skip(ctx context.Context) bool {
	if !b.open.Load() {
		return false
	}
	b.local.Add(1)
	if time.Now().UnixNano() >= b.retryAt.Load() && b.probing.CompareAndSwap(false, true) {
		// The probe must outlive this call, and must not slow it down.
		go b.probe(context.WithoutCancel(ctx))
	}
	return true
}

func (b *Breaker) probe(ctx context.Context) {
	defer b.probing.Store(false)
	ctx, cancel := context.WithTimeout(ctx, b.opts.ProbeTimeout)
	defer cancel()
	_, err := b.primary.Peek(ctx, probeKey, Rate(1, time.Second))
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.backoff = min(2*b.backoff, b.opts.MaxBackoff)
		b.retryAt.Store(time.Now().Add(b.backoff).UnixNano())
		return
	}
	b.open.Store(false)
	b.opts.Logger.InfoContext(ctx, "ratelimit: shared counters answer again; counting in them",
		"down", time.Since(b.openedAt).Round(time.Millisecond), "counted_locally", b.local.Swap(0))
}

// failed reports whether err from primary should send the call to the fallback, opening
// the breaker if it is closed.
func (b *Breaker) failed(ctx context.Context, err error) bool {
	if errors.Is(err, ErrInvalid) || ctx.Err() != nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.local.Add(1)
	if b.open.Load() {
		return true
	}
	b.backoff = b.opts.MinBackoff
	b.openedAt = time.Now()
	b.retryAt.Store(b.openedAt.Add(b.backoff).UnixNano())
	b.open.Store(true)
	b.opts.Logger.WarnContext(ctx, "ratelimit: shared counters failed; counting on this node until they answer",
		"error", err)
	return true
}

// route makes call on primary unless the breaker is open or primary fails, and on
// the fallback otherwise.
func (b *Breaker) route(ctx context.Context, call func(l Limiter) (Result, error)) (Result, error) {
	if !b.skip(ctx) {
		r, err := call(b.primary)
		if err == nil || !b.failed(ctx, err) {
			return r, err
		}
	}
	return call(b.fallback)
}

// Take implements Limiter.
func (b *Breaker) Take(ctx context.Context, key string, w Window, n int64) (Result, error) {
	return b.route(ctx, func(l Limiter) (Result, error) { return l.Take(ctx, key, w, n) })
}

// Peek implements Limiter.
func (b *Breaker) Peek(ctx context.Context, key string, w Window) (Result, error) {
	return b.route(ctx, func(l Limiter) (Result, error) { return l.Peek(ctx, key, w) })
}

// Add implements Limiter.
func (b *Breaker) Add(ctx context.Context, key string, w Window, n int64) (Result, error) {
	return b.route(ctx, func(l Limiter) (Result, error) { return l.Add(ctx, key, w, n) })
}

// Acquire implements Limiter. A slot taken in primary is released there only while the
// breaker is closed (otherwise its lease expires after ttl).
func (b *Breaker) Acquire(ctx context.Context, key string, max int64, ttl time.Duration) (func(), bool, error) {
	if !b.skip(ctx) {
		release, ok, err := b.primary.Acquire(ctx, key, max, ttl)
		if err == nil {
			if !ok {
				return release, ok, nil
			}
			return func() {
				if !b.open.Load() {
					release()
				}
			}, true, nil
		}
		if !b.failed(ctx, err) {
			return release, ok, err
		}
	}
	return b.fallback.Acquire(ctx, key, max, ttl)
}
