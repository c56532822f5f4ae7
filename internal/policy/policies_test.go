package policy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func apiDoc(e *env, inbound, backend, outbound, onError string) error {
	return e.reload(map[string]string{"/apis/echo/policies/policy": doc(inbound, backend, outbound, onError)})
}

func mustReload(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSetHeaderExistsActions(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `
		<set-header name="X-Override" exists-action="override"><value>new</value></set-header>
		<set-header name="X-Skip" exists-action="skip"><value>new</value></set-header>
		<set-header name="X-Skip-Absent" exists-action="skip"><value>new</value></set-header>
		<set-header name="X-Append" exists-action="append"><value>b</value><value>c</value></set-header>
		<set-header name="X-Delete" exists-action="delete"/>`, "",
		`<set-header name="X-Backend" exists-action="delete"/><set-header name="X-Resp" exists-action="override"><value>@(context.Response.StatusCode.ToString())</value></set-header>`, ""))
	r := e.get("/echo/x", "X-Override", "old", "X-Skip", "old", "X-Append", "a", "X-Delete", "gone")
	h := r.header
	_ = h
	var got echoed
	if r.status != 200 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	// X-Backend was deleted from the response, so decode by hand.
	got = decodeEcho(t, r.body)
	check := map[string]string{"X-Override": "new", "X-Skip": "old", "X-Skip-Absent": "new", "X-Append": "a,b,c", "X-Delete": ""}
	for k, want := range check {
		if v := strings.Join(got.Header[k], ","); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if r.header.Get("X-Backend") != "" || r.header.Get("X-Resp") != "200" {
		t.Errorf("response headers %v", r.header)
	}
}

func TestQueryMethodVariableAndBody(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, e.reload(map[string]string{"/apis/echo/operations/post/policies/policy": doc(`<base/>
		<set-query-parameter name="add" exists-action="override"><value>1</value></set-query-parameter>
		<set-query-parameter name="drop" exists-action="delete"/>
		<set-query-parameter name="multi" exists-action="append"><value>y</value></set-query-parameter>
		<set-variable name="who" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Who&quot;, &quot;nobody&quot;))"/>
		<set-method>PUT</set-method>
		<set-body>@("hello " + (string)context.Variables["who"] + " " + context.Request.Body.As&lt;string&gt;())</set-body>`, "",
		`<set-status code="201" reason="Made"/><set-body>@(context.Response.Body.As<string>().Length.ToString())</set-body>`, "")}))
	r := e.do(http.MethodPost, "/echo/p?drop=1&multi=x&keep=k", http.Header{"X-Who": {"ann"}}, "body!")
	if r.status != 201 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	// The body is now the length of the backend's answer; fetch it again
	// without the outbound to see what the backend got.
	mustReload(t, e.reload(map[string]string{"/apis/echo/operations/post/policies/policy": doc(`<base/>
		<set-query-parameter name="add" exists-action="override"><value>1</value></set-query-parameter>
		<set-query-parameter name="drop" exists-action="delete"/>
		<set-query-parameter name="multi" exists-action="append"><value>y</value></set-query-parameter>
		<set-variable name="who" value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Who&quot;, &quot;nobody&quot;))"/>
		<set-method>PUT</set-method>
		<set-body>@("hello " + (string)context.Variables["who"] + " " + context.Request.Body.As&lt;string&gt;())</set-body>`, "", "", "")}))
	r = e.do(http.MethodPost, "/echo/p?drop=1&multi=x&keep=k", http.Header{"X-Who": {"ann"}}, "body!")
	if r.echo.Method != "PUT" || r.echo.Body != "hello ann body!" {
		t.Errorf("backend got %s %q", r.echo.Method, r.echo.Body)
	}
	// The pairs keep their order; new ones go at the end, appended ones
	// after their name's.
	if r.echo.Query != "multi=x&multi=y&keep=k&add=1" {
		t.Errorf("query %q", r.echo.Query)
	}
}

