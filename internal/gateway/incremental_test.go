package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/teststores"
)

// detailCompiler's pipelines answer with what the gateway put in the Call,
// with enough of each resource to tell a stale one from the current one.
type detailCompiler struct{ compiles atomic.Int32 }

func (c *detailCompiler) Compile(ctx context.Context, records []store.Record) (gateway.Policies, error) {
	c.compiles.Add(1)
	return detailPolicies{}, nil
}

type detailPolicies struct{}

func (detailPolicies) Pipeline(apiID, operationID, productID string) gateway.Pipeline {
	return detailPipeline{apiID + " " + operationID + " " + productID}
}

func (detailPolicies) Preflight(apiID string) gateway.Pipeline { return nil }

type detailPipeline struct{ asked string }

func (p detailPipeline) Serve(w http.ResponseWriter, r *http.Request, c *gateway.Call, _ gateway.Forwarder) {
	out := map[string]any{"asked": p.asked, "params": c.Params}
	if c.API != nil {
		out["api"] = []any{c.API.ID, c.API.Path, c.API.DisplayName, c.API.ServiceURL}
	}
	if c.Operation != nil {
		out["op"] = []any{c.Operation.ID, c.Operation.Method, c.Operation.URLTemplate, c.Operation.DisplayName}
	}
	if c.Product != nil {
		out["product"] = []any{c.Product.ID, c.Product.DisplayName}
	}
	if c.Subscription != nil {
		s := *c.Subscription
		out["subscription"] = s
	}
	if c.User != nil {
		out["user"] = []any{c.User.ID, c.User.Email, c.User.State}
	}
	if c.BackendURL != nil {
		out["backend"] = c.BackendURL.String()
	}
	json.NewEncoder(w).Encode(out)
}

// probes are the requests both gateways answer: every path below on every
// API path the steps use, with every key they use, and with none.
func probes() []*http.Request {
	paths := []string{"/a", "/a/v2", "/b", "/c", "/nowhere"}
	rest := []struct{ method, path string }{
		{"GET", "/items"}, {"POST", "/items"}, {"GET", "/items/7"}, {"DELETE", "/items/7"},
		{"GET", "/other"}, {"PUT", "/files/x/y"}, {"GET", ""},
	}
	keys := []string{"", "key-one-00000000000001", "key-two-00000000000002", "key-three-000000000003",
		"key-dup-00000000000004", "key-four-0000000000005", "key-free-0000000000006", "unknown-key-0000000000"}
	var out []*http.Request
	for _, p := range paths {
		for _, x := range rest {
			for _, k := range keys {
				r := httptest.NewRequest(x.method, p+x.path, nil)
				if k != "" {
					r.Header.Set("Ocp-Apim-Subscription-Key", k)
				}
				out = append(out, r)
			}
			// The key in the query, for APIs that name it.
			r := httptest.NewRequest(x.method, p+x.path+"?k=key-one-00000000000001", nil)
			out = append(out, r)
		}
	}
	return out
}

// answer is what a gateway says to a probe, request id aside.
func answer(gw http.Handler, r *http.Request) string {
	w := httptest.NewRecorder()
	gw.ServeHTTP(w, r.Clone(context.Background()))
	return fmt.Sprintf("%d %s", w.Code, w.Body.String())
}

// step is one configuration change, written to the store in one Update.
type step struct {
	name   string
	put    []resource.Resource
	delete []string // ids
	tree   []string // DeleteTree prefixes
}

