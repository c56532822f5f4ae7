package expression

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Regular expressions use Go's RE2 engine: matching takes linear time, so a
// policy cannot hang the gateway with a pathological pattern. RE2 has no
// lookaround or backreferences; such patterns are a run-time error.

const maxPatternLen = 4 << 10

// BasicAuthCredentials is what AsBasic() returns.
type BasicAuthCredentials struct {
	Username string
	Password string
}

// regexMatch is a System.Text.RegularExpressions.Match. Groups are in
// .NET's order: the whole match, the unnamed groups, then the named ones.
type regexMatch struct {
	groups []string
	ok     []bool
	index  []int // start of each group in the input (bytes), -1 when it did not match
	names  []string
	// For NextMatch: the expression, the input and where the match ended.
	re    *regexp.Regexp
	input string
	end   int
}

// matchCollection is a MatchCollection.
type matchCollection []*regexMatch

// regexOptions is System.Text.RegularExpressions.RegexOptions.
type regexOptions int

const (
	reIgnoreCase regexOptions = 1
	reMultiline  regexOptions = 2
	reSingleline regexOptions = 16
)

var (
	tBasic    = &typ{name: "BasicAuthCredentials"}
	tMatch    = &typ{name: "Match"}
	tGroups   = &typ{name: "GroupCollection"}
	tGroup    = &typ{name: "Group"}
	tRegexOpt = &typ{name: "RegexOptions", valueType: true}
)

// regexGroups is a Match's GroupCollection.
type regexGroups struct{ m *regexMatch }

// group is one capture of a Match.
type group struct {
	value string
	ok    bool
	index int
	name  string
}

// regexInstance is a Regex made with new Regex(pattern[, options]).
type regexInstance struct{ re *regexp.Regexp }

var (
	tMatches = &typ{name: "MatchCollection"}
	tRegex   = &typ{name: "Regex"}
)

// dotnetOrder returns the Go group numbers in .NET's numbering and the .NET
// name of each ("0", "1", ... for unnamed groups).
func dotnetOrder(re *regexp.Regexp) ([]int, []string) {
	names := re.SubexpNames()
	order, out := []int{0}, []string{"0"}
	for i := 1; i < len(names); i++ {
		if names[i] == "" {
			order = append(order, i)
			out = append(out, fmt.Sprint(len(order)-1))
		}
	}
	for i := 1; i < len(names); i++ {
		if names[i] != "" {
			order = append(order, i)
			out = append(out, names[i])
		}
	}
	return order, out
}

// matchAt finds the first match in in at or after from.
func matchAt(re *regexp.Regexp, in string, from int) *regexMatch {
	order, names := dotnetOrder(re)
	n := len(order)
	m := &regexMatch{groups: make([]string, n), ok: make([]bool, n), index: make([]int, n), names: names, re: re, input: in, end: -1}
	var idx []int
	if from <= len(in) {
		idx = re.FindStringSubmatchIndex(in[from:])
	}
	for i, g := range order {
		m.index[i] = -1
		if idx != nil && idx[2*g] >= 0 {
			m.groups[i], m.ok[i], m.index[i] = in[from+idx[2*g]:from+idx[2*g+1]], true, from+idx[2*g]
		}
	}
	if idx != nil {
		m.end = from + idx[1]
		if idx[1] == idx[0] {
			m.end++ // an empty match: the next search starts one further
		}
	}
	return m
}

func (m *regexMatch) group(i int) group {
	if i < 0 || i >= len(m.groups) {
		return group{index: -1}
	}
	return group{value: m.groups[i], ok: m.ok[i], index: m.index[i], name: m.names[i]}
}