func TestRewriteURIAndBackendService(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", "yes")
		w.Header().Set("X-Other", "yes")
		backendHandler(w, r)
	}))
	defer other.Close()
	e := newEnv(t, nil)
	mustReload(t, e.reload(map[string]string{"/apis/echo/operations/get-item/policies/policy": doc(`<base/><rewrite-uri template="/v2/things/{id}?view=full" copy-unmatched-params="false"/>`, "", "", "")}))
	r := e.get("/echo/items/42?x=1")
	if r.echo.Path != "/base/v2/things/42" || r.echo.Query != "view=full" {
		t.Errorf("rewrite: %q %q", r.echo.Path, r.echo.Query)
	}
	mustReload(t, e.reload(map[string]string{"/apis/echo/operations/get-item/policies/policy": doc(`<base/><rewrite-uri template="/things/{id}"/><set-backend-service base-url="`+other.URL+`/svc"/>`, "", "", "")}))
	r = e.get("/echo/items/42?x=1")
	if r.header.Get("X-Other") != "yes" || r.echo.Path != "/svc/things/42" || r.echo.Query != "x=1" {
		t.Errorf("backend service: %v %q %q", r.header.Get("X-Other"), r.echo.Path, r.echo.Query)
	}
}

func TestForwardRequestFailures(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	e := newEnv(t, nil)
	onErr := `<set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Source + "/" + context.LastError.Reason + "/" + context.LastError.Section + "/" + context.LastError.Scope)</value></set-header>`
	mustReload(t, apiDoc(e, `<set-backend-service base-url="`+slow.URL+`"/>`, `<forward-request timeout-ms="50"/>`, "", onErr))
	r := e.get("/echo/x")
	if r.status != 504 || r.header.Get("X-Reason") != "forward-request/Timeout/backend/api" {
		t.Errorf("timeout: %d %v %s", r.status, r.header.Get("X-Reason"), r.body)
	}
	// The forward-request here is the global default one, reached
	// through <base/>.
	mustReload(t, apiDoc(e, `<set-backend-service base-url="`+closedURL+`"/>`, "", "", onErr))
	r = e.get("/echo/x")
	if r.status != 500 || r.header.Get("X-Reason") != "forward-request/BackendConnectionFailure/backend/global" {
		t.Errorf("connection failure: %d %v %s", r.status, r.header.Get("X-Reason"), r.body)
	}
}

func TestReturnAndMockResponse(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<mock-response status-code="204" content-type="text/plain"/>`, "", "", ""))
	if r := e.get("/echo/x"); r.status != 204 || r.header.Get("X-Backend") != "" {
		t.Errorf("mock: %d %v", r.status, r.header)
	}
	mustReload(t, apiDoc(e, `<send-request mode="new" response-variable-name="tok" timeout="5">
			<set-url>`+e.backend.URL+`/token</set-url><set-method>POST</set-method>
			<set-header name="X-Client" exists-action="override"><value>abc</value></set-header>
		</send-request>
		<return-response response-variable-name="tok"><set-header name="X-Extra" exists-action="override"><value>1</value></set-header></return-response>`, "", "", ""))
	r := e.get("/echo/x")
	if r.status != 200 || r.body != `{"access_token":"tok-abc"}` || r.header.Get("X-Extra") != "1" {
		t.Errorf("return-response: %d %q %v", r.status, r.body, r.header)
	}
}

func TestSendRequestTokenIntoHeader(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<send-request mode="new" response-variable-name="tok" ignore-error="false">
			<set-url>`+e.backend.URL+`/token</set-url>
			<set-header name="X-Client" exists-action="override"><value>c1</value></set-header>
		</send-request>
		<set-header name="Authorization" exists-action="override">
			<value>@("Bearer " + (string)((IResponse)context.Variables["tok"]).Body.As<JObject>()["access_token"])</value>
		</set-header>`, "", "", ""))
	r := e.get("/echo/x")
	if got := strings.Join(r.echo.Header["Authorization"], ","); got != "Bearer tok-c1" {
		t.Errorf("Authorization %q (%d %s)", got, r.status, r.body)
	}
	mustReload(t, apiDoc(e, `<send-request response-variable-name="tok" ignore-error="true"><set-url>http://127.0.0.1:1/nothing</set-url></send-request>
		<set-header name="X-Null" exists-action="override"><value>@((context.Variables["tok"] == null).ToString())</value></set-header>`, "", "", ""))
	if r := e.get("/echo/x"); strings.Join(r.echo.Header["X-Null"], "") != "True" {
		t.Errorf("ignore-error: %d %v", r.status, r.echo.Header)
	}
	mustReload(t, apiDoc(e, `<send-request response-variable-name="tok"><set-url>http://127.0.0.1:1/nothing</set-url></send-request>`, "", "", ""))
	if r := e.get("/echo/x"); r.status != 500 {
		t.Errorf("send-request failure: %d", r.status)
	}
}

