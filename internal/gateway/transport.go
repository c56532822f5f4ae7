package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// BackendTransport is the gateway's transport to backends. A request
// without a body to a plain-http backend (the common API call: GET, HEAD,
// DELETE ...) is written and its response read on the calling goroutine,
// over a pooled keep-alive connection (the gateway's Forward also sends
// small bodies this way, read whole first). net/http's Transport hands
// every request to two goroutines per connection (one writes, one reads)
// and back through channels; skipping that hand-off is about a third of
// what the Transport costs per call. Everything else (TLS, HTTP/2,
// streamed bodies, protocol upgrades) goes to the wrapped *http.Transport,
// which also keeps its own pool.
type BackendTransport struct {
	base *http.Transport

	mu   sync.Mutex
	idle map[string][]*directConn // by host:port, most recently used last
	// sweep closes connections idle for longer than the idle timeout; it
	// is armed while any connection is idle.
	sweep *time.Timer
}

// NewBackendTransport wraps base (NewTransport's settings are the ones
// meant): its dialer, idle limits and timeouts, and maximum response
// header size apply to the direct path too.
func NewBackendTransport(base *http.Transport) *BackendTransport {
	return &BackendTransport{base: base, idle: map[string][]*directConn{}}
}

// Base returns the wrapped transport (for clones with a proxy).
func (t *BackendTransport) Base() *http.Transport { return t.base }

// CloseIdleConnections closes every idle connection of both paths.
func (t *BackendTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*directConn{}
	t.mu.Unlock()
	for _, conns := range idle {
		for _, c := range conns {
			c.conn.Close()
		}
	}
	t.base.CloseIdleConnections()
}

// RoundTrip implements http.RoundTripper.
func (t *BackendTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !direct(req) {
		return t.base.RoundTrip(req)
	}
	return t.send(req, nil, time.Time{})
}

// send is the direct path. write, when set, writes the whole request
// instead of req.Write (req.Header is then only read for the retry rule);
// it may be called twice (a retry). A non-zero deadline bounds the whole
// exchange, the response body included: past it, reads fail with a
// *BackendError whose Timeout is set (errBackendTimeout).
func (t *BackendTransport) send(req *http.Request, write func(*bufio.Writer) error, deadline time.Time) (*http.Response, error) {
	key := hostPort(req.URL)
	c, reused, err := t.conn(req.Context(), key, true, !replayableMethod(req))
	if err != nil {
		return nil, err
	}
	resp, err := t.exchange(c, req, write, deadline)
	if err != nil && reused && c.replayable(req) && !errors.Is(err, errBackendTimeout) {
		// A pooled connection the backend closed while it was idle: the
		// request never reached it, so it is sent again on a new one, as
		// net/http's Transport does.
		if c, _, err = t.conn(req.Context(), key, false, false); err != nil {
			return nil, err
		}
		resp, err = t.exchange(c, req, write, deadline)
	}
	return resp, err
}

// direct reports whether req takes the direct path.
func direct(req *http.Request) bool {
	return req.URL.Scheme == "http" && req.ContentLength == 0 &&
		(req.Body == nil || req.Body == http.NoBody) &&
		req.Header["Upgrade"] == nil && !req.Close && len(req.Trailer) == 0
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return u.Host + ":80"
}

// directConn is one keep-alive connection of the direct path. It counts
// what crossed it in the current exchange, which decides whether a failed
// request may be sent again, and bounds what may be read (the response
// header limit).
type directConn struct {
	conn      net.Conn
	key       string // the pool's key: host:port as the URL names it
	idleSince time.Time
	read      int64
	written   int64
	readLimit int64
	deadline  bool // the exchange set a deadline
}

func (c *directConn) Read(p []byte) (int, error) {
	if c.readLimit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > c.readLimit {
		p = p[:c.readLimit]
	}
	n, err := c.conn.Read(p)
	c.read += int64(n)
	c.readLimit -= int64(n)
	return n, err
}

