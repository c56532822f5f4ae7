package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tollgate/tollgate/internal/tracing"
)

// obsServer starts a server with metrics on their own listener and the
// access log in a JSON file, and an API "obs" (operation "get", a
// rate-limit of 2 calls) in front of backend.
func obsServer(t *testing.T, backend string, docs ...string) (*Server, string) {
	t.Helper()
	return obsServerWith(t, backend, nil, docs...)
}

func obsServerWith(t *testing.T, backend string, tr *tracing.Tracing, docs ...string) (*Server, string) {
	t.Helper()
	return obsServerEdit(t, backend, func(c *Config) { c.Tracing = tr }, docs...)
}

// obsServerEdit is obsServer with edit applied to the configuration.
func obsServerEdit(t *testing.T, backend string, edit func(*Config), docs ...string) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "access.log")
	cfg := Config{
		GatewayAddr: "127.0.0.1:0", ManagementAddr: "127.0.0.1:0", IdentityAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		DataDir: dir, Database: "sqlite://" + filepath.Join(dir, "tollgate.db"), MasterKeyFile: filepath.Join(dir, "master.key"),
		NoDefaults: true, ShutdownTimeout: 5 * time.Second, LogLevel: "info", LogFormat: "text",
		AccessLog: logFile, AccessLogFormat: "json",
		AccessTokenLifetime: time.Hour, RefreshTokenLifetime: time.Hour, SigningAlg: "RS256",
		SigningKeyRotation: 720 * time.Hour, KeyRefresh: time.Hour,
	}
	edit(&cfg)
	s, err := Start(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() })
	put := func(path, body string) { adminPut(t, s, path, body) }
	put("/apis/obs", `{"path": "obs", "serviceUrl": "`+backend+`", "subscriptionRequired": false}`)
	put("/apis/obs/operations/get", `{"method": "GET", "urlTemplate": "/*"}`)
	doc, _ := json.Marshal(map[string]string{"format": "xml", "value": `<policies><inbound><base/><rate-limit calls="2" renewal-period="60"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`})
	put("/apis/obs/policies/policy", string(doc))
	for i := 0; i+1 < len(docs); i += 2 {
		put(docs[i], docs[i+1])
	}
	return s, logFile
}

