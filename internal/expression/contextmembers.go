package expression

import (
	"errors"
	"fmt"
	"time"
)

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
		// APIM's GetValueOrDefault(name, string default) joins the values
		// with commas; with a string[] default it is .NET's
		// GetValueOrDefault<string, string[]>, which returns the values.
		"GetValueOrDefault": {min: 1, max: 2, params: ts(tString, nil),
			res: func(ci *callInfo) (*typ, error) {
				if len(ci.argT) == 2 {
					switch at := ci.argT[1]; {
					case at == tStrArr:
						return tStrArr, nil
					case !assignable(at, tString):
						return nil, fmt.Errorf("argument 2 of 'GetValueOrDefault': cannot convert from '%s' to 'string' or 'string[]'", at.name)
					}
				}
				return tString, nil
			},
			call: func(_ *env, ci *callInfo, r any, args []any) (any, error) {
				name, err := argStr(args, 0, "key")
				if err != nil {
					return nil, err
				}
				arr := len(ci.argT) == 2 && ci.argT[1] == tStrArr
				v, ok := r.(strArrDict).lookup(name)
				if !ok {
					if len(args) == 2 {
						if arr {
							return args[1], nil
						}
						// The default may be of a dynamic type; the result is a string.
						return castValue(args[1], tString, true)
					}
					return nil, nil
				}
				if arr {
					return v, nil
				}
				return joinValues(v), nil
			}},
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
	tContext.methods = map[string]*method{
		// context.Trace(message), as the trace policy's message.
		"Trace": mth(1, 1, tVoid, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			if f := r.(*Context).Trace; f != nil {
				s, _ := args[0].(string)
				f(s)
			}
			return nil, nil
		}),
	}
	addObjectMethods(tContext)
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
				case tString, tJObject, tJArray, tJToken, tBytes, tXDocument, tXElement:
					return ci.targ, nil
				case nil:
					return nil, errors.New("As needs a type argument: As<string>, As<JObject>, As<JArray>, As<JToken>, As<byte[]>, As<XDocument> or As<XElement>")
				}
				return nil, fmt.Errorf("As<%s> is not supported: use As<string>, As<JObject>, As<JArray>, As<JToken>, As<byte[]>, As<XDocument> or As<XElement>", ci.targ.name)
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
			if c := v.(*Jwt).AllClaims(); c != nil {
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