func (c *directConn) Write(p []byte) (int, error) {
	n, err := c.conn.Write(p)
	c.written += int64(n)
	return n, err
}

// replayable reports whether a request that failed on this (reused)
// connection may be sent again: nothing came back, and the request either
// never left or is one a server must treat as idempotent.
func (c *directConn) replayable(req *http.Request) bool {
	if c.read > 0 {
		return false
	}
	return c.written == 0 || replayableMethod(req)
}

// replayableMethod reports whether req may be sent twice: its method is
// idempotent and safe, or it carries an idempotency key (net/http's rule).
func replayableMethod(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header["Idempotency-Key"] != nil || req.Header["X-Idempotency-Key"] != nil
}

var errHeaderTooLarge = errors.New("backend response headers exceed the limit")

// conn returns a pooled connection to key (when pooled is set and one is
// idle) or dials one. check makes sure a pooled connection is still open
// (see closedByPeer), for requests that may not be sent twice.
func (t *BackendTransport) conn(ctx context.Context, key string, pooled, check bool) (*directConn, bool, error) {
	if pooled {
		now := time.Now()
		t.mu.Lock()
		conns := t.idle[key]
		for len(conns) > 0 {
			c := conns[len(conns)-1]
			conns[len(conns)-1] = nil
			conns = conns[:len(conns)-1]
			if t.base.IdleConnTimeout > 0 && now.Sub(c.idleSince) > t.base.IdleConnTimeout {
				c.conn.Close()
				continue
			}
			t.idle[key] = conns
			t.mu.Unlock()
			if check && closedByPeer(c.conn) {
				c.conn.Close()
				t.mu.Lock()
				conns = t.idle[key]
				continue
			}
			c.read, c.written = 0, 0
			return c, true, nil
		}
		t.idle[key] = conns
		t.mu.Unlock()
	}
	dial := t.base.DialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", key)
	if err != nil {
		return nil, false, err
	}
	return &directConn{conn: nc, key: key}, false, nil
}

// readers and writers are shared by all connections: a connection holds
// them only during an exchange, so idle connections cost no buffers.
var (
	directReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	directWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// exchange writes req on c and reads the response headers; the body is
// read by the caller, and c goes back to the pool (or is closed) when the
// body ends or is closed.
func (t *BackendTransport) exchange(c *directConn, req *http.Request, write func(*bufio.Writer) error, deadline time.Time) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		c.conn.Close()
		return nil, err
	}
	// A pooled connection keeps the last exchange's deadline (clearing it
	// on every return to the pool would be a second timer update per
	// call): set this one's, or clear it when there is none.
	if !deadline.IsZero() || c.deadline {
		c.conn.SetDeadline(deadline)
	}
	c.deadline = !deadline.IsZero()
	// Cancelling the context (the client leaving) interrupts whatever read
	// or write is under way.
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.conn.Close()
		return nil, c.failure(ctx, err)
	}

	bw := directWriters.Get().(*bufio.Writer)
	bw.Reset(c)
	var err error
	if write != nil {
		err = write(bw)
	} else {
		err = req.Write(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	directWriters.Put(bw)
	if err != nil {
		return fail(err)
	}

	br := directReaders.Get().(*bufio.Reader)
	br.Reset(c)
	release := func() {
		br.Reset(nil)
		directReaders.Put(br)
	}
	limit := t.base.MaxResponseHeaderBytes
	if limit <= 0 {
		limit = 10 << 20 // net/http's default
	}
	var resp *http.Response
	for informational := 0; ; informational++ {
		c.readLimit = limit
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			release()
			return fail(err)
		}
		code := resp.StatusCode
		if code < 100 || code >= 200 {
			break
		}
		if code == http.StatusSwitchingProtocols {
			release()
			return fail(errors.New("backend switched protocols unasked"))
		}
		if informational == 5 {
			release()
			return fail(errors.New("backend sent more than 5 informational (1xx) answers"))
		}
		// 1xx (Early Hints, a stray 100 Continue): the answer follows.
	}
	c.readLimit = 1<<63 - 1

	reusable := !resp.Close && (resp.ContentLength >= 0 || isChunked(resp.TransferEncoding))
	if resp.Body == http.NoBody {
		t.finish(c, br, stop, reusable)
		release()
		return resp, nil
	}
	resp.Body = &directBody{t: t, c: c, br: br, body: resp.Body, stop: stop, reusable: reusable, release: release, ctx: ctx}
	return resp, nil
}

