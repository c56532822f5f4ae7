package expression

import (
	"errors"
	"fmt"
	"slices"
)

// System.Collections.Generic as documents use it: List<T> and
// Dictionary<string, V>. Elements are read back as object (their type is
// checked when they are used); dictionary keys must be strings and enumerate
// in insertion order.

type listVal struct {
	items []any
	elem  *typ
}

type dictVal struct {
	keys []string
	vals map[string]any
	elem *typ
}

var (
	tList = &typ{name: "List<T>"}
	tDict = &typ{name: "Dictionary<string, TValue>"}
)

// genericTypes are the generic type names; the value is their number of
// type arguments.
var genericTypes = map[string]int{
	"List": 1, "IList": 1, "ICollection": 1, "IEnumerable": 1, "IReadOnlyList": 1, "IReadOnlyCollection": 1,
	"Dictionary": 2, "IDictionary": 2, "IReadOnlyDictionary": 2,
}

// resolveGeneric resolves a generic type reference.
func resolveGeneric(r *typeRef) (*typ, error) {
	if len(r.args) != genericTypes[r.name] {
		return nil, fmt.Errorf("'%s' takes %d type arguments", r.name, genericTypes[r.name])
	}
	for _, a := range r.args {
		if _, err := resolveType(a); err != nil {
			return nil, err
		}
	}
	switch r.name {
	case "List", "IList":
		return tList, nil
	case "Dictionary", "IDictionary":
		if k, _ := resolveType(r.args[0]); k != tString {
			return nil, fmt.Errorf("only dictionaries with string keys are supported, not '%s'", r)
		}
		return tDict, nil
	}
	// Read-only views and IEnumerable<T> accept any sequence.
	return tObject, nil
}

// elemConv converts a value stored in a List<T> or Dictionary<string, T>.
func elemConv(t *typ, v any) (any, error) {
	if t == nil || t.dynamic || v == nil && !t.valueType {
		return v, nil
	}
	return castValue(v, t, false)
}