// utf16Index converts a byte offset in s to .NET's index (UTF-16 units).
func utf16Index(s string, i int) int64 {
	if i < 0 {
		return 0
	}
	n := 0
	for _, r := range s[:i] {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return int64(n)
}

func compileRegex(pattern string, opts regexOptions) (*regexp.Regexp, error) {
	if len(pattern) > maxPatternLen {
		return nil, fmt.Errorf("the pattern is longer than %d bytes", maxPatternLen)
	}
	flags := ""
	if opts&reIgnoreCase != 0 {
		flags += "i"
	}
	if opts&reMultiline != 0 {
		flags += "m"
	}
	if opts&reSingleline != 0 {
		flags += "s"
	}
	if flags != "" {
		pattern = "(?" + flags + ")" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid pattern: %v", err)
	}
	return re, nil
}

// regexArgs reads (input, pattern[, options]) or (input, pattern, x[, options]).
func regexArgs(args []any, optAt int) (string, *regexp.Regexp, error) {
	in, err := argStr(args, 0, "input")
	if err != nil {
		return "", nil, err
	}
	pat, err := argStr(args, 1, "pattern")
	if err != nil {
		return "", nil, err
	}
	var opts regexOptions
	if len(args) > optAt {
		o, ok := args[optAt].(regexOptions)
		if !ok {
			return "", nil, errors.New("the options must be RegexOptions")
		}
		opts = o
	}
	re, err := compileRegex(pat, opts)
	return in, re, err
}

func fillRegex() {
	rx := staticClass("Regex")
	rx.methods["IsMatch"] = mth(2, 3, tBool, ts(tString, tString, tRegexOpt), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		in, re, err := regexArgs(args, 2)
		if err != nil {
			return nil, err
		}
		return re.MatchString(in), nil
	})
	rx.methods["Match"] = mth(2, 3, tMatch, ts(tString, tString, tRegexOpt), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		in, re, err := regexArgs(args, 2)
		if err != nil {
			return nil, err
		}
		return matchAt(re, in, 0), nil
	})
	rx.methods["Matches"] = mth(2, 3, tMatches, ts(tString, tString, tRegexOpt), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		in, re, err := regexArgs(args, 2)
		if err != nil {
			return nil, err
		}
		return allMatches(e, re, in)
	})
	// Replace takes a replacement string ($1, ${name}) or a MatchEvaluator lambda.
	rx.methods["Replace"] = &method{min: 3, max: 4, resT: tString, call: func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		in, re, err := regexArgs(args, 3)
		if err != nil {
			return nil, err
		}
		return regexReplace(e, re, in, args[2])
	}}
	rx.methods["Split"] = mth(2, 3, tStrArr, ts(tString, tString, tRegexOpt), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		in, re, err := regexArgs(args, 2)
		if err != nil {
			return nil, err
		}
		out := re.Split(in, -1)
		return out, e.grow(len(in) + len(out))
	})
	rx.methods["Unescape"] = mth(1, 1, tString, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "str")
		if err != nil {
			return nil, err
		}
		return regexUnescape.ReplaceAllString(s, "$1"), nil
	})
	// A MatchEvaluator lambda's parameter is a Match.
	rx.elem = tMatch
	rx.methods["Escape"] = mth(1, 1, tString, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "str")
		if err != nil {
			return nil, err
		}
		return regexp.QuoteMeta(s), nil
	})
	staticClasses["Regex"] = rx
	fillRegexInstances()
	opt := staticClass("RegexOptions")
	opt.props["None"] = constProp(tRegexOpt, regexOptions(0))
	opt.props["IgnoreCase"] = constProp(tRegexOpt, reIgnoreCase)
	opt.props["Multiline"] = constProp(tRegexOpt, reMultiline)
	opt.props["Singleline"] = constProp(tRegexOpt, reSingleline)
	staticClasses["RegexOptions"] = opt

	tMatch.props = map[string]*prop{
		"Success": pr(tBool, func(v any) any { return v.(*regexMatch).ok[0] }),
		"Value":   pr(tString, func(v any) any { return v.(*regexMatch).groups[0] }),
		"Index":   pr(tInt, func(v any) any { m := v.(*regexMatch); return utf16Index(m.input, m.index[0]) }),
		"Length":  pr(tInt, func(v any) any { return int64(strLen(v.(*regexMatch).groups[0])) }),
		"Groups":  pr(tGroups, func(v any) any { return regexGroups{v.(*regexMatch)} }),
	}
	tMatch.methods = map[string]*method{
		"NextMatch": mth(0, 0, tMatch, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			m := r.(*regexMatch)
			if m.end < 0 {
				return m, nil
			}
			return matchAt(m.re, m.input, m.end), nil
		}),
	}
	// Groups[i] and Groups["name"]; a group that does not exist is an
	// unsuccessful group, as in .NET.
	tGroups.index = &indexer{key: tObject, t: tGroup, get: func(_ *env, r, k any) (any, error) {
		m := r.(regexGroups).m
		switch k := k.(type) {
		case int64:
			return m.group(int(max(min(k, 1<<20), -1))), nil
		case string:
			for i, n := range m.names {
				if n == k {
					return m.group(i), nil
				}
			}
			return group{index: -1}, nil
		case nil:
			return nil, errArgNull("groupname")
		}
		return nil, fmt.Errorf("a group is named by an int or a string, not %s", typeNameOf(k))
	}}
	tGroups.props = map[string]*prop{
		"Count": pr(tInt, func(v any) any { return int64(len(v.(regexGroups).m.groups)) }),
	}
	tGroups.methods = map[string]*method{
		"ContainsKey": mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := argStr(args, 0, "key")
			if err != nil {
				return nil, err
			}
			return slices.Contains(r.(regexGroups).m.names, k), nil
		}),
	}
	tGroup.props = map[string]*prop{
		"Value":   pr(tString, func(v any) any { return v.(group).value }),
		"Success": pr(tBool, func(v any) any { return v.(group).ok }),
		"Name":    pr(tString, func(v any) any { return v.(group).name }),
		"Length":  pr(tInt, func(v any) any { return int64(strLen(v.(group).value)) }),
	}
	tMatches.elem = tMatch
	tMatches.each = func(v any, f func(any) (bool, error)) error {
		for _, m := range v.(matchCollection) {
			if stop, err := f(m); stop || err != nil {
				return err
			}
		}
		return nil
	}
	tMatches.index = &indexer{key: tInt, t: tMatch, get: func(_ *env, r, k any) (any, error) {
		ms, i := r.(matchCollection), k.(int64)
		if i < 0 || i >= int64(len(ms)) {
			return nil, errors.New("Specified argument was out of the range of valid values. (Parameter 'i')")
		}
		return ms[i], nil
	}}
	tMatches.props = map[string]*prop{
		"Count": pr(tInt, func(v any) any { return int64(len(v.(matchCollection))) }),
	}
	addLinq(tMatches)
	tBasic.props = map[string]*prop{
		"UserId":   pr(tString, func(v any) any { return v.(*BasicAuthCredentials).Username }),
		"Username": pr(tString, func(v any) any { return v.(*BasicAuthCredentials).Username }),
		"Password": pr(tString, func(v any) any { return v.(*BasicAuthCredentials).Password }),
	}
	tString.methods["AsBasic"] = mth(0, 0, tBasic, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		return parseBasic(r.(string)), nil
	})
	for _, t := range []*typ{tMatch, tGroups, tGroup, tBasic, tRegexOpt, tMatches, tRegex} {
		addObjectMethods(t)
	}
}

