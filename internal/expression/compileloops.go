package expression

import "errors"

var errNoSwitchMatch = errors.New("Non-exhaustive switch expression failed to match its input.")

// Compiling the control statements of parseloops.go: for, while, do, switch
// (statement and expression); try and throw are in exceptions.go.
//
// Every loop iteration takes a step (env.step), so a loop that never ends
// stops at MaxSteps with the step budget error, as foreach does.

func (c *compiler) controlStmt(s stmt) stmtFn {
	switch s := s.(type) {
	case *forStmt:
		return c.forStmt(s)
	case *whileStmt:
		return c.whileStmt(s)
	case *switchStmt:
		return c.switchStmt(s)
	case *tryStmt:
		return c.tryStmt(s)
	case *throwStmt:
		return c.throwStmt(s)
	}
	c.errf(s.position(), "unsupported statement")
	return nil
}

// loopBody compiles the body of a loop in its own scope, where break and
// continue are allowed.
func (c *compiler) loopBody(s stmt) stmtFn {
	c.push()
	defer c.pop()
	c.loops++
	defer func() { c.loops-- }()
	return c.stmt(s)
}

// statementExprs compiles the iterator of a for (i++, j--); as statements,
// a "?." that meets null simply ends the expression.
func (c *compiler) statementExprs(xs []node) []evalFn {
	fns := make([]evalFn, len(xs))
	for i, x := range xs {
		f := c.expr(x).fn
		fns[i] = func(e *env) (any, error) {
			v, err := f(e)
			if err == errShortCircuit {
				err = nil
			}
			return v, err
		}
	}
	return fns
}

func (c *compiler) forStmt(s *forStmt) stmtFn {
	// The variables of the initializer are scoped to the loop.
	c.push()
	defer c.pop()
	init := make([]stmtFn, len(s.init))
	for i, st := range s.init {
		init[i] = c.stmt(st)
	}
	var cond evalFn
	if s.cond != nil {
		cond = c.boolean(s.cond).fn
	}
	iter := c.statementExprs(s.iter)
	body := c.loopBody(s.body)
	p := s.p
	return func(e *env) (ctl, any, error) {
		for _, f := range init {
			if _, _, err := f(e); err != nil {
				return 0, nil, err
			}
		}
		return runLoop(e, p, cond, body, iter, false)
	}
}

func (c *compiler) whileStmt(s *whileStmt) stmtFn {
	cond := c.boolean(s.cond).fn
	body := c.loopBody(s.body)
	p, do := s.p, s.do
	return func(e *env) (ctl, any, error) {
		return runLoop(e, p, cond, body, nil, do)
	}
}

// runLoop runs body while cond (nil: always) holds, then iter after each
// pass; do skips the first test. Each pass is a step.
func runLoop(e *env, p int, cond evalFn, body stmtFn, iter []evalFn, do bool) (ctl, any, error) {
	for first := true; ; first = false {
		if err := e.step(); err != nil {
			return 0, nil, at(p, err)
		}
		if cond != nil && !(do && first) {
			v, err := cond(e)
			if err != nil {
				return 0, nil, err
			}
			if !v.(bool) {
				return ctlNext, nil, nil
			}
		}
		k, v, err := body(e)
		if err != nil {
			return 0, nil, err
		}
		switch k {
		case ctlReturn:
			return k, v, nil
		case ctlBreak:
			return ctlNext, nil, nil
		}
		for _, f := range iter {
			if _, err := f(e); err != nil {
				return 0, nil, err
			}
		}
	}
}

// hidden declares a local no source name can refer to, shadowing any outer
// one of the same name (nested switches and catches).
func (c *compiler) hidden(name string, t *typ) *local {
	l := &local{slot: c.nlocals, t: t}
	c.nlocals++
	c.scopes[len(c.scopes)-1][name] = l
	return l
}

// slotExpr reads a local.
func slotExpr(l *local) cexpr {
	slot := l.slot
	return cexpr{fn: func(e *env) (any, error) { return e.locals[slot], nil }, t: l.t}
}