// failure is the error of a failed exchange: the context's when it was
// cancelled, errBackendTimeout when the deadline passed.
func (c *directConn) failure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.deadline && errors.Is(err, os.ErrDeadlineExceeded) {
		return errBackendTimeout
	}
	return err
}

func isChunked(te []string) bool {
	return len(te) == 1 && strings.EqualFold(te[0], "chunked")
}

// finish ends an exchange: c goes back to the pool when the response was
// read to its end, nothing follows it, and the context did not interrupt
// it (stop reports that the AfterFunc never ran); otherwise it is closed.
func (t *BackendTransport) finish(c *directConn, br *bufio.Reader, stop func() bool, reusable bool) {
	if !stop() || !reusable || br.Buffered() > 0 {
		c.conn.Close()
		return
	}
	t.mu.Lock()
	conns := t.idle[c.key]
	if len(conns) >= t.maxIdle() {
		t.mu.Unlock()
		c.conn.Close()
		return
	}
	c.idleSince = time.Now()
	t.idle[c.key] = append(conns, c)
	if t.sweep == nil && t.base.IdleConnTimeout > 0 {
		t.sweep = time.AfterFunc(t.base.IdleConnTimeout, t.sweepIdle)
	}
	t.mu.Unlock()
}

func (t *BackendTransport) maxIdle() int {
	if n := t.base.MaxIdleConnsPerHost; n > 0 {
		return n
	}
	return http.DefaultMaxIdleConnsPerHost
}

// sweepIdle closes connections idle past the idle timeout and re-arms
// itself while any remain.
func (t *BackendTransport) sweepIdle() {
	timeout := t.base.IdleConnTimeout
	now := time.Now()
	var stale []*directConn
	t.mu.Lock()
	for key, conns := range t.idle {
		kept := conns[:0]
		for _, c := range conns {
			if now.Sub(c.idleSince) > timeout {
				stale = append(stale, c)
			} else {
				kept = append(kept, c)
			}
		}
		clear(conns[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, key)
		} else {
			t.idle[key] = kept
		}
	}
	t.sweep = nil
	if len(t.idle) > 0 {
		t.sweep = time.AfterFunc(timeout/2, t.sweepIdle)
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.conn.Close()
	}
}

// directBody is a direct response's body: its end releases the
// connection. Closing it before the end closes the connection rather than
// reading the rest (a large body is not drained for a connection's sake).
type directBody struct {
	t        *BackendTransport
	c        *directConn
	br       *bufio.Reader
	body     io.ReadCloser
	stop     func() bool
	release  func()
	reusable bool
	done     bool
	ctx      context.Context
}

func (b *directBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.done = true
		b.t.finish(b.c, b.br, b.stop, b.reusable)
		b.release()
	} else if err != nil {
		b.done = true
		b.stop()
		b.c.conn.Close()
		b.release()
		if b.c.deadline || b.ctx.Err() != nil {
			// Forward's caller reads a failed body as a backend failure.
			err = b.c.failure(b.ctx, err)
			err = &BackendError{Timeout: errors.Is(err, errBackendTimeout), Err: err}
		}
	}
	return n, err
}

func (b *directBody) Close() error {
	if !b.done {
		b.done = true
		b.stop()
		b.c.conn.Close()
		b.release()
	}
	return nil
}
