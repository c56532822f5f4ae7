package policy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// bodyTarget is the message a transformation works on: the response in
// outbound and on-error (and inside return-response), the request before.
type bodyTarget bool

func (t bodyTarget) header(x *exchange) http.Header {
	if t {
		return x.responseHeader()
	}
	return x.r.Header
}

func (t bodyTarget) load(x *exchange) ([]byte, error) {
	var b []byte
	var err error
	if t {
		b, err = x.loadResponseBody()
	} else {
		b, err = x.loadRequestBody()
	}
	if err != nil {
		if f := x.bodyFailure; f != nil {
			x.bodyFailure = nil
			return nil, f
		}
		return nil, &failure{Status: http.StatusInternalServerError, Reason: "BodyTooLarge", Message: err.Error()}
	}
	return b, nil
}

func (t bodyTarget) set(x *exchange, b []byte) {
	if t {
		x.setResponseBody(b)
	} else {
		x.setRequestBody(b)
	}
}

// --- find-and-replace ---

type findAndReplace struct {
	from, to *value
	target   bodyTarget
}

func compileFindAndReplace(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	p := &findAndReplace{from: a.value("from", true), to: a.value("to", true), target: bodyTarget(a.cc.onResponse())}
	return p, a.err()
}

func (p *findAndReplace) Run(x *Exchange) error {
	from, err := p.from.str(x)
	if err != nil {
		return err
	}
	to, err := p.to.str(x)
	if err != nil {
		return err
	}
	if from == "" {
		return nil
	}
	b, err := p.target.load(x)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(from)) {
		return nil
	}
	p.target.set(x, bytes.ReplaceAll(b, []byte(from), []byte(to)))
	return nil
}

// --- jsonp ---

type jsonp struct{ param string }

func compileJSONP(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	return &jsonp{param: a.str("callback-parameter-name", "", true)}, a.err()
}