func get(t *testing.T, url string, headers ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsAfterTraffic(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	defer backend.Close()
	s, _ := obsServer(t, backend.URL)
	gw, _ := s.URL("gateway")
	for i, want := range []int{200, 200, 429} {
		if code, body := get(t, gw+"/obs/thing"); code != want {
			t.Fatalf("call %d: %d %s, want %d", i, code, body, want)
		}
	}
	for _, p := range []string{"/nowhere/1", "/nowhere/2", "/elsewhere"} {
		if code, _ := get(t, gw+p); code != 404 {
			t.Fatalf("%s: %d, want 404", p, code)
		}
	}

	mg, _ := s.URL("management")
	ml, _ := s.URL("metrics")
	code, text := get(t, mg+"/metrics") // no admin key: scrapers have none
	if code != 200 {
		t.Fatalf("GET /metrics on the management listener: %d %s", code, text)
	}
	if code, own := get(t, ml+"/metrics"); code != 200 || !strings.Contains(own, "tollgate_gateway_requests_total") {
		t.Fatalf("GET /metrics on the metrics listener: %d", code)
	}
	for _, p := range []string{"/apis", "/debug/pprof/", "/debug/pprof/heap"} {
		if code, _ := get(t, ml+p); code != 404 {
			t.Fatalf("the metrics listener serves only /metrics without --pprof, got %d for %s", code, p)
		}
	}
	for _, want := range []string{
		`tollgate_gateway_requests_total{api="obs",operation="get",product="none",reason="",status_class="2xx"} 2`,
		`tollgate_gateway_requests_total{api="obs",operation="get",product="none",reason="RateLimitExceeded",status_class="4xx"} 1`,
		// Unknown routes collapse into one series.
		`tollgate_gateway_requests_total{api="none",operation="none",product="none",reason="",status_class="4xx"} 3`,
		`tollgate_gateway_rate_limit_rejections_total{api="obs",reason="RateLimitExceeded"} 1`,
		`tollgate_gateway_policy_errors_total{api="obs",reason="RateLimitExceeded"} 1`,
		`tollgate_gateway_request_duration_seconds_count{api="obs"} 3`,
		`tollgate_gateway_request_duration_seconds_count{api="none"} 3`,
		`tollgate_gateway_backend_duration_seconds_count{api="obs"} 2`,
		`tollgate_gateway_backend_duration_seconds_bucket{api="obs",le="0.001"} 0`,
		`tollgate_jwt_validations_total{result="cached"} 0`,
		`tollgate_store_up 1`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
	// The gateway's snapshot version is the store's.
	v, err := s.store.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := `tollgate_config_version{subscriber="gateway"} ` + itoa(v); !strings.Contains(text, want) {
		t.Errorf("/metrics lacks %q", want)
	}
	if !strings.Contains(text, `tollgate_config_apply_duration_seconds_count{subscriber="gateway"}`) {
		t.Error("/metrics lacks the gateway's rebuild time")
	}
}

// TestPprofOnMetricsListener: with Pprof the metrics listener serves the
// runtime's profiles (and still /metrics), never argv; other listeners
// do not serve them.
func TestPprofOnMetricsListener(t *testing.T) {
	s, _ := obsServerEdit(t, "http://127.0.0.1:1", func(c *Config) { c.Pprof = true })
	ml, _ := s.URL("metrics")
	mg, _ := s.URL("management")
	if code, index := get(t, ml+"/debug/pprof/"); code != 200 || !strings.Contains(index, "heap") {
		t.Fatalf("GET /debug/pprof/: %d %.200s", code, index)
	}
	if code, heap := get(t, ml+"/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(heap, "heap profile:") {
		t.Fatalf("GET /debug/pprof/heap: %d %.200s", code, heap)
	}
	if code, g := get(t, ml+"/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(g, "goroutine profile:") {
		t.Fatalf("GET /debug/pprof/goroutine: %d %.200s", code, g)
	}
	if code, _ := get(t, ml+"/metrics"); code != 200 {
		t.Fatalf("GET /metrics with pprof on: %d", code)
	}
	for _, u := range []string{ml + "/debug/pprof/cmdline", ml + "/apis", mg + "/debug/pprof/"} {
		if code, _ := get(t, u); code != 404 && code != 401 {
			t.Errorf("GET %s: %d, want 404 (or 401 on the management listener)", u, code)
		}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestAccessLogFieldsAndRedaction(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("hello"))
	}))
	defer backend.Close()
	const secretKey, secretToken, bearer = "sk-5e3c7a9d1f00aa77", "tok-8b2e4c6a0d", "bearer-1a2b3c4d5e"
	s, logFile := obsServer(t, backend.URL,
		"/apis/sec", `{"path": "sec", "serviceUrl": "`+backend.URL+`"}`,
		"/apis/sec/operations/get", `{"method": "GET", "urlTemplate": "/*"}`,
		"/subscriptions/sec-sub", `{"scope": "/apis/sec", "primaryKey": "`+secretKey+`", "state": "active"}`)
	gw, _ := s.URL("gateway")
	code, _ := get(t, gw+"/sec/items/7?subscription-key="+secretKey+"&access_token="+secretToken+"&color=red",
		"Authorization", "Bearer "+bearer, "Ocp-Apim-Subscription-Key", secretKey)
	if code != 200 {
		t.Fatalf("call: %d", code)
	}
	s.Shutdown() // flushes the access log
	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{secretKey, secretToken, bearer} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the access log holds the secret %q:\n%s", secret, raw)
		}
	}
	var entry map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("access log line is not JSON: %s", sc.Text())
		}
		if m["msg"] == "request" {
			entry = m
		}
	}
	if entry == nil {
		t.Fatalf("no request entry in the access log:\n%s", raw)
	}
	want := map[string]any{
		"method": "GET", "api": "/apis/sec", "operation": "/apis/sec/operations/get", "product": "", "status": float64(200), "reason": "",
		"subscription": "/subscriptions/sec-sub", "application": "",
		"path": "/sec/items/7", "url": "/sec/items/7?access_token=xxxxx&color=red", "bytes_out": float64(5), "bytes_in": float64(0),
	}
	for k, v := range want {
		if entry[k] != v {
			t.Errorf("access log %s = %#v, want %#v", k, entry[k], v)
		}
	}
	for _, k := range []string{"request_id", "client", "latency", "backend_time"} {
		if _, ok := entry[k]; !ok {
			t.Errorf("access log lacks %s: %v", k, entry)
		}
	}
	if bt, _ := entry["backend_time"].(float64); bt <= 0 {
		t.Errorf("backend_time = %v, want above 0", entry["backend_time"])
	}
}

