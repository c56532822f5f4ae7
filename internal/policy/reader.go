// Package policy implements APIM policy documents: a reader for APIM's
// relaxed XML dialect, compilation into executable chains (with scopes,
// <base/>, named values and fragments), the policies themselves and the
// runtime that serves a gateway call through them.
package policy

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Reader limits. Documents come from the management API, so they are
// bounded like anything else read from the network.
const (
	MaxDocumentSize = 256 << 10
	MaxDepth        = 64
	MaxElements     = 20000
	MaxAttributes   = 64
)

// Pos is a 1-based line and column (in characters) in a document.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }

// Element is one element of a document, children in document order.
type Element struct {
	Name     string
	Attrs    []Attr
	Children []*Element
	// Text is the element's character data (children and comments left
	// out), entities decoded.
	Text Text
	Pos  Pos // of '<'
	// inner is the source between the start and end tags (what a liquid
	// template's set-body holds), after named-value substitution.
	inner string
}

// InnerXML is the element's content as written between its tags: text,
// child elements, comments and CDATA sections, entities not decoded.
func (e *Element) InnerXML() string { return e.inner }

// Attr is one attribute; Value has entities decoded.
type Attr struct {
	Name  string
	Value Text
	Pos   Pos // of the name
}

// Text is decoded character data that remembers where each byte came from,
// so an error at an offset inside it (an expression's parse error) can be
// reported at its line and column in the document.
type Text struct {
	Value string
	start int     // source offset of Value[0] when offs is nil
	offs  []int32 // source offset of each byte of Value, when not contiguous
	src   *source
}

// PosAt returns the document position of byte i of the text.
func (t Text) PosAt(i int) Pos {
	if t.src == nil {
		return Pos{1, 1}
	}
	if t.offs != nil {
		if len(t.offs) == 0 {
			return t.src.pos(t.start)
		}
		if i >= len(t.offs) {
			return t.src.pos(int(t.offs[len(t.offs)-1]) + 1)
		}
		return t.src.pos(int(t.offs[i]))
	}
	return t.src.pos(t.start + i)
}

// Attr returns the attribute with the given name.
func (e *Element) Attr(name string) (*Attr, bool) {
	for i := range e.Attrs {
		if e.Attrs[i].Name == name {
			return &e.Attrs[i], true
		}
	}
	return nil, false
}

// Document is a read document.
type Document struct {
	Root *Element
	src  *source
}

// SyntaxError is a reader error at a position.
type SyntaxError struct {
	Pos Pos
	Msg string
}

func (e *SyntaxError) Error() string { return e.Pos.String() + ": " + e.Msg }

// source maps byte offsets to line:column, optionally through a
// substitution map (named values replaced before reading).
type source struct {
	text  string
	lines []int // offset of each line start
	remap func(off int) int
	orig  *source
}

func newSource(text string) *source {
	s := &source{text: text, lines: []int{0}}
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			s.lines = append(s.lines, i+1)
		}
	}
	return s
}

func (s *source) pos(off int) Pos {
	if s.remap != nil {
		return s.orig.pos(s.remap(off))
	}
	if off > len(s.text) {
		off = len(s.text)
	}
	if off < 0 {
		off = 0
	}
	l := sort.Search(len(s.lines), func(i int) bool { return s.lines[i] > off }) - 1
	col := utf8.RuneCountInString(s.text[s.lines[l]:off]) + 1
	return Pos{l + 1, col}
}

// Read parses a document in APIM's relaxed XML dialect.
func Read(text string) (*Document, error) {
	return read(newSource(text))
}

func read(src *source) (*Document, error) {
	if len(src.text) > MaxDocumentSize {
		return nil, &SyntaxError{Pos{1, 1}, fmt.Sprintf("document is larger than %d KiB", MaxDocumentSize>>10)}
	}
	r := &reader{src: src, s: src.text}
	root, err := r.document()
	if err != nil {
		return nil, err
	}
	return &Document{Root: root, src: src}, nil
}

type reader struct {
	src      *source
	s        string
	i        int
	elements int
}

func (r *reader) errAt(off int, format string, args ...any) error {
	return &SyntaxError{r.src.pos(off), fmt.Sprintf(format, args...)}
}

