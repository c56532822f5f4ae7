package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/expression"
)

// MaxSendRequestResponse bounds the response body send-request keeps.
const MaxSendRequestResponse = 1 << 20

type sendRequest struct {
	copyMode    bool
	variable    string
	timeout     intValue // seconds
	ignoreError bool
	url         *value
	method      *value
	headers     []*setHeader
	auths       []RequestAuthenticator
	body        *value
	cert        *authenticationCertificate
	proxy       *proxyPolicy
}

func compileSendRequest(er *ElementReader) (ExtensionPolicy, error) {
	return compileSend(er, false)
}

// compileSend reads send-request, or send-one-way-request (oneWay: no
// response variable, nothing waited for).
func compileSend(er *ElementReader, oneWay bool) (*sendRequest, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &sendRequest{
		copyMode: a.oneOf("mode", "new", "new", "copy") == "copy",
		// APIM documents no upper bound; an hour is forward-request's.
		timeout: a.intValue("timeout", 60, 1, 3600, false),
	}
	if !oneWay {
		p.variable = a.str("response-variable-name", "", true)
		p.ignoreError = a.boolean("ignore-error", false)
	}
	for _, c := range a.children("set-url", "set-method", "set-header", "set-body", "authentication-basic", "authentication-certificate", "authentication-managed-identity", "proxy") {
		switch c.Name {
		case "set-url", "set-method":
			for _, at := range c.Attrs {
				a.fail(at.Pos, "<%s> takes no attribute '%s'", c.Name, at.Name)
			}
			v, err := cc.textValue(c)
			if err != nil {
				a.merge(err)
				continue
			}
			if c.Name == "set-url" {
				p.url = v
			} else {
				p.method = v
			}
		case "set-header":
			r, err := cc.compileAs(c)
			if err != nil {
				a.merge(err)
				continue
			}
			p.headers = append(p.headers, r.(*setHeader))
		case "set-body":
			for _, at := range c.Attrs {
				if at.Name != "template" {
					a.fail(at.Pos, "<set-body> takes no attribute '%s' here", at.Name)
				}
			}
			v, err := cc.textValue(c)
			if err != nil {
				a.merge(err)
				continue
			}
			p.body = v
		case "authentication-certificate":
			r, err := cc.compileAs(c)
			if err != nil {
				a.merge(err)
				continue
			}
			p.cert = r.(*authenticationCertificate)
		case "proxy":
			r, err := cc.compileAs(c)
			if err != nil {
				a.merge(err)
				continue
			}
			p.proxy = r.(*proxyPolicy)
		case "authentication-basic":
			r, err := cc.compileAs(c)
			if err != nil {
				a.merge(err)
				continue
			}
			ab := r.(*authenticationBasic)
			p.headers = append(p.headers, &setHeader{name: "Authorization", key: "Authorization", action: "override",
				basic: ab})
		case "authentication-managed-identity":
			r, err := cc.compileAs(c)
			if err != nil {
				a.merge(err)
				continue
			}
			ra, ok := r.(RequestAuthenticator)
			if !ok {
				a.fail(c.Pos, "<%s> is not supported inside <send-request>", c.Name)
				continue
			}
			p.auths = append(p.auths, ra)
		}
	}
	if p.proxy != nil && p.cert != nil {
		a.fail(e.Pos, "<proxy> together with <authentication-certificate> is not supported: call the backend through the proxy or with the certificate")
	}
	if p.url == nil && !p.copyMode && !hasChild(e, "set-url") {
		a.fail(e.Pos, "<set-url> is required")
	}
	return p, a.err()
}

func (p *sendRequest) Run(x *Exchange) error {
	method, target, h, body, err := p.build(x)
	if err != nil {
		return err
	}
	client, err := p.client(x)
	if err != nil {
		return err
	}
	timeout, err := p.timeout.seconds(x)
	if err != nil {
		return err
	}
	resp, err := p.do(x.ctx, client, timeout, method, target, h, body)
	return p.finish(x, resp, err)
}

// finish stores the response, or handles the call's failure.
func (p *sendRequest) finish(x *Exchange, resp *expression.Response, err error) error {
	if err != nil {
		x.logger().Info("send-request failed", "requestId", x.call.RequestID, "error", err)
		if p.ignoreError {
			x.vars()[p.variable] = nil
			return nil
		}
		return &failure{Status: http.StatusInternalServerError, Reason: "SendRequestFailure", Message: "send-request: the request failed."}
	}
	x.vars()[p.variable] = resp
	return nil
}

