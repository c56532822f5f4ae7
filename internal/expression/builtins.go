package expression

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The tables below are built once by init and only read afterwards.

type callFn = func(e *env, ci *callInfo, recv any, args []any) (any, error)

func mth(min, max int, resT *typ, params []*typ, call callFn) *method {
	return &method{min: min, max: max, resT: resT, params: params, call: call}
}

func pr(t *typ, get func(v any) any) *prop {
	return &prop{t: t, get: func(_ *env, v any) (any, error) { return get(v), nil }}
}

// nz boxes a pointer, keeping nil an untyped nil (a typed nil in an interface
// would not compare equal to null).
func nz[T any](p *T) any {
	if p == nil {
		return nil
	}
	return p
}

func timePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

func ts(types ...*typ) []*typ { return types }

// Argument helpers: they check the run-time type of an argument.

func argStr(args []any, i int, name string) (string, error) {
	switch v := args[i].(type) {
	case string:
		return v, nil
	case nil:
		return "", errArgNull(name)
	default:
		return "", fmt.Errorf("argument '%s' must be a string, not %s", name, typeNameOf(v))
	}
}

func argInt(args []any, i int, name string) (int64, error) {
	switch v := args[i].(type) {
	case int64:
		return v, nil
	case nil:
		return 0, errArgNull(name)
	default:
		return 0, fmt.Errorf("argument '%s' must be an int, not %s", name, typeNameOf(v))
	}
}

func argNum(args []any, i int, name string) (float64, error) {
	switch v := args[i].(type) {
	case int64:
		return float64(v), nil
	case float64:
		return v, nil
	case nil:
		return 0, errArgNull(name)
	default:
		return 0, fmt.Errorf("argument '%s' must be a number, not %s", name, typeNameOf(v))
	}
}

func argLambda(args []any, i int) (*lambdaVal, error) {
	l, ok := args[i].(*lambdaVal)
	if !ok {
		return nil, fmt.Errorf("argument %d must be a lambda expression", i+1)
	}
	return l, nil
}

// ignoreCase reads an optional StringComparison argument at i.
func ignoreCase(args []any, i int) (bool, error) {
	if len(args) <= i {
		return false, nil
	}
	c, ok := args[i].(stringComparison)
	if !ok {
		return false, fmt.Errorf("argument %d must be a StringComparison, not %s", i+1, typeNameOf(args[i]))
	}
	return c == cmpIgnoreCase, nil
}

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
			v, err := argStr(args, 0, "value")
			if err != nil {
				return nil, err
			}
			ic, err := ignoreCase(args, 1)
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
		"Contains": mth(1, 2, tBool, ts(tString, tCmp), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			v, err := argStr(args, 0, "value")
			if err != nil {
				return nil, err
			}
			ic, err := ignoreCase(args, 1)
			if err != nil {
				return nil, err
			}
			return strings.Contains(caseFold(r.(string), ic), caseFold(v, ic)), nil
		}),
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
			start, err := argInt(args, 0, "startIndex")
			if err != nil {
				return nil, err
			}
			from, ok := byteOffset(s, int(start))
			if !ok || start > math.MaxInt32 {
				return nil, errors.New("startIndex cannot be larger than length of string. (Parameter 'startIndex')")
			}
			if len(args) == 1 {
				return s[from:], nil
			}
			n, err := argInt(args, 1, "length")
			if err != nil {
				return nil, err
			}
			to, ok := byteOffset(s[from:], int(n))
			if !ok || n > math.MaxInt32 {
				return nil, errors.New("Index and length must refer to a location within the string. (Parameter 'length')")
			}
			return s[from : from+to], nil
		}),
		"Remove": mth(1, 2, tString, ts(tInt, tInt), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s := r.(string)
			start, err := argInt(args, 0, "startIndex")
			if err != nil {
				return nil, err
			}
			from, ok := byteOffset(s, int(start))
			if !ok || start > math.MaxInt32 {
				return nil, errors.New("startIndex must be less than length of string. (Parameter 'startIndex')")
			}
			if len(args) == 1 {
				return s[:from], nil
			}
			n, err := argInt(args, 1, "count")
			if err != nil {
				return nil, err
			}
			to, ok := byteOffset(s[from:], int(n))
			if !ok || n > math.MaxInt32 {
				return nil, errors.New("Index and count must refer to a location within the string. (Parameter 'count')")
			}
			return s[:from] + s[from+to:], nil
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
			v, err := argStr(args, 0, "value")
			if err != nil {
				return nil, err
			}
			ic, err := ignoreCase(args, 1)
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

// Dictionaries of string arrays: headers (case-insensitive), query parameters and claims.

type strArrDict interface {
	lookup(name string) ([]string, bool)
	keys() []string
	size() int
}

func (h Headers) lookup(name string) ([]string, bool) { return h.get(name) }
func (h Headers) keys() []string                      { return sortedKeys(h) }
func (h Headers) size() int                           { return len(h) }

func (q QueryParams) lookup(name string) ([]string, bool) {
	v, ok := q[name]
	return v, ok
}
func (q QueryParams) keys() []string { return sortedKeys(q) }
func (q QueryParams) size() int      { return len(q) }

func (c Claims) lookup(name string) ([]string, bool) {
	v, ok := c[name]
	return v, ok
}
func (c Claims) keys() []string { return sortedKeys(c) }
func (c Claims) size() int      { return len(c) }

func fillStrArrDict(t *typ) {
	t.elem = tKV
	t.each = func(v any, f func(any) (bool, error)) error {
		d := v.(strArrDict)
		for _, k := range d.keys() {
			vals, _ := d.lookup(k)
			if stop, err := f(kvPair{Key: k, Value: vals}); stop || err != nil {
				return err
			}
		}
		return nil
	}
	t.index = &indexer{key: tString, t: tStrArr, get: func(_ *env, r, k any) (any, error) {
		v, ok := r.(strArrDict).lookup(k.(string))
		if !ok {
			return nil, errKeyNotFound(k.(string))
		}
		return v, nil
	}}
	t.props = map[string]*prop{
		"Count": pr(tInt, func(v any) any { return int64(v.(strArrDict).size()) }),
		"Keys":  pr(tStrArr, func(v any) any { return v.(strArrDict).keys() }),
	}
	t.methods = map[string]*method{
		"GetValueOrDefault": mth(1, 2, tString, ts(tString, tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			name, err := argStr(args, 0, "key")
			if err != nil {
				return nil, err
			}
			v, ok := r.(strArrDict).lookup(name)
			if !ok {
				if len(args) == 2 {
					// The default may be of a dynamic type; the result is a string.
					return castValue(args[1], tString, true)
				}
				return nil, nil
			}
			return joinValues(v), nil
		}),
		"ContainsKey": mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			name, err := argStr(args, 0, "key")
			if err != nil {
				return nil, err
			}
			_, ok := r.(strArrDict).lookup(name)
			return ok, nil
		}),
		"TryGetValue": {min: 2, max: 2, resT: tBool, params: ts(tString, tStrArr), outT: tStrArr, call: func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			name, err := argStr(args, 0, "key")
			if err != nil {
				return nil, err
			}
			v, ok := r.(strArrDict).lookup(name)
			if ok {
				args[1] = v
			} else {
				args[1] = nil
			}
			return ok, nil
		}},
	}
	addLinq(t)
}

// Variables and other IReadOnlyDictionary<string, object>.

func varsGetOrDefaultType(ci *callInfo) *typ {
	if ci.targ != nil {
		return ci.targ
	}
	if len(ci.argT) == 2 && ci.argT[1] != tNull {
		return ci.argT[1]
	}
	return tObject
}

func fillVars() {
	t := tVars
	t.elem = tKVObj
	t.each = func(v any, f func(any) (bool, error)) error {
		m := v.(Variables)
		for _, k := range sortedKeys(m) {
			if stop, err := f(kvObj{Key: k, Value: normalize(m[k])}); stop || err != nil {
				return err
			}
		}
		return nil
	}
	t.index = &indexer{key: tString, t: tObject, get: func(_ *env, r, k any) (any, error) {
		v, ok := r.(Variables).lookup(k.(string))
		if !ok {
			return nil, errKeyNotFound(k.(string))
		}
		return v, nil
	}}
	t.props = map[string]*prop{
		"Count": pr(tInt, func(v any) any { return int64(len(v.(Variables))) }),
		"Keys":  pr(tStrArr, func(v any) any { return sortedKeys(v.(Variables)) }),
	}
	t.methods = map[string]*method{
		"GetValueOrDefault": {min: 1, max: 2, generic: true, params: ts(tString, nil),
			res: func(ci *callInfo) (*typ, error) {
				rt := varsGetOrDefaultType(ci)
				if len(ci.argT) == 2 && ci.targ != nil && !assignable(ci.argT[1], ci.targ) {
					return nil, fmt.Errorf("the default value of type '%s' does not match GetValueOrDefault<%s>", ci.argT[1].name, ci.targ.name)
				}
				return rt, nil
			},
			call: func(_ *env, ci *callInfo, r any, args []any) (any, error) {
				name, err := argStr(args, 0, "name")
				if err != nil {
					return nil, err
				}
				rt := varsGetOrDefaultType(ci)
				v, ok := r.(Variables).lookup(name)
				if !ok || v == nil {
					if len(args) == 2 {
						if rt.dynamic {
							return args[1], nil
						}
						return castValue(args[1], rt, true)
					}
					return zeroOf(rt), nil
				}
				return castValue(v, rt, true)
			}},
		"ContainsKey": mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			name, err := argStr(args, 0, "key")
			if err != nil {
				return nil, err
			}
			_, ok := r.(Variables)[name]
			return ok, nil
		}),
		"TryGetValue": {min: 2, max: 2, resT: tBool, params: ts(tString, nil), outT: tObject, call: func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			name, err := argStr(args, 0, "key")
			if err != nil {
				return nil, err
			}
			v, ok := r.(Variables).lookup(name)
			args[1] = v
			return ok, nil
		}},
	}
	addLinq(t)
}

