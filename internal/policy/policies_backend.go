package policy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// Backend entities (/backends/{id}) are resolved by the policy set: the
// gateway passes their records to the compiler with the policy documents,
// so set-backend-service backend-id="..." finds them in the set it runs
// with. Circuit breaker state lives in the Compiler (backendRuntime), per
// node, and survives snapshot rebuilds while the backend's rule is
// unchanged.

// backendEntry is a compiled backend.
type backendEntry struct {
	id  string
	url *url.URL // nil for a pool
	// Credentials added when the request is forwarded.
	header map[string][]string
	query  map[string][]string
	auth   string
	// transport is set when the backend needs its own TLS settings (checks
	// relaxed, or a client certificate); nil uses the gateway's.
	transport http.RoundTripper
	breaker   *breaker
	pool      []poolMember // sorted by priority
	// broken says why the backend cannot be called (a client certificate
	// that is missing or has no key); calls to it fail with a 500.
	broken string
}

type poolMember struct {
	id       string
	priority int
	weight   int
	e        *backendEntry // nil when the member does not exist
}

// backendRuntime is the per-node state of backends that outlives a
// policy set: circuit breakers and TLS transports, by backend id and
// configuration.
type backendRuntime struct {
	mu         sync.Mutex
	breakers   map[string]*breaker
	transports map[string]*cachedTransport
}

type cachedTransport struct {
	sum [32]byte
	t   *http.Transport
}

func newBackendRuntime() *backendRuntime {
	return &backendRuntime{breakers: map[string]*breaker{}, transports: map[string]*cachedTransport{}}
}

// compileBackends reads the backend records of a configuration.
func (c *Compiler) compileBackends(ctx context.Context, records []store.Record, certs map[string]store.Record, lk Lookup) (map[string]*backendEntry, error) {
	out := map[string]*backendEntry{}
	var pools []*resource.Backend
	live := map[string]bool{}
	for _, r := range records {
		if r.Kind != "backends" {
			continue
		}
		var b resource.Backend
		if err := json.Unmarshal(r.Body, &b); err != nil {
			return nil, fmt.Errorf("backend %s: decode: %w", r.ID, err)
		}
		b.ID = r.ID
		e := &backendEntry{id: r.ID}
		out[r.ID] = e
		live[r.ID] = true
		if b.Type == "Pool" {
			pools = append(pools, &b)
			continue
		}
		u, err := url.Parse(b.URL)
		if err != nil {
			return nil, fmt.Errorf("backend %s: url: %w", r.ID, err)
		}
		e.url = u
		plain := b.CredentialValues
		if keyring.IsSealed(plain) {
			if c.opts.Open == nil {
				return nil, fmt.Errorf("backend %s: credentials are sealed and the compiler has no keyring", r.ID)
			}
			p, err := c.opts.Open(plain, []byte(r.ID))
			if err != nil {
				return nil, fmt.Errorf("backend %s: open credentials: %w", r.ID, err)
			}
			plain = string(p)
		}
		vals, err := resource.CredentialValuesOf(plain)
		if err != nil {
			return nil, fmt.Errorf("backend %s: credentials: %w", r.ID, err)
		}
		// Credential values may name named values ({{name}}), as in APIM.
		if err := resolveCredentials(ctx, lk, &vals); err != nil {
			c.opts.Logger.Warn("backend unusable", "backend", r.ID, "error", err)
			e.broken = err.Error()
		}
		e.header, e.query = vals.Header, vals.Query
		if cr := b.Credentials; cr != nil && cr.Authorization != nil {
			e.auth = strings.TrimSpace(cr.Authorization.Scheme + " " + vals.AuthorizationParameter)
		}
		if e.transport, err = c.backendTransport(&b, certs); err != nil {
			// A certificate deleted or replaced without its key must not
			// stop the whole configuration: this backend's calls fail.
			c.opts.Logger.Warn("backend unusable", "backend", r.ID, "error", err)
			e.broken = err.Error()
		}
		if cb := b.CircuitBreaker; cb != nil && len(cb.Rules) > 0 {
			e.breaker = c.backends.breaker(r.ID, cb.Rules[0], c.opts.Now)
		}
	}
	for _, b := range pools {
		e := out[b.ID]
		for _, m := range b.Pool.Services {
			pm := poolMember{id: m.ID, priority: m.Priority, weight: max(m.Weight, 1), e: out[m.ID]}
			if pm.e != nil && pm.e.url == nil {
				pm.e = nil // a pool inside a pool is not followed
			}
			e.pool = append(e.pool, pm)
		}
		sort.SliceStable(e.pool, func(i, j int) bool { return e.pool[i].priority < e.pool[j].priority })
	}
	c.backends.forget(live)
	return out, nil
}

