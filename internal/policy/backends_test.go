package policy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// flaky is a test backend that fails (503, or by dropping the connection)
// while down is set, and counts the calls it saw.
type flaky struct {
	srv   *httptest.Server
	name  string
	down  atomic.Bool
	drop  atomic.Bool
	calls atomic.Int64
	mu    sync.Mutex
	last  *http.Request
}

func newFlaky(t *testing.T, name string) *flaky {
	f := &flaky{name: name}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		f.mu.Lock()
		f.last = r.Clone(r.Context())
		f.mu.Unlock()
		if f.drop.Load() {
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			_ = c.Close()
			return
		}
		if f.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, f.name+" "+r.URL.Path+"?"+r.URL.RawQuery)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func backendRec(t *testing.T, id string, b *resource.Backend) store.Record {
	t.Helper()
	return rec(t, "/backends/"+id, "backends", b)
}

func breakerRule(count int, trip string) *resource.BackendCircuitBreaker {
	return &resource.BackendCircuitBreaker{Rules: []resource.BackendCircuitRule{{
		Name:             "r",
		FailureCondition: resource.BackendFailureCondition{Count: count, Interval: "PT1M", StatusCodeRanges: []resource.BackendStatusCode{{Min: 500, Max: 599}}, ErrorReasons: []string{"BackendConnectionFailure"}},
		TripDuration:     trip,
	}}}
}

func TestSetBackendServiceBackendID(t *testing.T) {
	b1 := newFlaky(t, "b1")
	kr := testKeyring(t)
	creds := &resource.Backend{URL: b1.srv.URL + "/v1", Credentials: &resource.BackendCredentials{
		Header:        map[string][]string{"X-Key": {"s3cret"}},
		Query:         map[string][]string{"code": {"q1"}},
		Authorization: &resource.BackendAuthorization{Scheme: "Bearer", Parameter: "tok"},
	}}
	r := backendRec(t, "b1", creds)
	// Seal the credential values as the management API stores them.
	var stored resource.Backend
	_ = json.Unmarshal(r.Body, &stored)
	if strings.Contains(string(mustJSON(t, stored.Credentials)), "s3cret") {
		t.Fatalf("credentials keep their values after Normalize: %s", r.Body)
	}
	sealed, err := kr.Seal([]byte(stored.CredentialValues), []byte("/backends/b1"))
	if err != nil {
		t.Fatal(err)
	}
	stored.CredentialValues = sealed
	r.Body = mustJSON(t, &stored)

	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`<set-backend-service backend-id="b1" />`, "", "", "")}, r)
	res := e.get("/echo/items/7?x=1")
	if res.status != 200 || res.body != "b1 /v1/items/7?code=q1&x=1" {
		t.Fatalf("got %d %q", res.status, res.body)
	}
	b1.mu.Lock()
	h := b1.last.Header
	b1.mu.Unlock()
	if h.Get("X-Key") != "s3cret" || h.Get("Authorization") != "Bearer tok" {
		t.Fatalf("credentials not sent: %v", h)
	}

	// A missing backend is a clear 500.
	if err := e.reload(map[string]string{"/apis/echo/policies/policy": doc(`<set-backend-service backend-id="nope" />`, "", "", "")}, r); err != nil {
		t.Fatal(err)
	}
	if res := e.get("/echo/items/7"); res.status != 500 {
		t.Fatalf("missing backend: %d %s", res.status, res.body)
	}
}

