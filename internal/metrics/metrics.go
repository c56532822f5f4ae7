// Package metrics exposes a node's metrics in the Prometheus text format:
// the gateway's requests and latencies, policy failures, rate-limit
// rejections, JWT validations, the token endpoint's grants, the
// configuration snapshot, the store's and Redis's health and the Go
// runtime. Each Metrics has its own registry (no global state); the server
// assembly makes one and hands its observers to the parts it measures.
package metrics

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate/tollgate/internal/follower"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/jwtvalidate"
)

// None is the label value of a resource a request did not match (no API,
// no operation, no product): every unknown route collapses to it.
const None = "none"

// Metrics holds a node's metrics and the registry they are served from.
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	backend      *prometheus.HistogramVec
	policyErrors *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	jwt          *prometheus.CounterVec
	refreshes    *prometheus.CounterVec
	grants       *prometheus.CounterVec
	applyTime    *prometheus.HistogramVec
	version      *prometheus.GaugeVec

	// series caches the children of one label combination, so that a
	// request costs one map lookup rather than a label hash per metric.
	series sync.Map // seriesKey → *requestSeries
}

type seriesKey struct{ api, operation, product, class, reason string }

type requestSeries struct {
	requests          prometheus.Counter
	duration, backend prometheus.Observer
	policyError       prometheus.Counter // nil: the reason is not a policy's
	rateLimited       prometheus.Counter // nil: not a rate-limit rejection
}

