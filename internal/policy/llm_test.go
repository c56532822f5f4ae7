package policy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// openAIBackend answers like an OpenAI-compatible chat completions
// endpoint, with usage of 30 prompt and 20 completion tokens; /stream
// answers as an event stream whose last event carries the usage.
func openAIBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasSuffix(r.URL.Path, "/stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n")
				fl.Flush()
			}
			fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":20,\"total_tokens\":50}}\n\ndata: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","choices":[{"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":30,"completion_tokens":20,"total_tokens":50}}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLLMTokenLimitCountsUsage(t *testing.T) {
	ai := openAIBackend(t)
	for _, name := range []string{"llm-token-limit", "azure-openai-token-limit"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(
				`<set-backend-service base-url="`+ai.URL+`" />
				 <`+name+` counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Team&quot;,&quot;&quot;))" tokens-per-minute="120" estimate-prompt-tokens="false"
				   remaining-tokens-header-name="x-remaining" remaining-tokens-variable-name="rem" tokens-consumed-header-name="x-consumed" />`, "", "", "")})
			post := func(team, path string) result {
				return e.do(http.MethodPost, "/echo/"+path, http.Header{"X-Team": {team}}, `{"messages":[{"role":"user","content":"hello"}]}`)
			}
			// 50 tokens a call: the third call starts at 100 used, the
			// fourth is refused.
			for i, want := range []string{"120", "70", "20"} {
				res := post("a", "chat")
				if res.status != 200 || res.header.Get("X-Remaining") != want || res.header.Get("X-Consumed") != "50" {
					t.Fatalf("call %d: %d remaining %q consumed %q", i, res.status, res.header.Get("X-Remaining"), res.header.Get("X-Consumed"))
				}
			}
			res := post("a", "chat")
			if res.status != 429 || res.header.Get("Retry-After") == "" || res.header.Get("X-Remaining") != "0" {
				t.Fatalf("over the limit: %d %v %s", res.status, res.header, res.body)
			}
			// Another key has its own counter; a streamed answer is counted
			// from its last usage event.
			if res := post("b", "stream"); res.status != 200 || !strings.Contains(res.body, "[DONE]") {
				t.Fatalf("stream: %d %q", res.status, res.body)
			}
			if res := post("b", "stream"); res.header.Get("X-Remaining") != "70" {
				t.Fatalf("after a streamed call: remaining %q", res.header.Get("X-Remaining"))
			}
		})
	}
}

func TestLLMTokenQuotaAndEstimate(t *testing.T) {
	ai := openAIBackend(t)
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(
		`<set-backend-service base-url="`+ai.URL+`" />
		 <llm-token-limit counter-key="k" token-quota="150" token-quota-period="Daily" estimate-prompt-tokens="true"
		   remaining-quota-tokens-header-name="x-quota-left" retry-after-variable-name="ra" />`, "", "", "")})
	long := `{"messages":[{"role":"user","content":"` + strings.Repeat("w", 400) + `"}]}`
	if res := e.do(http.MethodPost, "/echo/chat", nil, long); res.status != 200 || res.header.Get("X-Quota-Left") != "46" {
		t.Fatalf("first call: %d %v", res.status, res.header)
	}
	// The estimate (104) was counted, then corrected to the 50 used: 50 +
	// 104 does not fit in 150.
	res := e.do(http.MethodPost, "/echo/chat", nil, long)
	if res.status != 403 || res.header.Get("Retry-After") == "" {
		t.Fatalf("over the quota: %d %v %s", res.status, res.header, res.body)
	}
}