// jsonpCallback is what a callback name may be: a JavaScript identifier
// path (cb, jQuery123_456, ns.cb, cbs[0]). Anything else would let a caller
// inject script into the API's origin.
var jsonpCallback = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*|\[[0-9]+\])*$`)

func (p *jsonp) Run(x *Exchange) error {
	cb := x.r.URL.Query().Get(p.param)
	if cb == "" {
		return nil
	}
	if len(cb) > 128 || !jsonpCallback.MatchString(cb) {
		return fail(http.StatusBadRequest, "InvalidJsonpCallback", "The callback parameter '"+p.param+"' is not a valid JavaScript function name.")
	}
	b, err := bodyTarget(true).load(x)
	if err != nil {
		return err
	}
	out := make([]byte, 0, len(cb)+len(b)+2)
	out = append(append(append(append(out, cb...), '('), b...), ')')
	x.setResponseBody(out)
	x.resp.header.Set("Content-Type", "application/javascript; charset=utf-8")
	return nil
}

// --- redirect-content-urls ---

type redirectContentURLs struct{ target bodyTarget }

func compileRedirectContentURLs(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	return &redirectContentURLs{target: bodyTarget(a.cc.onResponse())}, a.err()
}

// Run rewrites the backend's base URL into the gateway's in the response
// (links the backend returns then point through the gateway), and the
// gateway's into the backend's in the request.
func (p *redirectContentURLs) Run(x *Exchange) error {
	api := x.call.API
	if api == nil || api.ServiceURL == "" {
		return nil
	}
	backend := strings.TrimSuffix(api.ServiceURL, "/")
	scheme := "http"
	if x.r.TLS != nil {
		scheme = "https"
	}
	if p := x.r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	gateway := scheme + "://" + x.r.Host
	if api.Path != "" {
		gateway += "/" + strings.Trim(api.Path, "/")
	}
	from, to := backend, gateway
	if !p.target {
		from, to = gateway, backend
	}
	b, err := p.target.load(x)
	if err != nil {
		return err
	}
	if bytes.Contains(b, []byte(from)) {
		p.target.set(x, bytes.ReplaceAll(b, []byte(from), []byte(to)))
	}
	if p.target {
		if loc := x.resp.header.Get("Location"); strings.HasPrefix(loc, from) {
			x.resp.header.Set("Location", to+loc[len(from):])
		}
	}
	return nil
}

// --- json-to-xml ---

type jsonToXML struct {
	target        bodyTarget
	always        bool
	considerAcc   bool
	nsSeparator   string
	nsPrefix      string
	attributeName string
}

func compileJSONToXML(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	p := &jsonToXML{
		target:        bodyTarget(a.cc.onResponse()),
		always:        a.oneOf("apply", "always", "always", "content-type-json") == "always",
		considerAcc:   a.boolean("consider-accept-header", true),
		nsSeparator:   a.str("namespace-separator", "", false),
		nsPrefix:      a.str("namespace-prefix", "", false),
		attributeName: a.str("attribute-block-name", "", false),
	}
	if !a.has("apply") {
		a.fail(a.e.Pos, "attribute 'apply' is required")
	}
	a.boolean("parse-date", true)
	if len([]rune(p.nsSeparator)) > 1 {
		at, _ := a.e.Attr("namespace-separator")
		a.fail(at.Value.PosAt(0), "attribute 'namespace-separator' must be one character")
	}
	return p, a.err()
}

func mediaType(h http.Header, name string) string {
	t, _, _ := mime.ParseMediaType(h.Get(name))
	return strings.ToLower(t)
}

func isJSONType(t string) bool {
	return t == "application/json" || strings.HasSuffix(t, "+json") || t == "text/json"
}
func isXMLType(t string) bool {
	return t == "application/xml" || t == "text/xml" || strings.HasSuffix(t, "+xml")
}

// accepts reports whether the caller's Accept header asks for a type that
// ok recognises (or for anything at all, when it has no Accept header).
func accepts(r *http.Request, ok func(string) bool) bool {
	acc := r.Header.Get("Accept")
	if acc == "" {
		return true
	}
	for _, part := range strings.Split(acc, ",") {
		t, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		if ok(strings.ToLower(t)) {
			return true
		}
	}
	return false
}

func (p *jsonToXML) Run(x *Exchange) error {
	return convertBody(x, bodyConversion{target: p.target, always: p.always, considerAccept: p.considerAcc,
		from: isJSONType, to: isXMLType, convert: p.convert, toType: "application/xml", reason: "JsonToXmlConversionFailure", name: "json-to-xml"})
}

// bodyConversion is json-to-xml or xml-to-json at run time.
type bodyConversion struct {
	target         bodyTarget
	always         bool // apply="always"; else only bodies whose type is from
	considerAccept bool // a response only when the caller accepts to
	from, to       func(mediaType string) bool
	convert        func([]byte) ([]byte, error)
	toType         string
	reason, name   string
}

func convertBody(x *exchange, c bodyConversion) error {
	h := c.target.header(x)
	if !c.always && !c.from(mediaType(h, "Content-Type")) {
		return nil
	}
	if c.considerAccept && bool(c.target) && !accepts(x.r, c.to) {
		return nil
	}
	b, err := c.target.load(x)
	if err != nil {
		return err
	}
	out, err := c.convert(b)
	if err != nil {
		return fail(http.StatusInternalServerError, c.reason, c.name+": "+err.Error())
	}
	c.target.set(x, out)
	h.Set("Content-Type", c.toType)
	return nil
}

// convert turns a JSON document into XML. An object with one property is
// that element (the usual way to write a document with its root); any
// other document is wrapped in <Document> (top-level array items are
// <Array> elements). Each property is an element, an array's items
// repeated elements of the property's name, null an empty element.
// Properties named by namespace-prefix ("xmlns", "xmlns:v1") become
// namespace declarations and those inside attribute-block-name attributes.
func (p *jsonToXML) convert(b []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := readOrdered(d, 0)
	if err == nil {
		if _, err2 := d.Token(); err2 != io.EOF {
			err = errors.New("data after the JSON value")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the body is not JSON: %w", err)
	}
	var buf bytes.Buffer
	enc := &xmlWriter{b: &buf, p: p}
	switch t := v.(type) {
	case []any:
		buf.WriteString("<Document>")
		for _, it := range t {
			enc.element("Array", it, 1)
		}
		buf.WriteString("</Document>")
	case jsonObject:
		if len(t) == 1 {
			if _, arr := t[0].v.([]any); !arr {
				enc.element(t[0].k, t[0].v, 0)
				return buf.Bytes(), enc.err
			}
		}
		enc.element("Document", v, 0)
	default:
		enc.element("Document", v, 0)
	}
	return buf.Bytes(), enc.err
}

type xmlWriter struct {
	b   *bytes.Buffer
	p   *jsonToXML
	err error
}

func (w *xmlWriter) name(n string) string {
	if w.p.nsSeparator != "" && w.p.nsSeparator != ":" {
		n = strings.Replace(n, w.p.nsSeparator, ":", 1)
	}
	var sb strings.Builder
	for i, r := range n {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r > 127 ||
			(i > 0 && (r == '-' || r == '.' || (r >= '0' && r <= '9'))) || (r == ':' && w.p.nsSeparator != "" && i > 0)
		if ok {
			sb.WriteRune(r)
		} else {
			fmt.Fprintf(&sb, "_x%04X_", r)
		}
	}
	if sb.Len() == 0 {
		return "_"
	}
	return sb.String()
}

// isNamespace reports whether property k declares a namespace.
func (w *xmlWriter) isNamespace(k string) bool {
	pre := w.p.nsPrefix
	if pre == "" {
		return false
	}
	sep := w.p.nsSeparator
	if sep == "" {
		sep = ":"
	}
	return k == pre || strings.HasPrefix(k, pre+sep) || strings.HasPrefix(k, pre+":")
}

func (w *xmlWriter) attr(k string, v any) {
	w.b.WriteByte(' ')
	w.b.WriteString(w.name(k))
	w.b.WriteString(`="`)
	_ = xml.EscapeText(w.b, []byte(scalarText(v)))
	w.b.WriteByte('"')
}

