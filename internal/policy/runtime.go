package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/expression"
	"github.com/tollgate/tollgate/internal/resource"
)

// pipeline is the composed chain of one (operation, product), or a cors
// preflight.
type pipeline struct {
	set      *Set
	sections [4]chain
	// preflight is set on the pipeline Preflight returns.
	preflight *corsPolicy
	// isDefault: no document applies (Set.Pipeline returns nil).
	isDefault bool
	// svc caches the API's parsed serviceUrl for context.Api.ServiceUrl,
	// which expressions only read.
	svc atomic.Pointer[serviceURL]
}

type serviceURL struct {
	raw string
	u   *expression.URL
}

func (p *pipeline) serviceURL(raw string) *expression.URL {
	if s := p.svc.Load(); s != nil && s.raw == raw {
		return s.u
	}
	s := &serviceURL{raw: raw, u: parseURL(raw)}
	p.svc.Store(s)
	return s.u
}

// exchange is one request's state while it runs through a pipeline. It is
// pooled: everything in it is reset between requests.
type exchange struct {
	exchangeCore
	// es is the expression context, built on first use and only cleared
	// when it was (zeroing it is a noticeable part of a short chain).
	es exprState
	// Closures bound to the exchange, made once per pooled exchange.
	reqBody   expression.Body
	respBody  expression.Body
	elapsedFn func() time.Duration
	traceFn   func(string)
}

type exprState struct {
	ec    expression.Context
	ereq  expression.Request
	eurl  expression.URL
	eresp expression.Response
	eapi  expression.API
	eop   expression.Operation
	eprod expression.Product
	esub  expression.Subscription
	euser expression.User
	eapp  expression.Application
}

type exchangeCore struct {
	ctx  context.Context
	w    http.ResponseWriter
	r    *http.Request
	call *apicall.Call
	fwd  apicall.Forwarder
	p    *pipeline
	c    *Compiler

	section section
	current *step // the step running
	// backendBase is the path of set-backend-service's base-url, when set.
	backendBase string
	// backend is the backend entity set-backend-service backend-id chose.
	backend *backendEntry
	// clientCertTransport presents authentication-certificate's
	// certificate to the backend.
	clientCertTransport http.RoundTripper
	// deferred run after the response is known (increment-condition).
	deferred []func() error
	// extraHeaders are added to whatever response is sent (cors).
	extraHeaders http.Header
	// respLookup is cache-lookup's key and outcome, for cache-store.
	respLookup *responseLookup
	// proxy is the proxy policy's proxy for forward-request (nil: direct).
	proxy *url.URL

	// request body, once read by a policy or replaced by set-body
	reqBuf    []byte
	reqLoaded bool

	resp struct {
		status  int
		reason  string
		header  http.Header
		body    []byte
		hasBody bool // body holds the response body (set, or buffered)
		stream  io.ReadCloser
		// from is the response stream came with: its Trailer field is
		// filled in when stream ends (gRPC's status travels there).
		from    *http.Response
		length  int64 // the backend's Content-Length, -1 unknown
		present bool  // a response exists (backend answered, or one was built)
	}
	written bool
	// bodyFailure is the backend's failure while an expression read its
	// body; the expression's failure is reported as it.
	bodyFailure *failure

	ecBuilt  bool
	urlDirty bool
	elast    expression.LastError
	// variables is context.Variables (nil until a policy sets one).
	variables expression.Variables
}

var exchangePool = sync.Pool{New: func() any {
	x := &exchange{}
	x.reqBody.Load = x.loadRequestBody
	x.respBody.Load = x.loadResponseBody
	x.elapsedFn = x.elapsed
	x.traceFn = x.traceExpr
	return x
}}

// reset clears x for reuse, keeping the closures bound to it (made once per
// pooled exchange rather than per request).
func (x *exchange) reset() {
	if x.ecBuilt {
		x.es = exprState{}
	}
	x.exchangeCore = exchangeCore{}
}