func TestBackendCircuitBreakerTripsAndRecovers(t *testing.T) {
	b1 := newFlaky(t, "b1")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnvClock(t, clock, map[string]string{"/apis/echo/policies/policy": doc(`<set-backend-service backend-id="b1" />`, "", "", "")},
		backendRec(t, "b1", &resource.Backend{URL: b1.srv.URL, CircuitBreaker: breakerRule(3, "PT30S")}))

	if res := e.get("/echo/items/1"); res.status != 200 {
		t.Fatalf("healthy: %d", res.status)
	}
	b1.down.Store(true)
	for i := 0; i < 3; i++ {
		if res := e.get("/echo/items/1"); res.status != 503 {
			t.Fatalf("failing backend call %d: %d", i, res.status)
		}
	}
	before := b1.calls.Load()
	res := e.get("/echo/items/1")
	if res.status != 503 || res.header.Get("Retry-After") != "30" || b1.calls.Load() != before {
		t.Fatalf("open circuit: %d retry-after %q, backend called %d times more", res.status, res.header.Get("Retry-After"), b1.calls.Load()-before)
	}
	if h, ok := e.compiler.BackendHealth("/backends/b1"); !ok || h.State != "open" || h.Trips != 1 {
		t.Fatalf("health while open: %+v %v", h, ok)
	}
	// Through the handler the management API mounts.
	hs := httptest.NewServer(e.compiler.BackendHealthHandler("/backendHealth"))
	defer hs.Close()
	hr, err := http.Get(hs.URL + "/backendHealth/b1")
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != 200 || !strings.Contains(string(hb), `"state":"open"`) || !strings.Contains(string(hb), `"id":"/backends/b1"`) {
		t.Fatalf("health handler: %d %s", hr.StatusCode, hb)
	}
	if hr, err := http.Get(hs.URL + "/backendHealth/nope"); err != nil || hr.StatusCode != 404 {
		t.Fatalf("unknown backend: %v %v", hr, err)
	} else {
		hr.Body.Close()
	}
	b1.down.Store(false)
	advance(31 * time.Second)
	if res := e.get("/echo/items/1"); res.status != 200 {
		t.Fatalf("after the trip duration: %d %s", res.status, res.body)
	}
	if h, _ := e.compiler.BackendHealth("/backends/b1"); h.State != "closed" {
		t.Fatalf("health after recovery: %+v", h)
	}

	// Connection failures count too.
	b1.drop.Store(true)
	for i := 0; i < 3; i++ {
		e.get("/echo/items/1")
	}
	if h, _ := e.compiler.BackendHealth("/backends/b1"); h.State != "open" || h.Trips != 2 {
		t.Fatalf("after dropped connections: %+v", h)
	}
}

func TestBackendPoolPriorityWeightAndFailover(t *testing.T) {
	p1, p2, p3 := newFlaky(t, "p1"), newFlaky(t, "p2"), newFlaky(t, "p3")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnvClock(t, clock, map[string]string{"/apis/echo/policies/policy": doc(`<set-backend-service backend-id="pool" />`, "", "", "")},
		backendRec(t, "p1", &resource.Backend{URL: p1.srv.URL, CircuitBreaker: breakerRule(1, "PT10S")}),
		backendRec(t, "p2", &resource.Backend{URL: p2.srv.URL, CircuitBreaker: breakerRule(1, "PT10S")}),
		backendRec(t, "p3", &resource.Backend{URL: p3.srv.URL, CircuitBreaker: breakerRule(1, "PT10S")}),
		backendRec(t, "pool", &resource.Backend{Type: "Pool", Pool: &resource.BackendPool{Services: []resource.BackendPoolMember{
			{ID: "p1", Priority: 1, Weight: 3}, {ID: "p2", Priority: 1, Weight: 1}, {ID: "/backends/p3", Priority: 2}}}}))

	for i := 0; i < 200; i++ {
		if res := e.get("/echo/items/1"); res.status != 200 {
			t.Fatalf("pool call: %d", res.status)
		}
	}
	c1, c2, c3 := p1.calls.Load(), p2.calls.Load(), p3.calls.Load()
	if c3 != 0 || c1+c2 != 200 || c1 < 120 || c1 > 180 {
		t.Fatalf("weights 3:1 at priority 1, priority 2 unused: p1=%d p2=%d p3=%d", c1, c2, c3)
	}
	// Priority 1 fails: its members trip and priority 2 takes over.
	p1.down.Store(true)
	p2.down.Store(true)
	for i := 0; i < 10; i++ {
		e.get("/echo/items/1")
	}
	res := e.get("/echo/items/1")
	if res.status != 200 || !strings.HasPrefix(res.body, "p3 ") {
		t.Fatalf("failover to priority 2: %d %q", res.status, res.body)
	}
	// Everything down: 503 with Retry-After.
	p3.down.Store(true)
	e.get("/echo/items/1")
	res = e.get("/echo/items/1")
	if res.status != 503 || res.header.Get("Retry-After") == "" {
		t.Fatalf("all members tripped: %d %v", res.status, res.header)
	}
	// Recovery: priority 1 is used again once its trip ends.
	p1.down.Store(false)
	p2.down.Store(false)
	p3.down.Store(false)
	advance(11 * time.Second)
	res = e.get("/echo/items/1")
	if res.status != 200 || strings.HasPrefix(res.body, "p3 ") {
		t.Fatalf("after recovery: %d %q", res.status, res.body)
	}
}

func TestBackendValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    resource.Backend
		want string
	}{
		{"no url", resource.Backend{}, "url"},
		{"ftp url", resource.Backend{URL: "ftp://x"}, "url"},
		{"pool without members", resource.Backend{Type: "Pool"}, "pool.services"},
		{"bad trip", resource.Backend{URL: "http://x", CircuitBreaker: &resource.BackendCircuitBreaker{Rules: []resource.BackendCircuitRule{{
			FailureCondition: resource.BackendFailureCondition{Count: 1, Interval: "PT1M", StatusCodeRanges: []resource.BackendStatusCode{{Min: 500, Max: 599}}}, TripDuration: "1 minute"}}}}, "circuitBreaker.rules[0].tripDuration"},
		{"bad header", resource.Backend{URL: "http://x", Credentials: &resource.BackendCredentials{Header: map[string][]string{"bad header": {"v"}}}}, "credentials.header"},
	} {
		b := tc.b
		resource.SetMeta(&b, "/backends/x")
		b.Normalize()
		errs := b.Validate()
		found := false
		for _, e := range errs {
			if e.Target == tc.want {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want an error on %s, got %v", tc.name, tc.want, errs)
		}
	}
}

func TestCrossDomain(t *testing.T) {
	// The reference page's example.
	xml := `<cross-domain><cross-domain-policy><allow-http-request-headers-from domain='*' headers='*' /></cross-domain-policy></cross-domain>`
	e := newEnv(t, map[string]string{"/policies/policy": doc(xml, "", "", "")})
	res := e.get("/echo/crossdomain.xml")
	if res.status != 200 || !strings.Contains(res.body, `<allow-http-request-headers-from domain="*" headers="*"/>`) ||
		!strings.HasPrefix(res.header.Get("Content-Type"), "text/xml") {
		t.Fatalf("crossdomain.xml: %d %q %v", res.status, res.body, res.header)
	}
	if res := e.get("/echo/items/1"); res.status != 200 || res.echo.Path != "/base/items/1" {
		t.Fatalf("other requests pass: %d %+v", res.status, res.echo)
	}
	if ps := policy.NewCompiler(policy.Options{}).CheckOffline(doc(`<cross-domain/>`, "", "", ""), nil); len(ps) == 0 {
		t.Fatal("empty cross-domain accepted")
	}
}

func TestRefusedPoliciesNameTheAlternative(t *testing.T) {
	for name, want := range map[string]string{
		"log-to-eventhub":           "send-one-way-request",
		"send-service-bus-message":  "send-one-way-request",
		"publish-to-dapr":           "send-request",
		"llm-content-safety":        "moderation",
		"llm-semantic-cache-lookup": "cache-lookup-value",
	} {
		ps := policy.NewCompiler(policy.Options{}).CheckOffline(doc(`<`+name+` />`, "", "", ""), nil)
		if len(ps) != 1 || !strings.Contains(ps[0].Message, "policy '"+name+"' is not supported") || !strings.Contains(ps[0].Message, want) {
			t.Errorf("%s: %v", name, ps)
		}
	}
}

// TestBackendCredentialsNamedValues: a backend's credential values may
// name named values, resolved as in APIM; one naming a missing named value
// makes the backend's calls fail rather than send the {{name}} text.
func TestBackendCredentialsNamedValues(t *testing.T) {
	b1 := newFlaky(t, "b1")
	creds := &resource.Backend{URL: b1.srv.URL, Credentials: &resource.BackendCredentials{
		Header:        map[string][]string{"X-Key": {"k-{{api-key}}"}},
		Authorization: &resource.BackendAuthorization{Scheme: "Bearer", Parameter: "{{api-key}}.{{tail}}"},
	}}
	nv := func(name, value string) store.Record {
		return rec(t, "/namedValues/"+name, "namedValues", &resource.NamedValue{DisplayName: name, Value: value})
	}
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`<set-backend-service backend-id="b1" />`, "", "", "")},
		backendRec(t, "b1", creds), nv("api-key", "s3cret"), nv("tail", "t"))
	if res := e.get("/echo/items/7"); res.status != 200 {
		t.Fatalf("got %d %q", res.status, res.body)
	}
	b1.mu.Lock()
	h := b1.last.Header
	b1.mu.Unlock()
	if h.Get("X-Key") != "k-s3cret" || h.Get("Authorization") != "Bearer s3cret.t" {
		t.Fatalf("credentials: %v", h)
	}
	if err := e.reload(map[string]string{"/apis/echo/policies/policy": doc(`<set-backend-service backend-id="b1" />`, "", "", "")},
		backendRec(t, "b1", creds), nv("api-key", "s3cret")); err != nil {
		t.Fatal(err)
	}
	before := b1.calls.Load()
	if res := e.get("/echo/items/7"); res.status != 500 || b1.calls.Load() != before {
		t.Fatalf("missing named value: %d %q, %d calls", res.status, res.body, b1.calls.Load()-before)
	}
	if !strings.Contains(e.log.String(), "named value 'tail' is not defined") {
		t.Errorf("not logged: %s", e.log.String())
	}
}
