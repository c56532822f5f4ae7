package expression

import (
	"errors"
	"math"
)

// fillMath fills the Math static class.
func fillMath() {
	mathc := staticClass("Math")
	num2 := func(fi func(a, b int64) int64, ff func(a, b float64) float64) *method {
		return &method{min: 2, max: 2, params: ts(tDouble, tDouble),
			res: func(ci *callInfo) (*typ, error) {
				if ci.argT[0] == tInt && ci.argT[1] == tInt {
					return tInt, nil
				}
				return tDouble, nil
			},
			call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
				a, aok := args[0].(int64)
				b, bok := args[1].(int64)
				if aok && bok {
					return fi(a, b), nil
				}
				x, err := argNum(args, 0, "val1")
				if err != nil {
					return nil, err
				}
				y, err := argNum(args, 1, "val2")
				if err != nil {
					return nil, err
				}
				return ff(x, y), nil
			}}
	}
	mathc.methods["Min"] = num2(func(a, b int64) int64 { return min(a, b) }, math.Min)
	mathc.methods["Max"] = num2(func(a, b int64) int64 { return max(a, b) }, math.Max)
	mathc.methods["Abs"] = &method{min: 1, max: 1, params: ts(tDouble),
		res: func(ci *callInfo) (*typ, error) {
			if ci.argT[0] == tInt {
				return tInt, nil
			}
			return tDouble, nil
		},
		call: func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			if i, ok := args[0].(int64); ok {
				return abs64(i), nil
			}
			f, err := argNum(args, 0, "value")
			return math.Abs(f), err
		}}
	for name, f := range map[string]func(float64) float64{"Floor": math.Floor, "Ceiling": math.Ceil, "Sqrt": math.Sqrt} {
		f := f
		mathc.methods[name] = mth(1, 1, tDouble, ts(tDouble), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			x, err := argNum(args, 0, "d")
			return f(x), err
		})
	}
	mathc.methods["Round"] = mth(1, 2, tDouble, ts(tDouble, tInt), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		x, err := argNum(args, 0, "value")
		if err != nil {
			return nil, err
		}
		if len(args) == 2 {
			d, err := argInt(args, 1, "digits")
			if err != nil || d < 0 || d > 15 {
				return nil, errors.New("Rounding digits must be between 0 and 15, inclusive. (Parameter 'digits')")
			}
			p := math.Pow(10, float64(d))
			return math.RoundToEven(x*p) / p, nil
		}
		return math.RoundToEven(x), nil // .NET rounds half to even
	})
	mathc.methods["Pow"] = mth(2, 2, tDouble, ts(tDouble, tDouble), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		x, err := argNum(args, 0, "x")
		if err != nil {
			return nil, err
		}
		y, err := argNum(args, 1, "y")
		return math.Pow(x, y), err
	})
	registerStatic(mathc)
}
