package expression

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
)

// System.Xml.Linq: XDocument, XElement, XAttribute, XName and XNamespace,
// read from text (Parse, Body.As<XDocument>()) and built (new XElement(name,
// content...)). Names are strings; a namespaced name is written "{uri}local"
// as XName.ToString() prints it, and ns + "local" of an XNamespace gives it.

const maxXMLDepth = 200

const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

type xElement struct {
	ns, local string
	prefix    string // the prefix the source used, for printing
	attrs     []*xAttribute
	nodes     []any // *xElement, xText, xComment
	parent    *xElement
}

type xAttribute struct {
	ns, local string
	prefix    string
	value     string
	parent    *xElement
}

type xText string
type xComment string

type xDocument struct {
	root  *xElement
	nodes []any // comments before and after the root, and the root
}

// xNamespace is an XNamespace; it prints as "{uri}" so that ns + "local"
// is the expanded name.
type xNamespace string

// saveOptions is System.Xml.Linq.SaveOptions.
type saveOptions int

var (
	tXDocument  = &typ{name: "XDocument"}
	tXElement   = &typ{name: "XElement", scalarCast: true}
	tXAttribute = &typ{name: "XAttribute", scalarCast: true}
	tXNamespace = &typ{name: "XNamespace"}
	tSaveOpts   = &typ{name: "SaveOptions", valueType: true}
)

// splitName reads "{uri}local" or "local".
func splitName(s string) (ns, local string, err error) {
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", "", fmt.Errorf("The '{' character, hexadecimal value 0x7B, cannot be included in a name.")
		}
		ns, s = s[1:end], s[end+1:]
	}
	if s == "" || strings.ContainsAny(s, " <>&\"'{}/=") {
		return "", "", fmt.Errorf("The name '%s' is not a valid XML name.", s)
	}
	return ns, s, nil
}

func nameArg(v any) (ns, local string, err error) {
	switch v := v.(type) {
	case string:
		return splitName(v)
	case nil:
		return "", "", errArgNull("name")
	}
	return "", "", fmt.Errorf("an XML name must be a string, not %s", typeNameOf(v))
}

func expanded(ns, local string) string {
	if ns == "" {
		return local
	}
	return "{" + ns + "}" + local
}

// value is XElement.Value: the text of every descendant, in order.
func (x *xElement) value() string {
	var b strings.Builder
	var walk func(*xElement)
	walk = func(el *xElement) {
		for _, n := range el.nodes {
			switch n := n.(type) {
			case xText:
				b.WriteString(string(n))
			case *xElement:
				walk(n)
			}
		}
	}
	walk(x)
	return b.String()
}

func (x *xElement) elements(name *[2]string) []any {
	out := []any{}
	for _, n := range x.nodes {
		if el, ok := n.(*xElement); ok && (name == nil || el.ns == name[0] && el.local == name[1]) {
			out = append(out, el)
		}
	}
	return out
}

func (x *xElement) descendants(name *[2]string, self bool) []any {
	out := []any{}
	var walk func(*xElement, bool)
	walk = func(el *xElement, include bool) {
		if include && (name == nil || el.ns == name[0] && el.local == name[1]) {
			out = append(out, el)
		}
		for _, n := range el.nodes {
			if c, ok := n.(*xElement); ok {
				walk(c, true)
			}
		}
	}
	walk(x, self)
	return out
}

func (x *xElement) attr(ns, local string) *xAttribute {
	for _, a := range x.attrs {
		if a.ns == ns && a.local == local {
			return a
		}
	}
	return nil
}

func (x *xElement) removeNode(n any) {
	for i, c := range x.nodes {
		if c == n {
			x.nodes = append(x.nodes[:i], x.nodes[i+1:]...)
			return
		}
	}
}

func (x *xElement) clone() *xElement {
	c := &xElement{ns: x.ns, local: x.local, prefix: x.prefix}
	for _, a := range x.attrs {
		c.attrs = append(c.attrs, &xAttribute{ns: a.ns, local: a.local, prefix: a.prefix, value: a.value, parent: c})
	}
	for _, n := range x.nodes {
		if el, ok := n.(*xElement); ok {
			ch := el.clone()
			ch.parent = c
			n = ch
		}
		c.nodes = append(c.nodes, n)
	}
	return c
}

// add appends content as XContainer.Add does: elements (copied when they
// already have a parent, or when adding would make a cycle), attributes,
// documents' roots, sequences flattened, null ignored, anything else as text.
func (x *xElement) add(e *env, content any) error {
	if err := e.grow(16); err != nil {
		return err
	}
	switch c := content.(type) {
	case nil:
	case *xElement:
		for p := x; p != nil; p = p.parent {
			if p == c {
				c = c.clone()
				break
			}
		}
		if c.parent != nil {
			c = c.clone()
		}
		c.parent = x
		x.nodes = append(x.nodes, c)
	case *xDocument:
		return x.add(e, c.root)
	case *xAttribute:
		if x.attr(c.ns, c.local) != nil {
			return errors.New("Duplicate attribute.")
		}
		a := *c
		a.parent = x
		x.attrs = append(x.attrs, &a)
	case xComment:
		x.nodes = append(x.nodes, c)
	case []any:
		for _, v := range c {
			if err := x.add(e, v); err != nil {
				return err
			}
		}
	case []string:
		for _, v := range c {
			if err := x.add(e, v); err != nil {
				return err
			}
		}
	case *JArray, *JObject:
		x.addText(jsonText(c, ""))
	default:
		x.addText(xmlScalar(c))
	}
	return nil
}