// backendTransport returns a transport for a backend with TLS settings of
// its own, or nil.
func (c *Compiler) backendTransport(b *resource.Backend, certs map[string]store.Record) (http.RoundTripper, error) {
	skipChain := b.TLS != nil && !resource.Bool(b.TLS.ValidateCertificateChain, true)
	skipName := b.TLS != nil && !resource.Bool(b.TLS.ValidateCertificateName, true)
	var ids []string
	if b.Credentials != nil {
		ids = b.Credentials.Certificate
	}
	if !skipChain && !skipName && len(ids) == 0 {
		return nil, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "%v %v", skipChain, skipName)
	cfg := c.tlsConfig(nil)
	for _, id := range ids {
		if !strings.HasPrefix(id, "/") {
			id = "/certificates/" + id
		}
		cert, err := c.clientCertificate(certs, id)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = append(cfg.Certificates, cert)
		h.Write(certs[id].Body)
	}
	switch {
	case skipChain && skipName:
		cfg.InsecureSkipVerify = true
	case skipChain:
		// Name checked, chain not: verify the leaf's name ourselves.
		cfg.InsecureSkipVerify = true
		host := b.URL
		if u, err := url.Parse(b.URL); err == nil {
			host = u.Hostname()
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("backend presented no certificate")
			}
			return cs.PeerCertificates[0].VerifyHostname(host)
		}
	case skipName:
		// Chain checked, name not.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("backend presented no certificate")
			}
			opts := x509.VerifyOptions{Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return c.backends.transport(b.ID, sum, cfg, nil), nil
}

// clientCertificate loads a certificate resource with its private key.
func (c *Compiler) clientCertificate(certs map[string]store.Record, id string) (tls.Certificate, error) {
	r, ok := certs[id]
	if !ok {
		return tls.Certificate{}, fmt.Errorf("certificate %s does not exist", id)
	}
	var cr resource.Certificate
	if err := json.Unmarshal(r.Body, &cr); err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s: decode: %w", id, err)
	}
	key := cr.PrivateKey
	if keyring.IsSealed(key) {
		if c.opts.Open == nil {
			return tls.Certificate{}, fmt.Errorf("certificate %s: private key is sealed and the compiler has no keyring", id)
		}
		p, err := c.opts.Open(key, []byte(id))
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("certificate %s: open private key: %w", id, err)
		}
		key = string(p)
	}
	if key == "" {
		return tls.Certificate{}, fmt.Errorf("certificate %s has no private key: a client certificate needs one", id)
	}
	cert, err := tls.X509KeyPair([]byte(cr.Data), []byte(key))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s: %w", id, err)
	}
	return cert, nil
}

func (rt *backendRuntime) transport(id string, sum [32]byte, cfg *tls.Config, proxy *url.URL) http.RoundTripper {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if t := rt.transports[id]; t != nil && t.sum == sum {
		return t.t
	}
	if old := rt.transports[id]; old != nil {
		old.t.CloseIdleConnections()
	}
	t := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
	}
	if proxy != nil {
		t.Proxy = http.ProxyURL(proxy)
	}
	rt.transports[id] = &cachedTransport{sum: sum, t: t}
	return t
}

// forget drops the state of backends that no longer exist.
func (rt *backendRuntime) forget(live map[string]bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for id := range rt.breakers {
		if !live[id] {
			delete(rt.breakers, id)
		}
	}
	for id, t := range rt.transports {
		if !live[id] {
			t.t.CloseIdleConnections()
			delete(rt.transports, id)
		}
	}
}

// --- set-backend-service backend-id ---

// recordChecker is a Lookup that can tell whether a configuration record
// exists (the management API's, inside its write transaction): a document
// naming a missing backend or certificate is saved with a warning.
type recordChecker interface {
	exists(ctx context.Context, id string) (bool, error)
}

// warnMissing warns when a literal reference names a record that does not
// exist (yet) at save time.
func warnMissing(er *ElementReader, at *Attr, id, what string) {
	cc := er.a.cc
	rc, ok := cc.lookup.(recordChecker)
	if !ok || cc.unresolved(at.Value) || strings.Contains(id, "@") || strings.Contains(id, "{{") {
		return
	}
	if found, err := rc.exists(cc.ctx, id); err == nil && !found {
		er.Warn(at.Pos, "%s %s does not exist: calls will fail until it is created", what, id)
	}
}

// runBackendID routes the call to a backend entity (a pool picks one of
// its members).
func (p *setBackendService) runBackendID(x *Exchange) error {
	id, err := p.backendID.str(x)
	if err != nil {
		return err
	}
	id = strings.TrimSpace(id)
	if !strings.HasPrefix(id, "/") {
		id = "/backends/" + id
	}
	e := x.p.set.backends[id]
	if e == nil {
		return fail(http.StatusInternalServerError, "BackendNotFound", fmt.Sprintf("set-backend-service: backend %q does not exist", strings.TrimPrefix(id, "/backends/")))
	}
	if e.pool != nil {
		m, wait := pickMember(e.pool, x.c.opts.Now())
		if m == nil {
			return circuitOpen(wait)
		}
		e = m
	}
	if e.broken != "" {
		return fail(http.StatusInternalServerError, "BackendNotUsable", fmt.Sprintf("set-backend-service: backend %q cannot be used: %s", strings.TrimPrefix(e.id, "/backends/"), e.broken))
	}
	x.setBackendBase(e.url)
	x.backend = e
	return nil
}

