package expression

import (
	"errors"
	"fmt"
	"strings"
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
	calls  int // local function calls in progress
}

func (e *env) step() error { return e.spend(1) }

// spend takes n steps from the budget.
func (e *env) spend(n int) error {
	e.steps += n
	if e.steps > MaxSteps {
		return errStepBudget
	}
	return nil
}

// stepCall is step for a method call, which also costs a step per 4 KiB of
// the strings and byte arrays it is given: a call may scan them, and a loop
// of cheap calls on a large body would otherwise run for minutes within the
// step budget.
func (e *env) stepCall(r any, args []any) error {
	n := 1 + scanCost(r)
	for _, a := range args {
		n += scanCost(a)
	}
	return e.spend(n)
}

func scanCost(v any) int {
	switch v := v.(type) {
	case string:
		return len(v) >> 12
	case []byte:
		return len(v) >> 12
	}
	return 0
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
	return &RuntimeError{Offset: p, Msg: err.Error(), cause: err}
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
			c.errf(len(strings.TrimRightFunc(src, isSpaceRune))-1, "not all code paths return a value")
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
	fn   *localFunc // set for a local function (slot is then unused)
}

type compiler struct {
	scopes  []map[string]*local
	nlocals int
	loops   int
	// switches counts the switch statements being compiled: break leaves them.
	switches int
	lambdas  int // lambda bodies being compiled
	// checked is set inside checked(...) and checked { ... }: integer
	// arithmetic and narrowing casts then fail on overflow instead of wrapping.
	checked bool
	// fn is the local function whose body is being compiled.
	fn *localFunc
	// caught holds the slots of the exceptions of the catch clauses being
	// compiled, innermost last (for "throw;").
	caught []int
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
	if l := c.lookup(name); l != nil && l.fn != nil {
		c.errf(pos, "a local function named '%s' is already defined in this scope", name)
	}
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
	case *anonNode:
		return c.anon(n)
	case *assignNode:
		return c.assign(n)
	case *lambdaNode:
		c.errf(n.p, "a lambda expression is only allowed as a method argument")
	case *compiledNode:
		return n.x
	case *switchExprNode:
		return c.switchExpr(n)
	case *throwExprNode:
		return c.throwExpr(n)
	case *checkedNode:
		defer func(was bool) { c.checked = was }(c.checked)
		c.checked = n.checked
		return c.expr(n.x)
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
		if l.fn != nil {
			c.errf(n.p, "'%s' is a local function; call it with ()", n.name)
		}
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
				// A JSON scalar read as object or JToken is a JValue.
				if pr, ok = jvalueProps[name]; !ok || !isJSONScalar(v) {
					return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("'%s' does not contain a definition for '%s'", t.name, name)}
				}
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
		loops, switches := c.loops, c.switches
		c.loops, c.switches = 0, 0
		defer func() { c.lambdas--; c.loops, c.switches = loops, switches }()
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