func (x *xElement) addText(s string) {
	if s == "" {
		return
	}
	if n := len(x.nodes); n > 0 {
		if t, ok := x.nodes[n-1].(xText); ok {
			x.nodes[n-1] = t + xText(s)
			return
		}
	}
	x.nodes = append(x.nodes, xText(s))
}

// xmlScalar prints a value as XElement content does: booleans in lower case,
// dates in ISO 8601.
func xmlScalar(v any) string {
	switch v := v.(type) {
	case bool:
		if v {
			return "true"
		}
		return "false"
	case float64:
		return formatDouble(v)
	}
	if t, ok := v.(interface{ Format(string) string }); ok {
		if s, err := formatValue(t, "o"); err == nil {
			return s
		}
	}
	return toString(v)
}

// Parsing

func parseXML(e *env, s string) (*xDocument, error) {
	if e != nil {
		if err := e.grow(len(s) * 2); err != nil {
			return nil, err
		}
	}
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.Strict = true
	doc := &xDocument{}
	var cur *xElement
	// Prefixes are resolved here, from raw tokens: encoding/xml leaves an
	// undeclared prefix in place of the namespace, which cannot be told
	// from a namespace whose URI is that same word.
	type binding struct{ prefix, uri string }
	var bound []binding // innermost last
	var marks []int     // len(bound) at each open element
	var open []xml.Name // raw names of the open elements
	uriOf := func(prefix string) (string, bool) {
		for i := len(bound) - 1; i >= 0; i-- {
			if bound[i].prefix == prefix {
				return bound[i].uri, true
			}
		}
		return "", prefix == ""
	}
	// prefixOf is the prefix XElement.ToString() writes for a namespace:
	// the innermost one bound to it.
	prefixOf := func(uri string) string {
		for i := len(bound) - 1; i >= 0; i-- {
			if b := bound[i]; b.uri == uri {
				if u, _ := uriOf(b.prefix); u == uri {
					return b.prefix
				}
			}
		}
		return ""
	}
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			if len(open) > 0 {
				return nil, fmt.Errorf("the XML is not well formed: element <%s> is not closed", rawName(open[len(open)-1]))
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the XML is not well formed: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(open) >= maxXMLDepth {
				return nil, fmt.Errorf("the XML is nested deeper than %d levels", maxXMLDepth)
			}
			open = append(open, t.Name)
			marks = append(marks, len(bound))
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					if !isNCName(a.Name.Local) {
						return nil, fmt.Errorf("the XML is not well formed: '%s' is not a valid namespace prefix", a.Name.Local)
					}
					if a.Value == "" {
						return nil, fmt.Errorf("the XML is not well formed: prefix '%s' is bound to an empty namespace", a.Name.Local)
					}
					bound = append(bound, binding{a.Name.Local, a.Value})
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					bound = append(bound, binding{"", a.Value})
				}
			}
			el := &xElement{local: t.Name.Local, parent: cur}
			ns, ok := uriOf(t.Name.Space)
			if !ok {
				return nil, fmt.Errorf("the XML is not well formed: '%s' is an undeclared prefix", t.Name.Space)
			}
			el.ns = ns
			el.prefix = prefixOf(ns)
			for _, a := range t.Attr {
				at := &xAttribute{local: a.Name.Local, value: a.Value, parent: el}
				switch {
				case a.Name.Space == "xmlns":
					at.local = "xmlns:" + a.Name.Local
				case a.Name.Space == "" && a.Name.Local == "xmlns":
				case a.Name.Space == "xml":
					at.ns, at.prefix = xmlNamespace, "xml"
				case a.Name.Space != "":
					// An unprefixed attribute is in no namespace; a
					// prefixed one is in its prefix's.
					uri, ok := uriOf(a.Name.Space)
					if !ok {
						return nil, fmt.Errorf("the XML is not well formed: '%s' is an undeclared prefix", a.Name.Space)
					}
					at.ns, at.prefix = uri, prefixOf(uri)
				}
				el.attrs = append(el.attrs, at)
			}
			if cur == nil {
				if doc.root != nil {
					return nil, errors.New("the XML is not well formed: there are multiple root elements")
				}
				doc.root = el
				doc.nodes = append(doc.nodes, el)
			} else {
				cur.nodes = append(cur.nodes, el)
			}
			cur = el
		case xml.EndElement:
			if len(open) == 0 {
				return nil, fmt.Errorf("the XML is not well formed: unexpected end element </%s>", rawName(t.Name))
			}
			if top := open[len(open)-1]; top != t.Name {
				return nil, fmt.Errorf("the XML is not well formed: element <%s> closed by </%s>", rawName(top), rawName(t.Name))
			}
			open = open[:len(open)-1]
			bound = bound[:marks[len(marks)-1]]
			marks = marks[:len(marks)-1]
			cur = cur.parent
		case xml.CharData:
			if cur == nil {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, errors.New("the XML is not well formed: text outside the root element")
				}
				continue
			}
			cur.addText(string(t))
		case xml.Comment:
			if cur == nil {
				doc.nodes = append(doc.nodes, xComment(t))
			} else {
				cur.nodes = append(cur.nodes, xComment(t))
			}
		}
	}
	if doc.root == nil {
		return nil, errors.New("Root element is missing.")
	}
	// Insignificant white space goes, as with LoadOptions.None.
	var trim func(*xElement)
	trim = func(el *xElement) {
		hasElem := false
		for _, n := range el.nodes {
			if _, ok := n.(*xElement); ok {
				hasElem = true
			}
		}
		kept := el.nodes[:0]
		for _, n := range el.nodes {
			if t, ok := n.(xText); ok && hasElem && strings.TrimSpace(string(t)) == "" {
				continue
			}
			if c, ok := n.(*xElement); ok {
				trim(c)
			}
			kept = append(kept, n)
		}
		el.nodes = kept
	}
	trim(doc.root)
	return doc, nil
}

