package expression

import "fmt"

// Parsing statements (blocks, declarations, if, foreach, using, return) and
// type references.

// Statements

type stmt interface{ position() int }

type (
	blockStmt struct {
		p     int
		stmts []stmt
	}
	varStmt struct {
		p    int
		name string
		typ  *typeRef // nil for var
		init node     // may be nil with an explicit type
	}
	// checkedStmt is checked { ... } or unchecked { ... }.
	checkedStmt struct {
		p       int
		checked bool
		body    *blockStmt
	}
	exprStmt struct {
		x node
	}
	ifStmt struct {
		p    int
		cond node
		then stmt
		els  stmt
	}
	returnStmt struct {
		p int
		x node
	}
	foreachStmt struct {
		p    int
		name string
		coll node
		body stmt
	}
	jumpStmt struct {
		p    int
		kind string // break, continue
	}
	// funcStmt declares a local function: T Name(T1 a, ...) { ... } or => x;
	funcStmt struct {
		p      int
		name   string
		result *typeRef // nil for void
		params []funcParam
		body   *blockStmt // or
		expr   node
	}
)

type funcParam struct {
	p    int
	name string
	typ  *typeRef
}

func (s *blockStmt) position() int   { return s.p }
func (s *varStmt) position() int     { return s.p }
func (s *exprStmt) position() int    { return s.x.position() }
func (s *ifStmt) position() int      { return s.p }
func (s *returnStmt) position() int  { return s.p }
func (s *foreachStmt) position() int { return s.p }
func (s *jumpStmt) position() int    { return s.p }
func (s *checkedStmt) position() int { return s.p }
func (s *funcStmt) position() int    { return s.p }

// Statements

func (p *parser) block() *blockStmt {
	t := p.expect("{")
	p.enter(t.pos)
	defer p.leave()
	b := &blockStmt{p: t.pos}
	for !p.isOp("}") {
		if p.peek().kind == tkEOF {
			p.errf(p.peek().pos, "expected '}', found end of expression")
		}
		b.stmts = append(b.stmts, p.statement())
	}
	p.advance()
	return b
}

func (p *parser) statement() stmt {
	t := p.peek()
	if t.kind == tkOp {
		switch t.text {
		case "{":
			return p.block()
		case ";":
			p.advance()
			return &blockStmt{p: t.pos}
		}
	}
	if t.kind == tkIdent {
		switch t.text {
		case "return":
			p.advance()
			s := &returnStmt{p: t.pos}
			if !p.isOp(";") {
				s.x = p.expr()
			}
			p.expect(";")
			return s
		case "if":
			p.advance()
			p.expect("(")
			s := &ifStmt{p: t.pos, cond: p.expr()}
			p.expect(")")
			p.enter(t.pos)
			s.then = p.statement()
			if p.isKeyword("else") {
				p.advance()
				s.els = p.statement()
			}
			p.leave()
			return s
		case "foreach":
			p.advance()
			p.expect("(")
			if !p.isKeyword("var") {
				p.parseType()
			} else {
				p.advance()
			}
			name := p.ident()
			if !p.isKeyword("in") {
				p.errf(p.peek().pos, "expected 'in', found %s", p.describe(p.peek()))
			}
			p.advance()
			s := &foreachStmt{p: t.pos, name: name.text, coll: p.expr()}
			p.expect(")")
			p.enter(t.pos)
			s.body = p.statement()
			p.leave()
			return s
		case "break", "continue":
			p.advance()
			p.expect(";")
			return &jumpStmt{p: t.pos, kind: t.text}
		case "using":
			return p.using()
		case "checked", "unchecked":
			if p.isOpAt(1, "{") {
				p.advance()
				return &checkedStmt{p: t.pos, checked: t.text == "checked", body: p.block()}
			}
		case "for", "while", "do", "switch", "try", "throw":
			return p.controlStmt()
		case "goto", "lock":
			p.errf(t.pos, "'%s' statements are not supported", t.text)
		}
		if f := p.tryLocalFunc(); f != nil {
			return f
		}
		if d := p.tryDeclaration(); d != nil {
			p.expect(";")
			return d
		}
	}
	x := p.expr()
	p.unknownType(x)
	if !isStatementExpr(x) {
		p.errf(x.position(), "only assignment and call expressions can be used as a statement")
	}
	p.expect(";")
	return &exprStmt{x: x}
}

