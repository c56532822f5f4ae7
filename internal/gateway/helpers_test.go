package gateway_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

var testHasher = keyring.NewHasher([]byte("gateway test lookup key"))

// Records turns resources (with their ID set) into store records, as the
// management API would have written them.
func Records(tb testing.TB, rs ...resource.Resource) []store.Record {
	tb.Helper()
	out := make([]store.Record, 0, len(rs))
	for _, r := range rs {
		out = append(out, Record(tb, r))
	}
	return out
}

func Record(tb testing.TB, r resource.Resource) store.Record {
	m := resource.GetMeta(r)
	var kind, parent string
	switch r.(type) {
	case *resource.API:
		kind = "apis"
	case *resource.Operation:
		kind = "apis/operations"
		parent = m.ID[:strings.Index(m.ID, "/operations/")]
	case *resource.Product:
		kind = "products"
	case *resource.ProductAPI:
		kind = "products/apis"
		parent = m.ID[:strings.Index(m.ID, "/apis/")]
	case *resource.User:
		kind = "users"
	case *resource.Subscription:
		kind = "subscriptions"
	default:
		tb.Fatalf("no kind for %T", r)
	}
	r.Normalize()
	body, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return store.Record{ID: m.ID, Kind: kind, Parent: parent, Body: body, ETag: "1"}
}

func with[T resource.Resource](r T, id string) T {
	resource.SetMeta(r, id)
	return r
}

func API(name, path, serviceURL string) *resource.API {
	return with(&resource.API{Path: path, ServiceURL: serviceURL}, "/apis/"+name)
}

func Op(api, name, method, template string) *resource.Operation {
	return with(&resource.Operation{Method: method, URLTemplate: template}, "/apis/"+api+"/operations/"+name)
}

func Product(name string, subscriptionRequired bool) *resource.Product {
	return with(&resource.Product{SubscriptionRequired: &subscriptionRequired}, "/products/"+name)
}

func Link(product, api string) *resource.ProductAPI {
	return with(&resource.ProductAPI{}, "/products/"+product+"/apis/"+api)
}

func User(name, state string) *resource.User {
	return with(&resource.User{Email: name + "@example.com", State: state}, "/users/"+name)
}

// Sub is a subscription holding the keyed hashes of its keys, as stored.
func Sub(name, scope, state, owner, primary, secondary string) *resource.Subscription {
	s := &resource.Subscription{Scope: scope, State: state, OwnerID: owner}
	if primary != "" {
		s.PrimaryKeyHash = hashHex(primary)
	}
	if secondary != "" {
		s.SecondaryKeyHash = hashHex(secondary)
	}
	return with(s, "/subscriptions/"+name)
}

func hashHex(key string) string {
	sum := testHasher.Sum(key)
	return hex.EncodeToString(sum[:])
}

// source is an in-memory configuration source.
type source struct {
	mu      sync.Mutex
	records []store.Record
	version int64
	calls   atomic.Int32
	// gate, when set, holds every All call until it is closed.
	gate chan struct{}
}

func (s *source) All(ctx context.Context) ([]store.Record, int64, error) {
	s.calls.Add(1)
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.Record(nil), s.records...), s.version, nil
}

func (s *source) set(version int64, recs []store.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records, s.version = recs, version
}

type fixture struct {
	gw  *gateway.Gateway
	src *source
	srv *httptest.Server
	log *lockedBuffer
}

// newFixture serves a gateway loaded with rs (version 1) on an httptest
// server. compiler may be nil.
func newFixture(t *testing.T, compiler gateway.PolicyCompiler, rs ...resource.Resource) *fixture {
	t.Helper()
	return newFixtureRecords(t, compiler, Records(t, rs...))
}

// newFixtureRecords is newFixture from records (policy documents among
// them).
func newFixtureRecords(t *testing.T, compiler gateway.PolicyCompiler, recs []store.Record) *fixture {
	t.Helper()
	src := &source{}
	src.set(1, recs)
	logBuf := &lockedBuffer{}
	gw := gateway.New(gateway.Options{
		Source:   src,
		Hasher:   testHasher,
		Policies: compiler,
		Logger:   slog.New(slog.NewJSONHandler(logBuf, nil)),
	})
	if err := gw.Sync(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return &fixture{gw: gw, src: src, srv: srv, log: logBuf}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// do sends a request to the fixture's gateway and returns the response with
// its body read.
func (f *fixture) do(t *testing.T, method, target string, header http.Header, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// reporter is a PolicyCompiler whose pipelines answer with what the gateway
// put in the Call, so tests can see routing and admission decisions.
type reporter struct{}

func (reporter) Compile(ctx context.Context, records []store.Record) (gateway.Policies, error) {
	return reporterPolicies{}, nil
}

type reporterPolicies struct{}

func (reporterPolicies) Pipeline(apiID, operationID, productID string) gateway.Pipeline {
	return &reportPipeline{apiID, operationID, productID}
}

func (reporterPolicies) Preflight(apiID string) gateway.Pipeline {
	if apiID == "/apis/cors" || apiID == "/apis/keyed" {
		return &reportPipeline{api: apiID, op: "preflight"}
	}
	return nil
}

type reportPipeline struct{ api, op, product string }

// report is the JSON a reportPipeline answers with.
type report struct {
	// What the gateway asked the policies for.
	PipelineAPI, PipelineOp, PipelineProduct string

	API, Operation, Product, Subscription, SubscriptionKey, User string
	Params                                                       map[string]string
	BackendURL                                                   string
	RequestID                                                    string
}

func (p *reportPipeline) Serve(w http.ResponseWriter, r *http.Request, c *gateway.Call, fwd gateway.Forwarder) {
	if r.Header.Get("X-Panic") != "" {
		panic("test panic")
	}
	rep := report{PipelineAPI: p.api, PipelineOp: p.op, PipelineProduct: p.product, Params: c.Params, RequestID: c.RequestID}
	if c.API != nil {
		rep.API = c.API.Name
	}
	if c.Operation != nil {
		rep.Operation = c.Operation.Name
	}
	if c.Product != nil {
		rep.Product = c.Product.Name
	}
	if c.Subscription != nil {
		rep.Subscription = c.Subscription.Name
		rep.SubscriptionKey = c.Subscription.Key
	}
	if c.User != nil {
		rep.User = c.User.Name
	}
	if c.BackendURL != nil {
		rep.BackendURL = c.BackendURL.String()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}

func decodeReport(t *testing.T, body []byte) report {
	t.Helper()
	var rep report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("decode report %q: %v", body, err)
	}
	return rep
}