// build evaluates the request to send.
func (p *sendRequest) build(x *Exchange) (method, target string, h http.Header, body []byte, err error) {
	method = http.MethodGet
	h = http.Header{}
	if p.copyMode {
		method = x.r.Method
		if x.call.BackendURL != nil {
			target = x.call.BackendURL.String()
		}
		for k, v := range x.r.Header {
			h[k] = append([]string(nil), v...)
		}
		b, lerr := x.loadRequestBody()
		if lerr != nil {
			return "", "", nil, nil, &failure{Status: http.StatusInternalServerError, Reason: "RequestBodyTooLarge", Message: lerr.Error()}
		}
		body = b
	}
	if p.url != nil {
		u, err := p.url.str(x)
		if err != nil {
			return "", "", nil, nil, err
		}
		target = strings.TrimSpace(u)
	}
	if p.method != nil {
		m, err := p.method.str(x)
		if err != nil {
			return "", "", nil, nil, err
		}
		method = strings.ToUpper(strings.TrimSpace(m))
	}
	for _, sh := range p.headers {
		if sh.basic != nil {
			if err := sh.basic.apply(x, h); err != nil {
				return "", "", nil, nil, err
			}
			continue
		}
		if err := sh.apply(x, h); err != nil {
			return "", "", nil, nil, err
		}
	}
	for _, ra := range p.auths {
		if err := ra.AuthenticateRequest(x, h); err != nil {
			return "", "", nil, nil, err
		}
	}
	if p.body != nil {
		v, err := p.body.any(x)
		if err != nil {
			return "", "", nil, nil, err
		}
		switch v := v.(type) {
		case string:
			body = []byte(v)
		case interface{ MarshalJSON() ([]byte, error) }:
			if body, err = v.MarshalJSON(); err != nil {
				return "", "", nil, nil, exprFailure(err)
			}
		case nil:
		default:
			body = []byte(expression.ToString(v))
		}
	}
	return method, target, h, body, nil
}

// --- send-one-way-request ---

type sendOneWay struct{ p *sendRequest }

func compileSendOneWayRequest(er *ElementReader) (ExtensionPolicy, error) {
	p, err := compileSend(er, true)
	return &sendOneWay{p: p}, err
}

// Run sends the request in the background: the call goes on at once, and
// the request outlives it (bounded by the policy's timeout). Failures are
// logged only.
func (s *sendOneWay) Run(x *Exchange) error {
	method, target, h, body, err := s.p.build(x)
	if err != nil {
		return err
	}
	client, err := s.p.client(x)
	if err != nil {
		return err
	}
	timeout, err := s.p.timeout.seconds(x)
	if err != nil {
		return err
	}
	ctx, log, id := context.WithoutCancel(x.ctx), x.logger(), x.call.RequestID
	go func() {
		if _, err := s.p.do(ctx, client, timeout, method, target, h, body); err != nil {
			log.Info("send-one-way-request failed", "requestId", id, "error", err)
		}
	}()
	return nil
}

// client is the HTTP client of one call: the policy engine's, or one that
// presents the authentication-certificate of the request, or one that goes
// through the request's proxy.
func (p *sendRequest) client(x *exchange) (*http.Client, error) {
	client := x.c.opts.HTTPClient
	var t http.RoundTripper
	var err error
	switch {
	case p.proxy != nil:
		var u *url.URL
		if u, err = p.proxy.target(x); err != nil {
			return nil, err
		}
		// One transport per policy, replaced when its (computed) proxy
		// changes, so that a proxy URL from an expression cannot grow
		// the cache.
		t = x.c.backends.transport(fmt.Sprintf("send-request-proxy:%p", p), sha256.Sum256([]byte(u.String())), x.c.tlsConfig(nil), u)
	case p.cert != nil:
		t, err = p.cert.transport(x)
	default:
		return client, nil
	}
	if err != nil {
		return nil, err
	}
	withCert := *client
	withCert.Transport = t
	return &withCert, nil
}

func (p *sendRequest) do(ctx context.Context, client *http.Client, timeout time.Duration, method, target string, h http.Header, body []byte) (*expression.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, errBadScheme
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Del("Content-Length")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readBounded(resp.Body, MaxSendRequestResponse)
	if err != nil {
		return nil, err
	}
	return &expression.Response{StatusCode: resp.StatusCode, StatusReason: strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode))),
		Headers: expression.Headers(resp.Header), Body: expression.BytesBody(b)}, nil
}

type sendError string

func (e sendError) Error() string { return string(e) }

const errBadScheme = sendError("send-request: the URL must be http or https")

// hasChild reports whether e has a child element of that name (whose own
// problems, if any, are reported already).
func hasChild(e *Element, name string) bool {
	for _, c := range e.Children {
		if c.Name == name {
			return true
		}
	}
	return false
}
