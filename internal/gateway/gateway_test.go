package gateway_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

func TestNotLoadedUntilSync(t *testing.T) {
	gw := gateway.New(gateway.Options{Source: &source{}, Hasher: testHasher, Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 503 || gw.Version() != 0 {
		t.Errorf("before Sync: %d, version %d", rec.Code, gw.Version())
	}
}

func TestSyncServesNewSnapshot(t *testing.T) {
	fx := newFixture(t, nil, openAPI("one", "one", resource.EchoServiceURL)...)
	if resp, _ := fx.do(t, "GET", "/two/x", nil, nil); resp.StatusCode != 404 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	fx.src.set(2, Records(t, append(openAPI("one", "one", resource.EchoServiceURL), openAPI("two", "two", resource.EchoServiceURL)...)...))
	if err := fx.gw.Sync(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	if v := fx.gw.Version(); v != 2 {
		t.Errorf("version %d", v)
	}
	if resp, body := fx.do(t, "GET", "/two/x", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("after Sync: %d %s", resp.StatusCode, body)
	}

	// Asking for a version already served reads nothing.
	calls := fx.src.calls.Load()
	if err := fx.gw.Sync(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if fx.src.calls.Load() != calls {
		t.Error("Sync to an older version rebuilt")
	}

	// A version the source does not have is an error, not a spin.
	if err := fx.gw.Sync(context.Background(), 5); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("Sync to a missing version: %v", err)
	}
}

func TestConcurrentSyncsBuildOnce(t *testing.T) {
	fx := newFixture(t, nil, openAPI("one", "one", resource.EchoServiceURL)...)
	gate := make(chan struct{})
	fx.src.mu.Lock()
	fx.src.gate = gate
	fx.src.mu.Unlock()
	fx.src.set(3, Records(t, openAPI("three", "three", resource.EchoServiceURL)...))
	before := fx.src.calls.Load()

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- fx.gw.Sync(context.Background(), 3) })
	}
	// Wait until the build is under way (blocked in All), then let it go.
	for fx.src.calls.Load() == before {
		time.Sleep(time.Millisecond)
	}
	// Give the other callers time to arrive while the build is held: a
	// Sync that built on its own would call All now.
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fx.src.calls.Load() - before; n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
	if fx.gw.Version() != 3 {
		t.Errorf("version %d", fx.gw.Version())
	}
}

func TestSyncWaiterContext(t *testing.T) {
	fx := newFixture(t, nil)
	gate := make(chan struct{})
	defer close(gate)
	fx.src.mu.Lock()
	fx.src.gate = gate
	fx.src.mu.Unlock()
	fx.src.set(2, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fx.gw.Sync(ctx, 2); err == nil {
		t.Error("Sync with a cancelled context succeeded while the build was blocked")
	}
}

func TestSyncBadRecordKeepsSnapshot(t *testing.T) {
	fx := newFixture(t, nil, openAPI("one", "one", resource.EchoServiceURL)...)
	recs := Records(t, openAPI("one", "one", resource.EchoServiceURL)...)
	recs = append(recs, store.Record{ID: "/apis/bad", Kind: "apis", Body: []byte(`{"path": 7}`)})
	fx.src.set(2, recs)
	err := fx.gw.Sync(context.Background(), 2)
	if err == nil || !strings.Contains(err.Error(), `"/apis/bad"`) {
		t.Fatalf("Sync with a bad record: %v", err)
	}
	if fx.gw.Version() != 1 {
		t.Errorf("version %d", fx.gw.Version())
	}
	if resp, _ := fx.do(t, "GET", "/one/x", nil, nil); resp.StatusCode != 200 {
		t.Errorf("old snapshot not served: %d", resp.StatusCode)
	}
}

func TestRunFollowsChanges(t *testing.T) {
	fx := newFixture(t, nil)
	changes := make(chan int64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fx.gw.Run(ctx, changes); close(done) }()

	fx.src.set(4, Records(t, openAPI("four", "four", resource.EchoServiceURL)...))
	changes <- 4
	deadline := time.Now().Add(hangGuard)
	for fx.gw.Version() != 4 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not sync to the announced version")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if resp, _ := fx.do(t, "GET", "/four/x", nil, nil); resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	cancel()
	<-done
}

func TestPanicRecovered(t *testing.T) {
	fx := newFixture(t, reporter{}, openAPI("p", "p", resource.EchoServiceURL)...)
	resp, body := fx.do(t, "GET", "/p/x", http.Header{"X-Panic": {"1"}}, nil)
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 500 || string(body) != `{"statusCode": 500, "message": "Internal server error. Request id: `+id+`"}` {
		t.Errorf("%d %s (id %s)", resp.StatusCode, body, id)
	}
	log := fx.log.String()
	if !strings.Contains(log, "gateway request panicked") || !strings.Contains(log, "test panic") || !strings.Contains(log, "goroutine") {
		t.Errorf("panic not logged with its stack:\n%s", log)
	}
}

func TestAccessLog(t *testing.T) {
	fx := newFixture(t, nil, subscriptionConfig()...)
	resp, body := fx.do(t, "POST", "/orders/x?subscription-key="+kProduct, nil, strings.NewReader("12345"))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	id := resp.Header.Get("X-Request-Id")
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(fx.log.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "request" && m["request_id"] == id {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no access log line for %s:\n%s", id, fx.log.String())
	}
	want := map[string]any{
		"method": "POST", "path": "/orders/x", "api": "/apis/orders", "operation": "/apis/orders/operations/all",
		"product": "/products/starter", "subscription": "/subscriptions/s-product",
		"status": float64(200), "bytes_in": float64(5), "bytes_out": float64(len(body)),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["latency"]; !ok {
		t.Error("no latency")
	}
	if strings.Contains(fx.log.String(), kProduct) {
		t.Error("the key was logged")
	}
}

type panickyCompiler struct{}

func (panickyCompiler) Compile(ctx context.Context, records []store.Record) (gateway.Policies, error) {
	panic("compiler bug")
}

func TestSyncBuildPanicIsAnError(t *testing.T) {
	src := &source{}
	src.set(1, nil)
	gw := gateway.New(gateway.Options{Source: src, Hasher: testHasher, Policies: panickyCompiler{}, Logger: slog.New(slog.DiscardHandler)})
	if err := gw.Sync(context.Background(), 1); err == nil || !strings.Contains(err.Error(), "compiler bug") {
		t.Errorf("Sync: %v", err)
	}
}

// The status endpoint answers 503 until a configuration is served, then
// 200, without a key and whatever the APIs are.
func TestStatusEndpoint(t *testing.T) {
	g := gateway.New(gateway.Options{Source: &source{}, Hasher: testHasher})
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", gateway.StatusPath, nil))
	if rec.Code != 503 {
		t.Fatalf("before Sync: %d", rec.Code)
	}
	if err := g.Sync(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", gateway.StatusPath, nil))
	if rec.Code != 200 {
		t.Fatalf("after Sync: %d %s", rec.Code, rec.Body)
	}
}