func (w *xmlWriter) element(name string, v any, depth int) {
	if depth > MaxDepth*4 {
		w.err = errors.New("the JSON is nested too deeply")
		return
	}
	if arr, ok := v.([]any); ok {
		for _, it := range arr {
			w.element(name, it, depth+1)
		}
		return
	}
	n := w.name(name)
	w.b.WriteByte('<')
	w.b.WriteString(n)
	obj, isObj := v.(jsonObject)
	if isObj {
		for _, m := range obj {
			if w.isNamespace(m.k) {
				w.attr(m.k, m.v)
			}
		}
		if w.p.attributeName != "" {
			for _, m := range obj {
				if attrs, ok := m.v.(jsonObject); ok && m.k == w.p.attributeName {
					for _, a := range attrs {
						w.attr(a.k, a.v)
					}
				}
			}
		}
	}
	empty := v == nil || (isObj && len(obj) == 0)
	if empty {
		w.b.WriteString(" />")
		return
	}
	w.b.WriteByte('>')
	if isObj {
		for _, m := range obj {
			if m.k == w.p.attributeName || w.isNamespace(m.k) {
				continue
			}
			w.element(m.k, m.v, depth+1)
		}
	} else {
		_ = xml.EscapeText(w.b, []byte(scalarText(v)))
	}
	w.b.WriteString("</")
	w.b.WriteString(n)
	w.b.WriteByte('>')
}

// jsonObject is a JSON object with its members in document order (XML
// cares: a SOAP Header comes before the Body).
type jsonObject []jsonMember

type jsonMember struct {
	k string
	v any
}

