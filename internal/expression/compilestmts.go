package expression

import (
	"fmt"
	"strings"
)

// Compiling assignments and statements.

func (c *compiler) assign(n *assignNode) cexpr {
	var value cexpr
	op := n.op
	switch op {
	case "++", "--", "post++", "post--":
		value = konst(int64(1), tInt)
	default:
		value = c.value(n.value)
	}
	binop := ""
	switch op {
	case "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=":
		binop = op[:len(op)-1]
	case "++", "post++":
		binop = "+"
	case "--", "post--":
		binop = "-"
	}
	post := strings.HasPrefix(op, "post")
	vf, p, checked := value.fn, n.p, c.checked
	// newValue is the value to store: the right side, or old op right side.
	newValue := func(e *env, old any) (any, error) {
		v, err := vf(e)
		if err != nil || binop == "" {
			return v, err
		}
		v, err = arith(e, binop, old, v, checked)
		if err != nil {
			return nil, at(p, err)
		}
		return v, nil
	}
	switch t := n.target.(type) {
	case *identNode:
		l := c.lookup(t.name)
		if l != nil && l.fn != nil {
			c.errf(t.p, "cannot assign to '%s' because it is a local function", t.name)
		}
		if l == nil {
			if t.name == "context" {
				c.errf(t.p, "'context' is read-only")
			}
			c.errf(t.p, "the name '%s' does not exist in the current context", t.name)
		}
		if binop != "" {
			if binaryType(binop, l.t, value.t) == nil {
				c.errf(p, "operator '%s' cannot be applied to operands of type '%s' and '%s'", op, l.t.name, value.t.name)
			}
		} else if op != "??=" && !assignable(value.t, l.t) && l.t != tNull {
			c.errf(p, "cannot implicitly convert type '%s' to '%s'", value.t.name, l.t.name)
		}
		slot := l.slot
		lt := l.t
		conv := !lt.dynamic && lt != tNull
		return cexpr{fn: func(e *env) (any, error) {
			old := e.locals[slot]
			if op == "??=" && old != nil {
				return old, nil
			}
			v, err := newValue(e, old)
			if err != nil {
				return nil, err
			}
			if conv && v != nil {
				// A typed local only ever holds values of its type.
				if v, err = castValue(v, lt, true); err != nil {
					return nil, at(p, err)
				}
			}
			e.locals[slot] = v
			if post {
				return old, nil
			}
			return v, nil
		}, t: l.t}
	case *indexNode:
		recv := c.receiver(t.x)
		if recv.static != nil {
			c.errf(t.p, "cannot index the type '%s'", recv.static.name)
		}
		idx := c.value(t.idx)
		var ix *indexer
		if !recv.t.dynamic {
			ix = recv.t.index
			if ix == nil || ix.set == nil {
				c.errf(t.p, "the indexer of '%s' is read-only", recv.t.name)
			}
		}
		rf, kf := deref(recv.fn, t.nullCond, t.p), idx.fn
		return cexpr{fn: func(e *env) (any, error) {
			r, k, err := e.operands(rf, kf)
			if err != nil {
				return nil, err
			}
			x := ix
			if x == nil {
				x = typeOfValue(r).index
				if x == nil || x.set == nil {
					return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("cannot assign through an indexer of %s", typeNameOf(r))}
				}
			}
			if err := checkKey(x, k); err != nil {
				return nil, at(p, err)
			}
			old, v, skip, err := assignedValue(e, p, op, binop != "", func() (any, error) { return x.get(e, r, k) }, newValue)
			if err != nil || skip {
				return old, err
			}
			if err := e.grow(1); err != nil {
				return nil, at(p, err)
			}
			if err := x.set(e, r, k, v); err != nil {
				return nil, at(p, err)
			}
			if post {
				return old, nil
			}
			return v, nil
		}, t: value.t}
	case *memberNode:
		return c.assignProp(t, value, newValue, op, binop != "")
	}
	c.errf(p, "the left-hand side of an assignment must be a variable or an indexer")
	return cexpr{}
}

// Statements

type ctl int

const (
	ctlNext ctl = iota
	ctlReturn
	ctlBreak
	ctlContinue
)

type stmtFn func(e *env) (ctl, any, error)

