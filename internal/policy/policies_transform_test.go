package policy_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func apiDocs(d string) map[string]string { return map[string]string{"/apis/echo/policies/policy": d} }

func TestFindAndReplace(t *testing.T) {
	e := newEnv(t, apiDocs(doc(`<find-and-replace from="notebook" to="laptop" />`, "",
		`<find-and-replace from="@(&quot;PO&quot; + &quot;ST&quot;)" to="PUT" />`, "")))
	r := e.do(http.MethodPost, "/echo/x", nil, "a notebook and a notebook")
	if !strings.Contains(r.body, `"method":"PUT"`) {
		t.Errorf("outbound replacement: %s", r.body)
	}
	var got echoed
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Body != "a laptop and a laptop" {
		t.Errorf("inbound replacement: backend got %q", got.Body)
	}
}

func TestJSONP(t *testing.T) {
	e := newEnv(t, apiDocs(doc("", "", `<jsonp callback-parameter-name="cb" />`, "")))
	r := e.get("/echo/x?cb=jQuery_1.done")
	if !strings.HasPrefix(r.body, "jQuery_1.done({") || !strings.HasSuffix(r.body, "}\n)") ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/javascript") {
		t.Errorf("jsonp: %q %v", r.body, r.header)
	}
	if r := e.get("/echo/x"); !strings.HasPrefix(r.body, "{") {
		t.Errorf("without the parameter the body is unchanged: %q", r.body)
	}
	r = e.get("/echo/x?cb=alert(document.cookie)//")
	if code, msg := errorBody(t, r.body); r.status != 400 || code != 400 || !strings.Contains(msg, "callback") {
		t.Errorf("bad callback: %d %q", r.status, r.body)
	}
}

func TestRedirectContentURLs(t *testing.T) {
	e := newEnv(t, apiDocs(doc(`<redirect-content-urls />`, "",
		`<set-body>@(&quot;see &quot; + context.Api.ServiceUrl.Scheme + &quot;://&quot; + context.Api.ServiceUrl.Host + &quot;:&quot; + context.Api.ServiceUrl.Port + context.Api.ServiceUrl.Path + &quot;/items/1&quot;)</set-body><redirect-content-urls />`, "")))
	r := e.get("/echo/x")
	if want := "see " + e.srv.URL + "/echo/items/1"; r.body != want {
		t.Errorf("outbound: %q, want %q", r.body, want)
	}
	e2 := newEnv(t, apiDocs(doc(`<redirect-content-urls />`, "", "", "")))
	r = e2.do(http.MethodPost, "/echo/x", nil, "link "+e2.srv.URL+"/echo/items/2")
	var got echoed
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if want := "link " + e2.backend.URL + "/base/items/2"; got.Body != want {
		t.Errorf("inbound: backend got %q, want %q", got.Body, want)
	}
}

