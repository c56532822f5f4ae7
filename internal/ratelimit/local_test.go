package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

func TestLocalKeyCap(t *testing.T) {
	clock := newClock()
	// 64 keys over 64 shards: one key per shard.
	l := ratelimit.NewLocal(ratelimit.LocalOptions{MaxKeys: 64, Clock: clock.Now})
	defer l.Close()
	ctx := context.Background()
	w := ratelimit.Rate(1, time.Minute)

	var stored []string
	full := 0
	for i := range 1000 {
		key := fmt.Sprintf("key%d", i)
		_, err := l.Take(ctx, key, w, 1)
		switch {
		case err == nil:
			stored = append(stored, key)
		case errors.Is(err, ratelimit.ErrFull):
			full++
		default:
			t.Fatalf("take %s: %v", key, err)
		}
	}
	if len(stored) > 64 || full == 0 || l.Len() != len(stored) {
		t.Fatalf("stored %d keys (Len %d), refused %d: want at most 64 stored and some refused", len(stored), l.Len(), full)
	}
	// Existing keys keep their counts while full.
	if r, err := l.Take(ctx, stored[0], w, 1); err != nil || r.Allowed {
		t.Fatalf("existing key while full: %+v %v, want refused by its count", r, err)
	}
	// Peeks and refusals of unknown keys need no room.
	if r, err := l.Peek(ctx, "never-seen", w); err != nil || !r.Allowed {
		t.Fatalf("peek while full: %+v %v", r, err)
	}
	// Once the stored keys expire, a full shard sweeps inline and takes new keys.
	clock.Set(3 * time.Minute)
	for i := range 1000 {
		if _, err := l.Take(ctx, fmt.Sprintf("fresh%d", i), w, 1); err != nil && !errors.Is(err, ratelimit.ErrFull) {
			t.Fatal(err)
		}
	}
	if got := l.Len(); got == 0 || got > 64 {
		t.Fatalf("after expiry, %d keys live, want 1..64", got)
	}
	if r, err := l.Take(ctx, stored[0], w, 1); err == nil && !r.Allowed {
		t.Fatalf("expired key still counted: %+v", r)
	}
}

func TestLocalSweepEvictsExpired(t *testing.T) {
	clock := newClock()
	l := ratelimit.NewLocal(ratelimit.LocalOptions{Clock: clock.Now})
	defer l.Close()
	ctx := context.Background()
	if _, err := l.Take(ctx, "r", ratelimit.Rate(5, time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Take(ctx, "q", ratelimit.Quota(5, time.Hour, time.Time{}), 1); err != nil {
		t.Fatal(err)
	}
	release, ok, err := l.Acquire(ctx, "c", 1, time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if got := l.Len(); got != 3 {
		t.Fatalf("Len %d, want 3", got)
	}
	clock.Set(119 * time.Second) // the rate key still weighs until 120 s
	l.Sweep()
	if got := l.Len(); got != 3 {
		t.Fatalf("Len %d after early sweep, want 3", got)
	}
	clock.Set(2 * time.Minute)
	l.Sweep()
	if got := l.Len(); got != 2 {
		t.Fatalf("Len %d after the rate key expired, want 2", got)
	}
	clock.Set(time.Hour)
	l.Sweep()
	if got := l.Len(); got != 1 {
		t.Fatalf("Len %d after the quota window, want 1 (the held slot)", got)
	}
	release()
	if got := l.Len(); got != 0 {
		t.Fatalf("Len %d after release, want 0", got)
	}
}

func TestLocalJanitorAndClose(t *testing.T) {
	before := runtime.NumGoroutine()
	clock := newClock()
	l := ratelimit.NewLocal(ratelimit.LocalOptions{Clock: clock.Now, SweepInterval: time.Millisecond})
	if _, err := l.Take(context.Background(), "r", ratelimit.Rate(5, time.Second), 1); err != nil {
		t.Fatal(err)
	}
	clock.Set(time.Hour)
	waitFor(t, "janitor eviction", func() bool { return l.Len() == 0 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	waitFor(t, "janitor exit", func() bool { return runtime.NumGoroutine() <= before })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLocalClockBackwards: a clock stepped back does not reopen a full window.
func TestLocalClockBackwards(t *testing.T) {
	clock := newClock()
	l := ratelimit.NewLocal(ratelimit.LocalOptions{Clock: clock.Now})
	defer l.Close()
	ctx := context.Background()
	for _, w := range []ratelimit.Window{ratelimit.Rate(1, time.Minute), ratelimit.Quota(1, time.Minute, time.Time{})} {
		clock.Set(90 * time.Second)
		if r, _ := l.Take(ctx, "k", w, 1); !r.Allowed {
			t.Fatal("first call refused")
		}
		clock.Set(30 * time.Second)
		if r, _ := l.Take(ctx, "k", w, 1); r.Allowed || r.RetryAfter <= 0 {
			t.Fatalf("fixed=%v: after the clock went back: %+v, want refused", w.Fixed, r)
		}
	}
}