var (
	dotnetGroupRef = regexp.MustCompile(`\$(\d+)`)
	regexUnescape  = regexp.MustCompile(`\\(.)`)
)

// maxMatches bounds the matches Matches collects and Replace rewrites.
const maxMatches = 10_000

func allMatches(e *env, re *regexp.Regexp, in string) (any, error) {
	var out matchCollection
	for from := 0; from <= len(in); {
		m := matchAt(re, in, from)
		if !m.ok[0] {
			break
		}
		if len(out) >= maxMatches {
			return nil, errTooLarge
		}
		if err := e.step(); err != nil {
			return nil, err
		}
		if err := e.grow(len(m.groups) * 16); err != nil {
			return nil, err
		}
		out = append(out, m)
		from = m.end
	}
	if out == nil {
		out = matchCollection{}
	}
	return out, nil
}

// regexReplace replaces each match with repl, a .NET replacement pattern or
// a MatchEvaluator lambda.
func regexReplace(e *env, re *regexp.Regexp, in string, repl any) (any, error) {
	switch r := repl.(type) {
	case string:
		// .NET's $1 is Go's ${1}: "$1x" means group 1 then "x" in .NET.
		// Named references (${name}) are the same in both.
		out := re.ReplaceAllString(in, dotnetGroupRef.ReplaceAllString(r, "$${$1}"))
		return out, e.grow(len(out))
	case *lambdaVal:
		var b strings.Builder
		last := 0
		for from := 0; from <= len(in); {
			m := matchAt(re, in, from)
			if !m.ok[0] {
				break
			}
			v, err := e.invoke(r, m)
			if err != nil {
				return nil, err
			}
			b.WriteString(in[last:m.index[0]])
			b.WriteString(toString(v))
			if err := e.grow(b.Len()); err != nil {
				return nil, err
			}
			last = m.index[0] + len(m.groups[0])
			from = m.end
		}
		b.WriteString(in[last:])
		return b.String(), nil
	case nil:
		return nil, errArgNull("replacement")
	}
	return nil, fmt.Errorf("the replacement must be a string or a lambda, not %s", typeNameOf(repl))
}