// rawName prints a name as it was written.
func rawName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// isNCName reports whether s is a name without a colon, as a namespace
// prefix must be.
func isNCName(s string) bool {
	if s == "" || strings.Contains(s, ":") {
		return false
	}
	// A name is valid when encoding/xml reads it back as an element name.
	tok, err := xml.NewDecoder(strings.NewReader("<" + s + "/>")).RawToken()
	start, ok := tok.(xml.StartElement)
	return err == nil && ok && start.Name.Space == "" && start.Name.Local == s && len(start.Attr) == 0
}

// Printing, as XElement.ToString(): two-space indentation, <a /> for empty
// elements, no indentation inside mixed content.

func writeXML(b *strings.Builder, x *xElement, indent bool, depth int, scope map[string]string) {
	// scope[""] is the default namespace in effect. An unprefixed element
	// in another namespace declares it (xmlns="" to leave one), unless its
	// own attributes declare it already.
	declare := false
	if x.prefix == "" {
		own := false
		for _, a := range x.attrs {
			if a.ns == "" && a.local == "xmlns" {
				own = true
			}
		}
		if !own && scope[""] != x.ns {
			declare = true
		}
		if own || declare {
			scope = maps.Clone(scope)
			scope[""] = x.ns
		}
	}
	name := x.local
	if x.prefix != "" {
		name = x.prefix + ":" + x.local
	}
	b.WriteByte('<')
	b.WriteString(name)
	if declare {
		b.WriteString(` xmlns="`)
		xmlEscape(b, x.ns, true)
		b.WriteByte('"')
	}
	for _, a := range x.attrs {
		b.WriteByte(' ')
		if a.ns != "" && a.prefix != "" {
			b.WriteString(a.prefix + ":")
		}
		b.WriteString(a.local)
		b.WriteString(`="`)
		xmlEscape(b, a.value, true)
		b.WriteByte('"')
	}
	if len(x.nodes) == 0 {
		b.WriteString(" />")
		return
	}
	b.WriteByte('>')
	mixed := false
	for _, n := range x.nodes {
		if _, ok := n.(xText); ok {
			mixed = true
		}
	}
	for _, n := range x.nodes {
		if indent && !mixed {
			b.WriteString("\n")
			b.WriteString(strings.Repeat("  ", depth+1))
		}
		switch n := n.(type) {
		case *xElement:
			writeXML(b, n, indent && !mixed, depth+1, scope)
		case xText:
			xmlEscape(b, string(n), false)
		case xComment:
			b.WriteString("<!--" + string(n) + "-->")
		}
	}
	if indent && !mixed {
		b.WriteString("\n")
		b.WriteString(strings.Repeat("  ", depth))
	}
	b.WriteString("</" + name + ">")
}

func xmlEscape(b *strings.Builder, s string, attr bool) {
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>' && !attr:
			b.WriteString("&gt;")
		case r == '"' && attr:
			b.WriteString("&quot;")
		case r == '\n' && attr:
			b.WriteString("&#xA;")
		case r == '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
}

func (x *xElement) text(indent bool) string {
	var b strings.Builder
	writeXML(&b, x, indent, 0, map[string]string{})
	return b.String()
}

func (d *xDocument) text(indent bool) string {
	var b strings.Builder
	for i, n := range d.nodes {
		if i > 0 && indent {
			b.WriteString("\n")
		}
		switch n := n.(type) {
		case *xElement:
			writeXML(&b, n, indent, 0, map[string]string{})
		case xComment:
			b.WriteString("<!--" + string(n) + "-->")
		}
	}
	return b.String()
}

func (a *xAttribute) String() string {
	var b strings.Builder
	if a.ns != "" && a.prefix != "" {
		b.WriteString(a.prefix + ":")
	}
	b.WriteString(a.local + `="`)
	xmlEscape(&b, a.value, true)
	b.WriteByte('"')
	return b.String()
}
