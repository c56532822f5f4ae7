package policy

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// --- check-header ---

type checkHeader struct {
	name       string
	key        string // canonical
	status     int
	message    string
	ignoreCase bool
	values     []string
}

func compileCheckHeader(er *ElementReader) (ExtensionPolicy, error) {
	e, a := er.a.e, er.a
	p := &checkHeader{
		name:       a.str("name", "", true),
		status:     int(a.integer("failed-check-httpcode", 401, 100, 599, true)),
		message:    a.str("failed-check-error-message", "", true),
		ignoreCase: a.boolean("ignore-case", false),
	}
	if !a.has("ignore-case") {
		a.fail(e.Pos, "attribute 'ignore-case' is required")
	}
	p.key = http.CanonicalHeaderKey(p.name)
	a.noText()
	for _, c := range a.children("value") {
		if c.Name == "value" {
			if len(c.Children) > 0 {
				a.fail(c.Children[0].Pos, "<value> takes text")
			}
			p.values = append(p.values, c.Text.Value)
		}
	}
	return p, a.err()
}

func (p *checkHeader) Run(x *Exchange) error {
	vs, ok := x.r.Header[p.key]
	if !ok {
		return &failure{Status: p.status, Reason: "HeaderNotFound", Public: p.message,
			Message: "Header " + p.name + " was not found in the request. Access denied."}
	}
	if len(p.values) == 0 {
		return nil
	}
	for _, v := range vs {
		for _, want := range p.values {
			if constantTimeEqual(v, want) || (p.ignoreCase && strings.EqualFold(v, want)) {
				return nil
			}
		}
	}
	return &failure{Status: p.status, Reason: "HeaderValueNotAllowed", Public: p.message,
		Message: "Header " + p.name + " value is not allowed. Access denied."}
}

// --- ip-filter ---

type ipRange struct{ from, to netip.Addr }

type ipFilter struct {
	allow  bool
	ranges []ipRange
}

func compileIPFilter(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &ipFilter{allow: a.oneOf("action", "allow", "allow", "forbid") == "allow"}
	if !a.has("action") {
		a.fail(e.Pos, "attribute 'action' is required")
	}
	parse := func(t Text) netip.Addr {
		ip, err := netip.ParseAddr(strings.TrimSpace(t.Value))
		if err != nil {
			a.fail(t.PosAt(0), "not an IP address")
		}
		return ip.Unmap()
	}
	for _, c := range a.children("address", "address-range") {
		switch c.Name {
		case "address":
			if strings.Contains(c.Text.Value, "/") {
				pfx, err := netip.ParsePrefix(strings.TrimSpace(c.Text.Value))
				if err != nil {
					a.fail(c.Text.PosAt(0), "not an IP address or CIDR prefix")
					continue
				}
				pfx = pfx.Masked()
				p.ranges = append(p.ranges, ipRange{pfx.Addr(), lastAddr(pfx)})
				continue
			}
			ip := parse(c.Text)
			p.ranges = append(p.ranges, ipRange{ip, ip})
		case "address-range":
			ca := cc.attrs(c, "from", "to")
			ca.str("from", "", true)
			ca.str("to", "", true)
			a.merge(ca.err())
			fa, _ := c.Attr("from")
			ta, _ := c.Attr("to")
			if fa == nil || ta == nil {
				continue
			}
			from, to := parse(fa.Value), parse(ta.Value)
			if from.IsValid() && to.IsValid() && (from.Is4() != to.Is4() || to.Less(from)) {
				a.fail(c.Pos, "address-range: 'from' must not be after 'to', in the same family")
			}
			p.ranges = append(p.ranges, ipRange{from, to})
		}
	}
	return p, a.err()
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (p *ipFilter) Run(x *Exchange) error {
	ipText := clientIP(x.r)
	ip, err := netip.ParseAddr(ipText)
	in := false
	if err == nil {
		ip = ip.Unmap()
		for _, r := range p.ranges {
			if ip.Is4() == r.from.Is4() && !ip.Less(r.from) && !r.to.Less(ip) {
				in = true
				break
			}
		}
	}
	if in == p.allow {
		return nil
	}
	return &failure{Status: http.StatusForbidden, Reason: "CallerIpNotAllowed",
		Message: "Caller IP address " + ipText + " is not allowed. Access denied."}
}

// --- authentication-basic ---

type authenticationBasic struct {
	user, password *value
}

func compileAuthenticationBasic(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	return &authenticationBasic{user: a.value("username", true), password: a.value("password", true)}, a.err()
}

func (p *authenticationBasic) Run(x *Exchange) error { return p.apply(x, x.r.Header) }

func (p *authenticationBasic) apply(x *exchange, h http.Header) error {
	u, err := p.user.str(x)
	if err != nil {
		return err
	}
	pw, err := p.password.str(x)
	if err != nil {
		return err
	}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u+":"+pw)))
	return nil
}

// --- cors ---

type corsPolicy struct {
	allowCredentials bool
	terminate        bool
	maxAge           int64
	anyOrigin        bool
	origins          []string
	anyMethod        bool
	methods          []string
	anyHeader        bool
	headers          []string
	expose           string
}

