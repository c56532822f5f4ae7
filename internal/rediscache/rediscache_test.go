package rediscache_test

import (
	"context"
	"os"
	"strings"
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
	down := rediscache.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond}), prefix)
	if _, _, err := down.Get(ctx, "k"); err == nil || !strings.Contains(err.Error(), "rediscache: get") {
		t.Errorf("unreachable Redis: %v", err)
	}
}
