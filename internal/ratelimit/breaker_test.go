package ratelimit_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

// redisServer is a redis-server the test starts on a free port, and may stop and start
// again on the same port.
type redisServer struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

func newRedisServer(t testing.TB) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	s := &redisServer{t: t, port: freePort(t)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", s.addr(), time.Second); err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprint(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer", s.addr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// hangingRedis is a TCP listener that accepts connections and never answers.
func hangingRedis(t testing.TB) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), accepted
}

// countingDialer counts the Redis client's dials.
func countingDialer(n *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		d := net.Dialer{Timeout: ratelimit.RedisDialTimeout}
		return d.DialContext(ctx, network, addr)
	}
}

// syncBuffer is a log destination safe for the breaker's probe goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// minBackoff is the breaker's first backoff in these tests.
const minBackoff = 20 * time.Millisecond

// sharedLimiter is the limiter the server builds for the Redis at addr, counting the
// client's dials and logging to logs, with short backoffs.
func sharedLimiter(t *testing.T, addr string, dials *atomic.Int64, logs *syncBuffer) ratelimit.Limiter {
	t.Helper()
	l, closeLimiter := ratelimit.NewShared(&redis.Options{Addr: addr, Dialer: countingDialer(dials)},
		ratelimit.SharedOptions{
			Logger:  slog.New(slog.NewTextHandler(logs, nil)),
			Breaker: ratelimit.BreakerOptions{MinBackoff: minBackoff, MaxBackoff: 5 * minBackoff},
		})
	t.Cleanup(closeLimiter)
	return l
}

const (
	logOpened = "shared counters failed; counting on this node"
	logClosed = "shared counters answer again"
)

// burst makes n admitted calls on a fresh key and returns the dials they caused and the
// most the breaker allows in that time: two per probe (a dial and one retry), one probe
// per MinBackoff.
func burst(t *testing.T, l ratelimit.Limiter, dials *atomic.Int64, n int) (got, most int64) {
	t.Helper()
	ctx := context.Background()
	w := ratelimit.Rate(1<<40, time.Hour)
	before, start := dials.Load(), time.Now()
	for i := range n {
		if r, err := l.Take(ctx, "burst", w, 1); err != nil || !r.Allowed {
			t.Fatalf("call %d while Redis is down: %+v %v", i, r, err)
		}
	}
	return dials.Load() - before, 2 * (int64(time.Since(start)/minBackoff) + 1)
}

// TestSharedRedisStopped: Redis stopped under a shared limiter. The first failing call
// opens the breaker (one log line); from then on calls are counted on this node without
// dialling Redis, apart from a probe per backoff; when Redis is back, the breaker closes
// (one more log line) and counting resumes in Redis.
func TestSharedRedisStopped(t *testing.T) {
	srv := newRedisServer(t)
	direct := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { direct.Close() })
	var dials atomic.Int64
	var logs syncBuffer
	l := sharedLimiter(t, srv.addr(), &dials, &logs)
	ctx := context.Background()
	w := ratelimit.Rate(3, time.Hour)
	const key = "secret-subscription-key"
	redisCount := func() string {
		t.Helper()
		v, err := direct.HGet(ctx, ratelimit.DefaultRedisPrefix+"r:3600000000:"+key, "c").Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		return v
	}

	if r, err := l.Take(ctx, key, w, 1); err != nil || !r.Allowed || r.Remaining != 2 {
		t.Fatalf("take with Redis up: %+v %v", r, err)
	}
	if c := redisCount(); c != "1" {
		t.Fatalf("count in Redis %q, want 1", c)
	}

	srv.stop()
	// Counted on this node while Redis is down: three calls, then refused.
	for i := range 4 {
		r, err := l.Take(ctx, key, w, 1)
		if err != nil || r.Allowed != (i < 3) {
			t.Fatalf("local call %d: %+v %v, want allowed %v", i, r, err, i < 3)
		}
	}
	if got, most := burst(t, l, &dials, 2000); got > most {
		t.Fatalf("2000 calls with Redis down dialled %d times, want at most %d (one probe per backoff)", got, most)
	}
	if n := logs.count(logOpened); n != 1 {
		t.Fatalf("%d lines saying the breaker opened, want 1:\n%s", n, logs.String())
	}
	if n := logs.count(logClosed); n != 0 {
		t.Fatalf("breaker closed while Redis is down:\n%s", logs.String())
	}

	srv.start()
	deadline := time.Now().Add(10 * time.Second)
	for redisCount() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("counting never resumed in Redis:\n%s", logs.String())
		}
		if _, err := l.Take(ctx, key, w, 1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if c := redisCount(); c != "1" {
		t.Fatalf("count in the restarted Redis %q, want 1", c)
	}
	if r, err := l.Take(ctx, key, w, 1); err != nil || !r.Allowed || redisCount() != "2" {
		t.Fatalf("take after Redis came back: %+v %v, count in Redis %q, want 2", r, err, redisCount())
	}
	if o, c := logs.count(logOpened), logs.count(logClosed); o != 1 || c != 1 {
		t.Fatalf("%d open and %d close lines for one outage, want 1 and 1:\n%s", o, c, logs.String())
	}
	if strings.Contains(logs.String(), key) {
		t.Fatalf("log names the key:\n%s", logs.String())
	}
}

