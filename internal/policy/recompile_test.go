package policy_test

import (
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/store"
)

// compileCounter counts how often each tagged element is compiled.
type compileCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *compileCounter) get(tag string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[tag]
}

type nothing struct{}

func (nothing) Run(*policy.Exchange) error { return nil }

func (c *compileCounter) extension() policy.Extension {
	return policy.Extension{
		Name: "count-compiles", Sections: []string{"inbound"}, Attributes: []string{"tag"},
		Compile: func(r *policy.ElementReader) (policy.ExtensionPolicy, error) {
			tag := r.String("tag", "", true)
			c.mu.Lock()
			c.counts[tag]++
			c.mu.Unlock()
			return nothing{}, nil
		},
	}
}

// TestRecompileReusesUnchangedDocuments: Recompile compiles only the
// documents whose record, named values or fragments changed.
func TestRecompileReusesUnchangedDocuments(t *testing.T) {
	kr := testKeyring(t)
	cnt := &compileCounter{counts: map[string]int{}}
	c := policy.NewCompiler(policy.Options{Extensions: []policy.Extension{cnt.extension()}, Open: kr.Open, Logger: slog.New(slog.DiscardHandler)})
	docs := map[string]string{
		"/apis/a/policies/policy": doc(`<count-compiles tag="a {{nv}}"/>`, "", "", ""),
		"/apis/b/policies/policy": doc(`<include-fragment fragment-id="f"/>`, "", "", ""),
		"/apis/c/policies/policy": doc(`<count-compiles tag="c"/>`, "", "", ""),
	}
	records := func(nv, frag string, docs map[string]string) []store.Record {
		return append(policyRecords(t, docs),
			namedValue(t, kr, "nv", nv, true),
			fragment(t, "f", `<fragment><count-compiles tag="`+frag+`"/></fragment>`))
	}
	compiled := func(want map[string]int) {
		t.Helper()
		for tag, n := range want {
			if got := cnt.get(tag); got != n {
				t.Fatalf("%q compiled %d times, want %d", tag, got, n)
			}
		}
	}
	recompile := func(prev gateway.Policies, recs []store.Record) gateway.Policies {
		t.Helper()
		p, err := c.Recompile(t.Context(), recs, prev)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	set, err := c.Compile(t.Context(), records("v1", "b", docs))
	if err != nil {
		t.Fatal(err)
	}
	compiled(map[string]int{"a v1": 1, "b": 1, "c": 1})

	// Nothing changed (the records read anew): nothing compiles.
	set = recompile(set, records("v1", "b", docs))
	compiled(map[string]int{"a v1": 1, "b": 1, "c": 1})

	// A named value changed: only the document using it compiles.
	set = recompile(set, records("v2", "b", docs))
	compiled(map[string]int{"a v1": 1, "a v2": 1, "b": 1, "c": 1})

	// A fragment changed: only the document including it compiles.
	set = recompile(set, records("v2", "b2", docs))
	compiled(map[string]int{"a v2": 1, "b": 1, "b2": 1, "c": 1})

	// A document's body changed (the ETag alone is not trusted).
	docs["/apis/c/policies/policy"] = doc(`<count-compiles tag="c2"/>`, "", "", "")
	set = recompile(set, records("v2", "b2", docs))
	compiled(map[string]int{"a v2": 1, "b2": 1, "c": 1, "c2": 1})

	// A new ETag recompiles, though the body is the same.
	recs := records("v2", "b2", docs)
	for i := range recs {
		if recs[i].ID == "/apis/c/policies/policy" {
			recs[i].ETag = "2"
		}
	}
	set = recompile(set, recs)
	compiled(map[string]int{"a v2": 1, "b2": 1, "c2": 2})

	// A deleted document is gone from the set.
	delete(docs, "/apis/c/policies/policy")
	set = recompile(set, records("v2", "b2", docs))
	compiled(map[string]int{"a v2": 1, "b2": 1, "c2": 2})
	if p := set.Pipeline("/apis/c", "", ""); p != nil {
		t.Fatalf("pipeline of an API whose document was deleted: %v, want the default (nil)", p)
	}
	if p := set.Pipeline("/apis/a", "", ""); p == nil {
		t.Fatal("pipeline of API a: nil, want its document's")
	}

	// Policies of another compiler are not reused.
	other := policy.NewCompiler(policy.Options{Extensions: []policy.Extension{cnt.extension()}, Open: kr.Open, Logger: slog.New(slog.DiscardHandler)})
	if _, err := other.Recompile(t.Context(), records("v2", "b2", docs), set); err != nil {
		t.Fatal(err)
	}
	compiled(map[string]int{"a v2": 2, "b2": 2})
}

// TestRecompileThroughGateway: a named value change reaches requests
// through a gateway whose rebuilds reuse compiled documents.
func TestRecompileThroughGateway(t *testing.T) {
	kr := testKeyring(t)
	docs := map[string]string{"/apis/echo/policies/policy": doc(`<base/><set-header name="X-NV" exists-action="override"><value>{{nv}}</value></set-header>`, "", "", "")}
	e := newEnv(t, docs, namedValue(t, kr, "nv", "one", false))
	if r := e.get("/echo/items/1"); r.status != http.StatusOK || header(r, "X-NV") != "one" {
		t.Fatalf("before: %d %q", r.status, header(r, "X-NV"))
	}
	if err := e.reload(docs, namedValue(t, kr, "nv", "two", false)); err != nil {
		t.Fatal(err)
	}
	if r := e.get("/echo/items/1"); r.status != http.StatusOK || header(r, "X-NV") != "two" {
		t.Fatalf("after the named value changed: %d %q", r.status, header(r, "X-NV"))
	}
}

// header is what the backend received in the named header.
func header(r result, name string) string { return http.Header(r.echo.Header).Get(name) }
