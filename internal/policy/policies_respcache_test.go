package policy_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/rediscache"
)

// cacheDoc is APIM's documented pair: cache-lookup inbound, cache-store
// outbound; an outbound header shows outbound runs on hits too.
func cacheDoc(lookupAttrs, lookupChildren, storeAttrs string) map[string]string {
	return map[string]string{"/apis/echo/policies/policy": doc(
		`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" `+lookupAttrs+`>`+lookupChildren+`</cache-lookup>`,
		"",
		`<cache-store duration="60" `+storeAttrs+`/><set-header name="X-Out" exists-action="override"><value>out</value></set-header>`, "")}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestCacheLookupStore(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnvOpts(t, policy.Options{Now: clk.now}, cacheDoc(`downstream-caching-type="public" must-revalidate="true"`,
		`<vary-by-header>Accept</vary-by-header><vary-by-query-parameter>a</vary-by-query-parameter>`, ""))
	calls := func(want int64, what string) {
		t.Helper()
		if got := e.calls.Load(); got != want {
			t.Fatalf("%s: backend calls %d, want %d", what, got, want)
		}
	}
	first := e.get("/echo/items/1?a=1")
	if first.status != 200 || first.header.Get("X-Out") != "out" {
		t.Fatalf("miss: %d %v", first.status, first.header)
	}
	if cc := first.header.Get("Cache-Control"); cc != "public, max-age=60, must-revalidate" {
		t.Errorf("miss Cache-Control %q", cc)
	}
	calls(1, "miss")
	hit := e.get("/echo/items/1?a=1&b=ignored")
	calls(1, "hit with an unlisted parameter")
	if hit.body != first.body || hit.header.Get("X-Out") != "out" || hit.header.Get("X-Backend") != "yes" {
		t.Fatalf("hit differs: %d %q %v", hit.status, hit.body, hit.header)
	}
	if cc := hit.header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
		t.Errorf("hit Cache-Control %q", cc)
	}
	e.get("/echo/items/1?a=2")
	calls(2, "another value of a listed parameter")
	e.get("/echo/items/1?a=1", "Accept", "text/plain")
	calls(3, "another Accept")
	e.get("/echo/items/2?a=1")
	calls(4, "another path")
	e.do(http.MethodPost, "/echo/items/1?a=1", nil, "x")
	e.do(http.MethodPost, "/echo/items/1?a=1", nil, "x")
	calls(6, "POST is never cached")
	e.get("/echo/items/1?a=1", "Authorization", "Bearer x")
	e.get("/echo/items/1?a=1", "Authorization", "Bearer x")
	calls(8, "a request with Authorization is not cached by default")
	e.get("/echo/status/503")
	e.get("/echo/status/503")
	calls(10, "non-200 responses are not stored")

	clk.add(61 * time.Second)
	e.get("/echo/items/1?a=1")
	calls(11, "expired")
	e.get("/echo/items/1?a=1")
	calls(11, "stored again")
}

func TestCacheLookupPrivateAndDeveloper(t *testing.T) {
	e := newEnv(t, cacheDoc(`allow-private-response-caching="@(true)" downstream-caching-type="private" must-revalidate="false"`,
		`<vary-by-header>Authorization</vary-by-header>`, `cache-response="@(context.Response.StatusCode &lt; 600)"`))
	e.get("/echo/x", "Authorization", "Bearer a")
	r := e.get("/echo/x", "Authorization", "Bearer a")
	e.get("/echo/x", "Authorization", "Bearer b")
	if n := e.calls.Load(); n != 2 {
		t.Errorf("backend calls %d, want 2 (one per Authorization value)", n)
	}
	if cc := r.header.Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") || strings.Contains(cc, "must-revalidate") {
		t.Errorf("Cache-Control %q", cc)
	}
	e.get("/echo/status/503")
	e.get("/echo/status/503")
	if n := e.calls.Load(); n != 3 {
		t.Errorf("cache-response stores a 503 too: backend calls %d, want 3", n)
	}
}

func TestCacheBoundedMemory(t *testing.T) {
	e := newEnvOpts(t, policy.Options{CacheBytes: 4000}, cacheDoc("", "", ""))
	for i := range 20 {
		e.get("/echo/items/" + string(rune('a'+i)))
	}
	e.get("/echo/items/t") // the last one stored is still there
	if n := e.calls.Load(); n != 20 {
		t.Fatalf("backend calls %d, want 20", n)
	}
	e.get("/echo/items/a") // the first one was evicted
	if n := e.calls.Load(); n != 21 {
		t.Fatalf("backend calls %d, want 21 (evicted entry fetched again)", n)
	}
}