// fillRegexInstances adds new Regex(pattern[, options]) and its methods.
func fillRegexInstances() {
	constructors["Regex"] = mth(1, 2, tRegex, ts(tString, tRegexOpt), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		pat, err := argStr(args, 0, "pattern")
		if err != nil {
			return nil, err
		}
		var opts regexOptions
		if len(args) == 2 {
			o, ok := args[1].(regexOptions)
			if !ok {
				return nil, errors.New("the options must be RegexOptions")
			}
			opts = o
		}
		re, err := compileRegex(pat, opts)
		if err != nil {
			return nil, err
		}
		return &regexInstance{re}, nil
	})
	typeNames["Regex"] = tRegex
	input := func(args []any) (string, error) { return argStr(args, 0, "input") }
	tRegex.elem = tMatch
	tRegex.methods = map[string]*method{
		"IsMatch": mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			in, err := input(args)
			if err != nil {
				return nil, err
			}
			return r.(*regexInstance).re.MatchString(in), nil
		}),
		"Match": mth(1, 1, tMatch, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			in, err := input(args)
			if err != nil {
				return nil, err
			}
			return matchAt(r.(*regexInstance).re, in, 0), nil
		}),
		"Matches": mth(1, 1, tMatches, ts(tString), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			in, err := input(args)
			if err != nil {
				return nil, err
			}
			return allMatches(e, r.(*regexInstance).re, in)
		}),
		"Replace": &method{min: 2, max: 2, resT: tString, call: func(e *env, _ *callInfo, r any, args []any) (any, error) {
			in, err := input(args)
			if err != nil {
				return nil, err
			}
			return regexReplace(e, r.(*regexInstance).re, in, args[1])
		}},
		"Split": mth(1, 1, tStrArr, ts(tString), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			in, err := input(args)
			if err != nil {
				return nil, err
			}
			out := r.(*regexInstance).re.Split(in, -1)
			return out, e.grow(len(in) + len(out))
		}),
	}
}

// parseBasic decodes "Basic base64(user:password)", or returns nil as APIM does
// for anything else.
func parseBasic(s string) any {
	s = strings.TrimSpace(s)
	if len(s) > 6 && strings.EqualFold(s[:6], "basic ") {
		s = strings.TrimSpace(s[6:])
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok {
		return nil
	}
	return &BasicAuthCredentials{Username: user, Password: pass}
}
