package expression

import (
	"errors"
	"fmt"
	"strings"
)

// System.Text.StringBuilder. The text is kept as a string and rebuilt on
// edits other than appends; every byte is counted against the evaluation's
// allocation budget.

type stringBuilder struct{ s strings.Builder }

var tStringBuilder = &typ{name: "StringBuilder"}

func (sb *stringBuilder) appendString(e *env, s string) error {
	if err := e.grow(len(s)); err != nil {
		return err
	}
	if sb.s.Len()+len(s) > MaxStringLen {
		return errTooLarge
	}
	sb.s.WriteString(s)
	return nil
}

func (sb *stringBuilder) reset(s string) {
	sb.s.Reset()
	sb.s.WriteString(s)
}

// span reads (start, length) arguments at i as byte offsets into s.
func span(s string, args []any, i int) (int, int, error) {
	start, err := argInt(args, i, "startIndex")
	if err != nil {
		return 0, 0, err
	}
	n, err := argInt(args, i+1, "length")
	if err != nil {
		return 0, 0, err
	}
	from, ok := byteOffset(s, int(start))
	if !ok || n < 0 || start > 1<<30 || n > 1<<30 {
		return 0, 0, errors.New("Index and length must refer to a location within the string.")
	}
	to, ok := byteOffset(s, int(start+n))
	if !ok {
		return 0, 0, errors.New("Index and length must refer to a location within the string.")
	}
	return from, to, nil
}

func fillStringBuilder() {
	constructors["StringBuilder"] = mth(0, 2, tStringBuilder, nil, func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		sb := &stringBuilder{}
		if len(args) > 0 {
			if s, ok := args[0].(string); ok {
				return sb, sb.appendString(e, s)
			}
			if _, ok := args[0].(int64); !ok && args[0] != nil {
				return nil, fmt.Errorf("new StringBuilder takes a string or a capacity, not %s", typeNameOf(args[0]))
			}
		}
		return sb, nil
	})
	typeNames["StringBuilder"] = tStringBuilder
	b := func(v any) *stringBuilder { return v.(*stringBuilder) }
	tStringBuilder.props = map[string]*prop{
		"Length": {t: tInt, get: func(_ *env, v any) (any, error) { return int64(strLen(b(v).s.String())), nil },
			set: func(e *env, r, v any) error {
				n, ok := v.(int64)
				if !ok || n < 0 {
					return errors.New("Length cannot be less than zero. (Parameter 'value')")
				}
				s := b(r).s.String()
				if off, ok := byteOffset(s, int(min(n, 1<<30))); ok {
					b(r).reset(s[:off])
					return nil
				}
				return b(r).appendString(e, strings.Repeat("\x00", int(n)-strLen(s)))
			}},
	}
	tStringBuilder.index = &indexer{key: tInt, t: tString, get: func(e *env, r, k any) (any, error) {
		return tString.index.get(e, b(r).s.String(), k)
	}}
	self := func(f func(e *env, sb *stringBuilder, args []any) error) callFn {
		return func(e *env, _ *callInfo, r any, args []any) (any, error) {
			return r, f(e, b(r), args)
		}
	}
	tStringBuilder.methods = map[string]*method{
		"Append": mth(1, 3, tStringBuilder, nil, self(func(e *env, sb *stringBuilder, args []any) error {
			s := toString(args[0])
			if len(args) == 3 { // Append(string, start, count)
				from, to, err := span(s, args, 1)
				if err != nil {
					return err
				}
				s = s[from:to]
			} else if len(args) == 2 { // Append(char, repeatCount)
				n, err := argInt(args, 1, "repeatCount")
				if err != nil {
					return err
				}
				if n < 0 || int(n)*len(s) > MaxStringLen {
					return errTooLarge
				}
				s = strings.Repeat(s, int(n))
			}
			return sb.appendString(e, s)
		})),
		"AppendLine": mth(0, 1, tStringBuilder, nil, self(func(e *env, sb *stringBuilder, args []any) error {
			s := "\n"
			if len(args) == 1 {
				s = toString(args[0]) + s
			}
			return sb.appendString(e, s)
		})),
		"AppendFormat": mth(1, -1, tStringBuilder, ts(tString, nil), self(func(e *env, sb *stringBuilder, args []any) error {
			f, err := argStr(args, 0, "format")
			if err != nil {
				return err
			}
			s, err := formatComposite(e, f, args[1:])
			if err != nil {
				return err
			}
			return sb.appendString(e, s.(string))
		})),
		"Insert": mth(2, 2, tStringBuilder, ts(tInt, nil), self(func(e *env, sb *stringBuilder, args []any) error {
			i, err := argInt(args, 0, "index")
			if err != nil {
				return err
			}
			cur := sb.s.String()
			off, ok := byteOffset(cur, int(min(max(i, -1), 1<<30)))
			if !ok {
				return errors.New("Index was out of range. Must be non-negative and less than or equal to the size of the collection. (Parameter 'index')")
			}
			s := toString(args[1])
			if err := e.grow(len(cur) + len(s)); err != nil {
				return err
			}
			sb.reset(cur[:off] + s + cur[off:])
			return nil
		})),
		"Remove": mth(2, 2, tStringBuilder, ts(tInt, tInt), self(func(e *env, sb *stringBuilder, args []any) error {
			cur := sb.s.String()
			from, to, err := span(cur, args, 0)
			if err != nil {
				return err
			}
			sb.reset(cur[:from] + cur[to:])
			return e.grow(len(cur))
		})),
		"Replace": mth(2, 2, tStringBuilder, ts(tString, tString), self(func(e *env, sb *stringBuilder, args []any) error {
			old, err := argStr(args, 0, "oldValue")
			if err != nil {
				return err
			}
			if old == "" {
				return errors.New("The value cannot be an empty string. (Parameter 'oldValue')")
			}
			nw := toString(args[1])
			out := strings.ReplaceAll(sb.s.String(), old, nw)
			if len(out) > MaxStringLen {
				return errTooLarge
			}
			if err := e.grow(len(out)); err != nil {
				return err
			}
			sb.reset(out)
			return nil
		})),
		"Clear": mth(0, 0, tStringBuilder, nil, self(func(_ *env, sb *stringBuilder, _ []any) error {
			sb.s.Reset()
			return nil
		})),
		"ToString": mth(0, 2, tString, ts(tInt, tInt), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s := b(r).s.String()
			if len(args) == 2 {
				from, to, err := span(s, args, 0)
				if err != nil {
					return nil, err
				}
				s = s[from:to]
			} else if len(args) == 1 {
				return nil, errors.New("no overload for method 'ToString' takes 1 arguments")
			}
			return s, nil
		}),
	}
	addObjectMethods(tStringBuilder)
}
