package policy

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/expression"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// Set is a compiled configuration's policies: it implements
// apicall.Policies. Pipelines are composed on first use and cached.
type Set struct {
	c        *Compiler
	global   *compiled
	products map[string]*compiled
	apis     map[string]*compiled
	ops      map[string]*compiled // "api/op"
	// docs are the compiled documents by record id, with what their
	// compilation depended on: the next Recompile reuses those unchanged.
	docs map[string]*compiledRecord
	// backends are the backend entities by id ("/backends/b1").
	backends map[string]*backendEntry
	// certs are the certificate records by id, certThumbprints their ids
	// by thumbprint; certTransports caches authentication-certificate's
	// transports by certificate id.
	certs           map[string]store.Record
	certThumbprints map[string]string
	certTransports  sync.Map
	certOnce        sync.Once
	parsedCerts     []*x509.Certificate
	// schemas are the API schemas validate-content names.
	schemas *schemaSet

	mu    sync.RWMutex
	pipes map[pipeKey]*pipeline
	pre   map[string]*pipeline
}

type pipeKey struct{ api, op, product string }

// maxCachedPipelines bounds the composed-pipeline cache; composition is
// cheap, so past it pipelines are composed per request rather than kept.
const maxCachedPipelines = 100000

var _ apicall.PolicyRecompiler = (*Compiler)(nil)
var _ apicall.Policies = (*Set)(nil)

// Compile implements apicall.PolicyCompiler: it compiles every policy
// document of a configuration. Any problem fails the whole set (documents
// were checked when saved).
func (c *Compiler) Compile(ctx context.Context, records []store.Record) (apicall.Policies, error) {
	set, err := c.CompileSet(ctx, records)
	if err != nil {
		return nil, err
	}
	return set, nil
}

// Recompile implements apicall.PolicyRecompiler: Compile, reusing from
// prev (a *Set of this compiler) every document whose record (ETag and
// body) and whose named values and fragments are unchanged.
func (c *Compiler) Recompile(ctx context.Context, records []store.Record, prev apicall.Policies) (apicall.Policies, error) {
	p, _ := prev.(*Set)
	if p != nil && p.c != c {
		p = nil // compiled with other options
	}
	set, err := c.compileSet(ctx, records, p)
	if err != nil {
		return nil, err
	}
	return set, nil
}

// CompileSet is Compile with the concrete type.
func (c *Compiler) CompileSet(ctx context.Context, records []store.Record) (*Set, error) {
	return c.compileSet(ctx, records, nil)
}

// compiledRecord is one compiled document and what it was compiled from.
type compiledRecord struct {
	etag string
	sum  uint64 // FNV-1a of the record's body
	doc  *compiled
	deps []dependency
}

// dependency is one named value or fragment a document resolved while it
// was compiled, and what it resolved to.
type dependency struct {
	fragment bool
	name     string
	value    string
	secret   bool
	ok       bool
}

// recordingLookup notes what a document's compilation looks up.
type recordingLookup struct {
	Lookup
	deps []dependency
}

func (l *recordingLookup) NamedValue(ctx context.Context, name string) (ResolvedValue, bool, error) {
	v, ok, err := l.Lookup.NamedValue(ctx, name)
	if err == nil {
		l.deps = append(l.deps, dependency{name: name, value: v.Value, secret: v.Secret, ok: ok})
	}
	return v, ok, err
}

func (l *recordingLookup) Fragment(ctx context.Context, id string) (string, bool, error) {
	v, ok, err := l.Lookup.Fragment(ctx, id)
	if err == nil {
		l.deps = append(l.deps, dependency{fragment: true, name: id, value: v, ok: ok})
	}
	return v, ok, err
}

// unchanged reports whether every dependency still resolves the same.
func (r *compiledRecord) unchanged(ctx context.Context, lk Lookup) bool {
	for _, d := range r.deps {
		var v ResolvedValue
		var ok bool
		var err error
		if d.fragment {
			v.Value, ok, err = lk.Fragment(ctx, d.name)
		} else {
			v, ok, err = lk.NamedValue(ctx, d.name)
		}
		if err != nil || ok != d.ok || v.Value != d.value || v.Secret != d.secret {
			return false
		}
	}
	return true
}

