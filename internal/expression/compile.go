package expression

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

type evalFn func(e *env) (any, error)

// env is the per-evaluation state; Programs pool them.
type env struct {
	ctx    *Context
	locals []any
	stack  []any // call arguments
	steps  int
	alloc  int
	pos    int // offset of the call being made, for recovered panics
}

func (e *env) step() error {
	e.steps++
	if e.steps > MaxSteps {
		return errStepBudget
	}
	return nil
}

// grow accounts for n bytes (or elements) an expression is about to build.
func (e *env) grow(n int) error {
	if n > MaxStringLen {
		return errTooLarge
	}
	e.alloc += n
	if e.alloc > MaxAllocBytes {
		return errTooLarge
	}
	return nil
}

// errShortCircuit ends a member-access chain after "?." met null.
var errShortCircuit = errors.New("null short circuit")

// at gives err the offset p unless it already has one.
func at(p int, err error) error {
	if err == nil || err == errShortCircuit {
		return err
	}
	var re *RuntimeError
	if errors.As(err, &re) {
		return err
	}
	return &RuntimeError{Offset: p, Msg: err.Error()}
}

// Compile compiles the text of one expression, including its "@(" ")" or "@{" "}"
// wrapper. Errors are *SyntaxError.
func Compile(src string) (prog *Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				se = &SyntaxError{Msg: fmt.Sprintf("internal compiler error: %v", r)}
			}
			prog, err = nil, se
		}
	}()
	root, err := parse(src)
	if err != nil {
		return nil, err
	}
	c := &compiler{}
	c.push()
	var run evalFn
	result := tObject
	switch root := root.(type) {
	case *blockStmt:
		body := c.block(root)
		if c.blockResult == nil || c.blockResult == tNull {
			c.blockResult = tObject
		}
		if !returns(root) {
			c.errf(len(strings.TrimRight(src, " \t\r\n"))-1, "not all code paths return a value")
		}
		run = func(e *env) (any, error) {
			_, v, err := body(e)
			return v, err
		}
		result = c.blockResult
	case node:
		x := c.value(root)
		run, result = x.fn, x.t
		if result == tNull {
			result = tObject
		}
	}
	return &Program{src: src, run: run, result: result, nlocals: c.nlocals}, nil
}

// cexpr is a compiled expression.
type cexpr struct {
	fn     evalFn
	t      *typ
	static *typ // set when the expression names a static class
	konst  bool // fn returns val
	val    any
}

type local struct {
	slot int
	t    *typ
}

type compiler struct {
	scopes  []map[string]*local
	nlocals int
	loops   int
	lambdas int // lambda bodies being compiled
	// blockResult is the type every return of the top-level block agrees on
	// (object when they differ).
	blockResult *typ
}

func (c *compiler) errf(pos int, format string, args ...any) {
	panic(&SyntaxError{Offset: pos, Msg: fmt.Sprintf(format, args...)})
}

func (c *compiler) push() { c.scopes = append(c.scopes, map[string]*local{}) }
func (c *compiler) pop()  { c.scopes = c.scopes[:len(c.scopes)-1] }

func (c *compiler) lookup(name string) *local {
	for i := len(c.scopes) - 1; i >= 0; i-- {
		if l, ok := c.scopes[i][name]; ok {
			return l
		}
	}
	return nil
}

func (c *compiler) declare(pos int, name string, t *typ) *local {
	if c.lookup(name) != nil || name == "context" {
		c.errf(pos, "a local variable named '%s' is already defined in this scope", name)
	}
	l := &local{slot: c.nlocals, t: t}
	c.nlocals++
	c.scopes[len(c.scopes)-1][name] = l
	return l
}

// value compiles an expression that must yield a value (not a type name).
func (c *compiler) value(n node) cexpr {
	x := c.expr(n)
	if x.static != nil {
		c.errf(n.position(), "'%s' is a type, which is not valid in the given context", x.static.name)
	}
	if x.t == tVoid {
		c.errf(n.position(), "the method returns no value")
	}
	return x
}

func konst(v any, t *typ) cexpr {
	return cexpr{fn: func(*env) (any, error) { return v, nil }, t: t, konst: true, val: v}
}

func litType(v any) *typ {
	switch v.(type) {
	case nil:
		return tNull
	case bool:
		return tBool
	case int64:
		return tInt
	case float64:
		return tDouble
	case string:
		return tString
	}
	return tObject
}