func TestRetry(t *testing.T) {
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(503)
			return
		}
		_, _ = w.Write([]byte("ok:" + r.Header.Get("Content-Length")))
	}))
	defer flaky.Close()
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<set-backend-service base-url="`+flaky.URL+`"/>`,
		`<retry condition="@(context.Response.StatusCode == 503)" count="3" interval="0" first-fast-retry="true"><forward-request/></retry>`, "", ""))
	r := e.do(http.MethodPost, "/echo/x", nil, "abc")
	if r.status != 200 || r.body != "ok:3" || calls.Load() != 3 {
		t.Errorf("retry: %d %q after %d calls", r.status, r.body, calls.Load())
	}
}

func TestLimitConcurrency(t *testing.T) {
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(1)
	block := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Done()
		<-release
	}))
	defer block.Close()
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<set-backend-service base-url="`+block.URL+`"/>`,
		`<limit-concurrency key="one" max-count="1"><forward-request/></limit-concurrency>`, "", ""))
	done := make(chan result)
	go func() { done <- e.get("/echo/x") }()
	entered.Wait()
	r := e.get("/echo/x")
	close(release)
	if first := <-done; first.status != 200 {
		t.Errorf("first: %d", first.status)
	}
	if r.status != 429 {
		t.Errorf("second: %d %s", r.status, r.body)
	}
}

func TestAccessPolicies(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<ip-filter action="forbid"><address>127.0.0.1</address></ip-filter>`, "", "", ""))
	r := e.get("/echo/x")
	if code, msg := errorBody(t, r.body); r.status != 403 || code != 403 || msg != "Caller IP address 127.0.0.1 is not allowed. Access denied." {
		t.Errorf("ip-filter forbid: %d %s", r.status, r.body)
	}
	mustReload(t, apiDoc(e, `<ip-filter action="allow"><address-range from="10.0.0.1" to="10.0.0.255"/><address>192.168.0.0/16</address></ip-filter>`, "", "", ""))
	if r := e.get("/echo/x"); r.status != 403 {
		t.Errorf("ip-filter allow elsewhere: %d", r.status)
	}
	mustReload(t, apiDoc(e, `<ip-filter action="allow"><address-range from="127.0.0.0" to="127.0.0.9"/></ip-filter><authentication-basic username="u" password="p:w"/>`, "", "", ""))
	r = e.get("/echo/x")
	if r.status != 200 || strings.Join(r.echo.Header["Authorization"], "") != "Basic dTpwOnc=" {
		t.Errorf("allow + basic: %d %v", r.status, r.echo.Header["Authorization"])
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<cors allow-credentials="true">
		<allowed-origins><origin>https://app.example</origin></allowed-origins>
		<allowed-methods preflight-result-max-age="300"><method>GET</method><method>POST</method></allowed-methods>
		<allowed-headers><header>Content-Type</header><header>X-Key</header></allowed-headers>
		<expose-headers><header>X-Backend</header></expose-headers></cors>`, "", "", ""))
	// A preflight: no OPTIONS operation exists, the gateway asks Preflight.
	r := e.do(http.MethodOptions, "/echo/items/1", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"x-key"}}, "")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Access-Control-Allow-Methods") != "GET,POST" ||
		r.header.Get("Access-Control-Max-Age") != "300" || r.header.Get("Access-Control-Allow-Credentials") != "true" || r.header.Get("Access-Control-Allow-Headers") != "Content-Type,X-Key" {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
	r = e.do(http.MethodOptions, "/echo/items/1", http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}}, "")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("unmatched preflight: %d %v", r.status, r.header)
	}
	r = e.get("/echo/x", "Origin", "https://app.example")
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Access-Control-Expose-Headers") != "X-Backend" || r.header.Get("X-Backend") != "yes" {
		t.Errorf("actual request: %v", r.header)
	}
	if r = e.get("/echo/x", "Origin", "https://evil.example"); r.status != 403 {
		t.Errorf("unmatched origin: %d", r.status)
	}
}