// TestSharedRedisHangs: a Redis that accepts connections and never answers costs one read
// timeout, then calls are counted on this node without touching it, apart from probes.
func TestSharedRedisHangs(t *testing.T) {
	addr, accepted := hangingRedis(t)
	var dials atomic.Int64
	var logs syncBuffer
	l := sharedLimiter(t, addr, &dials, &logs)
	ctx := context.Background()
	w := ratelimit.Rate(2, time.Hour)
	for i := range 3 {
		r, err := l.Take(ctx, "k", w, 1)
		if err != nil || r.Allowed != (i < 2) {
			t.Fatalf("call %d against a hanging Redis: %+v %v, want allowed %v", i, r, err, i < 2)
		}
	}
	if accepted.Load() == 0 {
		t.Fatal("the hanging Redis was never reached")
	}
	if got, most := burst(t, l, &dials, 2000); got > most {
		t.Fatalf("2000 calls with Redis hanging dialled %d times, want at most %d", got, most)
	}
	if o, c := logs.count(logOpened), logs.count(logClosed); o != 1 || c != 0 {
		t.Fatalf("%d open and %d close lines, want 1 and 0:\n%s", o, c, logs.String())
	}
}

// TestBreakerPassesBugsAndCancellation: invalid arguments and a caller that went away do
// not open the breaker.
func TestBreakerPassesBugsAndCancellation(t *testing.T) {
	srv := newRedisServer(t)
	var logs syncBuffer
	l, closeLimiter := ratelimit.NewShared(&redis.Options{Addr: srv.addr()},
		ratelimit.SharedOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(closeLimiter)
	if _, err := l.Take(context.Background(), "k", ratelimit.Rate(-1, time.Minute), 1); err == nil {
		t.Fatal("invalid window accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Take(ctx, "k", ratelimit.Rate(5, time.Minute), 1)
	if n := logs.count(logOpened); n != 0 {
		t.Fatalf("breaker opened on a bug or a cancelled call:\n%s", logs.String())
	}
}

// BenchmarkSharedTakeRedisDown: one rate-limited call while Redis refuses connections or
// hangs, through the limiter the server builds (breaker open after the first call).
// BenchmarkFailOpenTakeRedisDown is the same without the breaker, for comparison.
func BenchmarkSharedTakeRedisDown(b *testing.B) {
	for _, down := range []string{"refused", "hanging"} {
		b.Run(down, func(b *testing.B) {
			l, closeLimiter := ratelimit.NewShared(&redis.Options{Addr: downAddr(b, down)},
				ratelimit.SharedOptions{Logger: slog.New(slog.DiscardHandler)})
			defer closeLimiter()
			benchTakeDown(b, l)
		})
	}
}

func BenchmarkFailOpenTakeRedisDown(b *testing.B) {
	for _, down := range []string{"refused", "hanging"} {
		b.Run(down, func(b *testing.B) {
			c := redis.NewClient(&redis.Options{Addr: downAddr(b, down),
				DialTimeout: ratelimit.RedisDialTimeout, ReadTimeout: ratelimit.RedisReadTimeout,
				WriteTimeout: ratelimit.RedisWriteTimeout, PoolTimeout: ratelimit.RedisPoolTimeout,
				MaxRetries: 1, DialerRetries: 1})
			defer c.Close()
			log := slog.New(slog.DiscardHandler)
			benchTakeDown(b, ratelimit.FailOpen(ratelimit.NewRedis(c, ratelimit.RedisOptions{Logger: log}), log, time.Minute))
		})
	}
}

func downAddr(b *testing.B, how string) string {
	if how == "hanging" {
		addr, _ := hangingRedis(b)
		return addr
	}
	return "127.0.0.1:" + strconv.Itoa(freePort(b))
}

func benchTakeDown(b *testing.B, l ratelimit.Limiter) {
	ctx := context.Background()
	w := ratelimit.Rate(1<<40, time.Minute)
	if _, err := l.Take(ctx, "subscription-1234", w, 1); err != nil {
		b.Fatal(err)
	}
	cpu := startCPU(b)
	defer cpu.stop()
	for b.Loop() {
		if r, err := l.Take(ctx, "subscription-1234", w, 1); err != nil || !r.Allowed {
			b.Fatal(r, err)
		}
	}
}