func TestCacheLookupChecks(t *testing.T) {
	c := newCompiler()
	for _, tc := range []struct{ doc, want string }{
		{doc(`<cache-lookup vary-by-developer="false"/>`, "", "", ""), "'vary-by-developer-groups' is required"},
		{doc(`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="shared"/>`, "", "", ""), "must be one of none, private, public"},
		{doc(`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false"><vary-by-cookie>x</vary-by-cookie></cache-lookup>`, "", "", ""), "unexpected element <vary-by-cookie>"},
		{doc("", "", `<cache-lookup vary-by-developer="false" vary-by-developer-groups="false"/>`, ""), "not allowed in <outbound>"},
		{doc("", "", `<cache-store/>`, ""), "'duration' is required"},
		{doc("", "", `<cache-store duration="soon"/>`, ""), "'duration' must be an integer"},
	} {
		ps := c.CheckOffline(tc.doc, nil)
		if len(ps) == 0 || !strings.Contains(ps[0].Message, tc.want) {
			t.Errorf("%s: %v, want %q", tc.doc, ps, tc.want)
		}
	}
}

// TestCacheSharedByNodes: two gateways sharing one Redis serve each
// other's cached responses and values.
func TestCacheSharedByNodes(t *testing.T) {
	rc, prefix := testRedis(t, "tollgate-cache-test:")
	docs := cacheDoc(`caching-type="external"`, "", "")
	docs["/apis/echo/operations/post/policies/policy"] = doc(
		`<choose><when condition="@(context.Request.Headers.ContainsKey(&quot;X-V&quot;))"><cache-store-value key="@(context.Request.Body.As&lt;string&gt;(preserveContent: true))" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-V&quot;, &quot;&quot;))" duration="60"/></when></choose>`+
			`<cache-lookup-value key="@(context.Request.Body.As&lt;string&gt;(preserveContent: true))" variable-name="v" default-value="none"/>`+
			`<return-response><set-body>@((string)context.Variables["v"])</set-body></return-response>`, "", "", "")
	a := newEnvOpts(t, policy.Options{ExternalCache: rediscache.New(rc, prefix)}, docs)
	b := newEnvOpts(t, policy.Options{ExternalCache: rediscache.New(rc, prefix)}, docs)
	// Nodes behind one load balancer see the same Host.
	ra := getHost(t, a, "/echo/items/1", "api.example")
	rb := getHost(t, b, "/echo/items/1", "api.example")
	if a.calls.Load() != 1 || b.calls.Load() != 0 {
		t.Fatalf("backend calls a=%d b=%d, want 1 and 0", a.calls.Load(), b.calls.Load())
	}
	if ra.body != rb.body || rb.header.Get("X-Out") != "out" {
		t.Errorf("node b served %q, want node a's %q", rb.body, ra.body)
	}
	a.do(http.MethodPost, "/echo/v", http.Header{"X-V": {"from-a"}}, "k1")
	if r := b.do(http.MethodPost, "/echo/w", nil, "k1"); r.body != "from-a" {
		t.Errorf("node b read %q, want the value node a stored", r.body)
	}
	if r := b.do(http.MethodPost, "/echo/w", nil, "k-missing"); r.body != "none" {
		t.Errorf("missing value read %q, want the default", r.body)
	}
}

// A response too large to cache is still sent whole, and not cached.
func TestCacheStoreLargeResponse(t *testing.T) {
	e := newEnvOpts(t, policy.Options{MaxBodyBuffer: 64}, cacheDoc("", "", ""))
	r1 := e.get("/echo/items/1")
	r2 := e.get("/echo/items/1")
	if r1.status != 200 || r1.echo.Path != "/base/items/1" || r2.echo.Path != "/base/items/1" {
		t.Fatalf("large responses cut: %d %q / %q", r1.status, r1.body, r2.body)
	}
	if n := e.calls.Load(); n != 2 {
		t.Errorf("backend calls %d, want 2 (too large to cache)", n)
	}
}

// A caller naming another host gets its own entry: redirect-content-urls
// writes the host into the body, which must not reach other callers.
func TestCacheVariesByHost(t *testing.T) {
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(
		`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false"/>`, "",
		`<set-body>@(context.Api.ServiceUrl.Scheme + "://" + context.Api.ServiceUrl.Host + ":" + context.Api.ServiceUrl.Port + context.Api.ServiceUrl.Path)</set-body><redirect-content-urls/><cache-store duration="60"/>`, "")})
	evil := getHost(t, e, "/echo/x", "evil.example")
	good := e.get("/echo/x")
	if evil.body != "http://evil.example/echo" || good.body != e.srv.URL+"/echo" {
		t.Errorf("evil %q, good %q", evil.body, good.body)
	}
}

// getHost is env.get naming another Host than the listener's.
func getHost(t *testing.T, e *env, path, host string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
