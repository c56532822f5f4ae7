package expression

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// JSONPath as Newtonsoft's SelectToken/SelectTokens read it, the common
// subset: $ (or nothing), .name, ['name'] (and ['a','b']), [n] (negative
// from the end), [*] and .*, [start:end], ..name and ..* (recursive descent),
// and filters [?(@.a.b == 'x')] with ==, !=, <, <=, >, >=, &&, || and bare
// existence [?(@.a)].

const maxPathLen = 4 << 10

type pathStep struct {
	kind    byte // 'n' name(s), 'i' index, '*' wildcard, 's' slice, 'f' filter
	names   []string
	index   int
	from    int
	to      int
	hasTo   bool
	recurse bool
	filter  *pathFilter
}

type pathFilter struct {
	or   [][]pathCond // disjunction of conjunctions
	text string
}

type pathCond struct {
	path  []pathStep // relative to @
	op    string     // "" for existence
	value any
}

type pathParser struct {
	s    string
	i    int
	full string
}

func (p *pathParser) errf(format string, args ...any) error {
	return fmt.Errorf("bad JSON path %q at %d: %s", p.full, p.i, fmt.Sprintf(format, args...))
}

func parsePath(path string) ([]pathStep, error) {
	if len(path) > maxPathLen {
		return nil, fmt.Errorf("the JSON path is longer than %d bytes", maxPathLen)
	}
	p := &pathParser{s: path, full: path}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '$' {
		p.i++
	}
	return p.steps(false)
}

func (p *pathParser) skipSpace() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// steps parses steps until the end (or, inside a filter, until an operator).
func (p *pathParser) steps(inFilter bool) ([]pathStep, error) {
	var out []pathStep
	first := true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '.':
			p.i++
			recurse := false
			if p.i < len(p.s) && p.s[p.i] == '.' {
				recurse = true
				p.i++
			}
			if p.i < len(p.s) && p.s[p.i] == '[' {
				st, err := p.bracket()
				if err != nil {
					return nil, err
				}
				st.recurse = recurse
				out = append(out, st)
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == '*' {
				p.i++
				out = append(out, pathStep{kind: '*', recurse: recurse})
				continue
			}
			name := p.name()
			if name == "" {
				return nil, p.errf("expected a property name")
			}
			out = append(out, pathStep{kind: 'n', names: []string{name}, recurse: recurse})
		case c == '[':
			st, err := p.bracket()
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		case inFilter:
			return out, nil
		case first:
			// A path may start with a bare name: SelectToken("a.b").
			name := p.name()
			if name == "" {
				return nil, p.errf("unexpected %q", c)
			}
			out = append(out, pathStep{kind: 'n', names: []string{name}})
		default:
			return nil, p.errf("unexpected %q", c)
		}
		first = false
	}
	return out, nil
}