// latencyBuckets suit a gateway: from half a millisecond to a minute.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// New returns metrics registered in a registry of their own, with the Go
// runtime's and the process's collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_gateway_requests_total",
			Help: "Requests the gateway answered, by API, operation, product (configured names; \"none\" when the request matched none), status class and reason (the error code that ended the call; \"\" when none).",
		}, []string{"api", "operation", "product", "status_class", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tollgate_gateway_request_duration_seconds", Help: "Time from a request's arrival to the end of its answer, by API.", Buckets: latencyBuckets,
		}, []string{"api"}),
		backend: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tollgate_gateway_backend_duration_seconds", Help: "Time spent waiting for backends' response headers, per request that called one, by API.", Buckets: latencyBuckets,
		}, []string{"api"}),
		policyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_gateway_policy_errors_total", Help: "Requests ended by a policy's error (not the gateway's routing or subscription checks), by API and reason.",
		}, []string{"api", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_gateway_rate_limit_rejections_total", Help: "Requests refused by rate-limit, quota or concurrency policies, by API and reason.",
		}, []string{"api", "reason"}),
		jwt: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_jwt_validations_total", Help: "JWT validations by result: cached (found among verified tokens), valid (signature checked), invalid.",
		}, []string{"result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_credential_refreshes_total", Help: "Token requests the credential manager made to providers (refresh, client credentials), by provider and result (refreshed, failed).",
		}, []string{"provider", "result"}),
		grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_identity_token_requests_total", Help: "Token endpoint requests of authenticated clients, by grant type and result (issued, refused).",
		}, []string{"grant_type", "result"}),
		applyTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tollgate_config_apply_duration_seconds", Help: "Time to apply a configuration change (rebuild a snapshot), by subscriber.", Buckets: prometheus.ExponentialBuckets(.001, 4, 9),
		}, []string{"subscriber"}),
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tollgate_config_version", Help: "Configuration version a subscriber has applied (the gateway's snapshot version).",
		}, []string{"subscriber"}),
	}
	reg.MustRegister(m.requests, m.duration, m.backend, m.policyErrors, m.rateLimited, m.jwt, m.refreshes, m.grants, m.applyTime, m.version,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{"cached", "valid", "invalid"} {
		m.jwt.WithLabelValues(r) // present at 0, for the hit ratio
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// Registry is where the metrics are registered, for callers adding their
// own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest implements gateway.RequestObserver.
func (m *Metrics) ObserveRequest(q gateway.Request) {
	k := seriesKey{api: name(q.API), operation: name(q.Operation), product: name(q.Product), class: statusClass(q.Status), reason: q.Reason}
	s, ok := m.series.Load(k)
	if !ok {
		s, _ = m.series.LoadOrStore(k, m.newSeries(k))
	}
	rs := s.(*requestSeries)
	rs.requests.Inc()
	rs.duration.Observe(q.Duration.Seconds())
	if q.BackendTime > 0 {
		rs.backend.Observe(q.BackendTime.Seconds())
	}
	if rs.policyError != nil {
		rs.policyError.Inc()
	}
	if rs.rateLimited != nil {
		rs.rateLimited.Inc()
	}
}

func (m *Metrics) newSeries(k seriesKey) *requestSeries {
	s := &requestSeries{
		requests: m.requests.WithLabelValues(k.api, k.operation, k.product, k.class, k.reason),
		duration: m.duration.WithLabelValues(k.api),
		backend:  m.backend.WithLabelValues(k.api),
	}
	switch k.reason {
	case "RateLimitExceeded", "QuotaExceeded", "ConcurrencyLimitExceeded":
		s.rateLimited = m.rateLimited.WithLabelValues(k.api, k.reason)
	}
	if policyReason(k.reason) {
		s.policyError = m.policyErrors.WithLabelValues(k.api, k.reason)
	}
	return s
}

// gatewayReasons are the reasons the gateway itself gives (routing,
// subscription and application checks, backend calls, the client going
// away); any other reason is a policy's.
var gatewayReasons = map[string]bool{
	"": true, "NotLoaded": true, "InvalidPath": true, "OperationNotFound": true,
	"SubscriptionKeyNotFound": true, "SubscriptionKeyInvalid": true,
	"BackendConnectionFailure": true, "Timeout": true, "ClientClosedRequest": true,
	"Aborted": true, "Panic": true,
}

func policyReason(reason string) bool {
	return !gatewayReasons[reason] && !strings.HasPrefix(reason, "Application") && !strings.HasPrefix(reason, "Token")
}

// name is the label of a resource: the last segment of its ID
// ("/apis/echo-api/operations/get" → "get"), None for none.
func name(id string) string {
	if id == "" {
		return None
	}
	return id[strings.LastIndexByte(id, '/')+1:]
}

func statusClass(status int) string {
	switch {
	case status >= 100 && status < 600:
		return [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}[status/100-1]
	}
	return "other"
}

// ObserveValidation implements jwtvalidate.Observer.
func (m *Metrics) ObserveValidation(cached bool, err error) {
	switch {
	case cached:
		m.jwt.WithLabelValues("cached").Inc()
	case err != nil:
		m.jwt.WithLabelValues("invalid").Inc()
	default:
		m.jwt.WithLabelValues("valid").Inc()
	}
}

var _ jwtvalidate.Observer = (*Metrics)(nil)

// ObserveRefresh implements credential.RefreshObserver.
func (m *Metrics) ObserveRefresh(provider string, err error) {
	result := "refreshed"
	if err != nil {
		result = "failed"
	}
	m.refreshes.WithLabelValues(provider, result).Inc()
}

// ObserveGrant implements identity.GrantObserver. Grant types other than
// the supported ones count as "other", so the label stays bounded.
func (m *Metrics) ObserveGrant(grantType string, err error) {
	switch grantType {
	case "client_credentials", "authorization_code", "refresh_token":
	default:
		grantType = "other"
	}
	result := "issued"
	if err != nil {
		result = "refused"
	}
	m.grants.WithLabelValues(grantType, result).Inc()
}

// Subscriber wraps a configuration subscriber (the gateway, the identity
// provider) to time each Apply and record the version it reached, under
// name.
func (m *Metrics) Subscriber(name string, s follower.Subscriber) follower.Subscriber {
	return &timedSubscriber{s: s, time: m.applyTime.WithLabelValues(name), version: m.version.WithLabelValues(name)}
}

type timedSubscriber struct {
	s       follower.Subscriber
	time    prometheus.Observer
	version prometheus.Gauge
}

func (t *timedSubscriber) Apply(ctx context.Context, c follower.Change) error {
	start := time.Now()
	err := t.s.Apply(ctx, c)
	t.time.Observe(time.Since(start).Seconds())
	if err == nil {
		t.version.Set(float64(c.To))
	}
	return err
}

// Health registers a gauge tollgate_NAME_up, 1 while check succeeds and 0
// otherwise, checked at each scrape within timeout.
// TokenCache is what the node's verified-token cache tells (jwtvalidate's
// TokenCache).
type TokenCache interface {
	Len() int
	Bytes() int64
}

// WatchTokenCache exports c's fill: the tokens it holds and their
// estimated bytes, which --jwt-cache-bytes bounds. With
// tollgate_jwt_validations_total's hit ratio it says whether the bound
// fits the traffic.
func (m *Metrics) WatchTokenCache(c TokenCache) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tollgate_jwt_cache_tokens", Help: "Verified tokens the node keeps (every validate-jwt policy and the application check share one cache)."},
			func() float64 { return float64(c.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tollgate_jwt_cache_bytes", Help: "Estimated memory of the verified tokens the node keeps; --jwt-cache-bytes bounds it."},
			func() float64 { return float64(c.Bytes()) }))
}

func (m *Metrics) Health(name, help string, timeout time.Duration, check func(context.Context) error) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tollgate_" + name + "_up", Help: help}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := check(ctx); err != nil {
			return 0
		}
		return 1
	}))
}
