package ratelimit_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

// cpuClock measures the process's CPU time (user + system, all threads) over the timed
// part of a benchmark and reports it per op as cpu-ns/op: unlike ns/op (wall time), it
// does not grow when other processes share the machine's cores.
type cpuClock struct {
	b     *testing.B
	start time.Duration
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startCPU resets the benchmark timer and starts measuring CPU time.
func startCPU(b *testing.B) *cpuClock {
	b.ReportAllocs()
	b.ResetTimer()
	return &cpuClock{b: b, start: cpuTime()}
}

func (c *cpuClock) stop() {
	c.b.StopTimer()
	c.b.ReportMetric(float64(cpuTime()-c.start)/float64(c.b.N), "cpu-ns/op")
}

// The hot path: Take on an existing key, through the interface, with the real clock. The
// limit is high enough that every call is admitted and counted. Run in parallel, so that
// -cpu 1,2 shows contention on one key.
func BenchmarkLocalTake(b *testing.B) {
	l := ratelimit.NewLocal(ratelimit.LocalOptions{})
	defer l.Close()
	var lim ratelimit.Limiter = l
	ctx := context.Background()
	w := ratelimit.Rate(1<<50, time.Minute)
	if _, err := lim.Take(ctx, "subscription-1234", w, 1); err != nil {
		b.Fatal(err)
	}
	cpu := startCPU(b)
	defer cpu.stop()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, err := lim.Take(ctx, "subscription-1234", w, 1); err != nil || !r.Allowed {
				b.Fatal(r, err)
			}
		}
	})
}

// The same over 1024 keys, so that parallel callers mostly hit different shards.
func BenchmarkLocalTakeManyKeys(b *testing.B) {
	l := ratelimit.NewLocal(ratelimit.LocalOptions{})
	defer l.Close()
	var lim ratelimit.Limiter = l
	ctx := context.Background()
	w := ratelimit.Rate(1<<50, time.Minute)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("subscription-%d", i)
		if _, err := lim.Take(ctx, keys[i], w, 1); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	cpu := startCPU(b)
	defer cpu.stop()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(397))
		for pb.Next() {
			i = (i + 1) & 1023
			if _, err := lim.Take(ctx, keys[i], w, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A refused call (the limit is full): the path an abusive client hits.
func BenchmarkLocalTakeRefused(b *testing.B) {
	l := ratelimit.NewLocal(ratelimit.LocalOptions{})
	defer l.Close()
	var lim ratelimit.Limiter = l
	ctx := context.Background()
	w := ratelimit.Rate(5, time.Hour)
	if _, err := lim.Take(ctx, "k", w, 5); err != nil {
		b.Fatal(err)
	}
	cpu := startCPU(b)
	defer cpu.stop()
	for b.Loop() {
		if r, _ := lim.Take(ctx, "k", w, 1); r.Allowed {
			b.Fatal("admitted")
		}
	}
}

func BenchmarkLocalQuota(b *testing.B) {
	l := ratelimit.NewLocal(ratelimit.LocalOptions{})
	defer l.Close()
	var lim ratelimit.Limiter = l
	ctx := context.Background()
	w := ratelimit.Quota(1<<50, 7*24*time.Hour, time.Time{})
	cpu := startCPU(b)
	defer cpu.stop()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := lim.Take(ctx, "k", w, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkLocalAcquireRelease(b *testing.B) {
	l := ratelimit.NewLocal(ratelimit.LocalOptions{})
	defer l.Close()
	var lim ratelimit.Limiter = l
	ctx := context.Background()
	cpu := startCPU(b)
	defer cpu.stop()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			release, ok, err := lim.Acquire(ctx, "k", 1<<50, time.Minute)
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			release()
		}
	})
}

func benchRedis(b *testing.B) ratelimit.Limiter {
	addr := os.Getenv("TOLLGATE_TEST_REDIS")
	if addr == "" {
		b.Skip("TOLLGATE_TEST_REDIS not set")
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	b.Cleanup(func() { c.Close() })
	prefix := fmt.Sprintf("tollgate:rl:bench-%d:", time.Now().UnixNano())
	b.Cleanup(func() {
		ctx := context.Background()
		if keys, err := c.Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: prefix})
}

// One EVALSHA round trip to a local Redis per call.
func BenchmarkRedisTake(b *testing.B) {
	lim := benchRedis(b)
	ctx := context.Background()
	w := ratelimit.Rate(1<<40, time.Minute)
	cpu := startCPU(b)
	defer cpu.stop()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := lim.Take(ctx, "subscription-1234", w, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRedisAcquireRelease(b *testing.B) {
	lim := benchRedis(b)
	ctx := context.Background()
	cpu := startCPU(b)
	defer cpu.stop()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			release, ok, err := lim.Acquire(ctx, "k", 1<<40, time.Minute)
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			release()
		}
	})
}
