package policy

import (
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/resource"
)

// validate-parameters, validate-headers and validate-status-code check a
// call against its operation's contract (resource.Operation's
// templateParameters, request and responses, which an OpenAPI import
// fills). An operation without a contract has no specified parameters,
// headers or status codes.

// --- validate-parameters ---

type paramOverrides map[string]string // lower-case name → action

type paramLocation struct {
	specified, unspecified string
	overrides              paramOverrides
}

type validateParameters struct {
	errorsVar string
	headers   paramLocation
	query     paramLocation
	path      paramLocation
}

var validationActions = []string{actionIgnore, actionPrevent, actionDetect}

func compileValidateParameters(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	specified := a.oneOf("specified-parameter-action", "", validationActions...)
	unspecified := a.oneOf("unspecified-parameter-action", "", validationActions...)
	if specified == "" || unspecified == "" {
		a.fail(e.Pos, "attributes 'specified-parameter-action' and 'unspecified-parameter-action' are required (ignore, prevent or detect)")
	}
	p := &validateParameters{errorsVar: a.str("errors-variable-name", "", false)}
	p.headers = paramLocation{specified, unspecified, paramOverrides{}}
	p.query = paramLocation{specified, unspecified, paramOverrides{}}
	p.path = paramLocation{specified, unspecified, paramOverrides{}}
	for _, c := range a.children("headers", "query", "path") {
		loc := map[string]*paramLocation{"headers": &p.headers, "query": &p.query, "path": &p.path}[c.Name]
		if loc == nil {
			continue
		}
		attrs := []string{"specified-parameter-action", "unspecified-parameter-action"}
		if c.Name == "path" {
			attrs = attrs[:1]
		}
		ca := cc.attrs(c, attrs...)
		if v := ca.oneOf("specified-parameter-action", "", validationActions...); v != "" {
			loc.specified = v
		}
		if c.Name != "path" {
			if v := ca.oneOf("unspecified-parameter-action", "", validationActions...); v != "" {
				loc.unspecified = v
			}
		}
		for _, pe := range ca.children("parameter") {
			if pe.Name != "parameter" {
				continue
			}
			pa, act := actionOverride(cc, pe, "name")
			loc.overrides[strings.ToLower(pa.str("name", "", true))] = act
			ca.merge(pa.err())
		}
		a.merge(ca.err())
	}
	return p, a.err()
}

// actionOverride reads an element naming what it overrides (key) and its
// action (required); the caller reads key from the returned attrs.
func actionOverride(cc *compileCtx, e *Element, key string) (*attrs, string) {
	a := cc.attrs(e, key, "action")
	act := a.oneOf("action", "", validationActions...)
	if act == "" {
		a.fail(e.Pos, "attribute 'action' is required (ignore, prevent or detect)")
	}
	return a, act
}

func (p *validateParameters) Run(x *Exchange) error {
	op := x.call.Operation
	var req resource.RequestContract
	var tmpl []resource.ParameterContract
	if op != nil {
		tmpl = op.TemplateParameters
		if op.Request != nil {
			req = *op.Request
		}
	}
	var errs []contentError
	// Query parameters.
	q := x.r.URL.Query()
	errs = checkParameters(errs, "query", p.query, req.QueryParameters, func(name string) ([]string, bool) {
		v, ok := q[name]
		return v, ok
	})
	for name := range q {
		if !specifies(req.QueryParameters, name) {
			errs = p.query.unspecifiedError(errs, "query", name)
		}
	}
	// Headers.
	errs = checkParameters(errs, "header", p.headers, req.Headers, func(name string) ([]string, bool) {
		v, ok := x.r.Header[textproto.CanonicalMIMEHeaderKey(name)]
		return v, ok
	})
	for name := range x.r.Header {
		if !specifies(req.Headers, name) && !standardHeader(name) && !x.isKeyHeader(name) {
			errs = p.headers.unspecifiedError(errs, "header", name)
		}
	}
	// Path parameters.
	errs = checkParameters(errs, "path", p.path, tmpl, func(name string) ([]string, bool) {
		v, ok := x.call.Params[name]
		return []string{v}, ok
	})
	return x.validationReport(p.errorsVar, errs, func(e contentError) error {
		return &failure{Status: http.StatusBadRequest, Reason: "ParameterValidationFailed", Message: e.Details}
	})
}

