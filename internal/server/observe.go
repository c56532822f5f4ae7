package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
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

// metricsOnly serves h at /metrics and 404 elsewhere: the metrics
// listener's handler.
func metricsOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