// isStatementExpr reports whether x may stand as a statement.
func isStatementExpr(x node) bool {
	switch x := x.(type) {
	case *assignNode, *callNode:
		return true
	case *chainEnd:
		_, ok := x.x.(*callNode)
		return ok
	}
	return false
}

// unknownType reports "Some.Type name", x followed by a name, as a
// declaration of a type that is not supported.
func (p *parser) unknownType(x node) {
	if name, ok := dottedName(unwrapChain(x)); ok && p.peek().kind == tkIdent {
		p.errf(x.position(), "the type '%s' is not supported", name)
	}
}

// dottedName spells a name or a member access chain of names (A.B.C).
func dottedName(x node) (string, bool) {
	switch x := x.(type) {
	case *identNode:
		return x.name, true
	case *memberNode:
		l, ok := dottedName(x.x)
		return l + "." + x.name, ok && !x.nullCond && x.targs == nil
	}
	return "", false
}

// using parses the three forms documents use: a directive (using System.Text;),
// which has no effect since every supported type is already in scope; a using
// declaration (using var h = ...;); and a using statement (using (var h = ...) stmt).
// Nothing in an expression holds resources, so disposing does nothing.
func (p *parser) using() stmt {
	t := p.advance()
	if p.accept("(") {
		var decl stmt
		if d := p.tryDeclaration(); d != nil {
			decl = d
		} else {
			x := p.expr()
			p.unknownType(x)
			decl = &varStmt{p: t.pos, name: fmt.Sprintf("<using@%d>", t.pos), init: x}
		}
		p.expect(")")
		p.enter(t.pos)
		body := p.statement()
		p.leave()
		return &blockStmt{p: t.pos, stmts: []stmt{decl, body}}
	}
	if p.declarationAhead() {
		d := p.tryDeclaration()
		if d == nil {
			p.errf(p.peek().pos, "expected a declaration after 'using'")
		}
		p.expect(";")
		return d
	}
	// A directive: using [static] Name.Space; or using Alias = Name.Space;
	for {
		n := p.peek()
		if n.kind == tkEOF {
			p.errf(n.pos, "expected ';' after the using directive")
		}
		p.advance()
		if n.kind == tkOp && n.text == ";" {
			return &blockStmt{p: t.pos}
		}
		if n.kind != tkIdent && !(n.kind == tkOp && (n.text == "." || n.text == "=")) {
			p.errf(n.pos, "unexpected %s in a using directive", p.describe(n))
		}
	}
}

// tryLocalFunc parses a local function declaration, [static] void F(...) or
// [static] T F(...), when one is next.
func (p *parser) tryLocalFunc() stmt {
	start := p.i
	t := p.peek()
	if p.isKeyword("static") {
		p.advance()
	}
	var result *typeRef
	if p.isKeyword("void") {
		p.advance()
	} else if result = p.tryType(); result == nil {
		p.i = start
		return nil
	}
	name := p.peek()
	if name.kind != tkIdent || !p.isOpAt(1, "(") {
		p.i = start
		return nil
	}
	p.advance()
	p.advance()
	f := &funcStmt{p: t.pos, name: name.text, result: result}
	p.enter(t.pos)
	defer p.leave()
	for !p.accept(")") {
		if len(f.params) > 0 {
			p.expect(",")
		}
		pt := p.peek()
		switch pt.text {
		case "ref", "out", "in", "params", "this":
			p.errf(pt.pos, "'%s' parameters are not supported", pt.text)
		}
		typ := p.parseType()
		pn := p.ident()
		if p.isOp("=") {
			p.errf(p.peek().pos, "optional parameters are not supported")
		}
		f.params = append(f.params, funcParam{p: pn.pos, name: pn.text, typ: typ})
	}
	if p.accept("=>") {
		f.expr = p.expr()
		p.expect(";")
		return f
	}
	if !p.isOp("{") {
		p.errf(p.peek().pos, "expected '{' or '=>' after the parameters of '%s', found %s", f.name, p.describe(p.peek()))
	}
	f.body = p.block()
	return f
}