func (c *compiler) expr(n node) cexpr {
	switch n := n.(type) {
	case *litNode:
		return konst(n.v, litType(n.v))
	case *identNode:
		return c.ident(n)
	case *chainEnd:
		x := c.expr(n.x)
		if x.static != nil || !hasNullCond(n.x) {
			return x
		}
		f := x.fn
		x.fn = func(e *env) (any, error) {
			v, err := f(e)
			if err == errShortCircuit {
				return nil, nil
			}
			return v, err
		}
		return x
	case *memberNode:
		return c.member(n)
	case *callNode:
		return c.call(n)
	case *indexNode:
		return c.index(n)
	case *unaryNode:
		return c.unary(n)
	case *binaryNode:
		return c.binary(n)
	case *condNode:
		return c.cond(n)
	case *castNode:
		return c.cast(n)
	case *isNode:
		return c.is(n)
	case *interpNode:
		return c.interp(n)
	case *newNode:
		return c.newExpr(n)
	case *assignNode:
		return c.assign(n)
	case *lambdaNode:
		c.errf(n.p, "a lambda expression is only allowed as a method argument")
	}
	c.errf(n.position(), "unsupported expression")
	return cexpr{}
}

func hasNullCond(n node) bool {
	for {
		switch x := n.(type) {
		case *memberNode:
			if x.nullCond {
				return true
			}
			n = x.x
		case *indexNode:
			if x.nullCond {
				return true
			}
			n = x.x
		case *callNode:
			n = x.fn
		default:
			return false
		}
	}
}

func (c *compiler) ident(n *identNode) cexpr {
	if l := c.lookup(n.name); l != nil {
		slot := l.slot
		return cexpr{fn: func(e *env) (any, error) { return e.locals[slot], nil }, t: l.t}
	}
	if n.name == "context" {
		return cexpr{fn: func(e *env) (any, error) {
			if e.ctx == nil {
				return nil, nil
			}
			return e.ctx, nil
		}, t: tContext}
	}
	if t, ok := staticClasses[n.name]; ok {
		return cexpr{static: t, t: t}
	}
	if ns, ok := namespaces[n.name]; ok {
		return cexpr{static: ns, t: ns}
	}
	c.errf(n.p, "the name '%s' does not exist in the current context", n.name)
	return cexpr{}
}

// receiver compiles the left side of a member access, call or indexer.
func (c *compiler) receiver(n node) cexpr {
	x := c.expr(n)
	if x.t == tVoid {
		c.errf(n.position(), "the method returns no value")
	}
	return x
}

// deref evaluates a receiver and applies C#'s null rules.
func deref(f evalFn, nullCond bool, p int) evalFn {
	return func(e *env) (any, error) {
		v, err := f(e)
		if err != nil {
			return nil, err
		}
		if v == nil {
			if nullCond {
				return nil, errShortCircuit
			}
			return nil, &RuntimeError{Offset: p, Msg: errNullRef.Error()}
		}
		return v, nil
	}
}

func (c *compiler) member(n *memberNode) cexpr {
	recv := c.receiver(n.x)
	if recv.static != nil {
		st := recv.static
		if sub, ok := st.props[n.name]; ok && sub.get == nil {
			// A namespace step (System.Text.Encoding) or nested static class.
			return cexpr{static: sub.t, t: sub.t}
		}
		pr, ok := st.props[n.name]
		if !ok {
			c.noMember(n.p, st, n.name)
		}
		get, p := pr.get, n.p
		return cexpr{fn: func(e *env) (any, error) {
			v, err := get(e, nil)
			return v, at(p, err)
		}, t: pr.t}
	}
	if n.targs != nil {
		c.errf(n.p, "'%s' is not a generic method call", n.name)
	}
	rf := deref(recv.fn, n.nullCond, n.p)
	p, name := n.p, n.name
	if recv.t.dynamic {
		return cexpr{fn: func(e *env) (any, error) {
			v, err := rf(e)
			if err != nil {
				return nil, err
			}
			t := typeOfValue(v)
			pr, ok := t.props[name]
			if !ok {
				return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("'%s' does not contain a definition for '%s'", t.name, name)}
			}
			r, err := pr.get(e, v)
			return r, at(p, err)
		}, t: tObject}
	}
	pr, ok := recv.t.props[n.name]
	if !ok {
		c.noMember(n.p, recv.t, n.name)
	}
	get := pr.get
	return cexpr{fn: func(e *env) (any, error) {
		v, err := rf(e)
		if err != nil {
			return nil, err
		}
		r, err := get(e, v)
		if err != nil {
			return nil, at(p, err)
		}
		return r, nil
	}, t: pr.t}
}

func (c *compiler) noMember(p int, t *typ, name string) {
	if _, ok := t.methods[name]; ok {
		c.errf(p, "'%s' is a method of '%s'; call it with ()", name, t.name)
	}
	if t == tNull {
		c.errf(p, "cannot access '%s' on null", name)
	}
	c.errf(p, "'%s' does not contain a definition for '%s'%s", t.name, name, suggest(t, name))
}

