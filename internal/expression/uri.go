package expression

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
)

// System.Uri (new Uri(...) and its members, IUrl.ToUri()) and System.Random.

// sysURI is a System.Uri. Relative URIs keep only their original text.
type sysURI struct {
	u        *url.URL
	orig     string
	absolute bool
}

// uriKind is System.UriKind.
type uriKind int

const (
	uriRelativeOrAbsolute uriKind = iota
	uriAbsolute
	uriRelative
)

// uriPartial is System.UriPartial.
type uriPartial int

const (
	partScheme uriPartial = iota
	partAuthority
	partPath
	partQuery
)

// random is a System.Random.
type random struct{ r *rand.Rand }

var (
	tUri        = &typ{name: "Uri"}
	tUriKind    = &typ{name: "UriKind", valueType: true}
	tUriPartial = &typ{name: "UriPartial", valueType: true}
	tRandom     = &typ{name: "Random"}
)

var errBadURI = errors.New("Invalid URI: The format of the URI could not be determined.")

func parseURI(s string, kind uriKind) (*sysURI, error) {
	if len(s) > MaxStringLen {
		return nil, errTooLarge
	}
	t := strings.TrimSpace(s)
	u, err := url.Parse(t)
	abs := err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "" || u.Scheme == "file")
	switch {
	case err != nil:
		return nil, fmt.Errorf("Invalid URI: %s", strings.TrimPrefix(err.Error(), "parse "))
	case kind == uriAbsolute && !abs:
		return nil, errBadURI
	case kind == uriRelative && abs:
		return nil, errors.New("A relative URI cannot be created because the 'uriString' parameter represents an absolute URI.")
	case kind == uriRelativeOrAbsolute && !abs && u.Scheme != "":
		return nil, errBadURI
	}
	if abs {
		u.Host = strings.ToLower(u.Host)
		u.Scheme = strings.ToLower(u.Scheme)
		if u.Path == "" && u.Opaque == "" {
			u.Path = "/"
		}
	}
	return &sysURI{u: u, orig: s, absolute: abs}, nil
}

func defaultPort(scheme string) int {
	switch scheme {
	case "http", "ws":
		return 80
	case "https", "wss":
		return 443
	case "ftp":
		return 21
	}
	return -1
}

func (s *sysURI) port() int {
	if p := s.u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return n
	}
	return defaultPort(s.u.Scheme)
}

func (s *sysURI) authority() string {
	h := s.u.Hostname()
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if p := s.port(); p != defaultPort(s.u.Scheme) {
		h += ":" + strconv.Itoa(p)
	}
	return h
}

func (s *sysURI) query() string {
	if s.u.RawQuery == "" && !s.u.ForceQuery {
		return ""
	}
	return "?" + s.u.RawQuery
}

func (s *sysURI) fragment() string {
	if f := s.u.EscapedFragment(); f != "" {
		return "#" + f
	}
	return ""
}

// leftPart is GetLeftPart: the URI up to and including the part.
func (s *sysURI) leftPart(p uriPartial) string {
	out := s.u.Scheme + "://"
	if p == partScheme {
		return out
	}
	if s.u.User != nil {
		out += s.u.User.String() + "@"
	}
	out += s.authority()
	if p >= partPath {
		out += s.u.EscapedPath()
	}
	if p >= partQuery {
		out += s.query()
	}
	return out
}

func (s *sysURI) String() string {
	if !s.absolute {
		return s.orig
	}
	return s.leftPart(partQuery) + s.fragment()
}

func (s *sysURI) absoluteOnly(name string) error {
	if !s.absolute {
		return fmt.Errorf("This operation is not supported for a relative URI. ('%s')", name)
	}
	return nil
}

func uriProp(t *typ, name string, get func(s *sysURI) any) *prop {
	return &prop{t: t, get: func(_ *env, v any) (any, error) {
		s := v.(*sysURI)
		if err := s.absoluteOnly(name); err != nil {
			return nil, err
		}
		return get(s), nil
	}}
}

