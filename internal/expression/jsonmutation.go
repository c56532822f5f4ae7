package expression

import (
	"errors"
	"fmt"
)

// Changing JSON in place, as documents do with Newtonsoft: JObject.Properties,
// AddFirst, Merge, DeepClone; JProperty.Remove and Value = ...; JArray.Remove,
// RemoveAt, Insert, Clear, IndexOf, AddFirst.

const errArrayIndex = "Index must be within the bounds of the List. (Parameter 'index')"

// jsonEquals is the equality JArray.Remove and IndexOf use: the same object
// or array, or equal scalars.
func jsonEquals(a, b any) bool {
	switch a.(type) {
	case *JObject, *JArray:
		return a == b
	}
	return valueEquals(a, b)
}

// mergeJSON is JContainer.Merge with Newtonsoft's defaults: objects merge
// recursively, arrays are concatenated, null values of content are ignored.
func mergeJSON(e *env, dst, src any) error {
	if err := e.step(); err != nil {
		return err
	}
	switch d := dst.(type) {
	case *JObject:
		s, ok := src.(*JObject)
		if !ok {
			return nil
		}
		for _, k := range s.keys {
			sv := s.vals[k]
			dv, exists := d.Get(k)
			if !exists {
				d.Set(k, attach(d, cloneJSON(sv)))
				continue
			}
			switch dv.(type) {
			case *JObject, *JArray:
				if typeOfValue(dv) == typeOfValue(sv) {
					if err := mergeJSON(e, dv, sv); err != nil {
						return err
					}
					continue
				}
			}
			if sv != nil {
				d.Set(k, attach(d, cloneJSON(sv)))
			}
		}
	case *JArray:
		s, ok := src.(*JArray)
		if !ok {
			return nil
		}
		if err := e.grow(16 * len(s.Items)); err != nil {
			return err
		}
		for _, x := range s.Items {
			d.Items = append(d.Items, attach(d, cloneJSON(x)))
		}
	}
	return nil
}

func fillJSONMutation() {
	tJObject.methods["Properties"] = mth(0, 0, tObjArr, nil, func(e *env, _ *callInfo, r any, _ []any) (any, error) {
		o := r.(*JObject)
		out := make([]any, 0, len(o.keys))
		for _, k := range o.keys {
			out = append(out, jProperty{Name: k, Value: o.vals[k], owner: o})
		}
		return out, e.grow(16 * len(out))
	})
	tJObject.methods["AddFirst"] = mth(1, 1, tVoid, ts(tJProp), func(e *env, _ *callInfo, r any, args []any) (any, error) {
		o := r.(*JObject)
		p, ok := args[0].(jProperty)
		if !ok {
			return nil, errors.New("JObject.AddFirst takes a JProperty")
		}
		if _, exists := o.Get(p.Name); exists {
			return nil, fmt.Errorf("Can not add property %s to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object.", p.Name)
		}
		if err := e.grow(len(p.Name) + 16); err != nil {
			return nil, err
		}
		o.Set(p.Name, attach(o, p.Value))
		copy(o.keys[1:], o.keys[:len(o.keys)-1])
		o.keys[0] = p.Name
		return nil, nil
	})
	tJObject.methods["TryGetValue"] = &method{min: 2, max: 2, resT: tBool, params: ts(tString, tJToken), outT: tJToken,
		call: func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := argStr(args, 0, "propertyName")
			if err != nil {
				return nil, err
			}
			v, ok := r.(*JObject).Get(k)
			args[1] = v
			return ok, nil
		}}
	merge := mth(1, 2, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		return nil, mergeJSON(e, r, jsonify(args[0]))
	})
	deepClone := func(t *typ) *method {
		return mth(0, 0, t, nil, func(e *env, _ *callInfo, r any, _ []any) (any, error) {
			return cloneJSON(r), e.grow(len(jsonText(r, "")))
		})
	}
	tJObject.methods["Merge"] = merge
	tJObject.methods["DeepClone"] = deepClone(tJObject)
	tJArray.methods["Merge"] = merge
	tJArray.methods["DeepClone"] = deepClone(tJArray)

	arrIndex := func(a *JArray, args []any, insert bool) (int, error) {
		i, err := argInt(args, 0, "index")
		if err != nil {
			return 0, err
		}
		limit := int64(len(a.Items))
		if !insert {
			limit--
		}
		if i < 0 || i > limit {
			return 0, errors.New(errArrayIndex)
		}
		return int(i), nil
	}
	tJArray.methods["RemoveAt"] = mth(1, 1, tVoid, ts(tInt), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
		a := r.(*JArray)
		i, err := arrIndex(a, args, false)
		if err != nil {
			return nil, err
		}
		a.Items = append(a.Items[:i], a.Items[i+1:]...)
		return nil, nil
	})
	tJArray.methods["Insert"] = mth(2, 2, tVoid, ts(tInt, nil), func(e *env, _ *callInfo, r any, args []any) (any, error) {
		a := r.(*JArray)
		i, err := arrIndex(a, args, true)
		if err != nil {
			return nil, err
		}
		if err := e.grow(16); err != nil {
			return nil, err
		}
		a.Items = append(a.Items, nil)
		copy(a.Items[i+1:], a.Items[i:])
		a.Items[i] = attach(a, args[1])
		return nil, nil
	})
	tJArray.methods["AddFirst"] = mth(1, 1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		a := r.(*JArray)
		if err := e.grow(16); err != nil {
			return nil, err
		}
		a.Items = append([]any{attach(a, args[0])}, a.Items...)
		return nil, nil
	})
	tJArray.methods["IndexOf"] = mth(1, 1, tInt, nil, func(_ *env, _ *callInfo, r any, args []any) (any, error) {
		for i, x := range r.(*JArray).Items {
			if jsonEquals(x, args[0]) {
				return int64(i), nil
			}
		}
		return int64(-1), nil
	})
	tJArray.methods["Remove"] = mth(1, 1, tBool, nil, func(_ *env, _ *callInfo, r any, args []any) (any, error) {
		a := r.(*JArray)
		for i, x := range a.Items {
			if jsonEquals(x, args[0]) {
				a.Items = append(a.Items[:i], a.Items[i+1:]...)
				return true, nil
			}
		}
		return false, nil
	})
	tJArray.methods["Clear"] = mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		r.(*JArray).Items = nil
		return nil, nil
	})

	// A JProperty read from an object changes that object.
	tJProp.props["Value"] = &prop{t: tJToken,
		get: func(_ *env, v any) (any, error) {
			p := v.(jProperty)
			if p.owner != nil {
				if cur, ok := p.owner.Get(p.Name); ok {
					return cur, nil
				}
			}
			return p.Value, nil
		},
		set: func(_ *env, r, v any) error {
			p := r.(jProperty)
			if p.owner == nil {
				return errors.New("this JProperty does not belong to an object; build a new one with new JProperty(name, value)")
			}
			p.owner.Set(p.Name, attach(p.owner, v))
			return nil
		}}
	tJProp.methods = map[string]*method{
		"Remove": mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			p := r.(jProperty)
			if p.owner == nil {
				return nil, errors.New("The parent is missing.")
			}
			p.owner.Remove(p.Name)
			return nil, nil
		}),
	}
	jarr := staticClasses["JArray"]
	jarr.methods["FromObject"] = mth(1, 1, tJArray, nil, func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		v := jsonify(args[0])
		if a, ok := v.(*JArray); ok {
			return a, nil
		}
		return nil, fmt.Errorf("Object serialized to %s. JArray instance expected.", typeNameOf(v))
	})
}
