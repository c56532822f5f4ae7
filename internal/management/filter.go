package management

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// filterExpr is the OData $filter subset APIM's list operations accept:
// `field eq|ne|gt|ge|lt|le 'value'` and contains/startswith/endswith(field,
// 'value'), combined with and, or, not and parentheses. Field names are the
// resource's JSON names; an APIM-style "properties/" prefix is ignored.
type filterExpr struct {
	op          string // and, or, not, cmp, func
	left, right *filterExpr
	field, fn   string
	cmp         string
	value       any
}

const maxFilterLen = 1024

func parseFilter(s string) (*filterExpr, error) {
	if len(s) > maxFilterLen {
		return nil, fmt.Errorf("must be at most %d characters", maxFilterLen)
	}
	p := &filterParser{toks: nil}
	if err := p.lex(s); err != nil {
		return nil, err
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return e, nil
}

type filterTok struct {
	kind string // ident, str, num, punct
	text string
}

type filterParser struct {
	toks  []filterTok
	pos   int
	depth int
}

func (p *filterParser) lex(s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')' || c == ',':
			p.toks = append(p.toks, filterTok{"punct", string(c)})
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return errors.New("unterminated string")
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			p.toks = append(p.toks, filterTok{"str", b.String()})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t(),'", rune(s[j])) {
				j++
			}
			word := s[i:j]
			kind := "ident"
			if _, err := strconv.ParseFloat(word, 64); err == nil {
				kind = "num"
			}
			p.toks = append(p.toks, filterTok{kind, word})
			i = j
		}
	}
	return nil
}

func (p *filterParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos].text
	}
	return ""
}

func (p *filterParser) next() (filterTok, error) {
	if p.pos >= len(p.toks) {
		return filterTok{}, errors.New("unexpected end of filter")
	}
	t := p.toks[p.pos]
	p.pos++
	return t, nil
}

func (p *filterParser) expect(text string) error {
	t, err := p.next()
	if err != nil {
		return err
	}
	if t.text != text {
		return fmt.Errorf("expected %q, got %q", text, t.text)
	}
	return nil
}

func (p *filterParser) or() (*filterExpr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.pos++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &filterExpr{op: "or", left: l, right: r}
	}
	return l, nil
}

func (p *filterParser) and() (*filterExpr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.pos++
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &filterExpr{op: "and", left: l, right: r}
	}
	return l, nil
}

func (p *filterParser) unary() (*filterExpr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 32 {
		return nil, errors.New("nested too deeply")
	}
	if strings.EqualFold(p.peek(), "not") {
		p.pos++
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &filterExpr{op: "not", left: e}, nil
	}
	if p.peek() == "(" {
		p.pos++
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		return e, p.expect(")")
	}
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	if t.kind != "ident" {
		return nil, fmt.Errorf("expected a field name or function, got %q", t.text)
	}
	switch fn := strings.ToLower(t.text); fn {
	case "contains", "startswith", "endswith":
		if err := p.expect("("); err != nil {
			return nil, err
		}
		f, err := p.next()
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		v, err := p.next()
		if err != nil {
			return nil, err
		}
		if v.kind != "str" {
			return nil, fmt.Errorf("%s needs a quoted string, got %q", fn, v.text)
		}
		return &filterExpr{op: "func", fn: fn, field: fieldName(f.text), value: v.text}, p.expect(")")
	}
	opTok, err := p.next()
	if err != nil {
		return nil, err
	}
	cmp := strings.ToLower(opTok.text)
	switch cmp {
	case "eq", "ne", "gt", "ge", "lt", "le":
	default:
		return nil, fmt.Errorf("unknown operator %q (use eq, ne, gt, ge, lt, le)", opTok.text)
	}
	v, err := p.next()
	if err != nil {
		return nil, err
	}
	var val any
	switch {
	case v.kind == "str":
		val = v.text
	case v.kind == "num":
		val, _ = strconv.ParseFloat(v.text, 64)
	case v.text == "true" || v.text == "false":
		val = v.text == "true"
	case v.text == "null":
		val = nil
	default:
		return nil, fmt.Errorf("expected a value, got %q", v.text)
	}
	return &filterExpr{op: "cmp", field: fieldName(t.text), cmp: cmp, value: val}, nil
}

func fieldName(s string) string { return strings.TrimPrefix(s, "properties/") }

func lookupField(m map[string]any, path string) any {
	var cur any = m
	for _, part := range strings.Split(path, "/") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[part]
	}
	return cur
}

func (e *filterExpr) match(m map[string]any) bool {
	switch e.op {
	case "and":
		return e.left.match(m) && e.right.match(m)
	case "or":
		return e.left.match(m) || e.right.match(m)
	case "not":
		return !e.left.match(m)
	case "func":
		s, _ := lookupField(m, e.field).(string)
		v := strings.ToLower(e.value.(string))
		s = strings.ToLower(s)
		switch e.fn {
		case "contains":
			return strings.Contains(s, v)
		case "startswith":
			return strings.HasPrefix(s, v)
		default:
			return strings.HasSuffix(s, v)
		}
	}
	got := lookupField(m, e.field)
	c, ok := compare(got, e.value)
	switch e.cmp {
	case "eq":
		return ok && c == 0
	case "ne":
		return !ok || c != 0
	case "gt":
		return ok && c > 0
	case "ge":
		return ok && c >= 0
	case "lt":
		return ok && c < 0
	default:
		return ok && c <= 0
	}
}

func compare(a, b any) (int, bool) {
	switch bv := b.(type) {
	case nil:
		if a == nil {
			return 0, true
		}
		return 1, true
	case string:
		av, ok := a.(string)
		if !ok {
			return 0, false
		}
		// APIM compares names case-insensitively.
		return strings.Compare(strings.ToLower(av), strings.ToLower(bv)), true
	case float64:
		av, ok := a.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case av < bv:
			return -1, true
		case av > bv:
			return 1, true
		}
		return 0, true
	case bool:
		av, ok := a.(bool)
		if !ok {
			return 0, false
		}
		if av == bv {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}
