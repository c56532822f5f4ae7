package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

// go-redis's own messages reach the node's structured log: a limiter whose
// Redis is down logs the failed dial through slog, as a warning.
func TestRedisLogsToSlog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var mu sync.Mutex
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	logged := func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	lim, closeLim := newLimiter(Config{Redis: addr}, log)
	defer closeLim()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _ = lim.Take(context.Background(), "k", ratelimit.Window{Limit: 10, Period: time.Minute}, 1)
		for _, line := range strings.Split(logged(), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) == nil && e["msg"] == "redis" {
				if e["level"] != "WARN" || !strings.Contains(e["message"].(string), addr) {
					t.Fatalf("go-redis message %v", e)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no go-redis message in the log:\n%s", logged())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
