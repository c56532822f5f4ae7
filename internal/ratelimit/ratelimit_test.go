package ratelimit_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

// t0 is the tests' fake "now": a day boundary, so windows of seconds, minutes, hours and
// days all start there.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t0.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time        { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Set(off time.Duration) { c.ns.Store(t0.Add(off).UnixNano()) }

// impl is one Limiter under test, with the clock that drives it.
type impl struct {
	name  string
	clock *fakeClock
	l     ratelimit.Limiter
}

// impls returns a fresh Local, and a fresh Redis (random prefix, keys deleted after the
// test) when TOLLGATE_TEST_REDIS is set, both driven by one fake clock each.
func impls(t *testing.T) []impl {
	t.Helper()
	lc := newClock()
	local := ratelimit.NewLocal(ratelimit.LocalOptions{Clock: lc.Now})
	t.Cleanup(func() { local.Close() })
	out := []impl{{name: "local", clock: lc, l: local}}
	if client := redisClient(t); client != nil {
		rc := newClock()
		out = append(out, impl{name: "redis", clock: rc, l: ratelimit.NewRedis(client, ratelimit.RedisOptions{
			Prefix: testPrefix(t, client), Clock: rc.Now,
		})})
	}
	return out
}

// redisClient connects to TOLLGATE_TEST_REDIS, or returns nil when it is unset.
func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	addr := os.Getenv("TOLLGATE_TEST_REDIS")
	if addr == "" {
		return nil
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("TOLLGATE_TEST_REDIS=%s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrefix returns a key prefix of the test's own and deletes its keys after the test.
func testPrefix(t *testing.T, c *redis.Client) string {
	t.Helper()
	prefix := "tollgate:rl:test-" + rand.Text() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err != nil {
			t.Errorf("list test keys: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("delete test keys: %v", err)
			}
		}
	})
	return prefix
}

// step is one call at a clock offset, with the Result it must give. reset is an offset
// from t0. An op of "take", "peek" or "add".
type step struct {
	at      time.Duration
	op      string
	key     string // default "k"
	w       *ratelimit.Window
	n       int64
	allowed bool
	remain  int64
	retry   time.Duration
	reset   time.Duration
}

type behaviour struct {
	name  string
	w     ratelimit.Window
	steps []step
}

func cat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	rate5min   = ratelimit.Rate(5, time.Minute)
	rate10sec  = ratelimit.Rate(10, time.Second)
	rate2per10 = ratelimit.Rate(2, 10*time.Second)
	rate1per20 = ratelimit.Rate(1, 20*time.Second)
	quotaHour  = ratelimit.Quota(3, time.Hour, t0.Add(10*time.Minute))
	quotaDay   = ratelimit.Quota(2, 24*time.Hour, time.Time{})
	quota1per  = ratelimit.Quota(1, 20*time.Second, time.Time{})
)

