package policy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/policy"
)

func TestQuotaBandwidth(t *testing.T) {
	for name, xml := range map[string]string{
		"quota":        `<quota bandwidth="2" renewal-period="3600" />`,
		"quota-by-key": `<quota-by-key bandwidth="2" renewal-period="3600" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Team&quot;,&quot;a&quot;))" />`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(xml, "", "", "")})
			big := strings.Repeat("x", 700)
			// 700 bytes in, the echo (700 and more) out: 1.4 KB+ of 2 KB.
			if res := e.do(http.MethodPost, "/echo/a", nil, big); res.status != 200 {
				t.Fatalf("first call: %d %s", res.status, res.body)
			}
			// Still under the limit when it starts: admitted, and it
			// crosses the limit.
			if res := e.do(http.MethodPost, "/echo/a", nil, big); res.status != 200 {
				t.Fatalf("second call: %d %s", res.status, res.body)
			}
			res := e.do(http.MethodPost, "/echo/a", nil, "small")
			if res.status != 403 || res.header.Get("Retry-After") == "" || !strings.Contains(res.body, "bandwidth quota") {
				t.Fatalf("over the bandwidth: %d %v %s", res.status, res.header, res.body)
			}
			if name == "quota-by-key" {
				if res := e.do(http.MethodPost, "/echo/a", http.Header{"X-Team": {"b"}}, "small"); res.status != 200 {
					t.Fatalf("another key: %d", res.status)
				}
			}
		})
	}
	// Calls and bandwidth together: either limit refuses.
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(`<quota calls="2" bandwidth="100" renewal-period="3600" />`, "", "", "")})
	for i, want := range []int{200, 200, 403} {
		if res := e.get("/echo/a"); res.status != want {
			t.Fatalf("call %d: %d", i, res.status)
		}
	}
	c := policy.NewCompiler(policy.Options{})
	// The reference pages' examples.
	for _, x := range []string{
		`<quota calls="10000" bandwidth="40000" renewal-period="3600" />`,
		`<quota-by-key calls="10000" bandwidth="40000" renewal-period="3600" increment-condition="@(context.Response.StatusCode >= 200 &amp;&amp; context.Response.StatusCode &lt; 400)" counter-key="@(context.Request.IpAddress)" />`,
	} {
		if ps := c.CheckOffline(doc(x, "", "", ""), nil); len(ps) != 0 {
			t.Errorf("%s: %v", x, ps)
		}
	}
	if ps := c.CheckOffline(doc(`<rate-limit calls="5" renewal-period="60" bandwidth="10" />`, "", "", ""), nil); len(ps) == 0 || !strings.Contains(ps[0].Message, "only allowed on quota") {
		t.Errorf("rate-limit bandwidth: %v", ps)
	}
}
