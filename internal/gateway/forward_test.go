package gateway_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/resource"
)

// openAPI is an API that needs no subscription, with one catch-all
// operation.
func openAPI(name, path, serviceURL string) []resource.Resource {
	f := false
	a := API(name, path, serviceURL)
	a.SubscriptionRequired = &f
	return []resource.Resource{a, Op(name, "all", "*", "/*")}
}

// hangGuard fails the test instead of hanging forever when something that
// must happen does not (e.g. a response that was buffered instead of
// streamed).
const hangGuard = 10 * time.Second

func TestForwardPathAndQuery(t *testing.T) {
	var got struct {
		rawPath, query, host string
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.rawPath, got.query, got.host = r.URL.EscapedPath(), r.URL.RawQuery, r.Host
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)

	for _, tc := range []struct {
		name, service, path, wantPath, wantQuery string
	}{
		{"base path", backend.URL + "/base", "/svc/x/y?a=1&b=2", "/base/x/y", "a=1&b=2"},
		{"base path with slash", backend.URL + "/base/", "/svc/x", "/base/x", ""},
		{"no base path, API root", backend.URL, "/svc", "/", ""},
		{"no base path, trailing slash kept", backend.URL, "/svc/x/", "/x/", ""},
		{"escaping kept", backend.URL + "/b", "/svc/a%2Fb/c%20d?q=%26x", "/b/a%2Fb/c%20d", "q=%26x"},
		{"API path prefix only", backend.URL + "/base", "/svc?x", "/base", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, nil, openAPI("svc", "svc", tc.service)...)
			resp, body := fx.do(t, "GET", tc.path, nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got.rawPath != tc.wantPath || got.query != tc.wantQuery {
				t.Errorf("backend got %q ? %q, want %q ? %q", got.rawPath, got.query, tc.wantPath, tc.wantQuery)
			}
			if got.host != u.Host {
				t.Errorf("backend Host %q, want %q", got.host, u.Host)
			}
		})
	}
}

// TestForwardHeaders runs with and without a request body: requests
// without one take the gateway transport's direct path, which writes the
// header block itself; both must send the same headers.
func TestForwardHeaders(t *testing.T) {
	for _, tc := range []struct {
		method, body string
		length       int64
	}{{"POST", "hello", 5}, {"GET", "", 0}, {"DELETE", "", 0}, {"PATCH", "", 0},
		{"PUT", strings.Repeat("x", 100<<10), 100 << 10}} { // over the direct path's 64 KiB
		t.Run(tc.method, func(t *testing.T) { testForwardHeaders(t, tc.method, tc.body, tc.length) })
	}
}