var behaviours = []behaviour{
	{
		name: "rate: burst, refusal, sliding decay, rollover",
		w:    rate5min,
		steps: []step{
			{at: 0, op: "take", n: 1, allowed: true, remain: 4, reset: 2 * time.Minute},
			{at: 0, op: "take", n: 1, allowed: true, remain: 3, reset: 2 * time.Minute},
			{at: 1 * time.Second, op: "take", n: 1, allowed: true, remain: 2, reset: 2 * time.Minute},
			{at: 2 * time.Second, op: "take", n: 1, allowed: true, remain: 1, reset: 2 * time.Minute},
			{at: 3 * time.Second, op: "take", n: 1, allowed: true, remain: 0, reset: 2 * time.Minute},
			// Full: wait for the next fixed window, then 12 s more for 5 × (1 − f) ≤ 4.
			{at: 10 * time.Second, op: "take", n: 1, allowed: false, remain: 0, retry: 62 * time.Second, reset: 2 * time.Minute},
			{at: 30 * time.Second, op: "peek", allowed: false, remain: 0, retry: 42 * time.Second, reset: 2 * time.Minute},
			// Next fixed window: the previous one still weighs in fully.
			{at: 60 * time.Second, op: "take", n: 1, allowed: false, remain: 0, retry: 12 * time.Second, reset: 2 * time.Minute},
			{at: 66 * time.Second, op: "peek", allowed: false, remain: 0, retry: 6 * time.Second, reset: 2 * time.Minute},
			// 5 × 48/60 = 4: one fits.
			{at: 72 * time.Second, op: "take", n: 1, allowed: true, remain: 0, reset: 3 * time.Minute},
			// 5 × (1 − f) + 1 + 1 ≤ 5 once f ≥ 0.4, at 84 s.
			{at: 72 * time.Second, op: "take", n: 1, allowed: false, remain: 0, retry: 12 * time.Second, reset: 3 * time.Minute},
			{at: 90 * time.Second, op: "take", n: 1, allowed: true, remain: 0, reset: 3 * time.Minute},
			// Two windows later nothing is left.
			{at: 180 * time.Second, op: "take", n: 1, allowed: true, remain: 4, reset: 5 * time.Minute},
		},
	},
	{
		name: "rate: increment-count above one",
		w:    rate10sec,
		steps: []step{
			{at: 0, op: "take", n: 4, allowed: true, remain: 6, reset: 2 * time.Second},
			{at: 0, op: "take", n: 4, allowed: true, remain: 2, reset: 2 * time.Second},
			// 8 + 4 > 10 in this window; in the next, 8 × (1 − f) + 4 ≤ 10 at f = 1/4.
			{at: 0, op: "take", n: 4, allowed: false, remain: 2, retry: 1250 * time.Millisecond, reset: 2 * time.Second},
			{at: 0, op: "take", n: 2, allowed: true, remain: 0, reset: 2 * time.Second},
			// A call larger than the limit never fits.
			{at: 0, op: "take", n: 11, allowed: false, remain: 0, retry: 2 * time.Second, reset: 2 * time.Second},
			// n = 0 counts nothing.
			{at: 0, op: "take", n: 0, allowed: true, remain: 0, reset: 2 * time.Second},
		},
	},
	{
		name: "rate: check now, count later (peek then add) and refunds",
		w:    rate2per10,
		steps: cat(
			[]step{
				{at: 0, op: "peek", allowed: true, remain: 2, reset: 0},
				{at: 0, op: "peek", allowed: true, remain: 2, reset: 0},
				{at: 0, op: "add", n: 1, allowed: true, remain: 1, reset: 20 * time.Second},
				{at: 0, op: "add", n: 1, allowed: false, remain: 0, retry: 15 * time.Second, reset: 20 * time.Second},
				// Add counts past the limit.
				{at: 0, op: "add", n: 1, allowed: false, remain: 0, retry: 16666667 * time.Microsecond, reset: 20 * time.Second},
				// Refunds.
				{at: 0, op: "add", n: -2, allowed: true, remain: 1, reset: 20 * time.Second},
				{at: 0, op: "take", n: 1, allowed: true, remain: 0, reset: 20 * time.Second},
				// Next window: the refund comes from the previous window's count.
				{at: 15 * time.Second, op: "add", n: -1, allowed: true, remain: 1, reset: 20 * time.Second},
				{at: 15 * time.Second, op: "add", n: -5, allowed: true, remain: 2, reset: 15 * time.Second},
				// A refund of a fresh key stores nothing.
			},
			[]step{{at: 15 * time.Second, op: "add", key: "other", n: -1, allowed: true, remain: 2, reset: 15 * time.Second}},
		),
	},
	{
		name: "rate: limit zero admits nothing",
		w:    ratelimit.Rate(0, 10*time.Second),
		steps: []step{
			{at: 0, op: "take", n: 1, allowed: false, remain: 0, retry: 10 * time.Second, reset: 0},
			{at: 0, op: "peek", allowed: false, remain: 0, retry: 10 * time.Second, reset: 0},
		},
	},
	{
		name: "quota: windows aligned to first-period-start",
		w:    quotaHour,
		steps: []step{
			// t0 is in the window [t0 − 50 min, t0 + 10 min).
			{at: 0, op: "take", n: 1, allowed: true, remain: 2, reset: 10 * time.Minute},
			{at: time.Minute, op: "take", n: 1, allowed: true, remain: 1, reset: 10 * time.Minute},
			{at: 2 * time.Minute, op: "take", n: 1, allowed: true, remain: 0, reset: 10 * time.Minute},
			{at: 4 * time.Minute, op: "take", n: 1, allowed: false, remain: 0, retry: 6 * time.Minute, reset: 10 * time.Minute},
			{at: 4 * time.Minute, op: "peek", allowed: false, remain: 0, retry: 6 * time.Minute, reset: 10 * time.Minute},
			// The boundary resets the count at once (no sliding).
			{at: 10 * time.Minute, op: "peek", allowed: true, remain: 3, reset: 70 * time.Minute},
			{at: 10 * time.Minute, op: "take", n: 1, allowed: true, remain: 2, reset: 70 * time.Minute},
			// Bandwidth-style: counted after the fact, past the limit, then refunded.
			{at: 20 * time.Minute, op: "add", n: 5, allowed: false, remain: 0, retry: 50 * time.Minute, reset: 70 * time.Minute},
			{at: 20 * time.Minute, op: "take", n: 1, allowed: false, remain: 0, retry: 50 * time.Minute, reset: 70 * time.Minute},
			{at: 20 * time.Minute, op: "add", n: -5, allowed: true, remain: 2, reset: 70 * time.Minute},
			{at: 69*time.Minute + 59*time.Second, op: "take", n: 2, allowed: true, remain: 0, reset: 70 * time.Minute},
			{at: 70 * time.Minute, op: "take", n: 3, allowed: true, remain: 0, reset: 130 * time.Minute},
			{at: 70 * time.Minute, op: "take", n: 4, allowed: false, remain: 0, retry: time.Hour, reset: 130 * time.Minute},
		},
	},
	{
		name: "quota: zero start is the epoch",
		w:    quotaDay,
		steps: []step{
			{at: 23 * time.Hour, op: "take", n: 2, allowed: true, remain: 0, reset: 24 * time.Hour},
			{at: 23*time.Hour + 30*time.Minute, op: "take", n: 1, allowed: false, remain: 0, retry: 30 * time.Minute, reset: 24 * time.Hour},
			{at: 24 * time.Hour, op: "take", n: 1, allowed: true, remain: 1, reset: 48 * time.Hour},
		},
	},
	{
		name: "keys: kinds and periods never share, limits do",
		w:    rate1per20,
		steps: []step{
			{at: 0, op: "take", n: 1, allowed: true, remain: 0, reset: 40 * time.Second},
			{at: 0, op: "take", key: "k2", n: 1, allowed: true, remain: 0, reset: 40 * time.Second},
			{at: 0, op: "take", w: &rate2per10, n: 1, allowed: true, remain: 1, reset: 20 * time.Second},
			{at: 0, op: "take", w: &quota1per, n: 1, allowed: true, remain: 0, reset: 20 * time.Second},
			// Same key and period, another limit: the same count.
			{at: 0, op: "take", w: ptr(ratelimit.Rate(3, 20*time.Second)), n: 1, allowed: true, remain: 1, reset: 40 * time.Second},
			{at: 0, op: "take", n: 1, allowed: false, remain: 0, retry: 40 * time.Second, reset: 40 * time.Second},
			// Quotas with another start are other counters.
			{at: 0, op: "take", w: ptr(ratelimit.Quota(1, 20*time.Second, t0.Add(time.Second))), n: 1, allowed: true, remain: 0, reset: time.Second},
		},
	},
}

