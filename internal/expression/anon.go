package expression

import (
	"fmt"
	"strings"
)

// Anonymous types: new { a = 1, b = x.Name, c }. Documents build them to
// serialise with JsonConvert.SerializeObject or read their members back.
// Each new { } has a type of its own, with a property per member typed by
// its initialiser; a value keeps the members in declaration order.

type anonNode struct {
	p     int
	names []string
	vals  []node
}

func (n *anonNode) position() int { return n.p }

// anonObject is an anonymous type's value.
type anonObject struct {
	t     *typ
	names []string
	vals  []any
}

// anonObj parses the { ... } after new.
func (p *parser) anonObj(pos int) node {
	open := p.expect("{")
	p.enter(open.pos)
	defer p.leave()
	n := &anonNode{p: pos}
	seen := map[string]bool{}
	for !p.accept("}") {
		t := p.peek()
		var name string
		var x node
		if t.kind == tkIdent && p.isOpAt(1, "=") {
			p.advance()
			p.advance()
			name, x = t.text, p.expr()
		} else {
			x = p.expr()
			inner := x
			if ce, ok := inner.(*chainEnd); ok {
				inner = ce.x
			}
			switch v := inner.(type) {
			case *identNode:
				name = v.name
			case *memberNode:
				name = v.name
			default:
				p.errf(t.pos, "invalid anonymous type member declarator: write name = value")
			}
		}
		if seen[name] {
			p.errf(t.pos, "an anonymous type cannot have multiple properties with the same name ('%s')", name)
		}
		seen[name] = true
		n.names = append(n.names, name)
		n.vals = append(n.vals, x)
		if !p.accept(",") {
			p.expect("}")
			break
		}
	}
	return n
}

func (c *compiler) anon(n *anonNode) cexpr {
	t := &typ{name: "<anonymous type>", props: map[string]*prop{}}
	fns := make([]evalFn, len(n.vals))
	for i, v := range n.vals {
		x := c.value(v)
		if x.t == tNull {
			c.errf(v.position(), "cannot assign <null> to anonymous type property")
		}
		fns[i] = x.fn
		i := i
		t.props[n.names[i]] = pr(x.t, func(v any) any { return v.(*anonObject).vals[i] })
	}
	t.methods = map[string]*method{
		"ToString": mth(0, 0, tString, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return toString(r), nil
		}),
	}
	addObjectMethods(t)
	names, p := n.names, n.p
	return cexpr{t: t, fn: func(e *env) (any, error) {
		if err := e.grow(len(fns)); err != nil {
			return nil, at(p, err)
		}
		o := &anonObject{t: t, names: names, vals: make([]any, len(fns))}
		for i, f := range fns {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			o.vals[i] = v
		}
		return o, nil
	}}
}

// String prints as .NET does: { a = 1, b = x }.
func (o *anonObject) String() string {
	var b strings.Builder
	b.WriteString("{ ")
	for i, n := range o.names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = %s", n, toString(o.vals[i]))
	}
	b.WriteString(" }")
	return b.String()
}

// jsonObject is the anonymous value as JSON, members in order.
func (o *anonObject) jsonObject() *JObject {
	j := NewJObject()
	for i, n := range o.names {
		j.Set(n, jsonify(o.vals[i]))
	}
	return j
}