func testForwardHeaders(t *testing.T, method, reqBody string, length int64) {
	var got http.Header
	var gotLength int64
	var gotBody string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		gotLength = r.ContentLength
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Resp-End", "kept")
		w.Header().Set("X-Request-Id", "from-backend")
		w.WriteHeader(201)
		io.WriteString(w, "made")
	}))
	defer backend.Close()
	fx := newFixture(t, nil, openAPI("svc", "svc", backend.URL)...)

	var rd io.Reader
	if reqBody != "" {
		rd = strings.NewReader(reqBody)
	}
	req, _ := http.NewRequest(method, fx.srv.URL+"/svc/x", rd)
	req.Host = "api.example.com"
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("X-End", "kept")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header["User-Agent"] = []string{""} // the client sends none
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if resp.StatusCode != 201 || string(body) != "made" {
		t.Fatalf("response %d %q", resp.StatusCode, body)
	}
	if gotBody != reqBody || gotLength != length {
		t.Errorf("backend got body %q, length %d; want %q, %d", gotBody, gotLength, reqBody, length)
	}
	if (method == "GET") != (got.Get("Content-Length") == "") {
		t.Errorf("%s sent Content-Length %q", method, got.Get("Content-Length"))
	}
	for _, h := range []string{"Connection", "X-Hop", "Keep-Alive", "Te", "Proxy-Authorization", "Upgrade"} {
		if v, ok := got[h]; ok {
			t.Errorf("backend got hop-by-hop header %s: %v", h, v)
		}
	}
	if got.Get("X-End") != "kept" {
		t.Error("end-to-end request header lost")
	}
	if v := got.Get("X-Forwarded-For"); v != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", v)
	}
	if v := got.Get("X-Forwarded-Proto"); v != "http" {
		t.Errorf("X-Forwarded-Proto %q", v)
	}
	if v := got.Get("X-Forwarded-Host"); v != "api.example.com" {
		t.Errorf("X-Forwarded-Host %q", v)
	}
	if v, ok := got["User-Agent"]; ok {
		t.Errorf("Go's User-Agent was added: %v", v)
	}
	for _, h := range []string{"X-Resp-Hop", "Keep-Alive"} {
		if v, ok := resp.Header[h]; ok {
			t.Errorf("client got hop-by-hop header %s: %v", h, v)
		}
	}
	if resp.Header.Get("X-Resp-End") != "kept" {
		t.Error("end-to-end response header lost")
	}
	if id := resp.Header.Get("X-Request-Id"); !uuidRe.MatchString(id) {
		t.Errorf("X-Request-Id %q is not the gateway's", id)
	}
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// The client sees the first chunk of a streamed response while the backend
// is still waiting to send the rest.
func TestForwardStreamsResponse(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: second\n\n")
	}))
	defer backend.Close()
	defer close(release)
	fx := newFixture(t, nil, openAPI("svc", "svc", backend.URL)...)

	// Without streaming, not even the headers arrive before the backend
	// finishes: bound the wait.
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fx.srv.URL+"/svc/events", nil)
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("response not delivered while the backend was still sending: %v", err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 16)
	go func() {
		br := bufio.NewReader(resp.Body)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- l
		}
	}()
	select {
	case l := <-lines:
		if l != "data: first\n" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(hangGuard):
		t.Fatal("first chunk not delivered while the backend was still sending: response buffered")
	}
}

// A request body is streamed to the backend: the backend reads the first
// part while the client has not sent the rest.
func TestForwardStreamsRequestBody(t *testing.T) {
	firstSeen := make(chan struct{})
	type result struct {
		n   int64
		sum [32]byte
	}
	results := make(chan result, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, first); err != nil || string(first) != "first" {
			t.Errorf("first part %q, %v", first, err)
			return
		}
		close(firstSeen)
		h := sha256.New()
		h.Write(first)
		n, _ := io.Copy(h, r.Body)
		var sum [32]byte
		h.Sum(sum[:0])
		results <- result{n + 5, sum}
	}))
	defer backend.Close()
	fx := newFixture(t, nil, openAPI("svc", "svc", backend.URL)...)

	pr, pw := io.Pipe()
	want := sha256.New()
	go func() {
		io.WriteString(pw, "first")
		want.Write([]byte("first"))
		select {
		case <-firstSeen:
		case <-time.After(hangGuard):
			pw.CloseWithError(fmt.Errorf("backend did not get the first part: request body buffered"))
			return
		}
		chunk := strings.Repeat("x", 64<<10)
		for i := 0; i < 160; i++ { // 10 MiB
			io.WriteString(pw, chunk)
			want.Write([]byte(chunk))
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", fx.srv.URL+"/svc/upload", pr)
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := <-results
	var wantSum [32]byte
	want.Sum(wantSum[:0])
	if got.n != 5+160*64<<10 || got.sum != wantSum {
		t.Errorf("backend got %d bytes (sum match %v)", got.n, got.sum == wantSum)
	}
	if log := fx.log.String(); !strings.Contains(log, fmt.Sprintf(`"bytes_in":%d`, got.n)) {
		t.Errorf("access log lacks bytes_in %d:\n%s", got.n, log)
	}
}

func TestForwardTimeout(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	}))
	defer backend.Close()
	rs := openAPI("slow", "slow", backend.URL)
	rs[0].(*resource.API).BackendTimeout = 1
	fx := newFixture(t, nil, rs...)

	resp, body := fx.do(t, "GET", "/slow/x", nil, nil)
	if resp.StatusCode != 504 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if string(body) != `{"statusCode": 504, "message": "Backend service did not respond in time."}` {
		t.Errorf("body %s", body)
	}
}

func TestForwardConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	fx := newFixture(t, nil, openAPI("down", "down", "http://"+addr)...)

	resp, body := fx.do(t, "GET", "/down/x", nil, nil)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if string(body) != `{"statusCode": 500, "message": "Backend service could not be reached."}` {
		t.Errorf("body %s", body)
	}
	log := fx.log.String()
	if !strings.Contains(log, `"reason":"BackendConnectionFailure"`) || !strings.Contains(log, "backend call failed") {
		t.Errorf("failure not logged:\n%s", log)
	}
}

func TestEchoBackend(t *testing.T) {
	fx := newFixture(t, nil, subscriptionConfig()...)
	resp, body := fx.do(t, "POST", "/orders/resource/a?x=1&x=2",
		http.Header{"Ocp-Apim-Subscription-Key": {kProduct}, "X-Custom": {"v"}, "Content-Type": {"text/plain"}},
		strings.NewReader("hello echo"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var echo struct {
		Method, URL, Path, Body string
		Query                   map[string][]string
		Headers                 map[string][]string
	}
	if err := json.Unmarshal(body, &echo); err != nil {
		t.Fatal(err)
	}
	if echo.Method != "POST" || echo.Path != "/resource/a" || echo.URL != "/resource/a?x=1&x=2" || echo.Body != "hello echo" {
		t.Errorf("echo %+v", echo)
	}
	if strings.Join(echo.Query["x"], ",") != "1,2" {
		t.Errorf("query %v", echo.Query)
	}
	if echo.Headers["X-Custom"][0] != "v" || len(echo.Headers["X-Forwarded-For"]) != 1 {
		t.Errorf("headers %v", echo.Headers)
	}

	// A large body is cut at the bound.
	resp, body = fx.do(t, "POST", "/orders/big", http.Header{"Ocp-Apim-Subscription-Key": {kProduct}}, strings.NewReader(strings.Repeat("b", 100<<10)))
	var big struct {
		Body          string
		BodyTruncated bool
	}
	if err := json.Unmarshal(body, &big); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if len(big.Body) != 64<<10 || !big.BodyTruncated {
		t.Errorf("large body: %d bytes, truncated %v", len(big.Body), big.BodyTruncated)
	}
}

// The policy engine reaches the echo backend through the Forwarder too.
func TestForwarderEcho(t *testing.T) {
	fx := newFixture(t, nil)
	u, _ := url.Parse("tollgate://echo/some/path?q=1")
	r := httptest.NewRequest("GET", "/ignored", nil)
	resp, err := fx.gw.Forward(context.Background(), &gateway.Call{RequestID: "r1", BackendURL: u}, r, gateway.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var echo struct{ Path, URL string }
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		t.Fatal(err)
	}
	if echo.Path != "/some/path" || echo.URL != "/some/path?q=1" {
		t.Errorf("echo %+v", echo)
	}

	// ForwardOptions.Timeout overrides the call's, and errors are
	// *BackendError.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer backend.Close()
	bu, _ := url.Parse(backend.URL)
	_, err = fx.gw.Forward(context.Background(), &gateway.Call{BackendURL: bu, BackendTimeout: time.Hour}, r, gateway.ForwardOptions{Timeout: 50 * time.Millisecond})
	be, ok := err.(*gateway.BackendError)
	if !ok || !be.Timeout {
		t.Errorf("err %#v, want a timeout *BackendError", err)
	}
}

func TestForwardFollowRedirects(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		io.WriteString(w, "at "+r.URL.Path)
	}))
	defer backend.Close()
	fx := newFixture(t, nil)
	u, _ := url.Parse(backend.URL + "/old")
	r := httptest.NewRequest("GET", "/x", nil)
	for _, follow := range []bool{false, true} {
		resp, err := fx.gw.Forward(context.Background(), &gateway.Call{BackendURL: u}, r, gateway.ForwardOptions{FollowRedirects: follow})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if follow && string(b) != "at /new" || !follow && resp.StatusCode != http.StatusFound {
			t.Errorf("follow=%v: %d %q", follow, resp.StatusCode, b)
		}
	}
}

// Backend connections are kept alive and reused.
func TestForwardReusesConnections(t *testing.T) {
	var conns atomic.Int32
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	backend.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	backend.Start()
	defer backend.Close()
	fx := newFixture(t, nil, openAPI("svc", "svc", backend.URL)...)
	for range 5 {
		if resp, body := fx.do(t, "GET", "/svc/x", nil, nil); resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d backend connections for 5 sequential requests, want 1", n)
	}
}
