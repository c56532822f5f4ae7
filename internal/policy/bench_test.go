package policy_test

import (
	"context"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// cannedForwarder answers every call at once, so a benchmark measures the
// pipeline and not the network.
type cannedForwarder struct{}

func (cannedForwarder) Forward(context.Context, *gateway.Call, *http.Request, gateway.ForwardOptions) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, ContentLength: 0}, nil
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func benchPipeline(b *testing.B, apiDoc string, extra ...store.Record) {
	benchPipelineFwd(b, apiDoc, cannedForwarder{}, nil, extra...)
}

// benchPipelineFwd runs apiDoc's pipeline against fwd; prepare, when set,
// adjusts the request once (a query, headers); extra are further
// configuration records (backends, certificates).
func benchPipelineFwd(b *testing.B, apiDoc string, fwd gateway.Forwarder, prepare func(*http.Request), extra ...store.Record) {
	lim := ratelimit.NewLocal(ratelimit.LocalOptions{})
	defer lim.Close()
	c := policy.NewCompiler(policy.Options{Limiter: lim})
	recs := append([]store.Record{{ID: "/apis/echo/policies/policy", Kind: "apis/policies", Body: mustJSON(b, &resource.Policy{Format: "xml", Value: apiDoc})}}, extra...)
	set, err := c.CompileSet(context.Background(), recs)
	if err != nil {
		b.Fatal(err)
	}
	p := set.Pipeline("/apis/echo", "/apis/echo/operations/get", "")
	api := &resource.API{Meta: resource.Meta{ID: "/apis/echo", Name: "echo"}, Path: "echo", ServiceURL: "http://backend.invalid"}
	op := &resource.Operation{Meta: resource.Meta{ID: "/apis/echo/operations/get", Name: "get"}, Method: "GET", URLTemplate: "/*"}
	bu, _ := url.Parse("http://backend.invalid/x")
	req, _ := http.NewRequest(http.MethodGet, "http://gw/echo/x", nil)
	req.RemoteAddr = "10.1.2.3:5555"
	req.Header.Set("X-Api-Key", "k1")
	w := &discardWriter{h: http.Header{}}
	if prepare != nil {
		prepare(req)
	}
	call := &gateway.Call{RequestID: "r", Start: time.Now(), API: api, Operation: op, BackendURL: bu}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		clear(w.h)
		call.BackendURL = bu // set-backend-service changes it
		p.Serve(w, req, call, fwd)
	}
	// The machine is shared: CPU time per call is steadier than wall time.
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipelineForwardOnly is the baseline: a document that only
// inherits, so the chain is forward-request alone.
func BenchmarkPipelineForwardOnly(b *testing.B) {
	benchPipeline(b, `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`)
}

// BenchmarkPipelineTypicalChain adds set-header with an expression,
// rate-limit-by-key and check-header.
func BenchmarkPipelineTypicalChain(b *testing.B) {
	benchPipeline(b, `<policies><inbound><base/>
		<check-header name="X-Api-Key" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="false"><value>k1</value></check-header>
		<rate-limit-by-key calls="1000000000" renewal-period="60" counter-key="@(context.Request.IpAddress)"/>
		<set-header name="X-Caller" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("X-Api-Key", "none"))</value></set-header>
	</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`)
}

// BenchmarkCompile measures compiling that document.
func BenchmarkCompile(b *testing.B) {
	c := policy.NewCompiler(policy.Options{Limiter: ratelimit.NewLocal(ratelimit.LocalOptions{})})
	doc := `<policies><inbound><base/>
		<check-header name="X-Api-Key" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="false"><value>k1</value></check-header>
		<rate-limit-by-key calls="100" renewal-period="60" counter-key="@(context.Request.IpAddress)"/>
		<set-header name="X-Caller" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("X-Api-Key", "none"))</value></set-header>
	</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	b.ReportAllocs()
	for b.Loop() {
		if ps := c.CheckOffline(doc, map[string]string{}); len(ps) > 0 {
			b.Fatal(ps)
		}
	}
}
