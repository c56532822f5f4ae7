package expression

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Strings: C# indexes count UTF-16 units; Tollgate counts Unicode code points,
// which agree except for characters outside the Basic Multilingual Plane.

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func strLen(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return len([]rune(s))
}

// byteOffset converts a code-point index of s to a byte offset; ok is false
// when i is out of range.
func byteOffset(s string, i int) (int, bool) {
	if i < 0 {
		return 0, false
	}
	if isASCII(s) {
		return i, i <= len(s)
	}
	n := 0
	for off := range s {
		if n == i {
			return off, true
		}
		n++
	}
	return len(s), n == i
}

// runeIndex converts a byte offset to a code-point index.
func runeIndex(s string, off int) int {
	if off < 0 || isASCII(s) {
		return off
	}
	return len([]rune(s[:off]))
}

func caseFold(s string, ic bool) string {
	if ic {
		return strings.ToLower(s)
	}
	return s
}

func splitString(s string, seps []string, count int, opts splitOptions) []string {
	var out []string
	add := func(part string) {
		if opts&2 != 0 {
			part = strings.TrimSpace(part)
		}
		if opts&1 != 0 && part == "" {
			return
		}
		out = append(out, part)
	}
	if len(seps) == 0 {
		// Split() splits on white space.
		start := 0
		for i, r := range s {
			if unicode.IsSpace(r) && (count <= 0 || len(out) < count-1) {
				add(s[start:i])
				start = i + len(string(r))
			}
		}
		add(s[start:])
		return nonNil(out)
	}
	start := 0
	for i := 0; i < len(s); {
		if count > 0 && len(out) >= count-1 {
			break
		}
		matched := 0
		for _, sep := range seps {
			if sep != "" && strings.HasPrefix(s[i:], sep) {
				matched = len(sep)
				break
			}
		}
		if matched == 0 {
			i++
			continue
		}
		add(s[start:i])
		i += matched
		start = i
	}
	add(s[start:])
	return nonNil(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func growStr(e *env, n int) error {
	if e == nil {
		return nil
	}
	return e.grow(n)
}

// strSpan reads the (startIndex[, length]) arguments of Substring and Remove
// as byte offsets of s: from, and to (len(s) without a length). startMsg and
// lenMsg are .NET's errors for each argument out of range; lenName names the
// second argument.
func strSpan(s string, args []any, lenName, startMsg, lenMsg string) (from, to int, err error) {
	start, err := argInt(args, 0, "startIndex")
	if err != nil {
		return 0, 0, err
	}
	from, ok := byteOffset(s, int(start))
	if !ok || start > math.MaxInt32 {
		return 0, 0, errors.New(startMsg)
	}
	if len(args) == 1 {
		return from, len(s), nil
	}
	n, err := argInt(args, 1, lenName)
	if err != nil {
		return 0, 0, err
	}
	k, ok := byteOffset(s[from:], int(n))
	if !ok || n > math.MaxInt32 {
		return 0, 0, errors.New(lenMsg)
	}
	return from, from + k, nil
}

// valueAndCase reads a string argument "value" and the optional
// StringComparison after it.
func valueAndCase(args []any) (v string, ic bool, err error) {
	if v, err = argStr(args, 0, "value"); err != nil {
		return "", false, err
	}
	ic, err = ignoreCase(args, 1)
	return v, ic, err
}

func stringMethods() map[string]*method {
	strFn := func(f func(s string) string) *method {
		return mth(0, 0, tString, nil, func(e *env, _ *callInfo, r any, _ []any) (any, error) {
			return f(r.(string)), nil
		})
	}
	trim := func(kind int) *method {
		return mth(0, -1, tString, ts(tString), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s := r.(string)
			if len(args) == 0 {
				switch kind {
				case 0:
					return strings.TrimSpace(s), nil
				case 1:
					return strings.TrimLeftFunc(s, unicode.IsSpace), nil
				}
				return strings.TrimRightFunc(s, unicode.IsSpace), nil
			}
			var cut strings.Builder
			for i := range args {
				c, err := argStr(args, i, "trimChars")
				if err != nil {
					return nil, err
				}
				cut.WriteString(c)
			}
			switch kind {
			case 0:
				return strings.Trim(s, cut.String()), nil
			case 1:
				return strings.TrimLeft(s, cut.String()), nil
			}
			return strings.TrimRight(s, cut.String()), nil
		})
	}
	affix := func(f func(s, v string) bool) *method {
		return mth(1, 2, tBool, ts(tString, tCmp), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			v, ic, err := valueAndCase(args)
			if err != nil {
				return nil, err
			}
			return f(caseFold(r.(string), ic), caseFold(v, ic)), nil
		})
	}
	pad := func(left bool) *method {
		return mth(1, 2, tString, ts(tInt, tString), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s := r.(string)
			n, err := argInt(args, 0, "totalWidth")
			if err != nil {
				return nil, err
			}
			if n < 0 {
				return nil, errors.New("Non-negative number required. (Parameter 'totalWidth')")
			}
			if err := growStr(e, int(n)); err != nil {
				return nil, err
			}
			ch := " "
			if len(args) == 2 {
				if ch, err = argStr(args, 1, "paddingChar"); err != nil {
					return nil, err
				}
			}
			missing := int(n) - strLen(s)
			if missing <= 0 {
				return s, nil
			}
			p := strings.Repeat(ch, missing)
			if left {
				return p + s, nil
			}
			return s + p, nil
		})
	}
	return map[string]*method{
		"Contains":   affix(strings.Contains),
		"StartsWith": affix(strings.HasPrefix),
		"EndsWith":   affix(strings.HasSuffix),
		"Equals": mth(1, 2, tBool, ts(nil, tCmp), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			v, ok := args[0].(string)
			if !ok {
				return false, nil
			}
			ic, err := ignoreCase(args, 1)
			if err != nil {
				return nil, err
			}
			if ic {
				return strings.EqualFold(r.(string), v), nil
			}
			return r.(string) == v, nil
		}),
		"Replace": mth(2, 2, tString, ts(tString, tString), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			old, err := argStr(args, 0, "oldValue")
			if err != nil {
				return nil, err
			}
			if old == "" {
				return nil, errors.New("String cannot be of zero length. (Parameter 'oldValue')")
			}
			nw, _ := args[1].(string)
			s := r.(string)
			if len(nw) > len(old) {
				if err := growStr(e, len(s)+strings.Count(s, old)*(len(nw)-len(old))); err != nil {
					return nil, err
				}
			}
			return strings.ReplaceAll(s, old, nw), nil
		}),
		"Split": mth(0, -1, tStrArr, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			var seps []string
			count := 0
			var opts splitOptions
			for i, a := range args {
				switch a := a.(type) {
				case string:
					seps = append(seps, a)
				case []string:
					seps = append(seps, a...)
				case []any:
					for _, x := range a {
						if s, ok := x.(string); ok {
							seps = append(seps, s)
						}
					}
				case int64:
					count = int(a)
				case splitOptions:
					opts = a
				case nil:
				default:
					return nil, fmt.Errorf("argument %d of Split cannot be %s", i+1, typeNameOf(a))
				}
			}
			s := r.(string)
			if err := growStr(e, len(s)); err != nil {
				return nil, err
			}
			return splitString(s, seps, count, opts), nil
		}),
		"Substring": mth(1, 2, tString, ts(tInt, tInt), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s := r.(string)
			from, to, err := strSpan(s, args, "length",
				"startIndex cannot be larger than length of string. (Parameter 'startIndex')",
				"Index and length must refer to a location within the string. (Parameter 'length')")
			if err != nil {
				return nil, err
			}
			return s[from:to], nil
		}),
		"Remove": mth(1, 2, tString, ts(tInt, tInt), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s := r.(string)
			from, to, err := strSpan(s, args, "count",
				"startIndex must be less than length of string. (Parameter 'startIndex')",
				"Index and count must refer to a location within the string. (Parameter 'count')")
			if err != nil {
				return nil, err
			}
			return s[:from] + s[to:], nil
		}),
		"Insert": mth(2, 2, tString, ts(tInt, tString), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s := r.(string)
			i, err := argInt(args, 0, "startIndex")
			if err != nil {
				return nil, err
			}
			v, err := argStr(args, 1, "value")
			if err != nil {
				return nil, err
			}
			off, ok := byteOffset(s, int(i))
			if !ok || i > math.MaxInt32 {
				return nil, errors.New("Specified argument was out of the range of valid values. (Parameter 'startIndex')")
			}
			if err := growStr(e, len(s)+len(v)); err != nil {
				return nil, err
			}
			return s[:off] + v + s[off:], nil
		}),
		"IndexOf": mth(1, 2, tInt, ts(tString, nil), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s := r.(string)
			v, err := argStr(args, 0, "value")
			if err != nil {
				return nil, err
			}
			from := 0
			ic := false
			if len(args) == 2 {
				switch a := args[1].(type) {
				case int64:
					off, ok := byteOffset(s, int(a))
					if !ok || a > math.MaxInt32 {
						return nil, errors.New("Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'startIndex')")
					}
					from = off
				case stringComparison:
					ic = a == cmpIgnoreCase
				default:
					return nil, fmt.Errorf("argument 2 of IndexOf cannot be %s", typeNameOf(a))
				}
			}
			i := strings.Index(caseFold(s[from:], ic), caseFold(v, ic))
			if i < 0 {
				return int64(-1), nil
			}
			return int64(runeIndex(s, from+i)), nil
		}),
		"LastIndexOf": mth(1, 2, tInt, ts(tString, tCmp), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s := r.(string)
			v, ic, err := valueAndCase(args)
			if err != nil {
				return nil, err
			}
			i := strings.LastIndex(caseFold(s, ic), caseFold(v, ic))
			if i < 0 {
				return int64(-1), nil
			}
			return int64(runeIndex(s, i)), nil
		}),
		"ToLower":          strFn(strings.ToLower),
		"ToUpper":          strFn(strings.ToUpper),
		"ToLowerInvariant": strFn(strings.ToLower),
		"ToUpperInvariant": strFn(strings.ToUpper),
		"Trim":             trim(0),
		"TrimStart":        trim(1),
		"TrimEnd":          trim(2),
		"PadLeft":          pad(true),
		"PadRight":         pad(false),
		"AsJwt": mth(0, 0, tJwt, nil, func(e *env, _ *callInfo, r any, _ []any) (any, error) {
			// APIM takes an Authorization header value, so a scheme prefix is allowed.
			s := r.(string)
			if len(s) > 7 && strings.EqualFold(s[:7], "bearer ") {
				s = strings.TrimSpace(s[7:])
			}
			j, err := ParseJwt(s)
			if err != nil {
				return nil, nil // APIM: null for a malformed token
			}
			return j, nil
		}),
		"ToCharArray": mth(0, 0, tStrArr, nil, func(e *env, _ *callInfo, r any, _ []any) (any, error) {
			s := r.(string)
			if err := growStr(e, len(s)*16); err != nil {
				return nil, err
			}
			out := make([]string, 0, len(s))
			for _, c := range s {
				out = append(out, string(c))
			}
			return out, nil
		}),
	}
}