func ptr[T any](v T) *T { return &v }

func TestBehaviours(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			for bi, b := range behaviours {
				t.Run(b.name, func(t *testing.T) {
					prefix := fmt.Sprintf("b%d:", bi) // behaviours never share keys
					for i, s := range b.steps {
						im.clock.Set(s.at)
						w := b.w
						if s.w != nil {
							w = *s.w
						}
						key := prefix + "k"
						if s.key != "" {
							key = prefix + s.key
						}
						var got ratelimit.Result
						var err error
						ctx := context.Background()
						switch s.op {
						case "take":
							got, err = im.l.Take(ctx, key, w, s.n)
						case "peek":
							got, err = im.l.Peek(ctx, key, w)
						case "add":
							got, err = im.l.Add(ctx, key, w, s.n)
						default:
							t.Fatalf("step %d: op %q", i, s.op)
						}
						if err != nil {
							t.Fatalf("step %d (%s %d at %v): %v", i, s.op, s.n, s.at, err)
						}
						// RetryAfter is capped at the period.
						want := ratelimit.Result{Allowed: s.allowed, Remaining: s.remain, RetryAfter: min(s.retry, w.Period), Limit: w.Limit, Reset: t0.Add(s.reset)}
						if got.Allowed != want.Allowed || got.Remaining != want.Remaining || got.RetryAfter != want.RetryAfter ||
							got.Limit != want.Limit || !got.Reset.Equal(want.Reset) {
							t.Errorf("step %d (%s %d at %v):\n got %+v\nwant %+v", i, s.op, s.n, s.at, got, want)
						}
					}
				})
			}
		})
	}
}