func fillURI() {
	tUri.props = map[string]*prop{
		"AbsoluteUri":   uriProp(tString, "AbsoluteUri", func(s *sysURI) any { return s.String() }),
		"AbsolutePath":  uriProp(tString, "AbsolutePath", func(s *sysURI) any { return s.u.EscapedPath() }),
		"PathAndQuery":  uriProp(tString, "PathAndQuery", func(s *sysURI) any { return s.u.EscapedPath() + s.query() }),
		"LocalPath":     uriProp(tString, "LocalPath", func(s *sysURI) any { return s.u.Path }),
		"Query":         uriProp(tString, "Query", func(s *sysURI) any { return s.query() }),
		"Fragment":      uriProp(tString, "Fragment", func(s *sysURI) any { return s.fragment() }),
		"Host":          uriProp(tString, "Host", func(s *sysURI) any { return s.u.Hostname() }),
		"DnsSafeHost":   uriProp(tString, "DnsSafeHost", func(s *sysURI) any { return s.u.Hostname() }),
		"Port":          uriProp(tInt, "Port", func(s *sysURI) any { return int64(s.port()) }),
		"IsDefaultPort": uriProp(tBool, "IsDefaultPort", func(s *sysURI) any { return s.port() == defaultPort(s.u.Scheme) }),
		"Scheme":        uriProp(tString, "Scheme", func(s *sysURI) any { return s.u.Scheme }),
		"Authority":     uriProp(tString, "Authority", func(s *sysURI) any { return s.authority() }),
		"UserInfo": uriProp(tString, "UserInfo", func(s *sysURI) any {
			if s.u.User == nil {
				return ""
			}
			return s.u.User.String()
		}),
		"Segments": uriProp(tStrArr, "Segments", func(s *sysURI) any {
			p := s.u.EscapedPath()
			out := []string{}
			for len(p) > 0 {
				i := strings.IndexByte(p, '/')
				if i < 0 {
					out = append(out, p)
					break
				}
				out = append(out, p[:i+1])
				p = p[i+1:]
			}
			return out
		}),
		"IsAbsoluteUri":  pr(tBool, func(v any) any { return v.(*sysURI).absolute }),
		"OriginalString": pr(tString, func(v any) any { return v.(*sysURI).orig }),
	}
	tUri.methods = map[string]*method{
		"GetLeftPart": mth(1, 1, tString, ts(tUriPartial), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			s := r.(*sysURI)
			if err := s.absoluteOnly("GetLeftPart"); err != nil {
				return nil, err
			}
			p, ok := args[0].(uriPartial)
			if !ok {
				return nil, errors.New("the argument must be a UriPartial")
			}
			return s.leftPart(p), nil
		}),
		"ToString": mth(0, 0, tString, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return r.(*sysURI).String(), nil
		}),
	}
	uri := staticClasses["Uri"]
	kind := func(args []any, i int) (uriKind, error) {
		if len(args) <= i {
			return uriAbsolute, nil
		}
		k, ok := args[i].(uriKind)
		if !ok {
			return 0, errors.New("the argument must be a UriKind")
		}
		return k, nil
	}
	constructors["Uri"] = mth(1, 2, tUri, nil, func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		if base, ok := args[0].(*sysURI); ok {
			if len(args) != 2 {
				return nil, errors.New("new Uri(baseUri) needs a relative part: new Uri(baseUri, \"path\")")
			}
			rel, err := argStr(args, 1, "relativeUri")
			if err != nil {
				return nil, err
			}
			if !base.absolute {
				return nil, errors.New("This operation is not supported for a relative URI.")
			}
			ref, err := url.Parse(rel)
			if err != nil {
				return nil, errBadURI
			}
			return parseURI(base.u.ResolveReference(ref).String(), uriAbsolute)
		}
		s, err := argStr(args, 0, "uriString")
		if err != nil {
			return nil, err
		}
		k, err := kind(args, 1)
		if err != nil {
			return nil, err
		}
		return parseURI(s, k)
	})
	typeNames["Uri"] = tUri
	uri.methods["TryCreate"] = &method{min: 3, max: 3, resT: tBool, params: ts(tString, tUriKind, tUri), outT: tUri,
		call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			s, ok := args[0].(string)
			k, kok := args[1].(uriKind)
			args[2] = nil
			if !ok || !kok {
				return false, nil
			}
			u, err := parseURI(s, k)
			if err != nil {
				return false, nil
			}
			args[2] = u
			return true, nil
		}}
	uri.methods["IsWellFormedUriString"] = mth(2, 2, tBool, ts(tString, tUriKind), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, ok := args[0].(string)
		k, _ := args[1].(uriKind)
		if !ok || strings.ContainsAny(s, " \t\r\n\\") {
			return false, nil
		}
		_, err := parseURI(s, k)
		return err == nil, nil
	})
	uk := staticClass("UriKind")
	uk.props["RelativeOrAbsolute"] = constProp(tUriKind, uriRelativeOrAbsolute)
	uk.props["Absolute"] = constProp(tUriKind, uriAbsolute)
	uk.props["Relative"] = constProp(tUriKind, uriRelative)
	up := staticClass("UriPartial")
	up.props["Scheme"] = constProp(tUriPartial, partScheme)
	up.props["Authority"] = constProp(tUriPartial, partAuthority)
	up.props["Path"] = constProp(tUriPartial, partPath)
	up.props["Query"] = constProp(tUriPartial, partQuery)
	registerStatic(uk, up)

	if tURL.methods == nil {
		tURL.methods = map[string]*method{}
	}
	tURL.methods["ToUri"] = mth(0, 0, tUri, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		return parseURI(r.(*URL).String(), uriAbsolute)
	})

	fillRandom()
	for _, t := range []*typ{tUri, tUriKind, tUriPartial, tRandom} {
		addObjectMethods(t)
	}
}

