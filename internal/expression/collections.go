package expression

import (
	"errors"
	"fmt"
	"slices"
)

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

// eachMatching calls f with the elements of r that satisfy the optional
// predicate lambda in args (every element when there is none), until f
// returns true. It reports whether there was a predicate.
func (e *env) eachMatching(r any, args []any, f func(x any) (stop bool)) (hasPred bool, err error) {
	var pred *lambdaVal
	if len(args) == 1 {
		if pred, err = argLambda(args, 0); err != nil {
			return false, err
		}
	}
	return pred != nil, each(r, func(x any) (bool, error) {
		if pred != nil {
			if m, err := e.predicate(pred, x); err != nil || !m {
				return false, err
			}
		}
		return f(x), nil
	})
}

func linqMethods() map[string]*method {
	lam := ts(tLambda)
	firstLast := func(last, orDefault bool) *method {
		return &method{min: 0, max: 1, params: lam, res: elemOf, call: func(e *env, _ *callInfo, r any, args []any) (any, error) {
			var found any
			ok := false
			hasPred, err := e.eachMatching(r, args, func(x any) bool {
				found, ok = x, true
				return !last
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
				if hasPred {
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
			_, err := e.eachMatching(r, args, func(any) bool {
				found = true
				return true
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
			_, err := e.eachMatching(r, args, func(any) bool {
				n++
				return false
			})
			return n, err
		}),
		"Single":          single(false),
		"SingleOrDefault": single(true),
		"First":           firstLast(false, false),
		"FirstOrDefault":  firstLast(false, true),
		"Last":            firstLast(true, false),
		"LastOrDefault":   firstLast(true, true),
		"Cast":            castMethod(false),
		"OfType":          castMethod(true),
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
		var found any
		n := 0
		hasPred, err := e.eachMatching(r, args, func(x any) bool {
			found = x
			n++
			return n > 1
		})
		switch {
		case err != nil:
			return nil, err
		case n > 1 && hasPred:
			return nil, errors.New("Sequence contains more than one matching element")
		case n > 1:
			return nil, errors.New("Sequence contains more than one element")
		case n == 0 && orDefault:
			return nil, nil
		case n == 0 && hasPred:
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

// Arrays

// fillSlice makes t, a slice of T, enumerable, indexable (set converts a
// value assigned to an element) with a Length, and gives it LINQ.
func fillSlice[T any](t, elem *typ, set func(v any) (T, error)) {
	t.elem = elem
	t.each = func(v any, f func(any) (bool, error)) error {
		for _, x := range v.([]T) {
			if stop, err := f(x); stop || err != nil {
				return err
			}
		}
		return nil
	}
	t.index = &indexer{key: tInt, t: elem, get: func(_ *env, r, k any) (any, error) {
		a, i := r.([]T), k.(int64)
		if i < 0 || i >= int64(len(a)) {
			return nil, errIndexRange
		}
		return a[i], nil
	}, set: func(_ *env, r, k, v any) error {
		a, i := r.([]T), k.(int64)
		if i < 0 || i >= int64(len(a)) {
			return errIndexRange
		}
		x, err := set(v)
		if err != nil {
			return err
		}
		a[i] = x
		return nil
	}}
	t.props = map[string]*prop{
		"Length": pr(tInt, func(v any) any { return int64(len(v.([]T))) }),
	}
	addLinq(t)
}

func fillArrays() {
	fillSlice(tStrArr, tString, func(v any) (string, error) {
		s, ok := v.(string)
		if !ok && v != nil {
			return "", errCast(v, tString)
		}
		return s, nil
	})
	fillSlice(tObjArr, tObject, func(v any) (any, error) { return v, nil })
	tObjArr.props["Count"] = tObjArr.props["Length"]
	fillArrayClass()

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

// castMethod is Cast<T>() (every element converted as a cast, an error when
// one cannot be) or OfType<T>() (the elements that are of type T).
func castMethod(filter bool) *method {
	return &method{min: 0, max: 0, generic: true,
		res: func(ci *callInfo) (*typ, error) {
			if ci.targ == nil {
				return nil, errors.New("a type argument is needed, e.g. Cast<string>()")
			}
			if ci.targ == tString {
				return tStrArr, nil
			}
			return tObjArr, nil
		},
		call: func(e *env, ci *callInfo, r any, _ []any) (any, error) {
			t := ci.targ
			if t == nil {
				return nil, errors.New("a type argument is needed, e.g. Cast<string>()")
			}
			c := &collector{isStrs: t == tString}
			err := each(r, func(x any) (bool, error) {
				if x != nil && (t.dynamic || typeOfValue(x) == t) {
					return false, c.add(e, x)
				}
				if filter {
					return false, nil
				}
				v, err := castValue(x, t, true)
				if err != nil {
					return true, err
				}
				return false, c.add(e, v)
			})
			if err != nil {
				return nil, err
			}
			return c.result(), nil
		}}
}
