package expression

import (
	"fmt"
	"slices"
)

// Compiling method calls, indexers and "new".

// pushArgs evaluates fns onto e's stack and returns where their values
// start; on an error it leaves the stack as it was.
func (e *env) pushArgs(fns []evalFn) (base int, err error) {
	base = len(e.stack)
	for _, f := range fns {
		v, err := f(e)
		if err != nil {
			e.stack = e.stack[:base]
			return base, err
		}
		e.stack = append(e.stack, v)
	}
	return base, nil
}

func (c *compiler) call(n *callNode) cexpr {
	mn, ok := n.fn.(*memberNode)
	if !ok {
		if id, ok := n.fn.(*identNode); ok {
			if l := c.lookup(id.name); l != nil && l.fn != nil {
				return c.callLocal(n, id, l.fn)
			}
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
	n = c.dropFormatProviders(n)
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
			param := elem
			if m != nil && m.argElems && len(ci.argT) > 0 && ci.argT[0].elem != nil && !ci.argT[0].dynamic {
				param = ci.argT[0].elem
			}
			lv, rt := c.lambda(ln, param)
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
		base, err := e.pushArgs(argFns)
		if err != nil {
			return nil, err
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
		if err := e.stepCall(r, args); err != nil {
			e.stack = e.stack[:base]
			return nil, at(p, err)
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
			r, k, err := e.operands(rf, xf)
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
		r, k, err := e.operands(rf, xf)
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

func (c *compiler) newExpr(n *newNode) cexpr {
	if n.array {
		elemT := tObject
		if n.t != nil {
			t, err := resolveType(n.t)
			if err != nil {
				c.errf(n.t.p, "%v", err)
			}
			switch t {
			case tStrArr:
				elemT = tString
			case tBytes:
				return c.newBytes(n)
			}
			if n.size != nil {
				return c.newSized(n, t)
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
	if len(n.t.args) > 0 {
		return c.initialize(n, c.newGeneric(n))
	}
	return c.initialize(n, c.construct(n))
}

// initialize compiles the initializer of n, if any, over obj (the new
// object): Name = v and [k] = v become assignments and each element an Add
// call, all on a hidden local that holds the object.
func (c *compiler) initialize(n *newNode, obj cexpr) cexpr {
	if n.init == nil {
		return obj
	}
	c.push()
	defer c.pop()
	l := c.declare(n.p, fmt.Sprintf("<new@%d>", n.p), obj.t)
	recv := &compiledNode{p: n.p, x: cexpr{t: obj.t, fn: func(e *env) (any, error) { return e.locals[l.slot], nil }}}
	// List<T> and Dictionary<string, T> check what is stored against T.
	var elemT *typ
	if len(n.t.args) > 0 {
		elemT, _ = resolveType(n.t.args[len(n.t.args)-1])
	}
	stored := func(x node) *compiledNode {
		v := c.value(x)
		if elemT != nil && !assignable(v.t, elemT) {
			c.errf(x.position(), "cannot convert '%s' to '%s'", v.t.name, elemT.name)
		}
		return &compiledNode{p: x.position(), x: v}
	}
	fns := make([]evalFn, 0, len(n.init))
	for _, en := range n.init {
		var x node
		switch {
		case en.member != "":
			x = &assignNode{p: en.p, op: "=", target: &memberNode{p: en.p, x: recv, name: en.member}, value: en.value}
		case en.key != nil:
			x = &assignNode{p: en.p, op: "=", target: &indexNode{p: en.p, x: recv, idx: en.key}, value: stored(en.value)}
		default:
			if _, ok := obj.t.methods["Add"]; !ok || obj.t.each == nil {
				c.errf(en.p, "'%s' is not a collection with an Add method, so it cannot have a collection initializer", obj.t.name)
			}
			args := make([]*argNode, len(en.add))
			for i, a := range en.add {
				var v node = a
				if i == len(en.add)-1 {
					v = stored(a)
				}
				args[i] = &argNode{p: a.position(), x: v}
			}
			x = &callNode{p: en.p, fn: &memberNode{p: en.p, x: recv, name: "Add"}, args: args}
		}
		fns = append(fns, c.expr(x).fn)
	}
	of, slot, p := obj.fn, l.slot, n.p
	return cexpr{fn: func(e *env) (any, error) {
		v, err := of(e)
		if err != nil {
			return nil, err
		}
		e.locals[slot] = v
		for _, f := range fns {
			if err := e.step(); err != nil {
				return nil, at(p, err)
			}
			if _, err := f(e); err != nil {
				return nil, err
			}
		}
		return v, nil
	}, t: obj.t}
}

// construct compiles a constructor call: new T(args).
func (c *compiler) construct(n *newNode) cexpr {
	ctor, ok := constructors[n.t.name]
	if !ok {
		c.errf(n.t.p, "'new %s' is not supported", n.t.name)
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
		base, err := e.pushArgs(fns)
		if err != nil {
			return nil, err
		}
		v, err := call(e, nil, nil, e.stack[base:])
		e.stack = e.stack[:base]
		return v, at(p, err)
	}, t: ctor.resT}
}
