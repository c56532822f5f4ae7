package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// The scale of issue 2's routing target.
const (
	benchAPIs     = 10_000
	benchProducts = 100 // 100 APIs each
	benchSubs     = 100_000
	benchUsers    = 1_000
)

// benchTemplates are each API's ten operations: literal, parameter and
// wildcard templates, several methods.
var benchTemplates = []struct{ method, template string }{
	{"GET", "/items"},
	{"POST", "/items"},
	{"GET", "/items/{id}"},
	{"PUT", "/items/{id}"},
	{"DELETE", "/items/{id}"},
	{"GET", "/items/{id}/parts"},
	{"GET", "/users/{uid}/orders/{oid}"},
	{"GET", "/health"},
	{"GET", "/search?q={q}"},
	{"*", "/files/*"},
}

func benchAPIPath(i int) string { return fmt.Sprintf("team%d/api%d", i%100, i) }
func benchKey(i int) string     { return fmt.Sprintf("primary-key-%08d-xxxxxxxx", i) }

// benchRecords is the large configuration, as store records.
func benchRecords(tb testing.TB) []store.Record {
	rs := make([]resource.Resource, 0, benchAPIs*12+benchSubs+benchUsers+benchProducts)
	for p := range benchProducts {
		rs = append(rs, Product(fmt.Sprintf("product%d", p), true))
	}
	for i := range benchAPIs {
		name := fmt.Sprintf("api%d", i)
		rs = append(rs, API(name, benchAPIPath(i), resource.EchoServiceURL))
		for j, t := range benchTemplates {
			rs = append(rs, Op(name, "op"+strconv.Itoa(j), t.method, t.template))
		}
		rs = append(rs, Link(fmt.Sprintf("product%d", i%benchProducts), name))
	}
	for u := range benchUsers {
		rs = append(rs, User(fmt.Sprintf("user%d", u), "active"))
	}
	for s := range benchSubs {
		rs = append(rs, Sub(fmt.Sprintf("sub%d", s), fmt.Sprintf("/products/product%d", s%benchProducts), "active",
			fmt.Sprintf("/users/user%d", s%benchUsers), benchKey(s), fmt.Sprintf("secondary-key-%08d-xxxxxxx", s)))
	}
	return Records(tb, rs...)
}

var (
	benchOnce sync.Once
	benchGW   *gateway.Gateway
)

func largeGateway(b *testing.B) *gateway.Gateway {
	benchOnce.Do(func() {
		src := &source{}
		src.set(1, benchRecords(b))
		benchGW = gateway.New(gateway.Options{Source: src, Hasher: testHasher, Logger: slog.New(slog.DiscardHandler)})
		if err := benchGW.Sync(context.Background(), 1); err != nil {
			b.Fatal(err)
		}
		src.set(1, nil)
		runtime.GC() // not in the measurements: the records are garbage now
	})
	return benchGW
}

// benchRequests are requests to random APIs and operations, each with the
// key of a subscription to the API's product (subscription s is to product
// s%100, API i is in product i%100).
func benchRequests(n int) []*http.Request {
	paths := []struct{ method, path string }{
		{"GET", "/items"}, {"POST", "/items"}, {"GET", "/items/42"}, {"DELETE", "/items/7"},
		{"GET", "/items/9/parts"}, {"GET", "/users/u1/orders/o2"}, {"GET", "/health"},
		{"GET", "/search?q=x"}, {"PUT", "/files/a/b"},
	}
	reqs := make([]*http.Request, n)
	for k := range reqs {
		api := (k * 7919) % benchAPIs
		sub := (k*104729)%(benchSubs/benchProducts)*benchProducts + api%benchProducts
		p := paths[k%len(paths)]
		r := httptest.NewRequest(p.method, "/"+benchAPIPath(api)+p.path, nil)
		r.Header.Set("Ocp-Apim-Subscription-Key", benchKey(sub))
		reqs[k] = r
	}
	return reqs
}

// BenchmarkRouteAndKey: routing (API by longest prefix, operation by method
// and template) plus subscription key lookup, at 10,000 APIs x 10
// operations and 100,000 subscriptions. "spread" rotates through 4,096
// requests to different APIs and subscriptions (mostly cache-cold, the
// pessimistic case); "hot" repeats one request (the compute alone).
func BenchmarkRouteAndKey(b *testing.B) {
	gw := largeGateway(b)
	for _, bc := range []struct {
		name string
		n    int
	}{{"spread", 4096}, {"hot", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			reqs := benchRequests(4096)[:bc.n]
			for _, r := range reqs {
				if !gw.RouteAndKey(r) {
					b.Fatalf("%s %s refused", r.Method, r.URL)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startCPU()
			i := 0
			for b.Loop() {
				if !gw.RouteAndKey(reqs[i%bc.n]) {
					b.Fatal("refused")
				}
				i++
			}
			cpu.report(b, i)
		})
	}
}

// cpuClock measures the process's CPU time (user+system) over a loop. On
// this shared machine wall time mostly measures the other tenants; CPU
// time per operation is the figure that compares across runs.
type cpuClock struct{ start time.Duration }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{cpuTime()} }

func (c cpuClock) report(b *testing.B, n int) {
	if n > 0 {
		b.ReportMetric(float64(cpuTime()-c.start)/float64(n), "cpu-ns/op")
	}
}

// BenchmarkServeHTTP: the whole handler, echo backend, a subscription key
// in the header, at the same scale.
func BenchmarkServeHTTP(b *testing.B) {
	gw := largeGateway(b)
	reqs := benchRequests(4096)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	i := 0
	defer func() { cpu.report(b, i) }()
	for b.Loop() {
		r := reqs[i&4095]
		clear(w.h)
		w.status = 0
		gw.ServeHTTP(w, r)
		if w.status != 200 {
			b.Fatalf("status %d", w.status)
		}
		i++
	}
}