func (p *pathParser) name() string {
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(".[]() =!<>&|", rune(p.s[p.i])) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *pathParser) quoted() (string, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case q:
			return b.String(), nil
		case '\\':
			if p.i < len(p.s) {
				b.WriteByte(p.s[p.i])
				p.i++
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", p.errf("unterminated string")
}

func (p *pathParser) bracket() (pathStep, error) {
	p.i++ // [
	p.skipSpace()
	if p.i >= len(p.s) {
		return pathStep{}, p.errf("unterminated [")
	}
	var st pathStep
	switch c := p.s[p.i]; {
	case c == '*':
		p.i++
		st.kind = '*'
	case c == '\'' || c == '"':
		st.kind = 'n'
		for {
			n, err := p.quoted()
			if err != nil {
				return st, err
			}
			st.names = append(st.names, n)
			p.skipSpace()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				p.skipSpace()
				if p.i < len(p.s) && (p.s[p.i] == '\'' || p.s[p.i] == '"') {
					continue
				}
				return st, p.errf("expected a quoted name")
			}
			break
		}
	case c == '?':
		p.i++
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '(' {
			return st, p.errf("expected ( after ?")
		}
		p.i++
		start := p.i
		f, err := p.filter()
		if err != nil {
			return st, err
		}
		f.text = p.s[start:p.i]
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return st, p.errf("expected )")
		}
		p.i++
		st.kind, st.filter = 'f', f
	default:
		// [n] or [from:to]
		num := func() (int, bool, error) {
			start := p.i
			if p.i < len(p.s) && p.s[p.i] == '-' {
				p.i++
			}
			for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
				p.i++
			}
			if p.i == start {
				return 0, false, nil
			}
			n, err := strconv.Atoi(p.s[start:p.i])
			if err != nil {
				return 0, false, p.errf("bad index")
			}
			return n, true, nil
		}
		n, ok, err := num()
		if err != nil {
			return st, err
		}
		if p.i < len(p.s) && p.s[p.i] == ':' {
			p.i++
			to, hasTo, err := num()
			if err != nil {
				return st, err
			}
			st.kind, st.from, st.to, st.hasTo = 's', n, to, hasTo
		} else if !ok {
			return st, p.errf("expected an index, a quoted name, * or a filter")
		} else {
			st.kind, st.index = 'i', n
		}
	}
	p.skipSpace()
	if p.i >= len(p.s) || p.s[p.i] != ']' {
		return st, p.errf("expected ]")
	}
	p.i++
	return st, nil
}

func (p *pathParser) filter() (*pathFilter, error) {
	f := &pathFilter{}
	var and []pathCond
	for {
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '@' {
			return nil, p.errf("a filter condition starts with @")
		}
		p.i++
		steps, err := p.steps(true)
		if err != nil {
			return nil, err
		}
		cond := pathCond{path: steps}
		p.skipSpace()
		for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
			if strings.HasPrefix(p.s[p.i:], op) {
				p.i += len(op)
				cond.op = op
				p.skipSpace()
				v, err := p.literal()
				if err != nil {
					return nil, err
				}
				cond.value = v
				break
			}
		}
		and = append(and, cond)
		p.skipSpace()
		switch {
		case strings.HasPrefix(p.s[p.i:], "&&"):
			p.i += 2
		case strings.HasPrefix(p.s[p.i:], "||"):
			p.i += 2
			f.or = append(f.or, and)
			and = nil
		default:
			f.or = append(f.or, and)
			return f, nil
		}
	}
}

func (p *pathParser) literal() (any, error) {
	if p.i >= len(p.s) {
		return nil, p.errf("expected a value")
	}
	if c := p.s[p.i]; c == '\'' || c == '"' {
		return p.quoted()
	}
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(" )&|", rune(p.s[p.i])) {
		p.i++
	}
	w := p.s[start:p.i]
	switch w {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if n, err := strconv.ParseInt(w, 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(w, 64); err == nil {
		return f, nil
	}
	return nil, p.errf("unknown value %q", w)
}

// selectPath returns the tokens path selects under v, in document order.
func selectPath(e *env, v any, steps []pathStep) ([]any, error) {
	cur := []any{v}
	for _, st := range steps {
		var next []any
		for _, x := range cur {
			if st.recurse {
				var err error
				walkJSON(x, func(d any) {
					if err == nil {
						next, err = applyStep(e, d, st, next)
					}
				})
				if err != nil {
					return nil, err
				}
				continue
			}
			var err error
			if next, err = applyStep(e, x, st, next); err != nil {
				return nil, err
			}
		}
		if e != nil {
			if err := e.grow(len(next)); err != nil {
				return nil, err
			}
		}
		cur = next
	}
	return cur, nil
}

// walkJSON calls f on v and every token below it, parents first.
func walkJSON(v any, f func(any)) {
	f(v)
	switch v := v.(type) {
	case *JObject:
		for _, k := range v.keys {
			walkJSON(v.vals[k], f)
		}
	case *JArray:
		for _, x := range v.Items {
			walkJSON(x, f)
		}
	}
}

func applyStep(e *env, x any, st pathStep, out []any) ([]any, error) {
	switch st.kind {
	case 'n':
		if o, ok := x.(*JObject); ok {
			for _, n := range st.names {
				if v, ok := o.Get(n); ok {
					out = append(out, v)
				}
			}
		}
	case '*':
		switch x := x.(type) {
		case *JObject:
			for _, k := range x.keys {
				out = append(out, x.vals[k])
			}
		case *JArray:
			out = append(out, x.Items...)
		}
	case 'i':
		if a, ok := x.(*JArray); ok {
			i := st.index
			if i < 0 {
				i += len(a.Items)
			}
			if i >= 0 && i < len(a.Items) {
				out = append(out, a.Items[i])
			}
		}
	case 's':
		if a, ok := x.(*JArray); ok {
			n := len(a.Items)
			from, to := st.from, n
			if st.hasTo {
				to = st.to
			}
			if from < 0 {
				from += n
			}
			if to < 0 {
				to += n
			}
			from, to = max(from, 0), min(to, n)
			if from < to {
				out = append(out, a.Items[from:to]...)
			}
		}
	case 'f':
		var items []any
		switch x := x.(type) {
		case *JArray:
			items = x.Items
		case *JObject:
			for _, k := range x.keys {
				items = append(items, x.vals[k])
			}
		}
		for _, it := range items {
			ok, err := st.filter.match(e, it)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, it)
			}
		}
	}
	return out, nil
}