func (r *reader) document() (*Element, error) {
	if strings.HasPrefix(r.s, "\ufeff") {
		r.i = 3
	}
	var root *Element
	for {
		r.skipSpace()
		if r.i >= len(r.s) {
			break
		}
		switch {
		case strings.HasPrefix(r.s[r.i:], "<?"):
			end := strings.Index(r.s[r.i:], "?>")
			if end < 0 {
				return nil, r.errAt(r.i, "unterminated processing instruction")
			}
			r.i += end + 2
		case strings.HasPrefix(r.s[r.i:], "<!--"):
			if err := r.comment(); err != nil {
				return nil, err
			}
		case strings.HasPrefix(r.s[r.i:], "<!"):
			return nil, r.errAt(r.i, "DOCTYPE and other declarations are not allowed")
		case r.s[r.i] == '<':
			if root != nil {
				return nil, r.errAt(r.i, "only one root element is allowed")
			}
			e, err := r.element(1)
			if err != nil {
				return nil, err
			}
			root = e
		default:
			return nil, r.errAt(r.i, "text outside the root element")
		}
	}
	if root == nil {
		return nil, r.errAt(r.i, "document has no root element")
	}
	return root, nil
}

func (r *reader) skipSpace() {
	for r.i < len(r.s) && isSpace(r.s[r.i]) {
		r.i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (r *reader) comment() error {
	start := r.i
	end := strings.Index(r.s[r.i+4:], "-->")
	if end < 0 {
		return r.errAt(start, "unterminated comment")
	}
	r.i += 4 + end + 3
	return nil
}

func isNameStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool {
	return isNameStart(c) || c == '-' || c == '.' || (c >= '0' && c <= '9')
}

func (r *reader) name() (string, error) {
	start := r.i
	if r.i >= len(r.s) || !isNameStart(r.s[r.i]) {
		if r.i >= len(r.s) {
			return "", r.errAt(r.i, "unexpected end of document, expected a name")
		}
		return "", r.errAt(r.i, "expected a name, found %s", describe(r.s, r.i))
	}
	for r.i < len(r.s) && isNameChar(r.s[r.i]) {
		r.i++
	}
	return r.s[start:r.i], nil
}

func describe(s string, i int) string {
	if i >= len(s) {
		return "end of document"
	}
	c, _ := utf8.DecodeRuneInString(s[i:])
	return strconv.QuoteRune(c)
}

// element reads from '<' to the end of the element.
func (r *reader) element(depth int) (*Element, error) {
	if depth > MaxDepth {
		return nil, r.errAt(r.i, "elements are nested deeper than %d", MaxDepth)
	}
	r.elements++
	if r.elements > MaxElements {
		return nil, r.errAt(r.i, "document has more than %d elements", MaxElements)
	}
	start := r.i
	r.i++ // '<'
	name, err := r.name()
	if err != nil {
		return nil, err
	}
	e := &Element{Name: name, Pos: r.src.pos(start)}
	for {
		sp := r.i
		r.skipSpace()
		if r.i >= len(r.s) {
			return nil, r.errAt(start, "unterminated start tag <%s>", name)
		}
		if strings.HasPrefix(r.s[r.i:], "/>") {
			r.i += 2
			e.Text = Text{start: r.i, src: r.src}
			return e, nil
		}
		if r.s[r.i] == '>' {
			r.i++
			break
		}
		if sp == r.i {
			return nil, r.errAt(r.i, "expected whitespace, '>' or '/>' in <%s>, found %s", name, describe(r.s, r.i))
		}
		if err := r.attr(e); err != nil {
			return nil, err
		}
	}
	// Content.
	var tb textBuilder
	tb.src = r.src
	tb.start = r.i
	for {
		if r.i >= len(r.s) {
			return nil, r.errAt(start, "element <%s> is not closed", name)
		}
		c := r.s[r.i]
		switch {
		case c == '<' && strings.HasPrefix(r.s[r.i:], "</"):
			closeAt := r.i
			r.i += 2
			ep := r.i
			end, err := r.name()
			if err != nil {
				return nil, err
			}
			if end != name {
				return nil, r.errAt(ep, "</%s> does not close <%s> opened at %s", end, name, e.Pos)
			}
			r.skipSpace()
			if r.i >= len(r.s) || r.s[r.i] != '>' {
				return nil, r.errAt(r.i, "expected '>' to end </%s>", end)
			}
			r.i++
			e.Text = tb.text()
			e.inner = r.s[tb.start:closeAt]
			return e, nil
		case c == '<' && strings.HasPrefix(r.s[r.i:], "<!--"):
			if err := r.comment(); err != nil {
				return nil, err
			}
		case c == '<' && strings.HasPrefix(r.s[r.i:], "<![CDATA["):
			cs := r.i + 9
			end := strings.Index(r.s[cs:], "]]>")
			if end < 0 {
				return nil, r.errAt(r.i, "unterminated CDATA section")
			}
			tb.raw(r.s, cs, cs+end)
			r.i = cs + end + 3
		case c == '<' && strings.HasPrefix(r.s[r.i:], "<?"):
			end := strings.Index(r.s[r.i:], "?>")
			if end < 0 {
				return nil, r.errAt(r.i, "unterminated processing instruction")
			}
			r.i += end + 2
		case c == '<' && (r.i+1 >= len(r.s) || !isNameStart(r.s[r.i+1])):
			return nil, r.errAt(r.i, "'<' in text: write &lt;, or put it inside an expression @(...)")
		case c == '<':
			child, err := r.element(depth + 1)
			if err != nil {
				return nil, err
			}
			e.Children = append(e.Children, child)
		case c == '@' && r.i+1 < len(r.s) && (r.s[r.i+1] == '(' || r.s[r.i+1] == '{'):
			// An expression in text: '<', '>' and '&&' are code here.
			end, err := scanExpr(r.src, r.i)
			if err != nil {
				return nil, err
			}
			if err := tb.decoded(r.src, r.i, end); err != nil {
				return nil, err
			}
			r.i = end
		case c == '&':
			n, err := r.entity(&tb)
			if err != nil {
				return nil, err
			}
			r.i += n
		default:
			tb.add(c, r.i)
			r.i++
		}
	}
}

func (r *reader) attr(e *Element) error {
	ap := r.i
	name, err := r.name()
	if err != nil {
		return err
	}
	if _, dup := e.Attr(name); dup {
		return r.errAt(ap, "attribute %q appears twice", name)
	}
	if len(e.Attrs) >= MaxAttributes {
		return r.errAt(ap, "more than %d attributes", MaxAttributes)
	}
	r.skipSpace()
	if r.i >= len(r.s) || r.s[r.i] != '=' {
		return r.errAt(r.i, "expected '=' after attribute %q", name)
	}
	r.i++
	r.skipSpace()
	if r.i >= len(r.s) || (r.s[r.i] != '"' && r.s[r.i] != '\'') {
		return r.errAt(r.i, "expected a quoted value for attribute %q", name)
	}
	q := r.s[r.i]
	r.i++
	var tb textBuilder
	tb.src = r.src
	tb.start = r.i
	lead := r.i
	for lead < len(r.s) && isSpace(r.s[lead]) {
		lead++
	}
	if strings.HasPrefix(r.s[lead:], "@(") || strings.HasPrefix(r.s[lead:], "@{") {
		// The whole value is an expression (after any spaces); quotes
		// inside it are code, as APIM accepts them. It must end right at
		// the closing quote.
		tb.raw(r.s, r.i, lead)
		r.i = lead
		end, err := scanExpr(r.src, r.i)
		if err != nil {
			return r.attrExprError(err, q)
		}
		closeAt := end
		for closeAt < len(r.s) && isSpace(r.s[closeAt]) {
			closeAt++
		}
		if closeAt >= len(r.s) || r.s[closeAt] != q {
			return r.errAt(closeAt, "expected %c to end attribute %q after its expression", q, name)
		}
		if err := tb.decoded(r.src, r.i, end); err != nil {
			return err
		}
		r.i = closeAt + 1
	} else {
		for {
			if r.i >= len(r.s) {
				return r.errAt(ap, "unterminated value of attribute %q", name)
			}
			c := r.s[r.i]
			if c == q {
				r.i++
				break
			}
			switch c {
			case '<':
				return r.errAt(r.i, "'<' in the value of attribute %q (write &lt;)", name)
			case '&':
				n, err := r.entity(&tb)
				if err != nil {
					return err
				}
				r.i += n
			default:
				tb.add(c, r.i)
				r.i++
			}
		}
	}
	e.Attrs = append(e.Attrs, Attr{Name: name, Value: tb.text(), Pos: r.src.pos(ap)})
	return nil
}

// attrExprError improves an error that ran past the attribute's likely end
// (a quote followed by '>' or '/>'): with raw quotes allowed in
// expressions, a missing ')' otherwise shows up as a string running to the
// end of the document.
func (r *reader) attrExprError(err error, q byte) error {
	var se *SyntaxError
	if !errors.As(err, &se) {
		return err
	}
	for k := r.i + 2; k < len(r.s); k++ {
		if r.s[k] != q {
			continue
		}
		j := k + 1
		for j < len(r.s) && isSpace(r.s[j]) {
			j++
		}
		if j < len(r.s) && (r.s[j] == '>' || strings.HasPrefix(r.s[j:], "/>")) {
			if p := r.src.pos(k); before(p, se.Pos) {
				return &SyntaxError{p, "unterminated expression starting at " + r.src.pos(r.i).String()}
			}
			return err
		}
	}
	return err
}

func before(a, b Pos) bool { return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col) }

// entity decodes the entity at r.i into tb and returns its length.
func (r *reader) entity(tb *textBuilder) (int, error) {
	c, n := decodeEntity(r.s, r.i)
	if n == 0 {
		if !looksLikeEntity(r.s, r.i) {
			// A bare '&' (a URL's query, "Tom & Jerry"): APIM documents
			// are often written with one; it can only mean itself.
			tb.add('&', r.i)
			return 1, nil
		}
		return 0, r.errAt(r.i, "bad entity reference (write &amp; for '&')")
	}
	tb.addRune(c, r.i)
	return n, nil
}

// looksLikeEntity reports whether s[i] ('&') starts something written as
// an entity reference: '&', an optional '#', letters or digits, ';'.
func looksLikeEntity(s string, i int) bool {
	j := i + 1
	if j < len(s) && s[j] == '#' {
		j++
	}
	k := j
	for k < len(s) && k-j < 32 && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9')) {
		k++
	}
	return k > j && k < len(s) && s[k] == ';'
}