func TestRateLimitsAndQuotas(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<rate-limit-by-key calls="2" renewal-period="60" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Client&quot;,&quot;&quot;))" remaining-calls-header-name="X-Remaining"/>`, "", "", ""))
	for i, want := range []string{"1", "0"} {
		if r := e.get("/echo/x", "X-Client", "a"); r.status != 200 || r.header.Get("X-Remaining") != want {
			t.Fatalf("call %d: %d remaining %q", i, r.status, r.header.Get("X-Remaining"))
		}
	}
	r := e.get("/echo/x", "X-Client", "a")
	code, msg := errorBody(t, r.body)
	if r.status != 429 || code != 429 || !regexp.MustCompile(`^Rate limit is exceeded\. Try again in \d+ seconds\.$`).MatchString(msg) || r.header.Get("Retry-After") == "" {
		t.Errorf("over the limit: %d %v %s", r.status, r.header, r.body)
	}
	if r := e.get("/echo/x", "X-Client", "b"); r.status != 200 {
		t.Errorf("another key: %d", r.status)
	}

	mustReload(t, apiDoc(e, `<quota-by-key calls="1" renewal-period="3600" counter-key="q"/>`, "", "", ""))
	e.get("/echo/x")
	r = e.get("/echo/x")
	code, msg = errorBody(t, r.body)
	if r.status != 403 || code != 403 || !regexp.MustCompile(`^Out of call volume quota\. Quota will be replenished in \d\d:\d\d:\d\d\.$`).MatchString(msg) {
		t.Errorf("quota-by-key: %d %s", r.status, r.body)
	}

	// Per-subscription limits with a nested operation limit (anonymous
	// calls share one counter).
	mustReload(t, apiDoc(e, `<rate-limit calls="100" renewal-period="60"><api name="echo" calls="50" renewal-period="60"><operation name="get-item" calls="1" renewal-period="60"/></api></rate-limit>`, "", "", ""))
	if r := e.get("/echo/items/1"); r.status != 200 {
		t.Fatalf("first: %d", r.status)
	}
	if r := e.get("/echo/items/2"); r.status != 429 {
		t.Errorf("operation limit: %d", r.status)
	}
	if r := e.get("/echo/other"); r.status != 200 {
		t.Errorf("other operation: %d", r.status)
	}
	mustReload(t, apiDoc(e, `<quota calls="1" renewal-period="60"/>`, "", "", ""))
	e.get("/echo/x")
	if r := e.get("/echo/x"); r.status != 403 {
		t.Errorf("quota: %d", r.status)
	}
}

func TestIncrementCondition(t *testing.T) {
	e := newEnv(t, nil)
	// Only failed calls count.
	mustReload(t, e.reload(map[string]string{"/apis/echo/policies/policy": doc(
		`<rate-limit-by-key calls="1" renewal-period="60" counter-key="k" increment-condition="@(context.Response.StatusCode &gt;= 500)"/>`, "", "", "")}))
	for i := 0; i < 3; i++ {
		if r := e.get("/echo/ok"); r.status != 200 {
			t.Fatalf("call %d: %d", i, r.status)
		}
	}
	e.get("/echo/status/503")
	if r := e.get("/echo/ok"); r.status != 429 {
		t.Errorf("after a counted failure: %d", r.status)
	}
}

