package gateway

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/urlredact"
)

// Request is what the gateway knows of one request once it is answered:
// the access log's fields, handed to the RequestObserver. IDs are the
// configured resources' ("" when the request matched none), so a consumer
// that labels by them stays bounded.
type Request struct {
	ID                                                 string // the request id (X-Request-Id)
	Method                                             string
	API, Operation, Product, Subscription, Application string
	Status                                             int
	// Reason is the machine code of the error that ended the call
	// (SubscriptionKeyInvalid, RateLimitExceeded, ...); "" if none.
	Reason string
	Start  time.Time
	// Duration is the whole time in the gateway; BackendTime the time
	// spent waiting for backends' response headers (0: none was called).
	Duration, BackendTime time.Duration
	BytesIn, BytesOut     int64

	r        *http.Request
	keyQuery string // the API's subscription-key query parameter
}

// Client is the address the request came from (the connection's peer, host:port).
func (q *Request) Client() string { return q.r.RemoteAddr }

// URL is the request's path and query with secrets removed: the API's
// subscription-key parameter dropped and the values of parameters that
// carry credentials (token, secret, password, apikey, sig, ...) masked.
func (q *Request) URL() string {
	u := q.r.URL.EscapedPath()
	raw := q.r.URL.RawQuery
	if q.keyQuery != "" {
		raw = removeQueryParam(raw, q.keyQuery)
	}
	if raw = urlredact.Query(raw); raw != "" {
		u += "?" + raw
	}
	return u
}

// Context is the request's context (its trace, when tracing is on).
func (q *Request) Context() context.Context { return q.r.Context() }

// RequestObserver is told of every request the gateway answered, once,
// after the answer: the access log, metrics. It must not keep the Request.
type RequestObserver interface {
	ObserveRequest(q Request)
}

// Observers tells each of its observers in turn.
type Observers []RequestObserver

// ObserveRequest implements RequestObserver.
func (o Observers) ObserveRequest(q Request) {
	for _, x := range o {
		x.ObserveRequest(q)
	}
}

// AccessLog writes one "request" record per request to a logger, never a
// secret (no subscription key, no Authorization, no token, no secret query
// parameter). It is the gateway's observer when Options.Observer is nil.
type AccessLog struct {
	Logger *slog.Logger
	// Sample is the fraction of successful requests logged, in (0, 1];
	// 0 means 1. Failed requests (status >= 400 or a reason) are always
	// logged.
	Sample float64
}

// ObserveRequest implements RequestObserver.
func (a *AccessLog) ObserveRequest(q Request) {
	if a.Sample > 0 && a.Sample < 1 && q.Status < 400 && q.Reason == "" && rand.Float64() >= a.Sample {
		return
	}
	if !a.Logger.Enabled(q.Context(), slog.LevelInfo) {
		return // the fields are not worth building
	}
	a.Logger.LogAttrs(q.Context(), slog.LevelInfo, "request",
		slog.String("request_id", q.ID),
		slog.String("method", q.Method),
		slog.String("path", q.r.URL.EscapedPath()),
		slog.String("url", q.URL()),
		slog.String("api", q.API),
		slog.String("operation", q.Operation),
		slog.String("product", q.Product),
		slog.String("subscription", q.Subscription),
		slog.String("application", q.Application),
		slog.Int("status", q.Status),
		slog.String("reason", q.Reason),
		slog.Duration("latency", q.Duration),
		slog.Duration("backend_time", q.BackendTime),
		slog.Int64("bytes_in", q.BytesIn),
		slog.Int64("bytes_out", q.BytesOut),
		slog.String("client", q.Client()),
	)
}