// decodeEntity decodes the entity at s[i] ('&'). n is 0 if there is none.
func decodeEntity(s string, i int) (rune, int) {
	end := strings.IndexByte(s[i:min(len(s), i+12)], ';')
	if end < 2 {
		return 0, 0
	}
	ref := s[i+1 : i+end]
	switch ref {
	case "lt":
		return '<', end + 1
	case "gt":
		return '>', end + 1
	case "amp":
		return '&', end + 1
	case "quot":
		return '"', end + 1
	case "apos":
		return '\'', end + 1
	}
	if ref[0] == '#' {
		var v uint64
		var err error
		if len(ref) > 1 && (ref[1] == 'x' || ref[1] == 'X') {
			v, err = strconv.ParseUint(ref[2:], 16, 32)
		} else {
			v, err = strconv.ParseUint(ref[1:], 10, 32)
		}
		if err != nil || v == 0 || v > utf8.MaxRune || !utf8.ValidRune(rune(v)) {
			return 0, 0
		}
		return rune(v), end + 1
	}
	return 0, 0
}

// textBuilder accumulates decoded text with source offsets.
type textBuilder struct {
	b      []byte
	offs   []int32
	start  int
	mapped bool // offs is needed: text is not a contiguous source slice
	src    *source
}

func (t *textBuilder) add(c byte, off int) {
	if !t.mapped && off != t.start+len(t.b) {
		t.mapped = true
	}
	t.b = append(t.b, c)
	t.offs = append(t.offs, int32(off))
}