func TestCacheValues(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `
		<cache-lookup-value key="@(&quot;k-&quot; + context.Request.Headers.GetValueOrDefault(&quot;X-K&quot;, &quot;&quot;))" variable-name="v" default-value="miss"/>
		<choose>
			<when condition="@(context.Request.Headers.GetValueOrDefault(&quot;X-Op&quot;, &quot;&quot;) == &quot;store&quot;)">
				<cache-store-value key="@(&quot;k-&quot; + context.Request.Headers.GetValueOrDefault(&quot;X-K&quot;, &quot;&quot;))" value="stored" duration="60"/>
			</when>
			<when condition="@(context.Request.Headers.GetValueOrDefault(&quot;X-Op&quot;, &quot;&quot;) == &quot;remove&quot;)">
				<cache-remove-value key="@(&quot;k-&quot; + context.Request.Headers.GetValueOrDefault(&quot;X-K&quot;, &quot;&quot;))"/>
			</when>
		</choose>
		<set-header name="X-V" exists-action="override"><value>@((string)context.Variables["v"])</value></set-header>`, "", "", ""))
	steps := []struct{ op, want string }{{"", "miss"}, {"store", "miss"}, {"", "stored"}, {"remove", "stored"}, {"", "miss"}}
	for i, s := range steps {
		if r := e.get("/echo/x", "X-K", "a", "X-Op", s.op); strings.Join(r.echo.Header["X-V"], "") != s.want {
			t.Errorf("step %d: %v", i, r.echo.Header["X-V"])
		}
	}
}

func TestTraceLogs(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<trace source="mine" severity="information"><message>@("hello " + context.Request.Method)</message><metadata name="k" value="v"/></trace>`, "", "", ""))
	e.get("/echo/x")
	if l := e.log.String(); !strings.Contains(l, "trace: hello GET") || !strings.Contains(l, "source=mine") || !strings.Contains(l, "k=v") {
		t.Errorf("log %q", l)
	}
}

// TestTraceOlderForm: <trace source="...">text</trace>, the form before
// <message>, which published documents still use.
func TestTraceOlderForm(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<trace source="old" severity="information">
		  plain words
		</trace><trace source="old-expr" severity="information">@("method " + context.Request.Method)</trace>`, "", "", ""))
	e.get("/echo/x")
	if l := e.log.String(); !strings.Contains(l, `"trace: plain words"`) || !strings.Contains(l, "trace: method GET") || !strings.Contains(l, "source=old-expr") {
		t.Errorf("log %q", l)
	}
	for _, bad := range []string{
		`<trace source="x">text<message>m</message></trace>`,
		`<trace source="x"/>`,
	} {
		if err := apiDoc(e, bad, "", "", ""); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// TestContextTrace: context.Trace(message) in an expression is logged as
// the trace policy's verbose output.
func TestContextTrace(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<set-variable name="x" value="@{ context.Trace(&quot;seen &quot; + context.Request.Method); return 1; }"/>`, "", "", ""))
	e.get("/echo/x")
	if l := e.log.String(); !strings.Contains(l, `"trace: seen GET"`) || !strings.Contains(l, "source=expression") {
		t.Errorf("log %q", l)
	}
}

// TestCacheValueOnError: cache-*-value and limit-concurrency run in
// on-error, as in APIM.
func TestCacheValueOnError(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<cache-store-value key="k" value="from-inbound" duration="60"/>
		<set-variable name="boom" value="@(int.Parse(&quot;x&quot;))"/>`, "", "",
		`<limit-concurrency key="k" max-count="2"><cache-lookup-value key="k" variable-name="v"/></limit-concurrency>
		<cache-remove-value key="k"/>
		<cache-lookup-value key="k" variable-name="w" default-value="gone"/>
		<return-response><set-status code="503"/>
			<set-header name="X-V" exists-action="override"><value>@((string)context.Variables["v"])</value></set-header>
			<set-header name="X-W" exists-action="override"><value>@((string)context.Variables["w"])</value></set-header>
		</return-response>`))
	r := e.get("/echo/x")
	if r.status != 503 || r.header.Get("X-V") != "from-inbound" || r.header.Get("X-W") != "gone" {
		t.Errorf("got %d %v", r.status, r.header)
	}
}

