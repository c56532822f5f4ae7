package expression

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// AST

type node interface{ position() int }

type (
	litNode struct {
		p int
		v any // nil, bool, int64, float64, string
	}
	identNode struct {
		p    int
		name string
	}
	memberNode struct {
		p        int
		x        node
		name     string
		nullCond bool
		targs    []*typeRef // generic arguments (only meaningful when invoked)
	}
	callNode struct {
		p    int
		fn   node // *memberNode or *identNode
		args []*argNode
	}
	argNode struct {
		p      int
		name   string // named argument
		out    bool
		outVar string // "out var n": declares n
		outTyp *typeRef
		x      node
	}
	indexNode struct {
		p        int
		x        node
		idx      node
		nullCond bool
	}
	unaryNode struct {
		p  int
		op string
		x  node
	}
	binaryNode struct {
		p    int
		op   string
		l, r node
	}
	condNode struct {
		p       int
		c, a, b node
	}
	castNode struct {
		p  int
		t  *typeRef
		x  node
		as bool // "x as T": null instead of an invalid cast
	}
	isNode struct {
		p   int
		x   node
		t   *typeRef // nil for "is null"
		neg bool     // "is not"
	}
	lambdaNode struct {
		p      int
		params []string
		body   node       // expression body
		block  *blockStmt // or block body
	}
	interpNode struct {
		p     int
		parts []interpHole
	}
	newNode struct {
		p     int
		t     *typeRef // nil for new[] { ... }
		args  []*argNode
		elems []node       // array initializer
		init  []*initEntry // object or collection initializer
		size  node         // new byte[n]
		array bool
	}
	// initEntry is one entry of an object or collection initializer:
	// Name = value, [key] = value, or an element (Add's arguments).
	initEntry struct {
		p      int
		member string
		key    node
		value  node
		add    []node
	}
	// compiledNode is an already compiled operand, used when the compiler
	// rewrites an initializer into assignments and Add calls.
	compiledNode struct {
		p int
		x cexpr
	}
	assignNode struct {
		p      int
		op     string // "=", "+=", ..., "++", "--"
		target node
		value  node
	}
	// checkedNode is checked(x) or unchecked(x).
	checkedNode struct {
		p       int
		checked bool
		x       node
	}
	// chainEnd marks where a member-access chain ends, so "?." short-circuits
	// exactly the chain it is in.
	chainEnd struct {
		x node
	}
)

type interpHole struct {
	lit    string
	x      node
	format string
	align  int // {x,align}: pad left when positive, right when negative
}

type typeRef struct {
	p        int
	name     string
	args     []*typeRef // List<string>, Dictionary<string, object>
	array    bool
	nullable bool
}

func (t *typeRef) String() string {
	s := t.name
	if len(t.args) > 0 {
		parts := make([]string, len(t.args))
		for i, a := range t.args {
			parts[i] = a.String()
		}
		s += "<" + strings.Join(parts, ", ") + ">"
	}
	if t.nullable {
		s += "?"
	}
	if t.array {
		s += "[]"
	}
	return s
}

func (n *litNode) position() int      { return n.p }
func (n *identNode) position() int    { return n.p }
func (n *memberNode) position() int   { return n.p }
func (n *callNode) position() int     { return n.p }
func (n *argNode) position() int      { return n.p }
func (n *indexNode) position() int    { return n.p }
func (n *unaryNode) position() int    { return n.p }
func (n *binaryNode) position() int   { return n.p }
func (n *condNode) position() int     { return n.p }
func (n *castNode) position() int     { return n.p }
func (n *isNode) position() int       { return n.p }
func (n *lambdaNode) position() int   { return n.p }
func (n *interpNode) position() int   { return n.p }
func (n *newNode) position() int      { return n.p }
func (n *assignNode) position() int   { return n.p }
func (n *chainEnd) position() int     { return n.x.position() }
func (n *checkedNode) position() int  { return n.p }
func (n *compiledNode) position() int { return n.p }

// Parser

const maxDepth = 100

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tkOp && t.text == s
}

func (p *parser) isKeyword(s string) bool {
	t := p.peek()
	return t.kind == tkIdent && t.text == s
}