// lookup reads a variable, with typed nil pointers read as null.
func (v Variables) lookup(name string) (any, bool) {
	x, ok := v[name]
	return normalize(x), ok
}

// normalize turns a typed nil pointer the runtime may have stored (a nil *Jwt
// in an interface is not a nil interface) into null.
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x) // Go callers may store plain ints
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case *Jwt:
		return nz(x)
	case *Authorization:
		return nz(x)
	case *Response:
		return nz(x)
	case *Request:
		return nz(x)
	case *JObject:
		return nz(x)
	case *JArray:
		return nz(x)
	case *URL:
		return nz(x)
	case *Body:
		return nz(x)
	case *Context:
		return nz(x)
	}
	return v
}

// zeroOf is default(T).
func zeroOf(t *typ) any {
	switch t {
	case tInt:
		return int64(0)
	case tDouble:
		return float64(0)
	case tBool:
		return false
	case tDateTime:
		return time.Time{}
	case tTimeSpan:
		return time.Duration(0)
	case tGuid:
		return Guid{}
	}
	return nil
}

// LINQ over the enumerable types.

func elemOf(ci *callInfo) (*typ, error) {
	if ci.recvT.elem != nil {
		return ci.recvT.elem, nil
	}
	return tObject, nil
}

func seqOf(ci *callInfo) (*typ, error) {
	if ci.recvT.elem == tString {
		return tStrArr, nil
	}
	return tObjArr, nil
}

// collect builds the result of Where/ToArray/Skip/Take: string[] for string
// elements, object[] otherwise.
type collector struct {
	strs   []string
	objs   []any
	isStrs bool
}

func newCollector(recv any) *collector {
	_, isStrs := recv.([]string)
	return &collector{isStrs: isStrs}
}

func (c *collector) add(e *env, x any) error {
	if err := e.grow(16); err != nil {
		return err
	}
	if c.isStrs {
		s, _ := x.(string)
		c.strs = append(c.strs, s)
	} else {
		c.objs = append(c.objs, x)
	}
	return nil
}

func (c *collector) result() any {
	if c.isStrs {
		return nonNil(c.strs)
	}
	if c.objs == nil {
		return []any{}
	}
	return c.objs
}

func each(v any, f func(any) (bool, error)) error {
	t := typeOfValue(v)
	if t.each == nil {
		return fmt.Errorf("%s is not a sequence", typeNameOf(v))
	}
	return t.each(v, f)
}

func linqMethods() map[string]*method {
	lam := ts(tLambda)
	firstLast := func(last, orDefault bool) *method {
		return &method{min: 0, max: 1, params: lam, res: elemOf, call: func(e *env, _ *callInfo, r any, args []any) (any, error) {
			var pred *lambdaVal
			if len(args) == 1 {
				var err error
				if pred, err = argLambda(args, 0); err != nil {
					return nil, err
				}
			}
			var found any
			ok := false
			err := each(r, func(x any) (bool, error) {
				if pred != nil {
					m, err := e.predicate(pred, x)
					if err != nil || !m {
						return false, err
					}
				}
				found, ok = x, true
				return !last, nil
			})
			if err != nil {
				return nil, err
			}
			if !ok {
				if orDefault {
					switch r.(type) {
					case Headers, QueryParams, Claims:
						return kvPair{}, nil
					case Variables, *JObject:
						return kvObj{}, nil
					}
					return nil, nil
				}
				if pred != nil {
					return nil, errNoMatch
				}
				return nil, errNoElements
			}
			return found, nil
		}}
	}
	return map[string]*method{
		"Any": mth(0, 1, tBool, lam, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			found := false
			var pred *lambdaVal
			if len(args) == 1 {
				var err error
				if pred, err = argLambda(args, 0); err != nil {
					return nil, err
				}
			}
			err := each(r, func(x any) (bool, error) {
				if pred != nil {
					m, err := e.predicate(pred, x)
					if err != nil || !m {
						return false, err
					}
				}
				found = true
				return true, nil
			})
			return found, err
		}),
		"All": mth(1, 1, tBool, lam, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			pred, err := argLambda(args, 0)
			if err != nil {
				return nil, err
			}
			all := true
			err = each(r, func(x any) (bool, error) {
				m, err := e.predicate(pred, x)
				if err != nil {
					return true, err
				}
				if !m {
					all = false
					return true, nil
				}
				return false, nil
			})
			return all, err
		}),
		"Count": mth(0, 1, tInt, lam, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			n := int64(0)
			var pred *lambdaVal
			if len(args) == 1 {
				var err error
				if pred, err = argLambda(args, 0); err != nil {
					return nil, err
				}
			}
			err := each(r, func(x any) (bool, error) {
				if pred != nil {
					m, err := e.predicate(pred, x)
					if err != nil || !m {
						return false, err
					}
				}
				n++
				return false, nil
			})
			return n, err
		}),
		"Single":          single(false),
		"SingleOrDefault": single(true),
		"First":           firstLast(false, false),
		"FirstOrDefault":  firstLast(false, true),
		"Last":            firstLast(true, false),
		"LastOrDefault":   firstLast(true, true),
		"Select": {min: 1, max: 1, params: lam,
			res: func(ci *callInfo) (*typ, error) {
				if ci.lamT == tString {
					return tStrArr, nil
				}
				return tObjArr, nil
			},
			call: func(e *env, ci *callInfo, r any, args []any) (any, error) {
				f, err := argLambda(args, 0)
				if err != nil {
					return nil, err
				}
				c := &collector{isStrs: ci.lamT == tString}
				err = each(r, func(x any) (bool, error) {
					v, err := e.invoke(f, x)
					if err != nil {
						return true, err
					}
					return false, c.add(e, v)
				})
				if err != nil {
					return nil, err
				}
				return c.result(), nil
			}},
		"Where": {min: 1, max: 1, params: lam, res: seqOf, call: func(e *env, _ *callInfo, r any, args []any) (any, error) {
			pred, err := argLambda(args, 0)
			if err != nil {
				return nil, err
			}
			c := newCollector(r)
			err = each(r, func(x any) (bool, error) {
				m, err := e.predicate(pred, x)
				if err != nil || !m {
					return err != nil, err
				}
				return false, c.add(e, x)
			})
			if err != nil {
				return nil, err
			}
			return c.result(), nil
		}},
		"Contains": mth(1, 1, tBool, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			if a, ok := r.([]string); ok {
				// Fast path without boxing each element.
				s, ok := args[0].(string)
				return ok && slices.Contains(a, s), nil
			}
			found := false
			err := each(r, func(x any) (bool, error) {
				if err := e.step(); err != nil {
					return true, err
				}
				found = valueEquals(x, args[0])
				return found, nil
			})
			return found, err
		}),
		"ToArray": {min: 0, max: 0, res: seqOf, call: copySeq},
		"ToList":  {min: 0, max: 0, res: seqOf, call: copySeq},
		"Distinct": {min: 0, max: 0, res: seqOf, call: func(e *env, _ *callInfo, r any, _ []any) (any, error) {
			c := newCollector(r)
			var seen []any
			err := each(r, func(x any) (bool, error) {
				for _, s := range seen {
					if err := e.step(); err != nil {
						return true, err
					}
					if valueEquals(s, x) {
						return false, nil
					}
				}
				seen = append(seen, x)
				return false, c.add(e, x)
			})
			if err != nil {
				return nil, err
			}
			return c.result(), nil
		}},
		"Skip": skipTake(true),
		"Take": skipTake(false),
	}
}

func single(orDefault bool) *method {
	return &method{min: 0, max: 1, params: ts(tLambda), res: elemOf, call: func(e *env, _ *callInfo, r any, args []any) (any, error) {
		var pred *lambdaVal
		if len(args) == 1 {
			var err error
			if pred, err = argLambda(args, 0); err != nil {
				return nil, err
			}
		}
		var found any
		n := 0
		err := each(r, func(x any) (bool, error) {
			if pred != nil {
				m, err := e.predicate(pred, x)
				if err != nil || !m {
					return err != nil, err
				}
			}
			found = x
			n++
			return n > 1, nil
		})
		switch {
		case err != nil:
			return nil, err
		case n > 1 && pred != nil:
			return nil, errors.New("Sequence contains more than one matching element")
		case n > 1:
			return nil, errors.New("Sequence contains more than one element")
		case n == 0 && orDefault:
			return nil, nil
		case n == 0 && pred != nil:
			return nil, errNoMatch
		case n == 0:
			return nil, errNoElements
		}
		return found, nil
	}}
}

