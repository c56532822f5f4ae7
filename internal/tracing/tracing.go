// Package tracing sets up OpenTelemetry traces for a node: a tracer
// provider exporting over OTLP/HTTP, configured by the standard OTEL_*
// environment variables, and the W3C trace-context propagation the
// gateway reads from clients and writes to backends. Tracing is off
// unless the environment asks for it; off, nothing here is on the
// request path.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Tracing is a node's tracer and propagator.
type Tracing struct {
	provider *sdktrace.TracerProvider
	// Tracer starts Tollgate's spans.
	Tracer trace.Tracer
	// Propagator reads and writes W3C traceparent and tracestate.
	Propagator propagation.TextMapPropagator
}

// Enabled tells whether the environment turns tracing on: an OTLP
// endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER is "otlp",
// and OTEL_SDK_DISABLED is not "true" and OTEL_TRACES_EXPORTER not "none".
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch strings.ToLower(getenv("OTEL_TRACES_EXPORTER")) {
	case "none":
		return false
	case "otlp":
		return true
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// FromEnv returns the node's tracing as the OTEL_* environment variables
// configure it, or nil when they leave it off (see Enabled). The exporter
// is OTLP over HTTP (OTEL_EXPORTER_OTLP_* and OTEL_EXPORTER_OTLP_TRACES_*:
// endpoint, headers, timeout, compression, certificates); the sampler is
// OTEL_TRACES_SAMPLER (default parentbased_always_on); the resource takes
// OTEL_SERVICE_NAME (default "tollgate") and OTEL_RESOURCE_ATTRIBUTES.
func FromEnv(ctx context.Context) (*Tracing, error) {
	if !Enabled(os.Getenv) {
		return nil, nil
	}
	if p := strings.ToLower(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")); p != "" && p != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL %q: only http/protobuf is supported", p)
	}
	if p := strings.ToLower(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")); p != "" && p != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: only http/protobuf is supported", p)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	return New(ctx, sdktrace.WithBatcher(exp))
}

// New returns tracing whose spans go to the given span processors (a
// batcher of an exporter; a syncer of tracetest's in-memory exporter in
// tests).
func New(ctx context.Context, opts ...sdktrace.TracerProviderOption) (*Tracing, error) {
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", "tollgate")), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithResource(res)}, opts...)...)
	return &Tracing{
		provider:   tp,
		Tracer:     tp.Tracer("github.com/tollgate/tollgate"),
		Propagator: propagation.TraceContext{},
	}, nil
}

// Shutdown sends the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	return t.provider.Shutdown(ctx)
}

// Transport returns base with a client span named name around each
// request, the request carrying the span's traceparent.
func (t *Tracing) Transport(base http.RoundTripper, name string) http.RoundTripper {
	return &transport{base: base, t: t, name: name}
}

type transport struct {
	base http.RoundTripper
	t    *Tracing
	name string
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := tr.t.Tracer.Start(r.Context(), tr.name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("server.address", r.URL.Host)))
	defer span.End()
	// The request is the caller's: headers are set on a copy.
	out := r.Clone(ctx)
	tr.t.Propagator.Inject(ctx, propagation.HeaderCarrier(out.Header))
	resp, err := tr.base.RoundTrip(out)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "request failed")
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, "")
	}
	return resp, nil
}

// Unwrap returns the transport tr traces.
func (tr *transport) Unwrap() http.RoundTripper { return tr.base }

// Wrap traces rt as tr traces its own: the gateway sends a proxied call on
// a transport of its own, traced the same.
func (tr *transport) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &transport{base: rt, t: tr.t, name: tr.name}
}

// StartRequest implements gateway.RequestTracer: r's context with a
// server span that continues the trace of r's traceparent (a new trace
// without one). ObserveRequest ends it.
func (t *Tracing) StartRequest(r *http.Request) context.Context {
	ctx := t.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, _ = t.Tracer.Start(ctx, "gateway "+r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.EscapedPath())))
	return ctx
}

// ObserveRequest implements gateway.RequestObserver: it ends the
// request's server span with the outcome.
func (t *Tracing) ObserveRequest(q gateway.Request) {
	span := trace.SpanFromContext(q.Context())
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		attribute.String("tollgate.request_id", q.ID),
		attribute.String("tollgate.api", q.API),
		attribute.String("tollgate.operation", q.Operation),
		attribute.String("tollgate.product", q.Product),
		attribute.String("tollgate.subscription", q.Subscription),
		attribute.String("tollgate.application", q.Application),
		attribute.Int("http.response.status_code", q.Status),
	)
	if q.Reason != "" {
		span.SetAttributes(attribute.String("tollgate.reason", q.Reason))
	}
	if q.Status >= 500 {
		span.SetStatus(codes.Error, q.Reason)
	}
	span.End()
}

// Section runs fn inside a span named name (a policy section), with the
// span's context; fn's error marks the span failed.
func (t *Tracing) Section(ctx context.Context, name string, fn func(context.Context) error) error {
	ctx, span := t.Tracer.Start(ctx, name)
	defer span.End()
	err := fn(ctx)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