func (d *dictVal) set(k string, v any) {
	if _, ok := d.vals[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[k] = v
}

func fillGenerics() {
	typeNames["List"], typeNames["Dictionary"] = tList, tDict
	for name := range genericTypes {
		if _, ok := typeNames[name]; !ok {
			typeNames[name] = tObject
		}
	}
	tList.elem = tObject
	tList.each = func(v any, f func(any) (bool, error)) error {
		for _, x := range v.(*listVal).items {
			if stop, err := f(x); stop || err != nil {
				return err
			}
		}
		return nil
	}
	l := func(v any) *listVal { return v.(*listVal) }
	tList.index = &indexer{key: tInt, t: tObject,
		get: func(_ *env, r, k any) (any, error) {
			i := k.(int64)
			if i < 0 || i >= int64(len(l(r).items)) {
				return nil, errors.New("Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
			}
			return l(r).items[i], nil
		},
		set: func(_ *env, r, k, v any) error {
			i := k.(int64)
			if i < 0 || i >= int64(len(l(r).items)) {
				return errors.New("Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
			}
			v, err := elemConv(l(r).elem, v)
			if err != nil {
				return err
			}
			l(r).items[i] = v
			return nil
		}}
	tList.props = map[string]*prop{
		"Count": pr(tInt, func(v any) any { return int64(len(l(v).items)) }),
	}
	add := func(e *env, lv *listVal, v any) error {
		if err := e.grow(16); err != nil {
			return err
		}
		v, err := elemConv(lv.elem, v)
		if err != nil {
			return err
		}
		lv.items = append(lv.items, v)
		return nil
	}
	tList.methods = map[string]*method{
		"Add": mth(1, 1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			return nil, add(e, l(r), args[0])
		}),
		"AddRange": mth(1, 1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			if args[0] == nil {
				return nil, errArgNull("collection")
			}
			src := args[0]
			if src == r {
				src = &listVal{items: slices.Clone(l(r).items)}
			}
			return nil, each(src, func(x any) (bool, error) { return false, add(e, l(r), x) })
		}),
		"Insert": mth(2, 2, tVoid, ts(tInt, nil), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			i, err := argInt(args, 0, "index")
			if err != nil {
				return nil, err
			}
			lv := l(r)
			if i < 0 || i > int64(len(lv.items)) {
				return nil, errors.New(errArrayIndex)
			}
			if err := add(e, lv, args[1]); err != nil {
				return nil, err
			}
			v := lv.items[len(lv.items)-1]
			copy(lv.items[i+1:], lv.items[i:])
			lv.items[i] = v
			return nil, nil
		}),
		"Remove": mth(1, 1, tBool, nil, func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			lv := l(r)
			for i, x := range lv.items {
				if valueEquals(x, args[0]) {
					lv.items = append(lv.items[:i], lv.items[i+1:]...)
					return true, nil
				}
			}
			return false, nil
		}),
		"RemoveAt": mth(1, 1, tVoid, ts(tInt), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			i, err := argInt(args, 0, "index")
			if err != nil {
				return nil, err
			}
			lv := l(r)
			if i < 0 || i >= int64(len(lv.items)) {
				return nil, errors.New(errArrayIndex)
			}
			lv.items = append(lv.items[:i], lv.items[i+1:]...)
			return nil, nil
		}),
		"IndexOf": mth(1, 1, tInt, nil, func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			for i, x := range l(r).items {
				if valueEquals(x, args[0]) {
					return int64(i), nil
				}
			}
			return int64(-1), nil
		}),
		"Clear": mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			l(r).items = nil
			return nil, nil
		}),
		"Reverse": mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			slices.Reverse(l(r).items)
			return nil, nil
		}),
		"Sort": mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			var err error
			slices.SortStableFunc(l(r).items, func(a, b any) int {
				if a == nil || b == nil {
					switch {
					case a == nil && b == nil:
						return 0
					case a == nil:
						return -1
					}
					return 1
				}
				c, ok := compareValues(a, b)
				if !ok && err == nil {
					err = fmt.Errorf("Failed to compare two elements in the array: %s and %s", typeNameOf(a), typeNameOf(b))
				}
				if c == 2 {
					c = 0
				}
				return c
			})
			return nil, err
		}),
	}
	addLinq(tList)

	d := func(v any) *dictVal { return v.(*dictVal) }
	tDict.elem = tKVObj
	tDict.each = func(v any, f func(any) (bool, error)) error {
		dv := d(v)
		for _, k := range slices.Clone(dv.keys) {
			if stop, err := f(kvObj{Key: k, Value: dv.vals[k]}); stop || err != nil {
				return err
			}
		}
		return nil
	}
	tDict.index = &indexer{key: tString, t: tObject,
		get: func(_ *env, r, k any) (any, error) {
			v, ok := d(r).vals[k.(string)]
			if !ok {
				return nil, errKeyNotFound(k.(string))
			}
			return v, nil
		},
		set: func(e *env, r, k, v any) error {
			v, err := elemConv(d(r).elem, v)
			if err != nil {
				return err
			}
			d(r).set(k.(string), v)
			return e.grow(len(k.(string)))
		}}
	tDict.props = map[string]*prop{
		"Count": pr(tInt, func(v any) any { return int64(len(d(v).keys)) }),
		"Keys":  pr(tStrArr, func(v any) any { return slices.Clone(d(v).keys) }),
		"Values": pr(tObjArr, func(v any) any {
			out := make([]any, 0, len(d(v).keys))
			for _, k := range d(v).keys {
				out = append(out, d(v).vals[k])
			}
			return out
		}),
	}
	key := func(args []any) (string, error) { return argStr(args, 0, "key") }
	tDict.methods = map[string]*method{
		"Add": mth(2, 2, tVoid, ts(tString, nil), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := key(args)
			if err != nil {
				return nil, err
			}
			if _, ok := d(r).vals[k]; ok {
				return nil, fmt.Errorf("An item with the same key has already been added. Key: %s", k)
			}
			return nil, tDict.index.set(e, r, k, args[1])
		}),
		"TryAdd": mth(2, 2, tBool, ts(tString, nil), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := key(args)
			if err != nil {
				return nil, err
			}
			if _, ok := d(r).vals[k]; ok {
				return false, nil
			}
			return true, tDict.index.set(e, r, k, args[1])
		}),
		"ContainsKey": mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := key(args)
			if err != nil {
				return nil, err
			}
			_, ok := d(r).vals[k]
			return ok, nil
		}),
		"ContainsValue": mth(1, 1, tBool, nil, func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			for _, k := range d(r).keys {
				if valueEquals(d(r).vals[k], args[0]) {
					return true, nil
				}
			}
			return false, nil
		}),
		"TryGetValue": {min: 2, max: 2, resT: tBool, params: ts(tString, tObject), outT: tObject,
			call: func(_ *env, _ *callInfo, r any, args []any) (any, error) {
				k, err := key(args)
				if err != nil {
					return nil, err
				}
				v, ok := d(r).vals[k]
				args[1] = v
				return ok, nil
			}},
		"GetValueOrDefault": mth(1, 2, tObject, ts(tString, nil), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := key(args)
			if err != nil {
				return nil, err
			}
			if v, ok := d(r).vals[k]; ok {
				return v, nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return nil, nil
		}),
		"Remove": mth(1, 1, tBool, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			k, err := key(args)
			if err != nil {
				return nil, err
			}
			dv := d(r)
			if _, ok := dv.vals[k]; !ok {
				return false, nil
			}
			delete(dv.vals, k)
			dv.keys = slices.DeleteFunc(dv.keys, func(x string) bool { return x == k })
			return true, nil
		}),
		"Clear": mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			d(r).keys, d(r).vals = nil, map[string]any{}
			return nil, nil
		}),
	}
	addLinq(tDict)
	delete(tDict.methods, "Contains")
	for _, t := range []*typ{tList, tDict} {
		t.conv = func(v any) (any, bool) {
			if typeOfValue(v) == t {
				return v, true
			}
			return nil, false
		}
		addObjectMethods(t)
	}
}