func (p *parser) accept(s string) bool {
	if p.isOp(s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) errf(pos int, format string, args ...any) {
	panic(&SyntaxError{Offset: pos, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) describe(t token) string {
	switch t.kind {
	case tkEOF:
		return "end of expression"
	case tkIdent:
		return fmt.Sprintf("'%s'", t.text)
	case tkOp:
		return fmt.Sprintf("'%s'", t.text)
	case tkInt, tkDouble:
		return "number"
	default:
		return "string"
	}
}

func (p *parser) expect(s string) token {
	t := p.peek()
	if t.kind != tkOp || t.text != s {
		p.errf(t.pos, "expected '%s', found %s", s, p.describe(t))
	}
	return p.advance()
}

func (p *parser) ident() token {
	t := p.peek()
	if t.kind != tkIdent {
		p.errf(t.pos, "expected an identifier, found %s", p.describe(t))
	}
	return p.advance()
}

func (p *parser) enter(pos int) {
	p.depth++
	if p.depth > maxDepth {
		p.errf(pos, "expression nested too deeply")
	}
}

func (p *parser) leave() { p.depth-- }

// parse parses one whole expression text. It returns either a node (for @(...))
// or a *blockStmt (for @{...}).
func parse(src string) (root any, err error) {
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			root, err = nil, se
		}
	}()
	if len(src) > MaxSourceLen {
		return nil, &SyntaxError{Msg: fmt.Sprintf("expression longer than %d bytes", MaxSourceLen)}
	}
	start := len(src) - len(strings.TrimLeftFunc(src, isSpaceRune))
	end := len(strings.TrimRightFunc(src, isSpaceRune))
	if !strings.HasPrefix(src[start:], "@(") && !strings.HasPrefix(src[start:], "@{") {
		return nil, &SyntaxError{Offset: start, Msg: `an expression starts with "@(" or "@{"`}
	}
	toks, serr := lexAll(src, start+1, end)
	if serr != nil {
		return nil, serr
	}
	p := &parser{src: src, toks: toks}
	if src[start+1] == '(' {
		p.expect("(")
		x := p.expr()
		p.expect(")")
		root = x
	} else {
		root = p.block()
	}
	if t := p.peek(); t.kind != tkEOF {
		p.errf(t.pos, "unexpected %s after the end of the expression", p.describe(t))
	}
	return root, nil
}

// parseHole parses the expression inside an interpolation hole.
func (p *parser) parseHole(part interpPart) node {
	toks, err := lexAll(p.src[:part.pos+len(part.src)], part.pos, part.pos+len(part.src))
	if err != nil {
		panic(err)
	}
	sub := &parser{src: p.src, toks: toks, depth: p.depth}
	x := sub.expr()
	if t := sub.peek(); t.kind != tkEOF {
		sub.errf(t.pos, "unexpected %s in interpolation hole", sub.describe(t))
	}
	return x
}

// Expressions, lowest precedence first.

func (p *parser) expr() node {
	t := p.peek()
	p.enter(t.pos)
	defer p.leave()
	if l := p.tryLambda(); l != nil {
		return l
	}
	x := p.conditional()
	if op, n := p.opAhead(); op != "" {
		switch op {
		case "=", "+=", "-=", "*=", "/=", "%=", "??=", "&=", "|=", "^=", "<<=", ">>=":
			t := p.peek()
			p.i += n
			target := unwrapChain(x)
			switch target.(type) {
			case *identNode, *indexNode, *memberNode:
			default:
				p.errf(t.pos, "the left-hand side of an assignment must be a variable or an indexer")
			}
			return &assignNode{p: t.pos, op: op, target: target, value: p.expr()}
		}
	}
	return x
}

func unwrapChain(x node) node {
	if c, ok := x.(*chainEnd); ok {
		return c.x
	}
	return x
}

func (p *parser) tryLambda() node {
	t := p.peek()
	if t.kind == tkIdent && p.peekAt(1).kind == tkOp && p.peekAt(1).text == "=>" {
		p.advance()
		p.advance()
		return p.lambdaBody(t.pos, []string{t.text})
	}
	if t.kind == tkOp && t.text == "(" {
		// (a, b) => ... or () => ...
		j := 1
		var params []string
		for {
			n := p.peekAt(j)
			if n.kind == tkOp && n.text == ")" {
				break
			}
			if n.kind != tkIdent {
				return nil
			}
			params = append(params, n.text)
			j++
			if c := p.peekAt(j); c.kind == tkOp && c.text == "," {
				j++
				continue
			}
			if c := p.peekAt(j); !(c.kind == tkOp && c.text == ")") {
				return nil
			}
		}
		if a := p.peekAt(j + 1); a.kind == tkOp && a.text == "=>" {
			p.i += j + 2
			return p.lambdaBody(t.pos, params)
		}
	}
	return nil
}

func (p *parser) lambdaBody(pos int, params []string) node {
	l := &lambdaNode{p: pos, params: params}
	if p.isOp("{") {
		l.block = p.block()
	} else {
		l.body = p.expr()
	}
	return l
}

func (p *parser) conditional() node {
	c := p.coalesce()
	if t := p.peek(); t.kind == tkOp && t.text == "?" {
		p.advance()
		a := p.expr()
		p.expect(":")
		b := p.expr()
		return &condNode{p: t.pos, c: c, a: a, b: b}
	}
	return c
}

func (p *parser) coalesce() node {
	l := p.binary(0)
	if t := p.peek(); t.kind == tkOp && t.text == "??" {
		p.advance()
		p.enter(t.pos)
		r := p.coalesce() // right-associative
		p.leave()
		return &binaryNode{p: t.pos, op: "??", l: l, r: r}
	}
	return l
}

var precedence = [][]string{
	{"||"},
	{"&&"},
	{"|"},
	{"^"},
	{"&"},
	{"==", "!="},
	{"<", ">", "<=", ">=", "is", "as"},
	{"<<", ">>"},
	{"+", "-"},
	{"*", "/", "%"},
}

func (p *parser) binary(level int) node {
	if level == len(precedence) {
		return p.switchExpr(p.unary())
	}
	l := p.binary(level + 1)
	for {
		t := p.peek()
		op, ntok := p.opAhead()
		if t.kind == tkIdent && (t.text == "is" || t.text == "as") {
			op, ntok = t.text, 1
		}
		if op == "" || !slices.Contains(precedence[level], op) {
			return l
		}
		p.i += ntok
		p.enter(t.pos)
		switch op {
		case "is":
			n := &isNode{p: t.pos, x: l}
			if p.isKeyword("not") {
				p.advance()
				n.neg = true
			}
			if p.isKeyword("null") {
				p.advance()
			} else {
				n.t = p.parseType()
			}
			l = n
		case "as":
			l = &castNode{p: t.pos, t: p.parseType(), x: l, as: true}
		default:
			l = &binaryNode{p: t.pos, op: op, l: l, r: p.binary(level + 1)}
		}
		p.leave()
	}
}

// opAhead returns the operator that is next and how many tokens spell it.
// The lexer never joins '>' '>' (List<List<string>> closes two type argument
// lists), so the shift operators are joined here from adjacent tokens, as
// C#'s parser does.
func (p *parser) opAhead() (string, int) {
	t := p.peek()
	if t.kind != tkOp {
		return "", 0
	}
	if t.text == "<" || t.text == ">" {
		if n := p.peekAt(1); n.kind == tkOp && n.pos == t.pos+1 && (n.text == t.text || n.text == t.text+"=") {
			return t.text + n.text, 2
		}
	}
	return t.text, 1
}

func (p *parser) unary() node {
	t := p.peek()
	if t.kind == tkIdent && t.text == "throw" {
		return p.throwExpr()
	}
	if t.kind == tkOp {
		switch t.text {
		case "!", "-", "+", "~":
			p.advance()
			p.enter(t.pos)
			x := p.unary()
			p.leave()
			// Fold negative literals so that long.MinValue-style constants work.
			if lit, ok := x.(*litNode); ok && t.text == "-" {
				switch v := lit.v.(type) {
				case int64:
					return &litNode{p: t.pos, v: -v}
				case float64:
					return &litNode{p: t.pos, v: -v}
				}
			}
			return &unaryNode{p: t.pos, op: t.text, x: x}
		case "++", "--":
			p.advance()
			x := p.unary()
			return &assignNode{p: t.pos, op: t.text, target: unwrapChain(x)}
		case "(":
			// A cast: "(" type ")" followed by something that starts an operand.
			if nt := p.peekAt(1); nt.kind == tkIdent {
				save := p.i
				p.advance()
				ref := p.tryType()
				// As in C#, "(T)-x" is a cast only for the predefined keyword types.
				if ref != nil && p.isOp(")") && p.startsExpr(p.peekAt(1)) && (!isOpToken(p.peekAt(1), "-", "+") || keywordTypes[ref.name]) {
					p.advance()
					p.enter(t.pos)
					x := p.unary()
					p.leave()
					return &castNode{p: t.pos, t: ref, x: x}
				}
				p.i = save
			}
			// "(Name)operand" where Name is no type we know: an unsupported cast.
			if nt := p.peekAt(1); nt.kind == tkIdent && !isTypeName(nt.text) && isOpToken(p.peekAt(2), ")") {
				if after := p.peekAt(3); after.kind == tkIdent || after.kind == tkString || after.kind == tkInt || after.kind == tkDouble || isOpToken(after, "(") {
					p.errf(nt.pos, "cannot cast to '%s': the type is not supported", nt.text)
				}
			}
		}
	}
	return p.postfix()
}

var keywordTypes = map[string]bool{
	"string": true, "int": true, "long": true, "short": true, "byte": true, "double": true,
	"float": true, "decimal": true, "bool": true, "object": true, "char": true,
}

func isOpToken(t token, ops ...string) bool {
	if t.kind != tkOp {
		return false
	}
	for _, o := range ops {
		if t.text == o {
			return true
		}
	}
	return false
}

// postfix parses a primary followed by member accesses, calls and indexers.
func (p *parser) postfix() node {
	x := p.primary()
	chained := false
	for {
		t := p.peek()
		if t.kind != tkOp {
			break
		}
		switch t.text {
		case ".", "?.":
			p.advance()
			name := p.ident()
			m := &memberNode{p: name.pos, x: x, name: name.text, nullCond: t.text == "?."}
			m.targs = p.tryTypeArgs()
			x = m
		case "(":
			p.advance()
			x = &callNode{p: t.pos, fn: x, args: p.args(")")}
		case "[", "?[":
			p.advance()
			idx := p.expr()
			p.expect("]")
			x = &indexNode{p: t.pos, x: x, idx: idx, nullCond: t.text == "?["}
		case "++", "--":
			p.advance()
			return &assignNode{p: t.pos, op: "post" + t.text, target: x}
		case "!":
			// The null-forgiving operator changes nothing at run time.
			if n := p.peekAt(1); n.kind == tkOp && (n.text == "." || n.text == ")" || n.text == ";" || n.text == "[") {
				p.advance()
				continue
			}
			return p.endChain(x, chained)
		default:
			return p.endChain(x, chained)
		}
		// The loop is iterative; nesting inside arguments is counted by expr.
		chained = true
	}
	return p.endChain(x, chained)
}

func (p *parser) endChain(x node, chained bool) node {
	if !chained {
		return x
	}
	return &chainEnd{x: x}
}

// tryTypeArgs parses "<T>" after a method name when it is followed by "(".
func (p *parser) tryTypeArgs() []*typeRef {
	if !p.isOp("<") {
		return nil
	}
	save := p.i
	p.advance()
	var refs []*typeRef
	for {
		ref := p.tryType()
		if ref == nil {
			p.i = save
			return nil
		}
		refs = append(refs, ref)
		if p.accept(",") {
			continue
		}
		break
	}
	if !p.isOp(">") || !isOpToken(p.peekAt(1), "(") {
		p.i = save
		return nil
	}
	p.advance()
	return refs
}

func (p *parser) args(closer string) []*argNode {
	var args []*argNode
	if p.accept(closer) {
		return args
	}
	for {
		t := p.peek()
		a := &argNode{p: t.pos}
		if t.kind == tkIdent && isOpToken(p.peekAt(1), ":") {
			a.name = t.text
			p.advance()
			p.advance()
		}
		if p.isKeyword("out") {
			p.advance()
			a.out = true
			if p.isKeyword("var") {
				p.advance()
				a.outVar = p.ident().text
			} else if nt := p.peekAt(1); isTypeName(p.peek().text) && nt.kind == tkIdent {
				a.outTyp = p.parseType()
				a.outVar = p.ident().text
			} else {
				a.x = &identNode{p: p.peek().pos, name: p.ident().text}
			}
		} else {
			a.x = p.expr()
		}
		args = append(args, a)
		if p.accept(",") {
			continue
		}
		p.expect(closer)
		return args
	}
}

func (p *parser) primary() node {
	t := p.peek()
	switch t.kind {
	case tkInt:
		p.advance()
		return &litNode{p: t.pos, v: t.ival}
	case tkDouble:
		p.advance()
		return &litNode{p: t.pos, v: t.fval}
	case tkString:
		p.advance()
		return &litNode{p: t.pos, v: t.text}
	case tkInterp:
		p.advance()
		n := &interpNode{p: t.pos}
		for _, part := range t.parts {
			if !part.hole {
				n.parts = append(n.parts, interpHole{lit: part.lit})
				continue
			}
			h := interpHole{x: p.parseHole(part), format: part.format}
			if part.align != "" {
				a, err := strconv.Atoi(strings.TrimSpace(part.align))
				if err != nil || a > 1000 || a < -1000 {
					p.errf(part.pos+len(part.src), "bad alignment %q in interpolation hole", part.align)
				}
				h.align = a
			}
			n.parts = append(n.parts, h)
		}
		return n
	case tkIdent:
		switch t.text {
		case "true", "false":
			p.advance()
			return &litNode{p: t.pos, v: t.text == "true"}
		case "null":
			p.advance()
			return &litNode{p: t.pos, v: nil}
		case "new":
			return p.newExpr()
		case "checked", "unchecked":
			p.advance()
			p.expect("(")
			x := p.expr()
			p.expect(")")
			return &checkedNode{p: t.pos, checked: t.text == "checked", x: x}
		case "typeof", "default", "nameof", "await", "this", "base", "stackalloc", "sizeof":
			p.errf(t.pos, "'%s' is not supported", t.text)
		}
		p.advance()
		return &identNode{p: t.pos, name: t.text}
	case tkOp:
		if t.text == "(" {
			p.advance()
			x := p.expr()
			p.expect(")")
			return x
		}
	}
	p.errf(t.pos, "expected an expression, found %s", p.describe(t))
	return nil
}

func (p *parser) newExpr() node {
	t := p.advance()
	n := &newNode{p: t.pos}
	if p.isOp("{") {
		return p.anonObj(t.pos)
	}
	if p.isOp("[") {
		p.advance()
		p.expect("]")
		n.array = true
		p.expect("{")
		n.elems = p.exprList("}")
		return n
	}
	ref := p.tryType()
	if ref == nil {
		nt := p.peek()
		if nt.kind == tkIdent {
			p.errf(nt.pos, "'new %s' is not supported", nt.text)
		}
		p.errf(nt.pos, "expected a type, found %s", p.describe(nt))
	}
	n.t = ref
	if !ref.array && p.isOp("[") {
		// new byte[16]: a zeroed array of that length.
		p.advance()
		n.size = p.expr()
		p.expect("]")
		ref.array = true
		n.array = true
		return n
	}
	if ref.array {
		n.array = true
		p.expect("{")
		n.elems = p.exprList("}")
		return n
	}
	if p.isOp("(") {
		p.advance()
		n.args = p.args(")")
	} else if !p.isOp("{") {
		p.errf(p.peek().pos, "expected '(' after 'new %s'", ref)
	}
	if p.isOp("{") {
		n.init = p.initializer()
	}
	return n
}

// initializer parses { Name = v, [k] = v } (an object initializer) or
// { x, { k, v } } (a collection initializer: each entry is Add's arguments).
func (p *parser) initializer() []*initEntry {
	open := p.expect("{")
	p.enter(open.pos)
	defer p.leave()
	entries := []*initEntry{}
	objects, elements := 0, 0
	for !p.accept("}") {
		t := p.peek()
		en := &initEntry{p: t.pos}
		switch {
		case p.isOp("{"):
			p.advance()
			if en.add = p.exprList("}"); len(en.add) == 0 {
				p.errf(t.pos, "an element initializer cannot be empty")
			}
			elements++
		case p.isOp("["):
			p.advance()
			en.key = p.expr()
			p.expect("]")
			p.expect("=")
			en.value = p.expr()
			objects++
		case t.kind == tkIdent && p.isOpAt(1, "="):
			p.advance()
			p.advance()
			en.member, en.value = t.text, p.expr()
			objects++
		default:
			en.add = []node{p.expr()}
			elements++
		}
		if objects > 0 && elements > 0 {
			p.errf(t.pos, "an initializer cannot mix member assignments (Name = value, [key] = value) with collection elements")
		}
		entries = append(entries, en)
		if !p.accept(",") {
			p.expect("}")
			break
		}
	}
	return entries
}

func (p *parser) exprList(closer string) []node {
	var xs []node
	if p.accept(closer) {
		return xs
	}
	for {
		xs = append(xs, p.expr())
		if p.accept(",") {
			if p.accept(closer) {
				return xs
			}
			continue
		}
		p.expect(closer)
		return xs
	}
}

// isOpAt reports whether the token i ahead is the operator op.
func (p *parser) isOpAt(i int, op string) bool {
	t := p.peekAt(i)
	return t.kind == tkOp && t.text == op
}