func equivalenceSteps() []step {
	f, tr := false, true
	open := Product("open", false)
	open.DisplayName = "Open"
	openClosed := Product("open", true)
	openClosed.DisplayName = "Open, now closed"
	apiA := API("a", "a", "http://backend.invalid/a")
	apiA2 := API("a", "a", "http://backend.invalid/a2")
	apiA2.DisplayName = "A, replaced"
	apiANoSub := API("a", "a", "http://backend.invalid/a3")
	apiANoSub.SubscriptionRequired = &f
	apiAQuery := API("a", "a", "http://backend.invalid/a4")
	apiAQuery.SubscriptionRequired = &tr
	apiAQuery.SubscriptionKeyParameterNames = &resource.SubscriptionKeyParameterNames{Header: "x-k", Query: "k"}
	userAlice2 := User("alice", "active")
	userAlice2.Email = "alice2@example.com"
	opItems2 := Op("a", "items", "GET", "/items/{id}")
	opItems2.DisplayName = "Items, replaced"
	return []step{
		{name: "initial", put: []resource.Resource{
			apiA, Op("a", "items", "GET", "/items"), Op("a", "item", "GET", "/items/{id}"),
			API("b", "b", resource.EchoServiceURL), Op("b", "all", "*", "/*"),
			Product("p", true), Link("p", "a"), User("alice", "active"),
			Sub("s1", "/products/p", "active", "/users/alice", "key-one-00000000000001", "key-two-00000000000002"),
			Sub("s2", "/apis/b", "active", "/users/alice", "key-three-000000000003", ""),
			Sub("s-free", "/apis", "active", "", "key-free-0000000000006", ""),
		}},
		{name: "add operation", put: []resource.Resource{Op("a", "create", "POST", "/items")}},
		{name: "replace operation", put: []resource.Resource{opItems2}},
		{name: "delete operation", delete: []string{"/apis/a/operations/item"}},
		{name: "replace api", put: []resource.Resource{apiA2}},
		{name: "api without subscription", put: []resource.Resource{apiANoSub}},
		{name: "api key names", put: []resource.Resource{apiAQuery}},
		{name: "add api on a nested path", put: []resource.Resource{API("a2", "a/v2", resource.EchoServiceURL), Op("a2", "all", "GET", "/*")}},
		{name: "link b to p", put: []resource.Resource{Link("p", "b")}},
		{name: "open product", put: []resource.Resource{open, Link("open", "b"), Link("open", "a2")}},
		{name: "close the open product", put: []resource.Resource{openClosed}},
		{name: "unlink", delete: []string{"/products/p/apis/b"}},
		{name: "replace user", put: []resource.Resource{userAlice2}},
		{name: "block user", put: []resource.Resource{User("alice", "blocked")}},
		{name: "unblock user", put: []resource.Resource{User("alice", "active")}},
		{name: "subscription scope", put: []resource.Resource{Sub("s2", "/apis/a", "active", "/users/alice", "key-three-000000000003", "")}},
		{name: "subscription suspended", put: []resource.Resource{Sub("s1", "/products/p", "suspended", "/users/alice", "key-one-00000000000001", "key-two-00000000000002")}},
		{name: "subscription active, new key", put: []resource.Resource{Sub("s1", "/products/p", "active", "/users/alice", "key-four-0000000000005", "key-two-00000000000002")}},
		{name: "duplicate key", put: []resource.Resource{
			Sub("s0", "/apis", "active", "", "key-dup-00000000000004", ""),
			Sub("s9", "/apis/b", "active", "", "key-dup-00000000000004", ""),
		}},
		{name: "delete the duplicate key's holder", delete: []string{"/subscriptions/s0"}},
		{name: "subscription to all, user gone", put: []resource.Resource{Sub("s3", "/apis", "active", "/users/bob", "key-one-00000000000001", "")}},
		{name: "user appears", put: []resource.Resource{User("bob", "active")}},
		{name: "delete user", delete: []string{"/users/bob"}},
		{name: "delete product", delete: []string{"/products/p"}},
		{name: "recreate product", put: []resource.Resource{Product("p", true)}},
		{name: "second api on a path", put: []resource.Resource{API("a0", "a", resource.EchoServiceURL), Op("a0", "x", "GET", "/other")}},
		{name: "delete api and operations", delete: []string{"/apis/a0"}, tree: []string{"/apis/a0"}},
		{name: "delete api a", delete: []string{"/apis/a"}, tree: []string{"/apis/a"}},
		{name: "recreate api a", put: []resource.Resource{API("a", "a", resource.EchoServiceURL), Op("a", "x", "*", "/*")}},
		{name: "api c on b's product", put: []resource.Resource{API("c", "c", resource.EchoServiceURL), Op("c", "x", "GET", "/items/{id}"), Link("open", "c")}},
		{name: "delete subscriptions", delete: []string{"/subscriptions/s1", "/subscriptions/s9"}},
	}
}

