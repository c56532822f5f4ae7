package gateway

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/apicall"
)

// RequestIDHeader carries the request id on every response.
const RequestIDHeader = "X-Request-Id"

// ServeHTTP serves one request: route, check the subscription, run the
// pipeline, log.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == StatusPath {
		g.serveStatus(w)
		return
	}
	start := g.now()
	if g.tracer != nil {
		r = r.WithContext(g.tracer.StartRequest(r))
	}
	id := newRequestID()
	rw := &responseWriter{ResponseWriter: w, requestID: id}
	var in *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		in = &countingBody{ReadCloser: r.Body}
		r.Body = in
	}
	var (
		m      match
		c      *Call
		reason string
	)
	defer func() {
		p := recover()
		switch {
		case p == http.ErrAbortHandler:
			// Deliberate abort (a response cut short): log, then let the
			// server drop the connection. The pipeline may have said why
			// (a backend that failed mid-response).
			reason = "Aborted"
			if c != nil && c.Reason != "" {
				reason = c.Reason
			}
		case p != nil:
			reason = "Panic"
			g.log.Error("gateway request panicked", "request_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rw.wroteHeader {
				apicall.WriteError(rw, http.StatusInternalServerError, "Internal server error. Request id: "+id)
			}
		}
		g.observe(r, rw, in, &m, c, id, reason, start)
		if p == http.ErrAbortHandler {
			panic(p)
		}
	}()

	s := g.snap.Load()
	if s == nil {
		reason = "NotLoaded"
		apicall.WriteError(rw, http.StatusServiceUnavailable, "Gateway configuration is not loaded yet.")
		return
	}
	var pipeline Pipeline
	outcome := s.route(r, &m)
	switch outcome {
	case outcomeBadPath:
		reason = apicall.ReasonInvalidPath
		apicall.WriteError(rw, http.StatusBadRequest, apicall.MsgInvalidPath)
		return
	case outcomeNoAPI:
		apicall.WriteError(rw, http.StatusNotFound, apicall.MsgResourceNotFound)
		return
	}
	// A CORS preflight for an API with a cors policy is answered by that
	// policy before operation matching and without a subscription check:
	// browsers never send keys with a preflight (APIM does the same).
	if isPreflight(r) && s.policies != nil {
		pipeline = s.policies.Preflight(m.api.api.ID)
	}
	if pipeline == nil && outcome == outcomeNoOperation {
		reason = apicall.ReasonOperationNotFound
		apicall.WriteError(rw, http.StatusNotFound, apicall.MsgOperationNotFound)
		return
	}
	if pipeline == nil {
		switch s.admit(r, g.hasher, &m) {
		case outcomeKeyMissing:
			reason = apicall.ReasonSubscriptionKeyNotFound
			apicall.WriteError(rw, http.StatusUnauthorized, apicall.MsgKeyMissing)
			return
		case outcomeKeyInvalid:
			reason = apicall.ReasonSubscriptionKeyInvalid
			apicall.WriteError(rw, http.StatusUnauthorized, apicall.MsgKeyInvalid)
			return
		case outcomeTokenRefused:
			reason = m.appReason
			writeTokenRefused(rw, reason)
			return
		}
	}

	c = &Call{
		RequestID:      id,
		Start:          start,
		API:            m.api.api,
		Product:        m.product,
		BackendURL:     m.backendURL(r),
		BackendTimeout: m.api.timeout,
	}
	if m.op != nil {
		c.Operation = m.op.op
		c.Params = m.params()
	}
	if m.sub != nil {
		c.Subscription = m.sub.info(m.key)
		c.User = m.sub.user
	}
	if m.app != nil {
		c.Application, c.User = m.app.info, m.app.user
	}
	if pipeline == nil && s.policies != nil {
		var opID, productID string
		if c.Operation != nil {
			opID = c.Operation.ID
		}
		if c.Product != nil {
			productID = c.Product.ID
		}
		pipeline = s.policies.Pipeline(c.API.ID, opID, productID)
	}
	if pipeline != nil {
		pipeline.Serve(rw, r, c, g)
		reason = c.Reason
		return
	}
	reason = g.serveDefault(rw, r, c)
}