func copySeq(e *env, _ *callInfo, r any, _ []any) (any, error) {
	c := newCollector(r)
	err := each(r, func(x any) (bool, error) { return false, c.add(e, x) })
	if err != nil {
		return nil, err
	}
	return c.result(), nil
}

func skipTake(skip bool) *method {
	return &method{min: 1, max: 1, params: ts(tInt), res: seqOf, call: func(e *env, _ *callInfo, r any, args []any) (any, error) {
		n, err := argInt(args, 0, "count")
		if err != nil {
			return nil, err
		}
		c := newCollector(r)
		i := int64(0)
		err = each(r, func(x any) (bool, error) {
			i++
			if skip && i <= n {
				return false, nil
			}
			if !skip && i > n {
				return true, nil
			}
			return false, c.add(e, x)
		})
		if err != nil {
			return nil, err
		}
		return c.result(), nil
	}}
}

func addLinq(t *typ) {
	if t.methods == nil {
		t.methods = map[string]*method{}
	}
	for name, m := range linqMethods() {
		if _, ok := t.methods[name]; !ok {
			t.methods[name] = m
		}
	}
}

// Body

func bodyLoad(b *Body) ([]byte, error) {
	if b.Load == nil {
		return nil, nil
	}
	data, err := b.Load()
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	limit := b.Limit
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	if len(data) > limit {
		return nil, fmt.Errorf("the body is larger than %d bytes", limit)
	}
	return data, nil
}

func bodyAs(e *env, b *Body, t *typ) (any, error) {
	data, err := bodyLoad(b)
	if err != nil {
		return nil, err
	}
	if err := e.grow(len(data)); err != nil {
		return nil, err
	}
	switch t {
	case tString:
		return string(data), nil
	case tBytes:
		return append([]byte(nil), data...), nil
	}
	v, err := ParseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("the body is not valid JSON: %v", err)
	}
	switch t {
	case tJObject:
		if _, ok := v.(*JObject); !ok {
			return nil, fmt.Errorf("the body is not a JSON object")
		}
	case tJArray:
		if _, ok := v.(*JArray); !ok {
			return nil, fmt.Errorf("the body is not a JSON array")
		}
	}
	return v, nil
}

// JSON

func jsonify(v any) any {
	switch v := v.(type) {
	case []string:
		a := &JArray{Items: make([]any, len(v))}
		for i, s := range v {
			a.Items[i] = s
		}
		return a
	case []any:
		return &JArray{Items: append([]any(nil), v...)}
	case int64, float64, string, bool, nil, *JObject, *JArray:
		return v
	case time.Time:
		// Newtonsoft's default ISO format trims trailing zeros of the fraction.
		f, _ := formatDateTime(v, "yyyy-MM-ddTHH:mm:ss.FFFFFFFK")
		return f
	}
	return toString(v)
}

// selectToken follows a simple JSON path: $.a.b[0]['c'].
func selectToken(v any, path string) (any, error) {
	p := strings.TrimPrefix(path, "$")
	for p != "" {
		switch {
		case p[0] == '.':
			p = p[1:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return nil, fmt.Errorf("bad JSON path %q", path)
			}
			key := p[1:end]
			p = p[end+1:]
			if len(key) >= 2 && (key[0] == '\'' || key[0] == '"') {
				o, ok := v.(*JObject)
				if !ok {
					return nil, nil
				}
				v, _ = o.Get(key[1 : len(key)-1])
				continue
			}
			i, err := strconv.Atoi(key)
			if err != nil {
				return nil, fmt.Errorf("bad JSON path %q", path)
			}
			a, ok := v.(*JArray)
			if !ok || i < 0 || i >= len(a.Items) {
				return nil, nil
			}
			v = a.Items[i]
			continue
		}
		end := strings.IndexAny(p, ".[")
		if end < 0 {
			end = len(p)
		}
		key := p[:end]
		p = p[end:]
		o, ok := v.(*JObject)
		if !ok {
			return nil, nil
		}
		v, _ = o.Get(key)
	}
	return v, nil
}

func jsonToString(e *env, v any, args []any) (any, error) {
	indent := "  "
	if len(args) == 1 {
		f, ok := args[0].(jsonFormatting)
		if !ok {
			return nil, fmt.Errorf("the argument of ToString must be a Formatting")
		}
		if f == 0 {
			indent = ""
		}
	}
	s := jsonText(v, indent)
	if err := e.grow(len(s)); err != nil {
		return nil, err
	}
	return s, nil
}

func fillJSON() {
	tJObject.elem = tKVObj
	tJObject.each = func(v any, f func(any) (bool, error)) error {
		o := v.(*JObject)
		for _, k := range o.Keys() {
			if stop, err := f(kvObj{Key: k, Value: o.vals[k]}); stop || err != nil {
				return err
			}
		}
		return nil
	}
	tJObject.index = &indexer{key: tString, t: tJToken,
		get: func(_ *env, r, k any) (any, error) {
			v, _ := r.(*JObject).Get(k.(string))
			return v, nil
		},
		set: func(_ *env, r, k, v any) error {
			r.(*JObject).Set(k.(string), attach(r, v))
			return nil
		}}
	tJObject.props = map[string]*prop{
		"Count":     pr(tInt, func(v any) any { return int64(v.(*JObject).Len()) }),
		"HasValues": pr(tBool, func(v any) any { return v.(*JObject).Len() > 0 }),
	}
	tJObject.methods = map[string]*method{
		"ToString": mth(0, 1, tString, ts(tFormat), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			return jsonToString(e, r, args)
		}),
		"Value": {min: 1, max: 1, generic: true, params: ts(tString), res: func(ci *callInfo) (*typ, error) {
			if ci.targ == nil {
				return nil, errors.New("Value needs a type argument, e.g. Value<string>(\"name\")")
			}
			return ci.targ, nil
		}, call: func(_ *env, ci *callInfo, r any, args []any) (any, error) {
			k, err := argStr(args, 0, "key")
			if err != nil {
				return nil, err
			}
			v, _ := r.(*JObject).Get(k)
			if ci.targ == nil {
				return v, nil
			}
			return castValue(v, ci.targ, true)
		}},
		"GetValue": mth(1, 1, tJToken, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := argStr(args, 0, "propertyName")
			if err != nil {
				return nil, err
			}
			v, _ := r.(*JObject).Get(k)
			return v, nil
		}),
		"ContainsKey": mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := argStr(args, 0, "propertyName")
			if err != nil {
				return nil, err
			}
			_, ok := r.(*JObject).Get(k)
			return ok, nil
		}),
		"Remove": mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := argStr(args, 0, "propertyName")
			if err != nil {
				return nil, err
			}
			return r.(*JObject).Remove(k), nil
		}),
		"Add": mth(1, 2, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			o := r.(*JObject)
			var k string
			var v any
			if len(args) == 1 {
				p, ok := args[0].(jProperty)
				if !ok {
					return nil, fmt.Errorf("JObject.Add with one argument takes a JProperty")
				}
				k, v = p.Name, p.Value
			} else {
				var err error
				if k, err = argStr(args, 0, "propertyName"); err != nil {
					return nil, err
				}
				v = args[1]
			}
			if _, ok := o.Get(k); ok {
				return nil, fmt.Errorf("Can not add property %s to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object.", k)
			}
			if err := e.grow(len(k) + 16); err != nil {
				return nil, err
			}
			o.Set(k, attach(o, v))
			return nil, nil
		}),
		"Property": mth(1, 1, tJProp, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := argStr(args, 0, "name")
			if err != nil {
				return nil, err
			}
			v, ok := r.(*JObject).Get(k)
			if !ok {
				return nil, nil
			}
			return jProperty{Name: k, Value: v}, nil
		}),
		"SelectToken": mth(1, 1, tJToken, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			p, err := argStr(args, 0, "path")
			if err != nil {
				return nil, err
			}
			return selectToken(r, p)
		}),
	}
	addLinq(tJObject)
	delete(tJObject.methods, "Contains")

	tJArray.elem = tJToken
	tJArray.each = func(v any, f func(any) (bool, error)) error {
		for _, x := range v.(*JArray).Items {
			if stop, err := f(x); stop || err != nil {
				return err
			}
		}
		return nil
	}
	tJArray.index = &indexer{key: tInt, t: tJToken,
		get: func(_ *env, r, k any) (any, error) {
			a, i := r.(*JArray), k.(int64)
			if i < 0 || i >= int64(len(a.Items)) {
				return nil, errors.New("Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
			}
			return a.Items[i], nil
		},
		set: func(_ *env, r, k, v any) error {
			a, i := r.(*JArray), k.(int64)
			if i < 0 || i >= int64(len(a.Items)) {
				return errors.New("Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
			}
			a.Items[i] = attach(r, v)
			return nil
		}}
	tJArray.props = map[string]*prop{
		"Count":     pr(tInt, func(v any) any { return int64(len(v.(*JArray).Items)) }),
		"HasValues": pr(tBool, func(v any) any { return len(v.(*JArray).Items) > 0 }),
	}
	tJArray.methods = map[string]*method{
		"ToString": mth(0, 1, tString, ts(tFormat), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			return jsonToString(e, r, args)
		}),
		"Add": mth(1, 1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			if err := e.grow(16); err != nil {
				return nil, err
			}
			a := r.(*JArray)
			a.Items = append(a.Items, attach(a, args[0]))
			return nil, nil
		}),
		"SelectToken": mth(1, 1, tJToken, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			p, err := argStr(args, 0, "path")
			if err != nil {
				return nil, err
			}
			return selectToken(r, p)
		}),
	}
	addLinq(tJArray)

	tJProp.props = map[string]*prop{
		"Name":  pr(tString, func(v any) any { return v.(jProperty).Name }),
		"Value": pr(tJToken, func(v any) any { return v.(jProperty).Value }),
	}
}

