package expression

import (
	"errors"
	"fmt"
	"time"
)

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
	case tXDocument, tXElement:
		doc, err := parseXML(e, string(data))
		if err != nil {
			return nil, fmt.Errorf("the body is not XML: %v", err)
		}
		if t == tXElement {
			doc.root.parent = nil
			return doc.root, nil
		}
		return doc, nil
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
	case *listVal:
		a := &JArray{Items: make([]any, len(v.items))}
		for i, x := range v.items {
			a.Items[i] = jsonify(x)
		}
		return a
	case *anonObject:
		return v.jsonObject()
	case *dictVal:
		o := NewJObject()
		for _, k := range v.keys {
			o.Set(k, jsonify(v.vals[k]))
		}
		return o
	case int64, float64, string, bool, nil, *JObject, *JArray:
		return v
	case time.Time:
		// Newtonsoft's default ISO format trims trailing zeros of the fraction.
		f, _ := formatDateTime(v, "yyyy-MM-ddTHH:mm:ss.FFFFFFFK")
		return f
	}
	return toString(v)
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
			return jProperty{Name: k, Value: v, owner: r.(*JObject)}, nil
		}),
	}
	selectTokenMethods(tJObject)
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
		// JContainer.First and Last: the first and last item, or null;
		// First() and Last() are LINQ's (they throw on an empty array).
		"First": pr(tJToken, func(v any) any { return jarrayEnd(v.(*JArray), false) }),
		"Last":  pr(tJToken, func(v any) any { return jarrayEnd(v.(*JArray), true) }),
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
	}
	selectTokenMethods(tJArray)
	addLinq(tJArray)

	tJProp.props = map[string]*prop{
		"Name":  pr(tString, func(v any) any { return v.(jProperty).Name }),
		"Value": pr(tJToken, func(v any) any { return v.(jProperty).Value }),
	}
}

// fillJSONStatics fills Formatting, JsonConvert, JObject, JArray and JToken,
// and the JObject, JArray and JProperty constructors.
func fillJSONStatics() {
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
	registerStatic(formatting, jsonc, jobj, jarr, jtok)

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
}

// jarrayEnd is the first (or last) item of a, or nil when a is empty.
func jarrayEnd(a *JArray, last bool) any {
	if len(a.Items) == 0 {
		return nil
	}
	if last {
		return a.Items[len(a.Items)-1]
	}
	return a.Items[0]
}
