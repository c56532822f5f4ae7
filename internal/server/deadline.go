package server

import (
	"io"
	"net/http"
	"time"
)

// bodyDeadline bounds how long a request's body may take to arrive: a
// client that sends headers and then trickles its body (or none of it)
// loses the connection instead of holding it. The body may take base plus
// one second per minRate bytes read (minRate 0: base for the whole body),
// so a large upload at a decent rate is never cut. The deadline is set on
// entry, so it also bounds the server's read of an unread body after the
// handler answered, and lifted once the body is read, so it never bounds
// the handler's own work. Requests without a body cost nothing.
func bodyDeadline(h http.Handler, base time.Duration, minRate int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		start := time.Now()
		// A connection that does not support deadlines answers
		// ErrNotSupported: serve it without one.
		if err := rc.SetReadDeadline(start.Add(base)); err == nil {
			// A shallow copy: the server must still see its own body in
			// the original request, to close a connection whose body
			// failed (a timeout) rather than read on after it.
			r2 := *r
			r2.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, start: start, base: base, minRate: minRate}
			r = &r2
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody extends the read deadline as the body arrives (with a
// minimum rate), and lifts it at the end of the body: the server's
// background read of an idle connection must not time out, which would
// cancel a handler still at work.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	base    time.Duration
	minRate int64
	n       int64
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case n > 0 && b.minRate > 0:
		allowed := b.base + time.Duration(float64(b.n)/float64(b.minRate)*float64(time.Second))
		_ = b.rc.SetReadDeadline(b.start.Add(allowed))
	}
	return n, err
}