// returns reports whether every path through s ends in a return.
func returns(s stmt) bool {
	switch s := s.(type) {
	case *returnStmt:
		return true
	case *blockStmt:
		for _, st := range s.stmts {
			if returns(st) {
				return true
			}
		}
	case *ifStmt:
		return s.els != nil && returns(s.then) && returns(s.els)
	case *checkedStmt:
		return returns(s.body)
	case *forStmt, *whileStmt, *switchStmt, *tryStmt, *throwStmt:
		return terminates(s)
	}
	return false
}

func (c *compiler) block(b *blockStmt) stmtFn {
	c.push()
	defer c.pop()
	c.declareFuncs(b.stmts)
	fns := make([]stmtFn, 0, len(b.stmts))
	for _, s := range b.stmts {
		fns = append(fns, c.stmt(s))
	}
	return func(e *env) (ctl, any, error) {
		for _, f := range fns {
			k, v, err := f(e)
			if err != nil || k != ctlNext {
				return k, v, err
			}
		}
		return ctlNext, nil, nil
	}
}

func (c *compiler) stmt(s stmt) stmtFn {
	switch s := s.(type) {
	case *blockStmt:
		return c.block(s)
	case *checkedStmt:
		defer func(was bool) { c.checked = was }(c.checked)
		c.checked = s.checked
		return c.block(s.body)
	case *varStmt:
		var t *typ
		var init cexpr
		if s.init != nil {
			if _, ok := s.init.(*lambdaNode); ok {
				c.errf(s.init.position(), "lambda expressions cannot be stored in variables")
			}
			init = c.value(s.init)
		}
		if s.typ == nil {
			t = init.t
			if t == tNull {
				c.errf(s.p, "cannot assign null to an implicitly-typed variable")
			}
		} else {
			var err error
			if t, err = resolveType(s.typ); err != nil {
				c.errf(s.typ.p, "%v", err)
			}
			if s.init != nil && !assignable(init.t, t) {
				c.errf(s.init.position(), "cannot implicitly convert type '%s' to '%s'", init.t.name, t.name)
			}
		}
		// Declared after the initializer is compiled: "var x = x;" is an error.
		l := c.declare(s.p, s.name, t)
		slot, p := l.slot, s.p
		if s.init == nil {
			return func(e *env) (ctl, any, error) {
				e.locals[slot] = nil
				return ctlNext, nil, nil
			}
		}
		f := init.fn
		// A typed local only ever holds values of its type: convert int to
		// double, and check values of dynamic type.
		needConv := t != init.t && !t.dynamic
		return func(e *env) (ctl, any, error) {
			if err := e.step(); err != nil {
				return 0, nil, at(p, err)
			}
			v, err := f(e)
			if err != nil {
				return 0, nil, err
			}
			if needConv && v != nil {
				if v, err = castValue(v, t, true); err != nil {
					return 0, nil, at(p, err)
				}
			}
			e.locals[slot] = v
			return ctlNext, nil, nil
		}
	case *exprStmt:
		x := c.expr(s.x)
		f, p := x.fn, s.position()
		return func(e *env) (ctl, any, error) {
			if err := e.step(); err != nil {
				return 0, nil, at(p, err)
			}
			_, err := f(e)
			if err == errShortCircuit {
				err = nil
			}
			return ctlNext, nil, err
		}
	case *funcStmt:
		return c.funcDecl(s)
	case *returnStmt:
		if c.fn != nil && c.lambdas == 0 {
			return c.ret(s.p, s.x, false)
		}
		if s.x == nil {
			c.errf(s.p, "an expression must return a value")
		}
		x := c.value(s.x)
		if c.lambdas == 0 {
			switch {
			case c.blockResult == nil:
				c.blockResult = x.t
			case x.t == tNull && !c.blockResult.valueType:
			case c.blockResult == tNull && !x.t.valueType:
				c.blockResult = x.t
			case c.blockResult != x.t:
				c.blockResult = tObject
			}
		}
		f := x.fn
		return func(e *env) (ctl, any, error) {
			v, err := f(e)
			return ctlReturn, v, err
		}
	case *ifStmt:
		cond := c.boolean(s.cond)
		c.push()
		then := c.stmt(s.then)
		c.pop()
		var els stmtFn
		if s.els != nil {
			c.push()
			els = c.stmt(s.els)
			c.pop()
		}
		cf, p := cond.fn, s.p
		return func(e *env) (ctl, any, error) {
			if err := e.step(); err != nil {
				return 0, nil, at(p, err)
			}
			v, err := cf(e)
			if err != nil {
				return 0, nil, err
			}
			if v.(bool) {
				return then(e)
			}
			if els != nil {
				return els(e)
			}
			return ctlNext, nil, nil
		}
	case *foreachStmt:
		coll := c.value(s.coll)
		elem := tObject
		if !coll.t.dynamic {
			if coll.t.each == nil {
				c.errf(s.coll.position(), "foreach cannot iterate over a value of type '%s'", coll.t.name)
			}
			elem = coll.t.elem
		}
		c.push()
		l := c.declare(s.p, s.name, elem)
		c.loops++
		body := c.stmt(s.body)
		c.loops--
		c.pop()
		cf, slot, p := coll.fn, l.slot, s.p
		return func(e *env) (ctl, any, error) {
			v, err := cf(e)
			if err != nil {
				return 0, nil, err
			}
			if v == nil {
				return 0, nil, at(p, errNullRef)
			}
			t := typeOfValue(v)
			if t.each == nil {
				return 0, nil, at(p, fmt.Errorf("foreach cannot iterate over %s", typeNameOf(v)))
			}
			var (
				rk ctl
				rv any
			)
			err = t.each(v, func(x any) (bool, error) {
				if err := e.step(); err != nil {
					return true, at(p, err)
				}
				e.locals[slot] = x
				k, bv, err := body(e)
				if err != nil {
					return true, err
				}
				switch k {
				case ctlReturn:
					rk, rv = k, bv
					return true, nil
				case ctlBreak:
					return true, nil
				}
				return false, nil
			})
			if err != nil {
				return 0, nil, err
			}
			return rk, rv, nil
		}
	case *jumpStmt:
		if c.loops == 0 && (s.kind == "continue" || c.switches == 0) {
			c.errf(s.p, "no enclosing loop out of which to %s", s.kind)
		}
		k := ctlBreak
		if s.kind == "continue" {
			k = ctlContinue
		}
		return func(e *env) (ctl, any, error) { return k, nil, nil }
	}
	return c.controlStmt(s)
}

