package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

// TestRedisNodesShareCounts: two gateway nodes (two Redis limiters, two connections) on
// one server share every count, timed by the server's clock.
func TestRedisNodesShareCounts(t *testing.T) {
	a := redisClient(t)
	if a == nil {
		t.Skip("TOLLGATE_TEST_REDIS not set")
	}
	b := redisClient(t)
	prefix := testPrefix(t, a)
	nodeA := ratelimit.NewRedis(a, ratelimit.RedisOptions{Prefix: prefix})
	nodeB := ratelimit.NewRedis(b, ratelimit.RedisOptions{Prefix: prefix})
	ctx := context.Background()

	// An hour-long window: a rollover during the test only lowers the estimate by a hair,
	// which cannot admit a call more.
	w := ratelimit.Rate(5, time.Hour)
	for i := range 3 {
		if r, err := nodeA.Take(ctx, "sub1", w, 1); err != nil || !r.Allowed {
			t.Fatalf("A call %d: %+v %v", i, r, err)
		}
	}
	r, err := nodeB.Take(ctx, "sub1", w, 2)
	if err != nil || !r.Allowed || r.Remaining != 0 {
		t.Fatalf("B after A's 3 of 5: %+v %v, want allowed with 0 remaining", r, err)
	}
	r, err = nodeA.Take(ctx, "sub1", w, 1)
	if err != nil || r.Allowed {
		t.Fatalf("A after 5 of 5: %+v %v, want refused", r, err)
	}
	if r.RetryAfter <= 0 || r.RetryAfter > 2*time.Hour {
		t.Fatalf("RetryAfter %v, want within (0, 2h]", r.RetryAfter)
	}

	q := ratelimit.Quota(2, 24*time.Hour, time.Time{})
	if r, err := nodeA.Take(ctx, "sub1", q, 2); err != nil || !r.Allowed {
		t.Fatalf("quota on A: %+v %v", r, err)
	}
	if r, err := nodeB.Take(ctx, "sub1", q, 1); err != nil || r.Allowed {
		t.Fatalf("quota on B after A used it: %+v %v, want refused", r, err)
	}

	releaseA, ok, err := nodeA.Acquire(ctx, "sub1", 1, time.Minute)
	if err != nil || !ok {
		t.Fatalf("slot on A: %v %v", ok, err)
	}
	if _, ok, err := nodeB.Acquire(ctx, "sub1", 1, time.Minute); err != nil || ok {
		t.Fatalf("slot on B while A holds it: %v %v, want refused", ok, err)
	}
	releaseA()
	releaseB, ok, err := nodeB.Acquire(ctx, "sub1", 1, time.Minute)
	if err != nil || !ok {
		t.Fatalf("slot on B after A released: %v %v", ok, err)
	}
	releaseB()
}

// TestRedisKeysExpire: every key written carries a TTL no longer than its state matters,
// and a state back to nothing leaves no key.
func TestRedisKeysExpire(t *testing.T) {
	c := redisClient(t)
	if c == nil {
		t.Skip("TOLLGATE_TEST_REDIS not set")
	}
	prefix := testPrefix(t, c)
	l := ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: prefix})
	ctx := context.Background()

	ttlOf := func(suffix string) time.Duration {
		t.Helper()
		keys, err := c.Keys(ctx, prefix+suffix+"*").Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys %s*: %v %v, want one", suffix, keys, err)
		}
		d, err := c.PTTL(ctx, keys[0]).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if _, err := l.Take(ctx, "k", ratelimit.Rate(5, 10*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	if d := ttlOf("r:"); d <= 0 || d > 20*time.Second {
		t.Fatalf("rate key TTL %v, want within (0, 20s]", d)
	}
	if _, err := l.Take(ctx, "k", ratelimit.Quota(5, time.Minute, time.Time{}), 1); err != nil {
		t.Fatal(err)
	}
	if d := ttlOf("q:"); d <= 0 || d > time.Minute {
		t.Fatalf("quota key TTL %v, want within (0, 1m]", d)
	}
	release, ok, err := l.Acquire(ctx, "k", 2, 30*time.Second)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if d := ttlOf("c:"); d <= 0 || d > 30*time.Second {
		t.Fatalf("slot key TTL %v, want within (0, 30s]", d)
	}
	release()

	// Peeks write nothing; refunds back to zero delete the key.
	if _, err := l.Peek(ctx, "p", ratelimit.Rate(5, time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Add(ctx, "k", ratelimit.Rate(5, 10*time.Second), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Add(ctx, "k", ratelimit.Quota(5, time.Minute, time.Time{}), -1); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("keys left after refunds and release: %v", keys)
	}
}

// TestRedisSlotLeaseExpires: a slot never released frees itself after its ttl.
func TestRedisSlotLeaseExpires(t *testing.T) {
	c := redisClient(t)
	if c == nil {
		t.Skip("TOLLGATE_TEST_REDIS not set")
	}
	clock := newClock()
	l := ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: testPrefix(t, c), Clock: clock.Now})
	ctx := context.Background()
	if _, ok, err := l.Acquire(ctx, "k", 1, 10*time.Second); err != nil || !ok {
		t.Fatal(ok, err)
	}
	clock.Set(9 * time.Second)
	if _, ok, _ := l.Acquire(ctx, "k", 1, 10*time.Second); ok {
		t.Fatal("slot free before its lease expired")
	}
	clock.Set(10 * time.Second)
	if _, ok, err := l.Acquire(ctx, "k", 1, 10*time.Second); err != nil || !ok {
		t.Fatalf("slot not freed by its lease expiring: %v %v", ok, err)
	}
}

// unreachable is a Redis limiter whose server does not answer.
func unreachable(t *testing.T) ratelimit.Limiter {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialerRetryTimeout: time.Millisecond})
	t.Cleanup(func() { c.Close() })
	return ratelimit.NewRedis(c, ratelimit.RedisOptions{})
}

