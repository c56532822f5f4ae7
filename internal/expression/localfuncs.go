package expression

import "fmt"

// Local functions declared in @{ } blocks. A function's parameters and locals
// have their own slots, lo to hi; a call saves them and restores them on
// return, so that recursive and nested calls each see their own values. The
// variables the function captures from the enclosing block live outside that
// range and are shared, as C# closures share them.

// maxCallDepth bounds how deeply local function calls nest: recursion costs
// Go stack, which the step budget alone does not bound.
const maxCallDepth = 200

var errCallDepth = fmt.Errorf("local function calls nested more than %d deep", maxCallDepth)

type localFunc struct {
	name   string
	params []*typ
	result *typ // tVoid when it returns nothing
	// Set when the declaration is compiled (calls may come before it).
	slots  []int // of the parameters
	lo, hi int
	body   stmtFn
}

// declareFuncs makes the functions declared in a block callable from anywhere
// in it, before their declarations too, as C# allows.
func (c *compiler) declareFuncs(stmts []stmt) {
	for _, s := range stmts {
		f, ok := s.(*funcStmt)
		if !ok {
			continue
		}
		lf := &localFunc{name: f.name, result: tVoid}
		if f.result != nil {
			lf.result = c.resolve(f.result)
		}
		for _, p := range f.params {
			lf.params = append(lf.params, c.resolve(p.typ))
		}
		if c.lookup(f.name) != nil || f.name == "context" {
			c.errf(f.p, "a local variable or function named '%s' is already defined in this scope", f.name)
		}
		c.scopes[len(c.scopes)-1][f.name] = &local{slot: -1, t: tVoid, fn: lf}
	}
}

func (c *compiler) resolve(r *typeRef) *typ {
	t, err := resolveType(r)
	if err != nil {
		c.errf(r.p, "%v", err)
	}
	return t
}

// funcDecl compiles the body of a local function declared by s.
func (c *compiler) funcDecl(s *funcStmt) stmtFn {
	l := c.scopes[len(c.scopes)-1][s.name]
	if l == nil || l.fn == nil {
		// if (x) int F() => 1; : declareFuncs only sees a block's own statements.
		c.errf(s.p, "a local function must be declared directly in a block")
	}
	lf := l.fn
	// break, continue and return inside belong to the function.
	defer func(fn *localFunc, loops, switches, lambdas int, caught []int) {
		c.fn, c.loops, c.switches, c.lambdas, c.caught = fn, loops, switches, lambdas, caught
	}(c.fn, c.loops, c.switches, c.lambdas, c.caught)
	c.fn, c.loops, c.switches, c.lambdas, c.caught = lf, 0, 0, 0, nil
	c.push()
	defer c.pop()
	lf.lo = c.nlocals
	for i, p := range s.params {
		lf.slots = append(lf.slots, c.declare(p.p, p.name, lf.params[i]).slot)
	}
	if s.expr != nil {
		lf.body = c.ret(s.expr.position(), s.expr, true)
	} else {
		lf.body = c.block(s.body)
		if lf.result != tVoid && !returns(s.body) {
			c.errf(s.p, "not all code paths of '%s' return a value", s.name)
		}
	}
	lf.hi = c.nlocals
	// The declaration itself does nothing at run time.
	return func(*env) (ctl, any, error) { return ctlNext, nil, nil }
}

// ret compiles "return x" (x may be nil) inside the local function c.fn, or
// its expression body "=> x".
func (c *compiler) ret(p int, x node, exprBody bool) stmtFn {
	lf := c.fn
	if lf.result == tVoid {
		if x == nil {
			return func(*env) (ctl, any, error) { return ctlReturn, nil, nil }
		}
		if !exprBody {
			c.errf(p, "'%s' returns void, so a return keyword must not be followed by a value", lf.name)
		}
		if !isStatementExpr(x) {
			c.errf(p, "only assignment and call expressions can be the body of the void function '%s'", lf.name)
		}
		// void F() => Call();
		v := c.expr(x)
		f := v.fn
		return func(e *env) (ctl, any, error) {
			_, err := f(e)
			if err == errShortCircuit {
				err = nil
			}
			return ctlReturn, nil, err
		}
	}
	if x == nil {
		c.errf(p, "'%s' must return a value of type '%s'", lf.name, lf.result.name)
	}
	v := c.value(x)
	if !assignable(v.t, lf.result) {
		c.errf(x.position(), "cannot implicitly convert type '%s' to '%s'", v.t.name, lf.result.name)
	}
	f, t := v.fn, lf.result
	needConv := t != v.t && !t.dynamic
	return func(e *env) (ctl, any, error) {
		r, err := f(e)
		if err == nil && needConv && r != nil {
			if r, err = castValue(r, t, true); err != nil {
				err = at(p, err)
			}
		}
		return ctlReturn, r, err
	}
}

// callLocal compiles a call of the local function lf.
func (c *compiler) callLocal(n *callNode, id *identNode, lf *localFunc) cexpr {
	if len(n.args) != len(lf.params) {
		c.errf(n.p, "'%s' takes %d arguments, not %d", lf.name, len(lf.params), len(n.args))
	}
	argFns := make([]evalFn, len(n.args))
	conv := make([]*typ, len(n.args))
	for i, a := range n.args {
		if a.name != "" || a.out {
			c.errf(a.p, "named and out arguments are not supported in calls of local functions")
		}
		if _, ok := a.x.(*lambdaNode); ok {
			c.errf(a.p, "argument %d of '%s' cannot be a lambda expression", i+1, lf.name)
		}
		x := c.value(a.x)
		if pt := lf.params[i]; !assignable(x.t, pt) {
			c.errf(a.p, "argument %d of '%s': cannot convert from '%s' to '%s'", i+1, lf.name, x.t.name, pt.name)
		} else if pt != x.t && !pt.dynamic {
			conv[i] = pt
		}
		argFns[i] = x.fn
	}
	p := id.p
	return cexpr{fn: func(e *env) (any, error) {
		base, err := e.pushArgs(argFns)
		if err != nil {
			return nil, err
		}
		args := e.stack[base:]
		for i, t := range conv {
			if t != nil && args[i] != nil {
				if args[i], err = castValue(args[i], t, true); err != nil {
					e.stack = e.stack[:base]
					return nil, at(n.args[i].p, err)
				}
			}
		}
		if e.calls >= maxCallDepth {
			e.stack = e.stack[:base]
			return nil, at(p, fmt.Errorf("%w (unbounded recursion in '%s'?)", errCallDepth, lf.name))
		}
		if err := e.step(); err != nil {
			e.stack = e.stack[:base]
			return nil, at(p, err)
		}
		saved := make([]any, lf.hi-lf.lo)
		copy(saved, e.locals[lf.lo:lf.hi])
		for i, slot := range lf.slots {
			e.locals[slot] = args[i]
		}
		e.stack = e.stack[:base]
		e.calls++
		_, v, err := lf.body(e)
		e.calls--
		copy(e.locals[lf.lo:lf.hi], saved)
		if err == errShortCircuit {
			err = nil
		}
		return v, err
	}, t: lf.result}
}
