// Command goproxy is the load harness's "Go ceiling": a bare
// httputil.ReverseProxy to one backend, with nothing else on the request
// path. Tollgate's gateway is built on the same machinery, so its throughput
// as a share of this one is the cost of Tollgate's own work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	backend := flag.String("backend", "", "backend base URL, e.g. http://127.0.0.1:9000")
	pool := flag.Bool("buffer-pool", false, "reuse the 32 KiB copy buffers (httputil.BufferPool) instead of allocating one per request")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *backend, *pool, logger); err != nil {
		logger.Error("goproxy failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, backend string, pool bool, logger *slog.Logger) error {
	target, err := parseBackend(backend)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           newProxy(target, newTransport(), pool, logger),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	logger.Info("listening", "addr", ln.Addr().String(), "backend", target.String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func parseBackend(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-backend must be an absolute http(s) URL, got %q", s)
	}
	return u, nil
}

// newTransport is Tollgate's gateway transport itself, so that the
// difference between the two is Tollgate's own work and not pool sizing.
func newTransport() *http.Transport { return gateway.NewTransport() }

func newProxy(target *url.URL, transport http.RoundTripper, pool bool, logger *slog.Logger) *httputil.ReverseProxy {
	var buffers httputil.BufferPool
	if pool {
		buffers = newBufferPool()
	}
	return &httputil.ReverseProxy{
		BufferPool: buffers,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
		},
		Transport: transport,
		ErrorLog:  log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// A client that hangs up (wrk stopping) is not a backend failure.
			if !errors.Is(err, context.Canceled) {
				logger.Warn("backend request failed", "path", r.URL.Path, "err", err)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

// bufferPool is the usual sync.Pool-backed httputil.BufferPool.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte    { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