// TestRetryAfterIsExact checks, over many states, that a refused call fits exactly at
// RetryAfter and not a microsecond before.
func TestRetryAfterIsExact(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			checked, capped := 0, 0
			windows := []ratelimit.Window{
				ratelimit.Rate(7, 3*time.Second),
				ratelimit.Rate(3, 7*time.Second+13*time.Millisecond),
				ratelimit.Rate(100, time.Hour),
			}
			for wi, w := range windows {
				for i := range 60 {
					key := fmt.Sprintf("exact%d-%d", wi, i)
					// Fill (with calls of weight 1 or 2) at a varying point of the window,
					// then probe at a varying point later, with weight 1 to 3.
					fill := time.Duration(i) * w.Period / 37
					im.clock.Set(fill)
					if _, err := im.l.Take(ctx, key, w, w.Limit-1-int64(i%2)); err != nil {
						t.Fatal(err)
					}
					for {
						r, err := im.l.Take(ctx, key, w, int64(1+i%2))
						if err != nil {
							t.Fatal(err)
						}
						if !r.Allowed {
							break
						}
					}
					probe := fill + time.Duration(i%11)*w.Period/9
					need := int64(1 + i%3)
					im.clock.Set(probe)
					r, err := im.l.Take(ctx, key, w, need)
					if err != nil {
						t.Fatal(err)
					}
					if r.Allowed {
						continue
					}
					checked++
					if r.RetryAfter > w.Period {
						t.Fatalf("%s: RetryAfter %v beyond the period %v", key, r.RetryAfter, w.Period)
					}
					im.clock.Set(probe + r.RetryAfter - time.Microsecond)
					if early, _ := im.l.Take(ctx, key, w, need); early.Allowed {
						t.Fatalf("%s: admitted 1µs before RetryAfter %v", key, r.RetryAfter)
					}
					im.clock.Set(probe + r.RetryAfter)
					on, _ := im.l.Take(ctx, key, w, need)
					if r.RetryAfter == w.Period {
						// Capped: the call may still wait, never beyond a second period.
						capped++
						if !on.Allowed && on.RetryAfter >= w.Period {
							t.Errorf("%s: refused at capped RetryAfter with %v more", key, on.RetryAfter)
						}
					} else if !on.Allowed {
						t.Errorf("%s: refused at RetryAfter %v (retry now %v)", key, r.RetryAfter, on.RetryAfter)
					}
				}
			}
			if checked < 60 {
				t.Fatalf("only %d refusals probed", checked)
			}
			if capped == 0 {
				t.Fatalf("no RetryAfter was capped: the cap is not exercised")
			}
		})
	}
}