func TestPanicInPolicyIs500WithRequestID(t *testing.T) {
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc("", "", "", "")})
	// A nil Forwarder makes forward-request panic inside the pipeline;
	// drive the pipeline directly to get one.
	set, err := e.compiler.CompileSet(t.Context(), e.src.records)
	if err != nil {
		t.Fatal(err)
	}
	p := set.Pipeline("/apis/echo", "/apis/echo/operations/any", "")
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/echo/x", nil)
	p.Serve(w, req, newCall(t, e), nil)
	if w.Code != 500 || !strings.Contains(w.Body.String(), "req-1") {
		t.Errorf("got %d %s", w.Code, w.Body.String())
	}
	if !strings.Contains(e.log.String(), "panic") {
		t.Error("panic not logged")
	}
}

func decodeEcho(t *testing.T, body string) echoed {
	t.Helper()
	var e echoed
	if err := jsonUnmarshal(body, &e); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return e
}

func TestMoreErrorReasonsAndHeaders(t *testing.T) {
	e := newEnv(t, nil)
	reason := `<set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Source + "/" + context.LastError.Reason)</value></set-header>`
	mustReload(t, apiDoc(e, `<check-header name="X-Key" failed-check-httpcode="403" failed-check-error-message="bad key" ignore-case="false"><value>abc</value></check-header>`, "", "", reason))
	r := e.get("/echo/x", "X-Key", "ABC")
	if code, msg := errorBody(t, r.body); r.status != 403 || code != 403 || msg != "bad key" || r.header.Get("X-Reason") != "check-header/HeaderValueNotAllowed" {
		t.Errorf("check-header value: %d %v %s", r.status, r.header.Get("X-Reason"), r.body)
	}

	mustReload(t, apiDoc(e, "", `<forward-request fail-on-error-status-code="true"/>`, "", reason))
	if r := e.get("/echo/status/503"); r.status != 503 || r.header.Get("X-Reason") != "forward-request/BackendErrorStatusCode" {
		t.Errorf("fail-on-error-status-code: %d %v", r.status, r.header.Get("X-Reason"))
	}
	mustReload(t, apiDoc(e, "", `<forward-request/>`, "", reason))
	if r := e.get("/echo/status/503"); r.status != 503 || r.header.Get("X-Reason") != "" {
		t.Errorf("plain forward of a 503: %d %v", r.status, r.header.Get("X-Reason"))
	}

	mustReload(t, apiDoc(e, `<rate-limit-by-key calls="1" renewal-period="30" counter-key="h" retry-after-header-name="X-Wait" retry-after-variable-name="wait" remaining-calls-header-name="X-Left" total-calls-header-name="X-Total"/>`, "", "",
		reason+`<set-header name="X-Wait-Var" exists-action="override"><value>@(context.Variables.GetValueOrDefault("wait", "").ToString())</value></set-header>`))
	r = e.get("/echo/x")
	if r.status != 200 || r.header.Get("X-Left") != "0" || r.header.Get("X-Total") != "1" {
		t.Errorf("first: %d %v", r.status, r.header)
	}
	r = e.get("/echo/x")
	if r.status != 429 || r.header.Get("X-Wait") == "" || r.header.Get("Retry-After") != "" || r.header.Get("X-Wait-Var") == "" || r.header.Get("X-Reason") != "rate-limit-by-key/RateLimitExceeded" {
		t.Errorf("limited: %d %v", r.status, r.header)
	}

	mustReload(t, apiDoc(e, `<set-variable name="n" value="@(1)"/>`, "",
		`<set-status code="299" reason="Fine"/><set-header name="X-N" exists-action="override"><value>@(context.Variables["n"].ToString())</value></set-header>`, ""))
	if r := e.get("/echo/x"); r.status != 299 || r.header.Get("X-N") != "1" {
		t.Errorf("set-status: %d %v", r.status, r.header)
	}
}