func TestLLMPolicyExamplesCompile(t *testing.T) {
	c := policy.NewCompiler(policy.Options{})
	for _, x := range []string{
		// The reference pages' examples.
		`<llm-token-limit counter-key="@(context.Subscription.Id)" tokens-per-minute="5000" estimate-prompt-tokens="false" remaining-tokens-variable-name="remainingTokens" />`,
		`<llm-token-limit counter-key="@(context.Subscription.Id)" token-quota="100000" token-quota-period="Monthly" remaining-quota-tokens-variable-name="remainingQuotaTokens" />`,
		`<azure-openai-token-limit counter-key="@(context.Subscription.Id)" tokens-per-minute="5000" estimate-prompt-tokens="false" remaining-tokens-variable-name="remainingTokens" />`,
		`<llm-emit-token-metric namespace="MyLLM"><dimension name="API ID" /><dimension name="Client IP" value="@(context.Request.IpAddress)" /></llm-emit-token-metric>`,
		`<azure-openai-emit-token-metric namespace="AzureOpenAI"><dimension name="User ID" /><dimension name="Client IP" value="@(context.Request.IpAddress)" /><dimension name="API ID" /></azure-openai-emit-token-metric>`,
	} {
		if ps := c.CheckOffline(doc(x, "", "", ""), nil); len(ps) != 0 {
			t.Errorf("%s: %v", x, ps)
		}
	}
	for x, want := range map[string]string{
		`<llm-token-limit counter-key="k" />`:                                                  "needs tokens-per-minute",
		`<llm-token-limit counter-key="k" token-quota="5" />`:                                  "token-quota-period",
		`<llm-token-limit counter-key="k" token-quota="5" token-quota-period="Fortnightly" />`: "token-quota-period",
		`<azure-openai-token-limit counter-key="k" tokens-per-minute="5" />`:                   "estimate-prompt-tokens",
		`<llm-emit-token-metric />`:                                                            "dimension",
	} {
		ps := c.CheckOffline(doc(x, "", "", ""), nil)
		if len(ps) == 0 || !strings.Contains(fmt.Sprint(ps), want) {
			t.Errorf("%s: want %q, got %v", x, want, ps)
		}
	}
}

func TestLLMEmitTokenMetricLogsUsage(t *testing.T) {
	ai := openAIBackend(t)
	e := newEnv(t, map[string]string{"/apis/echo/policies/policy": doc(
		`<set-backend-service base-url="`+ai.URL+`" /><llm-emit-token-metric namespace="llm"><dimension name="API ID" /><dimension name="Team" value="red" /></llm-emit-token-metric>`, "", "", "")})
	if res := e.do(http.MethodPost, "/echo/chat", nil, `{}`); res.status != 200 {
		t.Fatalf("call: %d", res.status)
	}
	log := e.log.String()
	for _, want := range []string{"llm token usage", "namespace=llm", "dim.API ID\"=echo", "dim.Team=red", "promptTokens=30", "completionTokens=20", "totalTokens=50"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestLLMTokenLimitSharedByNodes: two gateways whose limiters share one
// Redis count one key's tokens together, and a bandwidth quota likewise.
func TestLLMTokenLimitSharedByNodes(t *testing.T) {
	c, _ := testRedis(t, "tollgate-policy-test:")
	ai := openAIBackend(t)
	prefix := "tollgate-llm-test:" + time.Now().Format("150405.000000000") + ":"
	docs := map[string]string{"/apis/echo/policies/policy": doc(`<set-backend-service base-url="`+ai.URL+`" />
		<llm-token-limit counter-key="shared" tokens-per-minute="100" estimate-prompt-tokens="false" />`, "", "", "")}
	a := newEnvWith(t, ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: prefix}), docs)
	b := newEnvWith(t, ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: prefix}), docs)
	// 50 tokens a call: two calls (one per node) use the 100.
	if r := a.do(http.MethodPost, "/echo/chat", nil, `{}`); r.status != 200 {
		t.Fatalf("a: %d", r.status)
	}
	if r := b.do(http.MethodPost, "/echo/chat", nil, `{}`); r.status != 200 {
		t.Fatalf("b: %d", r.status)
	}
	if r := a.do(http.MethodPost, "/echo/chat", nil, `{}`); r.status != 429 {
		t.Errorf("third call across nodes: %d", r.status)
	}

	// Bandwidth: 1 KB shared; a 700-byte call on each node uses it up.
	docs = map[string]string{"/apis/echo/policies/policy": doc(`<quota-by-key bandwidth="1" renewal-period="3600" counter-key="bw" />`, "", "", "")}
	a = newEnvWith(t, ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: prefix}), docs)
	b = newEnvWith(t, ratelimit.NewRedis(c, ratelimit.RedisOptions{Prefix: prefix}), docs)
	big := strings.Repeat("x", 700)
	if r := a.do(http.MethodPost, "/echo/u", nil, big); r.status != 200 {
		t.Fatalf("bandwidth a: %d", r.status)
	}
	if r := b.do(http.MethodPost, "/echo/u", nil, "x"); r.status != 403 {
		t.Errorf("bandwidth used up on the other node: %d", r.status)
	}
}