// suggest offers a member that differs only in case ("request" for "Request").
func suggest(t *typ, name string) string {
	for n := range t.props {
		if strings.EqualFold(n, name) {
			return fmt.Sprintf("; did you mean '%s'?", n)
		}
	}
	for n := range t.methods {
		if strings.EqualFold(n, name) {
			return fmt.Sprintf("; did you mean '%s'?", n)
		}
	}
	return ""
}

// lambdaVal is a compiled lambda passed to a method.
type lambdaVal struct {
	slot int
	fn   evalFn
}

func (e *env) invoke(l *lambdaVal, x any) (any, error) {
	if err := e.step(); err != nil {
		return nil, err
	}
	e.locals[l.slot] = x
	return l.fn(e)
}

// predicate invokes a lambda that must return a bool.
func (e *env) predicate(l *lambdaVal, x any) (bool, error) {
	v, err := e.invoke(l, x)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		if v == nil {
			return false, errNullableNil
		}
		return false, fmt.Errorf("the lambda returned %s, not a bool", typeNameOf(v))
	}
	return b, nil
}

func (c *compiler) lambda(n *lambdaNode, param *typ) (*lambdaVal, *typ) {
	if len(n.params) != 1 {
		c.errf(n.p, "only lambdas with one parameter are supported")
	}
	c.push()
	defer c.pop()
	l := c.declare(n.p, n.params[0], param)
	lv := &lambdaVal{slot: l.slot}
	if n.block != nil {
		// break/continue cannot leave a lambda.
		c.lambdas++
		loops := c.loops
		c.loops = 0
		defer func() { c.lambdas--; c.loops = loops }()
		body := c.block(n.block)
		if !returns(n.block) {
			c.errf(n.p, "not all code paths of the lambda return a value")
		}
		lv.fn = func(e *env) (any, error) {
			_, v, err := body(e)
			return v, err
		}
		return lv, tObject
	}
	x := c.value(n.body)
	lv.fn = x.fn
	return lv, x.t
}

