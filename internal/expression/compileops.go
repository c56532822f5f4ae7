package expression

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Compiling operators: conditionals, casts, "is", interpolated strings,
// unary and binary operators.

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
	width, checked := intWidths[n.t.name], c.checked
	if t != tInt || n.t.array {
		width = 0
	}
	if x.t == t && !t.dynamic && width == 0 {
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
		if err == nil && width != 0 && r != nil {
			r, err = narrow(r.(int64), width, checked)
		}
		if err != nil {
			return nil, at(p, err)
		}
		return r, nil
	}, t: t}
}

// intWidths are the bits of the integer types narrower than long; a cast to
// one keeps that many low bits (byte unsigned, the others signed). int and
// long share one 64-bit representation otherwise, so (int) is where a value
// is cut to 32 bits.
var intWidths = map[string]int{"byte": 8, "short": -16, "int": -32, "Int32": -32}

// narrow is an unchecked cast (the low bits), or a checked one (an overflow
// error when v does not fit).
func narrow(v int64, width int, checked bool) (any, error) {
	var r int64
	switch width {
	case 8:
		r = int64(uint8(v))
	case -16:
		r = int64(int16(v))
	default:
		r = int64(int32(v))
	}
	if checked && r != v {
		return nil, errOverflow
	}
	return r, nil
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
			r = v != nil && (t.dynamic || isSubclass(typeOfValue(v), t))
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
		checked := c.checked
		return cexpr{fn: func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			switch v := v.(type) {
			case nil:
				return nil, nil
			case int64:
				if checked && v == math.MinInt64 {
					return nil, &RuntimeError{Offset: p, Msg: errOverflow.Error()}
				}
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
	lf, rf, checked := l.fn, r.fn, c.checked
	if l.konst && r.konst {
		v, err := arith(nil, op, l.val, r.val, checked)
		if err == nil {
			return konst(v, t)
		}
		if err == errOverflow {
			c.errf(p, "the operation overflows at compile time in checked mode")
		}
	}
	return cexpr{fn: func(e *env) (any, error) {
		a, b, err := e.operands(lf, rf)
		if err != nil {
			return nil, err
		}
		v, err := arith(e, op, a, b, checked)
		if err != nil {
			return nil, at(p, err)
		}
		return v, nil
	}, t: t}
}

// operands evaluates the two operands of an operator or indexer, in order.
func (e *env) operands(af, bf evalFn) (a, b any, err error) {
	if a, err = af(e); err != nil {
		return nil, nil, err
	}
	b, err = bf(e)
	return a, b, err
}

func isNum(t *typ) bool { return t == tInt || t == tDouble }

// numType is the type of arithmetic on a and b: int on two ints, double on
// numbers, nil otherwise.
func numType(a, b *typ) *typ {
	switch {
	case a == tInt && b == tInt:
		return tInt
	case isNum(a) && isNum(b):
		return tDouble
	}
	return nil
}

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
	case "+", "-":
		if op == "+" {
			if a == tString || b == tString {
				return tString
			}
			if a == tNull || b == tNull {
				if a == tNull && b == tNull {
					return tString
				}
				return tObject
			}
		}
		if dyn {
			return tObject
		}
		if t := numType(a, b); t != nil {
			return t
		}
		switch {
		case a == tDateTime && b == tTimeSpan:
			return tDateTime
		case a == tTimeSpan && b == tTimeSpan, op == "-" && a == tDateTime && b == tDateTime:
			return tTimeSpan
		}
		return nil
	case "*", "/", "%":
		if dyn {
			return tObject
		}
		switch {
		case op == "*" && (a == tTimeSpan && isNum(b) || isNum(a) && b == tTimeSpan), op == "/" && a == tTimeSpan && isNum(b):
			return tTimeSpan
		case op == "/" && a == tTimeSpan && b == tTimeSpan:
			return tDouble
		}
		return numType(a, b)
	case "&", "|", "^":
		if dyn {
			return tObject
		}
		if a == tBool && b == tBool {
			return tBool
		}
		// A char is a one-character string here; C# widens chars to int
		// for bitwise operators (the constant-time comparison idiom
		// diff |= a[i] ^ b[i]). A longer string fails when it runs.
		if (a == tInt || a == tString) && (b == tInt || b == tString) {
			return tInt
		}
		return nil
	case "<<", ">>":
		if (a == tInt || a.dynamic) && (b == tInt || b.dynamic) {
			return tInt
		}
		return nil
	}
	return nil
}
