package policy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/resource"
)

// breaker is a backend's circuit breaker on this node: failures are
// counted in a fixed window of the rule's interval; when they reach the
// rule's count (or percentage, with at least minCallsForPercentage calls)
// the circuit opens for the trip duration (or the tripping response's
// Retry-After when acceptRetryAfter), then closes with fresh counts.
type breaker struct {
	count, percentage int
	interval, trip    time.Duration
	ranges            []resource.BackendStatusCode
	reasons           []string
	acceptRetryAfter  bool
	sig               string // the rule, to tell a changed one

	mu          sync.Mutex
	windowStart time.Time
	failures    int
	calls       int
	openUntil   time.Time
	trips       int64
	lastTrip    time.Time
}

const minCallsForPercentage = 10

// breaker returns the breaker of backend id for rule, keeping its state
// when the rule is unchanged.
func (rt *backendRuntime) breaker(id string, rule resource.BackendCircuitRule, now func() time.Time) *breaker {
	interval, _ := resource.ParseISODuration(rule.FailureCondition.Interval)
	trip, _ := resource.ParseISODuration(rule.TripDuration)
	b := &breaker{
		count: rule.FailureCondition.Count, percentage: rule.FailureCondition.Percentage,
		interval: interval, trip: trip, ranges: rule.FailureCondition.StatusCodeRanges,
		reasons: rule.FailureCondition.ErrorReasons, acceptRetryAfter: rule.AcceptRetryAfter,
	}
	var sig strings.Builder
	sig.WriteString(strconv.Itoa(b.count) + "/" + strconv.Itoa(b.percentage) + "/" + interval.String() + "/" + trip.String() + "/" + strconv.FormatBool(b.acceptRetryAfter))
	for _, r := range b.ranges {
		sig.WriteString("/" + strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max))
	}
	for _, r := range b.reasons {
		sig.WriteString("/" + r)
	}
	b.sig = sig.String()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if old := rt.breakers[id]; old != nil && old.sig == b.sig {
		return old
	}
	b.windowStart = now()
	rt.breakers[id] = b
	return b
}

// allow reports whether a call may go to the backend, and if not how long
// until the circuit closes. A nil breaker always allows.
func (b *breaker) allow(now time.Time) (bool, time.Duration) {
	if b == nil {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.openUntil) {
		return false, b.openUntil.Sub(now)
	}
	return true, 0
}

// isFailure tells whether a call's outcome counts against the backend.
func (b *breaker) isFailure(status int, reason string) bool {
	if reason != "" {
		for _, r := range b.reasons {
			if strings.EqualFold(r, reason) || (strings.EqualFold(r, "Timeout") && reason == apicall.ReasonBackendTimeout) ||
				(strings.EqualFold(r, "BackendConnectionFailure") && reason == apicall.ReasonBackendTimeout) {
				return true
			}
		}
		// A connection failure counts when the rule names no reasons but
		// 5xx statuses: the backend did not answer at all.
		return len(b.reasons) == 0 && b.coversStatus(500)
	}
	return b.coversStatus(status)
}

func (b *breaker) coversStatus(status int) bool {
	for _, r := range b.ranges {
		if status >= r.Min && status <= r.Max {
			return true
		}
	}
	return false
}

// record counts one call's outcome (status 0 and a reason when the call
// failed without an answer).
func (b *breaker) record(now time.Time, status int, reason, retryAfter string) {
	failed := b.isFailure(status, reason)
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.openUntil) {
		return // a call let through before the circuit opened
	}
	if now.Sub(b.windowStart) >= b.interval {
		b.windowStart, b.failures, b.calls = now, 0, 0
	}
	b.calls++
	if !failed {
		return
	}
	b.failures++
	tripped := b.count > 0 && b.failures >= b.count
	if b.percentage > 0 && b.calls >= minCallsForPercentage && b.failures*100 >= b.percentage*b.calls {
		tripped = true
	}
	if !tripped {
		return
	}
	d := b.trip
	if b.acceptRetryAfter && retryAfter != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && s > 0 && s <= 86400 {
			d = time.Duration(s) * time.Second
		} else if t, err := time.Parse(time.RFC1123, retryAfter); err == nil && t.After(now) && t.Sub(now) <= 24*time.Hour {
			d = t.Sub(now)
		}
	}
	b.openUntil = now.Add(d)
	b.trips++
	b.lastTrip = now
	b.windowStart, b.failures, b.calls = b.openUntil, 0, 0
}

// BackendHealth is what a node knows of a backend's circuit breaker.
type BackendHealth struct {
	// State is "closed" (calls go through) or "open" (refused with 503).
	State string `json:"state"`
	// OpenUntil is when an open circuit closes (RFC 3339).
	OpenUntil string `json:"openUntil,omitempty"`
	// Failures counts failures in the current interval.
	Failures int `json:"failures"`
	// Trips counts how often the circuit opened since the node started
	// (or the rule last changed).
	Trips       int64  `json:"trips"`
	LastTripped string `json:"lastTripped,omitempty"`
}

// BackendHealth returns the circuit breaker state of backend id (a path,
// "/backends/{id}") on this node; ok is false when the backend has no
// circuit breaker or has not been loaded.
func (c *Compiler) BackendHealth(id string) (BackendHealth, bool) {
	c.backends.mu.Lock()
	b := c.backends.breakers[id]
	c.backends.mu.Unlock()
	if b == nil {
		return BackendHealth{}, false
	}
	now := c.opts.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	h := BackendHealth{State: "closed", Failures: b.failures, Trips: b.trips}
	if now.Before(b.openUntil) {
		h.State = "open"
		h.OpenUntil = b.openUntil.UTC().Format(time.RFC3339)
	}
	if !b.lastTrip.IsZero() {
		h.LastTripped = b.lastTrip.UTC().Format(time.RFC3339)
	}
	return h, true
}

// BackendHealthHandler serves GET {prefix}/{backendId}: the backend's
// circuit breaker state on this node (BackendHealth), 404 when the backend
// has no circuit breaker or does not exist. The management API mounts it.
func (c *Compiler) BackendHealthHandler(prefix string) http.Handler {
	prefix = strings.TrimRight(prefix, "/") + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			apierror.Write(w, apierror.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s reads with GET only.", r.URL.Path))
			return
		}
		name := strings.TrimPrefix(r.URL.Path, prefix)
		if name == r.URL.Path || !resource.ValidName(name) {
			apierror.Write(w, apierror.New(http.StatusNotFound, "NotFound", "Ask for %s{backendId}.", prefix))
			return
		}
		h, ok := c.BackendHealth("/backends/" + name)
		if !ok {
			apierror.Write(w, apierror.New(http.StatusNotFound, "NotFound", "Backend %s has no circuit breaker on this node (or does not exist).", name))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(struct {
			ID string `json:"id"`
			BackendHealth
		}{"/backends/" + name, h})
	})
}
