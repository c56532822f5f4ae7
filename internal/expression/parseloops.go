package expression

// Parsing the control statements (for, while, do, switch, try, throw) and the
// switch expression. They live apart from parsestmts.go, which only
// dispatches to controlStmt.

type (
	// forStmt is for (init; cond; iter) body. init holds declarations or
	// expression statements; cond is nil when omitted (always true).
	forStmt struct {
		p    int
		init []stmt
		cond node
		iter []node
		body stmt
	}
	// whileStmt is while (cond) body, or do body while (cond); when do is set.
	whileStmt struct {
		p    int
		cond node
		body stmt
		do   bool
	}
	switchStmt struct {
		p        int
		x        node
		sections []*switchSection
	}
	switchSection struct {
		p      int
		labels []*switchLabel
		stmts  []stmt
	}
	// switchLabel is case pattern [when cond]: or default: (pat nil).
	switchLabel struct {
		p    int
		pat  *pattern
		when node
		text string // as written, for error messages
	}
	tryStmt struct {
		p       int
		body    *blockStmt
		catches []*catchClause
		finally *blockStmt
	}
	// catchClause is catch [(Type [name])] [when (cond)] block.
	catchClause struct {
		p    int
		typ  *typeRef // nil for a bare catch
		name string
		when node
		body *blockStmt
	}
	// throwStmt is throw x; or, with x nil, the rethrow "throw;".
	throwStmt struct {
		p int
		x node
	}
)

func (s *forStmt) position() int    { return s.p }
func (s *whileStmt) position() int  { return s.p }
func (s *switchStmt) position() int { return s.p }
func (s *tryStmt) position() int    { return s.p }
func (s *throwStmt) position() int  { return s.p }

// pattern is what a case label or a switch expression arm matches.
type pattern struct {
	p    int
	kind patKind
	x    node     // constant, or relational operand
	op   string   // relational operator
	typ  *typeRef // type pattern
	name string   // designation of a type or var pattern ("" for none)
}

type patKind int

const (
	patConst   patKind = iota // a constant (or any value): equality
	patDiscard                // _ : matches everything
	patType                   // T or T name: a type test
	patVar                    // var name: matches everything, binds it
	patRel                    // < x, <= x, > x, >= x
)

// switchExprNode is the C# 8 switch expression: x switch { pat [when c] => v, ... }.
type switchExprNode struct {
	p    int
	x    node
	arms []*switchArm
}

type switchArm struct {
	p     int
	pat   *pattern
	when  node
	value node
}

func (n *switchExprNode) position() int { return n.p }

// controlStmt parses for, while, do, switch, try and throw statements.
func (p *parser) controlStmt() stmt {
	t := p.advance()
	p.enter(t.pos)
	defer p.leave()
	switch t.text {
	case "for":
		return p.forRest(t)
	case "while":
		p.expect("(")
		s := &whileStmt{p: t.pos, cond: p.expr()}
		p.expect(")")
		s.body = p.embedded()
		return s
	case "do":
		s := &whileStmt{p: t.pos, do: true, body: p.embedded()}
		if !p.isKeyword("while") {
			p.errf(p.peek().pos, "expected 'while' after the body of 'do', found %s", p.describe(p.peek()))
		}
		p.advance()
		p.expect("(")
		s.cond = p.expr()
		p.expect(")")
		p.expect(";")
		return s
	case "switch":
		return p.switchRest(t)
	case "try":
		return p.tryRest(t)
	case "throw":
		s := &throwStmt{p: t.pos}
		if !p.isOp(";") {
			s.x = p.expr()
		}
		p.expect(";")
		return s
	}
	p.errf(t.pos, "'%s' statements are not supported", t.text)
	return nil
}

// embedded parses the body of a loop; as in C#, a declaration alone is not
// a valid body.
func (p *parser) embedded() stmt {
	if p.declarationAhead() {
		p.errf(p.peek().pos, "a declaration is not allowed as the body of a loop; use a block { ... }")
	}
	return p.statement()
}

func (p *parser) forRest(t token) stmt {
	s := &forStmt{p: t.pos}
	p.expect("(")
	if !p.isOp(";") {
		if p.declarationAhead() {
			implicit := p.isKeyword("var")
			d := p.tryDeclaration().(*varStmt)
			s.init = append(s.init, d)
			for p.accept(",") {
				if implicit {
					p.errf(p.peek().pos, "implicitly-typed variables cannot have multiple declarators")
				}
				name := p.ident()
				v := &varStmt{p: name.pos, name: name.text, typ: d.typ}
				if p.accept("=") {
					v.init = p.expr()
				}
				s.init = append(s.init, v)
			}
		} else {
			for {
				s.init = append(s.init, &exprStmt{x: p.stmtExpr()})
				if !p.accept(",") {
					break
				}
			}
		}
	}
	p.expect(";")
	if !p.isOp(";") {
		s.cond = p.expr()
	}
	p.expect(";")
	if !p.isOp(")") {
		for {
			s.iter = append(s.iter, p.stmtExpr())
			if !p.accept(",") {
				break
			}
		}
	}
	p.expect(")")
	s.body = p.embedded()
	return s
}