// pickMember chooses a pool member: the lowest priority with a member
// whose circuit is closed, then by weight among that priority's closed
// members. With every circuit open it returns nil and the shortest wait.
func pickMember(pool []poolMember, now time.Time) (*backendEntry, time.Duration) {
	var wait time.Duration
	for i := 0; i < len(pool); {
		j := i
		total := 0
		var open [maxPoolBatch]bool
		for ; j < len(pool) && pool[j].priority == pool[i].priority; j++ {
			m := pool[j]
			if m.e == nil || m.e.broken != "" {
				open[j-i] = true
				continue
			}
			if ok, w := m.e.breaker.allow(now); !ok {
				open[j-i] = true
				if wait == 0 || w < wait {
					wait = w
				}
				continue
			}
			total += m.weight
		}
		if total > 0 {
			n := rand.IntN(total)
			for k := i; k < j; k++ {
				if open[k-i] {
					continue
				}
				if n < pool[k].weight {
					return pool[k].e, 0
				}
				n -= pool[k].weight
			}
		}
		i = j
	}
	return nil, wait
}

// maxPoolBatch bounds the members of one priority (a pool holds at most
// resource.MaxPoolMembers).
const maxPoolBatch = resource.MaxPoolMembers

// circuitOpen is the answer while a backend's circuit is open.
func circuitOpen(wait time.Duration) error {
	secs := seconds(wait)
	return &failure{Status: http.StatusServiceUnavailable, Reason: "BackendUnavailable",
		Message: "The backend's circuit breaker is open: it failed too often. Try again in " + strconv.FormatInt(secs, 10) + " seconds.",
		Header:  http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}}
}

// applyCredentials adds a backend's credentials to the outgoing request.
func (e *backendEntry) applyCredentials(x *exchange) {
	for k, vs := range e.header {
		x.r.Header.Del(k)
		for _, v := range vs {
			x.r.Header.Add(k, v)
		}
	}
	if e.auth != "" {
		x.r.Header.Set("Authorization", e.auth)
	}
	if len(e.query) > 0 && x.call.BackendURL != nil {
		u := *x.call.BackendURL
		q := u.Query()
		for k, vs := range e.query {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		x.call.BackendURL = &u
	}
}

// record tells the backend's breaker how the call ended.
func (e *backendEntry) record(x *exchange, resp *http.Response, err error) {
	if e.breaker == nil {
		return
	}
	now := x.c.opts.Now()
	var ce *apicall.ClientBodyError
	if errors.As(err, &ce) {
		return // the caller failed, not the backend
	}
	if err != nil {
		e.breaker.record(now, 0, apicall.BackendReason(err), "")
		return
	}
	e.breaker.record(now, resp.StatusCode, "", resp.Header.Get("Retry-After"))
}

// setBackendBase points the call at base, keeping the operation's path
// below the previous base and the request's query (base's own query is
// not kept).
func (x *exchange) setBackendBase(nu *url.URL) {
	bu := x.call.BackendURL
	rel, q := "", ""
	if bu != nil {
		rel = strings.TrimPrefix(bu.Path, strings.TrimSuffix(x.backendBasePath(), "/"))
		q = bu.RawQuery
	}
	next := *nu
	next.Path = strings.TrimSuffix(nu.Path, "/") + rel
	next.RawPath = ""
	next.RawQuery = q
	x.call.BackendURL = &next
	x.backendBase = nu.Path
	if x.backendBase == "" {
		x.backendBase = "/"
	}
}

// resolveCredentials replaces the {{name}}s in a backend's credential
// values with the named values' text.
func resolveCredentials(ctx context.Context, lk Lookup, vals *resource.BackendCredentialValues) error {
	var lookupErr error
	lookup := func(name string) (string, bool) {
		v, ok, err := lk.NamedValue(ctx, name)
		if err != nil && lookupErr == nil {
			lookupErr = err
		}
		return v.Value, ok
	}
	resolve := func(text string) (string, error) {
		refs := findNamedValues(text)
		if len(refs) == 0 {
			return text, nil
		}
		out, missing := replaceNamedValues(text, refs, lookup, func(b *strings.Builder, v string, _ namedValueRef) { b.WriteString(v) })
		switch {
		case lookupErr != nil:
			return "", lookupErr
		case len(missing) > 0:
			return "", fmt.Errorf("credentials: named value '%s' is not defined", missing[0].name)
		}
		return out, nil
	}
	var err error
	for _, m := range []map[string][]string{vals.Header, vals.Query} {
		for k, vs := range m {
			out := make([]string, len(vs))
			for i, v := range vs {
				if out[i], err = resolve(v); err != nil {
					return err
				}
			}
			m[k] = out
		}
	}
	vals.AuthorizationParameter, err = resolve(vals.AuthorizationParameter)
	return err
}