// Arrays

func fillArrays() {
	tStrArr.elem = tString
	tStrArr.each = func(v any, f func(any) (bool, error)) error {
		for _, s := range v.([]string) {
			if stop, err := f(s); stop || err != nil {
				return err
			}
		}
		return nil
	}
	tStrArr.index = &indexer{key: tInt, t: tString, get: func(_ *env, r, k any) (any, error) {
		a, i := r.([]string), k.(int64)
		if i < 0 || i >= int64(len(a)) {
			return nil, errIndexRange
		}
		return a[i], nil
	}, set: func(_ *env, r, k, v any) error {
		a, i := r.([]string), k.(int64)
		if i < 0 || i >= int64(len(a)) {
			return errIndexRange
		}
		s, ok := v.(string)
		if !ok && v != nil {
			return errCast(v, tString)
		}
		a[i] = s
		return nil
	}}
	tStrArr.props = map[string]*prop{
		"Length": pr(tInt, func(v any) any { return int64(len(v.([]string))) }),
	}
	addLinq(tStrArr)

	tObjArr.elem = tObject
	tObjArr.each = func(v any, f func(any) (bool, error)) error {
		for _, x := range v.([]any) {
			if stop, err := f(x); stop || err != nil {
				return err
			}
		}
		return nil
	}
	tObjArr.index = &indexer{key: tInt, t: tObject, get: func(_ *env, r, k any) (any, error) {
		a, i := r.([]any), k.(int64)
		if i < 0 || i >= int64(len(a)) {
			return nil, errIndexRange
		}
		return a[i], nil
	}, set: func(_ *env, r, k, v any) error {
		a, i := r.([]any), k.(int64)
		if i < 0 || i >= int64(len(a)) {
			return errIndexRange
		}
		a[i] = v
		return nil
	}}
	tObjArr.props = map[string]*prop{
		"Length": pr(tInt, func(v any) any { return int64(len(v.([]any))) }),
		"Count":  pr(tInt, func(v any) any { return int64(len(v.([]any))) }),
	}
	addLinq(tObjArr)

	tBytes.props = map[string]*prop{
		"Length": pr(tInt, func(v any) any { return int64(len(v.([]byte))) }),
	}
	tBytes.index = &indexer{key: tInt, t: tInt, get: func(_ *env, r, k any) (any, error) {
		a, i := r.([]byte), k.(int64)
		if i < 0 || i >= int64(len(a)) {
			return nil, errIndexRange
		}
		return int64(a[i]), nil
	}}

	tKV.props = map[string]*prop{
		"Key": pr(tString, func(v any) any {
			if p := v.(kvPair); p.Key == "" && p.Value == nil {
				return nil // default(KeyValuePair<,>) from FirstOrDefault
			}
			return v.(kvPair).Key
		}),
		"Value": pr(tStrArr, func(v any) any { return v.(kvPair).Value }),
	}
	tKVObj.props = map[string]*prop{
		"Key": pr(tString, func(v any) any {
			if p := v.(kvObj); p.Key == "" && p.Value == nil {
				return nil // default(KeyValuePair<,>) from FirstOrDefault
			}
			return v.(kvObj).Key
		}),
		"Value": pr(tObject, func(v any) any { return v.(kvObj).Value }),
	}
}

// The context object model.

func fillContext() {
	tContext.props = map[string]*prop{
		"Request":      pr(tRequest, func(v any) any { return nz(v.(*Context).Request) }),
		"Response":     pr(tResponse, func(v any) any { return nz(v.(*Context).Response) }),
		"Variables":    pr(tVars, func(v any) any { return v.(*Context).Variables }),
		"Api":          pr(tAPI, func(v any) any { return nz(v.(*Context).Api) }),
		"Operation":    pr(tOp, func(v any) any { return nz(v.(*Context).Operation) }),
		"Product":      pr(tProduct, func(v any) any { return nz(v.(*Context).Product) }),
		"Subscription": pr(tSub, func(v any) any { return nz(v.(*Context).Subscription) }),
		"User":         pr(tUser, func(v any) any { return nz(v.(*Context).User) }),
		"Application":  pr(tApp, func(v any) any { return nz(v.(*Context).Application) }),
		"LastError":    pr(tLastErr, func(v any) any { return nz(v.(*Context).LastError) }),
		"RequestId":    pr(tString, func(v any) any { return v.(*Context).RequestId }),
		"Timestamp":    pr(tDateTime, func(v any) any { return v.(*Context).Timestamp }),
		"Deployment":   pr(tDeploy, func(v any) any { return nz(v.(*Context).Deployment) }),
		"Tracing":      pr(tBool, func(v any) any { return false }),
		"Elapsed": pr(tTimeSpan, func(v any) any {
			if f := v.(*Context).Elapsed; f != nil {
				return f()
			}
			return time.Duration(0)
		}),
	}
	tRequest.props = map[string]*prop{
		"Method":      pr(tString, func(v any) any { return v.(*Request).Method }),
		"Url":         pr(tURL, func(v any) any { return nz(v.(*Request).Url) }),
		"OriginalUrl": pr(tURL, func(v any) any { return nz(v.(*Request).Url) }),
		"Headers":     pr(tHeaders, func(v any) any { return v.(*Request).Headers }),
		"IpAddress":   pr(tString, func(v any) any { return v.(*Request).IpAddress }),
		"Body":        pr(tBody, func(v any) any { return nz(v.(*Request).Body) }),
		"Certificate": pr(tObject, func(v any) any { return v.(*Request).Certificate }),
		"MatchedParameters": pr(tVars, func(v any) any {
			m := v.(*Request).MatchedParameters
			out := make(Variables, len(m))
			for k, x := range m {
				out[k] = x
			}
			return out
		}),
	}
	tResponse.props = map[string]*prop{
		"StatusCode":   pr(tInt, func(v any) any { return int64(v.(*Response).StatusCode) }),
		"StatusReason": pr(tString, func(v any) any { return v.(*Response).StatusReason }),
		"Headers":      pr(tHeaders, func(v any) any { return v.(*Response).Headers }),
		"Body":         pr(tBody, func(v any) any { return nz(v.(*Response).Body) }),
	}
	tURL.props = map[string]*prop{
		"Scheme":      pr(tString, func(v any) any { return v.(*URL).Scheme }),
		"Host":        pr(tString, func(v any) any { return v.(*URL).Host }),
		"Port":        pr(tInt, func(v any) any { return int64(v.(*URL).Port) }),
		"Path":        pr(tString, func(v any) any { return v.(*URL).Path }),
		"Query":       pr(tQuery, func(v any) any { return v.(*URL).Query }),
		"QueryString": pr(tString, func(v any) any { return v.(*URL).QueryString }),
	}
	tBody.methods = map[string]*method{
		"As": {min: 0, max: 1, generic: true, params: ts(tBool), named: []string{"preserveContent"},
			res: func(ci *callInfo) (*typ, error) {
				switch ci.targ {
				case tString, tJObject, tJArray, tJToken, tBytes:
					return ci.targ, nil
				case nil:
					return nil, errors.New("As needs a type argument: As<string>, As<JObject>, As<JArray>, As<JToken> or As<byte[]>")
				}
				return nil, fmt.Errorf("As<%s> is not supported: use As<string>, As<JObject>, As<JArray>, As<JToken> or As<byte[]>", ci.targ.name)
			},
			call: func(e *env, ci *callInfo, r any, _ []any) (any, error) {
				t := ci.targ
				if t == nil {
					t = tString
				}
				return bodyAs(e, r.(*Body), t)
			}},
	}
	tAPI.props = map[string]*prop{
		"Id":                pr(tString, func(v any) any { return v.(*API).Id }),
		"Name":              pr(tString, func(v any) any { return v.(*API).Name }),
		"Path":              pr(tString, func(v any) any { return v.(*API).Path }),
		"ServiceUrl":        pr(tURL, func(v any) any { return nz(v.(*API).ServiceUrl) }),
		"Version":           pr(tString, func(v any) any { return v.(*API).Version }),
		"Revision":          pr(tString, func(v any) any { return v.(*API).Revision }),
		"IsCurrentRevision": pr(tBool, func(v any) any { return v.(*API).IsCurrentRevision }),
	}
	tOp.props = map[string]*prop{
		"Id":          pr(tString, func(v any) any { return v.(*Operation).Id }),
		"Name":        pr(tString, func(v any) any { return v.(*Operation).Name }),
		"Method":      pr(tString, func(v any) any { return v.(*Operation).Method }),
		"UrlTemplate": pr(tString, func(v any) any { return v.(*Operation).UrlTemplate }),
	}
	tProduct.props = map[string]*prop{
		"Id":   pr(tString, func(v any) any { return v.(*Product).Id }),
		"Name": pr(tString, func(v any) any { return v.(*Product).Name }),
	}
	tSub.props = map[string]*prop{
		"Id":           pr(tString, func(v any) any { return v.(*Subscription).Id }),
		"Name":         pr(tString, func(v any) any { return v.(*Subscription).Name }),
		"Key":          pr(tString, func(v any) any { return v.(*Subscription).Key }),
		"PrimaryKey":   pr(tString, func(v any) any { return v.(*Subscription).PrimaryKey }),
		"SecondaryKey": pr(tString, func(v any) any { return v.(*Subscription).SecondaryKey }),
		"CreatedDate":  pr(tDateTime, func(v any) any { return v.(*Subscription).CreatedDate }),
	}
	tApp.props = map[string]*prop{
		"Id":          pr(tString, func(v any) any { return v.(*Application).Id }),
		"DisplayName": pr(tString, func(v any) any { return v.(*Application).DisplayName }),
		"OwnerId":     pr(tString, func(v any) any { return v.(*Application).OwnerId }),
	}
	tUser.props = map[string]*prop{
		"Id":        pr(tString, func(v any) any { return v.(*User).Id }),
		"Email":     pr(tString, func(v any) any { return v.(*User).Email }),
		"FirstName": pr(tString, func(v any) any { return v.(*User).FirstName }),
		"LastName":  pr(tString, func(v any) any { return v.(*User).LastName }),
	}
	tLastErr.props = map[string]*prop{
		"Source":   pr(tString, func(v any) any { return v.(*LastError).Source }),
		"Reason":   pr(tString, func(v any) any { return v.(*LastError).Reason }),
		"Message":  pr(tString, func(v any) any { return v.(*LastError).Message }),
		"Scope":    pr(tString, func(v any) any { return v.(*LastError).Scope }),
		"Section":  pr(tString, func(v any) any { return v.(*LastError).Section }),
		"Path":     pr(tString, func(v any) any { return v.(*LastError).Path }),
		"PolicyId": pr(tString, func(v any) any { return v.(*LastError).PolicyId }),
	}
	tDeploy.props = map[string]*prop{
		"Region":      pr(tString, func(v any) any { return v.(*Deployment).Region }),
		"ServiceName": pr(tString, func(v any) any { return v.(*Deployment).ServiceName }),
		"Gateway":     pr(tString, func(v any) any { return v.(*Deployment).Gateway }),
		"GatewayId":   pr(tString, func(v any) any { return v.(*Deployment).Gateway }),
	}
	tJwt.props = map[string]*prop{
		"Id":             pr(tString, func(v any) any { return v.(*Jwt).Id }),
		"Issuer":         pr(tString, func(v any) any { return v.(*Jwt).Issuer }),
		"Subject":        pr(tString, func(v any) any { return v.(*Jwt).Subject }),
		"Audiences":      pr(tStrArr, func(v any) any { return nonNil(v.(*Jwt).Audiences) }),
		"ExpirationTime": pr(tDateTime, func(v any) any { return timePtr(v.(*Jwt).ExpirationTime) }),
		"NotBefore":      pr(tDateTime, func(v any) any { return timePtr(v.(*Jwt).NotBefore) }),
		"IssuedAt":       pr(tDateTime, func(v any) any { return timePtr(v.(*Jwt).IssuedAt) }),
		"Algorithm":      pr(tString, func(v any) any { return v.(*Jwt).Algorithm }),
		"Type":           pr(tString, func(v any) any { return v.(*Jwt).Type }),
		"Claims": pr(tClaims, func(v any) any {
			if c := v.(*Jwt).Claims; c != nil {
				return c
			}
			return Claims{}
		}),
	}
	tAuth.props = map[string]*prop{
		"AccessToken": pr(tString, func(v any) any { return v.(*Authorization).AccessToken }),
		"Claims":      pr(tVars, func(v any) any { return Variables(v.(*Authorization).Claims) }),
	}
}

