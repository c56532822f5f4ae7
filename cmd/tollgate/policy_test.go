package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func putPolicy(t *testing.T, s *server, path, xml string) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"format": "xml", "value": xml})
	st, _, b := call(t, "PUT", s.urls["management"]+path, string(body), s.admin()...)
	return st, b
}

// TestStarterRateLimit: the default Starter policy lets 5 calls a minute
// through and answers the 6th with APIM's 429.
func TestStarterRateLimit(t *testing.T) {
	srv, _ := testServer(t, t.TempDir())
	key := starterKey(t, srv)
	for i := 1; i <= 5; i++ {
		if st, _, b := call(t, "GET", srv.urls["gateway"]+"/echo/resource", "", "Ocp-Apim-Subscription-Key", key); st != 200 {
			t.Fatalf("call %d: %d %s", i, st, b)
		}
	}
	st, h, b := call(t, "GET", srv.urls["gateway"]+"/echo/resource", "", "Ocp-Apim-Subscription-Key", key)
	if st != 429 || h.Get("Retry-After") == "" || !strings.Contains(string(b), "Rate limit is exceeded. Try again in") {
		t.Fatalf("6th call: %d Retry-After=%q %s", st, h.Get("Retry-After"), b)
	}
	// The Unlimited subscription is not limited by Starter's policy.
	_, _, sb := call(t, "POST", srv.urls["management"]+"/subscriptions/admin-unlimited/listSecrets", "", srv.admin()...)
	var sec map[string]string
	json.Unmarshal(sb, &sec)
	if st, _, b := call(t, "GET", srv.urls["gateway"]+"/echo/resource", "", "Ocp-Apim-Subscription-Key", sec["primaryKey"]); st != 200 {
		t.Fatalf("Unlimited key: %d %s", st, b)
	}
}

// TestPolicyLifecycle: documents are checked when saved (with positions),
// a refused save leaves the previous document in force, and named values
// are substituted and recompiled when they change.
func TestPolicyLifecycle(t *testing.T) {
	srv, _ := testServer(t, t.TempDir())
	mg, gw := srv.urls["management"], srv.urls["gateway"]
	if st, _, b := call(t, "PUT", mg+"/namedValues/greeting", `{"displayName": "greeting", "value": "hello"}`, srv.admin()...); st != 201 {
		t.Fatalf("named value: %d %s", st, b)
	}
	good := `<policies>
	<inbound>
		<base />
		<return-response>
			<set-status code="200" />
			<set-header name="X-Greeting" exists-action="override"><value>{{greeting}}</value></set-header>
		</return-response>
	</inbound>
</policies>`
	if st, b := putPolicy(t, srv, "/apis/echo-api/policies/policy", good); st != 201 {
		t.Fatalf("good policy: %d %s", st, b)
	}
	// The Unlimited key: Starter's rate limit would get in the way.
	_, _, sb := call(t, "POST", mg+"/subscriptions/admin-unlimited/listSecrets", "", srv.admin()...)
	var sec map[string]string
	json.Unmarshal(sb, &sec)
	greet := func() string {
		st, h, b := call(t, "GET", gw+"/echo/resource", "", "Ocp-Apim-Subscription-Key", sec["primaryKey"])
		if st != 200 {
			t.Fatalf("call: %d %s", st, b)
		}
		return h.Get("X-Greeting")
	}
	if g := greet(); g != "hello" {
		t.Fatalf("X-Greeting = %q", g)
	}

	for name, bad := range map[string]struct{ xml, want string }{
		"unknown policy":      {"<policies>\n<inbound>\n  <no-such-policy />\n</inbound>\n</policies>", "3:"},
		"unsupported policy":  {"<policies><inbound><xsl-transform/></inbound></policies>", "not supported"},
		"bad expression":      {"<policies>\n<inbound>\n<set-header name=\"x\"><value>@(context.Reqest.Method)</value></set-header>\n</inbound>\n</policies>", "3:"},
		"missing named value": {"<policies><inbound><set-header name=\"x\"><value>{{nope}}</value></set-header></inbound></policies>", "nope"},
		"malformed":           {"<policies><inbound>", "1:"},
	} {
		st, b := putPolicy(t, srv, "/apis/echo-api/policies/policy", bad.xml)
		if st != 400 || !strings.Contains(string(b), bad.want) {
			t.Errorf("%s: %d %s (want 400 mentioning %q)", name, st, b, bad.want)
		}
	}
	if g := greet(); g != "hello" {
		t.Fatalf("after refused saves X-Greeting = %q: the previous document must stay in force", g)
	}

	// Changing the named value recompiles the document that uses it.
	if st, _, b := call(t, "PATCH", mg+"/namedValues/greeting", `{"value": "bonjour"}`, srv.admin()...); st != 200 {
		t.Fatalf("patch named value: %d %s", st, b)
	}
	if g := greet(); g != "bonjour" {
		t.Fatalf("after the named value changed X-Greeting = %q", g)
	}
	// A named value in use cannot be deleted.
	if st, _, b := call(t, "DELETE", mg+"/namedValues/greeting", "", srv.admin()...); st != 409 || !strings.Contains(string(b), "/apis/echo-api/policies/policy") {
		t.Fatalf("delete used named value: %d %s", st, b)
	}
}

// TestAccessLogNamesPolicyReason: a call ended by a policy is logged with
// the policy's reason, never with the key.
func TestAccessLogNamesPolicyReason(t *testing.T) {
	srv, out := testServer(t, t.TempDir(), "--log-level", "info")
	key := starterKey(t, srv)
	for i := 0; i < 6; i++ {
		call(t, "GET", srv.urls["gateway"]+"/echo/resource", "", "Ocp-Apim-Subscription-Key", key)
	}
	srv.shutdown() // flushes the log
	log := out.String()
	if !strings.Contains(log, "status=429 reason=RateLimitExceeded") {
		t.Errorf("no access-log line with the policy's reason:\n%s", log)
	}
	if strings.Contains(log[strings.Index(log, "msg=request"):], key) {
		t.Error("the access log shows the subscription key")
	}
}

// TestCORSPreflightWithoutKey: a browser's preflight to the Echo API (which
// needs a key and has a wildcard operation) is answered by the API's cors
// policy without a key, as APIM does.
func TestCORSPreflightWithoutKey(t *testing.T) {
	srv, _ := testServer(t, t.TempDir())
	cors := `<policies><inbound><base/><cors allow-credentials="false">
	<allowed-origins><origin>https://app.example</origin></allowed-origins>
	<allowed-methods><method>GET</method></allowed-methods>
	<allowed-headers><header>Ocp-Apim-Subscription-Key</header></allowed-headers>
</cors></inbound></policies>`
	if st, b := putPolicy(t, srv, "/apis/echo-api/policies/policy", cors); st != 201 {
		t.Fatalf("cors policy: %d %s", st, b)
	}
	st, h, b := call(t, "OPTIONS", srv.urls["gateway"]+"/echo/resource", "",
		"Origin", "https://app.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "Ocp-Apim-Subscription-Key")
	if st != 200 || h.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("preflight: %d %v %s", st, h, b)
	}
	// Another origin gets no CORS grant.
	_, h, _ = call(t, "OPTIONS", srv.urls["gateway"]+"/echo/resource", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin allowed: %v", h)
	}
}