func (f *pathFilter) match(e *env, v any) (bool, error) {
	if e != nil {
		if err := e.step(); err != nil {
			return false, err
		}
	}
	for _, and := range f.or {
		all := true
		for _, c := range and {
			got, err := selectPath(e, v, c.path)
			if err != nil {
				return false, err
			}
			if !c.holds(got) {
				all = false
				break
			}
		}
		if all {
			return true, nil
		}
	}
	return false, nil
}

func (c pathCond) holds(got []any) bool {
	if c.op == "" {
		return len(got) > 0
	}
	for _, g := range got {
		switch c.op {
		case "==":
			if valueEquals(g, c.value) {
				return true
			}
		case "!=":
			if !valueEquals(g, c.value) {
				return true
			}
		default:
			r, ok := compareValues(g, c.value)
			if !ok || r == 2 {
				continue
			}
			if c.op == "<" && r < 0 || c.op == "<=" && r <= 0 || c.op == ">" && r > 0 || c.op == ">=" && r >= 0 {
				return true
			}
		}
	}
	return len(got) == 0 && c.op == "!=" && c.value != nil
}

// selectTokens is SelectTokens(path[, errorWhenNoMatch]): every token path
// selects, in document order.
func selectTokens(e *env, v any, path string, errorWhenNoMatch bool) ([]any, error) {
	steps, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	got, err := selectPath(e, v, steps)
	if err != nil {
		return nil, err
	}
	if len(got) == 0 && errorWhenNoMatch {
		return nil, fmt.Errorf("Path '%s' does not exist.", path)
	}
	return got, nil
}

func selectTokenMethods(t *typ) {
	// select reads (path[, errorWhenNoMatch]) and selects.
	sel := func(e *env, r any, args []any) ([]any, error) {
		p, err := argStr(args, 0, "path")
		if err != nil {
			return nil, err
		}
		return selectTokens(e, r, p, len(args) == 2 && args[1] == true)
	}
	// SelectToken is the one token selected, null when none, an error when several.
	t.methods["SelectToken"] = mth(1, 2, tJToken, ts(tString, tBool), func(e *env, _ *callInfo, r any, args []any) (any, error) {
		got, err := sel(e, r, args)
		switch {
		case err != nil:
			return nil, err
		case len(got) > 1:
			return nil, errors.New("Path returned multiple tokens.")
		case len(got) == 1:
			return got[0], nil
		}
		return nil, nil
	})
	t.methods["SelectTokens"] = mth(1, 2, tObjArr, ts(tString, tBool), func(e *env, _ *callInfo, r any, args []any) (any, error) {
		got, err := sel(e, r, args)
		if err != nil {
			return nil, err
		}
		return append([]any{}, got...), nil
	})
}