// match compiles a pattern tested against in. It declares the pattern's
// variable, if any, in the current scope. key is the value of a constant
// pattern (for the duplicate label check), keyOK when there is one.
func (c *compiler) match(pat *pattern, in cexpr) (fn func(e *env) (bool, error), key any, keyOK bool) {
	inNode := &compiledNode{p: pat.p, x: in}
	switch pat.kind {
	case patDiscard:
		return func(*env) (bool, error) { return true, nil }, nil, false
	case patVar:
		l := c.declare(pat.p, pat.name, in.t)
		slot, inf := l.slot, in.fn
		return func(e *env) (bool, error) {
			v, err := inf(e)
			e.locals[slot] = v
			return err == nil, err
		}, nil, false
	case patType:
		test := c.expr(&isNode{p: pat.p, x: inNode, t: pat.typ}).fn
		slot := -1
		if pat.name != "" {
			t, err := resolveType(pat.typ)
			if err != nil {
				c.errf(pat.typ.p, "%v", err)
			}
			slot = c.declare(pat.p, pat.name, t).slot
		}
		inf := in.fn
		return func(e *env) (bool, error) {
			ok, err := test(e)
			if err != nil || !ok.(bool) {
				return false, err
			}
			if slot >= 0 {
				v, err := inf(e)
				e.locals[slot] = v
				return err == nil, err
			}
			return true, nil
		}, nil, false
	}
	x := c.value(pat.x)
	if !in.t.dynamic && !x.t.dynamic && !assignable(x.t, in.t) && !assignable(in.t, x.t) {
		c.errf(pat.x.position(), "a constant of type '%s' cannot match a value of type '%s'", x.t.name, in.t.name)
	}
	op := "=="
	if pat.kind == patRel {
		op = pat.op
	}
	test := c.boolean(&binaryNode{p: pat.p, op: op, l: inNode, r: &compiledNode{p: pat.x.position(), x: x}}).fn
	return func(e *env) (bool, error) {
		v, err := test(e)
		if err != nil {
			return false, err
		}
		return v.(bool), nil
	}, x.val, x.konst && pat.kind == patConst
}

// guard adds a when clause to a pattern test.
func (c *compiler) guard(m func(e *env) (bool, error), when node) func(e *env) (bool, error) {
	if when == nil {
		return m
	}
	w := c.boolean(when).fn
	return func(e *env) (bool, error) {
		ok, err := m(e)
		if err != nil || !ok {
			return false, err
		}
		v, err := w(e)
		if err != nil {
			return false, err
		}
		return v.(bool), nil
	}
}

func (c *compiler) switchStmt(s *switchStmt) stmtFn {
	x := c.value(s.x)
	c.push()
	defer c.pop()
	in := c.hidden("<switch>", x.t)
	type section struct {
		labels []func(e *env) (bool, error)
		body   stmtFn
	}
	secs := make([]section, len(s.sections))
	def := -1
	seen := map[any]bool{}
	c.switches++
	defer func() { c.switches-- }()
	for i, sec := range s.sections {
		c.push()
		for _, l := range sec.labels {
			if l.pat == nil {
				if def >= 0 {
					c.errf(l.p, "the switch statement contains multiple cases with the label value 'default'")
				}
				def = i
				continue
			}
			m, key, keyOK := c.match(l.pat, slotExpr(in))
			if keyOK && l.when == nil {
				if seen[key] {
					c.errf(l.p, "the switch statement contains multiple cases with the label value '%s'", toString(key))
				}
				seen[key] = true
			}
			secs[i].labels = append(secs[i].labels, c.guard(m, l.when))
		}
		secs[i].body = c.block(&blockStmt{p: sec.p, stmts: sec.stmts})
		c.pop()
		if !terminatesAll(sec.stmts) {
			// C# has no implicit fall-through: each section must end in a jump.
			last := sec.labels[len(sec.labels)-1]
			if i == len(s.sections)-1 {
				c.errf(last.p, "control cannot fall out of switch from the final case label ('%s'); end the section with break, return, throw or continue", last.text)
			}
			c.errf(last.p, "control cannot fall through from one case label ('%s') to another; end the section with break, return, throw or continue", last.text)
		}
	}
	xf, slot, p := x.fn, in.slot, s.p
	return func(e *env) (ctl, any, error) {
		if err := e.step(); err != nil {
			return 0, nil, at(p, err)
		}
		v, err := xf(e)
		if err != nil {
			return 0, nil, err
		}
		e.locals[slot] = v
		target := def
	find:
		for i := range secs {
			for _, m := range secs[i].labels {
				ok, err := m(e)
				if err != nil {
					return 0, nil, err
				}
				if ok {
					target = i
					break find
				}
			}
		}
		if target < 0 {
			return ctlNext, nil, nil
		}
		k, rv, err := secs[target].body(e)
		if k == ctlBreak {
			k = ctlNext // break leaves the switch; continue goes on to the loop
		}
		return k, rv, err
	}
}