func (c *compiler) call(n *callNode) cexpr {
	mn, ok := n.fn.(*memberNode)
	if !ok {
		if id, ok := n.fn.(*identNode); ok {
			c.errf(id.p, "'%s' is not a method; only methods of objects and static classes can be called", id.name)
		}
		c.errf(n.p, "this expression cannot be called")
	}
	recv := c.receiver(mn.x)
	var recvT *typ
	if recv.static != nil {
		recvT = recv.static
	} else {
		recvT = recv.t
	}
	ci := &callInfo{p: mn.p, name: mn.name, recvT: recvT}
	if len(mn.targs) > 1 {
		c.errf(mn.p, "'%s' takes one type argument", mn.name)
	}
	if len(mn.targs) == 1 {
		t, err := resolveType(mn.targs[0])
		if err != nil {
			c.errf(mn.targs[0].p, "%v", err)
		}
		ci.targ = t
	}
	var m *method
	if !recvT.dynamic {
		m = recvT.methods[mn.name]
		if m == nil {
			if _, isProp := recvT.props[mn.name]; isProp {
				c.errf(mn.p, "'%s' is a property of '%s', not a method", mn.name, recvT.name)
			}
			c.errf(mn.p, "'%s' does not contain a method '%s'%s", recvT.name, mn.name, suggest(recvT, mn.name))
		}
		if ci.targ != nil && !m.generic {
			c.errf(mn.p, "the method '%s' is not generic", mn.name)
		}
	}
	// Arguments.
	type outArg struct {
		idx  int
		slot int
	}
	var outs []outArg
	var argFns []evalFn
	ci.argT = make([]*typ, 0, len(n.args))
	elem := tObject
	if recvT.elem != nil {
		elem = recvT.elem
	}
	for i, a := range n.args {
		if a.name != "" {
			if m == nil || !slices.Contains(m.named, a.name) {
				c.errf(a.p, "the method '%s' has no parameter named '%s'", mn.name, a.name)
			}
			// Named arguments are accepted for compatibility and have no effect.
			c.value(a.x)
			continue
		}
		if a.out {
			if m == nil || m.outT == nil || i != len(n.args)-1 {
				c.errf(a.p, "the method '%s' has no out parameter here", mn.name)
			}
			var l *local
			if a.outVar != "" {
				t := m.outT
				if a.outTyp != nil {
					rt, err := resolveType(a.outTyp)
					if err != nil {
						c.errf(a.outTyp.p, "%v", err)
					}
					if rt != m.outT {
						c.errf(a.outTyp.p, "the out parameter is of type '%s'", m.outT.name)
					}
				}
				l = c.declare(a.p, a.outVar, t)
			} else {
				id := a.x.(*identNode)
				l = c.lookup(id.name)
				if l == nil {
					c.errf(id.p, "the name '%s' does not exist in the current context", id.name)
				}
			}
			outs = append(outs, outArg{idx: i, slot: l.slot})
			ci.argT = append(ci.argT, m.outT)
			argFns = append(argFns, func(*env) (any, error) { return nil, nil })
			continue
		}
		if ln, ok := a.x.(*lambdaNode); ok {
			lv, rt := c.lambda(ln, elem)
			ci.lamT = rt
			ci.argT = append(ci.argT, tLambda)
			argFns = append(argFns, func(*env) (any, error) { return lv, nil })
			continue
		}
		x := c.value(a.x)
		ci.argT = append(ci.argT, x.t)
		argFns = append(argFns, x.fn)
	}
	resT := tObject
	if m != nil {
		nargs := len(ci.argT)
		if nargs < m.min || m.max >= 0 && nargs > m.max {
			c.errf(mn.p, "no overload for method '%s' takes %d arguments", mn.name, nargs)
		}
		if m.generic && ci.targ == nil && m.res == nil && m.resT == nil {
			c.errf(mn.p, "the method '%s' needs a type argument, e.g. %s<string>(...)", mn.name, mn.name)
		}
		for i, at := range ci.argT {
			if len(m.params) == 0 {
				break
			}
			pt := m.params[min(i, len(m.params)-1)]
			if at == tLambda {
				if pt != tLambda {
					c.errf(n.args[i].p, "argument %d of '%s' cannot be a lambda expression", i+1, mn.name)
				}
				continue
			}
			if pt == tLambda && at != tLambda {
				c.errf(n.args[i].p, "argument %d of '%s' must be a lambda expression", i+1, mn.name)
			}
			if !assignable(at, pt) {
				c.errf(n.args[i].p, "argument %d of '%s': cannot convert from '%s' to '%s'", i+1, mn.name, at.name, pt.name)
			}
		}
		if m.res != nil {
			t, err := m.res(ci)
			if err != nil {
				c.errf(mn.p, "%v", err)
			}
			resT = t
		} else if m.resT != nil {
			resT = m.resT
		}
	}
	p := mn.p
	var rf evalFn
	if recv.static != nil {
		rf = func(*env) (any, error) { return nil, nil }
	} else {
		rf = deref(recv.fn, mn.nullCond, mn.p)
	}
	name := mn.name
	fn := func(e *env) (any, error) {
		r, err := rf(e)
		if err != nil {
			return nil, err
		}
		base := len(e.stack)
		for _, af := range argFns {
			v, err := af(e)
			if err != nil {
				e.stack = e.stack[:base]
				return nil, err
			}
			e.stack = append(e.stack, v)
		}
		args := e.stack[base:]
		mm := m
		if mm == nil {
			t := typeOfValue(r)
			mm = t.methods[name]
			if mm == nil {
				e.stack = e.stack[:base]
				return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("'%s' does not contain a method '%s'", t.name, name)}
			}
			if len(args) < mm.min || mm.max >= 0 && len(args) > mm.max {
				e.stack = e.stack[:base]
				return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("no overload for method '%s' takes %d arguments", name, len(args))}
			}
			if mm.generic && ci.targ == nil && mm.res == nil && mm.resT == nil || mm.outT != nil && len(outs) == 0 && len(args) == mm.max {
				e.stack = e.stack[:base]
				return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("the method '%s' cannot be called this way on a dynamic value", name)}
			}
		}
		if err := e.step(); err != nil {
			e.stack = e.stack[:base]
			return nil, &RuntimeError{Offset: p, Msg: err.Error()}
		}
		e.pos = p
		v, err := mm.call(e, ci, r, args)
		for _, o := range outs {
			e.locals[o.slot] = args[o.idx]
		}
		e.stack = e.stack[:base]
		if err != nil {
			return nil, at(p, err)
		}
		return v, nil
	}
	return cexpr{fn: fn, t: resT}
}