// MarshalJSON writes the members in order.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := json.Marshal(m.k)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.v)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// readOrdered reads one JSON value: objects as jsonObject, arrays as
// []any, numbers as json.Number.
func readOrdered(d *json.Decoder, depth int) (any, error) {
	if depth > MaxDepth*4 {
		return nil, errors.New("nested too deeply")
	}
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := jsonObject{}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := readOrdered(d, depth+1)
				if err != nil {
					return nil, err
				}
				obj = append(obj, jsonMember{k: kt.(string), v: v})
			}
			_, err := d.Token()
			return obj, err
		case '[':
			arr := []any{}
			for d.More() {
				v, err := readOrdered(d, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := d.Token()
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	}
	return tok, nil
}

func scalarText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return v.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// --- xml-to-json ---

type xmlToJSON struct {
	target      bodyTarget
	direct      bool
	always      bool
	considerAcc bool
	alwaysArray bool
}

func compileXMLToJSON(er *ElementReader) (ExtensionPolicy, error) {
	a := er.a
	a.noText()
	a.children()
	p := &xmlToJSON{
		target:      bodyTarget(a.cc.onResponse()),
		direct:      a.oneOf("kind", "direct", "javascript-friendly", "direct") == "direct",
		always:      a.oneOf("apply", "always", "always", "content-type-xml") == "always",
		considerAcc: a.boolean("consider-accept-header", true),
		alwaysArray: a.boolean("always-array-child-elements", false),
	}
	for _, n := range []string{"kind", "apply"} {
		if !a.has(n) {
			a.fail(a.e.Pos, "attribute '%s' is required", n)
		}
	}
	return p, a.err()
}

func (p *xmlToJSON) Run(x *Exchange) error {
	return convertBody(x, bodyConversion{target: p.target, always: p.always, considerAccept: p.considerAcc,
		from: isXMLType, to: isJSONType, convert: p.convert, toType: "application/json", reason: "XmlToJsonConversionFailure", name: "xml-to-json"})
}

// xnode is an element read for conversion.
type xnode struct {
	name     string
	attrs    []xml.Attr
	children []*xnode
	text     strings.Builder
}

// convert reads an XML document and writes it as JSON. kind="direct"
// follows the usual XML-to-JSON mapping (the root element is the top
// property; attributes are "@name"; text beside attributes or elements is
// "#text"; repeated elements become arrays). kind="javascript-friendly"
// drops the "@" of attribute names and writes the text of an element with
// attributes as "#text" too, so values read as plain properties.
func (p *xmlToJSON) convert(b []byte) ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var root *xnode
	var stack []*xnode
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the body is not XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= MaxDepth*4 {
				return nil, errors.New("the XML is nested too deeply")
			}
			n := &xnode{name: qname(t.Name), attrs: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("the body has more than one root element")
				}
				root = n
			} else {
				top := stack[len(stack)-1]
				top.children = append(top.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if root == nil {
		return nil, errors.New("the body has no root element")
	}
	return json.Marshal(jsonObject{{k: root.name, v: p.value(root)}})
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	// encoding/xml resolves prefixes to namespace URLs; keep the local
	// name, as a JSON consumer expects.
	return n.Local
}

func (p *xmlToJSON) value(n *xnode) any {
	text := strings.TrimSpace(n.text.String())
	var attrs []xml.Attr
	for _, a := range n.attrs {
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
			continue
		}
		attrs = append(attrs, a)
	}
	if len(attrs) == 0 && len(n.children) == 0 {
		if text == "" {
			return nil
		}
		return text
	}
	obj := jsonObject{}
	for _, a := range attrs {
		k := a.Name.Local
		if p.direct {
			k = "@" + k
		}
		obj = append(obj, jsonMember{k: k, v: a.Value})
	}
	var order []string
	groups := map[string][]any{}
	for _, c := range n.children {
		if _, ok := groups[c.name]; !ok {
			order = append(order, c.name)
		}
		groups[c.name] = append(groups[c.name], p.value(c))
	}
	for _, k := range order {
		if len(groups[k]) == 1 && !p.alwaysArray {
			obj = append(obj, jsonMember{k: k, v: groups[k][0]})
		} else {
			obj = append(obj, jsonMember{k: k, v: groups[k]})
		}
	}
	if text != "" {
		obj = append(obj, jsonMember{k: "#text", v: text})
	}
	return obj
}
