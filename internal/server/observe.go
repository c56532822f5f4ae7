package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/gateway"
)

// newAccessLog returns the gateway's access log as the settings ask (nil
// when off) and what releases it. On stdout it shares the buffered writer
// of the other logs; in a file it has a buffered writer of its own.
func newAccessLog(cfg Config, stdout io.Writer) (*gateway.AccessLog, func(), error) {
	format := cfg.AccessLogFormat
	if format == "" {
		format = cfg.LogFormat
	}
	lc := Config{LogLevel: cfg.LogLevel, LogFormat: format}
	switch cfg.AccessLog {
	case "off":
		return nil, func() {}, nil
	case "", "stdout":
		return &gateway.AccessLog{Logger: newLogger(lc, stdout), Sample: cfg.AccessLogSample}, func() {}, nil
	}
	f, err := os.OpenFile(cfg.AccessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("access log: %w", err)
	}
	w := newLogWriter(f, 100*time.Millisecond)
	return &gateway.AccessLog{Logger: newLogger(lc, w), Sample: cfg.AccessLogSample}, func() {
		w.Close()
		f.Close()
	}, nil
}

// redisPing returns a health check of the Redis at addr (host:port or a
// redis:// URL) on a client of its own with one connection.
func redisPing(addr string) (func(context.Context) error, func()) {
	opts := &redis.Options{Addr: addr}
	if u, err := redis.ParseURL(addr); err == nil {
		opts = u
	}
	opts.PoolSize, opts.MaxRetries = 1, -1
	c := redis.NewClient(opts)
	return func(ctx context.Context) error { return c.Ping(ctx).Err() }, func() { c.Close() }
}

// metricsListener is the metrics listener's handler: h at /metrics, with
// profiling the Go runtime's profiles under /debug/pprof/ too, and 404
// elsewhere. Profiles are opt-in: they show the process's internals and a
// CPU profile or trace costs cpu while it runs.
func metricsListener(h http.Handler, profiling bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/metrics":
			h.ServeHTTP(w, r)
		case profiling && strings.HasPrefix(r.URL.Path, "/debug/pprof/"):
			// pprof.Index serves the runtime's named profiles (heap,
			// goroutine, allocs...); these are handlers of their own. Not
			// cmdline: argv may hold a database URL with its password.
			switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
			case "cmdline":
				http.NotFound(w, r)
			case "profile":
				pprof.Profile(w, r)
			case "symbol":
				pprof.Symbol(w, r)
			case "trace":
				pprof.Trace(w, r)
			default:
				pprof.Index(w, r)
			}
		default:
			http.NotFound(w, r)
		}
	})
}