func (c *compiler) index(n *indexNode) cexpr {
	recv := c.receiver(n.x)
	if recv.static != nil {
		c.errf(n.p, "cannot index the type '%s'", recv.static.name)
	}
	idx := c.value(n.idx)
	rf := deref(recv.fn, n.nullCond, n.p)
	xf, p := idx.fn, n.p
	if recv.t.dynamic {
		return cexpr{fn: func(e *env) (any, error) {
			r, err := rf(e)
			if err != nil {
				return nil, err
			}
			k, err := xf(e)
			if err != nil {
				return nil, err
			}
			ix := typeOfValue(r).index
			if ix == nil {
				return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("cannot apply indexing with [] to a value of type '%s'", typeNameOf(r))}
			}
			if err := checkKey(ix, k); err != nil {
				return nil, at(p, err)
			}
			v, err := ix.get(e, r, k)
			return v, at(p, err)
		}, t: tObject}
	}
	ix := recv.t.index
	if ix == nil {
		c.errf(n.p, "cannot apply indexing with [] to an expression of type '%s'", recv.t.name)
	}
	if !assignable(idx.t, ix.key) {
		c.errf(n.idx.position(), "the index of '%s' must be of type '%s', not '%s'", recv.t.name, ix.key.name, idx.t.name)
	}
	get := ix.get
	return cexpr{fn: func(e *env) (any, error) {
		r, err := rf(e)
		if err != nil {
			return nil, err
		}
		k, err := xf(e)
		if err != nil {
			return nil, err
		}
		if err := checkKey(ix, k); err != nil {
			return nil, at(p, err)
		}
		v, err := get(e, r, k)
		return v, at(p, err)
	}, t: ix.t}
}

// checkKey checks an index value against the indexer's key type at run time.
func checkKey(ix *indexer, k any) error {
	switch ix.key {
	case tString:
		if k == nil {
			return errArgNull("key")
		}
		if _, ok := k.(string); !ok {
			return fmt.Errorf("the index must be a string, not %s", typeNameOf(k))
		}
	case tInt:
		if _, ok := k.(int64); !ok {
			return fmt.Errorf("the index must be an int, not %s", typeNameOf(k))
		}
	}
	return nil
}

func (c *compiler) cond(n *condNode) cexpr {
	cond := c.boolean(n.c)
	a, b := c.value(n.a), c.value(n.b)
	t := unify(a.t, b.t)
	if t == nil {
		c.errf(n.p, "type of conditional expression cannot be determined: no conversion between '%s' and '%s'", a.t.name, b.t.name)
	}
	cf, af, bf := cond.fn, a.fn, b.fn
	return cexpr{fn: func(e *env) (any, error) {
		v, err := cf(e)
		if err != nil {
			return nil, err
		}
		if v.(bool) {
			return af(e)
		}
		return bf(e)
	}, t: t}
}

// unify is the type of "c ? a : b" and "a ?? b".
func unify(a, b *typ) *typ {
	switch {
	case a == b:
		return a
	case a == tNull:
		return b
	case b == tNull:
		return a
	case a.dynamic || b.dynamic:
		return tObject
	case a == tInt && b == tDouble || a == tDouble && b == tInt:
		return tDouble
	case a == tJToken || b == tJToken:
		return tJToken
	}
	return nil
}

// boolean compiles a condition: a bool at compile time when known, and checked
// at run time otherwise.
func (c *compiler) boolean(n node) cexpr {
	x := c.value(n)
	if x.t == tBool {
		f := x.fn
		p := n.position()
		x.fn = func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			if v == nil {
				return nil, &RuntimeError{Offset: p, Msg: errNullableNil.Error()}
			}
			return v, nil
		}
		return x
	}
	if !x.t.dynamic {
		c.errf(n.position(), "cannot implicitly convert type '%s' to 'bool'", x.t.name)
	}
	f, p := x.fn, n.position()
	return cexpr{fn: func(e *env) (any, error) {
		v, err := f(e)
		if err != nil {
			return nil, err
		}
		if _, ok := v.(bool); !ok {
			if v == nil {
				return nil, &RuntimeError{Offset: p, Msg: errNullableNil.Error()}
			}
			return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("cannot convert %s to bool", typeNameOf(v))}
		}
		return v, nil
	}, t: tBool}
}

func (c *compiler) cast(n *castNode) cexpr {
	t, err := resolveType(n.t)
	if err != nil {
		c.errf(n.t.p, "%v", err)
	}
	x := c.value(n.x)
	if !castable(x.t, t) {
		c.errf(n.p, "cannot convert type '%s' to '%s'", x.t.name, t.name)
	}
	if x.t == t && !t.dynamic {
		return cexpr{fn: x.fn, t: t}
	}
	f, p, nullable, as := x.fn, n.p, n.t.nullable || n.as, n.as
	if n.as && t.valueType && !n.t.nullable {
		c.errf(n.p, "the 'as' operator needs a reference or nullable type, not '%s'", t.name)
	}
	return cexpr{fn: func(e *env) (any, error) {
		v, err := f(e)
		if err != nil {
			return nil, err
		}
		if as {
			if v == nil || !t.dynamic && typeOfValue(v) != t {
				return nil, nil
			}
			return v, nil
		}
		r, err := castValue(v, t, nullable)
		if err != nil {
			return nil, at(p, err)
		}
		return r, nil
	}, t: t}
}