// switchExpr compiles x switch { pattern [when c] => value, ... }.
func (c *compiler) switchExpr(n *switchExprNode) cexpr {
	x := c.value(n.x)
	c.push()
	defer c.pop()
	in := c.hidden("<switch>", x.t)
	tests := make([]func(e *env) (bool, error), len(n.arms))
	vals := make([]cexpr, len(n.arms))
	var t *typ
	for i, arm := range n.arms {
		c.push()
		m, _, _ := c.match(arm.pat, slotExpr(in))
		tests[i] = c.guard(m, arm.when)
		vals[i] = c.value(arm.value)
		c.pop()
		if i == 0 {
			t = vals[i].t
			continue
		}
		u := unify(t, vals[i].t)
		if u == nil {
			c.errf(arm.value.position(), "no best type was found for the switch expression: no conversion between '%s' and '%s'", t.name, vals[i].t.name)
		}
		t = u
	}
	fns := make([]evalFn, len(vals))
	for i, v := range vals {
		fns[i] = v.fn
		if t == tDouble && v.t == tInt {
			f := v.fn
			fns[i] = func(e *env) (any, error) {
				v, err := f(e)
				if i, ok := v.(int64); ok {
					return float64(i), err
				}
				return v, err
			}
		}
	}
	xf, slot, p := x.fn, in.slot, n.p
	return cexpr{fn: func(e *env) (any, error) {
		v, err := xf(e)
		if err != nil {
			return nil, err
		}
		e.locals[slot] = v
		for i, m := range tests {
			ok, err := m(e)
			if err != nil {
				return nil, err
			}
			if ok {
				return fns[i](e)
			}
		}
		return nil, &RuntimeError{Offset: p, Msg: errNoSwitchMatch.Error()}
	}, t: t}
}

// Reachability, as C# defines it where it matters here: a switch section
// must not reach its end, and a block that never reaches its end need not
// end in a return.

// terminatesAll reports whether the end of a statement list is unreachable.
func terminatesAll(stmts []stmt) bool {
	for _, s := range stmts {
		if terminates(s) {
			return true
		}
	}
	return false
}

// terminates reports whether control can never reach the end of s.
func terminates(s stmt) bool {
	switch s := s.(type) {
	case *returnStmt, *throwStmt, *jumpStmt:
		return true
	case *blockStmt:
		return terminatesAll(s.stmts)
	case *checkedStmt:
		return terminatesAll(s.body.stmts)
	case *ifStmt:
		return s.els != nil && terminates(s.then) && terminates(s.els)
	case *whileStmt:
		return isTrueLit(s.cond) && !breaksOut(s.body)
	case *forStmt:
		return (s.cond == nil || isTrueLit(s.cond)) && !breaksOut(s.body)
	case *switchStmt:
		hasDefault := false
		for _, sec := range s.sections {
			for _, l := range sec.labels {
				hasDefault = hasDefault || l.pat == nil || l.pat.kind == patDiscard || l.pat.kind == patVar && l.when == nil
			}
			for _, st := range sec.stmts {
				if breaksOut(st) {
					return false
				}
			}
		}
		return hasDefault
	case *tryStmt:
		if s.finally != nil && terminatesAll(s.finally.stmts) {
			return true
		}
		if !terminatesAll(s.body.stmts) {
			return false
		}
		for _, cc := range s.catches {
			if !terminatesAll(cc.body.stmts) {
				return false
			}
		}
		return true
	}
	return false
}

func isTrueLit(n node) bool {
	l, ok := n.(*litNode)
	return ok && l.v == true
}

// breaksOut reports whether s holds a break that leaves the loop or switch
// whose body s is (not one of a nested loop or switch).
func breaksOut(s stmt) bool {
	found := false
	walkJumps(s, func(j *jumpStmt, inLoop, inSwitch bool) {
		if j.kind == "break" && !inLoop && !inSwitch {
			found = true
		}
	})
	return found
}

// walkJumps calls f for each break and continue in s, with whether a loop
// or a switch nested in s encloses it. It does not enter lambdas.
func walkJumps(s stmt, f func(j *jumpStmt, inLoop, inSwitch bool)) {
	var walk func(s stmt, inLoop, inSwitch bool)
	walk = func(s stmt, inLoop, inSwitch bool) {
		switch s := s.(type) {
		case *jumpStmt:
			f(s, inLoop, inSwitch)
		case *blockStmt:
			for _, st := range s.stmts {
				walk(st, inLoop, inSwitch)
			}
		case *checkedStmt:
			walk(s.body, inLoop, inSwitch)
		case *ifStmt:
			walk(s.then, inLoop, inSwitch)
			if s.els != nil {
				walk(s.els, inLoop, inSwitch)
			}
		case *foreachStmt:
			walk(s.body, true, inSwitch)
		case *whileStmt:
			walk(s.body, true, inSwitch)
		case *forStmt:
			walk(s.body, true, inSwitch)
		case *switchStmt:
			for _, sec := range s.sections {
				for _, st := range sec.stmts {
					walk(st, inLoop, true)
				}
			}
		case *tryStmt:
			walk(s.body, inLoop, inSwitch)
			for _, cc := range s.catches {
				walk(cc.body, inLoop, inSwitch)
			}
			if s.finally != nil {
				walk(s.finally, inLoop, inSwitch)
			}
		}
	}
	walk(s, false, false)
}