// Serve implements apicall.Pipeline.
func (p *pipeline) Serve(w http.ResponseWriter, r *http.Request, c *apicall.Call, fwd apicall.Forwarder) {
	x := exchangePool.Get().(*exchange)
	x.ctx, x.w, x.r, x.call, x.fwd, x.p, x.c = r.Context(), w, r, c, fwd, p, p.set.c
	defer func() {
		if v := recover(); v != nil {
			x.closeStream()
			if v == http.ErrAbortHandler {
				x.reset()
				panic(v)
			}
			x.c.opts.Logger.Error("policy: panic", "requestId", c.RequestID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !x.written {
				apicall.WriteError(w, http.StatusInternalServerError, "Internal server error. Request id: "+c.RequestID)
			}
		}
		x.closeStream()
		x.reset()
		exchangePool.Put(x)
	}()
	err := p.run(x)
	if err != nil && err != errReturn {
		x.onError(err)
	}
	for _, d := range x.deferred {
		if err := d(); err != nil {
			x.logger().Warn("policy: increment-condition failed", "requestId", c.RequestID, "error", err)
		}
	}
	x.write()
}

func (p *pipeline) run(x *exchange) error {
	if p.preflight != nil {
		x.section = secInbound
		return p.preflight.preflight(x)
	}
	for i := 0; i < 3; i++ {
		x.section = sectionNames[i].s
		if err := x.runSection(p.sections[i]); err != nil {
			if err == errCacheHit && i < 2 {
				// cache-lookup answered: the backend is not called, the
				// outbound section runs on the cached response.
				i = 1
				continue
			}
			return err
		}
	}
	return nil
}

// runSection runs a section's chain, in a span of its own when tracing.
func (x *exchange) runSection(ch chain) error {
	t := x.c.opts.Tracer
	if t == nil || len(ch) == 0 {
		return x.runChain(ch)
	}
	prev := x.ctx
	defer func() { x.ctx = prev }()
	var err error
	_ = t.Section(x.ctx, x.section.String(), func(ctx context.Context) error {
		x.ctx = ctx
		if err = x.runChain(ch); err == errReturn {
			return nil // return-response ends the section, not in failure
		}
		return err
	})
	return err
}

// runChain runs steps in order; a failure is stamped with the step that
// raised it (the innermost one, for nested chains).
func (x *exchange) runChain(ch chain) error {
	prev := x.current
	defer func() { x.current = prev }()
	for _, s := range ch {
		x.current = s
		if err := s.r.Run(x); err != nil {
			if err == errReturn || err == errCacheHit {
				return err
			}
			return stamp(err, s)
		}
	}
	return nil
}

// stepError is a failure with where it happened.
type stepError struct {
	f    *failure
	s    *step
	path string // overrides s.path (a when's condition)
}

func (e *stepError) Error() string { return e.f.Error() }

func stamp(err error, s *step) error {
	var se *stepError
	if errors.As(err, &se) {
		return err
	}
	var f *failure
	if !errors.As(err, &f) {
		f = &failure{Status: http.StatusInternalServerError, Reason: "InternalError", Message: err.Error()}
	}
	return &stepError{f: f, s: s}
}

// onError runs the on-error section with context.LastError set; without
// one (or if it fails) the caller gets the default error response.
func (x *exchange) onError(err error) {
	se, ok := err.(*stepError)
	if !ok {
		se = stamp(err, &step{name: "policy"}).(*stepError)
	}
	f := se.f
	if msg := redactSecrets(f.Message, se.s.secrets); msg != f.Message {
		g := *f
		g.Message = msg
		f = &g
	}
	path := se.path
	if path == "" {
		path = se.s.path
	}
	x.elast = expression.LastError{
		Source: f.Source, Reason: f.Reason, Message: f.Message,
		Scope: se.s.scope, Section: se.s.section.String(), Path: path, PolicyId: se.s.id,
	}
	if x.elast.Source == "" {
		x.elast.Source = se.s.name
	}
	if x.elast.Section == "" {
		x.elast.Section = x.section.String()
	}
	if x.call != nil {
		x.call.Reason = f.Reason
	}
	x.errorResponse(f)
	if x.ecBuilt {
		x.es.ec.LastError = &x.elast
	}
	x.section = secOnError
	if len(x.p.sections[3]) == 0 {
		return
	}
	if err := x.runSection(x.p.sections[3]); err != nil && err != errReturn {
		var se2 *stepError
		if errors.As(err, &se2) {
			x.errorResponse(se2.f)
		}
	}
}

// errorResponse replaces the response with APIM's default error body.
func (x *exchange) errorResponse(f *failure) {
	x.closeStream()
	msg := f.Message
	if f.Public != "" {
		msg = f.Public
	} else if f.Status >= 500 {
		msg = "Internal server error"
		if f.Status == http.StatusGatewayTimeout {
			msg = "Gateway timeout"
		}
		if x.call != nil && x.call.RequestID != "" {
			msg += ". Request id: " + x.call.RequestID
		}
	}
	x.resp.status = f.Status
	x.resp.reason = ""
	x.resp.header = http.Header{"Content-Type": {"application/json"}}
	for k, v := range f.Header {
		x.resp.header[k] = v
	}
	x.resp.body = apicall.ErrorBody(f.Status, msg)
	x.resp.hasBody = true
	x.resp.present = true
	x.syncResponse()
}

// write sends the response to the caller.
func (x *exchange) write() {
	if x.written {
		return
	}
	x.written = true
	status := x.resp.status
	if status == 0 {
		status = http.StatusOK
	}
	h := x.w.Header()
	for k, v := range x.resp.header {
		h[k] = v
	}
	for k, v := range x.extraHeaders {
		if _, ok := h[k]; !ok {
			h[k] = v
		}
	}
	if x.resp.hasBody {
		h.Del("Transfer-Encoding")
		h.Set("Content-Length", strconv.Itoa(len(x.resp.body)))
		x.w.WriteHeader(status)
		if x.r.Method != http.MethodHead {
			_, _ = x.w.Write(x.resp.body)
		}
		return
	}
	if x.resp.stream != nil {
		// The stream's own response is reused: the transport fills in its
		// Trailer field at the end of the body.
		resp := x.resp.from
		if resp == nil {
			resp = &http.Response{}
		}
		resp.StatusCode, resp.Header, resp.Body, resp.ContentLength = status, h, x.resp.stream, x.resp.length
		x.resp.stream = nil
		if x.r.Method == http.MethodHead {
			_ = resp.Body.Close()
			resp.Body = http.NoBody
		}
		// CopyResponse closes the body, drops hop-by-hop headers and
		// streams; the headers are already in w's map, so they are copied
		// onto themselves.
		if _, err := apicall.CopyResponse(x.w, resp); err != nil && x.ctx.Err() == nil {
			// The status is sent: cut the response short so the caller
			// sees it incomplete, and let the access log say why.
			x.c.opts.Logger.Warn("policy: copy backend response", "requestId", x.call.RequestID, "error", err)
			if reason := apicall.BackendReason(err); reason != "" {
				x.call.Reason = reason
			}
			panic(http.ErrAbortHandler)
		}
		return
	}
	x.w.WriteHeader(status)
}

func (x *exchange) closeStream() {
	if x.resp.stream != nil {
		_ = x.resp.stream.Close()
		x.resp.stream = nil
	}
}

// setResponse installs a backend (or send-request mode copy) response.
func (x *exchange) setResponse(resp *http.Response) {
	x.closeStream()
	x.resp.status = resp.StatusCode
	x.resp.reason = ""
	x.resp.header = resp.Header
	if x.resp.header == nil {
		x.resp.header = http.Header{}
	}
	x.resp.body = nil
	x.resp.hasBody = false
	x.resp.stream = resp.Body
	x.resp.from = resp
	x.resp.length = resp.ContentLength
	x.resp.present = true
	x.syncResponse()
}

// newResponse starts an empty response (return-response, mock-response).
func (x *exchange) newResponse(status int) {
	x.closeStream()
	x.resp.status = status
	x.resp.reason = ""
	x.resp.header = http.Header{}
	x.resp.from = nil
	x.resp.body = nil
	x.resp.hasBody = false
	x.resp.present = true
	x.syncResponse()
}

// responseHeader returns the response headers, creating them if needed.
func (x *exchange) responseHeader() http.Header {
	if x.resp.header == nil {
		x.resp.header = http.Header{}
		x.resp.present = true
		x.syncResponse()
	}
	return x.resp.header
}

func (x *exchange) setResponseBody(b []byte) {
	x.closeStream()
	x.resp.body = b
	x.resp.hasBody = true
	x.resp.present = true
	if x.resp.header == nil {
		x.resp.header = http.Header{}
	}
	x.syncResponse()
}

// loadResponseBody buffers the backend's body when an expression reads it.
func (x *exchange) loadResponseBody() ([]byte, error) {
	if x.resp.hasBody {
		return x.resp.body, nil
	}
	if x.resp.stream == nil {
		return nil, nil
	}
	b, err := readBounded(x.resp.stream, x.c.opts.MaxBodyBuffer)
	x.closeStream()
	if err != nil {
		if apicall.BackendReason(err) != "" {
			// The backend failed mid-body (or timed out): that, not the
			// expression reading the body, is what failed.
			x.bodyFailure = backendFailure(err)
		}
		return nil, fmt.Errorf("read response body: %w", err)
	}
	x.resp.body, x.resp.hasBody = b, true
	return b, nil
}

// loadRequestBody buffers the caller's body when a policy reads it; it is
// forwarded from the buffer afterwards.
func (x *exchange) loadRequestBody() ([]byte, error) {
	if x.reqLoaded {
		return x.reqBuf, nil
	}
	x.reqLoaded = true
	if x.r.Body == nil || x.r.Body == http.NoBody {
		return nil, nil
	}
	b, err := readBounded(x.r.Body, x.c.opts.MaxBodyBuffer)
	_ = x.r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	x.reqBuf = b
	x.installRequestBody()
	return b, nil
}

func (x *exchange) setRequestBody(b []byte) {
	if !x.reqLoaded && x.r.Body != nil {
		_ = x.r.Body.Close()
	}
	x.reqLoaded = true
	x.reqBuf = b
	x.installRequestBody()
}

// installRequestBody makes r.Body a fresh reader over the buffer, so it can
// be forwarded (again, under retry).
func (x *exchange) installRequestBody() {
	x.r.Body = io.NopCloser(bytes.NewReader(x.reqBuf))
	x.r.ContentLength = int64(len(x.reqBuf))
	x.r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(x.reqBuf)), nil }
	if len(x.reqBuf) == 0 {
		x.r.Body = http.NoBody
	}
	x.r.Header.Del("Transfer-Encoding")
}