// The json-to-xml reference page's example.
func TestJSONToXML(t *testing.T) {
	body := `{"soapenv:Envelope":{"xmlns:soapenv":"http://schemas.xmlsoap.org/soap/envelope/","xmlns:v1":"http://localdomain.com/core/v1","soapenv:Header":{},"soapenv:Body":{"v1:QueryList":{"#attrs":{"queryName":"test"},"v1:QueryItem":{"name":"dummy text"}}}}}`
	e := newEnv(t, apiDocs(doc("", "", `<set-body>`+strings.ReplaceAll(body, `"`, "&quot;")+`</set-body>
		<json-to-xml apply="always" consider-accept-header="false" parse-date="false" namespace-separator=":" namespace-prefix="xmlns" attribute-block-name="#attrs" />`, "")))
	r := e.get("/echo/x")
	want := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:v1="http://localdomain.com/core/v1"><soapenv:Header /><soapenv:Body><v1:QueryList queryName="test"><v1:QueryItem><name>dummy text</name></v1:QueryItem></v1:QueryList></soapenv:Body></soapenv:Envelope>`
	if r.body != want || r.header.Get("Content-Type") != "application/xml" {
		t.Errorf("got %q (%s)\nwant %q", r.body, r.header.Get("Content-Type"), want)
	}

	e = newEnv(t, apiDocs(doc("", "", `<json-to-xml apply="content-type-json" />`, "")))
	if r := e.get("/echo/x", "Accept", "application/json"); !strings.HasPrefix(r.body, "{") {
		t.Errorf("the caller accepts JSON only: converted anyway: %q", r.body)
	}
	r = e.get("/echo/x", "Accept", "application/xml")
	if !strings.HasPrefix(r.body, "<Document><method>GET</method><path>/base/x</path>") || !strings.Contains(r.body, "<body></body>") {
		t.Errorf("converted: %q", r.body)
	}
}

func TestXMLToJSON(t *testing.T) {
	e := newEnv(t, apiDocs(doc(`<xml-to-json kind="direct" apply="content-type-xml" consider-accept-header="false" />`, "",
		`<set-body>&lt;r a="1"&gt;&lt;i&gt;x&lt;/i&gt;&lt;i&gt;y&lt;/i&gt;&lt;n&gt;t&lt;b/&gt;&lt;/n&gt;&lt;/r&gt;</set-body>`+
			`<xml-to-json kind="javascript-friendly" apply="always" always-array-child-elements="true" />`, "")))
	r := e.do(http.MethodPost, "/echo/x", http.Header{"Content-Type": {"application/xml"}, "Accept": {"application/json"}},
		`<?xml version="1.0"?><order id="7" xmlns="urn:x"><item>a</item><item>b</item><note>hi</note></order>`)
	if r.body != `{"r":{"a":"1","i":["x","y"],"n":[{"b":[null],"#text":"t"}]}}` || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("outbound javascript-friendly: %q", r.body)
	}
	// The backend got the request converted (kind direct).
	e2 := newEnv(t, apiDocs(doc(`<xml-to-json kind="direct" apply="content-type-xml" consider-accept-header="false" />`, "", "", "")))
	r = e2.do(http.MethodPost, "/echo/x", http.Header{"Content-Type": {"application/xml"}},
		`<?xml version="1.0"?><order id="7" xmlns="urn:x"><item>a</item><item>b</item><note>hi</note></order>`)
	var got echoed
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Body != `{"order":{"@id":"7","item":["a","b"],"note":"hi"}}` || got.Header["Content-Type"][0] != "application/json" {
		t.Errorf("inbound direct: %q %v", got.Body, got.Header["Content-Type"])
	}
	r = e2.do(http.MethodPost, "/echo/x", http.Header{"Content-Type": {"application/xml"}}, `<order><unclosed></order>`)
	if r.status != 500 || !strings.Contains(e2.log.String(), "") {
		t.Errorf("bad XML: %d %q", r.status, r.body)
	}
	if r := e2.do(http.MethodPost, "/echo/x", http.Header{"Content-Type": {"application/json"}}, `<a/>`); r.status != 200 {
		t.Errorf("apply=content-type-xml leaves JSON alone: %d", r.status)
	}
}

func TestEmitMetric(t *testing.T) {
	e := newEnv(t, apiDocs(doc(`<emit-metric name="Request" value="1" namespace="my-metrics">
        <dimension name="User ID" />
        <dimension name="Client IP" value="@(context.Request.IpAddress)" />
        <dimension name="API ID" />
        <dimension name="Operation ID" />
        <dimension name="Custom dimension" value="@(context.Request.Headers.GetValueOrDefault(&quot;Custom-Header&quot;, &quot;N/A&quot;))" />
    </emit-metric><emit-metric name="Size" value="@(2.5)"><dimension name="API ID"/></emit-metric>`, "", "", "")))
	e.get("/echo/items/1")
	e.get("/echo/items/2")
	e.get("/echo/items/3", "Custom-Header", "x")
	series, dropped := e.compiler.Metrics().Snapshot()
	if dropped != 0 || len(series) != 3 {
		t.Fatalf("series %+v dropped %d", series, dropped)
	}
	var na, size bool
	for _, s := range series {
		switch {
		case s.Name == "Request" && s.Dimensions[4].Value == "N/A":
			na = s.Count == 2 && s.Sum == 2 && s.Namespace == "my-metrics" && s.Dimensions[2].Value == "echo" &&
				s.Dimensions[3].Value == "get-item" && s.Dimensions[1].Value == "127.0.0.1"
		case s.Name == "Size":
			size = s.Count == 3 && s.Sum == 7.5 && s.Namespace == "API Management"
		}
	}
	if !na || !size {
		t.Errorf("series %+v", series)
	}
	c := newCompiler()
	if ps := c.CheckOffline(doc(`<emit-metric name="m"><dimension name="mine"/></emit-metric>`, "", "", ""), nil); len(ps) == 0 || !strings.Contains(ps[0].Message, "needs a value") {
		t.Errorf("custom dimension without a value: %v", ps)
	}
	if ps := c.CheckOffline(doc(`<emit-metric name="m"/>`, "", "", ""), nil); len(ps) == 0 || !strings.Contains(ps[0].Message, "at least one <dimension>") {
		t.Errorf("no dimension: %v", ps)
	}
}

func TestSendOneWayRequestAndWait(t *testing.T) {
	e := newEnv(t, nil)
	url := e.backend.URL + "/hook"
	mustReload(t, e.reload(apiDocs(doc(`<wait for="all">
		<send-request mode="new" response-variable-name="one" timeout="5"><set-url>`+url+`/1</set-url></send-request>
		<choose><when condition="@(true)"><send-request mode="new" response-variable-name="two" timeout="5"><set-url>`+url+`/2</set-url></send-request></when></choose>
	</wait>`, "", `<send-one-way-request mode="new" timeout="20">
		<set-url>`+url+`</set-url><set-method>POST</set-method>
		<set-body>@(&quot;status &quot; + context.Response.StatusCode)</set-body>
	</send-one-way-request>
	<set-header name="X-Both" exists-action="override"><value>@(((IResponse)context.Variables[&quot;one&quot;]).StatusCode + &quot;/&quot; + ((IResponse)context.Variables[&quot;two&quot;]).StatusCode)</value></set-header>`, ""))))
	r := e.get("/echo/x")
	if r.status != 200 || r.header.Get("X-Both") != "200/200" {
		t.Fatalf("wait: %d %v", r.status, r.header)
	}
	// 2 send-requests, the forwarded call, and the one-way request.
	deadline := time.Now().Add(5 * time.Second)
	for e.calls.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := e.calls.Load(); n != 4 {
		t.Errorf("backend calls %d, want 4", n)
	}
	c := newCompiler()
	if ps := c.CheckOffline(doc(`<wait><set-header name="a" exists-action="override"><value>b</value></set-header></wait>`, "", "", ""), nil); len(ps) == 0 || !strings.Contains(ps[0].Message, "unexpected element <set-header>") {
		t.Errorf("wait with another policy: %v", ps)
	}
}

// TestWaitParallel: wait's send-request calls run at once (each backend
// call below answers only once the other has arrived), and for="any"
// keeps the first answer and cancels the rest.
func TestWaitParallel(t *testing.T) {
	var mu sync.Mutex
	arrived := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{}), "never": make(chan struct{})}
	cancelled := make(chan struct{}, 1)
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		switch name {
		case "a", "b":
			mu.Lock()
			close(arrived[name])
			mu.Unlock()
			other := map[string]string{"a": "b", "b": "a"}[name]
			select {
			case <-arrived[other]:
				w.WriteHeader(200)
			case <-time.After(5 * time.Second):
				w.WriteHeader(504)
			}
		case "fast":
			// Only once the slow call is in flight: a call cancelled
			// before it was sent never reaches the peer to be seen.
			select {
			case <-arrived["never"]:
			case <-time.After(5 * time.Second):
			}
			w.WriteHeader(201)
		case "never":
			close(arrived["never"])
			select {
			case <-r.Context().Done():
				cancelled <- struct{}{}
			case <-time.After(10 * time.Second):
			}
		}
	}))
	t.Cleanup(peer.Close)
	sr := func(v, path string) string {
		return `<send-request mode="new" response-variable-name="` + v + `" timeout="20"><set-url>` + peer.URL + path + `</set-url></send-request>`
	}
	status := `<set-header name="X-Got" exists-action="override"><value>@(string.Join(",", new string[] {
		context.Variables.ContainsKey("a") ? ((IResponse)context.Variables["a"]).StatusCode.ToString() : "-",
		context.Variables.ContainsKey("b") ? ((IResponse)context.Variables["b"]).StatusCode.ToString() : "-"}))</value></set-header>`
	e := newEnv(t, apiDocs(doc(`<wait for="all">`+sr("a", "/a")+sr("b", "/b")+`</wait>`, "", status, "")))
	if r := e.get("/echo/x"); r.header.Get("X-Got") != "200,200" {
		t.Errorf("for=all: %d %q %s", r.status, r.header.Get("X-Got"), r.body)
	}
	e = newEnv(t, apiDocs(doc(`<wait for="any">`+sr("a", "/never")+sr("b", "/fast")+`</wait>`, "", status, "")))
	if r := e.get("/echo/x"); r.header.Get("X-Got") != "-,201" {
		t.Errorf("for=any: %d %q %s", r.status, r.header.Get("X-Got"), r.body)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Error("the slower call was not cancelled")
	}
}