func (t *textBuilder) addRune(c rune, off int) {
	t.mapped = true
	n := len(t.b)
	t.b = utf8.AppendRune(t.b, c)
	for range len(t.b) - n {
		t.offs = append(t.offs, int32(off))
	}
}

func (t *textBuilder) raw(s string, from, to int) {
	for i := from; i < to; i++ {
		t.add(s[i], i)
	}
}

// decoded appends s[from:to] decoding entities but leaving any other '&'
// alone ('&&' is code inside expressions).
func (t *textBuilder) decoded(src *source, from, to int) error {
	s := src.text
	for i := from; i < to; {
		if s[i] == '&' {
			if c, n := decodeEntity(s, i); n > 0 {
				t.addRune(c, i)
				i += n
				continue
			}
		}
		t.add(s[i], i)
		i++
	}
	return nil
}

func (t *textBuilder) text() Text {
	if !t.mapped {
		return Text{Value: string(t.b), start: t.start, src: t.src}
	}
	return Text{Value: string(t.b), start: t.start, offs: t.offs, src: t.src}
}

// scanExpr finds the end of the expression starting at s[i] ("@(" or "@{")
// and returns the offset just after its closing bracket. It understands C#
// strings (regular, verbatim, interpolated), character literals and
// comments, so brackets and quotes inside them do not count. Entities
// (&quot;, &lt;, ...) are read as the characters they stand for, so strictly
// escaped documents scan the same as relaxed ones.
func scanExpr(src *source, i int) (int, error) {
	s := src.text
	start := i
	type open struct {
		c   byte
		off int
	}
	stack := []open{}
	next := func(j int) (byte, int) { // decoded char at j and its width
		if s[j] == '&' {
			if c, n := decodeEntity(s, j); n > 0 && c < 128 {
				return byte(c), n
			}
		}
		return s[j], 1
	}
	// An unterminated expression is reported at its innermost unclosed
	// bracket, which is usually where the author lost track.
	unterminated := func(int) error {
		at := start + 1
		if len(stack) > 0 {
			at = stack[len(stack)-1].off
		}
		return &SyntaxError{src.pos(at), "unterminated expression starting at " + src.pos(start).String()}
	}
	j := i + 1
	// skipString scans a string literal whose opening quote is at j.
	var skipString func(j int, verbatim, interp bool) (int, error)
	var skipCode func(j int, closer byte) (int, error)
	skipString = func(j int, verbatim, interp bool) (int, error) {
		q := j
		_, w := next(j)
		j += w
		for j < len(s) {
			c, w := next(j)
			switch {
			case c == '\\' && !verbatim:
				j += w
				if j < len(s) {
					_, w2 := next(j)
					j += w2
				}
				continue
			case c == '"':
				if verbatim && j+w < len(s) {
					if c2, w2 := next(j + w); c2 == '"' {
						j += w + w2
						continue
					}
				}
				return j + w, nil
			case c == '{' && interp:
				if j+w < len(s) {
					if c2, w2 := next(j + w); c2 == '{' {
						j += w + w2
						continue
					}
				}
				end, err := skipCode(j+w, '}')
				if err != nil {
					return 0, err
				}
				j = end
				continue
			}
			j += w
		}
		return 0, &SyntaxError{src.pos(len(s)), "unterminated string starting at " + src.pos(q).String() + " in expression starting at " + src.pos(start).String()}
	}
	// skipCode scans code until the closer matching an already consumed
	// opener, returning the offset after the closer.
	skipCode = func(j int, closer byte) (int, error) {
		depth := 0
		for j < len(s) {
			c, w := next(j)
			switch c {
			case '(', '[', '{':
				depth++
				stack = append(stack, open{c, j})
			case ')', ']', '}':
				if depth == 0 {
					if c != closer {
						return 0, &SyntaxError{src.pos(j), fmt.Sprintf("unexpected %q in expression starting at %s", c, src.pos(start))}
					}
					return j + w, nil
				}
				top := stack[len(stack)-1]
				if match(top.c) != c {
					return 0, &SyntaxError{src.pos(j), fmt.Sprintf("%q does not match %q at %s", c, top.c, src.pos(top.off))}
				}
				stack = stack[:len(stack)-1]
				depth--
			case '"':
				end, err := skipString(j, false, false)
				if err != nil {
					return 0, err
				}
				j = end
				continue
			case '@', '$':
				// @"...", $"...", $@"...", @$"..."
				k := j + w
				verb, interp := c == '@', c == '$'
				if k < len(s) {
					c2, w2 := next(k)
					if (c2 == '@' || c2 == '$') && c2 != c {
						verb, interp = true, true
						k += w2
					}
				}
				if k < len(s) {
					if c3, _ := next(k); c3 == '"' {
						end, err := skipString(k, verb, interp)
						if err != nil {
							return 0, err
						}
						j = end
						continue
					}
				}
			case '\'':
				k := j + w
				if k < len(s) {
					c2, w2 := next(k)
					k += w2
					if c2 == '\\' && k < len(s) {
						_, w3 := next(k)
						k += w3
					}
					if k < len(s) {
						if c4, w4 := next(k); c4 == '\'' {
							j = k + w4
							continue
						}
					}
				}
			case '/':
				if j+1 < len(s) && s[j+1] == '/' {
					nl := strings.IndexByte(s[j:], '\n')
					if nl < 0 {
						return 0, unterminated(len(s))
					}
					j += nl + 1
					continue
				}
				if j+1 < len(s) && s[j+1] == '*' {
					e := strings.Index(s[j+2:], "*/")
					if e < 0 {
						return 0, unterminated(len(s))
					}
					j += 2 + e + 2
					continue
				}
			}
			j += w
		}
		return 0, unterminated(len(s))
	}
	closer := byte(')')
	if s[j] == '{' {
		closer = '}'
	}
	return skipCode(j+1, closer)
}

func match(c byte) byte {
	switch c {
	case '(':
		return ')'
	case '[':
		return ']'
	}
	return '}'
}
