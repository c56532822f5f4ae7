package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/store/storetest"
)

// TestBackendEntityEndToEnd: a backend saved through the management API
// (its credential sealed) is what set-backend-service backend-id routes to;
// its circuit breaker trips on failures, answers 503 with Retry-After
// without calling the backend, shows in /backendHealth, and closes again
// once the backend recovers. On SQLite, and on PostgreSQL when available.
func TestBackendEntityEndToEnd(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { backendEndToEnd(t) })
	t.Run("postgres", func(t *testing.T) {
		dsn, _ := storetest.PostgresDSN(t)
		backendEndToEnd(t, "--database", dsn)
	})
}

func backendEndToEnd(t *testing.T, extra ...string) {
	var down atomic.Bool
	var calls atomic.Int64
	var lastKey atomic.Value
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		lastKey.Store(r.Header.Get("X-Backend-Key"))
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("backend " + r.URL.Path))
	}))
	defer backend.Close()

	srv, _ := testServer(t, t.TempDir(), extra...)
	mg, gw := srv.urls["management"], srv.urls["gateway"]
	b := `{"url": "` + backend.URL + `/svc", "credentials": {"header": {"X-Backend-Key": ["s3cret"]}},
		"circuitBreaker": {"rules": [{"failureCondition": {"count": 2, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}]}, "tripDuration": "PT1S"}]}}`
	if st, _, body := call(t, "PUT", mg+"/backends/b1", b, srv.admin()...); st != 201 || strings.Contains(string(body), "s3cret") {
		t.Fatalf("PUT backend: %d %s", st, body)
	}
	// A missing backend is saved with a warning.
	pb, _ := json.Marshal(map[string]string{"format": "xml", "value": `<policies><inbound><base /><set-backend-service backend-id="missing" /></inbound></policies>`})
	if st, h, body := call(t, "PUT", mg+"/apis/echo-api/policies/policy", string(pb), srv.admin()...); st != 201 || !strings.Contains(h.Get("Warning"), "backend /backends/missing does not exist") {
		t.Fatalf("policy naming a missing backend: %d %q %s", st, h.Get("Warning"), body)
	}
	if st, body := putPolicy(t, srv, "/apis/echo-api/policies/policy",
		`<policies><inbound><base /><set-backend-service backend-id="b1" /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`); st != 200 {
		t.Fatalf("PUT policy: %d %s", st, body)
	}
	_, _, sb := call(t, "POST", mg+"/subscriptions/admin-unlimited/listSecrets", "", srv.admin()...)
	var sec map[string]string
	_ = json.Unmarshal(sb, &sec)
	key := sec["primaryKey"]
	get := func() (int, http.Header, string) {
		st, h, body := call(t, "GET", gw+"/echo/resource", "", "Ocp-Apim-Subscription-Key", key)
		return st, h, string(body)
	}
	if st, _, body := get(); st != 200 || body != "backend /svc/resource" || lastKey.Load() != "s3cret" {
		t.Fatalf("through the backend entity: %d %q key %v", st, body, lastKey.Load())
	}
	down.Store(true)
	get()
	get()
	before := calls.Load()
	st, h, _ := get()
	if st != 503 || h.Get("Retry-After") != "1" || calls.Load() != before {
		t.Fatalf("open circuit: %d Retry-After %q, backend called %d more", st, h.Get("Retry-After"), calls.Load()-before)
	}
	if st, _, body := call(t, "GET", mg+"/backendHealth/b1", "", srv.admin()...); st != 200 || !strings.Contains(string(body), `"state":"open"`) {
		t.Fatalf("health: %d %s", st, body)
	}
	down.Store(false)
	time.Sleep(1100 * time.Millisecond)
	if st, _, body := get(); st != 200 {
		t.Fatalf("after recovery: %d %s", st, body)
	}
	if st, _, body := call(t, "GET", mg+"/backendHealth/b1", "", srv.admin()...); st != 200 || !strings.Contains(string(body), `"state":"closed"`) {
		t.Fatalf("health after recovery: %d %s", st, body)
	}
}