// assignProp compiles an assignment to a writable property (aes.Key = key).
func (c *compiler) assignProp(t *memberNode, value cexpr, newValue func(e *env, old any) (any, error), op string, compound bool) cexpr {
	recv := c.receiver(t.x)
	if recv.static != nil {
		c.errf(t.p, "the property '%s' is read-only", t.name)
	}
	var pp *prop
	if !recv.t.dynamic {
		pp = recv.t.props[t.name]
		if pp == nil {
			c.noMember(t.p, recv.t, t.name)
		}
		if pp.set == nil {
			c.errf(t.p, "the property '%s' is read-only", t.name)
		}
		if !compound && op != "??=" && !assignable(value.t, pp.t) {
			c.errf(t.p, "cannot implicitly convert type '%s' to '%s'", value.t.name, pp.t.name)
		}
	}
	rf, p, name := deref(recv.fn, t.nullCond, t.p), t.p, t.name
	return cexpr{fn: func(e *env) (any, error) {
		r, err := rf(e)
		if err != nil {
			return nil, err
		}
		x := pp
		if x == nil {
			x = typeOfValue(r).props[name]
			if x == nil || x.set == nil {
				return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("the property '%s' of %s cannot be assigned", name, typeNameOf(r))}
			}
		}
		old, v, skip, err := assignedValue(e, p, op, compound, func() (any, error) { return x.get(e, r) }, newValue)
		if err != nil || skip {
			return old, err
		}
		if err := x.set(e, r, v); err != nil {
			return nil, at(p, err)
		}
		return v, nil
	}, t: value.t}
}

// assignedValue computes what an assignment through an indexer or property
// stores: it reads the current value (old) when a compound operator or ??=
// needs it, and skip is set when ??= finds a value and nothing is stored.
// On an error old is nil.
func assignedValue(e *env, p int, op string, compound bool, get func() (any, error), newValue func(*env, any) (any, error)) (old, v any, skip bool, err error) {
	if compound || op == "??=" {
		if old, err = get(); err != nil {
			return nil, nil, false, at(p, err)
		}
		if op == "??=" && old != nil {
			return old, nil, true, nil
		}
	}
	if v, err = newValue(e, old); err != nil {
		return nil, nil, false, err
	}
	return old, v, false, nil
}
