package policy_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// source is an in-memory configuration source for the gateway.
type source struct {
	mu      sync.Mutex
	records []store.Record
	version int64
}

func (s *source) All(context.Context) ([]store.Record, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.Record(nil), s.records...), s.version, nil
}

// echoed is what the test backend answers: what it received.
type echoed struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
}

// env is a real gateway with the policy compiler, in front of a real
// backend that echoes requests.
type env struct {
	t        testing.TB
	src      *source
	gw       *gateway.Gateway
	srv      *httptest.Server
	backend  *httptest.Server
	compiler *policy.Compiler
	base     []store.Record
	log      *syncBuffer
	// calls counts the requests the backend received.
	calls atomic.Int64
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func backendHandler(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/status/503"):
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case strings.HasSuffix(r.URL.Path, "/token"):
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"tok-`+r.Header.Get("X-Client")+`"}`)
		return
	}
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Backend", "yes")
	_ = json.NewEncoder(w).Encode(echoed{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header, Body: string(b)})
}

// newEnv builds the configuration: API "echo" at /echo (open, in the open
// product "open"), operations get-item (GET /items/{id}), any (GET /*),
// post (POST /*); docs maps policy record ids to XML.
func newEnv(t testing.TB, docs map[string]string, extra ...store.Record) *env {
	t.Helper()
	lim := ratelimit.NewLocal(ratelimit.LocalOptions{})
	t.Cleanup(func() { _ = lim.Close() })
	return newEnvWith(t, lim, docs, extra...)
}

// newEnvWith is newEnv with a given limiter (Redis, shared by "nodes").
func newEnvWith(t testing.TB, lim ratelimit.Limiter, docs map[string]string, extra ...store.Record) *env {
	t.Helper()
	return newEnvOpts(t, policy.Options{Limiter: lim}, docs, extra...)
}

// newEnvOptions is newEnv with the compiler's options adjusted by set.
func newEnvOptions(t testing.TB, set func(*policy.Options), docs map[string]string, extra ...store.Record) *env {
	t.Helper()
	var opts policy.Options
	set(&opts)
	return newEnvOpts(t, opts, docs, extra...)
}

// newEnvClock is newEnv with the policy engine's clock.
func newEnvClock(t testing.TB, now func() time.Time, docs map[string]string, extra ...store.Record) *env {
	t.Helper()
	return newEnvOpts(t, policy.Options{Now: now}, docs, extra...)
}

// newEnvOpts is newEnv with compiler options (a limiter, an external
// cache); the test's keyring, client and logger are filled in.
func newEnvOpts(t testing.TB, opts policy.Options, docs map[string]string, extra ...store.Record) *env {
	t.Helper()
	e := &env{t: t, src: &source{}, log: &syncBuffer{}}
	e.backend = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		backendHandler(w, r)
	}))
	t.Cleanup(e.backend.Close)
	kr := testKeyring(t)
	if opts.Limiter == nil {
		lim := ratelimit.NewLocal(ratelimit.LocalOptions{})
		t.Cleanup(func() { _ = lim.Close() })
		opts.Limiter = lim
	}
	opts.Open = kr.Open
	if opts.HTTPClient == nil {
		opts.HTTPClient = e.backend.Client()
	}
	opts.Logger = slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.compiler = policy.NewCompiler(opts)
	no := false
	e.base = []store.Record{
		rec(t, "/apis/echo", "apis", &resource.API{Path: "echo", ServiceURL: e.backend.URL + "/base", SubscriptionRequired: &no}),
		rec(t, "/apis/echo/operations/get-item", "apis/operations", &resource.Operation{Method: "GET", URLTemplate: "/items/{id}"}),
		rec(t, "/apis/echo/operations/any", "apis/operations", &resource.Operation{Method: "GET", URLTemplate: "/*"}),
		rec(t, "/apis/echo/operations/post", "apis/operations", &resource.Operation{Method: "POST", URLTemplate: "/*"}),
		rec(t, "/products/open", "products", &resource.Product{SubscriptionRequired: &no, State: "published"}),
		rec(t, "/products/open/apis/echo", "products/apis", &resource.ProductAPI{}),
	}
	e.src.records = append(append(append([]store.Record(nil), e.base...), policyRecords(t, docs)...), extra...)
	e.src.version = 1
	e.gw = gateway.New(gateway.Options{Source: e.src, Hasher: keyring.NewHasher([]byte("policy test")), Policies: e.compiler,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := e.gw.Sync(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.gw)
	t.Cleanup(e.srv.Close)
	return e
}

// reload replaces the policy documents and extra records, as a new
// configuration version.
func (e *env) reload(docs map[string]string, extra ...store.Record) error {
	e.src.mu.Lock()
	e.src.records = append(append(append([]store.Record(nil), e.base...), policyRecords(e.t, docs)...), extra...)
	e.src.version++
	v := e.src.version
	e.src.mu.Unlock()
	return e.gw.Sync(context.Background(), v)
}

func policyRecords(t testing.TB, docs map[string]string) []store.Record {
	var out []store.Record
	for id, xml := range docs {
		kind := "policies"
		switch {
		case strings.Contains(id, "/operations/"):
			kind = "apis/operations/policies"
		case strings.HasPrefix(id, "/apis/"):
			kind = "apis/policies"
		case strings.HasPrefix(id, "/products/"):
			kind = "products/policies"
		}
		out = append(out, rec(t, id, kind, &resource.Policy{Format: "rawxml", Value: xml}))
	}
	return out
}

func rec(t testing.TB, id, kind string, r resource.Resource) store.Record {
	t.Helper()
	resource.SetMeta(r, id)
	r.Normalize()
	if errs := r.Validate(); len(errs) > 0 {
		t.Fatalf("%s: %v", id, errs)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	parent := ""
	if i := strings.LastIndex(id[:strings.LastIndexByte(id, '/')], "/"); i > 0 && strings.Count(id, "/") > 2 {
		parent = id[:i]
	}
	return store.Record{ID: id, Kind: kind, Parent: parent, Body: b, ETag: "1"}
}

func namedValue(t testing.TB, kr *keyring.Keyring, name, value string, secret bool) store.Record {
	t.Helper()
	nv := &resource.NamedValue{Value: value, Secret: secret}
	id := "/namedValues/" + name
	if secret {
		s, err := kr.Seal([]byte(value), []byte(id))
		if err != nil {
			t.Fatal(err)
		}
		nv.Value = s
	}
	return rec(t, id, "namedValues", nv)
}

func fragment(t testing.TB, name, xml string) store.Record {
	return rec(t, "/policyFragments/"+name, "policyFragments", &resource.PolicyFragment{Value: xml})
}

var (
	keyringOnce sync.Once
	sharedKR    *keyring.Keyring
)

func testKeyring(t testing.TB) *keyring.Keyring {
	keyringOnce.Do(func() {
		kek, err := keyring.NewLocalKEK([]byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		sharedKR = keyring.New(kek)
	})
	return sharedKR
}

type result struct {
	status int
	header http.Header
	body   string
	echo   echoed
}

func (e *env) do(method, path string, header http.Header, body string) result {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.Header.Get("X-Backend") == "yes" {
		_ = json.Unmarshal(b, &r.echo)
	}
	return r
}

func (e *env) get(path string, kv ...string) result {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return e.do(http.MethodGet, path, h, "")
}

// doc wraps sections into a document; empty sections inherit with <base/>.
func doc(inbound, backend, outbound, onError string) string {
	sec := func(name, body string) string {
		if body == "" {
			body = "<base/>"
		}
		return "<" + name + ">" + body + "</" + name + ">"
	}
	return "<policies>" + sec("inbound", inbound) + sec("backend", backend) + sec("outbound", outbound) + sec("on-error", onError) + "</policies>"
}

// errorBody decodes APIM's default error body.
func errorBody(t testing.TB, s string) (int, string) {
	t.Helper()
	var b struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		t.Fatalf("error body %q: %v", s, err)
	}
	return b.StatusCode, b.Message
}

func nvResource(display, value string) *resource.NamedValue {
	return &resource.NamedValue{DisplayName: display, Value: value}
}

func policyResource(xml string) *resource.Policy { return &resource.Policy{Value: xml} }

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// newCall is a gateway call for driving a pipeline directly.
func newCall(t testing.TB, e *env) *gateway.Call {
	u, err := url.Parse(e.backend.URL + "/base/x")
	if err != nil {
		t.Fatal(err)
	}
	return &gateway.Call{RequestID: "req-1", Start: time.Now(), API: &resource.API{Meta: resource.Meta{ID: "/apis/echo", Name: "echo"}, Path: "echo", ServiceURL: e.backend.URL + "/base"},
		Operation: &resource.Operation{Meta: resource.Meta{ID: "/apis/echo/operations/any", Name: "any"}, Method: "GET", URLTemplate: "/*"}, BackendURL: u}
}

func mustJSON(tb testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// forwarderTo returns a gateway.Forwarder that really proxies to the env's
// backend, for driving Pipeline.Serve directly.
func forwarderTo(e *env) gateway.Forwarder { return httpForwarder{client: e.backend.Client()} }

type httpForwarder struct{ client *http.Client }

func (f httpForwarder) Forward(ctx context.Context, c *gateway.Call, r *http.Request, _ gateway.ForwardOptions) (*http.Response, error) {
	out, err := http.NewRequestWithContext(ctx, r.Method, c.BackendURL.String(), r.Body)
	if err != nil {
		return nil, &gateway.BackendError{Err: err}
	}
	out.Header = r.Header.Clone()
	resp, err := f.client.Do(out)
	if err != nil {
		return nil, &gateway.BackendError{Err: err}
	}
	return resp, nil
}