// errBodyTooLarge is reported when a policy reads a body over the limit.
var errBodyTooLarge = errors.New("body is larger than the gateway buffers for policies")

func readBounded(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// ectx returns the expression context, building it on first use so chains
// without expressions pay nothing for it.
func (x *exchange) ectx() *expression.Context {
	if !x.ecBuilt {
		x.buildContext()
	}
	x.es.ereq.Method = x.r.Method
	if x.urlDirty {
		x.fillURL()
	}
	return &x.es.ec
}

func (x *exchange) buildContext() {
	x.ecBuilt = true
	c, r := x.call, x.r
	x.es.ereq = expression.Request{
		Method: r.Method, Url: &x.es.eurl, Headers: expression.Headers(r.Header),
		IpAddress: clientIP(r), Body: &x.reqBody, MatchedParameters: c.Params,
	}
	x.fillURL()
	x.es.ec = expression.Context{
		Request: &x.es.ereq, Variables: x.variables, RequestId: c.RequestID, Timestamp: c.Start,
		Elapsed: x.elapsedFn, Now: x.c.opts.Now, Trace: x.traceFn,
	}
	if x.resp.present {
		x.es.ec.Response = &x.es.eresp
		x.syncResponse()
	}
	if x.elast.Reason != "" || x.elast.Source != "" {
		x.es.ec.LastError = &x.elast
	}
	if a := c.API; a != nil {
		x.es.eapi = expression.API{Id: a.Name, Name: a.DisplayName, Path: a.Path, IsCurrentRevision: true, Revision: "1"}
		x.es.eapi.ServiceUrl = x.p.serviceURL(a.ServiceURL)
		x.es.ec.Api = &x.es.eapi
	}
	if o := c.Operation; o != nil {
		x.es.eop = expression.Operation{Id: o.Name, Name: o.DisplayName, Method: o.Method, UrlTemplate: o.URLTemplate}
		x.es.ec.Operation = &x.es.eop
	}
	if p := c.Product; p != nil {
		x.es.eprod = expression.Product{Id: p.Name, Name: p.DisplayName}
		x.es.ec.Product = &x.es.eprod
	}
	if s := c.Subscription; s != nil {
		x.es.esub = expression.Subscription{Id: resource.NameOf(s.ID), Name: s.DisplayName, Key: s.Key}
		if t, err := time.Parse(time.RFC3339, s.CreatedDate); err == nil {
			x.es.esub.CreatedDate = t
		}
		if x.es.esub.Name == "" {
			x.es.esub.Name = s.Name
		}
		x.es.ec.Subscription = &x.es.esub
	}
	if a := c.Application; a != nil {
		x.es.eapp = expression.Application{Id: a.Name, DisplayName: a.DisplayName, OwnerId: resource.NameOf(a.OwnerID)}
		x.es.ec.Application = &x.es.eapp
	}
	if u := c.User; u != nil {
		x.es.euser = expression.User{Id: u.Name, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName}
		x.es.ec.User = &x.es.euser
	}
}

func (x *exchange) elapsed() time.Duration { return x.c.opts.Now().Sub(x.call.Start) }

// syncResponse points context.Response at the current response.
func (x *exchange) syncResponse() {
	if !x.ecBuilt {
		return
	}
	if !x.resp.present {
		x.es.ec.Response = nil
		return
	}
	x.es.eresp = expression.Response{StatusCode: x.resp.status, StatusReason: x.resp.reason,
		Headers: expression.Headers(x.resp.header), Body: &x.respBody}
	if x.es.eresp.StatusCode == 0 {
		x.es.eresp.StatusCode = http.StatusOK
	}
	x.es.ec.Response = &x.es.eresp
}

// evalFailure is the failure of an expression evaluation: the backend's,
// when reading its body is what failed.
func (x *exchange) evalFailure(err error) error {
	if f := x.bodyFailure; f != nil {
		x.bodyFailure = nil
		return f
	}
	return exprFailure(err)
}

// vars returns context.Variables for writing.
func (x *exchange) vars() expression.Variables {
	if x.variables == nil {
		x.variables = expression.Variables{}
		if x.ecBuilt {
			x.es.ec.Variables = x.variables
		}
	}
	return x.variables
}

func (x *exchange) logger() *slog.Logger { return x.c.opts.Logger }
