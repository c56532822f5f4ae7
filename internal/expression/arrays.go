package expression

import (
	"errors"
	"fmt"
	"slices"
)

// System.Array's static methods over the three array representations
// ([]string, []any, []byte). A lambda passed to one of them works on the
// elements of its first argument (method.argElems).

var (
	errNonNegative   = errors.New("Non-negative number required.")
	errArrayTooShort = errors.New("Source array was not long enough. Check the source index, length, and the array's lower bounds.")
	errDestTooShort  = errors.New("Destination array was not long enough. Check the destination index, length, and the array's lower bounds.")
	errArrayRange    = errors.New("Offset and length were out of bounds for the array or count is greater than the number of elements from index to the end of the source collection.")
)

func isArrayType(t *typ) bool {
	return t == tStrArr || t == tObjArr || t == tBytes || t.dynamic || t == tNull
}

// arrayLen is the length of an array value; ok is false for anything else.
func arrayLen(v any) (n int, ok bool) {
	switch a := v.(type) {
	case []string:
		return len(a), true
	case []any:
		return len(a), true
	case []byte:
		return len(a), true
	}
	return 0, false
}

// argArray checks that args[i] is an array and returns its length.
func argArray(args []any, i int, name string) (int, error) {
	if args[i] == nil {
		return 0, errArgNull(name)
	}
	n, ok := arrayLen(args[i])
	if !ok {
		return 0, fmt.Errorf("argument '%s' must be an array, not %s", name, typeNameOf(args[i]))
	}
	return n, nil
}

// arrayRes makes the static result type of an Array method: it checks that
// the first argument is an array and returns res(that array's type).
func arrayRes(res func(arr *typ) *typ) func(ci *callInfo) (*typ, error) {
	return func(ci *callInfo) (*typ, error) {
		if len(ci.argT) == 0 || !isArrayType(ci.argT[0]) {
			return nil, fmt.Errorf("the first argument of 'Array.%s' must be an array", ci.name)
		}
		return res(ci.argT[0]), nil
	}
}

func arrayElemT(arr *typ) *typ {
	if arr.elem != nil && !arr.dynamic {
		return arr.elem
	}
	return tObject
}

// emptyArray is Array.Empty<T>() and Enumerable.Empty<T>().
var emptyArray = &method{min: 0, max: 0, generic: true,
	res: func(ci *callInfo) (*typ, error) {
		if ci.targ == tString {
			return tStrArr, nil
		}
		return tObjArr, nil
	},
	call: func(_ *env, ci *callInfo, _ any, _ []any) (any, error) {
		if ci.targ == tString {
			return []string{}, nil
		}
		return []any{}, nil
	}}

