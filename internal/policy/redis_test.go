package policy_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

// TestRateLimitSharedByNodes runs two gateways whose limiters share one
// Redis: a key's calls are counted across both.
func TestRateLimitSharedByNodes(t *testing.T) {
	c, prefix := testRedis(t, "tollgate-policy-test:")
	docs := map[string]string{"/apis/echo/policies/policy": doc(`<rate-limit-by-key calls="2" renewal-period="300" counter-key="shared"/>`, "", "", "")}
	a := newEnvWith(t, ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: prefix}), docs)
	b := newEnvWith(t, ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: prefix}), docs)
	if r := a.get("/echo/x"); r.status != 200 {
		t.Fatalf("a: %d", r.status)
	}
	if r := b.get("/echo/x"); r.status != 200 {
		t.Fatalf("b: %d", r.status)
	}
	if r := a.get("/echo/x"); r.status != 429 {
		t.Errorf("third call across nodes: %d", r.status)
	}
}

// testRedis connects to TOLLGATE_TEST_REDIS (skipping the test without
// it) and returns a key prefix of its own, whose keys are removed after
// the test.
func testRedis(t *testing.T, name string) (*redis.Client, string) {
	t.Helper()
	addr := os.Getenv("TOLLGATE_TEST_REDIS")
	if addr == "" {
		t.Skip("TOLLGATE_TEST_REDIS not set")
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	prefix := name + time.Now().Format("150405.000000000") + ":"
	t.Cleanup(func() {
		if keys, _ := c.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		_ = c.Close()
	})
	return c, prefix
}