func compileCORS(er *ElementReader) (ExtensionPolicy, error) {
	cc, e, a := er.a.cc, er.a.e, er.a
	a.noText()
	p := &corsPolicy{
		allowCredentials: a.boolean("allow-credentials", false),
		terminate:        a.boolean("terminate-unmatched-request", true),
	}
	list := func(c *Element, item string) []string {
		var out []string
		for _, it := range c.Children {
			if it.Name != item {
				a.fail(it.Pos, "<%s> takes <%s> elements, not <%s>", c.Name, item, it.Name)
				continue
			}
			out = append(out, strings.TrimSpace(it.Text.Value))
		}
		return out
	}
	seenOrigins := false
	for _, c := range a.children("allowed-origins", "allowed-methods", "allowed-headers", "expose-headers") {
		switch c.Name {
		case "allowed-origins":
			seenOrigins = true
			p.origins = list(c, "origin")
			for _, o := range p.origins {
				if o == "*" {
					p.anyOrigin = true
				}
			}
		case "allowed-methods":
			ca := cc.attrs(c, "preflight-result-max-age")
			p.maxAge = ca.integer("preflight-result-max-age", 0, 0, 86400*365, false)
			a.merge(ca.err())
			p.methods = list(c, "method")
			for _, m := range p.methods {
				if m == "*" {
					p.anyMethod = true
				}
			}
		case "allowed-headers":
			p.headers = list(c, "header")
			for _, h := range p.headers {
				if h == "*" {
					p.anyHeader = true
				}
			}
		case "expose-headers":
			p.expose = strings.Join(list(c, "header"), ",")
		}
	}
	if !seenOrigins {
		a.fail(e.Pos, "<allowed-origins> is required")
	}
	if p.anyOrigin && p.allowCredentials {
		a.fail(e.Pos, "allow-credentials=\"true\" cannot be used with the origin *")
	}
	if len(p.methods) == 0 {
		p.methods = []string{"GET", "POST"}
	}
	return p, a.err()
}

func (p *corsPolicy) originAllowed(o string) bool {
	if p.anyOrigin {
		return true
	}
	for _, a := range p.origins {
		if strings.EqualFold(a, o) {
			return true
		}
	}
	return false
}

func (p *corsPolicy) methodAllowed(m string) bool {
	if p.anyMethod {
		return true
	}
	for _, a := range p.methods {
		if strings.EqualFold(a, m) {
			return true
		}
	}
	return false
}

func (p *corsPolicy) headersAllowed(list string) bool {
	if p.anyHeader || strings.TrimSpace(list) == "" {
		return true
	}
	for _, h := range strings.Split(list, ",") {
		h = strings.TrimSpace(h)
		ok := false
		for _, a := range p.headers {
			if strings.EqualFold(a, h) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (p *corsPolicy) allowOrigin(o string) string {
	if p.anyOrigin && !p.allowCredentials {
		return "*"
	}
	return o
}

func (p *corsPolicy) Run(x *Exchange) error {
	if x.r.Method == http.MethodOptions && x.r.Header.Get("Access-Control-Request-Method") != "" && x.r.Header.Get("Origin") != "" {
		return p.preflight(x)
	}
	o := x.r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	if !p.originAllowed(o) || !p.methodAllowed(x.r.Method) {
		if p.terminate {
			x.newResponse(http.StatusForbidden)
			x.setResponseBody(nil)
			return errReturn
		}
		return nil
	}
	h := x.extra()
	h.Set("Access-Control-Allow-Origin", p.allowOrigin(o))
	if p.allowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if p.expose != "" {
		h.Set("Access-Control-Expose-Headers", p.expose)
	}
	if !p.anyOrigin || p.allowCredentials {
		h.Add("Vary", "Origin")
	}
	return nil
}

// preflight answers an OPTIONS preflight request.
func (p *corsPolicy) preflight(x *exchange) error {
	o := x.r.Header.Get("Origin")
	m := x.r.Header.Get("Access-Control-Request-Method")
	reqHeaders := x.r.Header.Get("Access-Control-Request-Headers")
	x.newResponse(http.StatusOK)
	x.setResponseBody(nil)
	if o == "" || !p.originAllowed(o) || !p.methodAllowed(m) || !p.headersAllowed(reqHeaders) {
		// terminate-unmatched-request="false" would pass it on to the
		// backend; a preflight has no operation to forward to, so both
		// answer 200 without CORS headers and the browser refuses.
		return errReturn
	}
	h := x.resp.header
	h.Set("Access-Control-Allow-Origin", p.allowOrigin(o))
	if p.anyMethod {
		h.Set("Access-Control-Allow-Methods", m)
	} else {
		h.Set("Access-Control-Allow-Methods", strings.Join(p.methods, ","))
	}
	if reqHeaders != "" {
		if p.anyHeader {
			h.Set("Access-Control-Allow-Headers", reqHeaders)
		} else {
			h.Set("Access-Control-Allow-Headers", strings.Join(p.headers, ","))
		}
	}
	if p.allowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if p.maxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.FormatInt(p.maxAge, 10))
	}
	h.Add("Vary", "Origin")
	return errReturn
}

// extra returns the headers added to whatever response is sent.
func (x *exchange) extra() http.Header {
	if x.extraHeaders == nil {
		x.extraHeaders = http.Header{}
	}
	return x.extraHeaders
}

// constantTimeEqual compares secrets.
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
