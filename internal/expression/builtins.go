package expression

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"time"
)

// The built-in members expressions can call are tables of types, built once
// by init and only read afterwards. This file holds what the tables share
// (argument helpers, static classes, namespaces, init); each family of
// members has its own file: stringmethods.go (string and String),
// collections.go (arrays and LINQ), contextmembers.go (the context object
// model, headers, variables), jsonmembers.go (bodies, JToken, JsonConvert),
// datetime.go (DateTime, TimeSpan), convert.go (casts, Convert, Encoding,
// Guid, Uri, number parsing), math.go (Math), regex.go (Regex) and jwt.go.

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

// registerStatic makes static classes known by their names.
func registerStatic(cs ...*typ) {
	for _, c := range cs {
		staticClasses[c.name] = c
	}
}

// fillNamespaces makes the static classes reachable by their qualified
// names: System.Text.Encoding.UTF8, Newtonsoft.Json.Formatting.None, ...
func fillNamespaces() {
	ns := func(name string, members map[string]*typ) *typ {
		t := staticClass(name)
		for k, v := range members {
			t.props[k] = &prop{t: v}
		}
		return t
	}
	c := staticClasses
	linq := ns("Newtonsoft.Json.Linq", map[string]*typ{"JObject": c["JObject"], "JArray": c["JArray"], "JToken": c["JToken"], "JTokenType": c["JTokenType"]})
	njson := ns("Newtonsoft.Json", map[string]*typ{"Formatting": c["Formatting"], "JsonConvert": c["JsonConvert"], "Linq": linq})
	namespaces["Newtonsoft"] = ns("Newtonsoft", map[string]*typ{"Json": njson})
	rx := ns("System.Text.RegularExpressions", map[string]*typ{"Regex": c["Regex"], "RegexOptions": c["RegexOptions"]})
	text := ns("System.Text", map[string]*typ{"Encoding": c["Encoding"], "RegularExpressions": rx})
	text.props["StringBuilder"] = &prop{t: staticClass("StringBuilder")}
	crypto := ns("System.Security.Cryptography", map[string]*typ{})
	for _, name := range []string{"MD5", "SHA1", "SHA256", "SHA384", "SHA512", "HMACMD5", "HMACSHA1", "HMACSHA256", "HMACSHA384", "HMACSHA512", "Aes", "Rijndael", "CipherMode", "PaddingMode"} {
		crypto.props[name] = &prop{t: c[name]}
	}
	security := ns("System.Security", map[string]*typ{"Cryptography": crypto})
	net := ns("System.Net", map[string]*typ{"WebUtility": c["WebUtility"]})
	glob := ns("System.Globalization", map[string]*typ{"CultureInfo": c["CultureInfo"], "DateTimeStyles": c["DateTimeStyles"], "NumberStyles": c["NumberStyles"]})
	sysLinq := ns("System.Linq", map[string]*typ{"Enumerable": c["Enumerable"]})
	sys := ns("System", map[string]*typ{"Text": text, "Security": security, "Net": net, "Globalization": glob, "Linq": sysLinq})
	if x, ok := c["XDocument"]; ok {
		sys.props["Xml"] = &prop{t: ns("System.Xml", map[string]*typ{"Linq": ns("System.Xml.Linq", map[string]*typ{"XDocument": x, "XElement": c["XElement"], "XName": c["XName"]})})}
	}
	for _, name := range []string{"DateTime", "TimeSpan", "Guid", "Convert", "String", "Int32", "Int64", "Double", "Boolean", "Math", "StringComparison", "StringSplitOptions", "Uri", "UriKind", "UriPartial", "Random", "BitConverter", "Array", "DateTimeOffset", "Char", "MidpointRounding"} {
		if c[name] != nil {
			sys.props[name] = &prop{t: c[name]}
		}
	}
	namespaces["System"] = sys
}

// fillMore fills the families added for APIM documents' System.* types.
func fillMore() {
	fillURI()
	fillDateTimeOffset()
	fillJSONMutation()
	fillForm()
	fillXML()
	fillWebUtility()
	fillStringBuilder()
	fillGenerics()
	fillCulture()
	fillSystemExtras()
	fillJTokenType()
	fillExceptions()
}

// Methods every value has: ToString, Equals and GetHashCode.
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
	if _, ok := t.methods["GetHashCode"]; !ok {
		t.methods["GetHashCode"] = mth(0, 0, tInt, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			return hashCode(r), nil
		})
	}
	if t.props == nil {
		t.props = map[string]*prop{}
	}
}

// hashCode is GetHashCode: equal values hash alike and reference types hash
// by identity. .NET randomises string hashes per process, so documents cannot
// depend on the numbers; these are stable, which keeps results reproducible.
func hashCode(v any) int64 {
	fold := func(u uint64) int64 { return int64(int32(u) ^ int32(u>>32)) }
	switch v := v.(type) {
	case string:
		h := fnv.New32a()
		h.Write([]byte(v))
		return int64(int32(h.Sum32()))
	case int64:
		return fold(uint64(v))
	case float64:
		if v == 0 {
			return 0 // 0.0 == -0.0
		}
		return fold(math.Float64bits(v))
	case bool:
		if v {
			return 1
		}
		return 0
	case time.Time:
		return fold(uint64(v.UnixNano()))
	case time.Duration:
		return fold(uint64(v))
	case Guid:
		return fold(binary.LittleEndian.Uint64(v[:8]) ^ binary.LittleEndian.Uint64(v[8:]))
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func:
		return fold(uint64(rv.Pointer()))
	}
	return hashCode(toString(v))
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
	fillDateTime()
	fillConversions()
	fillStringStatics()
	fillMath()
	fillJSONStatics()
	fillBytes()
	fillMore()
	fillRegex()
	fillNamespaces()
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