// castValue converts v for a cast to t.
func castValue(v any, t *typ, nullable bool) (any, error) {
	if v == nil {
		if t.valueType && !nullable {
			return nil, errNullRef
		}
		return nil, nil
	}
	if t.dynamic {
		return v, nil
	}
	if t.conv != nil {
		if r, ok := t.conv(v); ok {
			return r, nil
		}
	}
	return nil, errCast(v, t)
}

func (c *compiler) is(n *isNode) cexpr {
	x := c.value(n.x)
	var t *typ
	if n.t != nil {
		var err error
		t, err = resolveType(n.t)
		if err != nil {
			c.errf(n.t.p, "%v", err)
		}
	}
	f, neg := x.fn, n.neg
	return cexpr{fn: func(e *env) (any, error) {
		v, err := f(e)
		if err != nil {
			return nil, err
		}
		var r bool
		if t == nil {
			r = v == nil
		} else {
			r = v != nil && (t.dynamic || typeOfValue(v) == t)
		}
		return r != neg, nil
	}, t: tBool}
}

func (c *compiler) interp(n *interpNode) cexpr {
	type part struct {
		lit    string
		fn     evalFn
		format string
		align  int
	}
	parts := make([]part, 0, len(n.parts))
	for _, h := range n.parts {
		if h.x == nil {
			parts = append(parts, part{lit: h.lit})
			continue
		}
		x := c.value(h.x)
		parts = append(parts, part{fn: x.fn, format: h.format, align: h.align})
	}
	p := n.p
	return cexpr{fn: func(e *env) (any, error) {
		var b strings.Builder
		for _, pt := range parts {
			if pt.fn == nil {
				b.WriteString(pt.lit)
				continue
			}
			v, err := pt.fn(e)
			if err != nil {
				return nil, err
			}
			s := toString(v)
			if pt.format != "" && v != nil {
				if s, err = formatValue(v, pt.format); err != nil {
					return nil, at(p, err)
				}
			}
			if pad := abs(pt.align) - strLen(s); pad > 0 {
				if pt.align > 0 {
					s = strings.Repeat(" ", pad) + s
				} else {
					s += strings.Repeat(" ", pad)
				}
			}
			if err := e.grow(b.Len() + len(s)); err != nil {
				return nil, at(p, err)
			}
			b.WriteString(s)
		}
		return b.String(), nil
	}, t: tString}
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

func (c *compiler) unary(n *unaryNode) cexpr {
	x := c.value(n.x)
	f, p := x.fn, n.p
	switch n.op {
	case "!":
		b := c.boolean(n.x)
		bf := b.fn
		return cexpr{fn: func(e *env) (any, error) {
			v, err := bf(e)
			if err != nil {
				return nil, err
			}
			return !v.(bool), nil
		}, t: tBool}
	case "-", "+":
		if !x.t.dynamic && x.t != tInt && x.t != tDouble && x.t != tTimeSpan {
			c.errf(p, "operator '%s' cannot be applied to an operand of type '%s'", n.op, x.t.name)
		}
		if n.op == "+" {
			return x
		}
		return cexpr{fn: func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			switch v := v.(type) {
			case nil:
				return nil, nil
			case int64:
				return -v, nil
			case float64:
				return -v, nil
			case time.Duration:
				return -v, nil
			}
			return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("operator '-' cannot be applied to %s", typeNameOf(v))}
		}, t: x.t}
	case "~":
		if !x.t.dynamic && x.t != tInt {
			c.errf(p, "operator '~' cannot be applied to an operand of type '%s'", x.t.name)
		}
		return cexpr{fn: func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			i, ok := v.(int64)
			if !ok {
				return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("operator '~' cannot be applied to %s", typeNameOf(v))}
			}
			return ^i, nil
		}, t: tInt}
	}
	c.errf(p, "unsupported operator '%s'", n.op)
	return cexpr{}
}

func (c *compiler) binary(n *binaryNode) cexpr {
	switch n.op {
	case "&&", "||":
		l, r := c.boolean(n.l), c.boolean(n.r)
		lf, rf := l.fn, r.fn
		and := n.op == "&&"
		return cexpr{fn: func(e *env) (any, error) {
			v, err := lf(e)
			if err != nil {
				return nil, err
			}
			if v.(bool) != and {
				return v, nil
			}
			return rf(e)
		}, t: tBool}
	case "??":
		l, r := c.value(n.l), c.value(n.r)
		t := unify(l.t, r.t)
		if t == nil {
			c.errf(n.p, "operator '??' cannot be applied to operands of type '%s' and '%s'", l.t.name, r.t.name)
		}
		lf, rf := l.fn, r.fn
		return cexpr{fn: func(e *env) (any, error) {
			v, err := lf(e)
			if err != nil || v != nil {
				return v, err
			}
			return rf(e)
		}, t: t}
	case "+":
		return c.plusChain(n)
	}
	return c.binaryOf(n.op, n.p, c.value(n.l), c.value(n.r))
}

