package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/apicall"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/resource"
)

// outcome is why routing or admission stopped; outcomeOK lets the request
// through.
type outcome uint8

const (
	outcomeOK outcome = iota
	outcomeBadPath
	outcomeNoAPI
	outcomeNoOperation
	outcomeKeyMissing
	outcomeKeyInvalid
	outcomeTokenRefused // m.appReason says why
)

// maxKeyLen bounds a presented key: keys are 16 to 256 characters, so a
// longer one is invalid without hashing it.
const maxKeyLen = 256

// match is the result of routing and admitting one request. It lives on the
// caller's stack: routing and key lookup allocate nothing unless a path
// segment is percent-encoded.
type match struct {
	api    *apiEntry
	op     *opEntry
	rest   string // escaped path after the API's path ("" or "/...")
	opPath string // rest without leading and trailing '/', what caps index
	caps   captures

	key     string // the subscription key presented; "" when none
	sub     *subEntry
	product *resource.Product

	app       *appEntry // the client application of a bearer token
	appReason string
}

// route finds the API and the operation.
func (s *snapshot) route(r *http.Request, m *match) outcome {
	path := r.URL.EscapedPath()
	if path == "" || path[0] != '/' {
		return outcomeNoAPI
	}
	if apicall.UnsafePath(path) {
		return outcomeBadPath
	}
	m.api, m.rest = s.apiRoot.findAPI(path)
	if m.api == nil {
		return outcomeNoAPI
	}
	m.op, m.opPath = m.api.ops.matchOperation(m.rest, r.Method, &m.caps)
	if m.op == nil {
		return outcomeNoOperation
	}
	return outcomeOK
}

// admit applies the subscription rules of REFERENCE.md to a routed request.
func (s *snapshot) admit(r *http.Request, h *keyring.Hasher, m *match) outcome {
	a := m.api
	// The header wins; the query is read only when the header is absent
	// (an empty header counts as absent).
	if v := r.Header[a.keyHeader]; len(v) > 0 && v[0] != "" {
		m.key = v[0]
	} else if k, ok := queryValue(r.URL.RawQuery, a.keyQuery); ok && k != "" {
		m.key = k
	}
	if m.key == "" && a.tokenProducts {
		if o, done := s.admitToken(r, m); done {
			return o
		}
	}
	if m.key == "" {
		switch {
		case a.open != nil:
			m.product = a.open
			return outcomeOK
		case !a.subRequired:
			return outcomeOK
		}
		return outcomeKeyMissing
	}
	// A key that is present must be valid for this API, even when the API
	// could be called without one (as APIM does).
	if len(m.key) > maxKeyLen {
		return outcomeKeyInvalid
	}
	sum := h.Sum(m.key)
	sub := s.subs.get(keyHash(sum[:16]))
	if sub == nil {
		return outcomeKeyInvalid
	}
	// From here the access log names the subscription, also when it is
	// refused, so operators can see why a key does not work.
	m.sub = sub
	if !sub.usable {
		return outcomeKeyInvalid
	}
	switch {
	case sub.allAPIs:
	case sub.api != nil:
		if sub.api != a.api {
			return outcomeKeyInvalid
		}
	default:
		if !slices.Contains(a.products, sub.product) || !sub.product.AcceptsKeys() {
			return outcomeKeyInvalid
		}
		m.product = sub.product
	}
	return outcomeOK
}

// params returns the operation's template parameters, decoded; nil when the
// template has none.
func (m *match) params() map[string]string {
	if len(m.op.params) == 0 {
		return nil
	}
	out := make(map[string]string, len(m.op.params))
	for i, name := range m.op.params {
		if i < m.caps.n {
			sp := m.caps.get(i)
			out[name] = decodeSegment(m.opPath[sp.start:sp.end])
		}
	}
	return out
}

// backendURL joins the API's serviceUrl with the rest of the request path
// (as received, still escaped) and keeps the query minus the subscription
// key parameter.
func (m *match) backendURL(r *http.Request) *url.URL {
	b := m.api.backend
	if b == nil {
		return nil
	}
	u := *b // Userinfo, if any, is immutable and can be shared
	base := strings.TrimSuffix(b.EscapedPath(), "/")
	joined := base + m.rest
	if joined == "" {
		joined = "/"
	}
	u.RawPath = joined
	if p, err := url.PathUnescape(joined); err == nil {
		u.Path = p
	} else {
		u.Path = joined
	}
	if u.EscapedPath() != joined {
		// RawPath was not a valid encoding of Path: keep the decoded form.
		u.RawPath = ""
	}
	u.RawQuery = removeQueryParam(r.URL.RawQuery, m.api.keyQuery)
	u.ForceQuery = false
	return &u
}

// queryValue finds the first value of name in a raw query without
// allocating unless something is escaped.
func queryValue(rawQuery, name string) (string, bool) {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(pair, "=")
		if queryUnescape(k) != name {
			continue
		}
		return queryUnescape(v), true
	}
	return "", false
}

func queryUnescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	d, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return d
}

// removeQueryParam drops every occurrence of name from a raw query, leaving
// the other parameters exactly as they were written.
func removeQueryParam(rawQuery, name string) string {
	if _, ok := queryValue(rawQuery, name); !ok {
		return rawQuery
	}
	var b strings.Builder
	for _, pair := range strings.Split(rawQuery, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if queryUnescape(k) == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}