func TestRedisUnreachableReturnsError(t *testing.T) {
	l := unreachable(t)
	ctx := context.Background()
	const key = "secret-subscription-key"
	_, err := l.Take(ctx, key, ratelimit.Rate(5, time.Minute), 1)
	if err == nil {
		t.Fatal("take against an unreachable Redis succeeded")
	}
	if strings.Contains(err.Error(), key) {
		t.Fatalf("error names the key: %v", err)
	}
	if _, ok, err := l.Acquire(ctx, key, 1, time.Minute); err == nil || ok {
		t.Fatalf("acquire against an unreachable Redis: ok=%v err=%v", ok, err)
	}
}

func TestFailOpen(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	l := ratelimit.FailOpen(unreachable(t), log, time.Hour)
	ctx := context.Background()
	const key = "secret-subscription-key"
	w := ratelimit.Rate(5, time.Minute)
	for range 3 {
		r, err := l.Take(ctx, key, w, 1)
		if err != nil || !r.Allowed || r.Limit != 5 {
			t.Fatalf("fail-open take: %+v %v, want allowed", r, err)
		}
	}
	if r, err := l.Peek(ctx, key, w); err != nil || !r.Allowed {
		t.Fatalf("fail-open peek: %+v %v", r, err)
	}
	if r, err := l.Add(ctx, key, w, 1); err != nil || !r.Allowed {
		t.Fatalf("fail-open add: %+v %v", r, err)
	}
	release, ok, err := l.Acquire(ctx, key, 1, time.Minute)
	if err != nil || !ok {
		t.Fatalf("fail-open acquire: %v %v", ok, err)
	}
	release()
	if n := strings.Count(logs.String(), "admitting calls"); n != 1 {
		t.Fatalf("%d log lines in one interval, want 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), key) {
		t.Fatalf("log names the key:\n%s", logs.String())
	}
	// Bugs are not outages: invalid arguments still fail.
	if _, err := l.Take(ctx, key, ratelimit.Rate(-1, time.Minute), 1); !errors.Is(err, ratelimit.ErrInvalid) {
		t.Fatalf("invalid window through FailOpen: %v, want ErrInvalid", err)
	}

	// A working limiter passes through untouched.
	local := ratelimit.NewLocal(ratelimit.LocalOptions{})
	defer local.Close()
	ok2 := ratelimit.FailOpen(local, log, time.Hour)
	if _, err := ok2.Take(ctx, "k", ratelimit.Rate(1, time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	if r, err := ok2.Take(ctx, "k", ratelimit.Rate(1, time.Minute), 1); err != nil || r.Allowed {
		t.Fatalf("FailOpen over a working limiter admitted past the limit: %+v %v", r, err)
	}
}

// TestFailOpenLogsAgainAfterInterval: the next failure after the interval logs again, with
// the count of failures since the last line.
func TestFailOpenLogsAgainAfterInterval(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	l := ratelimit.FailOpen(unreachable(t), log, time.Millisecond)
	ctx := context.Background()
	w := ratelimit.Rate(5, time.Minute)
	if _, err := l.Take(ctx, "k", w, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := l.Take(ctx, "k", w, 1); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "admitting calls"); n != 2 {
		t.Fatalf("%d log lines over two intervals, want 2:\n%s", n, logs.String())
	}
}

// TestRedisHonoursContext: a cancelled context ends the call with its error.
func TestRedisHonoursContext(t *testing.T) {
	c := redisClient(t)
	if c == nil {
		t.Skip("TOLLGATE_TEST_REDIS not set")
	}
	l := ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: testPrefix(t, c)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Take(ctx, "k", ratelimit.Rate(5, time.Minute), 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("take with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestFailOpenLocalFull: a full Local admits new keys through FailOpen.
func TestFailOpenLocalFull(t *testing.T) {
	local := ratelimit.NewLocal(ratelimit.LocalOptions{MaxKeys: 1})
	defer local.Close()
	var logs bytes.Buffer
	l := ratelimit.FailOpen(local, slog.New(slog.NewTextHandler(&logs, nil)), time.Hour)
	ctx := context.Background()
	w := ratelimit.Rate(1, time.Hour)
	for i := range 500 {
		if r, err := l.Take(ctx, "key"+strings.Repeat("x", i), w, 1); err != nil || !r.Allowed {
			t.Fatalf("new key %d through FailOpen: %+v %v", i, r, err)
		}
	}
	if local.Len() > 64 || !strings.Contains(logs.String(), "too many keys") {
		t.Fatalf("Len %d, logs %q: want at most 64 keys and a log line naming ErrFull", local.Len(), logs.String())
	}
}
