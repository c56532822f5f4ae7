package policy_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/policy"
)

// TestRateLimitByKeyExpressions: calls, renewal-period and increment-count
// may be expressions (a tier's limit from a header, here), evaluated per
// request and bounded like literals.
func TestRateLimitByKeyExpressions(t *testing.T) {
	e, _ := clockedEnv(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mustReload(t, apiDoc(e, `<rate-limit-by-key
		calls="@(context.Request.Headers.GetValueOrDefault(&quot;X-Tier&quot;, &quot;&quot;) == &quot;gold&quot; ? 3 : 1)"
		renewal-period="@(30 * 2)"
		increment-count="@(context.Request.Headers.GetValueOrDefault(&quot;X-Cost&quot;, &quot;1&quot;))"
		counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Tier&quot;, &quot;&quot;) + context.Request.Headers.GetValueOrDefault(&quot;X-Who&quot;, &quot;&quot;))"
		total-calls-header-name="X-Total"/>`, "", "",
		`<base/><set-header name="X-Err" exists-action="override"><value>@(context.LastError.Message)</value></set-header>`))
	statuses := func(n int, h ...string) []int {
		var out []int
		for range n {
			out = append(out, e.get("/echo/x", h...).status)
		}
		return out
	}
	if got := statuses(4, "X-Tier", "gold", "X-Who", "a"); got[2] != 200 || got[3] != 429 {
		t.Errorf("gold: %v, want three 200s then 429", got)
	}
	if got := statuses(2, "X-Tier", "bronze", "X-Who", "a"); got[0] != 200 || got[1] != 429 {
		t.Errorf("bronze: %v, want 200 then 429", got)
	}
	if r := e.get("/echo/x", "X-Tier", "gold", "X-Who", "b"); r.header.Get("X-Total") != "3" {
		t.Errorf("total-calls header %q, want the evaluated 3", r.header.Get("X-Total"))
	}
	// A cost of 3 takes the whole gold allowance at once.
	if got := statuses(2, "X-Tier", "gold", "X-Who", "c", "X-Cost", "3"); got[0] != 200 || got[1] != 429 {
		t.Errorf("increment-count 3: %v", got)
	}
	// A result that is not an integer in range fails the request, and the
	// message names the attribute, not the value.
	for _, cost := range []string{"lots", "-1", "99999999999"} {
		r := e.get("/echo/x", "X-Tier", "gold", "X-Who", "d", "X-Cost", cost)
		msg := r.header.Get("X-Err")
		if r.status != 500 || strings.Contains(msg, cost) || !strings.Contains(msg, "attribute 'increment-count' must evaluate to an integer between 0 and 2147483647") {
			t.Errorf("cost %q: %d %q", cost, r.status, msg)
		}
	}
}

// TestIntAttributesRefused: literals are still checked when the document
// is saved; expressions compile there too.
func TestIntAttributesRefused(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ doc, want string }{
		{`<rate-limit-by-key calls="many" renewal-period="60" counter-key="k"/>`, "attribute 'calls' must be an integer"},
		{`<rate-limit-by-key calls="@(1 +)" renewal-period="60" counter-key="k"/>`, "attribute 'calls': bad expression"},
		{`<rate-limit-by-key calls="1" renewal-period="0" counter-key="k"/>`, "attribute 'renewal-period' must be between 1 and"},
		{`<send-request response-variable-name="r" timeout="0"><set-url>http://x/</set-url></send-request>`, "attribute 'timeout' must be between 1 and 3600"},
		{`<send-request response-variable-name="r" timeout="3601"><set-url>http://x/</set-url></send-request>`, "attribute 'timeout' must be between 1 and 3600"},
		{`<retry condition="@(true)" count="51" interval="0"><set-variable name="a" value="b"/></retry>`, "attribute 'count' must be between 1 and 50"},
	} {
		err := apiDoc(e, tc.doc, "", "", "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
	// Published documents use send-request timeouts over APIM's
	// forward-request advice of 240 s.
	mustReload(t, apiDoc(e, `<send-request response-variable-name="r" timeout="300" ignore-error="true"><set-url>http://127.0.0.1:1/</set-url></send-request>`, "", "", ""))
}

// TestSendRequestTimeoutExpression: the timeout is evaluated per request.
func TestSendRequestTimeoutExpression(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<send-request response-variable-name="r" ignore-error="true" timeout="@(int.Parse(context.Request.Headers.GetValueOrDefault(&quot;X-T&quot;, &quot;1&quot;)))">
			<set-url>`+slow.URL+`</set-url></send-request>
		<set-header name="X-Null" exists-action="override"><value>@((context.Variables[&quot;r&quot;] == null).ToString())</value></set-header>`, "", "", ""))
	start := time.Now()
	r := e.get("/echo/x")
	if strings.Join(r.echo.Header["X-Null"], "") != "True" || time.Since(start) > 4*time.Second {
		t.Errorf("a 1 s timeout: %d %v after %v", r.status, r.echo.Header, time.Since(start))
	}
	if r := e.get("/echo/x", "X-T", "0"); r.status != 500 {
		t.Errorf("timeout 0 from an expression: %d %s", r.status, r.body)
	}
}

// TestRetryExpressions: count and interval may be expressions.
func TestRetryExpressions(t *testing.T) {
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(503)
	}))
	defer flaky.Close()
	e := newEnv(t, nil)
	mustReload(t, apiDoc(e, `<set-backend-service base-url="`+flaky.URL+`"/>`,
		`<retry condition="@(context.Response.StatusCode == 503)" count="@(int.Parse(context.Request.Headers.GetValueOrDefault(&quot;X-N&quot;, &quot;1&quot;)))" interval="@(0)"><forward-request/></retry>`, "", ""))
	for _, n := range []int32{1, 4} {
		calls.Store(0)
		r := e.get("/echo/x", "X-N", string('0'+rune(n)))
		if r.status != 503 || calls.Load() != n+1 {
			t.Errorf("count %d: %d after %d calls, want %d", n, r.status, calls.Load(), n+1)
		}
	}
}

// TestSendRequestURLProblemOnce: a set-url whose expression is bad is one
// problem, not also "<set-url> is required".
func TestSendRequestURLProblemOnce(t *testing.T) {
	c := policy.NewCompiler(policy.Options{})
	ps := c.CheckOffline(doc(`<send-request response-variable-name="r"><set-url>@(nothing.Here)</set-url></send-request>`, "", "", ""), nil)
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "bad expression") {
		t.Errorf("problems: %v", ps)
	}
	ps = c.CheckOffline(doc(`<send-request response-variable-name="r"></send-request>`, "", "", ""), nil)
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "<set-url> is required") {
		t.Errorf("no set-url: %v", ps)
	}
}
