package expression

import (
	"errors"
	"fmt"
	"regexp"
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

// regexMatch is a System.Text.RegularExpressions.Match.
type regexMatch struct {
	groups []string // group 0 is the whole match
	ok     []bool
}

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
		m := &regexMatch{}
		idx := re.FindStringSubmatchIndex(in)
		n := re.NumSubexp() + 1
		m.groups, m.ok = make([]string, n), make([]bool, n)
		for i := 0; idx != nil && i < n; i++ {
			if idx[2*i] >= 0 {
				m.groups[i], m.ok[i] = in[idx[2*i]:idx[2*i+1]], true
			}
		}
		return m, nil
	})
	rx.methods["Replace"] = mth(3, 4, tString, ts(tString, tString, tString, tRegexOpt), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		in, re, err := regexArgs(args, 3)
		if err != nil {
			return nil, err
		}
		repl, err := argStr(args, 2, "replacement")
		if err != nil {
			return nil, err
		}
		// .NET's $1 is Go's ${1}: "$1x" means group 1 then "x" in .NET.
		repl = dotnetGroupRef.ReplaceAllString(repl, "$${$1}")
		out := re.ReplaceAllString(in, repl)
		if err := e.grow(len(out)); err != nil {
			return nil, err
		}
		return out, nil
	})
	rx.methods["Escape"] = mth(1, 1, tString, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "str")
		if err != nil {
			return nil, err
		}
		return regexp.QuoteMeta(s), nil
	})
	staticClasses["Regex"] = rx
	opt := staticClass("RegexOptions")
	opt.props["None"] = constProp(tRegexOpt, regexOptions(0))
	opt.props["IgnoreCase"] = constProp(tRegexOpt, reIgnoreCase)
	opt.props["Multiline"] = constProp(tRegexOpt, reMultiline)
	opt.props["Singleline"] = constProp(tRegexOpt, reSingleline)
	staticClasses["RegexOptions"] = opt

	tMatch.props = map[string]*prop{
		"Success": pr(tBool, func(v any) any { return v.(*regexMatch).ok[0] }),
		"Value":   pr(tString, func(v any) any { return v.(*regexMatch).groups[0] }),
		"Groups":  pr(tGroups, func(v any) any { return regexGroups{v.(*regexMatch)} }),
	}
	tGroups.index = &indexer{key: tInt, t: tGroup, get: func(_ *env, r, k any) (any, error) {
		m, i := r.(regexGroups).m, k.(int64)
		if i < 0 || i >= int64(len(m.groups)) {
			return group{}, nil // .NET returns an unsuccessful group
		}
		return group{value: m.groups[i], ok: m.ok[i]}, nil
	}}
	tGroups.props = map[string]*prop{
		"Count": pr(tInt, func(v any) any { return int64(len(v.(regexGroups).m.groups)) }),
	}
	tGroup.props = map[string]*prop{
		"Value":   pr(tString, func(v any) any { return v.(group).value }),
		"Success": pr(tBool, func(v any) any { return v.(group).ok }),
	}
	tBasic.props = map[string]*prop{
		"Username": pr(tString, func(v any) any { return v.(*BasicAuthCredentials).Username }),
		"Password": pr(tString, func(v any) any { return v.(*BasicAuthCredentials).Password }),
	}
	tString.methods["AsBasic"] = mth(0, 0, tBasic, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		return parseBasic(r.(string)), nil
	})
	for _, t := range []*typ{tMatch, tGroups, tGroup, tBasic, tRegexOpt} {
		addObjectMethods(t)
	}
}

var dotnetGroupRef = regexp.MustCompile(`\$(\d+)`)

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