// TestIncrementalMatchesFullRebuild applies a sequence of changes to a
// store, following them with one gateway (which rebuilds from what changed)
// and, after each, loading a fresh gateway from everything: both must
// answer every probe alike.
func TestIncrementalMatchesFullRebuild(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		src := &countingSource{ChangeSource: st}
		inc := gateway.New(gateway.Options{Source: src, Hasher: testHasher, Policies: &detailCompiler{}, Logger: slog.New(slog.DiscardHandler)})
		reqs := probes()
		for i, s := range equivalenceSteps() {
			v, err := st.Update(ctx, func(tx store.Tx) error {
				for _, p := range s.tree {
					if _, err := tx.DeleteTree(ctx, p); err != nil {
						return err
					}
				}
				for _, id := range s.delete {
					if err := tx.Delete(ctx, id); err != nil {
						return err
					}
				}
				for _, r := range Records(t, s.put...) {
					if _, err := tx.Put(ctx, r, ""); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("step %q: %v", s.name, err)
			}
			if err := inc.Sync(ctx, v); err != nil {
				t.Fatalf("step %q: incremental sync: %v", s.name, err)
			}
			full := gateway.New(gateway.Options{Source: allOnly{st}, Hasher: testHasher, Policies: &detailCompiler{}, Logger: slog.New(slog.DiscardHandler)})
			if err := full.Sync(ctx, v); err != nil {
				t.Fatalf("step %q: full sync: %v", s.name, err)
			}
			ok := 0
			for _, r := range reqs {
				got, want := answer(inc, r), answer(full, r)
				if got != want {
					t.Fatalf("step %q: %s %s (key %q):\nincremental: %s\nfull:        %s", s.name, r.Method, r.URL, r.Header.Get("Ocp-Apim-Subscription-Key"), got, want)
				}
				if strings.HasPrefix(got, "200 ") {
					ok++
				}
			}
			if ok == 0 {
				t.Fatalf("step %q: no probe was admitted: the comparison proves little", s.name)
			}
			if n := src.all.Load(); n != 1 {
				t.Fatalf("after step %d the gateway read everything %d times, want once (the first build)", i, n)
			}
		}
	})
}

// TestIncrementalFallsBackWhenHistoryIsShort: a store that no longer has
// the changes since the served version makes the gateway read everything.
func TestIncrementalFallsBackWhenHistoryIsShort(t *testing.T) {
	st := &fakeChanges{}
	st.records = Records(t, API("a", "a", resource.EchoServiceURL), Op("a", "x", "GET", "/x"))
	st.version = 1
	gw := gateway.New(gateway.Options{Source: st, Hasher: testHasher, Logger: slog.New(slog.DiscardHandler)})
	if err := gw.Sync(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	// Version 2 adds an operation, but the store cannot tell it.
	st.set(2, append(Records(t, API("a", "a", resource.EchoServiceURL), Op("a", "x", "GET", "/x")),
		Record(t, Op("a", "y", "GET", "/y"))), store.ErrTooOld)
	if err := gw.Sync(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	if got := answer(gw, httptest.NewRequest("GET", "/a/y", nil)); !strings.HasPrefix(got, "401 ") {
		t.Fatalf("GET /a/y after the fallback: %s, want 401 (routed, no key)", got)
	}
	if st.alls != 2 || st.sinces != 1 {
		t.Fatalf("All called %d times and Since %d, want 2 and 1", st.alls, st.sinces)
	}
	// Another failure of Since fails the sync and keeps what is served.
	st.set(3, nil, errors.New("database down"))
	if err := gw.Sync(t.Context(), 3); err == nil {
		t.Fatal("Sync succeeded though the store failed")
	}
	if gw.Version() != 2 {
		t.Fatalf("version %d served after a failed sync, want 2", gw.Version())
	}
}

// countingSource counts full reads.
type countingSource struct {
	gateway.ChangeSource
	all atomic.Int32
}

func (c *countingSource) All(ctx context.Context) ([]store.Record, int64, error) {
	c.all.Add(1)
	return c.ChangeSource.All(ctx)
}

// allOnly hides Since: a gateway on it always reads everything.
type allOnly struct{ src gateway.Source }

func (a allOnly) All(ctx context.Context) ([]store.Record, int64, error) { return a.src.All(ctx) }

// fakeChanges is a ChangeSource whose Since answers a fixed error.
type fakeChanges struct {
	mu           sync.Mutex
	records      []store.Record
	version      int64
	sinceErr     error
	alls, sinces int
}

func (f *fakeChanges) set(v int64, recs []store.Record, sinceErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version, f.sinceErr = v, sinceErr
	if recs != nil {
		f.records = recs
	}
}

func (f *fakeChanges) All(ctx context.Context) ([]store.Record, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alls++
	return slices.Clone(f.records), f.version, nil
}

func (f *fakeChanges) Since(ctx context.Context, v int64) ([]store.Record, []string, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sinces++
	if f.sinceErr != nil {
		return nil, nil, f.version, f.sinceErr
	}
	return nil, nil, f.version, nil
}