// newSecureRandom is a Random seeded from the system's secure source.
func newSecureRandom() *random {
	return &random{rand.New(rand.NewChaCha8([32]byte(randomBytes(32))))}
}

func fillRandom() {
	constructors["Random"] = mth(0, 1, tRandom, ts(tInt), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		if len(args) == 1 {
			seed, err := argInt(args, 0, "Seed")
			if err != nil {
				return nil, err
			}
			return &random{rand.New(rand.NewPCG(uint64(seed), 0))}, nil
		}
		return newSecureRandom(), nil
	})
	typeNames["Random"] = tRandom
	// bounds reads Next's (), (max) or (min, max) arguments.
	bounds := func(args []any, hi int64) (int64, int64, error) {
		lo := int64(0)
		var err error
		switch len(args) {
		case 1:
			if hi, err = argInt(args, 0, "maxValue"); err != nil {
				return 0, 0, err
			}
			if hi < 0 {
				return 0, 0, errors.New("'maxValue' must be greater than or equal to zero. (Parameter 'maxValue')")
			}
		case 2:
			if lo, err = argInt(args, 0, "minValue"); err != nil {
				return 0, 0, err
			}
			if hi, err = argInt(args, 1, "maxValue"); err != nil {
				return 0, 0, err
			}
			if lo > hi {
				return 0, 0, errors.New("'minValue' cannot be greater than maxValue. (Parameter 'minValue')")
			}
		}
		return lo, hi, nil
	}
	tRandom.methods = map[string]*method{
		"Next": mth(0, 2, tInt, ts(tInt, tInt), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			lo, hi, err := bounds(args, math.MaxInt32)
			if err != nil || hi == lo {
				return lo, err
			}
			return lo + r.(*random).r.Int64N(hi-lo), nil
		}),
		"NextInt64": mth(0, 2, tInt, ts(tInt, tInt), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			lo, hi, err := bounds(args, math.MaxInt64)
			if err != nil || hi == lo {
				return lo, err
			}
			return lo + int64(r.(*random).r.Uint64N(uint64(hi-lo))), nil
		}),
		"NextDouble": mth(0, 0, tDouble, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return r.(*random).r.Float64(), nil
		}),
		"NextBytes": mth(1, 1, tVoid, ts(tBytes), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			b, err := argBytes(args, 0, "buffer")
			if err != nil {
				return nil, err
			}
			g := r.(*random).r
			for i := range b {
				b[i] = byte(g.Uint32())
			}
			return nil, nil
		}),
	}
	rc := staticClass("Random")
	rc.props["Shared"] = &prop{t: tRandom, get: func(_ *env, _ any) (any, error) {
		return newSecureRandom(), nil
	}}
	registerStatic(rc)
}