// plusChain compiles a + b + c + ...: once the left side is a string, the rest
// is one concatenation, built with a single allocation.
func (c *compiler) plusChain(n *binaryNode) cexpr {
	var chain []*binaryNode
	for x := n; ; {
		chain = append(chain, x)
		l, ok := x.l.(*binaryNode)
		if !ok || l.op != "+" {
			break
		}
		x = l
	}
	// chain[len-1] is the leftmost "+"; operands are compiled left to right.
	acc := c.value(chain[len(chain)-1].l)
	for i := len(chain) - 1; i >= 0; i-- {
		if acc.t == tString && i > 0 {
			parts := []cexpr{acc}
			for j := i; j >= 0; j-- {
				parts = append(parts, c.value(chain[j].r))
			}
			return concat(parts, chain[i].p)
		}
		acc = c.binaryOf("+", chain[i].p, acc, c.value(chain[i].r))
	}
	return acc
}

func concat(parts []cexpr, p int) cexpr {
	fns := make([]evalFn, len(parts))
	for i, x := range parts {
		fns[i] = x.fn
	}
	return cexpr{fn: func(e *env) (any, error) {
		var buf [8]string
		strs := buf[:0]
		n := 0
		for _, f := range fns {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			s := toString(v)
			n += len(s)
			strs = append(strs, s)
		}
		if err := e.grow(n); err != nil {
			return nil, at(p, err)
		}
		var b strings.Builder
		b.Grow(n)
		for _, s := range strs {
			b.WriteString(s)
		}
		return b.String(), nil
	}, t: tString}
}

// binaryOf compiles a binary operator over compiled operands.
func (c *compiler) binaryOf(op string, p int, l, r cexpr) cexpr {
	t := binaryType(op, l.t, r.t)
	if t == nil {
		c.errf(p, "operator '%s' cannot be applied to operands of type '%s' and '%s'", op, l.t.name, r.t.name)
	}
	lf, rf := l.fn, r.fn
	if l.konst && r.konst {
		v, err := binaryOp(nil, op, l.val, r.val)
		if err == nil {
			return konst(v, t)
		}
	}
	return cexpr{fn: func(e *env) (any, error) {
		a, err := lf(e)
		if err != nil {
			return nil, err
		}
		b, err := rf(e)
		if err != nil {
			return nil, err
		}
		v, err := binaryOp(e, op, a, b)
		if err != nil {
			return nil, at(p, err)
		}
		return v, nil
	}, t: t}
}

func isNum(t *typ) bool { return t == tInt || t == tDouble }

// binaryType is the static result type of a binary operator, or nil when the
// operand types rule it out.
func binaryType(op string, a, b *typ) *typ {
	dyn := a.dynamic || b.dynamic
	switch op {
	case "==", "!=":
		return tBool
	case "<", ">", "<=", ">=":
		if dyn || isNum(a) && isNum(b) || a == b && (a == tDateTime || a == tTimeSpan) {
			return tBool
		}
		return nil
	case "+":
		if a == tString || b == tString {
			return tString
		}
		if a == tNull || b == tNull {
			if a == tNull && b == tNull {
				return tString
			}
			return tObject
		}
		if dyn {
			return tObject
		}
		switch {
		case a == tInt && b == tInt:
			return tInt
		case isNum(a) && isNum(b):
			return tDouble
		case a == tDateTime && b == tTimeSpan:
			return tDateTime
		case a == tTimeSpan && b == tTimeSpan:
			return tTimeSpan
		}
		return nil
	case "-":
		if dyn {
			return tObject
		}
		switch {
		case a == tInt && b == tInt:
			return tInt
		case isNum(a) && isNum(b):
			return tDouble
		case a == tDateTime && b == tTimeSpan:
			return tDateTime
		case a == tDateTime && b == tDateTime, a == tTimeSpan && b == tTimeSpan:
			return tTimeSpan
		}
		return nil
	case "*", "/", "%":
		if dyn {
			return tObject
		}
		switch {
		case a == tInt && b == tInt:
			return tInt
		case isNum(a) && isNum(b):
			return tDouble
		}
		return nil
	case "&", "|", "^":
		if dyn {
			return tObject
		}
		if a == tBool && b == tBool {
			return tBool
		}
		if a == tInt && b == tInt {
			return tInt
		}
		return nil
	}
	return nil
}