// Scalars: DateTime, TimeSpan and conversions.

func (e *env) now() time.Time {
	if e != nil && e.ctx != nil && e.ctx.Now != nil {
		return e.ctx.Now().UTC()
	}
	return time.Now().UTC()
}

func parseInt(s string) (int64, error) {
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, errors.New("Value was either too large or too small for an Int32.")
		}
		return 0, errFormat
	}
	return i, nil
}

func parseDouble(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, errFormat
	}
	return f, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("String was not recognized as a valid Boolean.")
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z",
	"2006-01-02 15:04:05",
	"2006-01-02",
	time.RFC1123,
	time.RFC1123Z,
	"01/02/2006 15:04:05",
	"01/02/2006",
}

func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("String was not recognized as a valid DateTime.")
}

func durationOf(f float64, unit time.Duration) (any, error) {
	d := f * float64(unit)
	if math.IsNaN(d) || math.Abs(d) >= math.MaxInt64 {
		return nil, errors.New("TimeSpan overflowed because the duration is too long.")
	}
	return time.Duration(d), nil
}

func fillScalars() {
	dateAdd := func(unit time.Duration) *method {
		return mth(1, 1, tDateTime, ts(tDouble), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			f, err := argNum(args, 0, "value")
			if err != nil {
				return nil, err
			}
			d, err := durationOf(f, unit)
			if err != nil {
				return nil, err
			}
			return r.(time.Time).Add(d.(time.Duration)), nil
		})
	}
	tDateTime.props = map[string]*prop{
		"Year":        pr(tInt, func(v any) any { return int64(v.(time.Time).Year()) }),
		"Month":       pr(tInt, func(v any) any { return int64(v.(time.Time).Month()) }),
		"Day":         pr(tInt, func(v any) any { return int64(v.(time.Time).Day()) }),
		"Hour":        pr(tInt, func(v any) any { return int64(v.(time.Time).Hour()) }),
		"Minute":      pr(tInt, func(v any) any { return int64(v.(time.Time).Minute()) }),
		"Second":      pr(tInt, func(v any) any { return int64(v.(time.Time).Second()) }),
		"Millisecond": pr(tInt, func(v any) any { return int64(v.(time.Time).Nanosecond() / 1e6) }),
		"DayOfYear":   pr(tInt, func(v any) any { return int64(v.(time.Time).YearDay()) }),
		"DayOfWeek":   pr(tString, func(v any) any { return v.(time.Time).Weekday().String() }),
		"Date": pr(tDateTime, func(v any) any {
			t := v.(time.Time)
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
		}),
		"TimeOfDay": pr(tTimeSpan, func(v any) any {
			t := v.(time.Time)
			return t.Sub(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location()))
		}),
		// Ticks count 100 ns since 0001-01-01.
		"Ticks": pr(tInt, func(v any) any {
			t := v.(time.Time)
			return (t.Unix()+62135596800)*10_000_000 + int64(t.Nanosecond()/100)
		}),
	}
	tDateTime.methods = map[string]*method{
		"AddYears": mth(1, 1, tDateTime, ts(tInt), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			n, err := argInt(args, 0, "value")
			if err != nil || n > 10000 || n < -10000 {
				return nil, errors.New("The added or subtracted value results in an un-representable DateTime. (Parameter 'value')")
			}
			return r.(time.Time).AddDate(int(n), 0, 0), nil
		}),
		"AddMonths": mth(1, 1, tDateTime, ts(tInt), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			n, err := argInt(args, 0, "months")
			if err != nil || n > 120000 || n < -120000 {
				return nil, errors.New("The added or subtracted value results in an un-representable DateTime. (Parameter 'months')")
			}
			return r.(time.Time).AddDate(0, int(n), 0), nil
		}),
		"AddDays":         dateAdd(24 * time.Hour),
		"AddHours":        dateAdd(time.Hour),
		"AddMinutes":      dateAdd(time.Minute),
		"AddSeconds":      dateAdd(time.Second),
		"AddMilliseconds": dateAdd(time.Millisecond),
		"AddTicks":        dateAdd(100),
		"Add": mth(1, 1, tDateTime, ts(tTimeSpan), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			d, ok := args[0].(time.Duration)
			if !ok {
				return nil, errCast(args[0], tTimeSpan)
			}
			return r.(time.Time).Add(d), nil
		}),
		"Subtract": {min: 1, max: 1, res: func(ci *callInfo) (*typ, error) {
			if ci.argT[0] == tDateTime {
				return tTimeSpan, nil
			}
			if ci.argT[0] == tTimeSpan {
				return tDateTime, nil
			}
			return tObject, nil
		}, call: func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			switch a := args[0].(type) {
			case time.Time:
				return r.(time.Time).Sub(a), nil
			case time.Duration:
				return r.(time.Time).Add(-a), nil
			}
			return nil, errCast(args[0], tTimeSpan)
		}},
		"ToUniversalTime": mth(0, 0, tDateTime, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return r.(time.Time).UTC(), nil
		}),
		"ToLocalTime": mth(0, 0, tDateTime, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return r.(time.Time).UTC(), nil // the gateway runs in UTC
		}),
		"CompareTo": mth(1, 1, tInt, ts(tDateTime), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			t, ok := args[0].(time.Time)
			if !ok {
				return nil, errCast(args[0], tDateTime)
			}
			return int64(r.(time.Time).Compare(t)), nil
		}),
	}
	durProp := func(f func(d time.Duration) any) *prop {
		return pr(tDouble, func(v any) any { return f(v.(time.Duration)) })
	}
	intProp := func(f func(d time.Duration) int64) *prop {
		return pr(tInt, func(v any) any { return f(v.(time.Duration)) })
	}
	tTimeSpan.props = map[string]*prop{
		"TotalDays":         durProp(func(d time.Duration) any { return d.Hours() / 24 }),
		"TotalHours":        durProp(func(d time.Duration) any { return d.Hours() }),
		"TotalMinutes":      durProp(func(d time.Duration) any { return d.Minutes() }),
		"TotalSeconds":      durProp(func(d time.Duration) any { return d.Seconds() }),
		"TotalMilliseconds": durProp(func(d time.Duration) any { return float64(d) / 1e6 }),
		"Days":              intProp(func(d time.Duration) int64 { return int64(d / (24 * time.Hour)) }),
		"Hours":             intProp(func(d time.Duration) int64 { return int64(d/time.Hour) % 24 }),
		"Minutes":           intProp(func(d time.Duration) int64 { return int64(d/time.Minute) % 60 }),
		"Seconds":           intProp(func(d time.Duration) int64 { return int64(d/time.Second) % 60 }),
		"Milliseconds":      intProp(func(d time.Duration) int64 { return int64(d/time.Millisecond) % 1000 }),
		"Ticks":             intProp(func(d time.Duration) int64 { return int64(d / 100) }),
	}
	tTimeSpan.methods = map[string]*method{
		"Add": mth(1, 1, tTimeSpan, ts(tTimeSpan), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			d, ok := args[0].(time.Duration)
			if !ok {
				return nil, errCast(args[0], tTimeSpan)
			}
			return r.(time.Duration) + d, nil
		}),
		"Subtract": mth(1, 1, tTimeSpan, ts(tTimeSpan), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			d, ok := args[0].(time.Duration)
			if !ok {
				return nil, errCast(args[0], tTimeSpan)
			}
			return r.(time.Duration) - d, nil
		}),
		"Negate": mth(0, 0, tTimeSpan, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return -r.(time.Duration), nil
		}),
	}
	tEncoding.methods = map[string]*method{
		"GetBytes": mth(1, 1, tBytes, ts(tString), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			s, err := argStr(args, 0, "s")
			if err != nil {
				return nil, err
			}
			if err := e.grow(len(s)); err != nil {
				return nil, err
			}
			if r.(encoding) == encASCII {
				b := make([]byte, 0, len(s))
				for _, c := range s {
					if c > 127 {
						c = '?'
					}
					b = append(b, byte(c))
				}
				return b, nil
			}
			return []byte(s), nil
		}),
		"GetString": mth(1, 1, tString, ts(tBytes), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			b, ok := args[0].([]byte)
			if !ok {
				if args[0] == nil {
					return nil, errArgNull("bytes")
				}
				return nil, errCast(args[0], tBytes)
			}
			if err := e.grow(len(b)); err != nil {
				return nil, err
			}
			return strings.ToValidUTF8(string(b), "\uFFFD"), nil
		}),
	}

	// Conversions used by casts.
	tString.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case string:
			return v, true
		case int64, float64, bool:
			return toString(v), true // JSON values convert as JValue does
		}
		return nil, false
	}
	tInt.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case int64:
			return v, true
		case float64:
			if math.IsNaN(v) || math.Abs(v) > math.MaxInt64 {
				return nil, false
			}
			return int64(v), true
		case string:
			i, err := parseInt(v)
			return i, err == nil
		case bool:
			if v {
				return int64(1), true
			}
			return int64(0), true
		}
		return nil, false
	}
	tDouble.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case int64:
			return float64(v), true
		case float64:
			return v, true
		case string:
			f, err := parseDouble(v)
			return f, err == nil
		}
		return nil, false
	}
	tBool.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case bool:
			return v, true
		case string:
			b, err := parseBool(v)
			return b, err == nil
		}
		return nil, false
	}
	tDateTime.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case time.Time:
			return v, true
		case string:
			t, err := parseDate(v)
			return t, err == nil
		}
		return nil, false
	}
	sameType := func(t *typ) func(v any) (any, bool) {
		return func(v any) (any, bool) { return v, typeOfValue(v) == t }
	}
	for _, t := range []*typ{tTimeSpan, tGuid, tJwt, tAuth, tResponse, tRequest, tJObject, tJArray, tJProp, tStrArr, tObjArr, tBytes} {
		t.conv = sameType(t)
	}
	tStrArr.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case []string:
			return v, true
		case *JArray:
			out := make([]string, len(v.Items))
			for i, x := range v.Items {
				s, ok := tString.conv(x)
				if !ok && x != nil {
					return nil, false
				}
				out[i], _ = s.(string)
			}
			return out, true
		}
		return nil, false
	}
}

