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
	c := testRedis(t)
	prefix := "tollgate-policy-test:" + time.Now().Format("150405.000000000") + ":"
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

// testRedis connects to TOLLGATE_TEST_REDIS, or skips the test.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	addr := os.Getenv("TOLLGATE_TEST_REDIS")
	if addr == "" {
		t.Skip("TOLLGATE_TEST_REDIS not set")
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	return c
}