// tryDeclaration parses "var x = e" or "Type x [= e]" when the tokens read as one.
func (p *parser) tryDeclaration() stmt {
	t := p.peek()
	if t.text == "var" && p.peekAt(1).kind == tkIdent {
		p.advance()
		name := p.ident()
		p.expect("=")
		return &varStmt{p: t.pos, name: name.text, init: p.expr()}
	}
	save := p.i
	ref := p.tryType()
	if ref == nil || p.peek().kind != tkIdent {
		p.i = save
		return nil
	}
	name := p.advance()
	s := &varStmt{p: t.pos, name: name.text, typ: ref}
	if p.accept("=") {
		s.init = p.expr()
	}
	return s
}

// Types

// tryType parses a type name (with [] and ?) if one is next; otherwise it
// restores the position and returns nil.
func (p *parser) tryType() *typeRef {
	start := p.i
	t := p.peek()
	if t.kind != tkIdent {
		return nil
	}
	if !isTypeName(t.text) {
		// A qualified name: System.Collections.Generic.List<string>.
		ns := t.text
		p.advance()
		for p.isOp(".") && p.peekAt(1).kind == tkIdent && !(typeNamespaces[ns] && isTypeName(p.peekAt(1).text)) {
			p.advance()
			ns += "." + p.advance().text
		}
		if !typeNamespaces[ns] || !p.isOp(".") || p.peekAt(1).kind != tkIdent {
			p.i = start
			return nil
		}
		p.advance()
	}
	name := p.advance()
	ref := &typeRef{p: t.pos, name: name.text}
	if _, generic := genericTypes[ref.name]; generic {
		// List<string>, Dictionary<string, object>: the type arguments are required.
		save := start
		if !p.accept("<") {
			p.i = save
			return nil
		}
		for {
			a := p.tryType()
			if a == nil {
				p.i = save
				return nil
			}
			ref.args = append(ref.args, a)
			if !p.accept(",") {
				break
			}
		}
		if !p.accept(">") {
			p.i = save
			return nil
		}
	}
	if p.isOp("?") && !p.startsExpr(p.peekAt(1)) {
		p.advance()
		ref.nullable = true
	}
	if p.isOp("[") && p.peekAt(1).kind == tkOp && p.peekAt(1).text == "]" {
		p.advance()
		p.advance()
		ref.array = true
	}
	return ref
}

// typeNamespaces are the namespaces that may qualify a type name.
var typeNamespaces = map[string]bool{
	"System": true, "System.Collections.Generic": true, "System.Text": true,
	"System.Text.RegularExpressions": true, "System.Security.Cryptography": true,
	"System.Globalization": true, "System.Xml.Linq": true,
	"Newtonsoft.Json": true, "Newtonsoft.Json.Linq": true,
}

// declarationAhead reports whether a declaration ("var x" or "Type x") is next.
func (p *parser) declarationAhead() bool {
	if p.isKeyword("var") {
		return p.peekAt(1).kind == tkIdent
	}
	save := p.i
	defer func() { p.i = save }()
	return p.tryType() != nil && p.peek().kind == tkIdent
}

func (p *parser) parseType() *typeRef {
	t := p.peek()
	ref := p.tryType()
	if ref == nil {
		p.errf(t.pos, "expected a type, found %s", p.describe(t))
	}
	return ref
}

// startsExpr reports whether t can begin an operand (used to tell "T?" from "a ? b : c").
func (p *parser) startsExpr(t token) bool {
	switch t.kind {
	case tkIdent, tkInt, tkDouble, tkString, tkInterp:
		return true
	case tkOp:
		switch t.text {
		case "(", "!", "-", "+", "~":
			return true
		}
	}
	return false
}
