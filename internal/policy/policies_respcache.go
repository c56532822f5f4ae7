package policy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The response cache: cache-lookup (inbound) looks the request up and, on a
// hit, answers with the cached response without calling the backend (the
// outbound section still runs, as in APIM); on a miss it remembers the key
// so that cache-store (outbound) stores the response. Only GET requests
// are cached.

// responseLookup is what cache-lookup leaves for cache-store.
type responseLookup struct {
	key        string
	cache      Cache
	hit        bool
	downstream string // none, private, public
	revalidate bool
}

// errCacheHit ends inbound and backend with the cached response; the
// outbound section runs on it.
var errCacheHit = errors.New("cache hit")

type cacheLookup struct {
	varyDeveloper, varyGroups bool
	ctype                     string
	downstream                *value
	revalidate                bool
	allowPrivate              *value
	headers                   []string
	query                     []string
}

func compileCacheLookup(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	p := &cacheLookup{
		varyDeveloper: a.boolean("vary-by-developer", false),
		varyGroups:    a.boolean("vary-by-developer-groups", false),
		ctype:         compileCachingType(er),
		downstream:    a.value("downstream-caching-type", false),
		revalidate:    a.boolean("must-revalidate", true),
		allowPrivate:  a.value("allow-private-response-caching", false),
	}
	for _, n := range []string{"vary-by-developer", "vary-by-developer-groups"} {
		if !a.has(n) {
			a.fail(a.e.Pos, "attribute '%s' is required", n)
		}
	}
	if v := p.downstream; v != nil && !v.isExpr() && !a.cc.unresolved(Text{Value: v.lit}) {
		a.oneOf("downstream-caching-type", "none", "none", "private", "public")
	}
	for _, c := range a.children("vary-by-header", "vary-by-query-parameter") {
		ca := a.cc.attrs(c)
		a.merge(ca.err())
		if len(c.Children) > 0 {
			a.fail(c.Children[0].Pos, "<%s> takes text, not element <%s>", c.Name, c.Children[0].Name)
			continue
		}
		// APIM accepts several names separated by ';' in one element.
		for _, n := range strings.Split(c.Text.Value, ";") {
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			if c.Name == "vary-by-header" {
				p.headers = append(p.headers, http.CanonicalHeaderKey(n))
			} else {
				p.query = append(p.query, n)
			}
		}
	}
	sort.Strings(p.headers)
	sort.Strings(p.query)
	return p, a.err()
}

func (p *cacheLookup) Run(x *Exchange) error {
	if x.r.Method != http.MethodGet {
		return nil
	}
	if x.r.Header.Get("Authorization") != "" {
		allow, err := p.allowPrivate.boolean(x)
		if err != nil {
			return err
		}
		if !allow {
			return nil
		}
	}
	downstream := "none"
	if p.downstream != nil {
		s, err := p.downstream.str(x)
		if err != nil {
			return err
		}
		switch s = strings.ToLower(strings.TrimSpace(s)); s {
		case "none", "private", "public":
			downstream = s
		default:
			return fail(http.StatusInternalServerError, "ExpressionValueEvaluationFailure", "Expression evaluation failed. downstream-caching-type must be none, private or public, not "+strconv.Quote(s))
		}
	}
	c := x.c.cacheFor(p.ctype)
	key := p.key(x)
	x.respLookup = &responseLookup{key: key, cache: c, downstream: downstream, revalidate: p.revalidate}
	b, ok := x.cacheGet(c, key)
	if !ok {
		return nil
	}
	cr, ok := decodeCachedResponse(b)
	if !ok {
		return nil
	}
	x.respLookup.hit = true
	x.newResponse(cr.status)
	for k, v := range cr.header {
		x.resp.header[k] = v
	}
	x.setResponseBody(cr.body)
	if ttl := cr.expires.Sub(x.c.opts.Now()); ttl > 0 {
		x.respLookup.setCacheControl(x.resp.header, ttl)
	}
	return errCacheHit
}

// key is the request's cache key: the operation, the path, the host, the
// query parameters named (all of them when none are), the headers named and,
// when asked, the developer. vary-by-developer-groups varies by developer
// too (Tollgate does not know a user's groups at request time): never
// shared wrongly, only less.
func (p *cacheLookup) key(x *exchange) string {
	var b strings.Builder
	b.WriteString(responseKeyPrefix)
	if c := x.call; c != nil {
		if c.API != nil {
			b.WriteString(c.API.Name)
		}
		b.WriteByte('|')
		if c.Operation != nil {
			b.WriteString(c.Operation.Name)
		}
		b.WriteByte('|')
		if c.BackendURL != nil {
			b.WriteString(c.BackendURL.Path)
		}
		if (p.varyDeveloper || p.varyGroups) && c.User != nil {
			b.WriteString("|u=")
			b.WriteString(c.User.Name)
		} else if (p.varyDeveloper || p.varyGroups) && c.Subscription != nil {
			b.WriteString("|s=")
			b.WriteString(c.Subscription.ID)
		}
	}
	// The host the caller named (and the scheme it says it used) vary the
	// key too: a response built from them (redirect-content-urls, an
	// expression reading context.Request.Url) must not reach callers who
	// named another.
	b.WriteString("|@")
	b.WriteString(x.r.Host)
	b.WriteByte('|')
	b.WriteString(x.r.Header.Get("X-Forwarded-Proto"))
	b.WriteString("|?")
	if len(p.query) == 0 {
		b.WriteString(x.r.URL.RawQuery)
	} else {
		q := x.r.URL.Query()
		for _, n := range p.query {
			b.WriteString(url.QueryEscape(n))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(strings.Join(q[n], ",")))
			b.WriteByte('&')
		}
	}
	for _, h := range p.headers {
		b.WriteString("|h:")
		b.WriteString(h)
		b.WriteByte('=')
		b.WriteString(strings.Join(x.r.Header.Values(h), ","))
	}
	return b.String()
}