// isKeyHeader reports whether name is the API's subscription key header.
func (x *exchange) isKeyHeader(name string) bool {
	a := x.call.API
	return a != nil && a.SubscriptionKeyParameterNames != nil && strings.EqualFold(a.SubscriptionKeyParameterNames.Header, name)
}

func (l paramLocation) action(name, def string) string {
	if a, ok := l.overrides[strings.ToLower(name)]; ok {
		return a
	}
	return def
}

func (l paramLocation) unspecifiedError(errs []contentError, typ, name string) []contentError {
	act := l.action(name, l.unspecified)
	if act == actionIgnore {
		return errs
	}
	return append(errs, contentError{Name: name, Type: typ, ValidationRule: "unspecified",
		Details: fmt.Sprintf("Unspecified %s parameter '%s' is not allowed.", typ, name), Action: act})
}

func specifies(spec []resource.ParameterContract, name string) bool {
	return slices.ContainsFunc(spec, func(p resource.ParameterContract) bool { return strings.EqualFold(p.Name, name) })
}

// checkParameters checks the specified parameters' presence and values.
func checkParameters(errs []contentError, typ string, l paramLocation, spec []resource.ParameterContract, get func(string) ([]string, bool)) []contentError {
	for _, ps := range spec {
		act := l.action(ps.Name, l.specified)
		if act == actionIgnore {
			continue
		}
		vals, ok := get(ps.Name)
		if !ok || len(vals) == 0 {
			if ps.Required {
				errs = append(errs, contentError{Name: ps.Name, Type: typ, ValidationRule: "required",
					Details: fmt.Sprintf("Required %s parameter '%s' is missing.", typ, ps.Name), Action: act})
			}
			continue
		}
		for _, v := range vals {
			if msg := checkValue(ps, v); msg != "" {
				errs = append(errs, contentError{Name: ps.Name, Type: typ, ValidationRule: "value",
					Details: fmt.Sprintf("The %s parameter '%s' %s.", typ, ps.Name, msg), Action: act})
				break
			}
		}
	}
	return errs
}

// checkValue checks a value against a parameter's type and allowed values.
func checkValue(p resource.ParameterContract, v string) string {
	switch p.Type {
	case "integer":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "must be an integer"
		}
	case "number":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "must be a number"
		}
	case "boolean":
		if v != "true" && v != "false" {
			return "must be true or false"
		}
	}
	if len(p.Values) > 0 && !slices.Contains(p.Values, v) {
		return "must be one of " + strings.Join(p.Values, ", ")
	}
	return ""
}

// standardHeaders are HTTP's own headers: never "unspecified".
var standardHeaders = map[string]bool{
	"Accept":                           true,
	"Accept-Charset":                   true,
	"Accept-Encoding":                  true,
	"Accept-Language":                  true,
	"Accept-Ranges":                    true,
	"Age":                              true,
	"Allow":                            true,
	"Authorization":                    true,
	"Cache-Control":                    true,
	"Connection":                       true,
	"Content-Disposition":              true,
	"Content-Encoding":                 true,
	"Content-Language":                 true,
	"Content-Length":                   true,
	"Content-Location":                 true,
	"Content-Range":                    true,
	"Content-Type":                     true,
	"Cookie":                           true,
	"Date":                             true,
	"ETag":                             true,
	"Expect":                           true,
	"Expires":                          true,
	"Forwarded":                        true,
	"From":                             true,
	"Host":                             true,
	"If-Match":                         true,
	"If-Modified-Since":                true,
	"If-None-Match":                    true,
	"If-Range":                         true,
	"If-Unmodified-Since":              true,
	"Keep-Alive":                       true,
	"Last-Modified":                    true,
	"Location":                         true,
	"Max-Forwards":                     true,
	"Origin":                           true,
	"Pragma":                           true,
	"Proxy-Authorization":              true,
	"Range":                            true,
	"Referer":                          true,
	"Retry-After":                      true,
	"Server":                           true,
	"Set-Cookie":                       true,
	"Te":                               true,
	"Trailer":                          true,
	"Transfer-Encoding":                true,
	"Upgrade":                          true,
	"User-Agent":                       true,
	"Vary":                             true,
	"Via":                              true,
	"Warning":                          true,
	"Www-Authenticate":                 true,
	"X-Forwarded-For":                  true,
	"X-Forwarded-Host":                 true,
	"X-Forwarded-Proto":                true,
	"X-Request-Id":                     true,
	"Traceparent":                      true,
	"Tracestate":                       true,
	"Strict-Transport-Security":        true,
	"Access-Control-Allow-Origin":      true,
	"Access-Control-Allow-Credentials": true,
	"Access-Control-Expose-Headers":    true,
	"Access-Control-Allow-Methods":     true,
	"Access-Control-Allow-Headers":     true,
	"Access-Control-Max-Age":           true,
	"Access-Control-Request-Method":    true,
	"Access-Control-Request-Headers":   true,
}