// newGeneric compiles new List<T>(...) and new Dictionary<string, V>(...);
// initialize adds their initializers.
func (c *compiler) newGeneric(n *newNode) cexpr {
	t, err := resolveGeneric(n.t)
	if err != nil {
		c.errf(n.t.p, "%v", err)
	}
	if n.t.name != "List" && n.t.name != "Dictionary" {
		c.errf(n.t.p, "cannot create an instance of the interface '%s'; use List<T> or Dictionary<string, T>", n.t)
	}
	elemT, _ := resolveType(n.t.args[len(n.t.args)-1])
	if len(n.args) > 1 {
		c.errf(n.p, "'%s' does not have a constructor that takes %d arguments", n.t, len(n.args))
	}
	var src evalFn
	if len(n.args) == 1 {
		if n.args[0].name != "" || n.args[0].out {
			c.errf(n.args[0].p, "named and out arguments are not supported in 'new'")
		}
		x := c.value(n.args[0].x)
		if x.t == tInt {
			x.fn = nil // a capacity
		}
		src = x.fn
	}
	p := n.p
	return cexpr{fn: func(e *env) (any, error) {
		if t == tDict {
			dv := &dictVal{vals: map[string]any{}, elem: elemT}
			if src != nil {
				s, err := src(e)
				if err != nil {
					return nil, err
				}
				if err := each(s, func(x any) (bool, error) {
					kv, ok := x.(kvObj)
					if !ok {
						return true, fmt.Errorf("a dictionary is copied from another dictionary, not %s", typeNameOf(s))
					}
					return false, tDict.index.set(e, dv, kv.Key, kv.Value)
				}); err != nil {
					return nil, at(p, err)
				}
			}
			return dv, nil
		}
		lv := &listVal{elem: elemT}
		if src != nil {
			s, err := src(e)
			if err != nil {
				return nil, err
			}
			if s == nil {
				return nil, at(p, errArgNull("collection"))
			}
			if err := each(s, func(x any) (bool, error) {
				v, err := elemConv(elemT, x)
				if err != nil {
					return true, err
				}
				lv.items = append(lv.items, v)
				return false, e.grow(16)
			}); err != nil {
				return nil, at(p, err)
			}
		}
		return lv, nil
	}, t: t}
}