// Static classes.

// decodeBase64 is Convert.FromBase64String: white space is ignored.
func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
}

func newGuid() Guid {
	var g Guid
	_, _ = rand.Read(g[:])
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

func parseGuid(s string) (Guid, error) {
	s = strings.Trim(strings.TrimSpace(s), "{}()")
	s = strings.ReplaceAll(s, "-", "")
	var g Guid
	if len(s) != 32 {
		return g, errors.New("Unrecognized Guid format.")
	}
	for i := 0; i < 16; i++ {
		b, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return g, errors.New("Unrecognized Guid format.")
		}
		g[i] = byte(b)
	}
	return g, nil
}

func constProp(t *typ, v any) *prop { return pr(t, func(any) any { return v }) }

func staticClass(name string) *typ {
	t := &typ{name: name, static: true, props: map[string]*prop{}, methods: map[string]*method{}}
	return t
}

// parser makes Parse and TryParse for a scalar type.
func parsers(t *typ, parse func(s string) (any, error)) (*method, *method) {
	p := mth(1, 1, t, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "s")
		if err != nil {
			return nil, err
		}
		return parse(s)
	})
	tp := &method{min: 2, max: 2, resT: tBool, params: ts(tString, t), outT: t,
		call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			s, ok := args[0].(string)
			if !ok {
				args[1] = zeroOf(t)
				return false, nil
			}
			v, err := parse(s)
			if err != nil {
				args[1] = zeroOf(t)
				return false, nil
			}
			args[1] = v
			return true, nil
		}}
	return p, tp
}

var namespaces = map[string]*typ{}

// constructors are the types "new" accepts.
var constructors = map[string]*method{}