func standardHeader(name string) bool { return standardHeaders[textproto.CanonicalMIMEHeaderKey(name)] }

// --- validate-headers ---

type validateHeaders struct {
	specified, unspecified string
	errorsVar              string
	overrides              paramOverrides
}

func compileValidateHeaders(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &validateHeaders{
		specified:   a.oneOf("specified-header-action", "", validationActions...),
		unspecified: a.oneOf("unspecified-header-action", "", validationActions...),
		errorsVar:   a.str("errors-variable-name", "", false),
		overrides:   paramOverrides{},
	}
	if p.specified == "" || p.unspecified == "" {
		a.fail(e.Pos, "attributes 'specified-header-action' and 'unspecified-header-action' are required (ignore, prevent or detect)")
	}
	for _, c := range a.children("header") {
		if c.Name != "header" {
			continue
		}
		ha, act := actionOverride(cc, c, "name")
		p.overrides[strings.ToLower(ha.str("name", "", true))] = act
		a.merge(ha.err())
	}
	return p, a.err()
}

func (p *validateHeaders) Run(x *Exchange) error {
	if !x.resp.present {
		return nil
	}
	rc := responseContract(x)
	if rc == nil {
		return nil // the status is not specified: validate-status-code's business
	}
	l := paramLocation{p.specified, p.unspecified, p.overrides}
	h := x.resp.header
	errs := checkParameters(nil, "header", l, rc.Headers, func(name string) ([]string, bool) {
		v, ok := h[textproto.CanonicalMIMEHeaderKey(name)]
		return v, ok
	})
	for name := range h {
		if !specifies(rc.Headers, name) && !standardHeader(name) {
			errs = l.unspecifiedError(errs, "header", name)
		}
	}
	return x.validationReport(p.errorsVar, errs, func(e contentError) error {
		return &failure{Status: http.StatusBadGateway, Reason: "HeaderValidationFailed", Message: e.Details}
	})
}

// responseContract is the operation's contract for the response's status.
func responseContract(x *exchange) *resource.ResponseContract {
	op := x.call.Operation
	if op == nil {
		return nil
	}
	for i := range op.Responses {
		if op.Responses[i].StatusCode == x.resp.status {
			return &op.Responses[i]
		}
	}
	return nil
}

// --- validate-status-code ---

type validateStatusCode struct {
	unspecified string
	errorsVar   string
	overrides   map[int]string
}

func compileValidateStatusCode(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &validateStatusCode{
		unspecified: a.oneOf("unspecified-status-code-action", "", validationActions...),
		errorsVar:   a.str("errors-variable-name", "", false),
		overrides:   map[int]string{},
	}
	if p.unspecified == "" {
		a.fail(e.Pos, "attribute 'unspecified-status-code-action' is required (ignore, prevent or detect)")
	}
	for _, c := range a.children("status-code") {
		if c.Name != "status-code" {
			continue
		}
		sa, act := actionOverride(cc, c, "code")
		p.overrides[int(sa.integer("code", 0, 100, 599, true))] = act
		a.merge(sa.err())
	}
	return p, a.err()
}

func (p *validateStatusCode) Run(x *Exchange) error {
	if !x.resp.present || responseContract(x) != nil {
		return nil
	}
	act, ok := p.overrides[x.resp.status]
	if !ok {
		act = p.unspecified
	}
	if act == actionIgnore {
		return nil
	}
	errs := []contentError{{Name: strconv.Itoa(x.resp.status), Type: "statusCode", ValidationRule: "unspecified",
		Details: fmt.Sprintf("Unspecified status code %d is not allowed.", x.resp.status), Action: act}}
	return x.validationReport(p.errorsVar, errs, func(e contentError) error {
		return &failure{Status: http.StatusBadGateway, Reason: "StatusCodeValidationFailed", Message: e.Details}
	})
}