// TestTracesThroughTheGateway: a client's traceparent and tracestate
// continue through the gateway's spans (request, policy sections,
// send-request, backend call) to the backend, and the spans reach the
// exporter with the client's trace id and the right parents.
func TestTracesThroughTheGateway(t *testing.T) {
	const (
		traceID    = "4bf92f3577b34da6a3ce929d0e0e4736"
		clientSpan = "00f067aa0ba902b7"
	)
	type seen struct{ path, traceparent, tracestate string }
	got := make(chan seen, 4)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.Path, r.Header.Get("Traceparent"), r.Header.Get("Tracestate")}
		w.Write([]byte("ok"))
	}))
	defer backend.Close()
	exp := tracetest.NewInMemoryExporter()
	tr, err := tracing.New(context.Background(), sdktrace.WithSyncer(exp))
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]string{"format": "xml", "value": `<policies><inbound><base/>
		<send-request mode="new" response-variable-name="tok" timeout="5"><set-url>` + backend.URL + `/token</set-url></send-request>
	</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`})
	s, _ := obsServerWith(t, backend.URL, tr,
		"/apis/traced", `{"path": "traced", "serviceUrl": "`+backend.URL+`", "subscriptionRequired": false}`,
		"/apis/traced/operations/get", `{"method": "GET", "urlTemplate": "/*"}`,
		"/apis/traced/policies/policy", string(doc))
	gw, _ := s.URL("gateway")
	if code, body := get(t, gw+"/traced/x", "Traceparent", "00-"+traceID+"-"+clientSpan+"-01", "Tracestate", "vendor=abc"); code != 200 {
		t.Fatalf("call: %d %s", code, body)
	}
	received := map[string]seen{}
	for range 2 {
		select {
		case v := <-got:
			received[v.path] = v
		case <-time.After(5 * time.Second):
			t.Fatal("the backend was not called twice")
		}
	}

	spans := map[string]tracetest.SpanStub{}
	for _, sp := range exp.GetSpans() {
		if sp.SpanContext.TraceID().String() != traceID {
			t.Errorf("span %q has trace id %s, want the client's %s", sp.Name, sp.SpanContext.TraceID(), traceID)
		}
		spans[sp.Name] = sp
	}
	// The outbound section is empty here: an empty section has no span.
	for _, name := range []string{"gateway GET", "inbound", "backend", "send-request", "backend call"} {
		if _, ok := spans[name]; !ok {
			t.Fatalf("no span %q among %v", name, exp.GetSpans().Snapshots())
		}
	}
	parent := func(child, parent string) {
		if got, want := spans[child].Parent.SpanID(), spans[parent].SpanContext.SpanID(); got != want {
			t.Errorf("span %q has parent %s, want %q (%s)", child, got, parent, want)
		}
	}
	if got := spans["gateway GET"].Parent.SpanID().String(); got != clientSpan || !spans["gateway GET"].Parent.IsRemote() {
		t.Errorf("the request span's parent is %s, want the client's span %s", got, clientSpan)
	}
	parent("inbound", "gateway GET")
	parent("backend", "gateway GET")
	parent("send-request", "inbound")
	parent("backend call", "backend")
	for path, span := range map[string]string{"/x": "backend call", "/token": "send-request"} {
		want := "00-" + traceID + "-" + spans[span].SpanContext.SpanID().String() + "-01"
		if received[path].traceparent != want {
			t.Errorf("the backend's %s got traceparent %q, want %q (the %s span)", path, received[path].traceparent, want, span)
		}
	}
	if received["/x"].tracestate != "vendor=abc" {
		t.Errorf("the backend got tracestate %q, want the client's", received["/x"].tracestate)
	}
	attrs := map[string]string{}
	for _, a := range spans["gateway GET"].Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["tollgate.api"] != "/apis/traced" || attrs["http.response.status_code"] != "200" {
		t.Errorf("request span attributes: %v", attrs)
	}
}

// The proxy policy works with tracing on: the proxied backend call is a
// "backend call" span, and the proxy gets its traceparent.
func TestProxyPolicyTraced(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	got := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.RequestURI + " " + r.Header.Get("Traceparent")
		w.Write([]byte("from proxy"))
	}))
	defer proxy.Close()
	exp := tracetest.NewInMemoryExporter()
	tr, err := tracing.New(context.Background(), sdktrace.WithSyncer(exp))
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]string{"format": "xml", "value": `<policies><inbound><base/><proxy url="` + proxy.URL + `"/></inbound>
		<backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`})
	s, _ := obsServerWith(t, "http://backend.invalid", tr,
		"/apis/proxied", `{"path": "proxied", "serviceUrl": "http://backend.invalid/base", "subscriptionRequired": false}`,
		"/apis/proxied/operations/get", `{"method": "GET", "urlTemplate": "/*"}`,
		"/apis/proxied/policies/policy", string(doc))
	gw, _ := s.URL("gateway")
	if code, body := get(t, gw+"/proxied/x", "Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01"); code != 200 || body != "from proxy" {
		t.Fatalf("call: %d %s", code, body)
	}
	var seen string
	select {
	case seen = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy was not called")
	}
	var call *tracetest.SpanStub
	for _, sp := range exp.GetSpans() {
		if sp.Name == "backend call" {
			call = &sp
		}
	}
	if call == nil {
		t.Fatalf("no backend call span among %v", exp.GetSpans().Snapshots())
	}
	want := "http://backend.invalid/base/x 00-" + traceID + "-" + call.SpanContext.SpanID().String() + "-01"
	if seen != want {
		t.Errorf("the proxy got %q, want %q", seen, want)
	}
}