func fillStatics() {
	dt := staticClass("DateTime")
	dt.props["UtcNow"] = &prop{t: tDateTime, get: func(e *env, _ any) (any, error) { return e.now(), nil }}
	dt.props["Now"] = dt.props["UtcNow"]
	dt.props["Today"] = &prop{t: tDateTime, get: func(e *env, _ any) (any, error) {
		n := e.now()
		return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC), nil
	}}
	dt.props["MinValue"] = constProp(tDateTime, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))
	dt.props["MaxValue"] = constProp(tDateTime, time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC))
	dt.methods["Parse"], dt.methods["TryParse"] = parsers(tDateTime, func(s string) (any, error) { return parseDate(s) })

	tsp := staticClass("TimeSpan")
	tsp.props["Zero"] = constProp(tTimeSpan, time.Duration(0))
	for name, unit := range map[string]time.Duration{
		"FromDays": 24 * time.Hour, "FromHours": time.Hour, "FromMinutes": time.Minute,
		"FromSeconds": time.Second, "FromMilliseconds": time.Millisecond, "FromTicks": 100,
	} {
		unit := unit
		tsp.methods[name] = mth(1, 1, tTimeSpan, ts(tDouble), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			f, err := argNum(args, 0, "value")
			if err != nil {
				return nil, err
			}
			return durationOf(f, unit)
		})
	}
	tsp.methods["Parse"], tsp.methods["TryParse"] = parsers(tTimeSpan, parseTimeSpan)

	guid := staticClass("Guid")
	guid.props["Empty"] = constProp(tGuid, Guid{})
	guid.methods["NewGuid"] = mth(0, 0, tGuid, nil, func(_ *env, _ *callInfo, _ any, _ []any) (any, error) {
		return newGuid(), nil
	})
	guid.methods["Parse"], guid.methods["TryParse"] = parsers(tGuid, func(s string) (any, error) { return parseGuid(s) })
	tGuid.methods = map[string]*method{}

	conv := staticClass("Convert")
	conv.methods["ToBase64String"] = mth(1, 1, tString, ts(tBytes), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		b, ok := args[0].([]byte)
		if !ok {
			if args[0] == nil {
				return nil, errArgNull("inArray")
			}
			return nil, errCast(args[0], tBytes)
		}
		if err := e.grow(len(b) * 4 / 3); err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString(b), nil
	})
	conv.methods["FromBase64String"] = mth(1, 1, tBytes, ts(tString), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "s")
		if err != nil {
			return nil, err
		}
		if err := e.grow(len(s)); err != nil {
			return nil, err
		}
		b, err := decodeBase64(s)
		if err != nil {
			return nil, errors.New("The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters.")
		}
		return b, nil
	})
	convTo := func(t *typ) *method {
		return mth(1, 1, t, nil, func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			v := args[0]
			if v == nil {
				return zeroOf(t), nil
			}
			if t == tString {
				return toString(v), nil
			}
			if f, ok := v.(float64); ok && t == tInt {
				return int64(math.RoundToEven(f)), nil // Convert rounds, casts truncate
			}
			r, ok := t.conv(v)
			if !ok {
				if _, isStr := v.(string); isStr {
					return nil, errFormat
				}
				return nil, errCast(v, t)
			}
			return r, nil
		})
	}
	conv.methods["ToInt32"] = convTo(tInt)
	conv.methods["ToInt64"] = convTo(tInt)
	conv.methods["ToDouble"] = convTo(tDouble)
	conv.methods["ToBoolean"] = convTo(tBool)
	conv.methods["ToString"] = convTo(tString)
	conv.methods["ToDateTime"] = convTo(tDateTime)

	enc := staticClass("Encoding")
	enc.props["UTF8"] = constProp(tEncoding, encUTF8)
	enc.props["ASCII"] = constProp(tEncoding, encASCII)
	enc.props["Default"] = constProp(tEncoding, encUTF8)

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

	intc := staticClass("Int32")
	intc.props["MaxValue"] = constProp(tInt, int64(math.MaxInt32))
	intc.props["MinValue"] = constProp(tInt, int64(math.MinInt32))
	intc.methods["Parse"], intc.methods["TryParse"] = parsers(tInt, func(s string) (any, error) {
		i, err := parseInt(s)
		if err == nil && (i > math.MaxInt32 || i < math.MinInt32) {
			return nil, errors.New("Value was either too large or too small for an Int32.")
		}
		return i, err
	})
	longc := staticClass("Int64")
	longc.props["MaxValue"] = constProp(tInt, int64(math.MaxInt64))
	longc.props["MinValue"] = constProp(tInt, int64(math.MinInt64))
	longc.methods["Parse"], longc.methods["TryParse"] = parsers(tInt, func(s string) (any, error) { return parseInt(s) })
	dbl := staticClass("Double")
	dbl.methods["Parse"], dbl.methods["TryParse"] = parsers(tDouble, func(s string) (any, error) { return parseDouble(s) })
	dbl.props["NaN"] = constProp(tDouble, math.NaN())
	dbl.props["MaxValue"] = constProp(tDouble, math.MaxFloat64)
	dbl.props["MinValue"] = constProp(tDouble, -math.MaxFloat64)
	boolc := staticClass("Boolean")
	boolc.methods["Parse"], boolc.methods["TryParse"] = parsers(tBool, func(s string) (any, error) { return parseBool(s) })

	mathc := staticClass("Math")
	num2 := func(fi func(a, b int64) int64, ff func(a, b float64) float64) *method {
		return &method{min: 2, max: 2, params: ts(tDouble, tDouble),
			res: func(ci *callInfo) (*typ, error) {
				if ci.argT[0] == tInt && ci.argT[1] == tInt {
					return tInt, nil
				}
				return tDouble, nil
			},
			call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
				a, aok := args[0].(int64)
				b, bok := args[1].(int64)
				if aok && bok {
					return fi(a, b), nil
				}
				x, err := argNum(args, 0, "val1")
				if err != nil {
					return nil, err
				}
				y, err := argNum(args, 1, "val2")
				if err != nil {
					return nil, err
				}
				return ff(x, y), nil
			}}
	}
	mathc.methods["Min"] = num2(func(a, b int64) int64 { return min(a, b) }, math.Min)
	mathc.methods["Max"] = num2(func(a, b int64) int64 { return max(a, b) }, math.Max)
	mathc.methods["Abs"] = &method{min: 1, max: 1, params: ts(tDouble),
		res: func(ci *callInfo) (*typ, error) {
			if ci.argT[0] == tInt {
				return tInt, nil
			}
			return tDouble, nil
		},
		call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			if i, ok := args[0].(int64); ok {
				return abs64(i), nil
			}
			f, err := argNum(args, 0, "value")
			return math.Abs(f), err
		}}
	for name, f := range map[string]func(float64) float64{"Floor": math.Floor, "Ceiling": math.Ceil, "Sqrt": math.Sqrt} {
		f := f
		mathc.methods[name] = mth(1, 1, tDouble, ts(tDouble), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			x, err := argNum(args, 0, "d")
			return f(x), err
		})
	}
	mathc.methods["Round"] = mth(1, 2, tDouble, ts(tDouble, tInt), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		x, err := argNum(args, 0, "value")
		if err != nil {
			return nil, err
		}
		if len(args) == 2 {
			d, err := argInt(args, 1, "digits")
			if err != nil || d < 0 || d > 15 {
				return nil, errors.New("Rounding digits must be between 0 and 15, inclusive. (Parameter 'digits')")
			}
			p := math.Pow(10, float64(d))
			return math.RoundToEven(x*p) / p, nil
		}
		return math.RoundToEven(x), nil // .NET rounds half to even
	})
	mathc.methods["Pow"] = mth(2, 2, tDouble, ts(tDouble, tDouble), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		x, err := argNum(args, 0, "x")
		if err != nil {
			return nil, err
		}
		y, err := argNum(args, 1, "y")
		return math.Pow(x, y), err
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
	formatting := staticClass("Formatting")
	formatting.props["None"] = constProp(tFormat, jsonFormatting(0))
	formatting.props["Indented"] = constProp(tFormat, jsonFormatting(1))

	jsonc := staticClass("JsonConvert")
	jsonc.methods["SerializeObject"] = mth(1, 2, tString, ts(nil, tFormat), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		indent := ""
		if len(args) == 2 && args[1] == jsonFormatting(1) {
			indent = "  "
		}
		s := jsonText(jsonify(args[0]), indent)
		if err := e.grow(len(s)); err != nil {
			return nil, err
		}
		return s, nil
	})
	jsonParse := func(t *typ) *method {
		return mth(1, 1, t, ts(tString), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
			s, err := argStr(args, 0, "json")
			if err != nil {
				return nil, err
			}
			if err := e.grow(len(s)); err != nil {
				return nil, err
			}
			v, err := ParseJSON([]byte(s))
			if err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			if t != tJToken && typeOfValue(v) != t {
				return nil, fmt.Errorf("the JSON is not a %s", t.name)
			}
			return v, nil
		})
	}
	jsonc.methods["DeserializeObject"] = jsonParse(tJToken)
	jobj := staticClass("JObject")
	jobj.methods["Parse"] = jsonParse(tJObject)
	jobj.methods["FromObject"] = mth(1, 1, tJToken, nil, func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		return jsonify(args[0]), nil
	})
	jarr := staticClass("JArray")
	jarr.methods["Parse"] = jsonParse(tJArray)
	jtok := staticClass("JToken")
	jtok.methods["Parse"] = jsonParse(tJToken)
	jtok.methods["FromObject"] = jobj.methods["FromObject"]

	uri := staticClass("Uri")
	uri.methods["EscapeDataString"] = mth(1, 1, tString, ts(tString), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "stringToEscape")
		if err != nil {
			return nil, err
		}
		if err := e.grow(len(s) * 3); err != nil {
			return nil, err
		}
		return strings.ReplaceAll(url.QueryEscape(s), "+", "%20"), nil
	})
	uri.methods["UnescapeDataString"] = mth(1, 1, tString, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "stringToUnescape")
		if err != nil {
			return nil, err
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return s, nil
		}
		return u, nil
	})

	for _, c := range []*typ{dt, tsp, guid, conv, enc, str, intc, longc, dbl, boolc, mathc, cmpc, splitc, formatting, jsonc, jobj, jarr, jtok, uri} {
		staticClasses[c.name] = c
	}
	staticClasses["string"] = str
	staticClasses["int"] = intc
	staticClasses["long"] = longc
	staticClasses["double"] = dbl
	staticClasses["bool"] = boolc

	// Namespaces: System.Text.Encoding.UTF8, Newtonsoft.Json.Formatting.None, ...
	ns := func(name string, members map[string]*typ) *typ {
		t := staticClass(name)
		for k, v := range members {
			t.props[k] = &prop{t: v}
		}
		return t
	}
	linq := ns("Newtonsoft.Json.Linq", map[string]*typ{"JObject": jobj, "JArray": jarr, "JToken": jtok})
	njson := ns("Newtonsoft.Json", map[string]*typ{"Formatting": formatting, "JsonConvert": jsonc, "Linq": linq})
	namespaces["Newtonsoft"] = ns("Newtonsoft", map[string]*typ{"Json": njson})
	text := ns("System.Text", map[string]*typ{"Encoding": enc})
	sys := ns("System", map[string]*typ{"Text": text})
	for _, c := range []*typ{dt, tsp, guid, conv, str, intc, longc, dbl, boolc, mathc, cmpc, splitc, uri} {
		sys.props[c.name] = &prop{t: c}
	}
	namespaces["System"] = sys

	// Constructors.
	constructors["JObject"] = &method{min: 0, max: -1, resT: tJObject, call: func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		o := NewJObject()
		for _, a := range args {
			switch a := a.(type) {
			case jProperty:
				if _, ok := o.Get(a.Name); ok {
					return nil, fmt.Errorf("Can not add property %s to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object.", a.Name)
				}
				o.Set(a.Name, a.Value)
			case *JObject:
				// new JObject(other) copies it.
				for _, k := range a.keys {
					o.Set(k, a.vals[k])
				}
			default:
				return nil, fmt.Errorf("Could not add %s to Newtonsoft.Json.Linq.JObject.", typeNameOf(a))
			}
		}
		return o, e.grow(16 * len(args))
	}}
	constructors["JArray"] = &method{min: 0, max: -1, resT: tJArray, call: func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		a := &JArray{}
		for _, x := range args {
			switch x := x.(type) {
			case []string, []any, *JArray:
				if len(args) == 1 {
					if arr, ok := jsonify(x).(*JArray); ok {
						a.Items = append(a.Items, arr.Items...)
						continue
					}
				}
				a.Items = append(a.Items, jsonify(x))
			default:
				a.Items = append(a.Items, jsonify(x))
			}
		}
		return a, e.grow(16 * len(a.Items))
	}}
	constructors["JProperty"] = &method{min: 2, max: 2, resT: tJProp, params: ts(tString, nil), call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		name, err := argStr(args, 0, "name")
		if err != nil {
			return nil, err
		}
		return jProperty{Name: name, Value: jsonify(args[1])}, nil
	}}
	constructors["TimeSpan"] = &method{min: 1, max: 5, resT: tTimeSpan, params: ts(tInt), call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		n := make([]int64, len(args))
		for i := range args {
			var err error
			if n[i], err = argInt(args, i, "value"); err != nil {
				return nil, err
			}
			if n[i] > 1e12 || n[i] < -1e12 && len(args) > 1 {
				return nil, errors.New("TimeSpan overflowed because the duration is too long.")
			}
		}
		switch len(n) {
		case 1:
			return time.Duration(n[0]) * 100, nil
		case 3:
			return time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute + time.Duration(n[2])*time.Second, nil
		case 4:
			return time.Duration(n[0])*24*time.Hour + time.Duration(n[1])*time.Hour + time.Duration(n[2])*time.Minute + time.Duration(n[3])*time.Second, nil
		case 5:
			return time.Duration(n[0])*24*time.Hour + time.Duration(n[1])*time.Hour + time.Duration(n[2])*time.Minute + time.Duration(n[3])*time.Second + time.Duration(n[4])*time.Millisecond, nil
		}
		return nil, errors.New("TimeSpan takes 1, 3, 4 or 5 arguments")
	}}
	constructors["DateTime"] = &method{min: 3, max: 7, resT: tDateTime, params: ts(tInt), call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		n := make([]int, 7)
		for i := range args {
			v, err := argInt(args, i, "value")
			if err != nil {
				return nil, err
			}
			n[i] = int(v)
		}
		if n[0] < 1 || n[0] > 9999 || n[1] < 1 || n[1] > 12 || n[2] < 1 || n[2] > 31 || n[3] < 0 || n[3] > 23 || n[4] < 0 || n[4] > 59 || n[5] < 0 || n[5] > 59 || n[6] < 0 || n[6] > 999 {
			return nil, errors.New("Year, Month, and Day parameters describe an un-representable DateTime.")
		}
		t := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], n[6]*1e6, time.UTC)
		if t.Day() != n[2] {
			return nil, errors.New("Year, Month, and Day parameters describe an un-representable DateTime.")
		}
		return t, nil
	}}
	constructors["Guid"] = &method{min: 1, max: 1, resT: tGuid, params: ts(tString), call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "g")
		if err != nil {
			return nil, err
		}
		return parseGuid(s)
	}}
}