func TestConcurrencySlots(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			acquire := func(key string, max int64) (func(), bool) {
				t.Helper()
				release, ok, err := im.l.Acquire(ctx, key, max, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				return release, ok
			}
			ra, ok1 := acquire("c", 2)
			rb, ok2 := acquire("c", 2)
			_, ok3 := acquire("c", 2)
			if !ok1 || !ok2 || ok3 {
				t.Fatalf("max 2: got %v %v %v, want true true false", ok1, ok2, ok3)
			}
			if _, ok := acquire("other", 1); !ok {
				t.Fatal("another key is independent")
			}
			ra()
			rc, ok4 := acquire("c", 2)
			if !ok4 {
				t.Fatal("released slot not reusable")
			}
			ra() // a second release is a no-op, not a free slot
			if _, ok := acquire("c", 2); ok {
				t.Fatal("double release freed a slot")
			}
			rb()
			rc()
			for range 2 {
				if _, ok := acquire("c", 2); !ok {
					t.Fatal("slots not all freed")
				}
			}
			if _, ok := acquire("zero", 0); ok {
				t.Fatal("max 0 admitted")
			}
			if _, _, err := im.l.Acquire(ctx, "c", -1, time.Minute); err == nil {
				t.Fatal("negative max accepted")
			}
		})
	}
}

// TestHammer: many goroutines on one key admit exactly the limit, and never hold more
// concurrency slots than the max.
func TestHammer(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			const workers, each, limit = 32, 25, 137
			windows := []ratelimit.Window{ratelimit.Rate(limit, time.Hour), ratelimit.Quota(limit, time.Hour, time.Time{})}
			for _, w := range windows {
				var admitted atomic.Int64
				var wg sync.WaitGroup
				for range workers {
					wg.Go(func() {
						for range each {
							r, err := im.l.Take(ctx, "hammer", w, 1)
							if err != nil {
								t.Error(err)
								return
							}
							if r.Allowed {
								admitted.Add(1)
							}
						}
					})
				}
				wg.Wait()
				if got := admitted.Load(); got != limit {
					t.Errorf("fixed=%v: admitted %d of %d, want exactly %d", w.Fixed, got, workers*each, limit)
				}
			}

			const max = 3
			var held, peak, granted atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range 10 {
						release, ok, err := im.l.Acquire(ctx, "hammer", max, time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						if !ok {
							continue
						}
						granted.Add(1)
						h := held.Add(1)
						for p := peak.Load(); h > p && !peak.CompareAndSwap(p, h); p = peak.Load() {
						}
						held.Add(-1)
						release()
					}
				})
			}
			wg.Wait()
			if p := peak.Load(); p > max || p < 1 || granted.Load() < 1 {
				t.Errorf("peak holders %d (granted %d), want 1..%d", p, granted.Load(), max)
			}
			// All released: max fresh acquisitions succeed.
			for i := range max {
				if _, ok, err := im.l.Acquire(ctx, "hammer", max, time.Minute); err != nil || !ok {
					t.Fatalf("slot %d after hammer: ok=%v err=%v", i, ok, err)
				}
			}
		})
	}
}

func TestInvalidArguments(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			for _, w := range []ratelimit.Window{ratelimit.Rate(-1, time.Second), ratelimit.Rate(1, 0), ratelimit.Quota(1, time.Nanosecond, time.Time{}),
				ratelimit.Rate(ratelimit.MaxLimit+1, time.Second), ratelimit.Quota(1, ratelimit.MaxPeriod+time.Hour, time.Time{})} {
				if _, err := im.l.Take(ctx, "k", w, 1); err == nil {
					t.Errorf("%+v accepted", w)
				}
			}
			if _, err := im.l.Take(ctx, "k", rate5min, -1); err == nil {
				t.Error("negative take accepted")
			}
		})
	}
}