func TestNoDocumentsUsesGatewayDefault(t *testing.T) {
	e := newEnv(t, nil)
	set, err := e.compiler.CompileSet(t.Context(), e.src.records)
	if err != nil {
		t.Fatal(err)
	}
	if p := set.Pipeline("/apis/echo", "/apis/echo/operations/any", "/products/open"); p != nil {
		t.Errorf("pipeline %v for no documents", p)
	}
	if r := e.get("/echo/x"); r.status != 200 || r.echo.Path != "/base/x" {
		t.Errorf("default forward: %d %q", r.status, r.echo.Path)
	}
}

func TestPreflightWithoutCORS(t *testing.T) {
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`<set-variable name="a" value="b"/>`, "", "", "")})
	r := e.do(http.MethodOptions, "/echo/items/1", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}}, "")
	if r.status != 404 {
		t.Errorf("preflight without cors: %d %s", r.status, r.body)
	}
}

// Exchanges are pooled: nothing of one request may show in the next.
func TestNoStateBetweenRequests(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<choose><when condition="@(context.Request.Headers.ContainsKey(&quot;X-Set&quot;))"><set-variable name="v" value="x"/></when></choose>
		<set-header name="X-Seen" exists-action="override"><value>@(context.Variables.ContainsKey("v").ToString())</value></set-header>`, "", "", ""))
	for i := 0; i < 5; i++ {
		if r := e.get("/echo/x", "X-Set", "1"); strings.Join(r.echo.Header["X-Seen"], "") != "True" {
			t.Fatalf("with X-Set: %v", r.echo.Header["X-Seen"])
		}
		if r := e.get("/echo/x"); strings.Join(r.echo.Header["X-Seen"], "") != "False" {
			t.Fatalf("without X-Set: %v", r.echo.Header["X-Seen"])
		}
	}
}

// TestSetQueryParameterKeepsRawQuery: set-query-parameter edits the pairs
// it names and leaves the others byte for byte: a pair Go cannot decode,
// the order, the encoding the client chose.
func TestSetQueryParameterKeepsRawQuery(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ policy, query, want string }{
		{`<set-query-parameter name="added" exists-action="override"><value>1</value></set-query-parameter>`, "x=%zz&y=%41&b=2", "x=%zz&y=%41&b=2&added=1"},
		{`<set-query-parameter name="y" exists-action="override"><value>a b</value></set-query-parameter>`, "x=%zz&y=%41&b=2&y=3", "x=%zz&y=a+b&b=2"},
		{`<set-query-parameter name="y" exists-action="delete"/>`, "z=%7e&y=1&y=2&a", "z=%7e&a"},
		{`<set-query-parameter name="q" exists-action="delete"/>`, "z=%7e&&a", "z=%7e&&a"},
		{`<set-query-parameter name="y" exists-action="skip"><value>9</value></set-query-parameter>`, "%79=%41&x=%zz", "%79=%41&x=%zz"},
		{`<set-query-parameter name="y" exists-action="append"><value>9</value></set-query-parameter>`, "y=%41&x=%zz", "y=%41&y=9&x=%zz"},
	} {
		mustReload(t, apiDoc(e, tc.policy, "", "", ""))
		r := e.get("/echo/a?" + tc.query)
		if r.status != 200 || r.echo.Query != tc.want {
			t.Errorf("%s on %q: %d %q, want %q", tc.policy, tc.query, r.status, r.echo.Query, tc.want)
		}
	}
}

// rewrite-uri and forward-request refuse a path that walks out of the
// backend's base path (the gateway's one rule, apicall.UnsafePath), also
// when it is built by an expression or a base-url from the request.
func TestPolicyPathTraversalRefused(t *testing.T) {
	var hits atomic.Int64
	decoding := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		p, _ := url.PathUnescape(r.URL.EscapedPath())
		if path.Clean(p) == "/secret.txt" {
			io.WriteString(w, "SECRET")
			return
		}
		io.WriteString(w, "public")
	}))
	defer decoding.Close()
	e := newEnv(t, nil)
	const policyID = "/apis/echo/operations/any/policies/policy"

	mustReload(t, e.reload(map[string]string{policyID: doc(`<base/><set-backend-service base-url="`+decoding.URL+`/static"/><rewrite-uri template="@(context.Request.Headers.GetValueOrDefault(&quot;X-Path&quot;,&quot;/&quot;))"/>`, "", "", "")}))
	if r := e.get("/echo/x", "X-Path", "/ok.txt"); r.status != 200 || r.body != "public" {
		t.Fatalf("control: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/%2E%2E%2Fsecret.txt", "/..%2fsecret.txt", "/../secret.txt", "/..%5Csecret.txt"} {
		r := e.get("/echo/x", "X-Path", p)
		if code, msg := errorBody(t, r.body); r.status != 400 || code != 400 || msg != "Invalid request path." {
			t.Errorf("rewrite-uri %s: %d %s", p, r.status, r.body)
		}
	}

	mustReload(t, e.reload(map[string]string{policyID: doc(`<base/><set-backend-service base-url="@(&quot;`+decoding.URL+`/static/&quot; + context.Request.Headers.GetValueOrDefault(&quot;X-Dir&quot;,&quot;&quot;))"/>`, "", "", "")}))
	if r := e.get("/echo/x", "X-Dir", "sub"); r.status != 200 || r.body != "public" {
		t.Fatalf("control: %d %s", r.status, r.body)
	}
	hits.Store(0)
	r := e.get("/echo/x", "X-Dir", "%2e%2e%2f")
	if code, _ := errorBody(t, r.body); r.status != 400 || code != 400 || strings.Contains(r.body, "SECRET") {
		t.Errorf("set-backend-service traversal: %d %s", r.status, r.body)
	}
	if hits.Load() != 0 {
		t.Errorf("backend reached %d times", hits.Load())
	}
}

// TestDocumentStatements: the statements published documents use (a
// constant-time comparison in a for loop, try/catch around a parse,
// switch, an anonymous error body) run in a policy, through the gateway.
func TestDocumentStatements(t *testing.T) {
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<set-variable name="same" value="@{
			var a = context.Request.Headers.GetValueOrDefault(&quot;X-State&quot;, &quot;&quot;);
			var b = &quot;expected&quot;;
			if (a.Length != b.Length) { return false; }
			int diff = 0;
			for (int i = 0; i &lt; a.Length; i++) { diff |= a[i] ^ b[i]; }
			return diff == 0;
		}" />
		<set-variable name="parsed" value="@{
			try { return (string)JObject.Parse(context.Request.Headers.GetValueOrDefault(&quot;X-Json&quot;, &quot;&quot;))[&quot;a&quot;]; }
			catch (JsonReaderException) { return &quot;not json&quot;; }
		}" />
		<choose>
			<when condition="@(!(bool)context.Variables[&quot;same&quot;])">
				<return-response>
					<set-status code="400" />
					<set-body>@{
						string reason;
						switch ((string)context.Variables[&quot;parsed&quot;]) {
							case &quot;not json&quot;: reason = &quot;bad json&quot;; break;
							default: reason = &quot;bad state&quot;; break;
						}
						return JsonConvert.SerializeObject(new { error = new { code = reason, parsed = (string)context.Variables[&quot;parsed&quot;] } });
					}</set-body>
				</return-response>
			</when>
		</choose>`, "", "", ""))
	if r := e.get("/echo/x", "X-State", "expected", "X-Json", `{"a":"1"}`); r.status != 200 {
		t.Errorf("matching state: %d %s", r.status, r.body)
	}
	if r := e.get("/echo/x", "X-State", "expectee", "X-Json", "{"); r.status != 400 || r.body != `{"error":{"code":"bad json","parsed":"not json"}}` {
		t.Errorf("bad state, bad json: %d %s", r.status, r.body)
	}
	if r := e.get("/echo/x", "X-State", "nope", "X-Json", `{"a":"z"}`); r.status != 400 || r.body != `{"error":{"code":"bad state","parsed":"z"}}` {
		t.Errorf("bad state: %d %s", r.status, r.body)
	}
}