// fillStringStatics fills String, StringComparison and StringSplitOptions.
func fillStringStatics() {
	str := staticClass("String")
	str.props["Empty"] = constProp(tString, "")
	str.methods["IsNullOrEmpty"] = mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, _ := args[0].(string)
		return s == "", nil
	})
	str.methods["IsNullOrWhiteSpace"] = mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, _ := args[0].(string)
		return strings.TrimSpace(s) == "", nil
	})
	str.methods["Join"] = mth(2, -1, tString, ts(tString, nil), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		sep, _ := args[0].(string)
		var parts []string
		add := func(x any) (bool, error) {
			if err := e.step(); err != nil {
				return true, err
			}
			parts = append(parts, toString(x))
			return false, nil
		}
		if len(args) == 2 {
			if t := typeOfValue(args[1]); t.each != nil && args[1] != nil {
				if _, isStr := args[1].(string); !isStr {
					if err := t.each(args[1], add); err != nil {
						return nil, err
					}
					args = nil
				}
			}
		}
		if args != nil {
			for _, a := range args[1:] {
				if _, err := add(a); err != nil {
					return nil, err
				}
			}
		}
		n := len(sep) * len(parts)
		for _, p := range parts {
			n += len(p)
		}
		if err := e.grow(n); err != nil {
			return nil, err
		}
		return strings.Join(parts, sep), nil
	})
	str.methods["Concat"] = mth(1, -1, tString, nil, func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		var b strings.Builder
		if len(args) == 1 {
			// Concat(IEnumerable<string>) and Concat(params object[]) join the elements.
			switch a := args[0].(type) {
			case []string:
				return strings.Join(a, ""), e.grow(len(a))
			case []any:
				args = a
			case string, nil:
			default:
				if typeOfValue(a).each != nil {
					var items []any
					if err := each(a, func(x any) (bool, error) { items = append(items, x); return false, e.grow(8) }); err != nil {
						return nil, err
					}
					args = items
				}
			}
		}
		for _, a := range args {
			s := toString(a)
			if err := e.grow(b.Len() + len(s)); err != nil {
				return nil, err
			}
			b.WriteString(s)
		}
		return b.String(), nil
	})
	str.methods["Format"] = mth(1, -1, tString, ts(tString, nil), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		f, err := argStr(args, 0, "format")
		if err != nil {
			return nil, err
		}
		return formatComposite(e, f, args[1:])
	})
	str.methods["Equals"] = mth(2, 3, tBool, ts(tString, tString, tCmp), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		ic, err := ignoreCase(args, 2)
		if err != nil {
			return nil, err
		}
		a, aok := args[0].(string)
		b, bok := args[1].(string)
		if !aok || !bok {
			return args[0] == nil && args[1] == nil, nil
		}
		if ic {
			return strings.EqualFold(a, b), nil
		}
		return a == b, nil
	})
	str.methods["Compare"] = mth(2, 3, tInt, ts(tString, tString, nil), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		a, _ := args[0].(string)
		b, _ := args[1].(string)
		if len(args) == 3 {
			if ic, ok := args[2].(bool); ok && ic || args[2] == cmpIgnoreCase {
				a, b = strings.ToLower(a), strings.ToLower(b)
			}
		}
		return int64(strings.Compare(a, b)), nil
	})

	cmpc := staticClass("StringComparison")
	for name, v := range map[string]stringComparison{
		"Ordinal": cmpOrdinal, "OrdinalIgnoreCase": cmpIgnoreCase,
		"CurrentCulture": cmpOrdinal, "CurrentCultureIgnoreCase": cmpIgnoreCase,
		"InvariantCulture": cmpOrdinal, "InvariantCultureIgnoreCase": cmpIgnoreCase,
	} {
		cmpc.props[name] = constProp(tCmp, v)
	}
	splitc := staticClass("StringSplitOptions")
	splitc.props["None"] = constProp(tSplitOpt, splitOptions(0))
	splitc.props["RemoveEmptyEntries"] = constProp(tSplitOpt, splitOptions(1))
	splitc.props["TrimEntries"] = constProp(tSplitOpt, splitOptions(2))
	registerStatic(str, cmpc, splitc)
	staticClasses["string"] = str
}

// formatComposite is String.Format: "{0}", "{1:format}", "{{" and "}}".
func formatComposite(e *env, f string, args []any) (any, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{', c == '}' && i+1 < len(f) && f[i+1] == '}':
			b.WriteByte(c)
			i++
		case c == '{':
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return nil, errFormat
			}
			spec := f[i+1 : i+end]
			format := ""
			if k := strings.IndexByte(spec, ':'); k >= 0 {
				spec, format = spec[:k], spec[k+1:]
			}
			if k := strings.IndexByte(spec, ','); k >= 0 {
				spec = spec[:k] // alignment is ignored
			}
			n, err := strconv.Atoi(strings.TrimSpace(spec))
			if err != nil || n < 0 || n >= len(args) {
				return nil, errors.New("Index (zero based) must be greater than or equal to zero and less than the size of the argument list.")
			}
			s := toString(args[n])
			if format != "" && args[n] != nil {
				if s, err = formatValue(args[n], format); err != nil {
					return nil, err
				}
			}
			if err := e.grow(b.Len() + len(s)); err != nil {
				return nil, err
			}
			b.WriteString(s)
			i += end
		case c == '}':
			return nil, errFormat
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