func bodySum(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

func (c *Compiler) compileSet(ctx context.Context, records []store.Record, prev *Set) (*Set, error) {
	lk, err := c.RecordsLookup(records)
	if err != nil {
		return nil, err
	}
	s := &Set{c: c, products: map[string]*compiled{}, apis: map[string]*compiled{}, ops: map[string]*compiled{},
		docs: map[string]*compiledRecord{}, pipes: map[pipeKey]*pipeline{}, pre: map[string]*pipeline{}}
	s.certs, s.certThumbprints = certificateIndex(records)
	s.schemas = newSchemaSet(records)
	if s.backends, err = c.compileBackends(ctx, records, s.certs, lk); err != nil {
		return nil, err
	}
	for _, r := range records {
		scope, key, ok := ScopeOf(r.ID)
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sum := bodySum(r.Body)
		cr := (*compiledRecord)(nil)
		if prev != nil {
			if p := prev.docs[r.ID]; p != nil && p.etag == r.ETag && p.sum == sum && p.unchanged(ctx, lk) {
				cr = p
			}
		}
		if cr == nil {
			var p resource.Policy
			if err := json.Unmarshal(r.Body, &p); err != nil {
				return nil, fmt.Errorf("policy %s: decode: %w", r.ID, err)
			}
			rl := &recordingLookup{Lookup: lk}
			cc := &compileCtx{c: c, ctx: ctx, scope: scope, lookup: rl}
			doc := cc.compileDocument(p.Value, r.ID)
			if len(cc.problems) > 0 {
				return nil, fmt.Errorf("policy %s: %w", r.ID, Problems(cc.problems))
			}
			cr = &compiledRecord{etag: r.ETag, sum: sum, doc: doc, deps: rl.deps}
		}
		s.docs[r.ID] = cr
		switch scope {
		case ScopeGlobal:
			s.global = cr.doc
		case ScopeProduct:
			s.products[key] = cr.doc
		case ScopeAPI:
			s.apis[key] = cr.doc
		case ScopeOperation:
			s.ops[key] = cr.doc
		}
	}
	return s, nil
}

// ScopeOf tells a policy document's scope from its record id, and the key
// of its owner ("" global, the product or api name, "api/op").
func ScopeOf(id string) (scope, key string, ok bool) {
	if !strings.HasSuffix(id, "/policies/policy") {
		return "", "", false
	}
	segs := strings.Split(strings.TrimPrefix(strings.TrimSuffix(id, "/policies/policy"), "/"), "/")
	switch {
	case id == "/policies/policy":
		return ScopeGlobal, "", true
	case len(segs) == 2 && segs[0] == "products":
		return ScopeProduct, segs[1], true
	case len(segs) == 2 && segs[0] == "apis":
		return ScopeAPI, segs[1], true
	case len(segs) == 4 && segs[0] == "apis" && segs[2] == "operations":
		return ScopeOperation, segs[1] + "/" + segs[3], true
	}
	return "", "", false
}

// name accepts an id as the gateway may give it ("/apis/echo",
// "/apis/echo/operations/get") or a bare name.

// Pipeline implements apicall.Policies.
func (s *Set) Pipeline(apiID, operationID, productID string) apicall.Pipeline {
	k := pipeKey{resource.NameOf(apiID), resource.NameOf(operationID), resource.NameOf(productID)}
	s.mu.RLock()
	p := s.pipes[k]
	s.mu.RUnlock()
	if p == nil {
		p = s.compose(k)
		s.mu.Lock()
		if q := s.pipes[k]; q != nil {
			p = q
		} else if len(s.pipes) < maxCachedPipelines {
			s.pipes[k] = p
		}
		s.mu.Unlock()
	}
	if p.isDefault {
		// No document applies: the gateway's own forward-and-copy is the
		// same behaviour, without the pipeline's bookkeeping.
		return nil
	}
	return p
}

// defaultDocument is what lies above global: the backend forwards.
var defaultDocument = &compiled{scope: ScopeGlobal, present: [4]bool{true, true, true, true},
	sections: [4]chain{1: {{name: "forward-request", path: "forward-request[1]", scope: ScopeGlobal, section: secBackend, r: &forwardRequest{}}}}}

// compose builds the chains of an (operation, product): narrowest first,
// <base/> replaced by the next broader scope's same section.
func (s *Set) compose(k pipeKey) *pipeline {
	var docs []*compiled
	if k.op != "" {
		docs = append(docs, s.ops[k.api+"/"+k.op])
	}
	docs = append(docs, s.apis[k.api])
	if k.product != "" {
		docs = append(docs, s.products[k.product])
	}
	docs = append(docs, s.global, defaultDocument)
	p := &pipeline{set: s, isDefault: true}
	for _, d := range docs[:len(docs)-1] {
		if d != nil {
			p.isDefault = false
		}
	}
	for i := range 4 {
		p.sections[i] = expand(docs, 0, i)
	}
	return p
}

func expand(docs []*compiled, level, sec int) chain {
	if level >= len(docs) {
		return nil
	}
	d := docs[level]
	// A missing document, or a missing section, inherits: the same as
	// <base/> alone.
	if d == nil || !d.present[sec] {
		return expand(docs, level+1, sec)
	}
	var out chain
	for _, st := range d.sections[sec] {
		if st.base {
			out = append(out, expand(docs, level+1, sec)...)
			continue
		}
		out = append(out, st)
	}
	return out
}

// Preflight implements apicall.Policies: the first cors policy of the
// API's inbound (API and global scope) answers preflights.
func (s *Set) Preflight(apiID string) apicall.Pipeline {
	api := resource.NameOf(apiID)
	s.mu.RLock()
	p, ok := s.pre[api]
	s.mu.RUnlock()
	if ok {
		if p == nil {
			return nil
		}
		return p
	}
	in := expand([]*compiled{s.apis[api], s.global, defaultDocument}, 0, 0)
	for _, st := range in {
		if c, ok := st.r.(*corsPolicy); ok {
			p = &pipeline{set: s, preflight: c}
			break
		}
	}
	s.mu.Lock()
	s.pre[api] = p
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p
}

// recordsLookup resolves named values and fragments from records.
type recordsLookup struct {
	values map[string]ResolvedValue
	frags  map[string]string
}

func (l *recordsLookup) NamedValue(_ context.Context, name string) (ResolvedValue, bool, error) {
	v, ok := l.values[name]
	return v, ok, nil
}

func (l *recordsLookup) Fragment(_ context.Context, id string) (string, bool, error) {
	v, ok := l.frags[resource.NameOf(id)]
	return v, ok, nil
}

// RecordsLookup builds a Lookup over configuration records, unsealing
// secret named values with the compiler's Open.
func (c *Compiler) RecordsLookup(records []store.Record) (Lookup, error) {
	l := &recordsLookup{values: map[string]ResolvedValue{}, frags: map[string]string{}}
	for _, r := range records {
		switch r.Kind {
		case resource.KindNamedValues:
			v, err := c.namedValue(r)
			if err != nil {
				return nil, err
			}
			var nv resource.NamedValue
			_ = json.Unmarshal(r.Body, &nv)
			if nv.DisplayName != "" {
				l.values[nv.DisplayName] = v
			}
			if _, taken := l.values[resource.NameOf(r.ID)]; !taken {
				l.values[resource.NameOf(r.ID)] = v
			}
		case resource.KindPolicyFragments:
			var f resource.PolicyFragment
			if err := json.Unmarshal(r.Body, &f); err != nil {
				return nil, fmt.Errorf("policy fragment %s: decode: %w", r.ID, err)
			}
			l.frags[resource.NameOf(r.ID)] = f.Value
		}
	}
	return l, nil
}

// namedValue returns a named value record's value, unsealed.
func (c *Compiler) namedValue(r store.Record) (ResolvedValue, error) {
	var nv resource.NamedValue
	if err := json.Unmarshal(r.Body, &nv); err != nil {
		return ResolvedValue{}, fmt.Errorf("named value %s: decode: %w", r.ID, err)
	}
	if !keyring.IsSealed(nv.Value) {
		return ResolvedValue{Value: nv.Value, Secret: nv.Secret}, nil
	}
	if c.opts.Open == nil {
		return ResolvedValue{}, fmt.Errorf("named value %s is sealed and the compiler has no keyring", r.ID)
	}
	b, err := c.opts.Open(nv.Value, []byte(r.ID))
	if err != nil {
		return ResolvedValue{}, fmt.Errorf("named value %s: open: %w", r.ID, err)
	}
	return ResolvedValue{Value: string(b), Secret: true}, nil
}

// --- small helpers shared by the runtime ---

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func parseURL(s string) *expression.URL {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil
	}
	return toExprURL(u)
}

func toExprURL(u *url.URL) *expression.URL {
	e := &expression.URL{}
	fillExprURL(e, u)
	return e
}

func fillExprURL(e *expression.URL, u *url.URL) {
	e.Scheme = u.Scheme
	e.Host = u.Hostname()
	e.Port = 0
	if p := u.Port(); p != "" {
		for _, c := range p {
			e.Port = e.Port*10 + int(c-'0')
		}
	} else if u.Scheme == "https" {
		e.Port = 443
	} else {
		e.Port = 80
	}
	e.Path = u.Path
	e.Query = nil
	e.QueryString = ""
	if u.RawQuery != "" {
		e.Query = expression.QueryParams(u.Query())
		e.QueryString = "?" + u.RawQuery
	}
}

func (x *exchange) fillURL() {
	x.urlDirty = false
	u := *x.r.URL
	if u.Host == "" {
		u.Host = x.r.Host
	}
	if u.Scheme == "" {
		u.Scheme = "http"
		if x.r.TLS != nil {
			u.Scheme = "https"
		}
	}
	fillExprURL(&x.es.eurl, &u)
}
