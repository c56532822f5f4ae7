package policy

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/expression"
	"github.com/tollgate/tollgate/internal/resource"
)

// --- set-backend-service ---

type setBackendService struct{ base, backendID *value }

func compileSetBackendService(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	a.children()
	if a.has("backend-id") {
		if a.has("base-url") {
			a.fail(e.Pos, "set-backend-service takes base-url or backend-id, not both")
		}
		p := &setBackendService{backendID: a.value("backend-id", true)}
		if at, _ := e.Attr("backend-id"); p.backendID != nil && !p.backendID.isExpr() {
			warnMissing(er, at, "/backends/"+strings.TrimPrefix(strings.TrimSpace(p.backendID.lit), "/backends/"), "backend")
		}
		return p, a.err()
	}
	p := &setBackendService{base: a.value("base-url", true)}
	if p.base != nil && !p.base.isExpr() && !cc.unresolved(Text{Value: p.base.lit}) {
		if u, err := url.Parse(strings.TrimSpace(p.base.lit)); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			at, _ := e.Attr("base-url")
			a.fail(at.Value.PosAt(0), "attribute 'base-url' must be an absolute http or https URL")
		}
	}
	return p, a.err()
}

func (p *setBackendService) Run(x *Exchange) error {
	if p.backendID != nil {
		return p.runBackendID(x)
	}
	s, err := p.base.str(x)
	if err != nil {
		return err
	}
	nu, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (nu.Scheme != "http" && nu.Scheme != "https") || nu.Host == "" {
		return fail(http.StatusInternalServerError, "InvalidBackendUrl", "set-backend-service: base-url is not an absolute http or https URL")
	}
	x.setBackendBase(nu)
	x.backend = nil
	return nil
}

// --- forward-request ---

type forwardRequest struct {
	opts        apicall.ForwardOptions
	failOnError bool
}

func compileForwardRequest(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	p := &forwardRequest{}
	if t := a.integer("timeout", 0, 0, 3600, false); t > 0 {
		p.opts.Timeout = time.Duration(t) * time.Second
	}
	if t := a.integer("timeout-ms", 0, 0, 3600000, false); t > 0 {
		p.opts.Timeout = time.Duration(t) * time.Millisecond
	}
	a.integer("continue-timeout", 0, 0, 3600, false)
	p.opts.FollowRedirects = a.boolean("follow-redirects", false)
	a.boolean("buffer-request-body", false)
	a.boolean("buffer-response", true)
	a.oneOf("http-version", "1", "1", "2or1", "2")
	p.failOnError = a.boolean("fail-on-error-status-code", false)
	return p, a.err()
}

func (p *forwardRequest) Run(x *Exchange) error {
	if x.call.BackendURL == nil {
		return &failure{Status: http.StatusInternalServerError, Reason: apicall.ReasonBackendConnectionFailure, Message: "The API has no backend URL.",
			Public: apicall.MsgBackendFailure}
	}
	if x.reqLoaded {
		x.installRequestBody()
	}
	opts := p.opts
	opts.Proxy = x.proxy
	if e := x.backend; e != nil {
		if ok, wait := e.breaker.allow(x.c.opts.Now()); !ok {
			return circuitOpen(wait)
		}
		e.applyCredentials(x)
		opts.Transport = e.transport
	}
	if x.clientCertTransport != nil {
		opts.Transport = x.clientCertTransport
	}
	resp, err := x.fwd.Forward(x.ctx, x.call, x.r, opts)
	if x.backend != nil {
		x.backend.record(x, resp, err)
	}
	if err != nil {
		if errors.Is(err, apicall.ErrUnsafePath) {
			return invalidPath()
		}
		return backendFailure(err)
	}
	x.setResponse(resp)
	if p.failOnError && resp.StatusCode >= 400 {
		return &failure{Status: resp.StatusCode, Reason: "BackendErrorStatusCode", Message: "The backend responded with status " + http.StatusText(resp.StatusCode) + "."}
	}
	return nil
}

// backendFailure is the failure of a backend call or of reading the
// backend's body: 504 on the backend timeout, 500 BackendConnectionFailure
// otherwise. The caller's body is the gateway's own, as without policies.
func backendFailure(err error) *failure {
	var ce *apicall.ClientBodyError
	if errors.As(err, &ce) {
		status, msg := apicall.ClientBodyStatus(ce)
		return &failure{Status: status, Reason: apicall.ReasonClientConnectionFailure, Message: msg,
			Header: http.Header{"Connection": {"close"}}} // the rest of the body cannot be read
	}
	if apicall.BackendReason(err) == apicall.ReasonBackendTimeout {
		return &failure{Status: http.StatusGatewayTimeout, Reason: apicall.ReasonBackendTimeout, Message: "Request to the backend service timed out.",
			Public: apicall.MsgBackendTimeout}
	}
	return &failure{Status: http.StatusInternalServerError, Reason: apicall.ReasonBackendConnectionFailure,
		Message: "Error occurred while calling the backend service.", Public: apicall.MsgBackendFailure}
}

// --- return-response ---

type returnResponse struct {
	variable string
	steps    chain
}