// setCacheControl tells downstream caches what they may do, per
// downstream-caching-type.
func (l *responseLookup) setCacheControl(h http.Header, ttl time.Duration) {
	if l.downstream == "none" {
		return
	}
	v := l.downstream + ", max-age=" + strconv.FormatInt(int64(ttl/time.Second), 10)
	if l.revalidate {
		v += ", must-revalidate"
	}
	h.Set("Cache-Control", v)
}

// --- cache-store ---

type cacheStore struct {
	duration intValue
	cond     *value
}

func compileCacheStore(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	p := &cacheStore{duration: a.intValue("duration", 0, 0, maxSeconds, true), cond: a.value("cache-response", false)}
	return p, a.err()
}

func (p *cacheStore) Run(x *Exchange) error {
	l := x.respLookup
	if l == nil || l.hit || !x.resp.present {
		return nil
	}
	status := x.resp.status
	if status == 0 {
		status = http.StatusOK
	}
	if p.cond != nil {
		ok, err := p.cond.boolean(x)
		if err != nil || !ok {
			return err
		}
	} else if status != http.StatusOK {
		return nil
	}
	for _, v := range x.resp.header.Values("Cache-Control") {
		if strings.Contains(strings.ToLower(v), "no-store") {
			return nil
		}
	}
	d, err := p.duration.seconds(x)
	if err != nil || d <= 0 {
		return err
	}
	body, ok, err := x.peekResponseBody(x.c.opts.MaxBodyBuffer)
	if err != nil {
		return backendFailure(err)
	}
	if !ok {
		// Too large to keep: not cached, and still streamed to the caller.
		return nil
	}
	x.cacheSet(l.cache, l.key, encodeCachedResponse(status, x.resp.header, body, x.c.opts.Now().Add(d)), d)
	l.setCacheControl(x.resp.header, d)
	return nil
}

type cachedResponse struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

// Headers that describe one exchange, not the resource: never cached.
var uncachedHeaders = map[string]bool{"Set-Cookie": true, "Connection": true, "Keep-Alive": true, "Transfer-Encoding": true,
	"Content-Length": true, "Date": true, "Upgrade": true, "Trailer": true, "Proxy-Connection": true}

// encodeCachedResponse: version byte, status, expiry (unix ms), header
// count, then length-prefixed names and values, then the body.
func encodeCachedResponse(status int, h http.Header, body []byte, expires time.Time) []byte {
	b := make([]byte, 0, 64+len(body))
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(status))
	b = binary.AppendVarint(b, expires.UnixMilli())
	n := 0
	for k, vs := range h {
		if !uncachedHeaders[k] {
			n += len(vs)
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	for k, vs := range h {
		if uncachedHeaders[k] {
			continue
		}
		for _, v := range vs {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return append(b, body...)
}

func decodeCachedResponse(b []byte) (cachedResponse, bool) {
	var r cachedResponse
	if len(b) == 0 || b[0] != 1 {
		return r, false
	}
	i := 1
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return 0, false
		}
		i += n
		return v, true
	}
	str := func() (string, bool) {
		l, ok := uv()
		if !ok || l > uint64(len(b)-i) {
			return "", false
		}
		s := string(b[i : i+int(l)])
		i += int(l)
		return s, true
	}
	st, ok := uv()
	if !ok || st < 100 || st > 999 {
		return r, false
	}
	r.status = int(st)
	exp, n := binary.Varint(b[i:])
	if n <= 0 {
		return r, false
	}
	i += n
	r.expires = time.UnixMilli(exp)
	nh, ok := uv()
	if !ok || nh > uint64(len(b)) {
		return r, false
	}
	r.header = make(http.Header, nh)
	for range nh {
		k, ok1 := str()
		v, ok2 := str()
		if !ok1 || !ok2 {
			return r, false
		}
		r.header[k] = append(r.header[k], v)
	}
	r.body = b[i:]
	return r, true
}

// peekResponseBody buffers the response body when it is at most limit
// bytes (ok). A larger one is left streaming, with what was read put back
// in front of the rest, so the caller still gets all of it.
func (x *exchange) peekResponseBody(limit int) (body []byte, ok bool, err error) {
	if x.resp.hasBody {
		return x.resp.body, len(x.resp.body) <= limit, nil
	}
	if x.resp.stream == nil {
		return nil, true, nil
	}
	if x.resp.length > int64(limit) {
		return nil, false, nil
	}
	b, err := io.ReadAll(io.LimitReader(x.resp.stream, int64(limit)+1))
	if err != nil {
		x.closeStream()
		return nil, false, err
	}
	if len(b) > limit {
		x.resp.stream = prefixedBody{Reader: io.MultiReader(bytes.NewReader(b), x.resp.stream), Closer: x.resp.stream}
		return nil, false, nil
	}
	x.closeStream()
	x.resp.body, x.resp.hasBody = b, true
	return b, true, nil
}

// prefixedBody is a body read partly: the part read, then the rest.
type prefixedBody struct {
	io.Reader
	io.Closer
}