func (c *compiler) newExpr(n *newNode) cexpr {
	if n.array {
		elemT := tObject
		if n.t != nil {
			t, err := resolveType(n.t)
			if err != nil {
				c.errf(n.t.p, "%v", err)
			}
			if t == tStrArr {
				elemT = tString
			}
		} else {
			// new[] { ... }: string[] when every element is a string.
			elemT = nil
		}
		fns := make([]evalFn, len(n.elems))
		for i, el := range n.elems {
			x := c.value(el)
			if elemT == tString && !assignable(x.t, tString) {
				c.errf(el.position(), "cannot convert '%s' to 'string'", x.t.name)
			}
			if elemT == nil && x.t != tString {
				elemT = tObject
			}
			fns[i] = x.fn
		}
		if elemT == nil {
			elemT = tString
		}
		p := n.p
		if elemT == tString {
			return cexpr{fn: func(e *env) (any, error) {
				if err := e.grow(len(fns)); err != nil {
					return nil, at(p, err)
				}
				out := make([]string, len(fns))
				for i, f := range fns {
					v, err := f(e)
					if err != nil {
						return nil, err
					}
					s, _ := v.(string)
					out[i] = s
				}
				return out, nil
			}, t: tStrArr}
		}
		return cexpr{fn: func(e *env) (any, error) {
			out := make([]any, len(fns))
			for i, f := range fns {
				v, err := f(e)
				if err != nil {
					return nil, err
				}
				out[i] = v
			}
			return out, nil
		}, t: tObjArr}
	}
	ctor, ok := constructors[n.t.name]
	if !ok {
		c.errf(n.t.p, "'new %s' is not supported", n.t.name)
	}
	if len(n.elems) > 0 {
		c.errf(n.p, "collection and object initializers are not supported")
	}
	var fns []evalFn
	var types []*typ
	for _, a := range n.args {
		if a.name != "" || a.out {
			c.errf(a.p, "named and out arguments are not supported in 'new'")
		}
		if _, ok := a.x.(*lambdaNode); ok {
			c.errf(a.p, "a lambda expression is not valid here")
		}
		x := c.value(a.x)
		fns = append(fns, x.fn)
		types = append(types, x.t)
	}
	if len(fns) < ctor.min || ctor.max >= 0 && len(fns) > ctor.max {
		c.errf(n.p, "'%s' does not have a constructor that takes %d arguments", n.t.name, len(fns))
	}
	for i, t := range types {
		if len(ctor.params) == 0 {
			break
		}
		pt := ctor.params[min(i, len(ctor.params)-1)]
		if !assignable(t, pt) {
			c.errf(n.args[i].p, "argument %d of 'new %s': cannot convert from '%s' to '%s'", i+1, n.t.name, t.name, pt.name)
		}
	}
	p, call := n.p, ctor.call
	return cexpr{fn: func(e *env) (any, error) {
		base := len(e.stack)
		for _, f := range fns {
			v, err := f(e)
			if err != nil {
				e.stack = e.stack[:base]
				return nil, err
			}
			e.stack = append(e.stack, v)
		}
		v, err := call(e, nil, nil, e.stack[base:])
		e.stack = e.stack[:base]
		return v, at(p, err)
	}, t: ctor.resT}
}

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
	case "+=", "-=", "*=", "/=", "%=":
		binop = op[:1]
	case "++", "post++":
		binop = "+"
	case "--", "post--":
		binop = "-"
	}
	post := strings.HasPrefix(op, "post")
	vf, p := value.fn, n.p
	switch t := n.target.(type) {
	case *identNode:
		l := c.lookup(t.name)
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
			v, err := vf(e)
			if err != nil {
				return nil, err
			}
			if binop != "" {
				if v, err = binaryOp(e, binop, old, v); err != nil {
					return nil, at(p, err)
				}
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
			r, err := rf(e)
			if err != nil {
				return nil, err
			}
			k, err := kf(e)
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
			var old any
			if binop != "" || op == "??=" {
				if old, err = x.get(e, r, k); err != nil {
					return nil, at(p, err)
				}
				if op == "??=" && old != nil {
					return old, nil
				}
			}
			v, err := vf(e)
			if err != nil {
				return nil, err
			}
			if binop != "" {
				if v, err = binaryOp(e, binop, old, v); err != nil {
					return nil, at(p, err)
				}
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
		c.errf(t.p, "the property '%s' is read-only", t.name)
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
	}
	return false
}

func (c *compiler) block(b *blockStmt) stmtFn {
	c.push()
	defer c.pop()
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
	case *returnStmt:
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
		if c.loops == 0 {
			c.errf(s.p, "no enclosing loop out of which to %s", s.kind)
		}
		k := ctlBreak
		if s.kind == "continue" {
			k = ctlContinue
		}
		return func(e *env) (ctl, any, error) { return k, nil, nil }
	}
	c.errf(s.position(), "unsupported statement")
	return nil
}