func fillArrayClass() {
	ac := staticClass("Array")
	lam := ts(nil, tLambda)
	// find calls f with the index of each element that satisfies the predicate.
	find := func(e *env, args []any, f func(i int, x any) (stop bool)) error {
		if _, err := argArray(args, 0, "array"); err != nil {
			return err
		}
		pred, err := argLambda(args, 1)
		if err != nil {
			return err
		}
		i := 0
		return each(args[0], func(x any) (bool, error) {
			m, err := e.predicate(pred, x)
			if err != nil {
				return true, err
			}
			stop := m && f(i, x)
			i++
			return stop, nil
		})
	}
	ac.methods["Exists"] = &method{min: 2, max: 2, params: lam, argElems: true, res: arrayRes(func(*typ) *typ { return tBool }),
		call: func(e *env, _ *callInfo, _ any, args []any) (any, error) {
			found := false
			err := find(e, args, func(int, any) bool { found = true; return true })
			return found, err
		}}
	ac.methods["TrueForAll"] = &method{min: 2, max: 2, params: lam, argElems: true, res: arrayRes(func(*typ) *typ { return tBool }),
		call: func(e *env, _ *callInfo, _ any, args []any) (any, error) {
			n, err := argArray(args, 0, "array")
			if err != nil {
				return nil, err
			}
			matched := 0
			err = find(e, args, func(int, any) bool { matched++; return false })
			return matched == n, err
		}}
	ac.methods["Find"] = &method{min: 2, max: 2, params: lam, argElems: true, res: arrayRes(arrayElemT),
		call: func(e *env, _ *callInfo, _ any, args []any) (any, error) {
			var found any
			if _, ok := args[0].([]byte); ok {
				found = int64(0) // default(byte)
			}
			err := find(e, args, func(_ int, x any) bool { found = x; return true })
			return found, err
		}}
	ac.methods["FindIndex"] = &method{min: 2, max: 2, params: lam, argElems: true, res: arrayRes(func(*typ) *typ { return tInt }),
		call: func(e *env, _ *callInfo, _ any, args []any) (any, error) {
			at := int64(-1)
			err := find(e, args, func(i int, _ any) bool { at = int64(i); return true })
			return at, err
		}}
	ac.methods["FindAll"] = &method{min: 2, max: 2, params: lam, argElems: true,
		res: arrayRes(func(arr *typ) *typ {
			if arr.dynamic || arr == tNull {
				return tObjArr
			}
			return arr
		}),
		call: func(e *env, _ *callInfo, _ any, args []any) (any, error) {
			var keep []int
			if err := find(e, args, func(i int, _ any) bool { keep = append(keep, i); return false }); err != nil {
				return nil, err
			}
			if err := e.grow(len(keep)); err != nil {
				return nil, err
			}
			switch a := args[0].(type) {
			case []string:
				out := make([]string, len(keep))
				for j, i := range keep {
					out[j] = a[i]
				}
				return out, nil
			case []byte:
				out := make([]byte, len(keep))
				for j, i := range keep {
					out[j] = a[i]
				}
				return out, nil
			}
			a := args[0].([]any)
			out := make([]any, len(keep))
			for j, i := range keep {
				out[j] = a[i]
			}
			return out, nil
		}}
	ac.methods["IndexOf"] = &method{min: 2, max: 3, params: ts(nil, nil, tInt), res: arrayRes(func(*typ) *typ { return tInt }),
		call: func(e *env, _ *callInfo, _ any, args []any) (any, error) {
			n, err := argArray(args, 0, "array")
			if err != nil {
				return nil, err
			}
			start := int64(0)
			if len(args) == 3 {
				if start, err = argInt(args, 2, "startIndex"); err != nil {
					return nil, err
				}
				if start < 0 || start > int64(n) {
					return nil, errors.New("Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'startIndex')")
				}
			}
			get := typeOfValue(args[0]).index.get
			for i := start; i < int64(n); i++ {
				if err := e.step(); err != nil {
					return nil, err
				}
				x, _ := get(e, args[0], i)
				if valueEquals(x, args[1]) {
					return i, nil
				}
			}
			return int64(-1), nil
		}}
	reverseRes := arrayRes(func(*typ) *typ { return tVoid })
	ac.methods["Reverse"] = &method{min: 1, max: 3, params: ts(nil, tInt, tInt),
		res: func(ci *callInfo) (*typ, error) {
			if len(ci.argT) == 2 {
				return nil, errors.New("no overload for method 'Reverse' takes 2 arguments")
			}
			return reverseRes(ci)
		},
		call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			n, err := argArray(args, 0, "array")
			if err != nil {
				return nil, err
			}
			from, count := int64(0), int64(n)
			if len(args) == 3 {
				if from, err = argInt(args, 1, "index"); err != nil {
					return nil, err
				}
				if count, err = argInt(args, 2, "length"); err != nil {
					return nil, err
				}
				if from < 0 || count < 0 {
					return nil, errNonNegative
				}
				if from+count > int64(n) {
					return nil, errArrayRange
				}
			}
			switch a := args[0].(type) {
			case []string:
				slices.Reverse(a[from : from+count])
			case []byte:
				slices.Reverse(a[from : from+count])
			case []any:
				slices.Reverse(a[from : from+count])
			}
			return nil, nil
		}}
	// Copy(source, destination, length) or
	// Copy(source, sourceIndex, destination, destinationIndex, length).
	ac.methods["Copy"] = &method{min: 3, max: 5,
		res: func(ci *callInfo) (*typ, error) {
			switch len(ci.argT) {
			case 3:
				if !isArrayType(ci.argT[0]) || !isArrayType(ci.argT[1]) || !assignable(ci.argT[2], tInt) {
					return nil, errors.New("Array.Copy takes (source array, destination array, length)")
				}
			case 5:
				if !isArrayType(ci.argT[0]) || !assignable(ci.argT[1], tInt) || !isArrayType(ci.argT[2]) || !assignable(ci.argT[3], tInt) {
					return nil, errors.New("Array.Copy takes (source array, source index, destination array, destination index, length)")
				}
			default:
				return nil, fmt.Errorf("no overload for method 'Copy' takes %d arguments", len(ci.argT))
			}
			return tVoid, nil
		},
		call: func(e *env, _ *callInfo, _ any, args []any) (any, error) {
			if len(args) == 3 {
				args = []any{args[0], int64(0), args[1], int64(0), args[2]}
			}
			return nil, arrayCopy(e, args)
		}}
	ac.methods["Empty"] = emptyArray
	registerStatic(ac)
}

// arrayCopy is Array.Copy(source, sourceIndex, destination, destinationIndex, length).
func arrayCopy(e *env, args []any) error {
	sn, err := argArray(args, 0, "sourceArray")
	if err != nil {
		return err
	}
	dn, err := argArray(args, 2, "destinationArray")
	if err != nil {
		return err
	}
	var idx [3]int64
	for j, i := range []int{1, 3, 4} {
		if idx[j], err = argInt(args, i, "index"); err != nil {
			return err
		}
		if idx[j] < 0 {
			return errNonNegative
		}
	}
	si, di, n := idx[0], idx[1], idx[2]
	if si+n > int64(sn) {
		return errArrayTooShort
	}
	if di+n > int64(dn) {
		return errDestTooShort
	}
	src, dst := args[0], args[2]
	// Arrays of one type copy as a block (overlapping ranges as memmove).
	switch d := dst.(type) {
	case []string:
		if s, ok := src.([]string); ok {
			copy(d[di:di+n], s[si:si+n])
			return nil
		}
	case []byte:
		if s, ok := src.([]byte); ok {
			copy(d[di:di+n], s[si:si+n])
			return nil
		}
	case []any:
		if s, ok := src.([]any); ok {
			copy(d[di:di+n], s[si:si+n])
			return nil
		}
	}
	// Otherwise element by element, each converted as the destination's
	// indexer converts an assigned value.
	get, set := typeOfValue(src).index.get, typeOfValue(dst).index.set
	for k := int64(0); k < n; k++ {
		if err := e.step(); err != nil {
			return err
		}
		x, _ := get(e, src, si+k)
		if err := set(e, dst, di+k, x); err != nil {
			return fmt.Errorf("Array.Copy: %w", err)
		}
	}
	return nil
}
