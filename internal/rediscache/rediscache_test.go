package rediscache_test

import (
	"context"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/rediscache"
)

func TestCache(t *testing.T) {
	addr := os.Getenv("TOLLGATE_TEST_REDIS")
	if addr == "" {
		t.Skip("TOLLGATE_TEST_REDIS not set")
	}
	rc := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rc.Close() })
	ctx := context.Background()
	prefix := "tollgate-rediscache-test:" + time.Now().Format("150405.000000000") + ":"
	t.Cleanup(func() {
		if keys, _ := rc.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
	})
	c := rediscache.New(rc, prefix)
	if _, ok, err := c.Get(ctx, "k"); ok || err != nil {
		t.Fatalf("empty cache: %v %v", ok, err)
	}
	if err := c.Set(ctx, "k", []byte("v\x00w"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.Get(ctx, "k"); !ok || err != nil || string(v) != "v\x00w" {
		t.Fatalf("get: %q %v %v", v, ok, err)
	}
	if ttl := rc.PTTL(ctx, prefix+"k").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("ttl %v", ttl)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(ctx, "k"); ok {
		t.Error("deleted entry still there")
	}
	if err := c.Set(ctx, "big", []byte(strings.Repeat("x", rediscache.MaxValue+1)), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(ctx, "big"); ok {
		t.Error("an entry over MaxValue was stored")
	}
	// A "Redis" that accepts connections and closes them at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = conn.Close()
		}
	}()
	dc := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = dc.Close() })
	down := rediscache.New(dc, prefix)
	if _, _, err := down.Get(ctx, "k"); err == nil || !strings.Contains(err.Error(), "rediscache: get") {
		t.Errorf("failing Redis: %v", err)
	}
	// Then Redis is left alone: misses, no error and no connection per call.
	before := accepted.Load()
	for range 100 {
		if _, ok, err := down.Get(ctx, "k"); ok || err != nil {
			t.Fatalf("paused get: %v %v", ok, err)
		}
		if err := down.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatalf("paused set: %v", err)
		}
	}
	if n := accepted.Load() - before; n != 0 {
		t.Errorf("Redis was tried %d more times while paused", n)
	}
}