func parseTimeSpan(s string) (any, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var days, h, m int64
	var sec float64
	rest := s
	if i := strings.IndexByte(rest, '.'); i >= 0 && i < strings.IndexByte(rest+":", ':') {
		d, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return nil, errFormat
		}
		days, rest = d, rest[i+1:]
	}
	parts := strings.Split(rest, ":")
	var err error
	switch len(parts) {
	case 1:
		if days != 0 {
			return nil, errFormat
		}
		days, err = strconv.ParseInt(parts[0], 10, 64)
	case 2, 3:
		if h, err = strconv.ParseInt(parts[0], 10, 64); err == nil {
			m, err = strconv.ParseInt(parts[1], 10, 64)
		}
		if err == nil && len(parts) == 3 {
			sec, err = strconv.ParseFloat(parts[2], 64)
		}
	default:
		return nil, errFormat
	}
	if err != nil || h > 23 || m > 59 || sec >= 60 || days > 10_000_000 || h < 0 || m < 0 || sec < 0 || days < 0 {
		return nil, errFormat
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second))
	if neg {
		d = -d
	}
	return d, nil
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

// Methods every value has: ToString, Equals, GetHashCode is left out.
func addObjectMethods(t *typ) {
	if t.methods == nil {
		t.methods = map[string]*method{}
	}
	if _, ok := t.methods["ToString"]; !ok {
		switch t {
		case tInt, tDouble, tDateTime, tTimeSpan, tGuid:
			t.methods["ToString"] = mth(0, 1, tString, ts(tString), func(e *env, _ *callInfo, r any, args []any) (any, error) {
				if len(args) == 0 {
					return toString(r), nil
				}
				f, err := argStr(args, 0, "format")
				if err != nil {
					return nil, err
				}
				return formatValue(r, f)
			})
		default:
			t.methods["ToString"] = mth(0, 0, tString, nil, func(e *env, _ *callInfo, r any, _ []any) (any, error) {
				return toString(r), nil
			})
		}
	}
	if _, ok := t.methods["Equals"]; !ok {
		t.methods["Equals"] = mth(1, 1, tBool, nil, func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			return valueEquals(r, args[0]), nil
		})
	}
	if t.props == nil {
		t.props = map[string]*prop{}
	}
}

func init() {
	tString.props = map[string]*prop{
		"Length": pr(tInt, func(v any) any { return int64(strLen(v.(string))) }),
	}
	tString.methods = stringMethods()
	tString.index = &indexer{key: tInt, t: tString, get: func(_ *env, r, k any) (any, error) {
		s, i := r.(string), k.(int64)
		from, ok := byteOffset(s, int(i))
		if !ok || i > math.MaxInt32 || from >= len(s) {
			return nil, errIndexRange
		}
		for _, c := range s[from:] {
			return string(c), nil
		}
		return nil, errIndexRange
	}}
	fillStrArrDict(tHeaders)
	fillStrArrDict(tQuery)
	fillStrArrDict(tClaims)
	fillVars()
	fillJSON()
	fillArrays()
	fillContext()
	fillScalars()
	fillStatics()
	fillRegex()
	for _, t := range []*typ{tString, tInt, tDouble, tBool, tDateTime, tTimeSpan, tGuid, tStrArr, tObjArr, tBytes,
		tKV, tKVObj, tHeaders, tQuery, tClaims, tVars, tContext, tRequest, tResponse, tURL, tBody, tAPI, tOp,
		tProduct, tSub, tUser, tLastErr, tDeploy, tJwt, tAuth, tJObject, tJArray, tJProp, tCmp, tSplitOpt, tFormat, tEncoding} {
		addObjectMethods(t)
	}
	tURL.methods["ToString"] = mth(0, 0, tString, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		return r.(*URL).String(), nil
	})
	// JSON values read through a dynamic JToken also answer Value<T>() and ToObject<T>().
	jtokenConv := &method{min: 0, max: 0, generic: true, res: func(ci *callInfo) (*typ, error) {
		if ci.targ == nil {
			return nil, errors.New("a type argument is needed, e.g. Value<string>()")
		}
		return ci.targ, nil
	}, call: func(_ *env, ci *callInfo, r any, _ []any) (any, error) {
		if ci.targ == nil {
			return r, nil
		}
		return castValue(r, ci.targ, true)
	}}
	for _, t := range []*typ{tString, tInt, tDouble, tBool, tJObject, tJArray} {
		if _, ok := t.methods["Value"]; !ok {
			t.methods["Value"] = jtokenConv
		}
		t.methods["ToObject"] = jtokenConv
	}
}
