package policy

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

// bandwidth is the bytes part of quota and quota-by-key: APIM's
// bandwidth attribute, in kilobytes per renewal period, counting the
// request's and the response's bodies. A call is refused (403
// QuotaExceeded) once the period's bytes reached the limit; the bytes of
// an admitted call are counted when its response has been sent, so the
// call that crosses the limit completes.
type bandwidth struct {
	kilobytes int64
}

// compileBandwidth reads the bandwidth attribute: allowed on quotas,
// refused on rate limits (as in APIM).
func compileBandwidth(a *attrs, quota bool) bandwidth {
	at, ok := a.e.Attr("bandwidth")
	if !ok {
		return bandwidth{}
	}
	if !quota {
		a.fail(at.Pos, "attribute 'bandwidth' is only allowed on quota and quota-by-key")
		return bandwidth{}
	}
	return bandwidth{kilobytes: a.integer("bandwidth", 0, 1, math.MaxInt32, false)}
}

func (b bandwidth) window(period time.Duration, start time.Time) ratelimit.Window {
	return ratelimit.Quota(b.kilobytes*1024, period, start)
}

// check refuses the call when key's bytes are used up, and otherwise
// counts the call's bytes once the response is sent.
func (b bandwidth) check(x *exchange, key string, w ratelimit.Window, h *limitHeaders) error {
	lim := x.c.opts.Limiter
	r, err := lim.Peek(x.ctx, key, w)
	if err != nil {
		x.logger().Warn("policy: limiter failed; admitting", "error", err)
		r = ratelimit.Result{Allowed: true, Limit: w.Limit, Remaining: w.Limit}
	}
	if !r.Allowed {
		secs := seconds(r.RetryAfter)
		d := time.Duration(secs) * time.Second
		name := h.retryAfterHeader
		if name == "" {
			name = "Retry-After"
		}
		if h.retryAfterVar != "" {
			x.vars()[h.retryAfterVar] = secs
		}
		return &failure{Status: http.StatusForbidden, Reason: "QuotaExceeded",
			Message: fmt.Sprintf("Out of bandwidth quota. Quota will be replenished in %02d:%02d:%02d.",
				int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60),
			Header: http.Header{http.CanonicalHeaderKey(name): {strconv.FormatInt(secs, 10)}}}
	}
	logger := x.logger()
	x.deferred = append(x.deferred, func() error {
		in := x.r.ContentLength
		if x.reqLoaded {
			in = int64(len(x.reqBuf))
		}
		in = max(in, 0)
		ctx := context.WithoutCancel(x.ctx)
		count := func(out int64) {
			if _, err := lim.Add(ctx, key, w, in+out); err != nil {
				logger.Warn("policy: limiter failed", "error", err)
			}
		}
		x.onResponseBytes(count)
		return nil
	})
	return nil
}

// onResponseBytes calls done with the response body's size: now when it
// is held in memory, once it has been sent when it streams.
func (x *exchange) onResponseBytes(done func(int64)) {
	switch {
	case x.resp.hasBody:
		done(int64(len(x.resp.body)))
	case x.resp.stream != nil:
		x.resp.stream = &byteCounter{ReadCloser: x.resp.stream, done: done}
	default:
		done(0)
	}
}

// byteCounter counts a streamed body and reports the count when closed.
type byteCounter struct {
	io.ReadCloser
	n    int64
	done func(int64)
}

func (c *byteCounter) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *byteCounter) Close() error {
	err := c.ReadCloser.Close()
	if c.done != nil {
		c.done(c.n)
		c.done = nil
	}
	return err
}