// BenchmarkServeHTTPOverhead: the whole handler with a backend that costs
// nothing (a RoundTripper answering a canned response), so what is
// measured is the gateway's own work per request: routing, key, Call,
// outbound request, response copy, access log (to a discarding handler).
func BenchmarkServeHTTPOverhead(b *testing.B) {
	f := false
	api := API("svc", "svc", "http://backend.invalid")
	api.SubscriptionRequired = &f
	src := &source{}
	src.set(1, Records(b, api, Op("svc", "get", "GET", "/items/{id}"), Op("svc", "list", "GET", "/items"),
		Product("p", true), Link("p", "svc"), User("u", "active"), Sub("s", "/products/p", "active", "/users/u", benchKey(1), "")))
	gw := gateway.New(gateway.Options{Source: src, Hasher: testHasher, Logger: slog.New(slog.DiscardHandler), Transport: cannedTransport{}})
	if err := gw.Sync(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/svc/items", "/svc/items/42"} {
		b.Run(strings.ReplaceAll(path[1:], "/", "-"), func(b *testing.B) {
			r := httptest.NewRequest("GET", path, nil)
			r.Header.Set("Ocp-Apim-Subscription-Key", benchKey(1))
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			cpu := startCPU()
			i := 0
			for b.Loop() {
				clear(w.h)
				w.status = 0
				gw.ServeHTTP(w, r)
				if w.status != 200 {
					b.Fatalf("status %d", w.status)
				}
				i++
			}
			cpu.report(b, i)
		})
	}
}

type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}},
		Body: io.NopCloser(strings.NewReader("ok")), ContentLength: 2, Request: r,
	}, nil
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return len(p), nil
}

var _ io.Writer = (*discardWriter)(nil)

// BenchmarkSnapshotBuild measures snapshot builds at the large scale.
//
// Timed: rebuilding from the same records (cpu-ns/op is the build's CPU
// time). Then, memory, with a source that produces fresh records on every
// read as a database does: the heap the records take, the heap the
// snapshot keeps once they are gone, the peak RSS of a rebuild (the old
// snapshot, the records and the new snapshot alive together: the worst
// moment of a configuration change at this scale), and the RSS after it
// once the garbage is returned to the OS. Run it with GOMEMLIMIT to see
// the effect of a memory limit.
func BenchmarkSnapshotBuild(b *testing.B) {
	recs := benchRecords(b)
	src := &source{}
	src.set(1, recs)
	gw := gateway.New(gateway.Options{Source: src, Hasher: testHasher, Logger: slog.New(slog.DiscardHandler)})
	if err := gw.Sync(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		src.set(int64(i+2), recs)
		if err := gw.Sync(context.Background(), int64(i+2)); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, b.N)
	b.StopTimer()
	src, recs, gw = nil, nil, nil

	base := liveHeap()
	fresh := freshSource{tb: b}
	if rs, _, _ := fresh.All(context.Background()); len(rs) > 0 {
		b.ReportMetric(float64(liveHeap()-base)/(1<<20), "records-MB")
		runtime.KeepAlive(rs)
	}
	gw = gateway.New(gateway.Options{Source: &fresh, Hasher: testHasher, Logger: slog.New(slog.DiscardHandler)})
	if err := gw.Sync(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(liveHeap()-base)/(1<<20), "snapshot-MB")
	debug.FreeOSMemory()
	resetPeakRSS()
	fresh.version = 2
	if err := gw.Sync(context.Background(), 2); err != nil {
		b.Fatal(err)
	}
	if rss := procStatus("VmHWM"); rss > 0 {
		b.ReportMetric(float64(rss)/1024, "rebuild-peak-rss-MB")
	}
	debug.FreeOSMemory()
	if rss := procStatus("VmRSS"); rss > 0 {
		b.ReportMetric(float64(rss)/1024, "steady-rss-MB")
	}
	// -memprofile is written after the snapshot is gone; this one shows
	// what it holds.
	if path := os.Getenv("GATEWAY_SNAPSHOT_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	runtime.KeepAlive(gw)
}

// freshSource makes the large configuration anew on every read, holding
// nothing in between, as a database does.
type freshSource struct {
	tb      testing.TB
	version int64
}

func (f *freshSource) All(ctx context.Context) ([]store.Record, int64, error) {
	return benchRecords(f.tb), max(f.version, 1), nil
}

// resetPeakRSS resets VmHWM (Linux), so it measures from here on.
func resetPeakRSS() {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	_, _ = f.WriteString("5")
	f.Close()
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// procStatus reads a kB figure from /proc/self/status (Linux).
func procStatus(field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// BenchmarkKeyLookupFloor is the least any key check costs here: one
// HMAC-SHA256 of a key and one lookup in a 200,000-entry map, with the
// same key pattern as BenchmarkRouteAndKey. Compare it with that figure
// on the same machine; on a busy shared host both move together.
func BenchmarkKeyLookupFloor(b *testing.B) {
	index := make(map[[16]byte]*int, 2*benchSubs)
	keys := make([]string, 4096)
	for s := range benchSubs {
		sum := testHasher.Sum(benchKey(s))
		index[[16]byte(sum[:16])] = new(int)
	}
	for k := range keys {
		keys[k] = benchKey((k * 104729) % benchSubs)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	i := 0
	for b.Loop() {
		sum := testHasher.Sum(keys[i&4095])
		if index[[16]byte(sum[:16])] == nil {
			b.Fatal("missing")
		}
		i++
	}
	cpu.report(b, i)
}