// stmtExpr parses an expression that may stand as a statement: an
// assignment, increment, decrement or call.
func (p *parser) stmtExpr() node {
	x := p.expr()
	switch y := x.(type) {
	case *assignNode, *callNode:
		return x
	case *chainEnd:
		if _, ok := y.x.(*callNode); ok {
			return x
		}
	}
	p.errf(x.position(), "only assignment, call, increment and decrement expressions can be used as a statement")
	return nil
}

func (p *parser) switchRest(t token) stmt {
	s := &switchStmt{p: t.pos}
	p.expect("(")
	s.x = p.expr()
	p.expect(")")
	p.expect("{")
	for !p.accept("}") {
		sec := &switchSection{p: p.peek().pos}
		for p.isKeyword("case") || p.isKeyword("default") && p.isOpAt(1, ":") {
			lt := p.advance()
			l := &switchLabel{p: lt.pos}
			if lt.text == "case" {
				l.pat = p.pattern()
				if p.isKeyword("when") {
					p.advance()
					l.when = p.expr()
				}
			}
			colon := p.expect(":")
			l.text = p.src[lt.pos : colon.pos+1]
			sec.labels = append(sec.labels, l)
		}
		if len(sec.labels) == 0 {
			p.errf(p.peek().pos, "expected 'case' or 'default', found %s", p.describe(p.peek()))
		}
		for !p.isOp("}") && !p.isKeyword("case") && !(p.isKeyword("default") && p.isOpAt(1, ":")) {
			if p.peek().kind == tkEOF {
				p.errf(p.peek().pos, "expected '}', found end of expression")
			}
			if p.isKeyword("goto") {
				p.errf(p.peek().pos, "'goto' statements are not supported; repeat the code of the other case or use a loop")
			}
			sec.stmts = append(sec.stmts, p.statement())
		}
		s.sections = append(s.sections, sec)
	}
	return s
}

// pattern parses a pattern of a case label or switch arm: _, null, a
// constant, a relational pattern (> 5), a type pattern (string s) or var x.
func (p *parser) pattern() *pattern {
	t := p.peek()
	pat := &pattern{p: t.pos}
	switch {
	case t.kind == tkIdent && t.text == "_" && (p.isOpAt(1, "=>") || p.isOpAt(1, ":") || p.peekAt(1).text == "when"):
		p.advance()
		pat.kind = patDiscard
		return pat
	case t.kind == tkIdent && t.text == "var" && p.peekAt(1).kind == tkIdent:
		p.advance()
		pat.kind = patVar
		pat.name = p.advance().text
		return pat
	case t.kind == tkOp && (t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">="):
		p.advance()
		pat.kind, pat.op = patRel, t.text
		pat.x = p.binary(len(precedence) - 3) // a shift expression
		return pat
	case t.kind == tkIdent && isTypeName(t.text) && t.text != "null":
		save := p.i
		if ref := p.tryType(); ref != nil {
			n := p.peek()
			if n.kind == tkIdent && n.text != "when" {
				pat.kind, pat.typ, pat.name = patType, ref, p.advance().text
				return pat
			}
			if n.kind == tkIdent || isOpToken(n, "=>", ":") {
				pat.kind, pat.typ = patType, ref
				return pat
			}
		}
		p.i = save
	}
	pat.kind = patConst
	pat.x = p.coalesce()
	return pat
}

func (p *parser) tryRest(t token) stmt {
	s := &tryStmt{p: t.pos, body: p.block()}
	for p.isKeyword("catch") {
		ct := p.advance()
		c := &catchClause{p: ct.pos}
		if p.accept("(") {
			c.typ = p.parseType()
			if p.peek().kind == tkIdent {
				c.name = p.advance().text
			}
			p.expect(")")
		}
		if p.isKeyword("when") {
			p.advance()
			p.expect("(")
			c.when = p.expr()
			p.expect(")")
		}
		c.body = p.block()
		s.catches = append(s.catches, c)
	}
	if p.isKeyword("finally") {
		p.advance()
		s.finally = p.block()
	}
	if len(s.catches) == 0 && s.finally == nil {
		p.errf(p.peek().pos, "expected 'catch' or 'finally' after the try block")
	}
	return s
}

// switchExpr parses "x switch { ... }" after the operand x, if it follows.
func (p *parser) switchExpr(x node) node {
	for p.isKeyword("switch") && p.isOpAt(1, "{") {
		t := p.advance()
		p.advance()
		p.enter(t.pos)
		n := &switchExprNode{p: t.pos, x: x}
		for !p.accept("}") {
			arm := &switchArm{p: p.peek().pos, pat: p.pattern()}
			if p.isKeyword("when") {
				p.advance()
				arm.when = p.expr()
			}
			p.expect("=>")
			arm.value = p.expr()
			n.arms = append(n.arms, arm)
			if !p.accept(",") {
				p.expect("}")
				break
			}
		}
		if len(n.arms) == 0 {
			p.errf(t.pos, "a switch expression needs at least one arm")
		}
		p.leave()
		x = n
	}
	return x
}
