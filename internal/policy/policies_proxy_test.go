package policy_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestProxy: forward-request reaches the backend through the proxy the
// policy names, with its credentials.
func TestProxy(t *testing.T) {
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.RequestURI + " " + r.Header.Get("Proxy-Authorization"))
		w.Header().Set("X-Proxied", "yes")
		_, _ = io.WriteString(w, "from proxy")
	}))
	t.Cleanup(proxy.Close)
	e := newEnv(t, apiDocs(doc(`<proxy url="`+proxy.URL+`" username="@(&quot;us&quot; + &quot;er&quot;)" password="pa:ss" />`, "", "", "")))
	r := e.get("/echo/items/1")
	if r.body != "from proxy" || r.header.Get("X-Proxied") != "yes" {
		t.Fatalf("not proxied: %d %q", r.status, r.body)
	}
	got, _ := seen.Load().(string)
	want := e.backend.URL + "/base/items/1 Basic " + base64.StdEncoding.EncodeToString([]byte("user:pa:ss"))
	if got != want {
		t.Errorf("proxy saw %q, want %q", got, want)
	}
	if e.calls.Load() != 0 {
		t.Errorf("the backend was called directly")
	}
	c := newCompiler()
	if ps := c.CheckOffline(doc(`<proxy url="hostname:8080"/>`, "", "", ""), nil); len(ps) == 0 || !strings.Contains(ps[0].Message, "must be an absolute http or https URL") {
		t.Errorf("bad url: %v", ps)
	}
}

// TestSendRequestProxy: send-request with a <proxy> (the send-request
// reference page's example) reaches its URL through the proxy, with the
// proxy's credentials; a proxy with a client certificate is refused.
func TestSendRequestProxy(t *testing.T) {
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.RequestURI + " " + r.Header.Get("Proxy-Authorization"))
		_, _ = io.WriteString(w, "from proxy")
	}))
	t.Cleanup(proxy.Close)
	e := newEnv(t, apiDocs(doc(`<send-request mode="new" response-variable-name="r" timeout="5">
		<set-url>http://upstream.invalid/people</set-url>
		<set-method>GET</set-method>
		<proxy url="`+proxy.URL+`" username="user" password="@(&quot;pa:&quot; + &quot;ss&quot;)" />
	</send-request>
	<return-response><set-status code="200" reason="OK"/><set-body>@(((IResponse)context.Variables["r"]).Body.As<string>())</set-body></return-response>`, "", "", "")))
	r := e.get("/echo/items/1")
	if r.status != 200 || r.body != "from proxy" {
		t.Fatalf("not proxied: %d %q", r.status, r.body)
	}
	got, _ := seen.Load().(string)
	if want := "http://upstream.invalid/people Basic " + base64.StdEncoding.EncodeToString([]byte("user:pa:ss")); got != want {
		t.Errorf("proxy saw %q, want %q", got, want)
	}
	c := newCompiler()
	both := doc(`<send-request mode="new" response-variable-name="r"><set-url>https://a.example/</set-url><proxy url="http://p:8080"/><authentication-certificate certificate-id="c"/></send-request>`, "", "", "")
	if ps := c.CheckOffline(both, nil); len(ps) == 0 || !strings.Contains(ps[0].Message, "<proxy> together with <authentication-certificate> is not supported") {
		t.Errorf("proxy and certificate: %v", ps)
	}
}
