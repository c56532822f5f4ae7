package policy

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/expression"
)

// onResponse reports whether message policies (set-header, set-body) act
// on the response: in outbound and on-error, and inside return-response.
func (cc *compileCtx) onResponse() bool {
	return cc.responseChildren || cc.section&(secOutbound|secOnError) != 0
}

// --- set-header ---

type setHeader struct {
	name     string
	key      string // canonical
	action   string
	values   []*value
	response bool
	basic    *authenticationBasic // send-request's authentication-basic
}

func compileSetHeader(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	p := &setHeader{response: cc.onResponse()}
	p.name = a.str("name", "", true)
	if p.name != "" && !validToken(p.name) && !cc.unresolved(Text{Value: p.name}) {
		at, _ := e.Attr("name")
		a.fail(at.Value.PosAt(0), "attribute 'name' must be a header name")
	}
	p.action = a.oneOf("exists-action", "override", "override", "skip", "append", "delete")
	p.values = compileValues(cc, a)
	p.key = http.CanonicalHeaderKey(p.name)
	return p, a.err()
}

// compileValues compiles <value> children.
func compileValues(cc *compileCtx, a *attrs) []*value {
	var out []*value
	a.noText()
	for _, c := range a.children("value") {
		if c.Name != "value" {
			continue
		}
		for _, at := range c.Attrs {
			a.fail(at.Pos, "<value> takes no attribute '%s'", at.Name)
		}
		v, err := cc.textValue(c)
		if err != nil {
			a.merge(err)
			continue
		}
		out = append(out, v)
	}
	return out
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 127 || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

func evalValues(x *exchange, vs []*value) ([]string, error) {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		s, err := v.str(x)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *setHeader) Run(x *Exchange) error {
	if p.response {
		err := p.apply(x, x.responseHeader())
		x.syncResponse()
		return err
	}
	return p.apply(x, x.r.Header)
}

// apply changes h by exists-action; values are only evaluated when needed.
func (p *setHeader) apply(x *exchange, h http.Header) error {
	switch p.action {
	case "delete":
		delete(h, p.key)
		return nil
	case "skip":
		if _, ok := h[p.key]; ok {
			return nil
		}
	}
	vs, err := evalValues(x, p.values)
	if err != nil {
		return err
	}
	if p.action == "append" {
		h[p.key] = append(h[p.key], vs...)
	} else {
		h[p.key] = vs
	}
	return nil
}

// --- set-query-parameter ---

type setQueryParameter struct {
	name   string
	action string
	values []*value
}

func compileSetQueryParameter(er *ElementReader) (ExtensionPolicy, error) {
	cc, a := er.a.cc, er.a
	p := &setQueryParameter{}
	p.name = a.str("name", "", true)
	p.action = a.oneOf("exists-action", "override", "override", "skip", "append", "delete")
	p.values = compileValues(cc, a)
	return p, a.err()
}

func (p *setQueryParameter) Run(x *Exchange) error {
	var vs []string
	if p.action != "delete" {
		var err error
		if vs, err = evalValues(x, p.values); err != nil {
			return err
		}
	}
	apply := func(u *url.URL) {
		if u == nil {
			return
		}
		if q, changed := editQuery(u.RawQuery, p.name, p.action, vs); changed {
			u.RawQuery = q
		}
	}
	apply(x.call.BackendURL)
	apply(x.r.URL)
	x.urlDirty = true
	return nil
}

// editQuery applies a set-query-parameter action to a raw query string,
// pair by pair: the pairs it does not touch keep their bytes (their
// encoding, their order, even pairs Go cannot decode), as APIM forwards
// them. A pair matches when its decoded name is name. Overriding pairs go
// where the first replaced pair stood, appended ones after the last pair of
// that name; either at the end when there is none.
func editQuery(raw, name, action string, vs []string) (string, bool) {
	var pairs []string
	if raw != "" {
		pairs = strings.Split(raw, "&")
	}
	first, last := -1, -1
	var kept []string
	for _, pr := range pairs {
		if pairName(pr) == name {
			if first < 0 {
				first = len(kept)
			}
			if action == "delete" || action == "override" {
				continue
			}
			last = len(kept)
		}
		kept = append(kept, pr)
	}
	added := make([]string, 0, len(vs))
	for _, v := range vs {
		added = append(added, url.QueryEscape(name)+"="+url.QueryEscape(v))
	}
	switch action {
	case "delete":
		if first < 0 {
			return raw, false
		}
	case "skip":
		if first >= 0 {
			return raw, false
		}
		kept = append(kept, added...)
	case "append":
		at := len(kept)
		if last >= 0 {
			at = last + 1
		}
		kept = append(kept[:at], append(added, kept[at:]...)...)
	default: // override
		if first < 0 {
			first = len(kept)
		}
		kept = append(kept[:first], append(added, kept[first:]...)...)
	}
	return strings.Join(kept, "&"), true
}

// pairName is the decoded name of one raw query pair; a name that does not
// decode is compared as written.
func pairName(pair string) string {
	k, _, _ := strings.Cut(pair, "=")
	if d, err := url.QueryUnescape(k); err == nil {
		return d
	}
	return k
}

// --- set-variable ---

type setVariable struct {
	name string
	v    *value
}

func compileSetVariable(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	p := &setVariable{name: a.str("name", "", true), v: a.value("value", true)}
	return p, a.err()
}

func (p *setVariable) Run(x *Exchange) error {
	v, err := p.v.any(x)
	if err != nil {
		return err
	}
	if i, ok := v.(int); ok {
		v = int64(i)
	}
	x.vars()[p.name] = v
	return nil
}

// --- set-method ---

type setMethod struct{ v *value }

func compileSetMethod(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	v, err := cc.textValue(e)
	if err != nil {
		return nil, err
	}
	if !v.isExpr() && !cc.unresolved(e.Text) && !validToken(strings.TrimSpace(v.lit)) {
		a.fail(e.Pos, "the method must be an HTTP method")
	}
	return &setMethod{v: v}, a.err()
}

func (p *setMethod) Run(x *Exchange) error {
	m, err := p.v.str(x)
	if err != nil {
		return err
	}
	m = strings.ToUpper(strings.TrimSpace(m))
	if !validToken(m) {
		return fail(http.StatusInternalServerError, "InvalidMethod", "set-method: not an HTTP method")
	}
	x.r.Method = m
	return nil
}

// --- set-status ---

type setStatus struct {
	code   *value
	reason *value
}

func compileSetStatus(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	a.children()
	p := &setStatus{code: a.value("code", true), reason: a.value("reason", false)}
	if p.code != nil && !p.code.isExpr() && !cc.unresolved(Text{Value: p.code.lit}) {
		if n, err := strconv.Atoi(strings.TrimSpace(p.code.lit)); err != nil || n < 100 || n > 599 {
			at, _ := e.Attr("code")
			a.fail(at.Value.PosAt(0), "attribute 'code' must be an HTTP status between 100 and 599")
		}
	}
	return p, a.err()
}

func (p *setStatus) Run(x *Exchange) error {
	s, err := p.code.str(x)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 100 || n > 599 {
		return fail(http.StatusInternalServerError, "ExpressionValueEvaluationFailure", "set-status: the code is not an HTTP status")
	}
	reason, err := p.reason.str(x)
	if err != nil {
		return err
	}
	x.responseHeader()
	x.resp.status, x.resp.reason = n, reason
	x.syncResponse()
	return nil
}

// --- set-body ---

type setBody struct {
	v        *value
	response bool
	null     bool
}

func compileSetBody(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	if t := a.oneOf("template", "none", "none", "liquid"); t == "liquid" {
		return compileLiquidBody(er)
	}
	nilMode := a.oneOf("xsi-nil", "blank", "blank", "null")
	a.boolean("parse-date", true)
	v, err := cc.textValue(e)
	if err != nil {
		a.merge(err)
	}
	return &setBody{v: v, response: cc.onResponse(), null: nilMode == "null"}, a.err()
}

func (p *setBody) Run(x *Exchange) error {
	v, err := p.v.any(x)
	if err != nil {
		return err
	}
	var b []byte
	switch v := v.(type) {
	case nil:
		if p.null {
			b = []byte("null")
		}
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case interface{ MarshalJSON() ([]byte, error) }:
		if b, err = v.MarshalJSON(); err != nil {
			return exprFailure(err)
		}
	default:
		b = []byte(expression.ToString(v))
	}
	if p.response {
		x.setResponseBody(b)
	} else {
		x.setRequestBody(b)
	}
	return nil
}

// --- rewrite-uri ---

type rewriteURI struct {
	template   *value
	copyParams bool
}

func compileRewriteURI(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	a.children()
	p := &rewriteURI{template: a.value("template", true), copyParams: a.boolean("copy-unmatched-params", true)}
	if p.template != nil && !p.template.isExpr() && !strings.HasPrefix(strings.TrimSpace(p.template.lit), "/") && !cc.unresolved(Text{Value: p.template.lit}) {
		at, _ := e.Attr("template")
		a.fail(at.Value.PosAt(0), "attribute 'template' must start with /")
	}
	return p, a.err()
}

func (p *rewriteURI) Run(x *Exchange) error {
	t, err := p.template.str(x)
	if err != nil {
		return err
	}
	t = strings.TrimSpace(t)
	// Fill {param} from the operation's template parameters.
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			break
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			b.WriteString(t)
			break
		}
		b.WriteString(t[:i])
		b.WriteString(url.PathEscape(x.call.Params[t[i+1:i+j]]))
		t = t[i+j+1:]
	}
	nt := b.String()
	path, rawQuery, _ := strings.Cut(nt, "?")
	if apicall.UnsafePath(path) {
		return invalidPath()
	}
	newQ, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fail(http.StatusInternalServerError, "InvalidUri", "rewrite-uri: bad query in template")
	}
	if p.copyParams {
		for k, v := range x.r.URL.Query() {
			if _, ok := newQ[k]; !ok {
				newQ[k] = v
			}
		}
	}
	q := newQ.Encode()
	if bu := x.call.BackendURL; bu != nil {
		base := x.backendBasePath()
		bu.Path = strings.TrimSuffix(base, "/") + path
		bu.RawPath = ""
		bu.RawQuery = q
	}
	apiPath := ""
	if x.call.API != nil && x.call.API.Path != "" {
		apiPath = "/" + x.call.API.Path
	}
	x.r.URL.Path = apiPath + path
	x.r.URL.RawPath = ""
	x.r.URL.RawQuery = q
	x.urlDirty = true
	return nil
}

// backendBasePath is the path of the backend base URL (the API's
// serviceUrl, or set-backend-service's base-url).
func (x *exchange) backendBasePath() string {
	if x.backendBase != "" {
		return x.backendBase
	}
	if x.call.API != nil {
		if u, err := url.Parse(x.call.API.ServiceURL); err == nil {
			return u.Path
		}
	}
	return ""
}