// serveDefault is the pipeline when no policies apply: forward and copy the
// response. It returns the failure reason for the access log, if any.
func (g *Gateway) serveDefault(w http.ResponseWriter, r *http.Request, c *Call) string {
	resp, err := g.Forward(r.Context(), c, r, ForwardOptions{})
	if err != nil {
		return WriteBackendError(w, r, err)
	}
	if _, err := apicall.CopyResponse(w, resp); err != nil {
		if r.Context().Err() != nil {
			return reasonClientClosed
		}
		// Headers are gone; all we can do is cut the response short so the
		// client sees it incomplete rather than silently truncated, and
		// log why (the status sent, with the backend's failure).
		g.log.Warn("copy backend response failed", "request_id", c.RequestID, "error", err.Error())
		c.Reason = apicall.BackendReason(err)
		panic(http.ErrAbortHandler)
	}
	return ""
}

// WriteBackendError answers a failed Forward: 504 for a timeout, 400 for a
// path apicall.UnsafePath refuses, 408 or 400 for a request body that did
// not arrive, 500 BackendConnectionFailure otherwise. It returns the reason. When the client
// has gone away nothing useful can be written; the access log then shows
// status 499.
func WriteBackendError(w http.ResponseWriter, r *http.Request, err error) string {
	if r.Context().Err() != nil {
		if rw, ok := w.(*responseWriter); ok {
			rw.status = statusClientClosed
		}
		return reasonClientClosed
	}
	if errors.Is(err, apicall.ErrUnsafePath) {
		apicall.WriteError(w, http.StatusBadRequest, apicall.MsgInvalidPath)
		return apicall.ReasonInvalidPath
	}
	var ce *apicall.ClientBodyError
	if errors.As(err, &ce) {
		// The rest of the body cannot be read: the connection ends here.
		w.Header().Set("Connection", "close")
		status, msg := apicall.ClientBodyStatus(ce)
		apicall.WriteError(w, status, msg)
		return apicall.ReasonClientConnectionFailure
	}
	var be *BackendError
	if errors.As(err, &be) && be.Timeout {
		apicall.WriteError(w, http.StatusGatewayTimeout, apicall.MsgBackendTimeout)
		return apicall.ReasonBackendTimeout
	}
	apicall.WriteError(w, http.StatusInternalServerError, apicall.MsgBackendFailure)
	return apicall.ReasonBackendConnectionFailure
}

// statusClientClosed is logged when the client left before the answer
// (nginx's convention).
const (
	statusClientClosed = 499
	reasonClientClosed = "ClientClosedRequest"
)

func (g *Gateway) observe(r *http.Request, rw *responseWriter, in *countingBody, m *match, c *Call, id, reason string, start time.Time) {
	q := Request{ID: id, Method: r.Method, Reason: reason, Start: start, Status: rw.status, BytesOut: rw.bytes, r: r}
	if m.app != nil {
		q.Application = m.app.info.ID
	}
	if m.api != nil {
		q.API = m.api.api.ID
		q.keyQuery = m.api.keyQuery
	}
	if m.op != nil {
		q.Operation = m.op.op.ID
	}
	if m.product != nil {
		q.Product = m.product.ID
	}
	if m.sub != nil {
		q.Subscription = m.sub.id
	}
	if c != nil {
		q.BackendTime = c.BackendTime
	}
	if in != nil {
		q.BytesIn = in.n.Load()
	}
	if q.Status == 0 {
		q.Status = http.StatusOK // the pipeline wrote nothing
	}
	q.Duration = g.now().Sub(start)
	g.observer.ObserveRequest(q)
}

// newRequestID returns a random UUID (version 4).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// responseWriter records the status and bytes for the access log and makes
// sure our request id is the one the client sees.
type responseWriter struct {
	http.ResponseWriter
	requestID   string
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: more to come
		return
	}
	w.wroteHeader = true
	w.status = code
	w.ResponseWriter.Header().Set(RequestIDHeader, w.requestID)
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush lets pipelines stream (http.Flusher).
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes over the connection for a protocol switch (a WebSocket
// API's handshake): the access log records the 101, and the request id
// goes out with the 101's headers.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.ResponseWriter.Header().Set(RequestIDHeader, w.requestID)
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.wroteHeader = true
		w.status = http.StatusSwitchingProtocols
	}
	return conn, brw, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts request body bytes; the transport may read it from
// its own goroutine, hence the atomic.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// StatusPath is the gateway's own health check, at the path APIM's gateway
// uses, so load balancers configured for APIM keep working. It answers 200
// once the gateway serves a configuration, 503 before.
const StatusPath = "/status-0123456789abcdef"

func (g *Gateway) serveStatus(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if g.snap.Load() == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"starting"}` + "\n"))
		return
	}
	w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// isPreflight reports whether r is a CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}