func compileReturnResponse(er *ElementReader) (ExtensionPolicy, error) {
	cc, a := er.a.cc, er.a
	a.noText()
	p := &returnResponse{variable: a.str("response-variable-name", "", false)}
	sub := *cc
	sub.responseChildren = true
	sub.problems = nil
	counts := map[string]int{}
	for _, c := range a.children("set-status", "set-header", "set-body") {
		if c.Name != "set-status" && c.Name != "set-header" && c.Name != "set-body" {
			continue // reported by children
		}
		counts[c.Name]++
		r, err := sub.compileAs(c)
		if err != nil {
			a.merge(err)
			continue
		}
		p.steps = append(p.steps, &step{name: c.Name, r: r, scope: cc.scope, section: cc.section})
	}
	return p, a.err()
}

func (p *returnResponse) Run(x *Exchange) error {
	x.newResponse(http.StatusOK)
	if p.variable != "" {
		if r, ok := x.vars()[p.variable].(*expression.Response); ok && r != nil {
			x.resp.status = r.StatusCode
			for k, v := range r.Headers {
				x.resp.header[k] = v
			}
			if r.Body != nil && r.Body.Load != nil {
				b, err := r.Body.Load()
				if err != nil {
					return exprFailure(err)
				}
				x.setResponseBody(b)
			}
			x.syncResponse()
		}
	}
	for _, s := range p.steps {
		if err := s.r.Run(x); err != nil {
			return err
		}
	}
	// Headers added earlier in the pipeline for the caller (cors) still
	// apply; nothing else of the previous response survives.
	return errReturn
}

// --- mock-response ---

type mockResponse struct {
	status      int
	contentType string // "" when not given
	index       int
}

func compileMockResponse(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	p := &mockResponse{
		status:      int(a.integer("status-code", 200, 100, 599, false)),
		contentType: a.str("content-type", "", false),
		index:       int(a.integer("index", 0, 0, 1000, false)),
	}
	return p, a.err()
}

// Run answers with the status, and the body of the operation's example for
// it: the response with that status code, its representation of the
// content type (the first one when none is given), and its example number
// index (examples in name order, "default" first). Without one the body is
// empty.
func (p *mockResponse) Run(x *Exchange) error {
	ct, body := p.contentType, []byte(nil)
	if rep := mockRepresentation(x.call.Operation, p.status, ct); rep != nil {
		if ct == "" {
			ct = rep.ContentType
		}
		body = mockExample(rep, p.index)
	}
	if ct == "" {
		ct = "application/json"
	}
	x.newResponse(p.status)
	x.resp.header.Set("Content-Type", ct)
	x.setResponseBody(body)
	return errReturn
}

func mockRepresentation(op *resource.Operation, status int, contentType string) *resource.RepresentationContract {
	if op == nil {
		return nil
	}
	for _, r := range op.Responses {
		if r.StatusCode != status {
			continue
		}
		for i := range r.Representations {
			rep := &r.Representations[i]
			if contentType == "" || strings.EqualFold(rep.ContentType, contentType) {
				return rep
			}
		}
	}
	return nil
}

// mockExample is the body of a representation's example: its JSON, or,
// for a content type that is not JSON, the text a JSON string holds.
func mockExample(rep *resource.RepresentationContract, index int) []byte {
	names := slices.Sorted(maps.Keys(rep.Examples))
	if i := slices.Index(names, "default"); i > 0 {
		names = append(append([]string{"default"}, names[:i]...), names[i+1:]...)
	}
	if index >= len(names) {
		return nil
	}
	raw := rep.Examples[names[index]]
	var s string
	if !strings.Contains(strings.ToLower(rep.ContentType), "json") && json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	return raw
}

// --- proxy ---

type proxyPolicy struct {
	url, username, password *value
}

func compileProxy(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	a.children()
	p := &proxyPolicy{url: a.value("url", true), username: a.value("username", false), password: a.value("password", false)}
	if p.url != nil && !p.url.isExpr() && !cc.unresolved(Text{Value: p.url.lit}) {
		if _, err := parseProxyURL(p.url.lit); err != nil {
			at, _ := e.Attr("url")
			a.fail(at.Value.PosAt(0), "attribute 'url' %v", err)
		}
	}
	return p, a.err()
}

func parseProxyURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("must be an absolute http or https URL (http://host:port)")
	}
	return u, nil
}

// Run makes forward-request reach the backend through the proxy.
func (p *proxyPolicy) Run(x *Exchange) error {
	u, err := p.target(x)
	if err != nil {
		return err
	}
	x.proxy = u
	return nil
}

// target is the proxy's URL, with its credentials, for this request.
func (p *proxyPolicy) target(x *Exchange) (*url.URL, error) {
	s, err := p.url.str(x)
	if err != nil {
		return nil, err
	}
	u, err := parseProxyURL(s)
	if err != nil {
		return nil, fail(http.StatusInternalServerError, "InvalidProxyUrl", "proxy: the url "+err.Error())
	}
	if p.username != nil {
		user, err := p.username.str(x)
		if err != nil {
			return nil, err
		}
		pass, err := p.password.str(x)
		if err != nil {
			return nil, err
		}
		u.User = url.UserPassword(user, pass)
	}
	return u, nil
}
